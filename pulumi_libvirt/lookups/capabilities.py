"""What the hypervisor offers a domain: machine types, firmware, CPU models, device models."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import libvirt

from .. import xml
from .build import at, build, get
from .invoke import Host, lookup


def _enums(items: Any) -> dict[str, list[str]]:
    """libvirt's ``<enum name=...><value>...</value></enum>`` list as {name: [values]}."""
    return {
        str(item["name"]): [str(v) for v in item.get("values") or ()]
        for item in items or () if isinstance(item, dict) and "name" in item
    }


def _supported(items: Any) -> dict[str, bool]:
    """{name: supported} from ``<name supported='yes'/>`` children (features)."""
    return {
        key: bool(value.get("supported")) for key, value in (items or {}).items()
        if isinstance(value, dict) and "supported" in value
    }


@dataclass(frozen=True)
class MachineType:
    """A machine type (``pc-q35-7.2``); an alias (``q35``) names its ``canonical`` type."""

    name: str = at("value")
    canonical: str | None = None
    max_cpus: int | None = None
    deprecated: bool = False


@dataclass(frozen=True)
class Firmware:
    """Firmware the emulator can boot: loader paths (OVMF builds), loader types, whether
    secure boot is possible for this machine type, and the ``os.firmware`` auto-selection
    values (``efi``)."""

    supported: bool = at("supported", default=False)
    loaders: list[str] = at("loader.values", default=[])
    loader_types: list[str] = at("loader.enums[name=type].values", default=[])
    secure_boot: bool = at("loader.enums[name=secure].values",
                           lambda values: "yes" in (values or ()), False)
    auto_select: list[str] = at("enums[name=firmware].values", default=[])


@dataclass(frozen=True)
class CpuModel:
    """A named CPU model of the ``custom`` mode; ``usable`` says whether this host runs it."""

    name: str = at("value")
    usable: str | None = None  # 'yes', 'no' or 'unknown'
    vendor: str | None = None
    deprecated: bool = False


@dataclass(frozen=True)
class DeviceSupport:
    """Whether a device kind is supported, and the values each of its attributes takes
    (``enums['bus']`` of ``disk``: ``['ide', 'scsi', 'virtio', ...]``)."""

    supported: bool = False
    enums: dict[str, list[str]] = at("enums", _enums, {})


@dataclass(frozen=True)
class DomainCapabilities:
    """What a domain of ``virt_type`` on ``arch`` and ``machine`` can use on this host."""

    emulator: str | None = at("path")
    virt_type: str | None = at("domain")
    machine: str | None = None  # the machine type these capabilities are for
    arch: str | None = None
    max_vcpus: int | None = at("vcpu.max")
    machines: list[MachineType] = at(default=[])  # from the host's capabilities
    firmware: Firmware = at("os", default=Firmware())
    cpu_modes: list[str] = at("cpu.modes", lambda modes: [
        str(m["name"]) for m in modes or () if m.get("supported")], [])
    cpu_models: list[CpuModel] = at("cpu.modes[name=custom].models", default=[])
    host_cpu_model: str | None = at("cpu.modes[name=host-model].models[0]")
    devices: dict[str, DeviceSupport] = at("devices", lambda devices: {
        key: build(DeviceSupport, value) for key, value in (devices or {}).items()
        if isinstance(value, dict) and not key.startswith("_")}, {})  # newer kinds: in model
    features: dict[str, bool] = at("features", _supported, {})
    model: dict[str, Any] = at(".", dict, repr=False)
    xml: str = at(default="", repr=False)


def _machines(caps: dict[str, Any], arch: str | None, virt_type: str | None,
              emulator: str | None) -> list[MachineType]:
    """Machine types of the host capabilities' ``hvm`` guest for ``arch``: the ones listed
    for ``virt_type`` when it has its own list, else the arch's."""
    for guest in caps.get("guests") or ():
        guest_arch = guest.get("arch") or {}
        if guest_arch.get("name") != arch or guest.get("os_type") not in ("hvm", None):
            continue
        if emulator and guest_arch.get("emulator") not in (emulator, None):
            continue
        domain = get(guest_arch, f"domains[type={virt_type}]") or {}
        machines = domain.get("machines") or guest_arch.get("machines") or ()
        return sorted((build(MachineType, m if isinstance(m, dict) else {"value": m})
                       for m in machines), key=lambda m: m.name)
    return []


def domain_capabilities(domcaps_xml: str, caps_xml: str) -> DomainCapabilities:
    """``DomainCapabilities`` from ``<domainCapabilities>`` and the host's ``<capabilities>``."""
    model = xml.from_xml("domaincaps", domcaps_xml)
    result = build(DomainCapabilities, model)
    caps = xml.from_xml("capabilities", caps_xml)
    machines = _machines(caps, result.arch, result.virt_type, result.emulator)
    return replace(result, machines=machines, xml=domcaps_xml)


def get_domain_capabilities(host: Host, arch: str | None = None, machine: str | None = None,
                            virt_type: str | None = None,
                            emulator: str | None = None) -> DomainCapabilities:
    """Machine types, firmware (loader paths, secure boot), CPU modes and models and the
    supported device models for a domain; each argument left out is libvirt's default (the
    host's arch, its default machine type, kvm when available)."""
    what = "domain capabilities" + "".join(
        f" {k}={v!r}" for k, v in (("arch", arch), ("machine", machine),
                                   ("virt_type", virt_type), ("emulator", emulator)) if v)
    try:
        domcaps = host.conn.getDomainCapabilities(emulator, arch, machine, virt_type, 0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
            raise host.unsupported(exc, what) from None
        with host.described(what, "read"):
            raise
    with host.described("host capabilities", "read"):
        caps = host.conn.getCapabilities()
    return domain_capabilities(domcaps, caps)


get_domain_capabilities, get_domain_capabilities_output = lookup(get_domain_capabilities)
