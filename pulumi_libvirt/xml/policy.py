"""What libvirt's RelaxNG schemas cannot say, written by hand.

Naming rows are applied when the tables are generated (``scripts/generate.py``); comparison rows
(identity keys, default units, normalisers, update modes) are read at run time by ``compare``.
Paths are model key paths from the document root, list items left out:
``devices.disks.target.bus``.
"""

from __future__ import annotations

import ipaddress
import re

# Which RelaxNG file describes each kind.
SCHEMA_FILES = {
    "domain": "domain.rng",
    "network": "network.rng",
    "pool": "storagepool.rng",
    "volume": "storagevol.rng",
    "nodedev": "nodedev.rng",
    "domainsnapshot": "domainsnapshot.rng",
    # read-only documents the host lookups parse (virConnectGetCapabilities and
    # virConnectGetDomainCapabilities)
    "capabilities": "capability.rng",
    "domaincaps": "domaincaps.rng",
}

# Prefixes for namespaced elements. A child in another namespace than its parent gets the prefix
# in its key: <qemu:commandline> is ``qemu_commandline``.
NAMESPACES = {
    "http://libvirt.org/schemas/domain/qemu/1.0": "qemu",
    "http://libvirt.org/schemas/domain/lxc/1.0": "lxc",
    "http://libvirt.org/schemas/domain/bhyve/1.0": "bhyve",
    "http://libvirt.org/schemas/domain/xen/1.0": "xen",
    "http://libvirt.org/schemas/domain/vmware/1.0": "vmware",
    "http://libvirt.org/schemas/network/dnsmasq/1.0": "dnsmasq",
    "http://libvirt.org/schemas/storagepool/fs/1.0": "fs",
    "http://libvirt.org/schemas/storagepool/rbd/1.0": "rbd",
}

# Plural list names where English needs help.
PLURALS = {"graphics": "graphics", "fields": "fields", "pages": "pages"}

# Children the schema lets repeat by accident (a loose oneOrMore), as (parent tag, child tag).
SINGLE = {("source", "name")}

# Attribute and child element with the same snake name, or a single child whose name is the
# plural of a repeated one (host <cpu>: <features> and <feature>...): the child gets another key.
# (parent tag, child tag) -> key.
CHILD_RENAMES = {
    ("controller", "model"): "pci_model",
    ("os", "firmware"): "firmware_features",
    ("source", "address"): "pci_address",
    ("capability", "type"): "mdev_type",
    ("mirror", "format"): "format_spec",
    ("cpu", "features"): "feature_flags",
}


def snake(name: str) -> str:
    """``currentMemory`` -> ``current_memory``; ``max-size`` -> ``max_size``."""
    name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    name = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", name)
    return name.replace("-", "_").replace(".", "_").lower()


def element_key(parent_tag: str, child_tag: str) -> str:
    """A child element's key before pluralisation and renames: its snake_case name, with the
    namespace's prefix when it is in another namespace than its parent (tags in Clark notation).
    A list's items may be written one at a time under this key (``source`` for ``sources``)."""
    parent_ns = parent_tag[1:].split("}")[0] if parent_tag.startswith("{") else ""
    ns, local = child_tag[1:].split("}") if child_tag.startswith("{") else ("", child_tag)
    key = snake(local)
    if ns != parent_ns:
        if ns not in NAMESPACES:
            raise ValueError(f"<{child_tag}>: namespace has no prefix in policy.NAMESPACES")
        key = f"{NAMESPACES[ns]}_{key}"
    return key


def plural(key: str) -> str:
    if key in PLURALS:
        return PLURALS[key]
    if re.search(r"(s|x|ch|sh)$", key):
        return key + "es"
    if re.search(r"[^aeiou]y$", key):
        return key[:-1] + "ies"
    return key + "s"


# Readable names for the schema's string patterns, used in error messages.
_IPV4 = r"(((25[0-5])|(2[0-4][0-9])|(1[0-9]{2})|([1-9][0-9])|([0-9]))\.){3}"
PATTERN_NAMES = {
    r"(/|[a-zA-Z]:\\).+": "an absolute path",
    r"([bB]([yY][tT][eE][sS]?)?)|([kKmMgGtTpPeE]([iI]?[bB])?)": "a unit such as 'KiB', 'MiB', 'G'",
    r"[a-fA-F0-9]{32}": "a UUID",
    r"[a-fA-F0-9]{8}\-([a-fA-F0-9]{4}\-){3}[a-fA-F0-9]{12}": "a UUID",
    r"[a-fA-F0-9][02468aAcCeE](:[a-fA-F0-9]{2}){5}": "a unicast MAC address",
    r"([0-9]+(-[0-9]+)?|\^[0-9]+)(,([0-9]+(-[0-9]+)?|\^[0-9]+))*": "a CPU list such as '0-3,^2'",
}


def pattern_name(pattern: str) -> str | None:
    if pattern in PATTERN_NAMES:
        return PATTERN_NAMES[pattern]
    if pattern.startswith(_IPV4):
        return "an IPv4 address"
    if pattern.startswith("(([0-9A-Fa-f]{1,4}:){7}"):
        return "an IPv6 address"
    if pattern.startswith("[0]{1,2}:[0]{0,1}["):  # the four DUID types of network.rng
        return "a DHCPv6 DUID such as '00:03:00:01:52:54:00:12:34:56'"
    return None


# ---------------------------------------------------------------- comparison rows

# Lists whose items are matched by a key path instead of by position (kind, list path) -> path.
IDENTITY = {
    ("domain", "devices.disks"): "target.dev",
    ("domain", "devices.interfaces"): "mac.address",
    ("domain", "devices.filesystems"): "target.dir",
    ("domain", "devices.hostdevs"): "source",
    ("domain", "devices.controllers"): ("type", "index"),
    ("domain", "devices.channels"): "target.name",
    ("domain", "devices.consoles"): "target.type",  # libvirt puts the serial console first
    ("domain", "devices.watchdogs"): "model",
    ("domain", "os.firmware_features.features"): "name",
    ("network", "ips"): "address",
    ("network", "ips.dhcp.hosts"): "mac",
    ("network", "ips.dhcp.ranges"): "start",
    ("network", "dns.hosts"): "ip",
    ("network", "portgroups"): "name",
    ("network", "routes"): "address",
    ("network", "dns.txts"): "name",
    ("network", "forward.interfaces"): "dev",
}

# Lists where libvirt adds items of its own (controllers, inputs, ...): live items the user did
# not declare are not drift. Other lists are closed: an extra live item is a change.
OPEN_LISTS = {
    ("domain", "devices.controllers"),
    ("domain", "devices.inputs"),
    ("domain", "devices.videos"),
    ("domain", "devices.serials"),
    ("domain", "devices.consoles"),
    ("domain", "devices.channels"),
    ("domain", "devices.memballoons"),
    ("domain", "devices.watchdogs"),  # libvirt 11 adds q35's built-in itco watchdog
    ("domain", "os.firmware_features.features"),  # enrolled-keys implies secure-boot
}

# Unit a scaled integer means when it has none (libvirt's documented defaults).
DEFAULT_UNIT = {"domain": "KiB", "domainsnapshot": "KiB"}

UNITS = {
    "b": 1, "byte": 1, "bytes": 1,
    "k": 1024, "kib": 1024, "kb": 1000,
    "m": 1024**2, "mib": 1024**2, "mb": 1000**2,
    "g": 1024**3, "gib": 1024**3, "gb": 1000**3,
    "t": 1024**4, "tib": 1024**4, "tb": 1000**4,
    "p": 1024**5, "pib": 1024**5, "pb": 1000**5,
    "e": 1024**6, "eib": 1024**6, "eb": 1000**6,
}


def _machine(value):
    # libvirt expands an alias to the versioned machine type it resolves to (q35 -> pc-q35-7.2).
    if isinstance(value, str):
        match = re.fullmatch(r"pc-(q35|i440fx)-[0-9.]+", value)
        if match:
            return "q35" if match.group(1) == "q35" else "pc"
    return value


def _lower(value):
    return value.lower() if isinstance(value, str) else value


def _ip(value):
    # libvirt writes addresses as inet_ntop does: IPv6 compressed and lower case.
    if isinstance(value, str):
        try:
            return ipaddress.ip_address(value).compressed
        except ValueError:
            return value
    return value


def _path(value):
    return value.rstrip("/") if isinstance(value, str) and value not in ("/", "") else value


def _auto_unix_source(source):
    # A unix channel's <source mode='bind'/> without a path asks libvirt for one of its own;
    # the definition then has no <source> at all.
    if isinstance(source, dict) and set(source) <= {"mode"} and source.get("mode") in (None,
                                                                                       "bind"):
        return None
    return source


def _graphics(item):
    # With autoport, libvirt picks the ports when the guest starts and keeps no port='-1'; when
    # the first <listen> is a socket, ports and the listen address mean nothing and are dropped.
    if not isinstance(item, dict):
        return item
    listens = item.get("listens")
    first = listens[0] if isinstance(listens, list) and listens else None
    if isinstance(first, dict) and first.get("type") == "socket":
        return {k: v for k, v in item.items()
                if k not in ("port", "tls_port", "autoport", "listen")}
    if item.get("autoport") in (True, "yes"):
        return {k: v for k, v in item.items()
                if not (k in ("port", "tls_port") and str(v) == "-1")}
    return item


def _console_target(target):
    # libvirt numbers virtio consoles itself (11.x after the serial console: port='1' where
    # the document said '0'); the port of a virtio console is not the user's to set.
    if isinstance(target, dict) and target.get("type") == "virtio" and "port" in target:
        return {k: v for k, v in target.items() if k != "port"}
    return target


def _vcpu(vcpu):
    # libvirt writes no current= when all vcpus are online.
    if isinstance(vcpu, dict) and "current" in vcpu and (
        str(vcpu.get("current")) == str(vcpu.get("value"))
    ):
        return {k: v for k, v in vcpu.items() if k != "current"}
    return vcpu


# Value normalisers by (kind, path): both sides are normalised before comparing. A row may name
# an attribute (it gets the value) or an element (it gets the element's dict, each item's for
# a list; None means the item says nothing and is left out).
NORMALIZERS = {
    ("domain", "os.type.machine"): _machine,
    ("domain", "devices.interfaces.mac.address"): _lower,
    ("domain", "devices.channels.sources"): _auto_unix_source,
    ("domain", "devices.graphics"): _graphics,
    ("domain", "vcpu"): _vcpu,
    ("domain", "devices.consoles.target"): _console_target,
    ("network", "mac.address"): _lower,
    ("network", "ips.dhcp.hosts.mac"): _lower,
    ("network", "ips.dhcp.hosts.id"): _lower,
    ("network", "ips.address"): _ip,
    ("network", "ips.dhcp.ranges.start"): _ip,
    ("network", "ips.dhcp.ranges.end"): _ip,
    ("network", "ips.dhcp.hosts.ip"): _ip,
    ("network", "dns.hosts.ip"): _ip,
    ("network", "dns.forwarders.addr"): _ip,
    ("network", "routes.address"): _ip,
    ("network", "routes.gateway"): _ip,
    ("pool", "target.path"): _path,
    ("pool", "source.dir.path"): _path,
    ("volume", "target.path"): _path,
}

# How libvirt can apply a change to a field (kind, path prefix): "live" (to the running object
# and its definition), "reboot" (the definition changes now, the object at its next start) or
# "replace" (libvirt cannot change it: a new object). The longest matching prefix wins; the
# kind's "" row is the default. Resources may refine a row from the value (a disk on a bus that
# cannot hot-plug needs a reboot). For the domain's device lists, the list's row says how items
# are attached and detached; a change inside an item is live only where a row names its field.
UPDATE_MODES = {
    ("domain", ""): "reboot",
    ("domain", "name"): "reboot",  # virDomainRename, which needs the domain stopped
    ("domain", "uuid"): "replace",
    ("domain", "type"): "replace",
    ("domain", "title"): "live",
    ("domain", "description"): "live",
    ("domain", "metadata"): "live",
    ("domain", "current_memory"): "live",
    ("domain", "vcpu.current"): "live",
    ("domain", "memtune"): "live",
    ("domain", "blkiotune"): "live",
    ("domain", "cputune.shares"): "live",
    ("domain", "cputune.period"): "live",
    ("domain", "cputune.quota"): "live",
    ("domain", "devices.disks"): "live",
    ("domain", "devices.disks.source"): "live",  # media change: cdrom and floppy only
    ("domain", "devices.interfaces"): "live",
    ("domain", "devices.interfaces.link"): "live",
    ("domain", "devices.interfaces.bandwidth"): "live",
    ("domain", "devices.interfaces.filterref"): "live",
    ("domain", "devices.hostdevs"): "live",
    ("domain", "devices.filesystems"): "live",
    ("domain", "devices.rngs"): "live",
    ("domain", "devices.redirdevs"): "live",
    ("domain", "devices.memories"): "live",
    ("domain", "devices.graphics.passwd"): "live",
    ("domain", "devices.graphics.passwd_valid_to"): "live",
    ("domain", "devices.graphics.connected"): "live",
    ("network", ""): "reboot",  # redefine, then restart the network if it runs
    ("network", "name"): "replace",
    ("network", "uuid"): "replace",
    ("network", "ips.dhcp.hosts"): "live",
    ("network", "ips.dhcp.ranges"): "live",
    ("network", "dns.hosts"): "live",
    ("network", "dns.txts"): "live",
    ("network", "dns.srvs"): "live",
    ("network", "portgroups"): "live",
    ("network", "forward.interfaces"): "live",
    ("pool", ""): "reboot",  # redefine, then restart the pool if it runs
    ("pool", "name"): "replace",
    ("pool", "uuid"): "replace",
    ("pool", "type"): "replace",
    ("volume", ""): "replace",
    ("volume", "capacity"): "live",
    ("nodedev", ""): "replace",
    ("domainsnapshot", ""): "replace",
    ("domainsnapshot", "description"): "live",
}


def _longest_prefix(rows: dict, kind: str, path: str) -> object:
    """The value of the ``(kind, prefix)`` row whose prefix of ``path`` is longest (the kind's
    ``""`` row when no other matches), or None."""
    best, found = -1, rows.get((kind, ""))
    for (row_kind, prefix), value in rows.items():
        if row_kind != kind or not prefix:
            continue
        if (path == prefix or path.startswith(prefix + ".")) and len(prefix) > best:
            best, found = len(prefix), value
    return found


def update_mode(kind: str, path: str) -> str:
    """How a change at ``path`` is applied: live, at next boot/restart, or by replacing."""
    return str(_longest_prefix(UPDATE_MODES, kind, path) or "replace")

# ---------------------------------------------------------------- the typed API (generated)

# Type names by hand, for a spec whose derived name reads badly: (kind, first model path) ->
# the type's stem (``scripts/generate.py`` adds ``ArgsDict`` for the input type).
TYPE_NAMES: dict[tuple[str, str], str] = {}

# libvirt's documentation of each kind, and the section of it that documents a model path
# (the longest matching prefix wins; the page itself when none does). Anchors are the ids
# libvirt's pages give their section headings.
DOC_PAGES = {
    "domain": "https://libvirt.org/formatdomain.html",
    "network": "https://libvirt.org/formatnetwork.html",
    "pool": "https://libvirt.org/formatstorage.html",
    "volume": "https://libvirt.org/formatstorage.html",
    "nodedev": "https://libvirt.org/formatnode.html",
    "domainsnapshot": "https://libvirt.org/formatsnapshot.html",
    "capabilities": "https://libvirt.org/formatcaps.html",
    "domaincaps": "https://libvirt.org/formatdomaincaps.html",
}
DOC_ANCHORS = {
    ("domain", ""): "general-metadata",
    ("domain", "os"): "operating-system-booting",
    ("domain", "bootloader"): "operating-system-booting",
    ("domain", "sysinfo"): "smbios-system-information",
    ("domain", "vcpu"): "cpu-allocation",
    ("domain", "vcpus"): "cpu-allocation",
    ("domain", "iothreads"): "iothreads-allocation",
    ("domain", "iothreadids"): "iothreads-allocation",
    ("domain", "cputune"): "cpu-tuning",
    ("domain", "memory"): "memory-allocation",
    ("domain", "max_memory"): "memory-allocation",
    ("domain", "current_memory"): "memory-allocation",
    ("domain", "memory_backing"): "memory-backing",
    ("domain", "memtune"): "memory-tuning",
    ("domain", "numatune"): "numa-node-tuning",
    ("domain", "blkiotune"): "block-i-o-tuning",
    ("domain", "resource"): "resource-partitioning",
    ("domain", "cpu"): "cpu-model-and-topology",
    ("domain", "on_poweroff"): "events-configuration",
    ("domain", "on_reboot"): "events-configuration",
    ("domain", "on_crash"): "events-configuration",
    ("domain", "on_lockfailure"): "events-configuration",
    ("domain", "pm"): "power-management",
    ("domain", "features"): "hypervisor-features",
    ("domain", "clock"): "time-keeping",
    ("domain", "perf"): "performance-monitoring-events",
    ("domain", "devices"): "devices",
    ("domain", "devices.disks"): "hard-drives-floppy-disks-cdroms",
    ("domain", "devices.filesystems"): "filesystems",
    ("domain", "devices.controllers"): "controllers",
    ("domain", "devices.leases"): "device-leases",
    ("domain", "devices.hostdevs"): "host-device-assignment",
    ("domain", "devices.redirdevs"): "redirected-devices",
    ("domain", "devices.smartcards"): "smartcard-devices",
    ("domain", "devices.interfaces"): "network-interfaces",
    ("domain", "devices.inputs"): "input-devices",
    ("domain", "devices.hubs"): "hub-devices",
    ("domain", "devices.graphics"): "graphical-framebuffers",
    ("domain", "devices.videos"): "video-devices",
    ("domain", "devices.consoles"): "consoles-serial-parallel-channel-devices",
    ("domain", "devices.serials"): "consoles-serial-parallel-channel-devices",
    ("domain", "devices.parallels"): "consoles-serial-parallel-channel-devices",
    ("domain", "devices.channels"): "consoles-serial-parallel-channel-devices",
    ("domain", "devices.sounds"): "sound-devices",
    ("domain", "devices.audios"): "audio-backends",
    ("domain", "devices.watchdogs"): "watchdog-devices",
    ("domain", "devices.memballoon"): "memory-balloon-device",
    ("domain", "devices.rngs"): "random-number-generator-device",
    ("domain", "devices.tpms"): "tpm-device",
    ("domain", "devices.nvram"): "nvram-device",
    ("domain", "devices.panics"): "panic-device",
    ("domain", "devices.shmems"): "shared-memory-device",
    ("domain", "devices.memories"): "memory-devices",
    ("domain", "devices.iommu"): "iommu-devices",
    ("domain", "devices.vsock"): "vsock",
    ("domain", "devices.cryptos"): "crypto",
    ("domain", "seclabels"): "security-label",
    ("domain", "keywrap"): "key-wrap",
    ("domain", "launch_security"): "launch-security",
    ("network", ""): "general-metadata",
    ("network", "bridge"): "connectivity",
    ("network", "domain"): "connectivity",
    ("network", "forward"): "connectivity",
    ("network", "mtu"): "connectivity",
    ("network", "bandwidth"): "quality-of-service",
    ("network", "vlan"): "setting-vlan-tag",
    ("network", "port"): "isolating-ports",
    ("network", "portgroups"): "portgroups",
    ("network", "routes"): "static-routes",
    ("network", "mac"): "addressing",
    ("network", "dns"): "addressing",
    ("network", "ips"): "addressing",
    ("pool", ""): "storage-pool-general-metadata",
    ("pool", "features"): "features",
    ("pool", "source"): "source-elements",
    ("pool", "target"): "target-elements",
    ("volume", ""): "storage-volume-general-metadata",
    ("volume", "target"): "target-elements-1",
    ("volume", "backing_store"): "backing-store-elements",
}


def doc_link(kind: str, path: str) -> str:
    """The address of the section of libvirt's documentation about ``path`` of ``kind``."""
    anchor = _longest_prefix(DOC_ANCHORS, kind, path)
    return f"{DOC_PAGES[kind]}#{anchor}" if anchor else DOC_PAGES[kind]
