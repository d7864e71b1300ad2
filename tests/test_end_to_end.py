"""End to end: the tiny Debian guest (tests/guest.py) boots from what our resources made.

Through the provider host, as `pulumi up` drives it: a Pool, Volumes uploaded from the guest's
kernel and initramfs files, a CloudInitDisk whose user data carries a marker, and an Ignition
config. The guest mounts the seed, prints the marker on its serial console, prints the
Ignition config QEMU hands it through fw_cfg, and takes a DHCP lease. Afterwards everything is
destroyed and libvirt holds nothing of this run.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pulumi
import pytest
from guest import console_line, domain_xml, network_xml, subnet, wait_for
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
        net = conn.networkCreateXML(network_xml(net_name, subnet(run_prefix, 1)))
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
