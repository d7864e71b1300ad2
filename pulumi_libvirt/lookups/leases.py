"""DHCP leases a network's dnsmasq handed out: the addresses guests got."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import libvirt

from ..leases import network_leases
from .invoke import Host, lookup


@dataclass(frozen=True)
class DhcpLease:
    """One lease: the guest's MAC, its address and prefix, the hostname it sent, and when
    the lease expires (Unix time, seconds)."""

    mac: str
    ip: str
    prefix: int
    hostname: str | None
    expiry: int
    type: str  # 'ipv4' or 'ipv6'
    interface: str  # the network's bridge
    client_id: str | None
    iaid: str | None  # IPv6 identity association


def get_network_dhcp_leases(host: Host, network: str, mac: str | None = None) -> list[DhcpLease]:
    """The network's current DHCP leases (only those of ``mac`` when given), by address."""
    net = host.find("network", network, host.conn.networkLookupByName,
                lambda: [n.name() for n in host.conn.listAllNetworks()])
    try:
        leases = network_leases(net, mac)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
            raise host.unsupported(exc, f"DHCP leases of network '{network}'") from None
        with host.described(f"DHCP leases of network '{network}'", "read"):
            raise
    result = [
        DhcpLease(
            mac=lease["mac"], ip=lease["ip_address"], prefix=lease["prefix"],
            hostname=lease["hostname"], expiry=lease["expiry_time"], type=lease["type"],
            interface=lease["interface"], client_id=lease["client_id"], iaid=lease["iaid"],
        )
        for lease in leases
    ]
    return sorted(result, key=lambda lease: (lease.type, ipaddress.ip_address(lease.ip)))


get_network_dhcp_leases, get_network_dhcp_leases_output = lookup(get_network_dhcp_leases)
