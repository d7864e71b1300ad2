"""Node devices: the host's PCI, USB, network, storage, SCSI, mediated ... devices.

Device XML is read by the XML core's nodedev table; the typed view below picks the useful
fields of every capability type libvirt defines, and ``model`` keeps all of it.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any

import libvirt

from .. import xml
from ..xml.check import suggest
from .build import at, build, pluck, present
from .invoke import Host, lookup

# The XML's <capability type='vport_ops'> is listed by libvirt's API as 'vports'.
_LISTED_AS = {"vport_ops": "vports"}


@cache
def capability_names() -> tuple[str, ...]:
    """Capability names libvirt lists devices by: every device capability type of the nodedev
    schema, and the nested ones libvirt's API lists by (fc_host, vports, mdev_types, ...)."""
    device = xml.load("nodedev").fields["capabilities"].spec
    top = device.attrs["type"].type.values
    nested = device.fields["capabilities"].spec.attrs["type"].type.values
    listed = (_LISTED_AS.get(name, name) for name in nested)
    return (*top, *(name for name in listed
                    if hasattr(libvirt, f"VIR_CONNECT_LIST_NODE_DEVICES_CAP_{name.upper()}")))


def check_capability(capability: str) -> None:
    names = capability_names()
    if capability not in names:
        raise ValueError(f"capability {capability!r} is not a libvirt node device capability"
                         f"{suggest(capability, names)} (expected one of {', '.join(names)})")


# ---------------------------------------------------------------- shared parts


@dataclass(frozen=True)
class IdName:
    """A vendor or product: its id as libvirt writes it (``'0x8086'``) and its name."""

    id: str | None = at("id")
    name: str | None = at("value")


@dataclass(frozen=True)
class PciAddress:
    """A PCI address (domain:bus:slot.function)."""

    domain: int = 0
    bus: int = 0
    slot: int = 0
    function: int = 0

    def __str__(self) -> str:
        return f"{self.domain:04x}:{self.bus:02x}:{self.slot:02x}.{self.function:x}"

    def as_address(self) -> dict[str, str]:
        """The address as a domain's ``<address>``/hostdev ``source.address`` model."""
        return {"domain": f"0x{self.domain:04x}", "bus": f"0x{self.bus:02x}",
                "slot": f"0x{self.slot:02x}", "function": f"0x{self.function:x}"}


@dataclass(frozen=True)
class IommuGroup:
    """An IOMMU group: its number and the PCI functions in it (passed through together)."""

    number: int | None = None
    members: list[PciAddress] = at("addresses", default=[])


@dataclass(frozen=True)
class MdevType:
    """A mediated device type a parent device can create."""

    id: str | None = None
    name: str | None = None
    device_api: str | None = None
    available_instances: int | None = None


@dataclass(frozen=True)
class PciExpressLink:
    validity: str | None = None  # 'cap' (what the device can do) or 'sta' (what it does)
    port: int | None = None
    speed: str | None = None
    width: int | None = None


# ---------------------------------------------------------------- capability types


@dataclass(frozen=True)
class SystemCapability:
    """The host machine (device ``computer``)."""

    product: str | None = None
    hardware_vendor: str | None = at("hardware.vendor")
    hardware_version: str | None = at("hardware.version")
    hardware_serial: str | None = at("hardware.serial")
    hardware_uuid: str | None = at("hardware.uuid")
    firmware_vendor: str | None = at("firmware.vendor")
    firmware_version: str | None = at("firmware.version")
    firmware_release_date: str | None = at("firmware.release_date")


@dataclass(frozen=True)
class PciCapability:
    """A PCI function: address, ids and names, IOMMU group, SR-IOV, bridge, PCIe links."""

    address: PciAddress = at(".")
    device_class: int | None = at("class")
    vendor: IdName = at(default=IdName())
    product: IdName = at(default=IdName())
    iommu_group: IommuGroup | None = None
    numa_node: int | None = at("numa.node")
    physical_function: PciAddress | None = at("capabilities[type=phys_function].addresses[0]")
    virtual_functions: list[PciAddress] = at("capabilities[type=virt_functions].addresses",
                                             default=[])
    max_virtual_functions: int | None = at("capabilities[type=virt_functions].max_count")
    bridge: bool = at("capabilities[type=pci-bridge]", present, False)
    cardbus_bridge: bool = at("capabilities[type=cardbus-bridge]", present, False)
    mdev_types: list[MdevType] = at("capabilities[type=mdev_types].types", default=[])
    pci_express_links: list[PciExpressLink] = at("pci_express.links", default=[])
    vpd: bool = at("capabilities[type=vpd]", present, False)

    def hostdev(self, managed: bool = True) -> dict[str, Any]:
        """A domain ``devices.hostdevs`` item passing this function through."""
        return {"mode": "subsystem", "type": "pci", "managed": managed,
                "source": {"address": self.address.as_address()}}


@dataclass(frozen=True)
class UsbDeviceCapability:
    """A USB device: bus and device numbers, vendor and product."""

    bus: int | None = None
    device: int | None = None
    vendor: IdName = at(default=IdName())
    product: IdName = at(default=IdName())

    def hostdev(self, managed: bool = True) -> dict[str, Any]:
        """A domain ``devices.hostdevs`` item passing this device through, by its ids."""
        return {"mode": "subsystem", "type": "usb", "managed": managed,
                "source": {"vendor": {"id": self.vendor.id}, "product": {"id": self.product.id}}}


@dataclass(frozen=True)
class UsbInterfaceCapability:
    """An interface of a USB device (capability ``usb``)."""

    number: int | None = None
    usb_class: int | None = at("class")
    subclass: int | None = None
    protocol: int | None = None
    description: str | None = None


@dataclass(frozen=True)
class NetCapability:
    """A network interface: name, MAC, link, offload features, 802.3 or 802.11."""

    interface: str | None = None
    mac: str | None = at("address")
    link_state: str | None = at("link.state")
    link_speed: int | None = at("link.speed")  # Mbit/s
    features: list[str] = at("features", pluck("name"), [])
    subtypes: list[str] = at("capabilities", pluck("type"), [])  # '80203', '80211'


@dataclass(frozen=True)
class StorageCapability:
    """A block device: its node, bus, drive type, model, vendor, serial, size in bytes."""

    block: str | None = None
    bus: str | None = None
    drive_type: str | None = None
    model: str | None = None
    vendor: str | None = None
    serial: str | None = None
    size: int | None = None
    logical_block_size: int | None = None
    num_blocks: int | None = None
    removable: bool = at("capabilities[type=removable]", present, False)
    media_available: bool | None = at("capabilities[type=removable].media_available")
    media_size: int | None = at("capabilities[type=removable].media_size")
    media_label: str | None = at("capabilities[type=removable].media_label")


@dataclass(frozen=True)
class FcHost:
    """A Fibre Channel host adapter's names."""

    wwnn: str | None = None
    wwpn: str | None = None
    fabric_wwn: str | None = None


@dataclass(frozen=True)
class ScsiHostCapability:
    """A SCSI host adapter; Fibre Channel ones carry their WWNs and NPIV vport counts."""

    host: int | None = None
    unique_id: int | None = None
    fc_host: FcHost | None = at("capabilities[type=fc_host]")
    max_vports: int | None = at("capabilities[type=vport_ops].max_vports")
    vports: int | None = at("capabilities[type=vport_ops].vports")


@dataclass(frozen=True)
class ScsiTargetCapability:
    target: str | None = None
    fc_remote_port: str | None = at("capabilities[type=fc_remote_port].rport")
    wwpn: str | None = at("capabilities[type=fc_remote_port].wwpn")


@dataclass(frozen=True)
class ScsiCapability:
    """A SCSI device (host:bus:target:lun) and its type (disk, cdrom, ...)."""

    host: int | None = None
    bus: int | None = None
    target: int | None = None
    lun: int | None = None
    type: str | None = at("mdev_type")  # the schema's <type> child (see policy.CHILD_RENAMES)


@dataclass(frozen=True)
class ScsiGenericCapability:
    char: str | None = None


@dataclass(frozen=True)
class DrmCapability:
    type: str | None = at("mdev_type")  # primary, control or render


@dataclass(frozen=True)
class MdevAttr:
    name: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class MdevCapability:
    """A mediated device: its type, IOMMU group, UUID and vendor attributes."""

    type: str | None = at("mdev_type.id")
    iommu_group: int | None = at("iommu_group.number")
    uuid: str | None = None
    parent_addr: str | None = None
    attrs: list[MdevAttr] = at(default=[])

    def hostdev(self, model: str = "vfio-pci") -> dict[str, Any]:
        """A domain ``devices.hostdevs`` item for this mediated device (``model``: vfio-pci,
        vfio-ccw or vfio-ap)."""
        return {"mode": "subsystem", "type": "mdev", "model": model,
                "source": {"address": {"uuid": self.uuid}}}


@dataclass(frozen=True)
class CcwCapability:
    """A channel device (s390); ``state`` (online/offline) from libvirt 10 on."""

    cssid: int | None = None
    ssid: int | None = None
    devno: int | None = None
    state: str | None = None


@dataclass(frozen=True)
class CcwGroupCapability:
    """A group of channel devices (s390 qeth network cards, libvirt 10 on)."""

    state: str | None = None
    members: list[str] = at("members.ccw_devices", default=[])


@dataclass(frozen=True)
class CssCapability:
    """A channel subsystem device (s390), which may create mediated devices."""

    cssid: int | None = None
    ssid: int | None = None
    devno: int | None = None
    mdev_types: list[MdevType] = at("capabilities[type=mdev_types].types", default=[])


@dataclass(frozen=True)
class VdpaCapability:
    chardev: str | None = None


@dataclass(frozen=True)
class ApCardCapability:
    """An s390 crypto adapter."""

    ap_adapter: int | None = None


@dataclass(frozen=True)
class ApQueueCapability:
    """An s390 crypto queue (adapter and domain)."""

    ap_adapter: int | None = None
    ap_domain: int | None = None


@dataclass(frozen=True)
class ApMatrixCapability:
    """The s390 crypto matrix, which may create mediated devices."""

    mdev_types: list[MdevType] = at("capabilities[type=mdev_types].types", default=[])


@dataclass(frozen=True)
class DevNode:
    """A device node: ``type`` 'dev' (the node) or 'link' (a symlink to it)."""

    type: str | None = None
    path: str | None = at("value")


# ---------------------------------------------------------------- the device


@dataclass(frozen=True)
class NodeDevice:
    """A host device: name, sysfs path, parent, driver, device nodes, capability types, and
    one typed field per capability type it has (``pci``, ``usb_device``, ``net``,
    ``storage`` ...; the others are None). ``model`` is the whole device XML in the package's
    model convention and ``xml`` the XML itself."""

    name: str
    path: str | None = None
    parent: str | None = None
    driver: str | None = at("driver.name")
    devnodes: list[DevNode] = at(default=[])
    capabilities: list[str] = at("capabilities", pluck("type"), [])  # as libvirt lists them
    system: SystemCapability | None = None
    pci: PciCapability | None = None
    usb_device: UsbDeviceCapability | None = None
    usb: UsbInterfaceCapability | None = None
    net: NetCapability | None = None
    scsi_host: ScsiHostCapability | None = None
    scsi_target: ScsiTargetCapability | None = None
    scsi: ScsiCapability | None = None
    storage: StorageCapability | None = None
    scsi_generic: ScsiGenericCapability | None = None
    drm: DrmCapability | None = None
    mdev: MdevCapability | None = None
    ccw: CcwCapability | None = None
    ccwgroup: CcwGroupCapability | None = None
    css: CssCapability | None = None
    vdpa: VdpaCapability | None = None
    ap_card: ApCardCapability | None = None
    ap_queue: ApQueueCapability | None = None
    ap_matrix: ApMatrixCapability | None = None
    model: dict[str, Any] = at(".", dict, repr=False)
    xml: str = at(default="", repr=False)


@cache
def capability_fields() -> dict[str, type[Any]]:
    """Capability type -> the result class of ``NodeDevice``'s field of that name."""
    hints = typing.get_type_hints(NodeDevice)
    return {
        name: next(a for a in typing.get_args(hints[name])
                   if isinstance(a, type) and dataclasses.is_dataclass(a))
        for name in (f.name for f in dataclasses.fields(NodeDevice))
        if any(dataclasses.is_dataclass(a) and getattr(a, "__name__", "").endswith("Capability")
               for a in typing.get_args(hints[name]))
    }


def node_device(text: str, listed: list[str] | None = None) -> NodeDevice:
    """A ``NodeDevice`` from device XML (``listed``: libvirt's ``listCaps()``)."""
    model = xml.from_xml("nodedev", text)
    device = build(NodeDevice, model)
    typed: dict[str, Any] = {}
    for capability in model.get("capabilities") or ():
        cls = capability_fields().get(capability.get("type"))
        if cls is not None and capability.get("type") not in typed:
            typed[capability["type"]] = build(cls, capability)
    names = _listed(model)  # the test driver's listCaps() leaves out the nested ones
    names += [name for name in listed or () if name not in names]
    return dataclasses.replace(device, capabilities=names, xml=text, **typed)


def _listed(model: dict[str, Any]) -> list[str]:
    """Capability names as libvirt lists them, from the XML (top-level, then nested)."""
    names = []
    for capability in model.get("capabilities") or ():
        names.append(capability.get("type"))
        for inner in capability.get("capabilities") or ():
            name = _LISTED_AS.get(inner.get("type"), inner.get("type"))
            if name in capability_names():
                names.append(name)
    return [n for n in names if n]


# ---------------------------------------------------------------- lookups


def get_node_devices(host: Host, capability: str | None = None) -> list[str]:
    """Names of the host's node devices, sorted; only those with ``capability`` when given
    (pci, usb_device, usb, net, storage, scsi_host, scsi, mdev, fc_host, mdev_types, ...)."""
    if capability is not None:
        check_capability(capability)
    with host.described("node devices", "list"):
        return sorted(host.conn.listDevices(capability, 0))


def get_node_device_info(host: Host, name: str) -> NodeDevice:
    """Everything about one node device: name, path, parent, driver, device nodes, the
    details of each capability, the model and the raw XML."""
    device = host.find("node device", name, host.conn.nodeDeviceLookupByName,
                       lambda: host.conn.listDevices(None, 0))
    with host.described(f"node device '{name}'", "read"):
        text, listed = device.XMLDesc(0), device.listCaps()
    return node_device(text, listed)


get_node_devices, get_node_devices_output = lookup(get_node_devices)
get_node_device_info, get_node_device_info_output = lookup(get_node_device_info)
