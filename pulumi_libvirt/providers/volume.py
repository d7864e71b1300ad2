"""Storage volumes: create in a pool (empty, from an image, as a clone or an overlay), grow in
place, delete; decide a replacement before the old volume is deleted."""

from __future__ import annotations

import time

import libvirt

from .. import upload, xml
from ..connection import LibvirtError, described, message, or_none
from ..xml import UNKNOWN, Problem, has_unknown
from .base import Diff, Input, ResourceLogic, get_path, set_path


class VolumeLogic(ResourceLogic):
    """A libvirt storage volume in a pool."""

    kind = "volume"
    type_name = "Volume"
    noun = "volume"
    inputs = (
        Input("pool", "str", "Name of the storage pool that holds the volume.",
              on_change="replace", live=True),
        Input("source", "dict", "Image to upload into the volume on create: {'url': "
              "'https://...'} (http, https, file) or {'path': '/local/file'}, with optional "
              "'sha256' (verified; a mismatch deletes the volume) and HTTP 'headers'. Streamed, "
              "resumed with HTTP ranges after a dropped connection, sized from Content-Length or "
              "the file. A new url, path or sha256 replaces the volume; new headers do not.",
              on_change="none"),
        Input("clone_from", "str", "Volume to copy on create: its key or path (for example "
              "another Volume's `key`), from any pool on the same host. The copy keeps the "
              "source's format, capacity and backing file unless told otherwise. Changing it "
              "replaces the volume.", on_change="replace"),
    )
    aliases = {"format": "target.format.type", "permissions": "target.permissions"}
    read_only_xml = frozenset({"key", "source", "physical"})
    identity_keys = ("pool", "name")
    required = {"name": "the volume's file name", "pool": "the pool's name"}
    computed = {
        "key": ("string", "The volume's key (its path, for file-based pools); the resource id."),
        "path": ("string", "Path of the volume on the host (target.path)."),
        "capacity": ("integer", "Size in bytes (the virtual size, for qcow2)."),
        "allocation": ("integer", "Bytes allocated on the host."),
    }

    def describe(self, props: dict) -> str:
        return f"volume '{props.get('name')}' in pool '{props.get('pool')}'"

    def validate(self, olds: dict, news: dict) -> list[Problem]:
        problems = super().validate(olds, news)
        given = [k for k in _DATA_FROM if news.get(k) is not None]
        if news.get("capacity") is None and not given:
            problems.append(Problem("capacity", "required unless source, clone_from or "
                                    "backing_store is given: the size in bytes, or "
                                    "{'value': 20, 'unit': 'GiB'}"))
        if len(given) > 1:
            problems.append(Problem(given[1], f"cannot be combined with {given[0]}: a volume "
                                    "gets its data from one of source, clone_from and "
                                    "backing_store"))
        for key, least in (("capacity", 1), ("allocation", 0)):
            size = self._bytes(news.get(key))
            if isinstance(size, int) and size < least:
                more = "more than 0" if least else "0 or more"
                written = news[key]
                if isinstance(written, dict):  # the engine does not keep a dict's key order
                    written = f"{written.get('value')} {written.get('unit') or 'bytes'}"
                problems.append(Problem(key, f"expected {more} bytes, got {written}"))
        source = news.get("source")
        if isinstance(source, dict):
            for field, message in upload.validate_source(source, is_unknown=xml.has_unknown):
                problems.append(Problem(f"source.{field}" if field != "source" else "source",
                                        message))
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

    @staticmethod
    def _bytes(value) -> int | tuple | None:
        if value is None or has_unknown(value):
            return None
        return xml.to_bytes("volume", value)

    def irreversible(self, olds: dict, news: dict) -> dict[str, str]:
        have, want = self._bytes(olds.get("capacity")), self._bytes(news.get("capacity"))
        if isinstance(have, int) and isinstance(want, int) and want < have:
            return {"capacity": f"it is {have} bytes; shrinking to {want} is refused: it "
                                "would lose data at the end of the disk"}
        return {}

    # ------------------------------------------------------------ libvirt

    def _pool(self, conn: libvirt.virConnect, props: dict, uri: str) -> libvirt.virStoragePool:
        with described(f"pool '{props.get('pool')}'", uri):
            return conn.storagePoolLookupByName(props["pool"])

    def lookup(self, conn, id_: str, fresh: bool = False):
        vol = or_none(conn.storageVolLookupByKey, id_)
        if vol is not None and fresh:
            try:  # files removed behind libvirt's back show only after a pool refresh
                vol.storagePoolLookupByVolume().refresh(0)
            except libvirt.libvirtError:
                return vol
            vol = or_none(conn.storageVolLookupByKey, id_)
        return vol

    def find(self, conn, props: dict, uri: str):
        return or_none(self._pool(conn, props, uri).storageVolLookupByName, props["name"])

    def identify(self, vol) -> str:
        return vol.key()

    def snapshot(self, vol, props: dict, user_keys) -> dict:
        model = xml.from_xml("volume", vol.XMLDesc(0))
        _type, capacity, allocation = vol.info()
        computed = {
            "key": vol.key(),
            "path": vol.path(),
            "capacity": capacity,
            "allocation": allocation,
        }
        live = {"pool": vol.storagePoolLookupByVolume().name()}
        return self.outputs(props, user_keys, model, live, computed)

    def diff(self, olds: dict, news: dict) -> Diff:
        result = super().diff(olds, news)
        if "source" in result.changes and _source_identity(olds) != _source_identity(news):
            result.replaces = sorted({*result.replaces, "source"})  # other bytes: a new volume
            result.delete_before_replace = self.same_identity(olds, news)
        refused = self.irreversible(olds, news)
        if "capacity" in refused and "capacity" in result.changes and not result.replaces:
            # Grown outside Pulumi (refresh showed it): shrinking it back is refused, so the
            # capacity change is no change; say so at every preview until the program agrees.
            result.changes.remove("capacity")
            have, want = self._bytes(olds["capacity"]), self._bytes(news["capacity"])
            result.warnings.append(
                f"{self.describe(news)} is now {have} bytes, more than the {want} bytes of "
                "capacity in the program (grown outside Pulumi?); shrinking is refused, so it "
                f"stays as it is: write capacity={have} to match it")
        if result.replaces and result.delete_before_replace and news.get("source") is not None:
            result.warnings.append(
                f"{self.describe(news)} is replaced by deleting it before the new one is "
                "made (same name, same pool): the image is checked beforehand (reachable, "
                "format, size, pool space), but if its download then fails (a sha256 "
                "mismatch, a connection lost for good) the old volume is gone; give the "
                "volume a new name to keep the old one until the new one is complete")
        return result

    def preflight(self, conn, props: dict, freed: dict | None, uri: str) -> list[Problem]:
        """Before a replacement: the image (reachable, its format against `format`, its size
        against `capacity`), the clone's source, and the pool's free space."""
        problems: list[Problem] = []
        need, need_field = None, None
        model = self.desired_model(props)
        declared = get_path(model, "target.format.type")
        source = props.get("source")
        if isinstance(source, dict) and not has_unknown(source) and not has_unknown(declared):
            try:
                image = upload.probe(source)
            except upload.UploadError as exc:
                problems.append(Problem("source", str(exc)))
            else:
                problems.extend(self._image_problems(image, props, declared))
                need, need_field = image.space_needed, "source"
        origin_key = props.get("clone_from")
        if isinstance(origin_key, str):
            origin = _volume_by_key_or_path(conn, origin_key)
            if origin is None:
                problems.append(Problem("clone_from", f"no volume has the key or path "
                                                      f"{origin_key!r} on {uri}"))
            else:
                need, need_field = origin.info()[2], "clone_from"
                problem = self._clone_problem(origin, props)
                if problem is not None:
                    problems.append(problem)
        pool_name = props.get("pool")
        if need is not None and isinstance(pool_name, str):
            pool = or_none(conn.storagePoolLookupByName, pool_name)
            if pool is not None and pool.isActive():
                available = pool.info()[3]
                counted = ""
                if freed is not None and freed.get("pool") == pool_name:
                    available += int(freed.get("allocation") or 0)
                    counted = ", counting the space the old volume frees"
                if need > available:
                    problems.append(Problem(need_field, f"needs {need} bytes and pool "
                                                        f"'{pool_name}' has {available} bytes "
                                                        f"available{counted}"))
        return problems

    def _image_problems(self, image, props: dict, declared) -> list[Problem]:
        """The image against the volume's format and capacity (from its first bytes only)."""
        problems = []
        try:
            image.check_format(declared)
        except upload.SourceError as exc:
            field = "source"
            if props.get("format") is not None:
                field = "format"
            elif declared is not None:
                field = "target.format.type"
            problems.append(Problem(field, str(exc)))
        wanted = self._bytes(props.get("capacity"))
        disk = image.disk_size
        if isinstance(wanted, int) and disk is not None and wanted < disk:
            problems.append(Problem("capacity", _too_small(wanted, disk, image.description)))
        if image.size is None and not isinstance(wanted, int):
            problems.append(Problem("capacity", f"{image.description} has no known length (the "
                                                "server sent no Content-Length); give the volume "
                                                "a capacity"))
        return problems

    def _clone_problem(self, origin: libvirt.virStorageVol, props: dict) -> Problem | None:
        """A capacity smaller than the volume to copy (a copy never shrinks it)."""
        wanted, disk = self._bytes(props.get("capacity")), origin.info()[1]
        if isinstance(wanted, int) and wanted < disk:
            return Problem("capacity", _too_small(wanted, disk, f"volume {origin.path()}",
                                                  "the volume it copies"))
        return None

    def _model_for_create(self, conn: libvirt.virConnect, props: dict) -> dict:
        model = self.desired_model(props)
        if model.get("capacity") is None:
            backing = get_path(model, "backing_store.path")
            if backing:
                model["capacity"] = conn.storageVolLookupByPath(backing).info()[1]
        return model

    # ------------------------------------------------------------ lifecycle

    def make(self, conn, props: dict, what: str, uri: str):
        pool = self._pool(conn, props, uri)
        if props.get("source") is not None:
            vol = self._create_from_image(conn, pool, props, what, uri)
        elif props.get("clone_from") is not None:
            vol = self._create_clone(conn, pool, props, what, uri)
        else:
            with described(what, uri, "create"):
                model = self._model_for_create(conn, props)
                vol = _create(pool, model)
        try:
            self._grow(vol, props, what, uri)
        except BaseException:
            _delete_quietly(vol)
            raise
        return vol

    def apply(self, vol, olds: dict, news: dict, what: str, uri: str) -> None:
        # Never shrinks: Check refuses a smaller capacity, adopt refuses a volume larger than
        # asked, and Diff leaves a volume grown outside Pulumi as it is (and says so).
        self._grow(vol, news, what, uri, refuse_less=False)

    def remove(self, vol, outs: dict) -> None:
        vol.delete(0)

    def _create_from_image(self, conn, pool, props: dict, what: str, uri: str):
        """Create the volume sized for the image and stream the image into it; everything that
        can be told from the image's first bytes is checked before the volume exists."""
        try:
            # sha256 only when one is given to verify (it costs about 0.5 CPU-s per GiB)
            with upload.open_source(props["source"], digest=False) as image:
                model = self.desired_model(props)
                declared = get_path(model, "target.format.type")
                image.check_format(declared)
                wanted = self._bytes(model.get("capacity"))
                disk = image.info.disk_size
                if isinstance(wanted, int) and disk is not None and wanted < disk:
                    raise LibvirtError(f"cannot create {what} on {uri}: capacity: "
                                       f"{_too_small(wanted, disk, image.description)}")
                if image.size is None and wanted is None:
                    raise LibvirtError(
                        f"cannot size {what} on {uri}: {image.description} has no known "
                        "length (the server sent no Content-Length); give the volume a "
                        "capacity")
                size = image.size if image.size is not None else wanted
                if isinstance(wanted, int) and image.format == "raw" and wanted > size:
                    size = wanted  # a bigger disk than the raw image: holes at the end
                model["capacity"] = size
                return self._fill(conn, pool, props, model, image, what, uri, "upload")
        except upload.UploadError as exc:
            raise LibvirtError(f"cannot upload into {what} on {uri}: {exc}") from None

    def _fill(self, conn, pool, props: dict, model: dict, image, what: str, uri: str,
              verb: str):
        """Create the volume from ``model`` and stream ``image`` into it from byte 0; the
        volume is deleted if anything fails."""
        # Created sparse (libvirt preallocates the whole capacity when no allocation is
        # given): the image's zero runs then stay holes, and the volume costs the pool what the
        # image's data needs.
        model.setdefault("allocation", 0)
        if _probed(pool):
            # A raw file takes the image's bytes exactly (a pre-made qcow2 would keep stale
            # bytes past a small image); libvirt reads the format back from them.
            model.setdefault("target", {})["format"] = {"type": "raw"}
        _state, _capacity, _allocation, available = pool.info()
        need = image.info.space_needed
        if need is not None and need > available:
            raise LibvirtError(
                f"cannot create {what} on {uri}: the image needs {need} bytes "
                f"and the pool has {available} bytes available")
        with described(what, uri, "create"):
            vol = _create(pool, model)
        try:
            progress = upload.StderrProgress(label=f"{what}: {verb}")
            image.upload_into(conn, vol, progress=progress)
            _refresh(pool)  # libvirt re-reads the header: a qcow2's virtual size
            return pool.storageVolLookupByName(props["name"])
        except BaseException:
            _delete_quietly(vol)
            raise

    def _create_clone(self, conn, pool, props: dict, what: str, uri: str):
        """A copy with the source's format, capacity and backing file unless told otherwise."""
        origin_key = props["clone_from"]
        with described(f"volume '{origin_key}' (clone_from)", uri):
            origin = _volume_by_key_or_path(conn, origin_key) or (
                conn.storageVolLookupByPath(origin_key))
            origin_model = xml.from_xml("volume", origin.XMLDesc(0))
        problem = self._clone_problem(origin, props)
        if problem is not None:
            raise LibvirtError(f"cannot create {what} on {uri}: {problem}")
        model = self.desired_model(props)
        origin_format = get_path(origin_model, "target.format.type")
        wanted_format = get_path(model, "target.format.type") or origin_format
        if origin_format and not get_path(model, "target.format.type"):
            set_path(model, "target.format.type", origin_format)
        if origin_model.get("backing_store") and wanted_format == origin_format and (
            _probed(pool)
        ):
            # libvirt's copy flattens an overlay; its bytes copied as they are keep the backing
            # file (the qcow2 header names it), the format and the capacity.
            try:
                with upload.VolumeSource(conn, origin) as image:
                    model["capacity"] = image.size
                    return self._fill(conn, pool, props, model, image, what, uri, "copy")
            except upload.UploadError as exc:
                raise LibvirtError(f"cannot copy into {what} on {uri}: {exc}") from None
        model["capacity"] = origin.info()[1]  # grown afterwards when asked for more
        with described(what, uri, "clone"):
            return _create(pool, model, clone_of=origin)

    def _grow(self, vol: libvirt.virStorageVol, props: dict, what: str, uri: str,
              refuse_less: bool = True) -> None:
        """Resize to the asked capacity when it is more; less is refused (data would be lost)
        or, with ``refuse_less`` False, left as it is."""
        wanted = props.get("capacity")
        if wanted is None:
            return
        size = self._bytes(wanted)
        current = vol.info()[1]
        if isinstance(size, int) and size > current:
            with described(what, uri, "resize"):
                vol.resize(size, 0)
        elif isinstance(size, int) and size < current and refuse_less:
            raise LibvirtError(f"cannot shrink {what} on {uri} from {current} to {size} bytes")


# Where a volume's data can come from, other than nothing: one of them at most.
_DATA_FROM = ("source", "clone_from", "backing_store")


def _create(pool: libvirt.virStoragePool, model: dict,
            clone_of: libvirt.virStorageVol | None = None) -> libvirt.virStorageVol:
    """Create a volume (a copy of ``clone_of``) with libvirt's schema validation, so that an
    element the host does not know is refused, never dropped."""
    model = dict(model)
    model.setdefault("target", {})  # libvirt's schema requires <target>, even empty
    text = xml.to_xml("volume", model)
    flags = libvirt.VIR_STORAGE_VOL_CREATE_VALIDATE
    try:
        if clone_of is not None:
            return pool.createXMLFrom(text, clone_of, flags)
        return pool.createXML(text, flags)
    except libvirt.libvirtError as exc:
        # The document passed the schema, then libvirt refused the flag itself: 9.0's volume
        # parser after validating (unsupported flags (0x4) in function
        # virStorageVolDefParseXML), 11.3's dir backend when cloning (... in function
        # storageBackendCreateRaw, the volume not made). Create it without the flag.
        message = exc.get_error_message() or ""
        if exc.get_error_code() != libvirt.VIR_ERR_INVALID_ARG or (
            f"unsupported flags (0x{flags:x})" not in message
        ):
            raise
    if clone_of is not None:
        return pool.createXMLFrom(text, clone_of, 0)
    return pool.createXML(text, 0)


def _too_small(wanted: int, disk: int, description: str, origin: str = "the image") -> str:
    return (f"{wanted} bytes is less than the {disk} bytes of the disk in {description}: "
            f"give capacity={disk} or more, or leave capacity out to size the volume from "
            f"{origin}")


def _source_identity(props: dict) -> tuple:
    """What decides the volume's bytes: a new one means a new volume; headers do not."""
    source = props.get("source") or {}
    if not isinstance(source, dict):
        return (source,)
    return tuple(source.get(key) for key in ("url", "path", "sha256"))


def _volume_by_key_or_path(conn: libvirt.virConnect, key: str):
    if key is UNKNOWN:
        return None
    return or_none(conn.storageVolLookupByKey, key) or or_none(conn.storageVolLookupByPath, key)


def _probed(pool: libvirt.virStoragePool) -> bool:
    """Whether libvirt reads a volume's format from its bytes (file-based pools do)."""
    return xml.from_xml("pool", pool.XMLDesc(0)).get("type") in ("dir", "fs", "netfs")


BUSY_WAIT = 600.0  # seconds a refresh waits for the pool's other volumes to be made


def _refresh(pool: libvirt.virStoragePool) -> None:
    """``pool.refresh(0)``, waiting while libvirt refuses it because the pool has asynchronous
    jobs running: another volume of the pool being built, cloned or uploaded meanwhile (the
    engine creates independent resources concurrently)."""
    deadline = time.monotonic() + BUSY_WAIT
    pause = 0.05
    while True:
        try:
            pool.refresh(0)
            return
        except libvirt.libvirtError as exc:
            if "asynchronous jobs running" not in message(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


def _delete_quietly(vol: libvirt.virStorageVol) -> None:
    try:
        vol.delete(0)
    except libvirt.libvirtError:
        pass  # the original error says more
