"""Host lookups: facts about a libvirt host and the objects on it, for Pulumi programs.

Each lookup comes in two forms, as in Pulumi's own SDKs: ``get_x(...)`` returns a typed result,
``get_x_output(...)`` takes ``Input``s and returns an ``Output`` of it. Every one takes ``uri``,
resolved as resources resolve it (argument, stack config ``libvirt:uri``,
``LIBVIRT_DEFAULT_URI``, ``qemu:///system``).
"""

from .capabilities import (
    DomainCapabilities,
    get_domain_capabilities,
    get_domain_capabilities_output,
)
from .devices import (
    NodeDevice,
    PciAddress,
    capability_names,
    get_node_device_info,
    get_node_device_info_output,
    get_node_devices,
    get_node_devices_output,
)
from .host import NodeInfo, get_node_info, get_node_info_output
from .leases import DhcpLease, get_network_dhcp_leases, get_network_dhcp_leases_output
from .objects import (
    DomainInfo,
    ExistingObject,
    NetworkInfo,
    PoolInfo,
    VolumeInfo,
    get_domain,
    get_domain_output,
    get_network,
    get_network_output,
    get_pool,
    get_pool_output,
    get_volume,
    get_volume_output,
)

# Every lookup, plain form first: get_x and get_x_output.
LOOKUPS = (
    get_node_info, get_node_devices, get_node_device_info, get_domain_capabilities,
    get_network, get_pool, get_volume, get_domain, get_network_dhcp_leases,
)

__all__ = [
    "LOOKUPS", "DhcpLease", "DomainCapabilities", "DomainInfo", "ExistingObject", "NetworkInfo",
    "NodeDevice", "NodeInfo", "PciAddress", "PoolInfo", "VolumeInfo", "capability_names",
    "get_domain", "get_domain_capabilities", "get_domain_capabilities_output", "get_domain_output",
    "get_network", "get_network_dhcp_leases", "get_network_dhcp_leases_output",
    "get_network_output", "get_node_device_info", "get_node_device_info_output",
    "get_node_devices", "get_node_devices_output", "get_node_info", "get_node_info_output",
    "get_pool", "get_pool_output", "get_volume", "get_volume_output",
]
