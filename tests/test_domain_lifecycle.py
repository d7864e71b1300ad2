"""Domain through Pulumi's own dynamic-provider host on a real libvirtd: a TCG guest created
running, changed live and by restarting it, stopped behind our back, destroyed; a booted guest
that ignores the ACPI shutdown request destroyed after shutdown_timeout, one that honours it
shut down gracefully."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from domains import MiB, domain_id, domain_names, guest_program, network, subnet, virsh
from guest import console_line, wait_for
from harness import Engine

import pulumi_libvirt as libvirt

BOOT_TIMEOUT = 300  # TCG on two busy cores


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


def test_shutdown_timeout_then_destroy(guest, system_uri: str, run_prefix: str,
                                       shared_dir: Path) -> None:
    """The tiny guest's busybox init has no ACPI handler (no acpid): the shutdown request is
    ignored, and deleting it waits shutdown_timeout, then destroys it and says so."""
    uri, name, timeout = system_uri, f"{run_prefix}acpi", 4
    serial = shared_dir / "serial.log"
    engine = Engine({"libvirt:uri": uri})
    try:
        vm = engine.up(_tiny_guest(name, guest, serial, timeout)).outputs["vm"]
        assert vm["state"] == "running"
        # The kernel is up (ACPI with it) and init runs: the request reaches a booted guest.
        wait_for(lambda: console_line(serial, "plv-guest: modules loaded at"), BOOT_TIMEOUT,
                 "the guest's init on the serial console", serial)
        started = time.monotonic()
        engine.destroy()
        took = time.monotonic() - started
        assert f"warning: domain '{name}' did not shut down within {timeout} s of the ACPI " \
               "shutdown request: destroying it (a forced power-off" in engine.last_stderr
        assert took >= timeout
        assert engine.state == {}
        assert name not in domain_names(uri)
        print(f"\nshutdown_timeout={timeout}: deleted in {took:.1f} s, forced")
    finally:
        engine.destroy()
        engine.close()


def test_a_guest_that_honours_acpi_shuts_down_gracefully(guest, system_uri: str,
                                                         run_prefix: str,
                                                         shared_dir: Path) -> None:
    """With acpid in the guest, deleting it asks once and the guest powers itself off, well
    within shutdown_timeout: no forced power-off, nothing said about one."""
    uri, name, timeout = system_uri, f"{run_prefix}acpid", 120
    serial = shared_dir / "serial.log"
    engine = Engine({"libvirt:uri": uri})
    try:
        assert engine.up(_tiny_guest(name, guest.with_acpid(), serial, timeout)).outputs[
            "vm"]["state"] == "running"
        wait_for(lambda: console_line(serial, "plv-guest: acpid started"), BOOT_TIMEOUT,
                 "acpid started on the serial console", serial)
        started = time.monotonic()
        engine.destroy()
        took = time.monotonic() - started
        assert "did not shut down" not in engine.last_stderr
        assert "warning" not in engine.last_stderr
        assert console_line(serial, "plv-guest: power button: powering off")
        assert took < timeout
        assert engine.state == {}
        assert name not in domain_names(uri)
        print(f"\nshutdown_timeout={timeout}: deleted in {took:.1f} s, gracefully")
    finally:
        engine.destroy()
        engine.close()


def _tiny_guest(name: str, guest, serial: Path, timeout: int):
    """A program: the tiny Linux guest (tests/guest.py) booted directly, with ACPI, its
    console into ``serial``."""

    def program() -> None:
        libvirt.Domain("vm", name=name, type="qemu", memory={"value": 256, "unit": "MiB"},
                       vcpu=1, features={"acpi": True},
                       os={"type": {"value": "hvm", "machine": "pc"},
                           "kernel": str(guest.kernel), "initrd": str(guest.initramfs),
                           "cmdline": guest.cmdline},
                       devices={"serials": [{"type": "file", "source": {"path": str(serial)},
                                             "target": {"port": 0}}]},
                       shutdown_timeout=timeout)

    return program
