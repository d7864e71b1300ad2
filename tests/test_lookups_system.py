"""Host lookups on a real libvirtd (the ``system_uri`` fixture): node info equals `virsh
nodeinfo`, node devices equal sysfs, domain capabilities list the KVM machine types and the
OVMF firmware installed here, objects made outside Pulumi are found with their state, and a
DHCP lease that dnsmasq really handed out is reported."""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import sys
import time
from pathlib import Path

import libvirt
import pytest
from lxml import etree
from test_lookups import assert_devices_match_libvirt, expected_node_info, virsh

from pulumi_libvirt import lookups

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def conn(system_uri: str):
    connection = libvirt.open(system_uri)
    yield connection
    connection.close()


def test_node_info_equals_virsh_nodeinfo(system_uri: str) -> None:
    # The memory this VM reports moves now and then: ours must equal one of two readings
    # taken around it.
    before = expected_node_info(virsh(system_uri, "nodeinfo"))
    info = lookups.get_node_info(uri=system_uri)
    after = expected_node_info(virsh(system_uri, "nodeinfo"))
    assert info in (before, after)


def test_node_devices_equal_libvirt_and_sysfs(system_uri: str) -> None:
    devices = assert_devices_match_libvirt(system_uri)
    pcis = [d for d in devices if d.pci]
    assert pcis and any(d.system for d in devices)
    for device in pcis:
        sysfs = Path("/sys/bus/pci/devices") / str(device.pci.address)
        assert device.path == str(sysfs.resolve())
        assert device.pci.vendor.id == (sysfs / "vendor").read_text().strip()
        assert device.pci.product.id == (sysfs / "device").read_text().strip()
        assert device.pci.device_class == int((sysfs / "class").read_text(), 16)
        if (sysfs / "driver").exists():
            assert device.driver == (sysfs / "driver").resolve().name
    for device in (d for d in devices if d.storage):
        block = Path("/sys/class/block") / Path(device.storage.block).name
        assert device.storage.size == int((block / "size").read_text()) * 512


def _ovmf_files() -> set[str]:
    listing = subprocess.run(["dpkg", "-L", "ovmf"], capture_output=True, text=True,
                             check=True).stdout.split()
    return {Path(p).name for p in listing if p.endswith(".fd")}


def test_domain_capabilities_list_kvm_machine_types_and_the_ovmf_firmware(
        system_uri: str) -> None:
    caps = lookups.get_domain_capabilities(virt_type="kvm", uri=system_uri)
    assert caps.virt_type == "kvm" and caps.emulator and caps.max_vcpus > 1
    host = etree.fromstring(virsh(system_uri, "capabilities").encode())
    arch = host.xpath(f"guest[os_type='hvm']/arch[@name='{caps.arch}']")[0]
    listed = arch.xpath("domain[@type='kvm']/machine/text()") or arch.xpath("machine/text()")
    assert sorted(m.name for m in caps.machines) == sorted(listed)
    aliases = {m.name: m.canonical for m in caps.machines if m.canonical}
    assert aliases["q35"].startswith("pc-q35-") and aliases["pc"].startswith("pc-i440fx-")
    assert caps.machine == aliases["pc"]  # libvirt's default machine type on x86_64

    q35 = lookups.get_domain_capabilities(machine="q35", virt_type="kvm", uri=system_uri)
    assert q35.machine == aliases["q35"]
    reported = etree.fromstring(virsh(system_uri, "domcapabilities", "--machine", "q35",
                                      "--virttype", "kvm").encode())
    assert q35.firmware.loaders == reported.xpath("os/loader/value/text()")
    names = {Path(p).name for p in q35.firmware.loaders}
    assert names <= _ovmf_files()  # the firmware Debian's ovmf package installed
    assert {"OVMF_CODE_4M.fd", "OVMF_CODE_4M.secboot.fd"} <= names
    assert q35.firmware.secure_boot and "efi" in q35.firmware.auto_select
    assert "pflash" in q35.firmware.loader_types
    assert not caps.firmware.secure_boot  # i440fx has no SMM: no secure boot

    assert {"host-passthrough", "host-model", "custom"} <= set(caps.cpu_modes)
    assert "qemu64" in {m.name for m in caps.cpu_models}
    assert caps.devices["disk"].supported and "virtio" in caps.devices["disk"].enums["bus"]
    assert "pci" in caps.devices["hostdev"].enums["subsysType"]


@contextlib.contextmanager
def made(remove):
    """Yield, then run ``remove`` whatever happened (libvirt errors ignored)."""
    try:
        yield
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            remove()


def _network_xml(name: str, bridge: str, octet: int) -> str:
    return f"""<network><name>{name}</name><forward mode='nat'/><bridge name='{bridge}'/>
      <ip address='10.212.{octet}.1' prefix='24'>
        <dhcp><range start='10.212.{octet}.10' end='10.212.{octet}.20'/></dhcp></ip></network>"""


def test_existing_network_pool_volume_and_domain(system_uri: str, conn, run_prefix: str,
                                                 tmp_path: Path) -> None:
    name = f"{run_prefix}lookup"
    bridge = f"plv{secrets.token_hex(3)}"
    net = conn.networkDefineXML(_network_xml(name, bridge, secrets.randbelow(200) + 20))
    with made(net.undefine):
        found = lookups.get_network(name, uri=system_uri)
        assert (found.active, found.persistent, found.autostart) == (False, True, False)
        assert found.bridge == bridge
        assert found.model["ips"][0]["prefix"] == 24 and found.uuid == net.UUIDString()

    pool_dir = tmp_path / "pool"
    pool = conn.storagePoolDefineXML(f"<pool type='dir'><name>{name}</name><target>"
                                     f"<path>{pool_dir}</path></target></pool>")
    with made(pool.undefine):
        pool.build(0)
        pool.create(0)
        with made(pool.destroy):
            base = pool.createXML("<volume><name>base.qcow2</name><capacity>1048576</capacity>"
                                  "<target><format type='qcow2'/></target></volume>", 0)
            info = lookups.get_pool(name, uri=system_uri)
            assert (info.type, info.state, info.active, info.path) == (
                "dir", "running", True, str(pool_dir))
            vol = lookups.get_volume(pool=name, name="base.qcow2", uri=system_uri)
            assert (vol.path, vol.key, vol.format, vol.capacity) == (
                base.path(), base.key(), "qcow2", 1048576)
            assert lookups.get_volume(path=vol.path, uri=system_uri) == vol
            assert lookups.get_volume(key=vol.key, uri=system_uri) == vol
            # an image copied in by hand, behind libvirt's back: found after a refresh
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", vol.path, "-F",
                            "qcow2", str(pool_dir / "by-hand.qcow2")], check=True)
            by_hand = lookups.get_volume(pool=name, name="by-hand.qcow2", uri=system_uri)
            assert (by_hand.format, by_hand.backing_path) == ("qcow2", vol.path)
            base.delete(0)
            (pool_dir / "by-hand.qcow2").unlink()

    dom = conn.defineXML(f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>"
                         "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>")
    with made(dom.undefine):
        dom.setAutostart(1)
        found = lookups.get_domain(name, uri=system_uri)
        assert (found.state, found.active, found.persistent, found.autostart, found.id) == (
            "shutoff", False, True, True, None)
        assert found.model["memory"] == {"unit": "KiB", "value": 65536}


def _netns_of(bridge: str) -> str | None:
    """The network namespace holding ``bridge`` (None: the machine's own)."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for namespace in (line.split()[0] for line in listing.splitlines() if line.strip()):
        shown = subprocess.run(["ip", "netns", "exec", namespace, "ip", "link", "show", bridge],
                               capture_output=True)
        if shown.returncode == 0:
            return namespace
    return None


def _in(namespace: str | None, *command: str) -> list[str]:
    return ["ip", "netns", "exec", namespace, *command] if namespace else list(command)


def test_dhcp_lease_a_client_really_took(system_uri: str, conn, run_prefix: str) -> None:
    """A DHCP client in a namespace of this test, wired to the network's bridge by a veth
    pair, takes a lease from libvirt's dnsmasq; the lookup reports it."""
    token = secrets.token_hex(3)
    name, bridge, octet = f"{run_prefix}leases", f"plv{token}", secrets.randbelow(200) + 20
    client_ns, outer, inner = f"plvt-{token}", f"plvla{token}", f"plvlb{token}"
    mac, hostname = f"52:54:00:{token[0:2]}:{token[2:4]}:{token[4:6]}", f"guest-{token}"
    net = conn.networkCreateXML(_network_xml(name, bridge, octet))  # transient
    with made(net.destroy):
        bridge_ns = _netns_of(bridge)
        run = lambda *cmd: subprocess.run(cmd, check=True, capture_output=True)  # noqa: E731
        run("ip", "netns", "add", client_ns)
        try:
            run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            run("ip", "link", "set", inner, "netns", client_ns)
            if bridge_ns:
                run("ip", "link", "set", outer, "netns", bridge_ns)
            run(*_in(bridge_ns, "ip", "link", "set", outer, "master", bridge, "up"))
            run(*_in(client_ns, "ip", "link", "set", inner, "address", mac, "up"))
            got = subprocess.run(
                _in(client_ns, sys.executable, str(TESTS / "dhcpclient.py"), inner, mac,
                    hostname, "60"),
                capture_output=True, text=True, timeout=90)
            assert got.returncode == 0, got.stderr
            address = got.stdout.strip()
            assert address.startswith(f"10.212.{octet}.")
            # dnsmasq's lease script tells libvirt just after the ACK: wait for it, bounded
            deadline = time.monotonic() + 30
            while not (leases := lookups.get_network_dhcp_leases(name, uri=system_uri)):
                assert time.monotonic() < deadline, "libvirt never reported the lease"
                time.sleep(0.2)
            assert [(x.mac, x.ip, x.prefix, x.hostname, x.type, x.interface) for x in leases] == [
                (mac, address, 24, hostname, "ipv4", bridge)]
            assert leases[0].expiry > 0
            assert lookups.get_network_dhcp_leases(name, mac=mac.upper(), uri=system_uri) == leases
            assert lookups.get_network_dhcp_leases(name, mac="52:54:00:00:00:01",
                                                   uri=system_uri) == []
            info = lookups.get_network(name, uri=system_uri)
            assert (info.active, info.persistent, info.bridge) == (True, False, bridge)
        finally:
            subprocess.run(["ip", "netns", "del", client_ns], check=False)  # takes the veth
