"""Host lookups against libvirt's test driver (the corpus state file and test:///default) and a
real libvirtd: what a program sees when it asks for node info, node devices, domain
capabilities, existing objects and DHCP leases."""

from __future__ import annotations

import asyncio
import collections
import contextvars
import os
import re
import threading
from pathlib import Path

import libvirt
import pulumi
import pytest
from conftest import virsh
from lxml import etree
from pulumi.runtime.config import set_all_config
from pulumi.runtime.settings import SETTINGS

import pulumi_libvirt
from pulumi_libvirt import lookups, xml
from pulumi_libvirt.connection import LibvirtError
from pulumi_libvirt.lookups.capabilities import domain_capabilities
from pulumi_libvirt.lookups.devices import capability_fields
from pulumi_libvirt.lookups.invoke import host_uri

DEFAULT = "test:///default"
CORPUS = os.environ.get("LIBVIRT_XML_CORPUS")
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def corpus_uri() -> str:
    """The test driver loaded with the corpus's rich state file (94 node devices)."""
    if not CORPUS:
        pytest.skip("LIBVIRT_XML_CORPUS not set (conformance tier): no test-driver state file")
    path = Path(CORPUS).resolve() / "testdriver" / "testdriver-libvirt9.xml"
    return f"test://{path}"


def listed_by_libvirt(uri: str) -> dict[str, list[str]]:
    conn = libvirt.open(uri)
    try:
        return {cap: sorted(conn.listDevices(cap, 0)) for cap in lookups.capability_names()}
    finally:
        conn.close()


def assert_devices_match_libvirt(uri: str) -> list[pulumi_libvirt.NodeDevice]:
    """Every device parsed; per capability, our listing and the parsed capabilities name the
    same devices as libvirt's own listDevices(cap)."""
    devices = [lookups.get_node_device_info(n, uri=uri) for n in lookups.get_node_devices(uri=uri)]
    for cap, theirs in listed_by_libvirt(uri).items():
        assert lookups.get_node_devices(cap, uri=uri) == theirs, cap
        assert sorted(d.name for d in devices if cap in d.capabilities) == theirs, cap
    for device in devices:
        for cap in device.capabilities:
            if cap in capability_fields():
                assert getattr(device, cap) is not None, (device.name, cap)
        assert device.model == xml.from_xml("nodedev", device.xml)
    return devices


# ---------------------------------------------------------------- the pair maker


def test_every_lookup_has_an_output_form_with_the_same_parameters() -> None:
    import inspect

    for plain in lookups.LOOKUPS:
        output = getattr(pulumi_libvirt, f"{plain.__name__}_output")
        assert getattr(pulumi_libvirt, plain.__name__) is plain
        parameters = inspect.signature(plain).parameters
        assert list(parameters)[-1] == "uri" and "host" not in parameters
        assert inspect.signature(output).parameters == parameters
        assert plain.__doc__ and output.__doc__


def test_a_misspelt_argument_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="capabilty"):
        lookups.get_node_devices(capabilty="pci", uri=DEFAULT)


def test_uri_resolution_order(monkeypatch) -> None:
    monkeypatch.delenv("LIBVIRT_DEFAULT_URI", raising=False)
    set_all_config({}, [])
    assert host_uri() == "qemu:///system"
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", DEFAULT)
    assert host_uri() == DEFAULT
    assert lookups.get_node_info().cpu_model == "i686"  # the test driver's
    try:
        set_all_config({"libvirt:uri": "test:///empty-from-stack"}, [])
        assert host_uri() == "test:///empty-from-stack"  # stack config beats the variable
        assert host_uri("qemu:///session") == "qemu:///session"  # the argument beats both
    finally:
        set_all_config({}, [])


# ---------------------------------------------------------------- test:///default


def test_node_info_on_the_test_driver() -> None:
    info = lookups.get_node_info(uri=DEFAULT)
    text = virsh(DEFAULT, "nodeinfo")
    assert info == expected_node_info(text)


def expected_node_info(text: str) -> pulumi_libvirt.NodeInfo:
    """What `virsh nodeinfo` printed, as a NodeInfo."""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    value = {k.strip(): v.strip() for k, v in fields.items()}
    return pulumi_libvirt.NodeInfo(
        cpu_model=value["CPU model"], memory=int(value["Memory size"].split()[0]) * 1024,
        cpus=int(value["CPU(s)"]), mhz=int(value["CPU frequency"].split()[0]),
        numa_nodes=int(value["NUMA cell(s)"]), sockets=int(value["CPU socket(s)"]),
        cores_per_socket=int(value["Core(s) per socket"]),
        threads_per_core=int(value["Thread(s) per core"]),
    )


def test_node_devices_on_test_default() -> None:
    devices = assert_devices_match_libvirt(DEFAULT)
    by_name = {d.name: d for d in devices}
    assert by_name["computer"].system is not None
    fc = [d for d in devices if d.scsi_host and d.scsi_host.fc_host]
    assert len(fc) == len(lookups.get_node_devices("fc_host", uri=DEFAULT)) == 3
    assert all(re.fullmatch(r"[0-9a-f]{16}", d.scsi_host.fc_host.wwpn) for d in fc)


def test_a_capability_that_libvirt_does_not_know_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(ValueError) as error:
        lookups.get_node_devices("pcie", uri=DEFAULT)
    message = str(error.value)
    assert "'pcie' is not a libvirt node device capability; did you mean 'pci'?" in message
    # the valid names come from the nodedev table (and libvirt's constants for nested ones)
    device = xml.load("nodedev").fields["capabilities"].spec
    for name in (*device.attrs["type"].type.values, "fc_host", "vports", "mdev_types"):
        assert name in message
    # and every capability type of the table has a typed field on NodeDevice
    assert set(device.attrs["type"].type.values) <= set(capability_fields())


@pytest.mark.parametrize("call, message", [
    (lambda: lookups.get_node_device_info("pci_0000_00_99_9", uri=DEFAULT),
     f"node device 'pci_0000_00_99_9' not found on {DEFAULT}"),
    (lambda: lookups.get_network("defualt", uri=DEFAULT),
     f"network 'defualt' not found on {DEFAULT}; did you mean 'default'?"),
    (lambda: lookups.get_pool("images", uri=DEFAULT), f"pool 'images' not found on {DEFAULT}"),
    (lambda: lookups.get_volume(pool="default-pool", name="base.qcow2", uri=DEFAULT),
     f"volume 'base.qcow2' in pool 'default-pool' not found on {DEFAULT}"),
    (lambda: lookups.get_volume(path="/var/lib/libvirt/images/none.qcow2", uri=DEFAULT),
     f"volume with path '/var/lib/libvirt/images/none.qcow2' not found on {DEFAULT}"),
    (lambda: lookups.get_volume(pool="nopool", name="a", uri=DEFAULT),
     f"pool 'nopool' not found on {DEFAULT}"),
    (lambda: lookups.get_domain("tset", uri=DEFAULT),
     f"domain 'tset' not found on {DEFAULT}; did you mean 'test'?"),
    (lambda: lookups.get_network_dhcp_leases("nonet", uri=DEFAULT),
     f"network 'nonet' not found on {DEFAULT}"),
    (lambda: lookups.get_network_dhcp_leases("default", uri=DEFAULT),
     f"DHCP leases of network 'default': not available on {DEFAULT} (this function is not "
     "supported by the connection driver"),
    (lambda: lookups.get_domain_capabilities(uri=DEFAULT),
     f"domain capabilities: not available on {DEFAULT} (this function is not supported"),
])
def test_errors_name_the_thing_and_the_host(call, message) -> None:
    with pytest.raises(LibvirtError) as error:
        call()
    assert str(error.value).startswith(message)


def test_get_volume_takes_one_way_to_name_it() -> None:
    with pytest.raises(ValueError, match="give pool and name, or key, or path .*got name='a'"):
        lookups.get_volume(name="a", uri=DEFAULT)
    with pytest.raises(ValueError, match="got pool='p', key='k'"):
        lookups.get_volume(pool="p", key="k", uri=DEFAULT)


def test_existing_objects_on_test_default() -> None:
    net = lookups.get_network("default", uri=DEFAULT)
    assert (net.active, net.persistent, net.bridge) == (True, True, "virbr0")
    assert net.model["forward"] == {"mode": "nat"}
    assert net.model["ips"][0]["dhcp"]["ranges"] == [
        {"start": "192.168.122.2", "end": "192.168.122.254"}]
    pool = lookups.get_pool("default-pool", uri=DEFAULT)
    assert (pool.type, pool.state, pool.active, pool.path) == ("dir", "running", True,
                                                                "/default-pool")
    assert pool.capacity == pool.allocation + pool.available > 0
    dom = lookups.get_domain("test", uri=DEFAULT)
    assert (dom.state, dom.active, dom.persistent, dom.id) == ("running", True, True, 1)
    assert dom.model["name"] == "test" and dom.model["devices"]["disks"]


def test_output_forms_take_inputs_and_give_outputs() -> None:
    async def check() -> None:
        names = lookups.get_node_devices_output(pulumi.Output.from_input("fc_host"),
                                                uri=pulumi.Output.from_input(DEFAULT))
        assert isinstance(names, pulumi.Output)
        assert await names.future() == lookups.get_node_devices("fc_host", uri=DEFAULT)
        info = lookups.get_node_info_output(uri=DEFAULT)
        assert await info.cpus.future() == 16  # attribute access lifts, as for any Output
        secret = lookups.get_network_output(pulumi.Output.secret("default"), uri=DEFAULT)
        assert await secret.is_secret() is True
        assert await secret.bridge.future() == "virbr0"

    def run() -> None:
        loop = asyncio.new_event_loop()  # outputs live on an event loop, as in a program
        asyncio.set_event_loop(loop)
        SETTINGS.outputs, SETTINGS.lock = set(), threading.Lock()  # this context's own
        try:
            loop.run_until_complete(check())
        finally:
            loop.close()
            asyncio.set_event_loop(None)

    contextvars.Context().run(run)


# ---------------------------------------------------------------- the corpus state file


def test_corpus_node_devices_match_libvirt(corpus_uri: str) -> None:
    devices = assert_devices_match_libvirt(corpus_uri)
    assert len(devices) == 94
    counts = collections.Counter(c for d in devices for c in d.capabilities)
    assert counts["pci"] == 37
    by_name = {d.name: d for d in devices}

    nic = by_name["pci_8086_10fb"].pci  # an SR-IOV physical function in an IOMMU group
    assert str(nic.address) == "0000:81:00.1"
    assert (nic.vendor.id, nic.vendor.name) == ("0x8086", "Intel Corporation")
    assert nic.product.id == "0x10fb" and "82599ES" in nic.product.name
    assert nic.iommu_group.number == 47
    assert [str(a) for a in nic.iommu_group.members] == ["0000:81:00.1"]
    assert nic.max_virtual_functions == 63
    assert [str(a) for a in nic.virtual_functions] == [
        "0000:81:10.1", "0000:81:10.3", "0000:81:10.5", "0000:81:10.7"]
    assert nic.hostdev() == {"mode": "subsystem", "type": "pci", "managed": True, "source": {
        "address": {"domain": "0x0000", "bus": "0x81", "slot": "0x00", "function": "0x1"}}}
    assert by_name["pci_8086_2448"].pci.bridge

    usb = by_name["usb_5_20"].usb_device
    assert (usb.bus, usb.device, usb.vendor.id, usb.product.name) == (1, 20, "0x03f0",
                                                                      "Dup USB 1")
    net = by_name["net_00_1c_25_10_b1_e4"]
    assert (net.parent, net.net.interface, net.net.mac) == ("pci_8086_1049", "eth0",
                                                            "00:1c:25:10:b1:e4")
    disk = by_name["storage_serial_SATA_WDC_WD1600AAJS__WD_WCAP95119685"]
    assert [(n.type, n.path) for n in disk.devnodes] == [("dev", "/dev/sda")]
    assert (disk.storage.block, disk.storage.model, disk.storage.size) == (
        "/dev/sda", "WDC WD1600AAJS-2", 160041885696)
    fc = by_name["pci_10df_fe00_0_scsi_host"]
    assert fc.capabilities == ["scsi_host", "fc_host", "vports"]
    assert fc.scsi_host.fc_host.wwnn == "20000000c9848141"
    assert (fc.scsi_host.max_vports, fc.scsi_host.vports) == (0, 0)
    mdev = by_name["mdev_11f92c9d_b0b0_4016_b306_a8071277f8b9"].mdev
    assert (mdev.type, mdev.iommu_group) == ("vfio_ap-passthrough", 2)
    assert [(a.name, a.value) for a in mdev.attrs] == [("assign_adapter", "1"),
                                                       ("assign_domain", "2")]
    css = by_name["css_0_0_0023"].css
    assert (css.devno, css.mdev_types[0].device_api) == (0x23, "vfio-ccw")
    assert by_name["drm_renderD129"].drm.type == "render"
    assert by_name["pci_8086_2829_scsi_host_scsi_device_lun0"].scsi.type == "disk"
    assert by_name["computer"].system.hardware_version == "ThinkPad T61"


def test_corpus_objects_and_their_states(corpus_uri: str) -> None:
    states = {name: lookups.get_domain(name, uri=corpus_uri) for name in (
        "test-state-paused", "test-state-transient", "test-state-managedsave",
        "test-state-crashed", "test-state-pmsuspended", "test-state-shutoff")}
    assert {n: d.state for n, d in states.items()} == {
        "test-state-paused": "paused", "test-state-transient": "running",
        "test-state-managedsave": "shutoff", "test-state-crashed": "crashed",
        "test-state-pmsuspended": "pmsuspended", "test-state-shutoff": "shutoff"}
    assert not states["test-state-transient"].persistent
    assert states["test-state-managedsave"].managed_save
    pool = lookups.get_pool("pool-logical", uri=corpus_uri)
    assert (pool.type, pool.state, pool.model["source"]["name"]) == ("logical", "running",
                                                                      "pool-logical")
    vol = lookups.get_volume(pool="pool-dir", name="overlay.img", uri=corpus_uri)
    assert vol.format == "qcow2" and vol.backing_path
    assert lookups.get_volume(path=vol.path, uri=corpus_uri).key == vol.key
    assert lookups.get_volume(key=vol.key, uri=corpus_uri).name == "overlay.img"
    assert vol.backing_store() == {"path": vol.path, "format": "qcow2"}


@pytest.mark.parametrize("name", ["kvm-x86_64-domcaps-latest.xml",
                                  "kvm-x86_64-domcaps-oldfirmware.xml",
                                  "kvm-aarch64-domcaps.xml", "qemu-riscv64-domcaps.xml"])
def test_corpus_domain_capabilities(name: str) -> None:
    if not CORPUS:
        pytest.skip("LIBVIRT_XML_CORPUS not set (conformance tier)")
    folder = Path(CORPUS) / "capabilities"
    domcaps = (folder / name).read_text()
    caps = (folder / (name.split("-domcaps")[0] + ".xml")).read_text()
    result = domain_capabilities(domcaps, caps)
    source = etree.fromstring(domcaps.encode())
    assert result.firmware.loaders == source.xpath("os/loader/value/text()")
    assert result.firmware.secure_boot == ("yes" in source.xpath(
        "os/loader/enum[@name='secure']/value/text()"))
    assert [m.name for m in result.cpu_models] == source.xpath(
        "cpu/mode[@name='custom']/model/text()")
    assert result.devices["disk"].enums["bus"] == source.xpath(
        "devices/disk/enum[@name='bus']/value/text()")
    host = etree.fromstring(caps.encode())
    arch = host.xpath(f"guest[os_type='hvm']/arch[@name='{result.arch}']")[0]
    listed = arch.xpath(f"domain[@type='{result.virt_type}']/machine/text()") or arch.xpath(
        "machine/text()")
    assert sorted(m.name for m in result.machines) == sorted(listed)
