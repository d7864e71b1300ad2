"""Objects that already exist on the host (made outside Pulumi): networks, pools, volumes,
domains. Each result holds the object's model in the package's convention (its persistent
definition when it has one), its state, and the XML."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import libvirt

from .. import xml
from ..connection import LibvirtError, or_none
from .build import get
from .invoke import Host, lookup


def _states(prefix: str, names: str) -> dict[int, str]:
    """libvirt's state constants ``prefix + NAME`` -> 'name'."""
    return {getattr(libvirt, prefix + n): n.lower() for n in names.split()
            if hasattr(libvirt, prefix + n)}


_DOMAIN_STATES = _states("VIR_DOMAIN_",
                         "NOSTATE RUNNING BLOCKED PAUSED SHUTDOWN SHUTOFF CRASHED PMSUSPENDED")
_POOL_STATES = _states("VIR_STORAGE_POOL_", "INACTIVE BUILDING RUNNING DEGRADED INACCESSIBLE")


def _definition(obj: Any, persistent: bool, inactive_flag: int) -> str:
    """The persistent definition's XML (the live one for transient objects, and where the
    driver has no flag for it: the test driver)."""
    if persistent:
        try:
            return str(obj.XMLDesc(inactive_flag))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() not in (libvirt.VIR_ERR_INVALID_ARG,
                                            libvirt.VIR_ERR_NO_SUPPORT):
                raise
    return str(obj.XMLDesc(0))


@dataclass(frozen=True)
class _Kind:
    """How to find one kind of object and read its definition."""

    noun: str  # in messages, and the XML core's kind
    find: str  # the connection's lookup by name
    everything: str  # the connection's listing (for close names)
    inactive_flag: int  # XMLDesc flag for the persistent definition


_NETWORK = _Kind("network", "networkLookupByName", "listAllNetworks",
                 libvirt.VIR_NETWORK_XML_INACTIVE)
_POOL = _Kind("pool", "storagePoolLookupByName", "listAllStoragePools",
              libvirt.VIR_STORAGE_XML_INACTIVE)
_DOMAIN = _Kind("domain", "lookupByName", "listAllDomains", libvirt.VIR_DOMAIN_XML_INACTIVE)


def _find(host: Host, kind: _Kind, name: str) -> Any:
    return host.find(kind.noun, name, getattr(host.conn, kind.find),
                     lambda: [o.name() for o in getattr(host.conn, kind.everything)()])


def _common(obj: Any, kind: _Kind) -> dict[str, Any]:
    """The fields every existing-object result shares: name, uuid, state flags, definition."""
    persistent = bool(obj.isPersistent())
    text = _definition(obj, persistent, kind.inactive_flag)
    return {"name": obj.name(), "uuid": obj.UUIDString(), "active": bool(obj.isActive()),
            "persistent": persistent, "autostart": bool(obj.autostart()),
            "model": xml.from_xml(kind.noun, text), "xml": text}


@dataclass(frozen=True)
class ExistingObject:
    """What every existing network, pool and domain result holds: names, state flags, and
    the definition as ``model`` (the persistent one, when there is one) and ``xml``."""

    name: str
    uuid: str
    active: bool
    persistent: bool
    autostart: bool
    model: dict[str, Any] = field(repr=False)
    xml: str = field(repr=False)


# ---------------------------------------------------------------- networks


@dataclass(frozen=True)
class NetworkInfo(ExistingObject):
    """An existing network: its definition (``model``) and state; ``bridge`` is the host
    bridge it uses (the one libvirt picked, when it picked)."""

    bridge: str | None


def get_network(host: Host, name: str) -> NetworkInfo:
    """An existing network by name, e.g. the ``default`` network of Debian's libvirt."""
    net = _find(host, _NETWORK, name)
    with host.described(f"network '{name}'", "read"):
        common = _common(net, _NETWORK)
        bridge = or_none(net.bridgeName) if common["active"] else None
        return NetworkInfo(bridge=bridge or get(common["model"], "bridge.name"), **common)


# ---------------------------------------------------------------- pools


@dataclass(frozen=True)
class PoolInfo(ExistingObject):
    """An existing storage pool: definition, state, sizes in bytes, and its target path."""

    type: str | None
    state: str  # inactive, building, running, degraded, inaccessible
    capacity: int
    allocation: int
    available: int
    path: str | None


def get_pool(host: Host, name: str) -> PoolInfo:
    """An existing storage pool by name."""
    pool = _find(host, _POOL, name)
    with host.described(f"pool '{name}'", "read"):
        common = _common(pool, _POOL)
        state, capacity, allocation, available = pool.info()
        return PoolInfo(
            type=common["model"].get("type"), state=_POOL_STATES.get(state, str(state)),
            capacity=capacity, allocation=allocation, available=available,
            path=get(common["model"], "target.path"), **common,
        )


# ---------------------------------------------------------------- volumes


@dataclass(frozen=True)
class VolumeInfo:
    """An existing storage volume: where it is, its format and sizes in bytes."""

    name: str
    pool: str
    key: str
    path: str
    type: str | None  # file, block, dir, network, ...
    format: str | None  # raw, qcow2, ...
    capacity: int
    allocation: int
    backing_path: str | None  # the volume's own backing store, for overlays
    model: dict[str, Any] = field(repr=False)
    xml: str = field(repr=False)

    def backing_store(self) -> dict[str, str]:
        """This volume as another Volume's ``backing_store`` (a copy-on-write base)."""
        return {"path": self.path, "format": self.format or "raw"}


def _refreshed(pools: list[libvirt.virStoragePool]) -> None:
    """Rescan pools (files copied in by hand show only after a refresh)."""
    for pool in pools:
        try:
            if pool.isActive():
                pool.refresh(0)
        except libvirt.libvirtError:
            pass


def _volume_by(host: Host, what: str, lookup_: Callable[[str], Any], value: str,
               pools: Callable[[], list[Any]]) -> Any:
    vol = or_none(lookup_, value)
    if vol is None:
        _refreshed(pools())
        vol = or_none(lookup_, value)
    if vol is None:
        raise LibvirtError(f"{what} not found on {host.uri}")
    return vol


def get_volume(host: Host, name: str | None = None, pool: str | None = None,
               key: str | None = None, path: str | None = None) -> VolumeInfo:
    """An existing volume, by ``pool`` and ``name``, or by ``key``, or by ``path``; for
    example a base image to put overlays on (``backing_store=vol.backing_store()``)."""
    ways = [w for w, given in (("pool and name", pool is not None or name is not None),
                               ("key", key is not None), ("path", path is not None)) if given]
    if len(ways) != 1 or (ways == ["pool and name"] and (pool is None or name is None)):
        raise ValueError("get_volume: give pool and name, or key, or path (one way); got "
                         + (", ".join(f"{k}={v!r}" for k, v in (("name", name), ("pool", pool),
                            ("key", key), ("path", path)) if v is not None) or "none"))
    with host.described("volume", "look up"):
        if key is not None:
            vol = _volume_by(host, f"volume with key '{key}'", host.conn.storageVolLookupByKey,
                             key, host.conn.listAllStoragePools)
        elif path is not None:
            vol = _volume_by(host, f"volume with path '{path}'",
                             host.conn.storageVolLookupByPath, path,
                             host.conn.listAllStoragePools)
        else:
            assert pool is not None and name is not None  # checked above
            found = _find(host, _POOL, pool)
            vol = _volume_by(host, f"volume '{name}' in pool '{pool}'",
                             found.storageVolLookupByName, name, lambda: [found])
    with host.described(f"volume '{vol.name()}'", "read"):
        text = vol.XMLDesc(0)
        model = xml.from_xml("volume", text)
        _type, capacity, allocation = vol.info()
        return VolumeInfo(
            name=vol.name(), pool=vol.storagePoolLookupByVolume().name(), key=vol.key(),
            path=vol.path(), type=model.get("type"), format=get(model, "target.format.type"),
            capacity=capacity, allocation=allocation,
            backing_path=get(model, "backing_store.path"), model=model, xml=text,
        )


# ---------------------------------------------------------------- domains


@dataclass(frozen=True)
class DomainInfo(ExistingObject):
    """An existing domain: its definition (``model``, the persistent one when it has one),
    state (running, paused, shutoff, crashed, pmsuspended, ...), and flags."""

    id: int | None  # while it runs
    state: str
    managed_save: bool


def get_domain(host: Host, name: str) -> DomainInfo:
    """An existing domain by name."""
    dom = _find(host, _DOMAIN, name)
    with host.described(f"domain '{name}'", "read"):
        common = _common(dom, _DOMAIN)
        state, _reason = dom.state()
        return DomainInfo(
            id=dom.ID() if common["active"] else None, state=_DOMAIN_STATES.get(state, str(state)),
            managed_save=bool(dom.hasManagedSaveImage(0)), **common,
        )


get_network, get_network_output = lookup(get_network)
get_pool, get_pool_output = lookup(get_pool)
get_volume, get_volume_output = lookup(get_volume)
get_domain, get_domain_output = lookup(get_domain)
