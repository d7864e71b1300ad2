"""What is wrong with a network's definition, found at preview (no libvirt host): addresses,
prefixes and netmasks, DHCP ranges and hosts against their subnet, what a forward mode needs,
the bridge name. Problems are named as the user wrote them (``ips[0]``, or ``ip``)."""

from __future__ import annotations

import ipaddress
from functools import partial
from typing import Any

from ...xml import UNKNOWN, Problem
from ..base import get_path, items_as_written
from .model import KIND

# Forward modes that hand the guest a host device or a macvtap: libvirt runs no addresses.
DEVICE_MODES = {"bridge", "private", "vepa", "passthrough", "hostdev"}


def bridge_problems(model: dict) -> list[Problem]:
    """A bridge name longer than a Linux interface name may be."""
    name = get_path(model, "bridge.name")
    if isinstance(name, str) and len(name) > 15:
        return [Problem("bridge.name", f"at most 15 characters (a Linux interface name), got "
                                       f"{len(name)}: {name!r}")]
    return []


# The items of a list of the network's model, each under its path as the user wrote it.
_entries = partial(items_as_written, KIND)


def _address(value: Any):
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None  # the schema's pattern check says what is wrong


def _classful_prefix(address: ipaddress.IPv4Address) -> int | None:
    """libvirt's netmask for an IPv4 address given without prefix or netmask."""
    first = int(address) >> 24
    return 8 if first < 128 else 16 if first < 192 else 24 if first < 224 else None


def _subnet(ip: dict, where: str, problems: list[Problem]):
    """The subnet an <ip> element declares, or None (problems are added)."""
    address = _address(ip.get("address"))
    if address is None:
        return None
    family, prefix, netmask = ip.get("family"), ip.get("prefix"), ip.get("netmask")
    if address.version == 6 and family not in ("ipv6", UNKNOWN):
        problems.append(Problem(f"{where}.family", f"an IPv6 address ({address}) needs "
                                                   "family='ipv6'"))
    if address.version == 4 and family == "ipv6":
        problems.append(Problem(f"{where}.family", f"family='ipv6' but {address} is an IPv4 "
                                                   "address"))
    if UNKNOWN in (prefix, netmask):
        return None
    if prefix is not None and netmask is not None:
        problems.append(Problem(f"{where}.netmask", "give prefix or netmask, not both"))
        return None
    if netmask is not None:
        if address.version == 6:
            problems.append(Problem(f"{where}.netmask", "an IPv6 address takes a prefix, not a "
                                                        "netmask"))
            return None
        try:
            prefix = ipaddress.IPv4Network(f"0.0.0.0/{netmask}").prefixlen
        except ValueError:
            problems.append(Problem(f"{where}.netmask", f"expected a netmask such as "
                                                        f"'255.255.255.0', got {netmask!r}"))
            return None
    elif prefix is None:
        prefix = 64 if address.version == 6 else _classful_prefix(address)
        if prefix is None:
            return None
    if not isinstance(prefix, int) or isinstance(prefix, bool):
        return None
    limit = 32 if address.version == 4 else 128
    if not 0 <= prefix <= limit:
        problems.append(Problem(f"{where}.prefix", f"expected a prefix length of 0 to {limit} "
                                                   f"for an IPv{address.version} address, got "
                                                   f"{prefix}"))
        return None
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


def subnets(model: dict) -> set:
    """The subnets the network's <ip> elements declare (those that can be told)."""
    return {net for where, ip in _entries(model, "ips")
            if (net := _subnet(ip, where, [])) is not None}


def ip_problems(model: dict) -> list[Problem]:
    """Each <ip>'s address, prefix or netmask and family, and its DHCP ranges and hosts
    against its subnet; at most one DHCP server per IP version."""
    problems: list[Problem] = []
    serving: dict[int, str] = {}  # IP version -> the <ip> whose DHCP serves it
    for where, ip in _entries(model, "ips"):
        subnet = _subnet(ip, where, problems)
        dhcp = ip.get("dhcp")
        if subnet is None or not isinstance(dhcp, dict):
            continue
        ranges = _entries(dhcp, "ips.dhcp.ranges", f"{where}.dhcp")
        hosts = _entries(dhcp, "ips.dhcp.hosts", f"{where}.dhcp")
        if ranges or hosts:
            if subnet.version in serving:
                problems.append(Problem(f"{where}.dhcp", f"only one IPv{subnet.version} "
                                        f"address of a network can serve DHCP; "
                                        f"{serving[subnet.version]}.dhcp does already"))
            serving.setdefault(subnet.version, where)
        problems += _range_problems(subnet, ranges)
        problems += _host_problems(subnet, hosts)
    return problems


def _range_problems(subnet, ranges: list[tuple[str, dict]]) -> list[Problem]:
    problems, spans = [], []
    for path, span in ranges:
        start, end = _address(span.get("start")), _address(span.get("end"))
        if start is None or end is None:
            continue
        outside = [str(a) for a in (start, end) if a.version != subnet.version or a not in subnet]
        if outside:
            problems.append(Problem(path, f"{start} - {end} is not inside the network's subnet "
                                          f"{subnet} ({' and '.join(outside)} outside)"))
        elif start > end:
            problems.append(Problem(path, f"reversed: start {start} comes after end {end}"))
        else:
            for other, first, last in spans:
                if start <= last and first <= end:
                    problems.append(Problem(path, f"{start} - {end} overlaps {other} "
                                                  f"({first} - {last})"))
                    break
            spans.append((path, start, end))
    return problems


def _host_problems(subnet, hosts: list[tuple[str, dict]]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[tuple, str] = {}
    for path, host in hosts:
        if subnet.version == 4 and host.get("mac") is None and host.get("name") is None:
            problems.append(Problem(path, "a DHCP host of an IPv4 network needs mac or name "
                                          "(which client gets the address)"))
        if subnet.version == 6 and host.get("id") is None and host.get("name") is None:
            problems.append(Problem(path, "a DHCP host of an IPv6 network needs id (the "
                                          "client's DUID) or name"))
        address = _address(host.get("ip"))
        if address is not None and (address.version != subnet.version or address not in subnet):
            problems.append(Problem(f"{path}.ip", f"{address} is not inside the network's "
                                                  f"subnet {subnet}"))
        for key in ("mac", "id", "name", "ip"):
            value = host.get(key)
            if not isinstance(value, str):
                continue
            mark = (key, value.lower())
            if mark in seen:
                problems.append(Problem(f"{path}.{key}", f"{value} is also the {key} of "
                                                         f"{seen[mark]}"))
            seen.setdefault(mark, path)
    return problems


def forward_problems(model: dict) -> list[Problem]:
    """What the forward mode needs (host devices, virtual functions, a bridge) and refuses
    (addresses of the network's own; NAT settings outside mode 'nat')."""
    forward = model.get("forward")
    if not isinstance(forward, dict):
        return []
    mode = forward.get("mode", "nat")
    if mode is UNKNOWN:
        return []
    problems = []
    interfaces = _entries(forward, "forward.interfaces", "forward")
    devices = [k for k in ("dev", "pf") if forward.get(k)] + [path for path, _ in interfaces]
    if mode in ("private", "vepa", "passthrough") and not devices:
        problems.append(Problem("forward.interfaces", f"forward mode '{mode}' needs the host's "
                                "network devices: forward.interfaces ([{'dev': 'eth0'}, ...]), "
                                "forward.dev or forward.pf"))
    if mode == "hostdev" and not (_entries(forward, "forward.addresses") or forward.get("pf")):
        problems.append(Problem("forward.addresses", "forward mode 'hostdev' needs the SR-IOV "
                                "virtual functions to hand out: forward.addresses ([{'type': "
                                "'pci', 'domain': 0, 'bus': 3, 'slot': 16, 'function': 1}, "
                                "...]) or forward.pf ({'dev': 'eth0'})"))
    if mode == "bridge" and not devices and get_path(model, "bridge.name") is None:
        problems.append(Problem("forward", "forward mode 'bridge' needs an existing host bridge "
                                "(bridge.name) or host devices to share through macvtap "
                                "(forward.interfaces, forward.dev or forward.pf)"))
    ips = _entries(model, "ips")
    if mode in DEVICE_MODES and ips:
        key = ips[0][0].split("[")[0]  # as written: ips or ip
        problems.append(Problem(key, f"a network with forward mode '{mode}' has no addresses "
                                f"of its own (no DHCP, DNS or routing by libvirt): leave {key} "
                                "out"))
    nat = forward.get("nat")
    if isinstance(nat, dict):
        if mode != "nat":
            problems.append(Problem("forward.nat", f"only for forward mode 'nat', not '{mode}'"))
        start, end = _address(get_path(nat, "address.start")), _address(get_path(nat,
                                                                                "address.end"))
        if start is not None and end is not None and start > end:
            problems.append(Problem("forward.nat.address", f"reversed: start {start} comes "
                                                           f"after end {end}"))
        first, last = get_path(nat, "port.start"), get_path(nat, "port.end")
        for key, port in (("start", first), ("end", last)):
            if isinstance(port, int) and not 0 <= port <= 65535:
                problems.append(Problem(f"forward.nat.port.{key}", f"expected a port number "
                                                                    f"(0 to 65535), got {port}"))
        if isinstance(first, int) and isinstance(last, int) and first > last:
            problems.append(Problem("forward.nat.port", f"reversed: start {first} comes after "
                                                        f"end {last}"))
    return problems
