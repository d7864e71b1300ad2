"""Programs that use the lookups: they find the host from stack config ``libvirt:uri``, as a
program run by `pulumi up` does, and hand what they found to resources.

- A PCI device picked by vendor id goes into a Domain's hostdevs (under
  ``pulumi.runtime.set_mocks``: the inputs the engine would get are checked against the
  domain table and written as libvirt XML).
- An existing image found with ``get_volume`` (plain and output forms) becomes the backing
  store of new overlay volumes, deployed for real through the engine-protocol harness.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import subprocess
import threading
from pathlib import Path

import libvirt
import pulumi
import pytest
from harness import Engine
from lxml import etree
from pulumi.runtime.config import set_all_config
from pulumi.runtime.mocks import Mocks, set_mocks
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func

import pulumi_libvirt
from pulumi_libvirt import xml

CORPUS_STATE = "testdriver/testdriver-libvirt9.xml"


class _Capture(Mocks):
    """Records the inputs of every resource the program declares."""

    def __init__(self) -> None:
        self.inputs: dict[str, dict] = {}

    def new_resource(self, args):
        self.inputs[args.name] = args.inputs
        return f"{args.name}-id", args.inputs

    def call(self, args):
        return {}


def run_with_mocks(program, config: dict) -> _Capture:
    """Run ``program`` as `pulumi up` would, under mocks, with this stack config."""
    def run() -> _Capture:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            set_all_config({k: json.dumps(v) if not isinstance(v, str) else v
                            for k, v in config.items()}, [])
            mocks = _Capture()
            set_mocks(mocks, project="lookups", stack="dev", preview=False)
            # These default to objects shared by every context: give this run its own.
            SETTINGS.outputs = set()
            SETTINGS.lock = threading.Lock()
            loop.run_until_complete(run_pulumi_func(program))
            return mocks
        finally:
            set_all_config({}, [])
            loop.close()
            asyncio.set_event_loop(None)

    return contextvars.Context().run(run)


def passthrough_program(vendor_id: str):
    """The user's program: the first PCI device of a vendor, passed through to a VM."""
    def program() -> None:
        devices = [pulumi_libvirt.get_node_device_info(name)
                   for name in pulumi_libvirt.get_node_devices("pci")]
        picked = next(d for d in devices if d.pci.vendor.id == vendor_id)
        pulumi_libvirt.Domain("vm", name="passthrough", type="kvm",
                              memory={"value": 1, "unit": "GiB"}, vcpu=1,
                              os={"type": {"value": "hvm", "machine": "q35"}},
                              devices={"hostdevs": [picked.pci.hostdev()]})
        pulumi.export("picked", picked.name)

    return program


def _sysfs_pick() -> tuple[str, str]:
    """(vendor id of this machine's last PCI function, first address with that vendor)."""
    functions = sorted(Path("/sys/bus/pci/devices").iterdir())
    vendor = (functions[-1] / "vendor").read_text().strip()
    return vendor, next(f.name for f in functions if (f / "vendor").read_text().strip() == vendor)


def _hostdev_xml(uri: str, vendor_id: str, expected_address: str) -> None:
    inputs = run_with_mocks(passthrough_program(vendor_id), {"libvirt:uri": uri}).inputs["vm"]
    domain, bus, rest = expected_address.split(":")
    slot, function = rest.split(".")
    address = {"domain": f"0x{domain}", "bus": f"0x{bus}", "slot": f"0x{slot}",
               "function": f"0x{int(function, 16):x}"}
    assert inputs["devices"]["hostdevs"] == [
        {"mode": "subsystem", "type": "pci", "managed": True, "source": {"address": address}}]
    model = {k: inputs[k] for k in ("name", "type", "memory", "vcpu", "os", "devices")}
    assert xml.check("domain", model) == []
    written = etree.fromstring(xml.to_xml("domain", model).encode())
    [hostdev] = written.xpath("devices/hostdev[@type='pci'][@managed='yes']")
    assert dict(hostdev.find("source/address").attrib) == address


def test_passthrough_of_a_pci_device_picked_by_vendor_on_the_corpus_host() -> None:
    import os

    corpus = os.environ.get("LIBVIRT_XML_CORPUS")
    if not corpus:
        pytest.skip("LIBVIRT_XML_CORPUS not set (conformance tier): no test-driver state file")
    path = Path(corpus).resolve() / CORPUS_STATE
    # the state file's one Emulex function, as libvirt itself reports it
    conn = libvirt.open(f"test://{path}")
    try:
        emulex = etree.fromstring(conn.nodeDeviceLookupByName("pci_10df_fe00_0").XMLDesc(0))
    finally:
        conn.close()
    cap = emulex.find("capability")
    expected = (f"{int(cap.findtext('domain')):04x}:{int(cap.findtext('bus')):02x}:"
                f"{int(cap.findtext('slot')):02x}.{int(cap.findtext('function')):x}")
    _hostdev_xml(f"test://{path}", cap.find("vendor").get("id"), expected)


def test_passthrough_of_a_pci_device_picked_by_vendor_on_a_real_host(system_uri: str) -> None:
    vendor, address = _sysfs_pick()
    _hostdev_xml(system_uri, vendor, address)


@pytest.fixture
def base_image(system_uri: str, run_prefix: str, tmp_path: Path):
    """A pool and a qcow2 base image made outside Pulumi (with libvirt directly)."""
    conn = libvirt.open(system_uri)
    pool = conn.storagePoolDefineXML(
        f"<pool type='dir'><name>{run_prefix}bases</name><target><path>{tmp_path / 'bases'}"
        "</path></target></pool>")
    pool.build(0)
    pool.create(0)
    base = pool.createXML("<volume><name>base.qcow2</name><capacity>16777216</capacity>"
                          "<target><format type='qcow2'/></target></volume>", 0)
    yield pool.name(), base.path()
    for vol in pool.listAllVolumes():
        vol.delete(0)
    pool.destroy()
    pool.undefine()
    conn.close()


def test_overlays_on_an_existing_image_found_with_get_volume(system_uri: str, run_prefix: str,
                                                            base_image) -> None:
    pool_name, base_path = base_image

    def program() -> None:
        base = pulumi_libvirt.get_volume(pool=pool_name, name="base.qcow2")
        first = pulumi_libvirt.Volume("first", name=f"{run_prefix}first.qcow2", pool=base.pool,
                                      format="qcow2", backing_store=base.backing_store())
        # the output form, as a program passes another resource's output
        found = pulumi_libvirt.get_volume_output(pool=pulumi.Output.from_input(pool_name),
                                                 name="base.qcow2")
        second = pulumi_libvirt.Volume("second", name=f"{run_prefix}second.qcow2",
                                       pool=found.pool, format="qcow2",
                                       backing_store=found.apply(lambda v: v.backing_store()))
        pulumi.export("paths", [first.path, second.path])

    engine = Engine({"libvirt:uri": system_uri})  # `pulumi config set libvirt:uri ...`
    try:
        paths = engine.up(program).exports["paths"]
        for path in paths:
            info = json.loads(subprocess.run(
                ["qemu-img", "info", "--output=json", "-U", path], capture_output=True,
                text=True, check=True).stdout)
            assert info["backing-filename"] == base_path
            assert (info["format"], info["virtual-size"]) == ("qcow2", 16777216)
        assert engine.preview(program).empty
    finally:
        engine.destroy()
    assert not any(Path(p).exists() for p in paths)
