"""Domain through Pulumi's own dynamic-provider host on a real libvirtd: a TCG guest created
running, changed live and by restarting it, stopped behind our back, destroyed."""

from __future__ import annotations

import pytest
from domains import MiB, domain_id, domain_names, guest_program, network, subnet, virsh
from harness import Engine


@pytest.fixture
def lan(system_uri: str, run_prefix: str):
    with network(system_uri, f"{run_prefix}lan", subnet(run_prefix, "lan")) as name:
        yield name


def test_guest_lifecycle(system_uri: str, run_prefix: str, lan: str) -> None:
    uri, prefix = system_uri, f"{run_prefix}life-"
    name = f"{prefix}vm"
    engine = Engine({"libvirt:uri": uri})
    try:
        plan = engine.preview(guest_program(prefix, lan=lan))
        assert plan.ops["vm"] == "create"
        assert name not in domain_names(uri)

        # Created running, with disk, NIC, serial, rng and the guest-agent channel.
        vm = engine.up(guest_program(prefix, lan=lan)).outputs["vm"]
        assert vm["running"] is True and vm["state"] == "running"
        first_id = vm["domain_id"]
        assert first_id == domain_id(uri, name)
        live = virsh(uri, "dumpxml", name)
        for element in ("<disk type='volume' device='disk'>", "<interface type='network'>",
                        "<serial type='pty'>", "<rng model='virtio'>",
                        "name='org.qemu.guest_agent.0'"):
            assert element in live
        mac = vm["ip_addresses"][0]["mac"]
        assert mac.startswith("52:54:00:") and "mac" not in vm["devices"]["interfaces"][0]
        assert engine.preview(guest_program(prefix, lan=lan)).empty

        # Current memory within the maximum: live, the same running guest.
        smaller = guest_program(prefix, lan=lan, current=64)
        plan = engine.preview(smaller)
        assert plan.ops["vm"] == "update"
        assert f"domain '{name}': changing current_memory applies live" in engine.last_stderr
        vm = engine.up(smaller).outputs["vm"]
        assert vm["domain_id"] == first_id == domain_id(uri, name)
        assert vm["current_memory"] == {"value": 64, "unit": "MiB"}
        assert "<currentMemory unit='KiB'>65536</currentMemory>" in virsh(
            uri, "dumpxml", "--inactive", name)
        assert engine.preview(smaller).empty

        # A second disk: attached live.
        two_disks = guest_program(prefix, lan=lan, current=64, disks=2)
        engine.preview(two_disks)
        assert "changing disk 'vdb' (added) applies live" in engine.last_stderr
        vm = engine.up(two_disks).outputs["vm"]
        assert vm["domain_id"] == first_id == domain_id(uri, name)
        assert "vdb" in virsh(uri, "domblklist", name)  # in the running guest
        assert engine.preview(two_disks).empty

        # More maximum memory: the definition changes, the guest restarts (a new id).
        bigger = guest_program(prefix, lan=lan, memory=160, current=64, disks=2)
        engine.preview(bigger)
        assert "changing memory takes effect by restarting it" in engine.last_stderr
        vm = engine.up(bigger).outputs["vm"]
        assert vm["running"] is True
        assert vm["domain_id"] != first_id and vm["domain_id"] == domain_id(uri, name)
        assert f"<memory unit='KiB'>{160 * MiB // 1024}</memory>" in virsh(uri, "dumpxml", name)
        assert vm["ip_addresses"][0]["mac"] == mac  # the generated MAC is kept
        assert engine.preview(bigger).empty

        # Stopped behind our back: refresh says so, the next up starts it again.
        virsh(uri, "destroy", name)
        refreshed = engine.refresh()
        assert refreshed.changes["vm"]["running"] == (True, False)
        assert engine.outputs("vm")["state"] == "shutoff"
        assert engine.preview(bigger).ops["vm"] == "update"
        assert "starts it" in engine.last_stderr
        vm = engine.up(bigger).outputs["vm"]
        assert vm["running"] is True and domain_id(uri, name) == vm["domain_id"]
        assert engine.preview(bigger).empty

        engine.destroy()
        assert engine.state == {}
        assert name not in domain_names(uri)
    finally:
        engine.destroy()
        engine.close()
