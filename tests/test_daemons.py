"""The two real daemons are what the suite says they are, and the second leaves the host alone."""

from __future__ import annotations

import grp
import os

import libvirt
import pytest
from conftest import reach
from daemons import DAEMONS, Daemon, netns_of


def test_each_daemon_is_its_own_libvirtd_in_its_own_netns(system_daemon: Daemon) -> None:
    pid = system_daemon.libvirtd()
    if pid is None or netns_of(pid) != system_daemon.netns:
        pytest.skip(f"{system_daemon.name}: this libvirtd was not started by our scripts")
    assert os.readlink(f"/proc/{pid}/root") == system_daemon.root
    others = [d.libvirtd() for d in DAEMONS.values() if d is not system_daemon]
    assert pid not in others


@pytest.fixture
def libvirt11() -> Daemon:
    return reach("libvirt11")


def test_libvirt11_is_libvirt_11_3_with_qemu_10(libvirt11: Daemon) -> None:
    conn = libvirt.open(libvirt11.uri)
    try:
        assert conn.getLibVersion() // 1000 == 11003
        assert conn.getVersion() // 1000000 == 10  # QEMU
    finally:
        conn.close()


def test_libvirt11_has_its_own_dev_and_the_hosts_kvm_keeps_its_group(libvirt11: Daemon) -> None:
    """Debian 13's packages give `kvm` another group id than Debian 12's: had the root used the
    host's /dev, its /dev/kvm would change group and the host's libvirtd would lose KVM."""
    pid = libvirt11.libvirtd()
    assert pid is not None
    own = os.stat(f"/proc/{pid}/root/dev/null")
    assert (own.st_dev, own.st_ino) != (os.stat("/dev/null").st_dev, os.stat("/dev/null").st_ino)
    if not os.path.exists("/dev/kvm"):
        return
    host = os.stat("/dev/kvm")
    assert host.st_gid in (0, grp.getgrnam("kvm").gr_gid)
    root_kvm = os.stat(f"/proc/{pid}/root/dev/kvm")
    assert (root_kvm.st_dev, root_kvm.st_ino) != (host.st_dev, host.st_ino)
    assert root_kvm.st_rdev == host.st_rdev
