"""Facts about the host itself: CPUs, memory, NUMA."""

from __future__ import annotations

from dataclasses import dataclass

import libvirt

from .invoke import Host, lookup


@dataclass(frozen=True)
class NodeInfo:
    """What ``virsh nodeinfo`` shows, with memory in bytes.

    ``sockets`` is libvirt's count of CPU sockets per NUMA node; ``cpus`` the active CPUs.
    """

    cpu_model: str
    memory: int
    cpus: int
    mhz: int
    numa_nodes: int
    sockets: int
    cores_per_socket: int
    threads_per_core: int


def get_node_info(host: Host) -> NodeInfo:
    """The host's CPU model, memory (bytes), CPU count, MHz, NUMA nodes, sockets, cores per
    socket and threads per core."""
    with host.described("node info", "read"):
        model, mebibytes, cpus, mhz, nodes, sockets, cores, threads = host.conn.getInfo()
    return NodeInfo(
        cpu_model=model, memory=_memory(host, nodes, mebibytes), cpus=cpus, mhz=mhz,
        numa_nodes=nodes, sockets=sockets, cores_per_socket=cores, threads_per_core=threads,
    )


def _memory(host: Host, nodes: int, mebibytes: int) -> int:
    """Bytes of memory: the NUMA cells' totals in KiB when the driver reports them
    (libvirt-python's ``getInfo`` rounds the KiB libvirt has down to MiB)."""
    try:
        kib = sum(host.conn.getMemoryStats(cell)["total"] for cell in range(nodes))
    except (libvirt.libvirtError, KeyError):
        return mebibytes * 1024 * 1024
    return kib * 1024 if kib >> 10 == mebibytes else mebibytes * 1024 * 1024


get_node_info, get_node_info_output = lookup(get_node_info)
