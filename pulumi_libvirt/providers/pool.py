"""Storage pools: define, build, start, autostart; patch in place; stop and undefine."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import libvirt

from .. import xml
from ..connection import LibvirtError, described
from .base import Input, ResourceLogic, get_path, persistent_xml, set_state

# libvirt checks the definition against its schema: an element the host does not know is an
# error, never silently dropped (which would show as a diff on every preview).
_VALIDATE = libvirt.VIR_STORAGE_POOL_DEFINE_VALIDATE

# Pool types whose build formats or partitions a device: never overwrite what is there.
_DESTRUCTIVE_BUILD = {"fs", "disk", "logical"}

# What a pool type needs on the libvirt host, said when building or starting it fails.
_NEEDS = {
    "logical": "logical pools need the LVM2 tools (vgcreate, lvcreate) and the kernel's "
               "device-mapper on the libvirt host",
    "netfs": "netfs pools need the libvirt host's kernel to support the network filesystem "
             "(nfs, cifs, glusterfs) and its mount helper",
    "fs": "fs pools need the libvirt host's kernel to support the filesystem and a mkfs for it",
    "iscsi": "iscsi pools need iscsiadm (open-iscsi) on the libvirt host",
    "rbd": "rbd pools need libvirt's rbd storage driver on the libvirt host",
    "gluster": "gluster pools need libvirt's gluster storage driver on the libvirt host",
    "zfs": "zfs pools need the ZFS tools and kernel module on the libvirt host",
}


class PoolLogic(ResourceLogic):
    """A libvirt storage pool (dir, fs, netfs, logical, disk, iscsi, ...)."""

    kind = "pool"
    type_name = "Pool"
    noun = "pool"
    lookup_by_uuid = "storagePoolLookupByUUIDString"
    lookup_by_name = "storagePoolLookupByName"
    inputs = (
        Input("autostart", "bool", "Start the pool when libvirtd starts.", default=False,
              live=True),
        Input("running", "bool", "Keep the pool started (active).", default=True, live=True),
        Input("build", "bool", "Build the pool's target on create (create the directory; for "
              "fs, disk and logical pools make the filesystem, label or volume group, never "
              "overwriting one that exists).", default=True, on_change="none"),
        Input("delete_target", "bool", "On destroy also delete the pool's target (the "
              "directory of a dir pool, the volume group of a logical pool). Refused, before "
              "anything is stopped, while the target holds volumes.", default=False,
              on_change="none"),
    )
    read_only_xml = frozenset({"capacity", "allocation", "available"})
    required = {"name": "the pool's name", "type": "the pool type, such as 'dir'"}
    computed = {
        "uuid": ("string", "The pool's UUID (the resource id)."),
        "capacity": ("integer", "Size of the pool in bytes."),
        "allocation": ("integer", "Bytes allocated to volumes."),
        "available": ("integer", "Bytes free."),
    }

    # ------------------------------------------------------------ libvirt

    def snapshot(self, pool, props: dict, user_keys) -> dict:
        if pool.isActive():
            try:
                pool.refresh(0)
            except libvirt.libvirtError:
                pass  # a volume is being built: the figures are a moment old
        model = xml.from_xml("pool", _definition(pool))
        _state, capacity, allocation, available = pool.info()
        computed = {
            "uuid": pool.UUIDString(),
            "capacity": capacity,
            "allocation": allocation,
            "available": available,
        }
        live = {"autostart": bool(pool.autostart()), "running": bool(pool.isActive())}
        return self.outputs(props, user_keys, model, live, computed)

    def make(self, conn, props: dict, what: str, uri: str):
        with described(what, uri, "define"):
            pool = conn.storagePoolDefineXML(xml.to_xml("pool", self.desired_model(props)),
                                             _VALIDATE)
        try:
            with _needs(props["type"]):
                if props.get("build", True):
                    with described(what, uri, "build"):
                        _build(pool, props["type"])
                with described(what, uri, "start"):
                    _set_state(pool, props)
        except BaseException:
            try:
                _remove(pool, delete_target=False)
            except libvirt.libvirtError:
                pass  # the original error says more
            raise
        return pool

    def apply(self, pool, olds: dict, news: dict, what: str, uri: str) -> None:
        """Patch the definition with the user's values and bring state in line."""
        live = xml.from_xml("pool", _definition(pool))
        before = self.desired_model(olds, keys=self.user_keys(olds))
        merged = xml.to_xml("pool", xml.merge("pool", live, self.desired_model(news), before))
        pool_type = news.get("type") or live.get("type")
        changed = xml.canonical_xml(merged) != xml.canonical_xml(xml.to_xml("pool", live))
        with _needs(pool_type):
            if changed:
                with described(what, uri, "redefine"):
                    pool.connect().storagePoolDefineXML(merged, _VALIDATE)
                if pool.isActive():  # the new definition takes effect on the next start
                    with described(what, uri, "restart"):
                        pool.destroy()
                        if news.get("build", True):
                            _build(pool, pool_type)
                        pool.create(0)
            with described(what, uri, "start"):
                _set_state(pool, news)

    def remove(self, pool, outs: dict) -> None:
        delete_target = bool(outs.get("delete_target"))
        if delete_target:
            _refuse_if_occupied(pool, self.describe(outs), outs.get("uri") or self.uri(outs))
        _remove(pool, delete_target=delete_target)


def _build(pool: libvirt.virStoragePool, pool_type: str) -> None:
    # The test driver builds nothing and knows no flags.
    destructive = pool_type in _DESTRUCTIVE_BUILD and pool.connect().getType() != "TEST"
    try:
        pool.build(libvirt.VIR_STORAGE_POOL_BUILD_NO_OVERWRITE if destructive else 0)
    except libvirt.libvirtError as exc:
        # Already formatted as asked: nothing to build. A different format stays an error.
        message = exc.get_error_message() or ""
        if exc.get_error_code() != libvirt.VIR_ERR_STORAGE_POOL_BUILT or (
            "does not match" in message
        ):
            raise


def _set_state(pool: libvirt.virStoragePool, props: dict) -> None:
    set_state(pool, props.get("running", True), bool(props.get("autostart", False)))


# Words of a failure that may come from a host lacking what the pool type needs.
_LACKING = re.compile(r"unknown filesystem type|cannot find|not found|no such file|"
                      r"not supported|unsupported|missing backend", re.IGNORECASE)


@contextmanager
def _needs(pool_type: str) -> Iterator[None]:
    """Add what the pool type needs on the host to a failure that looks like a lack of it."""
    try:
        yield
    except LibvirtError as exc:
        if pool_type in _NEEDS and _LACKING.search(str(exc)):
            raise LibvirtError(f"{exc} ({_NEEDS[pool_type]})") from None
        raise


def _definition(pool: libvirt.virStoragePool) -> str:
    return persistent_xml(pool, libvirt.VIR_STORAGE_XML_INACTIVE)


# Pool types whose delete removes what the pool holds (the directory's files, the volume
# group's logical volumes, the disk's partitions, the zpool's datasets).
_DELETE_TAKES_CONTENT = {"dir", "logical", "disk", "zfs"}


def _refuse_if_occupied(pool: libvirt.virStoragePool, what: str, uri: str) -> None:
    """Before stopping anything: refuse to delete a target that still holds volumes (made
    outside Pulumi, or kept by retain_on_delete); the pool is left as it was."""
    pool_type = xml.from_xml("pool", _definition(pool)).get("type")
    if pool_type not in _DELETE_TAKES_CONTENT:
        return
    started = False
    try:
        if not pool.isActive():  # its volumes are listed only while it runs
            pool.create(0)
            started = True
        pool.refresh(0)
        names = sorted(vol.name() for vol in pool.listAllVolumes(0))
    except libvirt.libvirtError:
        return  # cannot tell: libvirt's own delete refuses a directory that is not empty
    finally:
        if started:
            try:
                pool.destroy()
            except libvirt.libvirtError:
                pass
    if names:
        shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
        target = get_path(xml.from_xml("pool", _definition(pool)), "target.path")
        raise LibvirtError(
            f"cannot delete {what} on {uri} with delete_target=True: its target "
            f"{target} still holds {len(names)} volume(s) Pulumi does not manage here: "
            f"{shown}. Move or remove them, or set delete_target=False to keep the target; "
            "the pool is left as it was")


def _remove(pool: libvirt.virStoragePool, delete_target: bool) -> None:
    was_active = bool(pool.isActive())
    if was_active:
        pool.destroy()
    if delete_target:
        try:
            pool.delete(libvirt.VIR_STORAGE_POOL_DELETE_NORMAL)
        except libvirt.libvirtError:
            if was_active:  # leave it as it was: running, defined
                try:
                    pool.create(0)
                except libvirt.libvirtError:
                    pass
            raise
    pool.undefine()
