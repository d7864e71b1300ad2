"""Domain updates on a real libvirtd: media and passwords changed live, vcpus and a disk
plugged and unplugged in a running Linux guest, changes left pending when restarts are not
allowed, renames, adoption; the definition keeps its UUID and MACs."""

from __future__ import annotations

from pathlib import Path

import pytest
from domains import domain_id, domain_names, guest_program, network, subnet, virsh
from guest import console_line, wait_for
from harness import Engine, ProviderError

import pulumi_libvirt as libvirt

BOOT_TIMEOUT = 300  # TCG on two busy cores


@pytest.fixture
def lan(system_uri: str, run_prefix: str):
    with network(system_uri, f"{run_prefix}ulan", subnet(run_prefix, "updates")) as name:
        yield name


def test_media_password_and_nic_change_live(system_uri: str, run_prefix: str,
                                            lan: str) -> None:
    uri, prefix = system_uri, f"{run_prefix}media-"
    name = f"{prefix}vm"

    def vnc(password: str) -> list:
        return [{"type": "vnc", "autoport": True, "passwd": password}]

    engine = Engine({"libvirt:uri": uri})
    try:
        vm = engine.up(guest_program(prefix, cdrom="a.iso", graphics=vnc("s3cretA1"))).outputs["vm"]
        first = vm["domain_id"]
        assert "devices" in engine.secret_outputs("vm")  # the password stays secret in state
        assert "a.iso" in virsh(uri, "domblklist", name)
        assert engine.preview(guest_program(prefix, cdrom="a.iso", graphics=vnc("s3cretA1"))).empty

        # Another medium and another password: both live, the same running guest.
        changed = guest_program(prefix, cdrom="b.iso", graphics=vnc("s3cretB2"))
        engine.preview(changed)
        words = engine.last_stderr
        assert "changing disk 'sda' (source.volume), graphics 'vnc' (passwd) applies live" in (
            words)
        vm = engine.up(changed).outputs["vm"]
        assert vm["domain_id"] == first == domain_id(uri, name)
        assert "b.iso" in virsh(uri, "domblklist", name)
        assert "passwd='s3cretB2'" in virsh(uri, "dumpxml", "--security-info", name)
        assert engine.preview(changed).empty

        # A NIC: attached live, its generated MAC kept in the definition.
        with_nic = guest_program(prefix, cdrom="b.iso", graphics=vnc("s3cretB2"), lan=lan)
        vm = engine.up(with_nic).outputs["vm"]
        assert vm["domain_id"] == first
        mac = vm["ip_addresses"][0]["mac"]
        assert mac in virsh(uri, "domiflist", name)
        assert engine.preview(with_nic).empty
        for text in (engine.last_stderr, words):
            assert "s3cret" not in text  # no log line carries a password
    finally:
        engine.destroy()
        engine.close()
    assert name not in domain_names(uri)


def _booted(serial: Path, what: str = "modules loaded at") -> None:
    """Wait until the guest's console says ``what`` (libvirt empties the file at each start)."""
    wait_for(lambda: console_line(serial, f"plv-guest: {what}"), BOOT_TIMEOUT,
             f"'{what}' on the guest's serial console", serial)


def test_vcpus_come_live_and_go_by_restarting(guest, system_uri: str, run_prefix: str,
                                              shared_dir: Path) -> None:
    """A vcpu is plugged into the running Linux guest; taking one away needs the guest to
    release it, which libvirt does not wait for: the preview says it restarts the guest."""
    uri, prefix = system_uri, f"{run_prefix}vcpu-"
    name, serial = f"{prefix}vm", shared_dir / "vcpu.log"

    def program(current: int, **extra):
        return guest_program(prefix, disks=0, vcpu={"value": 2, "current": current},
                             boot=guest.with_acpid(), serial=serial, shutdown_timeout=120,
                             **extra)

    def live_vcpus() -> str:
        return virsh(uri, "vcpucount", "--live", "--active", name).strip()

    engine = Engine({"libvirt:uri": uri})
    try:
        first = engine.up(program(1)).outputs["vm"]["domain_id"]
        _booted(serial, "acpid started")
        assert live_vcpus() == "1"

        engine.preview(program(2))
        assert f"domain '{name}': changing vcpu.current applies live" in engine.last_stderr
        vm = engine.up(program(2)).outputs["vm"]
        assert vm["domain_id"] == first == domain_id(uri, name)  # not restarted
        assert vm["vcpu"] == {"value": 2, "current": 2}
        assert live_vcpus() == "2"
        assert "<vcpu placement='static'>2</vcpu>" in virsh(uri, "dumpxml", "--inactive", name)
        assert engine.preview(program(2)).empty

        engine.preview(program(1))
        assert f"domain '{name}': changing vcpu.current takes effect by restarting it" in (
            engine.last_stderr)
        vm = engine.up(program(1)).outputs["vm"]
        assert vm["running"] is True and vm["pending_changes"] == []
        assert vm["domain_id"] != first and vm["domain_id"] == domain_id(uri, name)
        assert live_vcpus() == "1"
        assert "did not shut down" not in engine.last_stderr  # the guest powered off itself
        assert engine.preview(program(1)).empty
        _booted(serial, "acpid started")  # booted again, so the delete is graceful

        # Restarts not allowed: the definition has one vcpu, the running guest two, and the
        # outputs say it is pending.
        third = engine.up(program(2, reboot_for_updates=False)).outputs["vm"]["domain_id"]
        vm = engine.up(program(1, reboot_for_updates=False)).outputs["vm"]
        assert vm["domain_id"] == third and live_vcpus() == "2"
        assert vm["pending_changes"] == ["vcpu.current"]
        assert engine.preview(program(1, reboot_for_updates=False)).empty
        engine.destroy()
        assert "did not shut down" not in engine.last_stderr
    finally:
        engine.destroy()
        engine.close()
    assert name not in domain_names(uri)


def test_a_disk_is_plugged_and_unplugged_live(guest, system_uri: str, run_prefix: str,
                                              shared_dir: Path) -> None:
    """The running Linux guest takes a virtio disk and releases it (PCIe hotplug in its
    kernel): both live, the same guest, nothing left to do."""
    uri, prefix = system_uri, f"{run_prefix}unplug-"
    name, serial = f"{prefix}vm", shared_dir / "unplug.log"

    def program(disks: int):
        return guest_program(prefix, disks=disks, boot=guest, serial=serial)

    engine = Engine({"libvirt:uri": uri})
    try:
        first = engine.up(program(1)).outputs["vm"]["domain_id"]
        _booted(serial)

        engine.preview(program(2))
        assert f"domain '{name}': changing disk 'vdb' (added) applies live" in (
            engine.last_stderr)
        vm = engine.up(program(2)).outputs["vm"]
        assert vm["domain_id"] == first
        assert "vdb" in virsh(uri, "domblklist", name)

        engine.preview(program(1))
        assert f"domain '{name}': changing disk 'vdb' (removed) applies live" in (
            engine.last_stderr)
        vm = engine.up(program(1)).outputs["vm"]
        assert vm["domain_id"] == first == domain_id(uri, name)  # not restarted
        assert [d["target"]["dev"] for d in vm["devices"]["disks"]] == ["vda"]
        assert vm["pending_changes"] == []
        for flags in ((), ("--inactive",)):  # gone from the guest and from its definition
            assert "vdb" not in virsh(uri, "dumpxml", *flags, name)
        assert engine.preview(program(1)).empty
    finally:
        engine.destroy()
        engine.close()
    assert name not in domain_names(uri)


def test_changes_wait_for_the_next_boot_without_reboot_for_updates(
        system_uri: str, run_prefix: str) -> None:
    uri, prefix = system_uri, f"{run_prefix}pend-"
    name = f"{prefix}vm"
    engine = Engine({"libvirt:uri": uri})
    try:
        vm = engine.up(guest_program(prefix, reboot_for_updates=False)).outputs["vm"]
        first, uuid = vm["domain_id"], vm["uuid"]

        bigger = guest_program(prefix, memory=160, reboot_for_updates=False)
        engine.preview(bigger)
        assert "changing memory waits for the next boot (reboot_for_updates is false)" in (
            engine.last_stderr)
        vm = engine.up(bigger).outputs["vm"]
        assert vm["domain_id"] == first  # not restarted
        assert vm["memory"] == {"value": 160, "unit": "MiB"}  # the definition has it
        assert vm["pending_changes"] == ["memory"]  # the running guest does not
        assert engine.preview(bigger).empty
        assert "vm" not in engine.refresh().changes

        # The next boot takes it: pending no more, the same domain (UUID).
        virsh(uri, "destroy", name)
        engine.refresh()  # as `pulumi up --refresh`: Pulumi learns the guest is stopped
        vm = engine.up(bigger).outputs["vm"]
        assert vm["uuid"] == uuid and vm["pending_changes"] == []
        assert vm["domain_id"] != first
    finally:
        engine.destroy()
        engine.close()


def test_rename_keeps_the_domain(system_uri: str, run_prefix: str) -> None:
    uri, prefix = system_uri, f"{run_prefix}ren-"
    engine = Engine({"libvirt:uri": uri})
    try:
        # Stopped: renamed in place (virDomainRename), the UUID kept.
        uuid = engine.up(guest_program(prefix, running=False)).outputs["vm"]["uuid"]
        renamed = guest_program(prefix, running=False, name="renamed")
        assert engine.preview(renamed).ops["vm"] == "update"
        vm = engine.up(renamed).outputs["vm"]
        assert vm["uuid"] == uuid and vm["name"] == f"{prefix}renamed"
        assert f"{prefix}vm" not in domain_names(uri)
        assert engine.preview(renamed).empty

        # Running, restarts not allowed: refused, nothing changed.
        engine.up(guest_program(prefix, name="renamed", reboot_for_updates=False))
        with pytest.raises(ProviderError) as error:
            engine.up(guest_program(prefix, name="again", reboot_for_updates=False))
        assert str(error.value) == (
            f"cannot rename domain '{prefix}renamed' on {uri} to '{prefix}again' while it "
            "runs: libvirt renames stopped domains only; set reboot_for_updates=true (it is "
            "stopped within shutdown_timeout and started again) or stop it first with "
            "running=false")
        assert f"{prefix}renamed" in domain_names(uri)

        # Running, restarts allowed: stopped, renamed, started again.
        vm = engine.up(guest_program(prefix, name="again")).outputs["vm"]
        assert vm["uuid"] == uuid and vm["running"] is True
        assert domain_id(uri, f"{prefix}again") == vm["domain_id"]
    finally:
        engine.destroy()
        engine.close()


def test_adopt_takes_over_an_existing_domain(system_uri: str, run_prefix: str) -> None:
    uri, name = system_uri, f"{run_prefix}adopted"
    xml = (f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>"
           "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
           "<interface type='user'><mac address='52:54:00:12:34:56'/></interface>"
           "</devices></domain>")
    import libvirt as api

    conn = api.open(uri)
    existing = conn.defineXML(xml)
    uuid = existing.UUIDString()

    def program(adopt: bool):
        def run() -> None:
            libvirt.Domain("vm", name=name, type="qemu", memory={"value": 96, "unit": "MiB"},
                           os={"type": {"value": "hvm", "machine": "q35"}}, running=False,
                           autostart=True, adopt=adopt)
        return run

    engine = Engine({"libvirt:uri": uri})
    try:
        with pytest.raises(ProviderError) as error:
            engine.up(program(False))
        assert str(error.value).startswith(f"domain '{name}' already exists on {uri}. If it "
                                           "was made outside this program, set adopt=True")
        vm = engine.up(program(True)).outputs["vm"]
        assert vm["uuid"] == uuid and vm["autostart"] is True
        definition = virsh(uri, "dumpxml", "--inactive", name)
        assert "<memory unit='KiB'>98304</memory>" in definition
        assert "52:54:00:12:34:56" in definition  # what the program does not say is kept
        assert engine.preview(program(True)).empty
        engine.destroy()
        assert name not in domain_names(uri)
    finally:
        engine.close()
        try:
            existing.undefine()
        except api.libvirtError:
            pass
        conn.close()


def test_a_restart_that_fails_puts_the_previous_definition_back(system_uri: str,
                                                                run_prefix: str) -> None:
    uri, prefix = system_uri, f"{run_prefix}undo-"
    name = f"{prefix}vm"
    missing = f"/var/lib/libvirt/images/{prefix}missing.qcow2"
    engine = Engine({"libvirt:uri": uri})
    try:
        before = engine.up(guest_program(prefix)).outputs["vm"]

        with pytest.raises(ProviderError) as error:
            engine.up(guest_program(prefix, extra_disk_file=missing))
        message = str(error.value)
        assert message.startswith(f"cannot start domain '{name}' on {uri}: Cannot access "
                                  f"storage file '{missing}'")
        assert message.endswith("(the previous definition is back and the domain runs on it)")
        assert missing not in virsh(uri, "dumpxml", "--inactive", name)
        assert domain_id(uri, name) is not None  # running again
        engine.refresh()
        vm = engine.outputs("vm")
        assert vm["uuid"] == before["uuid"] and vm["running"] is True
        assert engine.preview(guest_program(prefix)).empty
    finally:
        engine.destroy()
        engine.close()


def test_start_options_start_it_paused(system_uri: str, run_prefix: str) -> None:
    uri, prefix = system_uri, f"{run_prefix}paused-"
    """Start flags on a real start: paused, with force_boot and bypass_cache (both about a
    managed save image, which there is none of: accepted and harmless)."""
    program = guest_program(prefix, start_options={"paused": True, "force_boot": True,
                                                   "bypass_cache": True})
    engine = Engine({"libvirt:uri": uri})
    try:
        vm = engine.up(program).outputs["vm"]
        assert vm["state"] == "paused" and vm["running"] is True
        assert "paused" in virsh(uri, "domstate", f"{prefix}vm")
        assert engine.preview(program).empty
    finally:
        engine.destroy()
        engine.close()
