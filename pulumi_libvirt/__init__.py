"""Manage libvirt/KVM hosts from Pulumi Python programs.

Resources mirror libvirt's XML (snake_case keys), so libvirt's documentation is this package's
documentation; see README.md for the few provider-only inputs.
"""

from .resources import Pool, Volume

__all__ = ["Pool", "Volume"]
__version__ = "0.1.0"
