"""Resource logic, one module per libvirt object kind (plain dicts in, plain dicts out)."""

from .base import Diff, Input, ResourceLogic
from .domain import DomainLogic
from .network import NetworkLogic
from .pool import PoolLogic
from .seed import CloudInitDiskLogic, CombustionLogic, IgnitionLogic
from .volume import VolumeLogic

LOGIC: dict[str, type[ResourceLogic]] = {
    logic.type_name: logic for logic in (PoolLogic, VolumeLogic, CloudInitDiskLogic,
                                         IgnitionLogic, CombustionLogic, NetworkLogic,
                                         DomainLogic)
}

__all__ = ["LOGIC", "CloudInitDiskLogic", "CombustionLogic", "Diff", "DomainLogic",
           "IgnitionLogic", "Input", "NetworkLogic", "PoolLogic", "ResourceLogic", "VolumeLogic"]
