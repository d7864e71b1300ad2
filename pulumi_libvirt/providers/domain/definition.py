"""The domain's persistent definition: read it, define it (validated), check what it refers to,
rename it, undefine it with everything libvirt keeps beside it."""

from __future__ import annotations

import libvirt

from ... import xml
from ...connection import LibvirtError, described, or_none

# The persistent definition (what the domain is on its next start), with its credentials
# (graphics passwords, cookies), which libvirt leaves out otherwise.
INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE
LIVE = libvirt.VIR_DOMAIN_XML_SECURE

# Undefine removes what libvirt keeps beside the definition; drivers that know fewer flags get
# fewer (the test driver knows the first two).
_UNDEFINE_FLAGS = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    | getattr(libvirt, "VIR_DOMAIN_UNDEFINE_TPM", 0),
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM,
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
    0,
)

MiB = 1024**2


def definition_xml(dom: libvirt.virDomain) -> str:
    return dom.XMLDesc(INACTIVE)


def live_xml(dom: libvirt.virDomain) -> str:
    return dom.XMLDesc(LIVE)


def define(conn: libvirt.virConnect, text: str, what: str, uri: str,
           action: str = "define") -> libvirt.virDomain:
    """Define (or redefine) a domain, validated against libvirt's schema: a host older than
    the document refuses what it does not know instead of dropping it."""
    with described(what, uri, action):
        try:
            return conn.defineXMLFlags(text, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
                raise
            return conn.defineXML(text)  # a driver without the flag


def undefine(dom: libvirt.virDomain) -> None:
    """Undefine with managed save, snapshot and checkpoint metadata, NVRAM and TPM state."""
    for flags in _UNDEFINE_FLAGS:
        try:
            dom.undefineFlags(flags) if flags else dom.undefine()
            return
        except libvirt.libvirtError as exc:
            if exc.get_error_code() not in (libvirt.VIR_ERR_INVALID_ARG,
                                            libvirt.VIR_ERR_NO_SUPPORT) or not flags:
                raise


def rename(dom: libvirt.virDomain, name: str, what: str, uri: str) -> None:
    with described(what, uri, f"rename to '{name}'"):
        dom.rename(name, 0)


def check_references(conn: libvirt.virConnect, model: dict, what: str, uri: str,
                     before: dict | None = None, running: bool = True) -> None:
    """Refuse, naming the object and the host, a definition whose disks use pools or volumes
    that do not exist, whose interfaces use missing networks, or, for a domain that is to run,
    with more memory than the host has. Items already in ``before`` (the current definition)
    are not checked again."""
    problems = reference_problems(conn, model, uri, before, running)
    if problems:
        raise LibvirtError(f"{what}: " + "; ".join(message for _key, message in problems))


def reference_problems(conn: libvirt.virConnect, model: dict, uri: str,
                       before: dict | None = None, running: bool = True) -> list[tuple]:
    """(input key, message) for each object the definition refers to that the host lacks
    (values not known yet are skipped)."""
    problems = []
    devices = model.get("devices") if isinstance(model.get("devices"), dict) else {}
    old_devices = (before or {}).get("devices") or {}
    for disk in _new_items(devices.get("disks"), old_devices.get("disks")):
        source = disk.get("source") if isinstance(disk.get("source"), dict) else {}
        if disk.get("type") != "volume" or not _known(source.get("pool")):
            continue
        label = f"disk '{(disk.get('target') or {}).get('dev', '?')}'"
        pool = or_none(conn.storagePoolLookupByName, source["pool"])
        if pool is None:
            problems.append(("devices", f"{label} uses pool '{source['pool']}', which does not "
                                        f"exist on {uri}"))
        elif not pool.isActive():
            problems.append(("devices", f"{label} uses pool '{source['pool']}', which is not "
                                        f"running on {uri}"))
        elif _known(source.get("volume")) and or_none(pool.storageVolLookupByName,
                                                      source["volume"]) is None:
            problems.append(("devices", f"{label} uses volume '{source['volume']}' in pool "
                                        f"'{source['pool']}', which does not exist on {uri}"))
    for index, iface in enumerate(_new_items(devices.get("interfaces"),
                                             old_devices.get("interfaces"))):
        source = iface.get("source") if isinstance(iface.get("source"), dict) else {}
        if iface.get("type") != "network" or not _known(source.get("network")):
            continue
        if or_none(conn.networkLookupByName, source["network"]) is None:
            mac = (iface.get("mac") or {}).get("address") if isinstance(iface.get("mac"),
                                                                       dict) else None
            label = f"interface '{mac}'" if mac else f"interface {index}"
            problems.append(("devices", f"{label} uses network '{source['network']}', which "
                                        f"does not exist on {uri}"))
    memory = model.get("memory")
    memory = xml.to_bytes("domain", memory) if memory and not xml.has_unknown(memory) else None
    if running and isinstance(memory, int):
        host = host_memory(conn)
        if memory > host:
            problems.append(("memory", f"memory of {memory // MiB} MiB is more than host "
                                       f"{uri} has ({host // MiB} MiB)"))
    return problems


def _known(value) -> bool:
    return isinstance(value, str) and bool(value)


def host_memory(conn: libvirt.virConnect) -> int:
    """The host's memory in bytes (its total RAM; nodeinfo can report less in containers)."""
    try:
        stats = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)
        if stats.get("total"):
            return stats["total"] * 1024
    except libvirt.libvirtError:
        pass  # a driver without memory statistics
    return conn.getInfo()[1] * MiB


def _new_items(items, old_items) -> list[dict]:
    """The items (dicts) of a device list that the old list does not hold as they are."""
    old = list(old_items or ())
    return [item for item in items or () if isinstance(item, dict) and item not in old]
