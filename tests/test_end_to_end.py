"""End to end: the tiny Debian guest (tests/guest.py) boots from what our resources made.

Through the provider host, as `pulumi up` drives it: a Pool, Volumes uploaded from the guest's
kernel and initramfs files, a CloudInitDisk whose user data carries a marker (and an Ignition
config); in the whole-VM test also the base image, overlay disk, NAT Network and Domain of
examples/cloud-vm. The guest mounts the seed, prints the marker on its serial console and
takes a DHCP lease, which the Domain's ``ip_addresses`` reports. Afterwards everything is
destroyed and libvirt holds nothing of this run.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pulumi
import pytest
from guest import CMDLINE, console_line, domain_xml, network_xml, subnet, wait_for
from harness import Engine, is_secret

import pulumi_libvirt as libvirt

libvirt_python = pytest.importorskip("libvirt")

BOOT_TIMEOUT = 300  # TCG on two busy cores


def leftovers(uri: str, prefix: str) -> list[str]:
    """Names of this run's domains, networks, pools and volumes still on the host."""
    names = []
    for kind in ("list --all", "net-list --all", "pool-list --all"):
        out = subprocess.run(["virsh", "-c", uri, *kind.split(), "--name"], capture_output=True,
                             text=True, check=True).stdout.split()
        names += [n for n in out if n.startswith(prefix)]
    return names


def volumes_program(prefix: str, pool_dir: Path, guest, marker: str):
    """Pool, kernel and initramfs volumes, the cloud-init seed and an Ignition config."""

    def program() -> None:
        pool = libvirt.Pool("pool", name=f"{prefix}e2e", type="dir",
                            target={"path": str(pool_dir)})
        kernel = libvirt.Volume("kernel", name="vmlinuz", pool=pool.name,
                                source={"path": str(guest.kernel)})
        initrd = libvirt.Volume("initrd", name="initramfs.gz", pool=pool.name,
                                source={"path": str(guest.initramfs)})
        seed = libvirt.CloudInitDisk(
            "seed", name="seed.iso", pool=pool.name, hostname="tiny",
            user_data=f"#cloud-config\n# {marker}\nchpasswd: {{expire: false}}\n")
        ignition = libvirt.Ignition("ignition", name="config.ign", pool=pool.name,
                                    config={"ignition": {"version": "3.4.0"}, "note": marker})
        for name, resource in (("kernel", kernel), ("initrd", initrd), ("seed", seed),
                               ("ignition", ignition)):
            pulumi.export(name, resource.path)

    return program


def test_guest_boots_from_provider_made_volumes(guest, system_uri: str, run_prefix: str,
                                                shared_dir: Path) -> None:
    marker = f"plv-marker-{run_prefix}volumes"
    engine = Engine({"libvirt:uri": system_uri})
    program = volumes_program(run_prefix, shared_dir / "pool", guest, marker)
    conn = libvirt_python.open(system_uri)
    net = dom = None
    try:
        paths = engine.up(program).exports
        assert marker not in engine.last_stderr  # the provider host logged no user data
        assert is_secret(engine.resource("seed").outputs["user_data"])
        assert engine.preview(program).empty

        net_name = f"{run_prefix}e2e-net"
        net = conn.networkCreateXML(network_xml(net_name, subnet(run_prefix, 1, system_uri)))
        serial = shared_dir / "serial.log"
        dom = conn.createXML(domain_xml(f"{run_prefix}e2e", paths["kernel"], paths["initrd"],
                                        paths["seed"], serial, net_name, paths["ignition"]), 0)
        started = time.monotonic()
        wait_for(lambda: console_line(serial, f"user-data: # {marker}"), BOOT_TIMEOUT,
                 "the marker on the serial console", serial)
        wait_for(lambda: console_line(serial, "plv-guest: lease "), BOOT_TIMEOUT,
                 "a DHCP lease", serial)
        config = "\n".join(line.split("plv-guest: ignition: ", 1)[1]
                           for line in serial.read_text().splitlines()
                           if "plv-guest: ignition: " in line)
        assert json.loads(config) == {"ignition": {"version": "3.4.0"}, "note": marker}
        print(f"\nprovider-made volumes: boot to lease {time.monotonic() - started:.1f} s")
    finally:
        if dom is not None:
            dom.destroy()
        if net is not None:
            net.destroy()
        engine.destroy()
        engine.close()
        conn.close()
    assert leftovers(system_uri, run_prefix) == []
    assert not (shared_dir / "pool").exists() or not any((shared_dir / "pool").iterdir())


def whole_vm_program(prefix: str, work: Path, guest, marker: str, net: str):
    """The shape of examples/cloud-vm on the tiny guest: pool, base image, overlay disk, seed,
    NAT network, a TCG domain booting the guest's kernel; exports the leased address."""

    def program() -> None:
        pool = libvirt.Pool("pool", name=f"{prefix}vm", type="dir",
                            target={"path": str(work / "pool")})
        kernel = libvirt.Volume("kernel", name="vmlinuz", pool=pool.name,
                                source={"path": str(guest.kernel)})
        initrd = libvirt.Volume("initrd", name="initramfs.gz", pool=pool.name,
                                source={"path": str(guest.initramfs)})
        base = libvirt.Volume("base", name="base.qcow2", pool=pool.name, format="qcow2",
                              source={"path": str(work / "base.qcow2")})
        disk = libvirt.Volume("disk", name="vm.qcow2", pool=pool.name, format="qcow2",
                              backing_store={"path": base.path, "format": "qcow2"})
        seed = libvirt.CloudInitDisk(
            "seed", name="vm-seed.iso", pool=pool.name, hostname="tiny",
            user_data=f"#cloud-config\n# {marker}\nchpasswd: {{expire: false}}\n")
        lan = libvirt.Network(
            "lan", name=f"{prefix}vm", forward={"mode": "nat"},
            ips=[{"address": f"{net}.1", "prefix": 24,
                  "dhcp": {"ranges": [{"start": f"{net}.10", "end": f"{net}.99"}]}}])
        vm = libvirt.Domain(
            "vm", name=f"{prefix}vm", type="qemu",
            memory={"value": 256, "unit": "MiB"}, vcpu=1,
            os={"type": {"value": "hvm", "arch": "x86_64", "machine": "pc"},
                "kernel": kernel.path, "initrd": initrd.path, "cmdline": CMDLINE},
            features={"acpi": True},
            devices={
                "controllers": [{"type": "scsi", "model": "virtio-scsi"}],
                "disks": [
                    {"type": "volume", "device": "disk",
                     "driver": {"name": "qemu", "type": "qcow2"},
                     "source": {"pool": pool.name, "volume": disk.name},
                     "target": {"dev": "vda", "bus": "virtio"}},
                    {"type": "volume", "device": "cdrom",
                     "driver": {"name": "qemu", "type": "raw"},
                     "source": {"pool": pool.name, "volume": seed.name},
                     "target": {"dev": "sda", "bus": "scsi"}, "readonly": True},
                ],
                "interfaces": [{"type": "network", "source": {"network": lan.name},
                                "model": {"type": "virtio"},
                                "wait_for_ip": {"source": "lease", "timeout": BOOT_TIMEOUT}}],
                "serials": [{"type": "file", "source": {"path": str(work / "serial.log")},
                             "target": {"port": 0}}],
            },
            running=True)
        pulumi.export("ip", vm.ip_addresses.apply(lambda nics: nics[0]["addresses"][0]))

    return program


def test_whole_vm_through_the_provider_host(guest, system_uri: str, run_prefix: str,
                                            shared_dir: Path) -> None:
    marker = f"plv-marker-{run_prefix}vm"
    net = subnet(run_prefix, 2, system_uri)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(shared_dir / "base.qcow2"),
                    "64M"], check=True)
    serial = shared_dir / "serial.log"
    program = whole_vm_program(run_prefix, shared_dir, guest, marker, net)
    engine = Engine({"libvirt:uri": system_uri})
    try:
        assert set(engine.preview(program).ops.values()) == {"create"}
        started = time.monotonic()
        result = engine.up(program)  # returns once the guest has leased an address
        up_seconds = time.monotonic() - started
        address = result.exports["ip"]
        assert address.startswith(f"{net}.")
        wait_for(lambda: console_line(serial, f"user-data: # {marker}"), 60,
                 "the marker on the serial console", serial)
        assert console_line(serial, f"plv-guest: lease {address} ")  # the same lease
        seed = engine.resource("seed")
        assert is_secret(seed.inputs["user_data"]) and is_secret(seed.outputs["user_data"])
        assert marker not in engine.last_stderr  # nothing the provider host logged shows it
        mounted = console_line(serial, "mounted at")
        leased = console_line(serial, "plv-guest: lease")
        print(f"\nwhole VM: up {up_seconds:.1f} s (uploads, define, boot, lease); guest: "
              f"{mounted}; {leased}")
        assert engine.preview(program).empty
    finally:
        engine.destroy()
        engine.close()
    assert leftovers(system_uri, run_prefix) == []
