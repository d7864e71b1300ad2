"""Changes libvirt cannot make to a running network: redefine it and restart it, moving the
running guests' taps back onto its new bridge; when it does not start again, the old
definition is put back and started, so a failed change takes nothing away."""

from __future__ import annotations

import copy
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import libvirt
from lxml import etree

from ... import xml
from ...connection import LibvirtError, described, reason
from ..base import get_path
from .definition import bridge_name, define, running_bridge_name
from .errors import refusals
from .model import KIND

# Forward modes whose bridge libvirt makes (and unmakes on every restart).
OWN_BRIDGE = {None, "nat", "route", "open"}


def redefine(net: libvirt.virNetwork, live: dict, wanted: dict, what: str, uri: str) -> None:
    """Redefine; restart a running network. If it cannot start again, the old definition is
    put back and started, so a failed change takes nothing away."""
    conn = net.connect()
    with refusals(conn, what, uri, "redefine", wanted):
        define(conn, wanted)
    if not net.isActive():
        return
    guests = _attached_guests(conn, net, live)
    with _replugging(conn, net, guests, what, uri) as replug:
        with described(what, uri, "stop"):
            net.destroy()
        try:
            with refusals(conn, what, uri, "restart", wanted):
                net.create()
        except LibvirtError:
            try:
                conn.networkDefineXMLFlags(xml.to_xml(KIND, live), 0)
                net.create()
                replug()
            except libvirt.libvirtError:
                pass  # the original error says more
            raise
        replug()


def _attached_guests(conn: libvirt.virConnect, net: libvirt.virNetwork, model: dict) -> list:
    """(domain, <interface>) of running guests plugged into the bridge a restart remakes."""
    if get_path(model, "forward.mode") not in OWN_BRIDGE:
        return []
    name, bridge = net.name(), bridge_name(net, model)
    found = []
    for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
        try:
            root = etree.fromstring(dom.XMLDesc(0).encode())
        except libvirt.libvirtError:
            continue  # stopped meanwhile
        for iface in root.iterfind("devices/interface"):
            source = iface.find("source")
            if source is None:
                continue
            on_network = iface.get("type") == "network" and source.get("network") == name
            on_bridge = iface.get("type") == "bridge" and bridge and source.get("bridge") == bridge
            if on_network or on_bridge:
                found.append((dom, iface))
    return found


@contextmanager
def _replugging(conn, net: libvirt.virNetwork, guests: list, what: str, uri: str
                ) -> Iterator[Any]:
    """A function that puts the taps of running guests back onto the network's new bridge.

    libvirt (9.0) leaves them off it after a restart. Changing a live interface's bridge moves
    its tap (virDomainUpdateDeviceFlags), but only to a bridge of another name: each tap goes
    to a transient bridge of no network and back, and the guest's link stays up throughout.
    The transient bridge is made before the network stops (and removed afterwards), so guests
    are cut off for the restart itself only.
    """
    if not guests:
        yield lambda: None
        return
    hop = conn.networkCreateXML(f"<network><name>{net.name()}-replug-{secrets.token_hex(3)}"
                                "</name></network>")

    def replug() -> None:
        bridge = running_bridge_name(net)
        for dom, iface in guests:
            try:
                dom.updateDeviceFlags(plugged(iface, hop.name(), hop.bridgeName(), hop=True),
                                      libvirt.VIR_DOMAIN_AFFECT_LIVE)
                dom.updateDeviceFlags(plugged(iface, net.name(), bridge, hop=False),
                                      libvirt.VIR_DOMAIN_AFFECT_LIVE)
            except libvirt.libvirtError as exc:
                mac = iface.find("mac").get("address") if iface.find("mac") is not None else "?"
                sys.stderr.write(f"warning: {what} on {uri} restarted, but guest "
                                 f"'{dom.name()}' interface {mac} could not be put back on its "
                                 f"bridge ({reason(exc)}): it has no link until it restarts\n")

    try:
        yield replug
    finally:
        try:
            hop.destroy()
        except libvirt.libvirtError:
            pass


def plugged(iface: etree._Element, network: str, bridge: str | None, hop: bool) -> str:
    """The live <interface> pointed at ``network`` (or, for a bridge interface, ``bridge``)."""
    iface = copy.deepcopy(iface)
    source = iface.find("source")
    if iface.get("type") == "network":
        keep = {"network"} if hop else {"network", "portgroup"}
        for attr in [a for a in source.attrib if a not in keep]:
            del source.attrib[attr]
        source.set("network", network)
    else:
        source.set("bridge", bridge)
    return etree.tostring(iface, encoding="unicode")
