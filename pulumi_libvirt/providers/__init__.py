"""Resource logic, one module per libvirt object kind (plain dicts in, plain dicts out)."""

from .base import Diff, Input, ResourceLogic
from .pool import PoolLogic
from .volume import VolumeLogic

LOGIC: dict[str, type[ResourceLogic]] = {
    logic.type_name: logic for logic in (PoolLogic, VolumeLogic)
}

__all__ = ["LOGIC", "Diff", "Input", "PoolLogic", "ResourceLogic", "VolumeLogic"]
