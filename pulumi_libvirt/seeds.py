"""What seed disks hold: the files made from a resource's inputs, and checks of their formats.

Pure (no libvirt, no Pulumi): cloud-init NoCloud (``user-data``, ``meta-data``,
``network-config``, ``vendor-data``), Ignition (one JSON config) and Combustion
(``combustion/script``, optionally ``ignition/config.ign``). Error messages name the input and
the line, never the content: user data carries passwords and keys.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import yaml

Check = Callable[[str, Any], list[str]]

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_IGNITION_VERSION = re.compile(r"^\d+\.\d+\.\d+(-experimental)?$")


# --------------------------------------------------------------------------------------------
# Hashes: changes are decided from the inputs (ISO bytes carry timestamps)


def content_hash(kind: str, values: Mapping[str, Any]) -> str:
    """sha256 of a seed's content inputs, independent of key order in dicts."""
    canonical = json.dumps({"kind": kind, **values}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def text(value: str | Mapping | None) -> bytes:
    """A file's bytes from a string (as given) or a dict (JSON, which YAML readers read too)."""
    if value is None:
        return b""
    if isinstance(value, Mapping):
        return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()
    return value.encode()


# --------------------------------------------------------------------------------------------
# cloud-init NoCloud


def cloud_init_files(user_data: str | None, meta_data: str | Mapping | None,
                     network_config: str | Mapping | None, vendor_data: str | None,
                     hostname: str | None) -> dict[str, bytes]:
    """The NoCloud files: ``user-data`` and ``meta-data`` always (empty user data included).

    Without ``meta_data`` the meta-data holds an ``instance-id`` made from a hash of the other
    contents (so cloud-init sees a new instance when they change) and ``local-hostname`` when
    ``hostname`` is given.
    """
    files = {"user-data": text(user_data)}
    if meta_data is None:
        digest = content_hash("cloud-init", {"user_data": user_data, "vendor_data": vendor_data,
                                             "network_config": network_config,
                                             "hostname": hostname})
        meta = f"instance-id: iid-{digest[:16]}\n"
        if hostname:
            meta += f"local-hostname: {hostname}\n"
        files["meta-data"] = meta.encode()
    else:
        files["meta-data"] = text(meta_data)
    if network_config is not None:
        files["network-config"] = text(network_config)
    if vendor_data is not None:
        files["vendor-data"] = text(vendor_data)
    return files


def check_user_data(name: str, value: Any) -> list[str]:
    """User or vendor data: ``#cloud-config`` must be a YAML mapping; scripts, ``#include``,
    MIME multipart and jinja templates pass as they are."""
    if not isinstance(value, str):
        return [f"expected a string, got {type(value).__name__}"]
    if not value.lstrip("\ufeff").startswith("#cloud-config"):
        return []
    return _yaml_mapping(value, "#cloud-config", allow_empty=True)


def check_meta_data(name: str, value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return []
    if not isinstance(value, str):
        return [f"expected a string or a dict, got {type(value).__name__}"]
    return _yaml_mapping(value, "meta-data", allow_empty=True)


def check_network_config(name: str, value: Any) -> list[str]:
    """cloud-init network configuration: a YAML mapping of version 1 or 2 (optionally under a
    top-level ``network`` key)."""
    if isinstance(value, str):
        problems = _yaml_mapping(value, "network-config", allow_empty=False)
        if problems:
            return problems
        value = yaml.safe_load(value)
    elif not isinstance(value, Mapping):
        return [f"expected a string or a dict, got {type(value).__name__}"]
    if isinstance(value.get("network"), Mapping) and "version" not in value:
        value = value["network"]
    version = value.get("version")
    if version is None:
        return ["needs a 'version': 1 or 2 (cloud-init's network config format)"]
    if version not in (1, 2) or isinstance(version, bool):
        return [f"version must be 1 or 2, got {version!r}"]
    return []


def check_hostname(name: str, value: Any) -> list[str]:
    if not isinstance(value, str):
        return [f"expected a string, got {type(value).__name__}"]
    if not _HOSTNAME.match(value):
        return [f"{value!r} is not a valid host name (letters, digits and '-' in dot-separated "
                "labels of at most 63 characters)"]
    return []


def _yaml_mapping(value: str, what: str, allow_empty: bool) -> list[str]:
    try:
        doc = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        return [f"{what} is not valid YAML{where}: {problem}"]
    if doc is None and allow_empty:
        return []
    if not isinstance(doc, dict):
        got = "nothing" if doc is None else f"a {type(doc).__name__}"
        return [f"{what} must be a YAML mapping (key: value lines), got {got}"]
    return []


# --------------------------------------------------------------------------------------------
# Ignition and Combustion


def ignition_bytes(config: str | Mapping) -> bytes:
    return text(config)


def check_ignition(name: str, value: Any) -> list[str]:
    """An Ignition config: a JSON object with ``ignition.version`` (such as "3.4.0")."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            return [f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]
    if not isinstance(value, Mapping):
        return [f"must be a JSON object (or a dict), got {type(value).__name__}"]
    section = value.get("ignition")
    version = section.get("version") if isinstance(section, Mapping) else None
    if version is None:
        return ["needs ignition.version, for example {'ignition': {'version': '3.4.0'}}"]
    if not isinstance(version, str) or not _IGNITION_VERSION.match(version):
        return [f"ignition.version must look like '3.4.0', got {version!r}"]
    return []


def combustion_files(script: str, ignition: str | Mapping | None) -> dict[str, bytes]:
    files = {"combustion/script": text(script)}
    if ignition is not None:
        files["ignition/config.ign"] = text(ignition)
    return files


def check_script(name: str, value: Any) -> list[str]:
    if not isinstance(value, str):
        return [f"expected a string, got {type(value).__name__}"]
    if not value.startswith("#!"):
        return ["must start with an interpreter line such as '#!/bin/bash' (Combustion runs "
                "the script as a program)"]
    return []
