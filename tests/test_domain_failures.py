"""Bad domain inputs: refused at preview where the inputs say it, at create where the host
does, each with the message the user sees, and nothing left defined."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from daemons import host_path
from domains import domain_names
from harness import CheckFailed, Engine, ProviderError

import pulumi_libvirt as libvirt

TEST_URI = "test:///default"


def domain(name: str, **keys):
    def program() -> None:
        fields = {"type": "qemu", "memory": {"value": 64, "unit": "MiB"},
                  "os": {"type": {"value": "hvm", "machine": "q35"}}, "shutdown_timeout": 0,
                  **keys}
        libvirt.Domain("vm", name=name, **fields)

    return program


VIRTIOFS = {"type": "mount", "accessmode": "passthrough", "driver": {"type": "virtiofs"},
            "source": {"dir": "/srv"}, "target": {"dir": "share"}}


def disk(**source) -> dict:
    kind = "volume" if "pool" in source else "file"
    return {"type": kind, "device": "disk", "driver": {"name": "qemu", "type": "qcow2"},
            "source": source, "target": {"dev": "vda", "bus": "virtio"}}


def test_bad_inputs_fail_at_preview() -> None:
    engine = Engine({"libvirt:uri": TEST_URI}, persistent_host=True)
    try:
        programs = {
            "typo": domain("a", vcpus_count=2),
            "enum": domain("b", devices={"disks": [{"type": "file", "device": "dvd",
                                                    "target": {"dev": "sda"}}]}),
            "current": domain("c", current_memory={"value": 128, "unit": "MiB"}),
            "options": domain("d", start_options={"paused": True, "fast": True}),
            "wait": domain("e", devices={"interfaces": [{"type": "network",
                                                         "source": {"network": "default"},
                                                         "wait_for_ip": {"source": "arp"}}]}),
            "secret": domain("f", devices={"graphics": [{"type": "vnc", "passwd": ["s3cret"]}]}),
            "missing": lambda: libvirt.Domain("vm", name="g", memory=65536),
            "virtiofs": domain("h", devices={"filesystems": [VIRTIOFS]}),
            "virtiofs numa": domain("i", vcpu=2, devices={"filesystem": VIRTIOFS}, cpu={
                "numa": {"cells": [{"id": 0, "cpus": "0", "memory": 32, "unit": "MiB",
                                    "mem_access": "shared"},
                                   {"id": 1, "cpus": "1", "memory": 32, "unit": "MiB"}]}}),
        }
        seen = {}
        for label, program in programs.items():
            with pytest.raises(CheckFailed) as failed:
                engine.preview(program)
            seen[label] = {f.property: f.reason for f in failed.value.failures}
        assert seen["typo"] == {"vcpus_count": "unknown key 'vcpus_count'; did you mean "
                                               "'vcpus'?"}
        assert "expected one of 'floppy', 'disk', 'cdrom', 'lun'; got 'dvd'" in (
            seen["enum"]["devices.disks[0].device"])
        assert seen["current"] == {"current_memory": "134217728 bytes is more than memory "
                                   "(67108864 bytes): the current memory can only be up to "
                                   "the maximum"}
        assert seen["options"] == {"start_options.fast": "unknown key 'fast': expected "
                                   "'paused', 'bypass_cache', 'force_boot' or 'reset_nvram'"}
        assert seen["wait"] == {"devices.interfaces[0].wait_for_ip.source": "expected one of "
                                "'any', 'lease', 'agent', got 'arp'"}
        (reason,) = seen["secret"].values()
        assert "s3cret" not in reason and "it is a credential" in reason
        assert seen["missing"] == {"type": "required: the hypervisor, such as 'kvm' or 'qemu'"}
        assert seen["virtiofs"] == {"devices.filesystems[0].driver.type": (
            "'virtiofs' needs the guest's memory shared with virtiofsd, and libvirt refuses it "
            "otherwise: add memory_backing={'source': {'type': 'memfd'}, 'access': {'mode': "
            "'shared'}}")}
        assert seen["virtiofs numa"] == {"devices.filesystem.driver.type": (
            "'virtiofs' needs the guest's memory shared with virtiofsd, and libvirt refuses it "
            "otherwise: cpu.numa.cells[1] is not shared: write mem_access='shared' on each, or "
            "leave mem_access out of the cells and write memory_backing={'source': {'type': "
            "'memfd'}, 'access': {'mode': 'shared'}}")}
        assert not any(c.method == "Create" for c in engine.last_calls)
    finally:
        engine.close()


@pytest.fixture
def pool(system_uri: str, run_prefix: str):
    """A running dir pool with one qcow2 volume, made with virsh (not under test here)."""
    import libvirt as api

    conn = api.open(system_uri)
    name = f"{run_prefix}badpool"
    path = Path("/var/lib/libvirt/images") / name
    made = conn.storagePoolCreateXML(
        f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>",
        api.VIR_STORAGE_POOL_CREATE_WITH_BUILD)
    made.createXML("<volume><name>ok.qcow2</name><capacity>16777216</capacity>"
                   "<target><format type='qcow2'/></target></volume>", 0)
    yield name
    for vol in made.listAllVolumes():
        vol.delete(0)
    made.destroy()
    if host_path(system_uri, path).exists():
        os.rmdir(host_path(system_uri, path))
    conn.close()


def test_what_the_host_lacks_fails_at_create_and_leaves_nothing(
        system_uri: str, run_prefix: str, pool: str, tmp_path: Path) -> None:
    uri = system_uri
    name = f"{run_prefix}bad"
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    image = locked / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(image), "16M"], check=True,
                   capture_output=True)
    lan = f"{run_prefix}no-such-net"
    gone = Path("/var/lib/libvirt/images") / f"{run_prefix}gone.qcow2"
    cases = {
        "no pool": (domain(name, devices={"disks": [disk(pool=f"{run_prefix}nopool",
                                                          volume="x.qcow2")]}),
                    f"domain '{name}': disk 'vda' uses pool '{run_prefix}nopool', which does "
                    f"not exist on {uri}"),
        "no volume": (domain(name, devices={"disks": [disk(pool=pool, volume="nope.qcow2")]}),
                      f"domain '{name}': disk 'vda' uses volume 'nope.qcow2' in pool '{pool}', "
                      f"which does not exist on {uri}"),
        "no network": (domain(name, devices={"interfaces": [
            {"type": "network", "source": {"network": lan},
             "mac": {"address": "52:54:00:aa:bb:cc"}}]}),
            f"domain '{name}': interface '52:54:00:aa:bb:cc' uses network '{lan}', which does "
            f"not exist on {uri}"),
        "too much memory": (domain(name, memory={"value": 64, "unit": "TiB"}),
                            f"domain '{name}': memory of {64 * 1024 * 1024} MiB is more than "
                            f"host {uri} has ("),
        "missing file": (domain(name, devices={"disks": [disk(file=str(gone))]}),
                         f"cannot start domain '{name}' on {uri}: Cannot access storage file "
                         f"'{gone}'"),
        "permission": (domain(name, devices={"disks": [disk(file=str(image))]}),
                       f"cannot start domain '{name}' on {uri}: Cannot access storage file "
                       f"'{image}'"),
    }
    engine = Engine({"libvirt:uri": uri})
    try:
        messages = {}
        for label, (program, expected) in cases.items():
            assert engine.preview(program).ops == {"vm": "create"}  # the objects may come later
            with pytest.raises(ProviderError) as error:
                engine.up(program)
            messages[label] = str(error.value)
            assert messages[label].startswith(expected), (label, messages[label])
            assert engine.state == {}
            assert name not in domain_names(uri), label
        assert "No such file or directory (the file" in messages["missing file"]
        assert "create it first" in messages["missing file"]
        assert "Permission denied" in messages["permission"]
        assert "search (x) permission on every directory" in messages["permission"]
    finally:
        engine.close()


def test_stopped_domain_with_more_memory_than_the_host_is_defined(
        system_uri: str, run_prefix: str) -> None:
    """Only a domain that is to run needs the memory: a stopped definition is fine."""
    name = f"{run_prefix}big"
    program = domain(name, memory={"value": 64, "unit": "TiB"}, running=False)
    engine = Engine({"libvirt:uri": system_uri})
    try:
        vm = engine.up(program).outputs["vm"]
        assert vm["running"] is False and vm["memory"] == {"value": 64, "unit": "TiB"}
        assert engine.preview(program).empty
        assert vm.get("domain_id") is None and vm["state"] == "shutoff"
        assert 64 * 1024**4 // 1024 == int(
            subprocess.run(["virsh", "-c", system_uri, "dominfo", name], capture_output=True,
                           text=True).stdout.split("Max memory:")[1].split()[0])
    finally:
        engine.destroy()
        engine.close()
    assert name not in domain_names(system_uri)


def test_a_replacement_that_cannot_be_made_deletes_nothing(system_uri: str,
                                                          run_prefix: str) -> None:
    """A new type replaces the domain, the old one first (same name): what the new one refers
    to is checked before the engine deletes anything."""
    uri, name = system_uri, f"{run_prefix}swap"
    lan = f"{run_prefix}no-such-net"
    before = domain(name, running=False)
    after = domain(name, running=False, type="kvm", devices={"interfaces": [
        {"type": "network", "source": {"network": lan}}]})
    engine = Engine({"libvirt:uri": uri})
    try:
        uuid = engine.up(before).outputs["vm"]["uuid"]
        for step in (engine.preview, engine.up):
            with pytest.raises(ProviderError) as error:
                step(after)
            assert str(error.value) == (
                f"cannot replace domain '{name}' on {uri} (type changed): devices: interface 0 "
                f"uses network '{lan}', which does not exist on {uri}; nothing was changed "
                "(deleting the old one first would leave neither)")
        assert engine.outputs("vm")["uuid"] == uuid
        assert name in domain_names(uri)
    finally:
        engine.destroy()
        engine.close()
