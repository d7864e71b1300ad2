"""What a libvirt host knows of guests' addresses: the DHCP leases of its networks.

A small connection-side helper: the Domain provider reads leases to wait for a guest's address,
and the host lookups can share it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import libvirt

_FAMILIES = {libvirt.VIR_IP_ADDR_TYPE_IPV4: "ipv4", libvirt.VIR_IP_ADDR_TYPE_IPV6: "ipv6"}


def dhcp_leases(
    conn: libvirt.virConnect, network: str, mac: str | None = None
) -> list[dict[str, Any]]:
    """The current DHCP leases of the libvirt network named ``network`` (see
    ``network_leases``). Raises libvirt's error when the network does not exist."""
    return network_leases(conn.networkLookupByName(network), mac)


def network_leases(net: libvirt.virNetwork, mac: str | None = None) -> list[dict[str, Any]]:
    """The current DHCP leases of a libvirt network (only those of ``mac`` when given).

    Each lease: ``mac`` (lower case), ``ip_address``, ``prefix``, ``type`` ("ipv4"/"ipv6"),
    ``hostname``, ``client_id``, ``iaid``, ``expiry_time`` (seconds since the epoch, 0 for
    never) and ``interface`` (the network's bridge); empty strings as None. Raises libvirt's
    error when the network's driver keeps no leases.
    """
    raw = net.DHCPLeases(mac.lower()) if mac else net.DHCPLeases()
    return [
        {
            "mac": (lease.get("mac") or "").lower(),
            "ip_address": lease.get("ipaddr"),
            "prefix": lease.get("prefix"),
            "type": _FAMILIES.get(lease.get("type"), str(lease.get("type"))),
            "hostname": lease.get("hostname") or None,
            "client_id": lease.get("clientid") or None,
            "iaid": lease.get("iaid") or None,
            "expiry_time": lease.get("expirytime"),
            "interface": lease.get("iface"),
        }
        for lease in raw or ()
    ]


def usable(address: str) -> bool:
    """Whether an address can reach the guest from elsewhere: not loopback, not link-local,
    not unspecified."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)
