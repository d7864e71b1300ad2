"""The two real daemons are what the suite says they are, and the second leaves the host alone."""

from __future__ import annotations

import grp
import os
import time
from pathlib import Path

import libvirt
import pytest
from conftest import reach
from daemons import DAEMONS, Daemon, host_path, netns_of

# Host device nodes the second daemon must never touch (a chrooted libvirt 11.3 once turned
# /dev/ptmx into a symlink while starting a guest; Debian 13's packages regroup /dev/kvm).
WATCHED = ["kvm", "ptmx", "null", "zero", "full", "random", "urandom", "tty", "net/tun"]


def host_dev() -> dict[str, tuple]:
    state = {}
    for name in WATCHED:
        path = Path("/dev") / name
        if path.exists() or path.is_symlink():
            st = path.lstat()
            state[name] = (st.st_mode, st.st_uid, st.st_gid, st.st_rdev, st.st_ino)
    return state


@pytest.fixture
def libvirt11() -> Daemon:
    return reach("libvirt11")


def test_each_daemon_is_its_own_libvirtd(system_daemon: Daemon) -> None:
    pid = system_daemon.libvirtd()
    if pid is None or netns_of(pid) != system_daemon.netns:
        pytest.skip(f"{system_daemon.name}: this libvirtd was not started by our scripts")
    others = [d.libvirtd() for d in DAEMONS.values() if d is not system_daemon]
    assert pid not in others


def test_libvirt11_is_libvirt_11_3_with_qemu_10_from_debian_13(libvirt11: Daemon) -> None:
    conn = libvirt.open(libvirt11.uri)
    try:
        assert conn.getLibVersion() // 1000 == 11003
        assert conn.getVersion() // 1000000 == 10  # QEMU
    finally:
        conn.close()
    pid = libvirt11.libvirtd()
    assert pid is not None
    assert Path(f"/proc/{pid}/root/etc/debian_version").read_text().startswith("13.")


def test_libvirt11_has_its_own_dev_and_the_hosts_kvm_keeps_its_group(libvirt11: Daemon) -> None:
    """Debian 13's packages give `kvm` another group id than Debian 12's: had the root used the
    host's /dev, its /dev/kvm would change group and the host's libvirtd would lose KVM."""
    pid = libvirt11.libvirtd()
    assert pid is not None
    own, host = os.stat(f"/proc/{pid}/root/dev/null"), os.stat("/dev/null")
    assert (own.st_dev, own.st_ino) != (host.st_dev, host.st_ino)
    assert own.st_rdev == host.st_rdev
    if os.path.exists("/dev/kvm"):
        kvm = os.stat("/dev/kvm")
        assert kvm.st_gid in (0, grp.getgrnam("kvm").gr_gid)
        assert os.stat(f"/proc/{pid}/root/dev/kvm").st_ino != kvm.st_ino


def test_a_guest_on_libvirt11_leaves_the_hosts_dev_alone(libvirt11: Daemon,
                                                         run_prefix: str) -> None:
    before = host_dev()
    conn = libvirt.open(libvirt11.uri)
    name = f"{run_prefix}devcheck"
    try:
        dom = conn.createXML(
            f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>32</memory>"
            "<os><type arch='x86_64'>hvm</type></os>"
            "<devices><console type='pty'/></devices></domain>", 0)
        deadline = time.monotonic() + 30
        while dom.state()[0] != libvirt.VIR_DOMAIN_RUNNING and time.monotonic() < deadline:
            time.sleep(0.2)
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        assert "/dev/pts/" in dom.XMLDesc(0)  # its console got a pty: the root's devpts
        dom.destroy()
    finally:
        conn.close()
    assert host_dev() == before


def test_files_libvirt_keeps_are_found_from_the_host(system_daemon: Daemon,
                                                     tmp_path: Path) -> None:
    """A test hands libvirt paths under /tmp (the same on both daemons); files libvirt keeps
    itself (NVRAM, logs) live in each daemon's own root: ``host_path`` finds them."""
    assert host_path(system_daemon.uri, tmp_path / "x") == tmp_path / "x"
    log = host_path(system_daemon.uri, "/var/log/libvirt/libvirtd.log")
    pid = system_daemon.libvirtd()
    if pid is not None:
        seen = Path(f"/proc/{pid}/root/var/log/libvirt")
        assert seen.exists() == log.parent.exists()
        if seen.exists():
            assert os.stat(seen).st_ino == os.stat(log.parent).st_ino
