"""A network's definition on its host: read it, define it (validated), and its bridge."""

from __future__ import annotations

import threading

import libvirt

from ... import xml
from ..base import get_path, persistent_xml
from .model import KIND

# libvirt checks the definition against its schema: an element the host does not know is an
# error, never silently dropped.
VALIDATE = libvirt.VIR_NETWORK_DEFINE_VALIDATE


def definition(net: libvirt.virNetwork) -> dict:
    """The model of the network's persistent definition (what it is on its next start)."""
    return xml.from_xml(KIND, persistent_xml(net, libvirt.VIR_NETWORK_XML_INACTIVE))


# libvirt picks a free bridge name (virbrN) for a network defined without one, but two networks
# defined at the same time can get the same name, and the second fails to start with "error
# creating bridge interface virbrN: File exists" (libvirt issue 78; seen on 9.0 and 11.3). So
# this process defines networks one at a time per host, and a name another network holds (a
# define from another process at the same instant) is given back by defining once more.
_DEFINE_LOCKS: dict[str, threading.Lock] = {}
_DEFINE_LOCKS_GUARD = threading.Lock()


def define(conn: libvirt.virConnect, model: dict) -> libvirt.virNetwork:
    """Define (or redefine) the network ``model`` describes, validated by libvirt."""
    with _define_lock(conn):
        net = conn.networkDefineXMLFlags(xml.to_xml(KIND, model), VALIDATE)
        if not get_path(model, "bridge.name") and _bridge_held_by_another(conn, net):
            again = {**model, "uuid": net.UUIDString()}  # the same network, another bridge
            net = conn.networkDefineXMLFlags(xml.to_xml(KIND, again), VALIDATE)
        return net


def _define_lock(conn: libvirt.virConnect) -> threading.Lock:
    with _DEFINE_LOCKS_GUARD:
        return _DEFINE_LOCKS.setdefault(conn.getURI(), threading.Lock())


def _bridge_held_by_another(conn: libvirt.virConnect, net: libvirt.virNetwork) -> bool:
    bridge = bridge_name(net, {})
    return bridge is not None and any(
        other.name() != net.name() and bridge_name(other, {}) == bridge
        for other in conn.listAllNetworks()
    )


def bridge_name(net: libvirt.virNetwork, model: dict) -> str | None:
    """The network's bridge: ``bridge.name`` of ``model``, else the one libvirt picked."""
    name = get_path(model, "bridge.name")
    if name:
        return name
    try:
        return net.bridgeName()
    except libvirt.libvirtError:
        return None  # macvtap and hostdev networks have none; the test driver picks none


def running_bridge_name(net: libvirt.virNetwork) -> str | None:
    """The bridge of the network as it runs now (its live definition)."""
    return bridge_name(net, xml.from_xml(KIND, net.XMLDesc(0)))
