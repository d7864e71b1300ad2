"""One program across several libvirt hosts over qemu+ssh, driven through the provider host.

The hosts are test hosts (``scripts/test-hosts.sh``): separate libvirtds in network and mount
namespaces of their own, each with its sshd, reached as ``qemu+ssh://root@10.213.K.2/system``.
What is on a host is checked through its socket, not through the provider.
"""

from __future__ import annotations

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import libvirt as virt
import pytest
from daemons import DAEMONS, libvirtds
from harness import Engine, ProviderError, ProviderHost, strip_secrets
from probes import ConnectProbe
from pulumi.dynamic.dynamic import serialize_provider
from testhosts import DIRECTORY, TestHost

import pulumi_libvirt as libvirt
from pulumi_libvirt.dynamic import LibvirtProvider

MiB = 1024**2
TIMEOUT = 8  # libvirt:timeout for the failure tests, seconds


def objects_on(host: TestHost, prefix: str) -> set[str]:
    """Pools, volumes, networks and domains named ``prefix``... on the host (read by socket)."""
    conn = virt.open(host.socket_uri)
    try:
        found = {f"domain {d.name()}" for d in conn.listAllDomains()}
        found |= {f"network {n.name()}" for n in conn.listAllNetworks()}
        for pool in conn.listAllStoragePools():
            if pool.isActive():
                pool.refresh()
                found |= {f"volume {pool.name()}/{v.name()}" for v in pool.listAllVolumes()}
            found.add(f"pool {pool.name()}")
    finally:
        conn.close()
    return {what for what in found if what.split()[1].startswith(prefix)}


def host_files(host: TestHost, prefix: str) -> list[Path]:
    images = DIRECTORY / host.set_name / f"host{host.index}" / "lib" / "images"
    return sorted(images.glob(f"{prefix}*"))


def spread(prefix: str, hosts: list[TestHost], volumes: int = 1, others: bool = False):
    """A program: on each host a dir pool (same name everywhere) with ``volumes`` volumes, and
    with ``others`` an isolated network (same name and subnet: each is inside its host) and a
    domain (defined, not started) with the first volume as its disk, on that network."""

    def program() -> None:
        for i, host in enumerate(hosts):
            pool = libvirt.Pool(f"pool{i}", name=f"{prefix}pool", type="dir",
                                target={"path": f"/var/lib/libvirt/images/{prefix}pool"},
                                delete_target=True, uri=host.ssh_uri)
            disks = [
                libvirt.Volume(f"vol{i}-{j}", name=f"v{j}.qcow2", pool=pool.name,
                               capacity=MiB * (j + 1), format="qcow2", uri=host.ssh_uri)
                for j in range(volumes)
            ]
            if not others:
                continue
            net = libvirt.Network(f"net{i}", name=f"{prefix}net",
                                  ips=[{"address": "10.213.250.1", "prefix": 24}],
                                  uri=host.ssh_uri)
            libvirt.Domain(
                f"dom{i}", name=f"{prefix}dom", type="qemu",
                memory={"value": 64, "unit": "MiB"}, os={"type": "hvm"},
                devices={
                    "disks": [{"type": "volume", "device": "disk", "driver": {"type": "qcow2"},
                               "source": {"pool": pool.name, "volume": disks[0].name},
                               "target": {"dev": "vda", "bus": "virtio"}}],
                    "interfaces": [{"type": "network", "source": {"network": net.name}}],
                },
                running=False, uri=host.ssh_uri)

    return program


def test_hosts_are_independent(libvirt_hosts, run_prefix: str) -> None:
    a, b = libvirt_hosts[0], libvirt_hosts[1]
    name = f"{run_prefix}mark"
    conn = virt.open(a.ssh_uri)
    try:
        conn.storagePoolDefineXML(f"<pool type='dir'><name>{name}</name><target>"
                                  f"<path>/var/lib/libvirt/images/{name}</path></target></pool>")
        assert objects_on(a, name) == {f"pool {name}"}  # the socket reaches the same daemon
        assert objects_on(b, name) == set()
        system = virt.open("qemu:///system")
        assert name not in [p.name() for p in system.listAllStoragePools()]
        system.close()
        # Its /var/lib/libvirt and /etc/libvirt are its own.
        assert a.run("ls", "/etc/libvirt/storage").stdout.split() == [f"{name}.xml"]
        assert not (Path("/etc/libvirt/storage") / f"{name}.xml").exists()
        conn.storagePoolLookupByName(name).undefine()
    finally:
        conn.close()
    # Its sshd listens on its own address only.
    listening = a.run("ss", "-Htln").stdout
    assert f"{a.address}:22" in listening and "0.0.0.0:22" not in listening
    # Each runs a libvirtd of its own, never taken for one of the suite's daemons.
    theirs = {pid for pid, netns in libvirtds().items()
              if netns in {host.netns for host in libvirt_hosts.hosts}}
    assert len(theirs) == len(libvirt_hosts)
    assert not theirs & {daemon.libvirtd() for daemon in DAEMONS.values()}


def test_program_on_two_hosts(libvirt_hosts, run_prefix: str) -> None:
    a, b = libvirt_hosts[0], libvirt_hosts[1]
    prefix = f"{run_prefix}two-"
    program = spread(prefix, [a, b], volumes=2, others=True)
    engine = Engine({"libvirt:timeout": "30"})
    try:
        plan = engine.preview(program)
        assert sorted(plan.ops.values()) == ["create"] * 10
        assert objects_on(a, prefix) == objects_on(b, prefix) == set()

        result = engine.up(program)
        expected = {f"pool {prefix}pool", f"volume {prefix}pool/v0.qcow2",
                    f"volume {prefix}pool/v1.qcow2", f"network {prefix}net",
                    f"domain {prefix}dom"}
        assert objects_on(a, prefix) == objects_on(b, prefix) == expected
        assert result.outputs["vol0-1"]["uri"] == a.ssh_uri
        assert result.outputs["vol1-1"]["uri"] == b.ssh_uri
        assert result.outputs["vol1-1"]["capacity"] == 2 * MiB
        assert result.outputs["net0"]["uri"] == a.ssh_uri
        assert result.outputs["dom1"]["uri"] == b.ssh_uri
        assert result.outputs["dom1"]["running"] is False
        bridge = result.outputs["net1"]["bridge_name"]
        here = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert f" {bridge}:" in b.run("ip", "-o", "link").stdout  # inside the host, not here
        assert f" {bridge}:" not in here

        assert engine.preview(program).empty
        refreshed = engine.refresh()
        assert refreshed.deleted == []
        # The hosts' disks are this machine's: free space moves as others write.
        assert all(set(changed) <= {"allocation", "available"}
                   for changed in refreshed.changes.values()), refreshed.changes

        # Drift on one host shows on that host's resource only.
        conn = virt.open(b.socket_uri)
        conn.storagePoolLookupByName(f"{prefix}pool").storageVolLookupByName("v1.qcow2").delete()
        conn.close()
        assert engine.refresh().deleted == ["vol1-1"]
        assert engine.preview(program).ops["vol1-1"] == "create"
        engine.up(program)
        assert objects_on(b, prefix) == expected
    finally:
        engine.destroy()
    for host in (a, b):
        assert objects_on(host, prefix) == set()
        assert host_files(host, prefix) == []


@pytest.mark.parametrize("failure", ["stopped", "dropping"])
def test_a_failed_host_fails_alone(libvirt_hosts, run_prefix: str, failure: str) -> None:
    """Connections to both hosts are open in the provider host when one host fails; its
    resources fail within the timeout with one line naming it, the other host's finish."""
    good = libvirt_hosts[0]
    bad = libvirt_hosts[1] if failure == "stopped" else libvirt_hosts[2]
    prefix = f"{run_prefix}{failure[:4]}-"
    engine = Engine({"libvirt:timeout": str(TIMEOUT)}, persistent_host=True)
    try:
        engine.up(spread(prefix, [good, bad], volumes=1))
        bad.stop() if failure == "stopped" else bad.drop()
        try:
            started = time.monotonic()
            with pytest.raises(ProviderError) as error:
                engine.up(spread(prefix, [good, bad], volumes=3), continue_on_error=True)
            elapsed = time.monotonic() - started
            text = str(error.value)
            assert len(text.splitlines()) == 1, text
            assert bad.address in text and good.address not in text, text
            if failure == "stopped":
                assert "Connection refused" in text, text
                assert elapsed < TIMEOUT, elapsed
            else:
                assert "stopped answering" in text or "no answer within" in text, text
                # keepalive notices an open connection's silence within about the timeout; a
                # new connection gives up after it: twice the timeout at most, plus slack.
                assert elapsed < 2 * TIMEOUT + 6, elapsed
            assert {f"volume {prefix}pool/v{j}.qcow2" for j in range(3)} <= objects_on(
                good, prefix)
            assert {"vol0-1", "vol0-2"} <= {s.name for s in engine.state.values()}
            assert not {"vol1-1", "vol1-2"} & {s.name for s in engine.state.values()}

            # A preview now says in words that the host does not answer.
            engine.preview(spread(prefix, [good, bad], volumes=3))
            assert f"cannot connect to libvirt at {bad.ssh_uri}" in engine.last_stderr
        finally:
            bad.start() if failure == "stopped" else bad.undrop()
    finally:
        engine.destroy()
        engine.close()
    for host in (good, bad):
        assert objects_on(host, prefix) == set()


def test_one_host_never_waits_on_another(libvirt_hosts, run_prefix: str) -> None:
    """While calls to a silent host hang (up to the timeout), calls to another host made
    through the same provider host at the same time finish at their own pace."""
    good, silent = libvirt_hosts[0], libvirt_hosts[2]
    prefix = f"{run_prefix}wait-"
    engine = Engine({"libvirt:timeout": str(TIMEOUT)}, persistent_host=True)
    try:
        engine.up(spread(prefix, [good], volumes=1))
        silent.drop()
        try:
            urn = "urn:pulumi:stack::project::pulumi-python:dynamic/libvirt:Pool::"
            provider = serialize_provider(LibvirtProvider("Pool"))
            props = {"__provider": provider, "name": f"{prefix}x", "type": "dir",
                     "target": {"path": f"/var/lib/libvirt/images/{prefix}x"},
                     "uri": silent.ssh_uri}
            host = engine.host
            assert host is not None
            state = engine.resource("pool0")
            with ThreadPoolExecutor(4) as pool:
                stuck = [pool.submit(host.create, f"{urn}s{i}", props) for i in range(2)]
                time.sleep(0.5)
                started = time.monotonic()
                reads = [pool.submit(host.read, state.urn, state.id, strip_secrets(state.outputs))
                         for _ in range(4)]
                for read in reads:
                    assert read.result().id == state.id
                reading = time.monotonic() - started
                assert not any(f.done() for f in stuck)
                for future in stuck:
                    with pytest.raises(ProviderError, match=silent.address):
                        future.result()
            assert reading < 5, reading
        finally:
            silent.undrop()
    finally:
        engine.destroy()
        engine.close()


def test_300_fresh_ssh_connections_from_the_provider_host(libvirt_hosts) -> None:
    """libvirt's own ssh transport forks inside the gRPC server; ours spawns ssh: every one of
    300 fresh connections (4 at a time, as the engine calls) works."""
    count = int(os.environ.get("PULUMI_LIBVIRT_SSH_PROBES", "300"))
    host = libvirt_hosts[0]
    provider = serialize_provider(ConnectProbe())
    urn = "urn:pulumi:stack::project::pulumi-python:dynamic:Resource::probe"
    with ProviderHost() as server:
        server.configure({})

        def probe(i: int) -> str:
            _id, outs = server.create(f"{urn}{i}", {"__provider": provider, "uri": host.ssh_uri})
            return outs["error"]

        with ThreadPoolExecutor(4) as pool:
            errors = [e for e in pool.map(probe, range(count)) if e]
    assert errors == [], f"{len(errors)} of {count} failed: {errors[:3]}"
