"""Manage libvirt/KVM hosts from Pulumi Python programs.

Resources mirror libvirt's XML (snake_case keys), so libvirt's documentation is this package's
documentation; see README.md for the few provider-only inputs.
"""

from . import lookups
from .lookups import *  # noqa: F403 - get_x / get_x_output and their result types
from .resources import CloudInitDisk, Combustion, Domain, Ignition, Network, Pool, Volume

__all__ = ["CloudInitDisk", "Combustion", "Domain", "Ignition", "Network", "Pool", "Volume"]
__all__ += lookups.__all__
__version__ = "0.1.0"
