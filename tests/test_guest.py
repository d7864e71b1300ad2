"""The tiny test guest (tests/guest.py) boots, reads its seeds and takes a DHCP lease.

Everything here is made directly with libvirt-python (no provider): this proves the guest
itself, and our ISO builder inside a real guest kernel, so that the end-to-end test through the
provider host only tests the provider.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from guest import build_guest, console_line, subnet, wait_for

from pulumi_libvirt import iso, seeds

libvirt = pytest.importorskip("libvirt")

BOOT_TIMEOUT = 300  # TCG on two busy cores


@pytest.fixture(scope="session")
def guest():
    return build_guest()


@pytest.fixture
def shared_dir(run_prefix: str):
    """A directory qemu (user libvirt-qemu) can reach: pytest's tmp_path is private to root."""
    path = Path(tempfile.mkdtemp(prefix=run_prefix, dir="/var/tmp"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def conn(system_uri: str):
    connection = libvirt.open(system_uri)
    yield connection
    connection.close()


def network_xml(name: str, net: str) -> str:
    return f"""<network><name>{name}</name><forward mode='nat'/>
      <ip address='{net}.1' prefix='24'><dhcp><range start='{net}.10' end='{net}.99'/></dhcp></ip>
    </network>"""


def domain_xml(name: str, guest, seed: Path, serial: Path, network: str,
               ignition: Path | None = None) -> str:
    sysinfo = ""
    if ignition is not None:
        sysinfo = (f"<sysinfo type='fwcfg'><entry name='opt/com.coreos/config' "
                   f"file='{ignition}'/></sysinfo>")
    return f"""<domain type='qemu'><name>{name}</name><memory unit='MiB'>256</memory>
      <vcpu>1</vcpu>
      <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{guest.kernel}</kernel>
        <initrd>{guest.initramfs}</initrd><cmdline>{guest.cmdline}</cmdline></os>
      <features><acpi/></features>{sysinfo}
      <devices>
        <controller type='scsi' model='virtio-scsi'/>
        <disk type='file' device='cdrom'><driver name='qemu' type='raw'/>
          <source file='{seed}'/><target dev='sda' bus='scsi'/><readonly/></disk>
        <interface type='network'><source network='{network}'/><model type='virtio'/></interface>
        <serial type='file'><source path='{serial}'/><target port='0'/></serial>
      </devices></domain>"""


def test_tiny_guest_mounts_its_seed_reads_fw_cfg_and_takes_a_lease(
    guest, conn, shared_dir: Path, run_prefix: str
) -> None:
    marker = f"plv-marker-{run_prefix}guest"
    files = seeds.cloud_init_files(f"#cloud-config\n# {marker}\n", None, None, None, "tiny")
    seed = shared_dir / "seed.iso"
    seed.write_bytes(iso.build_iso("cidata", files))
    ignition = shared_dir / "config.ign"
    ignition.write_text(json.dumps({"ignition": {"version": "3.4.0"}, "note": marker}))
    serial = shared_dir / "serial.log"
    net_name, dom_name = f"{run_prefix}guest-net", f"{run_prefix}guest"
    net = conn.networkCreateXML(network_xml(net_name, subnet(run_prefix, 0)))
    dom = None
    try:
        dom = conn.createXML(domain_xml(dom_name, guest, seed, serial, net_name, ignition), 0)
        started = time.monotonic()
        line = wait_for(lambda: console_line(serial, f"user-data: # {marker}"), BOOT_TIMEOUT,
                        "the marker on the serial console", serial)
        to_marker = time.monotonic() - started
        assert line.endswith(f"# {marker}")
        mac = dom.XMLDesc(0).split("<mac address='")[1].split("'")[0]

        def lease():
            return next((entry["ipaddr"] for entry in net.DHCPLeases()
                         if entry["mac"] == mac), None)

        address = wait_for(lease, BOOT_TIMEOUT, f"a DHCP lease for {mac}", serial)
        to_lease = time.monotonic() - started
        assert address.startswith(subnet(run_prefix, 0) + ".")
        wait_for(lambda: console_line(serial, f"lease {address}"), 60, "the guest's lease line",
                 serial)
        assert console_line(serial, f'ignition: {{"ignition": {{"version": "3.4.0"}}, '
                                    f'"note": "{marker}"}}')
        print(f"\nguest: build {guest.build_seconds:.1f} s (0 = cached); boot to marker "
              f"{to_marker:.1f} s; boot to lease {to_lease:.1f} s; "
              f"{console_line(serial, 'mounted at')}; {console_line(serial, 'plv-guest: lease')}")
    finally:
        if dom is not None:
            dom.destroy()
        net.destroy()
