"""Helpers for domain tests: virsh on the fixture's URI, a guest program, a test network.

Guests are of type ``qemu`` (TCG), so they really run here; with no OS, SeaBIOS loops, which
is enough for lifecycle tests; with ``boot=guest`` the tiny Linux guest (tests/guest.py) runs,
for what needs the guest's cooperation (unplugging, ACPI). With ``pxe=True`` the guest boots
from the network: iPXE asks the network's dnsmasq for a lease with the interface's MAC, a real
DHCP lease within seconds.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from pathlib import Path

import libvirt as libvirt_api
from conftest import virsh
from guest import Guest

import pulumi_libvirt as libvirt

MiB = 1024**2
AGENT = "org.qemu.guest_agent.0"
IMAGES = Path("/var/lib/libvirt/images")


def domain_names(uri: str) -> set[str]:
    return set(virsh(uri, "list", "--all", "--name").split())


def domain_id(uri: str, name: str) -> int | None:
    text = virsh(uri, "domid", name).strip()
    return int(text) if text.isdigit() else None


def subnet(run_prefix: str, salt: str) -> str:
    """A /24 inside the domain tests' range (10.210.0.0/16), per run and purpose."""
    third = int(hashlib.sha256((run_prefix + salt).encode()).hexdigest(), 16) % 250 + 1
    return f"10.210.{third}"


@contextmanager
def network(uri: str, name: str, net: str, dhcp: bool = True):
    """A transient NAT network on ``net``.0/24, with DHCP unless ``dhcp=False`` (a Network
    resource is another engineer's work; this keeps the domain tests standing alone)."""
    conn = libvirt_api.open(uri)
    leases = f"<dhcp><range start='{net}.10' end='{net}.200'/></dhcp>" if dhcp else ""
    created = conn.networkCreateXML(
        f"<network><name>{name}</name><forward mode='nat'/>"
        f"<ip address='{net}.1' prefix='24'>{leases}</ip></network>")
    try:
        yield name
    finally:
        try:
            created.destroy()
        except libvirt_api.libvirtError:
            pass
        conn.close()


def guest_program(prefix: str, *, memory: int = 128, current: int = 96, disks: int = 1,
                  lan: str | None = None, running: bool = True, shutdown_timeout: int = 1,
                  pxe: bool = False, wait_for_ip=None, cdrom: str | None = None,
                  graphics: list | None = None, name: str = "vm",
                  extra_disk_file: str | None = None, vcpu: int | dict = 1,
                  boot: Guest | None = None, serial: Path | None = None, **extra):
    """A program: a dir pool under /var/lib/libvirt/images, ``disks`` qcow2 volumes, and a
    TCG guest with those disks, a NIC on ``lan``, a serial console, an rng and the guest-agent
    channel; with ``cdrom`` ("a.iso" or "b.iso", two small volumes) a cdrom on virtio-scsi
    holding that medium; with ``extra_disk_file`` a SATA disk on that file. With ``boot`` the
    guest boots that kernel and initramfs (tests/guest.py) directly, with ACPI; with
    ``serial`` its console goes into that file."""

    def program() -> None:
        pool = libvirt.Pool("pool", name=f"{prefix}pool", type="dir",
                            target={"path": str(IMAGES / f"{prefix}pool")},
                            delete_target=True)
        items = []
        for index in range(disks):
            dev = "vd" + "abcdefgh"[index]
            volume = libvirt.Volume(f"disk-{dev}", name=f"{dev}.qcow2", pool=pool.name,
                                    capacity=64 * MiB, format="qcow2")
            items.append({"type": "volume", "device": "disk",
                          "driver": {"name": "qemu", "type": "qcow2"},
                          "source": {"pool": pool.name, "volume": volume.name},
                          "target": {"dev": dev, "bus": "virtio"}})
        if cdrom:
            media = {iso: libvirt.Volume(f"media-{iso[0]}", name=iso, pool=pool.name,
                                         capacity=MiB, format="raw")
                     for iso in ("a.iso", "b.iso")}
            items.append({"type": "volume", "device": "cdrom", "readonly": True,
                          "driver": {"name": "qemu", "type": "raw"},
                          "source": {"pool": pool.name, "volume": media[cdrom].name},
                          "target": {"dev": "sda", "bus": "scsi"}})
        devices = {
            "disks": items,
            "serials": [{"type": "file", "source": {"path": str(serial)}, "target": {"port": 0}}
                        if serial else {"type": "pty"}],
            "rngs": [{"model": "virtio", "backend": {"model": "random",
                                                      "value": "/dev/urandom"}}],
            "channels": [{"type": "unix", "target": {"type": "virtio", "name": AGENT}}],
        }
        if extra_disk_file:
            items.append({"type": "file", "device": "disk", "source": {"file": extra_disk_file},
                          "target": {"dev": "sdb", "bus": "sata"}})
        if cdrom:
            devices["controllers"] = [{"type": "scsi", "model": "virtio-scsi"}]
        if graphics is not None:
            devices["graphics"] = graphics
        if lan:
            nic = {"type": "network", "source": {"network": lan}, "model": {"type": "virtio"}}
            if wait_for_ip is not None:
                nic["wait_for_ip"] = wait_for_ip
            devices["interfaces"] = [nic]
        os_ = {"type": {"value": "hvm", "machine": "q35"}}
        if pxe:
            os_["boots"] = [{"dev": "network"}]
        if boot is not None:
            os_.update(kernel=str(boot.kernel), initrd=str(boot.initramfs), cmdline=boot.cmdline)
            extra.setdefault("features", {"acpi": True})
        libvirt.Domain("vm", name=f"{prefix}{name}", type="qemu",
                       memory={"value": memory, "unit": "MiB"},
                       current_memory={"value": current, "unit": "MiB"}, vcpu=vcpu, os=os_,
                       devices=devices, running=running, shutdown_timeout=shutdown_timeout,
                       **extra)

    return program
