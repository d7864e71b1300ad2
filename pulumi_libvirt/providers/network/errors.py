"""libvirt's refusals of a network definition, in one line naming the network, the host and
the cause: which network holds a bridge name or routes a subnet, what the host lacks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import libvirt

from ...connection import LibvirtError, reason
from .checks import subnets
from .definition import running_bridge_name


@contextmanager
def refusals(conn: libvirt.virConnect, what: str, uri: str, action: str, model: dict
             ) -> Iterator[None]:
    """libvirt's refusals in one line naming the network, the host and the cause."""
    try:
        yield
    except libvirt.libvirtError as exc:
        raise LibvirtError(f"cannot {action} {what} on {uri}: {_cause(conn, exc, model)}"
                           ) from None


def _cause(conn, exc: libvirt.libvirtError, model: dict) -> str:
    """libvirt's message, with the network or subnet in the way, or what the host lacks."""
    message = reason(exc)
    taken = re.search(r"bridge name '([^']+)' already in use", message)
    if taken:
        other = _network_with_bridge(conn, taken.group(1), model.get("name"))
        owner = f"network '{other}'" if other else "another interface of the host"
        return f"bridge name '{taken.group(1)}' is already used by {owner}"
    routed = re.search(r"already in use by interface (\S+)", message)
    if routed:
        device = routed.group(1).rstrip(".,")
        other = _network_with_bridge(conn, device, model.get("name"))
        routed_subnets = ", ".join(sorted(str(s) for s in subnets(model))) or "its subnet"
        return (f"{routed_subnets} is already routed through interface {device}"
                + (f" (network '{other}')" if other else "") + "; choose another subnet")
    if "qdisc kind is unknown" in message:
        return (f"{message} (bandwidth limits need the traffic control qdiscs htb and sfq of "
                "the libvirt host's kernel)")
    if exc.get_error_code() == libvirt.VIR_ERR_XML_INVALID_SCHEMA:
        major, rest = divmod(conn.getLibVersion(), 1_000_000)
        version = f"{major}.{rest // 1000}.{rest % 1000}"
        return f"the host's libvirt {version} does not accept this definition: {message}"
    return message


def _network_with_bridge(conn, bridge: str, besides: Any) -> str | None:
    """The name of the network (other than ``besides``) whose bridge is ``bridge``."""
    for net in conn.listAllNetworks():
        if net.name() == besides:
            continue
        try:
            if running_bridge_name(net) == bridge:
                return net.name()
        except libvirt.libvirtError:
            continue
    return None
