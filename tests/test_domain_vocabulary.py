"""Vocabulary on real daemons.

Newer than a host: ``os.shim`` is in libvirt 11.3's tables (ours), not in 9.0's. Check accepts
it and it round-trips; a libvirt that knows it defines it with an empty second preview; libvirt
9.0 refuses it at create (schema validation, not a silent drop), the message names the domain
and the host, and nothing is left defined.

A virtiofs filesystem with the shared memory it needs (without it, preview refuses it:
``test_domain_failures``): defined on each daemon with an empty second preview, and started
where the daemon's root has virtiofsd (libvirt starts one per filesystem).
"""

from __future__ import annotations

from pathlib import Path

import libvirt as api
import pytest
from daemons import host_path
from domains import domain_names, virsh
from harness import Engine, ProviderError

import pulumi_libvirt as libvirt
from pulumi_libvirt import xml
from pulumi_libvirt.providers import DomainLogic

SHIM = "/usr/share/shim/shimx64.efi"


def shim_domain(name: str) -> dict:
    return {"name": name, "type": "qemu", "memory": {"value": 64, "unit": "MiB"},
            "os": {"firmware": "efi", "type": {"value": "hvm", "machine": "q35"},
                   "kernel": "/var/lib/libvirt/boot/vmlinuz", "shim": SHIM},
            "features": {"acpi": True}}


def test_shim_is_checked_and_round_trips() -> None:
    model = shim_domain("shim")
    _inputs, problems = DomainLogic("test:///default").check({}, {**model, "running": False})
    assert problems == []
    text = xml.to_xml("domain", model)
    assert f"<shim>{SHIM}</shim>" in text
    assert xml.differences("domain", xml.from_xml("domain", text), model) == []


def test_shim_on_each_daemon(system_uri: str, run_prefix: str) -> None:
    uri, name = system_uri, f"{run_prefix}shim"
    conn = api.open(uri)
    version = conn.getLibVersion()
    conn.close()

    def program() -> None:
        libvirt.Domain("vm", running=False, **shim_domain(name))

    engine = Engine({"libvirt:uri": uri})
    try:
        if version >= 11_000_000:
            vm = engine.up(program).outputs["vm"]
            assert vm["os"]["shim"] == SHIM
            assert engine.preview(program).empty
            return
        with pytest.raises(ProviderError) as error:
            engine.up(program)
        message = str(error.value)
        assert message.startswith(f"cannot define domain '{name}' on {uri}: XML document "
                                  "failed to validate against schema")
        assert "os" in message
        assert engine.state == {}
        assert name not in domain_names(uri)
    finally:
        engine.destroy()
        engine.close()


VIRTIOFSD = ("/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd")  # Debian 13, Debian 12


def test_virtiofs_with_shared_memory(system_uri: str, run_prefix: str, tmp_path: Path) -> None:
    uri, name = system_uri, f"{run_prefix}virtiofs"
    runs = any(host_path(uri, path).exists() for path in VIRTIOFSD)
    shared = tmp_path / "shared"  # only a started guest needs it: virtiofsd serves it
    shared.mkdir()
    filesystem = {"type": "mount", "accessmode": "passthrough", "driver": {"type": "virtiofs"},
                  "source": {"dir": str(shared)}, "target": {"dir": "hostshare"}}

    def program() -> None:
        libvirt.Domain("vm", name=name, type="qemu", memory={"value": 128, "unit": "MiB"},
                       memory_backing={"source": {"type": "memfd"},
                                       "access": {"mode": "shared"}},
                       os={"type": {"value": "hvm", "machine": "q35"}},
                       devices={"filesystems": [filesystem]}, running=runs,
                       shutdown_timeout=0)

    engine = Engine({"libvirt:uri": uri})
    try:
        vm = engine.up(program).outputs["vm"]
        assert vm["devices"]["filesystems"] == [filesystem]
        assert vm["state"] == ("running" if runs else "shutoff")
        defined = virsh(uri, "dumpxml", name)
        assert "<driver type='virtiofs'/>" in defined and "<access mode='shared'/>" in defined
        assert engine.preview(program).empty
        engine.destroy()
        assert name not in domain_names(uri)
    finally:
        engine.destroy()
        engine.close()
