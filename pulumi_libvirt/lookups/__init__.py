"""Host lookups: facts about a libvirt host and the objects on it, for Pulumi programs.

Each lookup comes in two forms, as in Pulumi's own SDKs: ``get_x(...)`` returns a typed result,
``get_x_output(...)`` takes ``Input``s and returns an ``Output`` of it. Every one takes ``uri``,
resolved as resources resolve it (argument, stack config ``libvirt:uri``,
``LIBVIRT_DEFAULT_URI``, ``qemu:///system``).
"""

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

__all__ = [
    "NodeDevice", "NodeInfo", "PciAddress", "capability_names", "get_node_device_info",
    "get_node_device_info_output", "get_node_devices", "get_node_devices_output",
    "get_node_info", "get_node_info_output",
]
