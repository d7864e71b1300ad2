"""A network's definition on its host: read it, define it (validated), and its bridge."""

from __future__ import annotations

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


def define(conn: libvirt.virConnect, model: dict) -> libvirt.virNetwork:
    """Define (or redefine) the network ``model`` describes, validated by libvirt."""
    return conn.networkDefineXMLFlags(xml.to_xml(KIND, model), VALIDATE)


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
