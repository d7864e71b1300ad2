"""Manage libvirt/KVM hosts from Pulumi Python programs.

Resources mirror libvirt's XML (snake_case keys), so libvirt's documentation is this package's
documentation; see README.md for the few provider-only inputs. Every resource takes its inputs
as documented keywords (or ``args=XArgs(...)``) and declares its outputs with their types; the
nested input and output types (``DomainDiskArgsDict``, ...) are in ``pulumi_libvirt.types``.
"""

from typing import TYPE_CHECKING, Any

from . import lookups
from .generated import *  # noqa: F403 - every resource class and its Args type
from .generated import __all__ as _resources
from .lookups import *  # noqa: F403 - get_x / get_x_output and their result types

if TYPE_CHECKING:
    from . import types as types

__all__ = [*_resources, *lookups.__all__]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``pulumi_libvirt.types`` and its types, loaded on first use (not at import)."""
    import importlib

    types = importlib.import_module(f"{__name__}.types")
    if name == "types":
        return types
    return getattr(types, name)
