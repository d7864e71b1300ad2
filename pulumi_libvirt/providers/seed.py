"""Seed volumes: bytes made from the inputs, streamed into a raw volume a guest reads at boot.

``CloudInitDisk`` (a NoCloud ISO labelled ``cidata``), ``Ignition`` (a JSON config handed to
the guest through QEMU's firmware config) and ``Combustion`` (an ISO labelled ``combustion``)
share everything here: one content hash decides changes (ISO bytes carry timestamps, so the
image itself is never compared), and a change writes the new bytes into the *same* volume (its
key and path stay, so a domain that uses it needs no change). The volume only grows: a smaller
image is padded (zeros after an ISO, spaces after JSON) to the volume's size. ``refresh``
notices bytes changed behind Pulumi's back; the next ``up`` writes them again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar

import libvirt

from .. import iso, seeds, upload, xml
from ..connection import LibvirtError, described
from ..xml import Problem, has_unknown
from .base import Input, ResourceLogic, get_path
from .volume import VolumeLogic, _create, _delete_quietly

# Seeds larger than this are not read back on refresh to look for changes made outside Pulumi.
_DRIFT_CHECK_LIMIT = 64 * 1024 * 1024
_CHANGED_OUTSIDE = "changed outside Pulumi"
_POOL = next(i for i in VolumeLogic.inputs if i.name == "pool")


class SeedLogic(VolumeLogic):
    """A raw volume whose bytes are generated from the content inputs."""

    inputs = (_POOL,)
    contents: ClassVar[tuple[Input, ...]] = ()  # the inputs the bytes are made from
    checks: ClassVar[dict[str, seeds.Check]] = {}  # input name -> format check
    required: ClassVar[dict[str, str]] = {}  # content input -> what it is, when required
    pad: ClassVar[bytes] = b"\0"  # fills the volume after a smaller image
    aliases = {"permissions": "target.permissions"}
    computed = {
        **VolumeLogic.computed,
        "content_sha256": ("string", "sha256 of the content inputs: a change rewrites the "
                           "volume (secret: derived from them)."),
        "image_sha256": ("string", "sha256 of the bytes written to the volume, checked on "
                         "refresh (secret)."),
    }
    secret_outputs = ("content_sha256", "image_sha256")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.inputs = (_POOL, *cls.contents)

    def __init__(self, configured_uri: str | None = None):
        super().__init__(configured_uri)
        self._written: str | None = None  # sha256 of the bytes this call wrote

    @classmethod
    def xml_keys(cls) -> list[str]:
        return ["name"]  # the rest of the volume XML is ours: a raw volume sized to the image

    def describe(self, props: dict) -> str:
        return f"{self.noun} '{props.get('name')}' in pool '{props.get('pool')}'"

    def image(self, props: dict) -> bytes:
        """The bytes to write, from the content inputs."""
        raise NotImplementedError

    def content_sha256(self, props: dict) -> str:
        return seeds.content_hash(self.type_name, {i.name: props.get(i.name)
                                                    for i in self.contents})

    # ------------------------------------------------------------ check and diff

    def validate(self, olds: dict, news: dict) -> list[Problem]:
        problems = []
        wanted = {"name": "the volume's name", "pool": "the pool's name", **self.required}
        for key, what in wanted.items():
            if news.get(key) is None:
                problems.append(Problem(key, f"required: {what}"))
        types = {i.name: i.type for i in self.contents}
        for name, check in self.checks.items():
            value = news.get(name)
            if value is None or has_unknown(value):
                continue
            if not isinstance(value, (str, Mapping) if "dict" in types[name] else str):
                continue  # the type is reported by the base check
            problems.extend(Problem(name, message) for message in check(name, value))
        return problems

    def diff(self, olds: dict, news: dict):
        names = {i.name for i in self.contents}
        result = ResourceLogic.diff(
            self, {k: v for k, v in olds.items() if k not in names},
            {k: v for k, v in news.items() if k not in names})
        content = {k: news.get(k) for k in names}
        if has_unknown(content) or self.content_sha256(news) != olds.get("content_sha256"):
            changed = [k for k in sorted(names) if olds.get(k) != news.get(k)]
            given = [k for k in sorted(names) if news.get(k) is not None]
            result.changes = sorted({*result.changes, *(changed or given)})
        return result

    # ------------------------------------------------------------ libvirt

    def make(self, conn, props: dict, what: str, uri: str):
        data = self.image(props)  # built before anything is made: a failure leaves nothing
        pool = self._pool(conn, props, uri)
        model = self.desired_model(props)
        model["capacity"] = len(data)
        model.setdefault("target", {})["format"] = {"type": "raw"}
        with described(what, uri, "create"):
            vol = _create(pool, model)
        try:
            self._write(conn, vol, data, what, uri)
        except BaseException:
            _delete_quietly(vol)
            raise
        return vol

    def apply(self, vol, olds: dict, news: dict, what: str, uri: str) -> None:
        """Write the new bytes into the same volume (adopt: into the existing one)."""
        fmt = get_path(xml.from_xml("volume", vol.XMLDesc(0)), "target.format.type")
        if fmt not in (None, "raw", "iso"):
            raise LibvirtError(f"cannot use {what} on {uri}: it is a {fmt} volume and a seed "
                               "must be raw; remove it or choose another name")
        self._write(vol.connect(), vol, self.image(news), what, uri)

    def _write(self, conn, vol, data: bytes, what: str, uri: str) -> None:
        capacity = vol.info()[1]
        if len(data) > capacity:
            with described(what, uri, "resize"):
                vol.resize(len(data), 0)
            capacity = vol.info()[1]
        padded = data + self.pad * (capacity - len(data))
        try:
            result = upload.BytesSource(padded, f"the contents of {what}").upload_into(conn, vol)
        except upload.UploadError as exc:
            raise LibvirtError(f"cannot write {what} on {uri}: {exc}") from None
        self._written = result.sha256

    def snapshot(self, vol, props: dict, user_keys) -> dict:
        outs = super().snapshot(vol, props, user_keys)
        if self._written is not None:  # create, update, adopt: what this call wrote
            outs["content_sha256"] = self.content_sha256(props)
            outs["image_sha256"] = self._written
            return outs
        outs["content_sha256"] = props.get("content_sha256")  # refresh
        outs["image_sha256"] = props.get("image_sha256")
        live = _volume_sha256(vol)
        if outs["image_sha256"] and live is not None and live != outs["image_sha256"]:
            outs["content_sha256"] = _CHANGED_OUTSIDE  # the next up writes the seed again
        return outs


def _volume_sha256(vol: libvirt.virStorageVol) -> str | None:
    """sha256 of a small volume's bytes, or None when it is too big to read on every refresh."""
    capacity = vol.info()[1]
    if capacity > _DRIFT_CHECK_LIMIT:
        return None
    digest = hashlib.sha256()
    stream = vol.connect().newStream(0)
    try:
        vol.download(stream, 0, capacity, 0)
        stream.recvAll(lambda _stream, data, _opaque: digest.update(data), None)
        stream.finish()
    except libvirt.libvirtError:
        try:
            stream.abort()
        except libvirt.libvirtError:
            pass
        return None
    return digest.hexdigest()


class CloudInitDiskLogic(SeedLogic):
    """A cloud-init NoCloud seed: an ISO labelled cidata in a raw volume."""

    type_name = "CloudInitDisk"
    noun = "cloud-init disk"
    contents = (
        Input("user_data", "str", "cloud-init user data (#cloud-config YAML, a script, MIME "
              "multipart...); empty when not given. Kept secret.", secret=True),
        Input("meta_data", "str|dict", "NoCloud meta-data (YAML text or a dict); default: an "
              "instance-id made from a hash of the other contents, and local-hostname from "
              "`hostname`."),
        Input("network_config", "str|dict", "cloud-init network config, version 1 or 2 (YAML "
              "text or a dict)."),
        Input("vendor_data", "str", "cloud-init vendor data. Kept secret.", secret=True),
        Input("hostname", "str", "local-hostname in the default meta-data."),
    )
    checks = {
        "user_data": seeds.check_user_data,
        "vendor_data": seeds.check_user_data,
        "meta_data": seeds.check_meta_data,
        "network_config": seeds.check_network_config,
        "hostname": seeds.check_hostname,
    }

    def validate(self, olds: dict, news: dict) -> list[Problem]:
        problems = super().validate(olds, news)
        if news.get("hostname") is not None and news.get("meta_data") is not None:
            problems.append(Problem("hostname", "only used for the default meta-data: with "
                                    "meta_data given, write local-hostname in it"))
        return problems

    def image(self, props: dict) -> bytes:
        return iso.build_iso("cidata", seeds.cloud_init_files(
            props.get("user_data"), props.get("meta_data"), props.get("network_config"),
            props.get("vendor_data"), props.get("hostname")))


class IgnitionLogic(SeedLogic):
    """An Ignition config (Fedora CoreOS, Flatcar) in a raw volume, for QEMU's fw_cfg."""

    type_name = "Ignition"
    noun = "Ignition config"
    contents = (Input("config", "str|dict", "The Ignition config: JSON text or a dict, with "
                      "ignition.version. Kept secret.", secret=True),)
    checks = {"config": seeds.check_ignition}
    required = {"config": "the Ignition config (JSON text or a dict)"}
    pad = b" "  # JSON ends where its object ends: trailing spaces are allowed

    def image(self, props: dict) -> bytes:
        return seeds.text(props["config"])


class CombustionLogic(SeedLogic):
    """A Combustion seed (openSUSE MicroOS, Leap Micro): an ISO labelled combustion."""

    type_name = "Combustion"
    noun = "Combustion disk"
    contents = (
        Input("script", "str", "The combustion script (combustion/script), starting with "
              "'#!'. Kept secret.", secret=True),
        Input("ignition", "str|dict", "An Ignition config to ship beside it "
              "(ignition/config.ign): JSON text or a dict. Kept secret.", secret=True),
    )
    checks = {"script": seeds.check_script, "ignition": seeds.check_ignition}
    required = {"script": "the combustion script"}

    def image(self, props: dict) -> bytes:
        return iso.build_iso("combustion",
                             seeds.combustion_files(props["script"], props.get("ignition")),
                             executable=["combustion/script"])
