"""The tiny test guest (tests/guest.py) boots, reads its seeds and takes a DHCP lease; with the
agent (``Guest.with_agent()``) its QEMU guest agent reports that address to libvirt.

Everything here is made directly with libvirt-python (no provider): this proves the guest
itself, and our ISO builder inside a real guest kernel, so that the end-to-end test through the
provider host only tests the provider.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from domains import subnet as domain_subnet
from guest import console_line, domain_xml, network_xml, subnet, wait_for

from pulumi_libvirt import iso, seeds

libvirt = pytest.importorskip("libvirt")

BOOT_TIMEOUT = 300  # TCG on two busy cores


@pytest.fixture
def conn(system_uri: str):
    connection = libvirt.open(system_uri)
    yield connection
    connection.close()


def test_tiny_guest_mounts_its_seed_reads_fw_cfg_and_takes_a_lease(
    guest, conn, system_uri: str, shared_dir: Path, run_prefix: str
) -> None:
    marker = f"plv-marker-{run_prefix}guest"
    files = seeds.cloud_init_files(f"#cloud-config\n# {marker}\n", None, None, None, "tiny")
    seed = shared_dir / "seed.iso"
    seed.write_bytes(iso.build_iso("cidata", files))
    ignition = shared_dir / "config.ign"
    ignition.write_text(json.dumps({"ignition": {"version": "3.4.0"}, "note": marker}))
    serial = shared_dir / "serial.log"
    net_name, dom_name = f"{run_prefix}guest-net", f"{run_prefix}guest"
    net = conn.networkCreateXML(network_xml(net_name, subnet(run_prefix, 0, system_uri)))
    dom = None
    try:
        dom = conn.createXML(domain_xml(dom_name, guest.kernel, guest.initramfs, seed, serial,
                                        net_name, ignition), 0)
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
        assert address.startswith(subnet(run_prefix, 0, system_uri) + ".")
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


def test_agent_guest_reports_its_leased_address_through_the_guest_agent(
    guest, conn, system_uri: str, shared_dir: Path, run_prefix: str
) -> None:
    agent_guest = guest.with_agent()
    seed = shared_dir / "seed.iso"
    seed.write_bytes(iso.build_iso("cidata", seeds.cloud_init_files(
        "#cloud-config\n", None, None, None, "agent")))
    serial = shared_dir / "serial.log"
    net_name, dom_name = f"{run_prefix}agent-net", f"{run_prefix}agent"
    # the domain tests' range (10.210.0.0/16), a /24 per run and daemon
    lan = domain_subnet(run_prefix, f"agent {system_uri}")
    net = conn.networkCreateXML(network_xml(net_name, lan))
    dom = None
    try:
        dom = conn.createXML(domain_xml(
            dom_name, agent_guest.kernel, agent_guest.initramfs, seed, serial, net_name,
            cmdline=agent_guest.cmdline, agent=True), 0)
        started = time.monotonic()
        mac = dom.XMLDesc(0).split("<mac address='")[1].split("'")[0]

        def lease():
            return next((entry["ipaddr"] for entry in net.DHCPLeases()
                         if entry["mac"] == mac), None)

        address = wait_for(lease, BOOT_TIMEOUT, f"a DHCP lease for {mac}", serial)

        def reported():
            try:
                interfaces = dom.interfaceAddresses(
                    libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT, 0)
            except libvirt.libvirtError:  # the agent is not connected yet
                return None
            return next((iface for iface in interfaces.values()
                         if iface["hwaddr"] == mac and iface["addrs"]), None)

        iface = wait_for(reported, BOOT_TIMEOUT, "the guest agent's addresses", serial)
        to_agent = time.monotonic() - started
        assert address.startswith(f"{lan}.")
        assert address in [a["addr"] for a in iface["addrs"]]
        assert console_line(serial, "plv-guest: agent on /dev/vport")
        assert not console_line(serial, "qemu-ga exited")
        print(f"\nagent guest: lease {address}; agent reports it {to_agent:.1f} s after start")
    finally:
        if dom is not None:
            dom.destroy()
        net.destroy()
