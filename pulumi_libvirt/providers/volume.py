"""Storage volumes: create in a pool, grow in place, delete."""

from __future__ import annotations

import libvirt

from .. import xml
from ..connection import LibvirtError, described, not_found, run
from ..xml import Problem
from .base import Input, ResourceLogic, get_path


class VolumeLogic(ResourceLogic):
    """A libvirt storage volume in a pool."""

    kind = "volume"
    type_name = "Volume"
    noun = "volume"
    inputs = (
        Input("pool", "str", "Name of the storage pool that holds the volume.",
              on_change="replace"),
    )
    aliases = {"format": "target.format.type"}
    read_only_xml = frozenset({"key", "source", "physical"})
    computed = {
        "key": ("string", "The volume's key (its path, for file-based pools); the resource id."),
        "path": ("string", "Path of the volume on the host (target.path)."),
        "capacity": ("integer", "Size in bytes (the virtual size, for qcow2)."),
        "allocation": ("integer", "Bytes allocated on the host."),
    }

    def describe(self, props: dict) -> str:
        return f"volume '{props.get('name')}' in pool '{props.get('pool')}'"

    def validate(self, olds: dict, news: dict) -> list[Problem]:
        problems = []
        for key, what in (("name", "the volume's file name"), ("pool", "the pool's name")):
            if news.get(key) is None:
                problems.append(Problem(key, f"required: {what}"))
        if news.get("capacity") is None and not self._sized_elsewhere(news):
            problems.append(Problem("capacity", "required unless backing_store is given: the "
                                    "size in bytes, or {'value': 20, 'unit': 'GiB'}"))
        old, new = olds.get("capacity"), news.get("capacity")
        if old is not None and new is not None:
            before, after = self._bytes(old), self._bytes(new)
            if isinstance(before, int) and isinstance(after, int) and after < before:
                problems.append(Problem(
                    "capacity", f"cannot shrink the volume from {before} to {after} bytes: "
                    "shrinking loses data at the end of the disk, and libvirt cannot tell "
                    "whether the guest's filesystem still uses it; give the volume a new "
                    "name to replace it with a smaller one"))
        return problems

    def _sized_elsewhere(self, props: dict) -> bool:
        return props.get("backing_store") is not None

    @staticmethod
    def _bytes(value) -> int | tuple:
        return xml.to_bytes("volume", value)

    # ------------------------------------------------------------ libvirt

    def _pool(self, conn: libvirt.virConnect, props: dict, uri: str) -> libvirt.virStoragePool:
        with described(f"pool '{props.get('pool')}'", uri):
            return conn.storagePoolLookupByName(props["pool"])

    @staticmethod
    def _lookup(conn: libvirt.virConnect, key: str) -> libvirt.virStorageVol | None:
        try:
            return conn.storageVolLookupByKey(key)
        except libvirt.libvirtError as exc:
            if not_found(exc):
                return None
            raise

    def _read(self, vol: libvirt.virStorageVol, props: dict, user_keys) -> dict:
        model = xml.from_xml("volume", vol.XMLDesc(0))
        _type, capacity, allocation = vol.info()
        computed = {
            "key": vol.key(),
            "path": vol.path(),
            "capacity": capacity,
            "allocation": allocation,
        }
        live = {"pool": vol.storagePoolLookupByVolume().name()}
        outs = self.outputs(props, user_keys, model, live, computed)
        outs["pool"] = live["pool"]
        return outs

    def _model_for_create(self, conn: libvirt.virConnect, props: dict) -> dict:
        model = self.desired_model(props)
        if model.get("capacity") is None:
            backing = get_path(model, "backing_store.path")
            if backing:
                base = conn.storageVolLookupByPath(backing)
                model["capacity"] = base.info()[1]
        return model

    # ------------------------------------------------------------ lifecycle

    def create(self, props: dict) -> tuple[str, dict]:
        uri = self.uri(props)
        what = self.describe(props)
        user_keys = [k for k, v in props.items() if v is not None and not k.startswith("__")]

        def action(conn: libvirt.virConnect):
            pool = self._pool(conn, props, uri)
            try:
                existing = pool.storageVolLookupByName(props["name"])
            except libvirt.libvirtError as exc:
                if not not_found(exc):
                    raise
                existing = None
            if existing is not None:
                if not props.get("adopt"):
                    raise LibvirtError(f"{what} already exists on {uri}; set adopt=True to "
                                       "manage it")
                self._grow(existing, props, what, uri)
                return existing.key(), self._read(existing, props, user_keys)
            with described(what, uri, "create"):
                model = self._model_for_create(conn, props)
                vol = pool.createXML(xml.to_xml("volume", model), 0)
            try:
                return vol.key(), self._read(vol, props, user_keys)
            except BaseException:
                try:
                    vol.delete(0)
                except libvirt.libvirtError:
                    pass
                raise

        return run(uri, action)

    def read(self, id_: str, outs: dict) -> dict | None:
        uri = outs.get("uri") or self.uri(outs)

        def action(conn: libvirt.virConnect):
            vol = self._lookup(conn, id_)
            if vol is None:
                return None
            try:
                vol.storagePoolLookupByVolume().refresh(0)
                vol = self._lookup(conn, id_)  # the refresh may show it is gone
            except libvirt.libvirtError:
                pass
            if vol is None:
                return None
            with described(self.describe(outs), uri, "read"):
                return self._read(vol, outs, self.user_keys(outs))

        return run(uri, action)

    def update(self, id_: str, olds: dict, news: dict) -> dict:
        uri = self.uri(news)
        what = self.describe(news)
        user_keys = [k for k, v in news.items() if v is not None and not k.startswith("__")]

        def action(conn: libvirt.virConnect):
            vol = self._lookup(conn, id_)
            if vol is None:
                raise LibvirtError(f"{what} not found on {uri} (deleted outside Pulumi? run "
                                   "`pulumi refresh`)")
            self._grow(vol, news, what, uri)
            return self._read(vol, news, user_keys)

        return run(uri, action)

    def _grow(self, vol: libvirt.virStorageVol, props: dict, what: str, uri: str) -> None:
        wanted = props.get("capacity")
        if wanted is None:
            return
        size = self._bytes(wanted)
        current = vol.info()[1]
        if isinstance(size, int) and size > current:
            with described(what, uri, "resize"):
                vol.resize(size, 0)
        elif isinstance(size, int) and size < current:
            raise LibvirtError(f"cannot shrink {what} on {uri} from {current} to {size} bytes")

    def delete(self, id_: str, outs: dict) -> None:
        uri = outs.get("uri") or self.uri(outs)

        def action(conn: libvirt.virConnect):
            vol = self._lookup(conn, id_)
            if vol is None:
                return
            with described(self.describe(outs), uri, "delete"):
                vol.delete(0)

        run(uri, action)
