"""The network's XML model as libvirt reads it back: the spec at a model path, what libvirt
drops as meaningless (empty lists, a ``dns`` or ``dhcp`` left empty), every list under its own
key. Pure: no libvirt calls."""

from __future__ import annotations

import copy
from typing import Any

from ... import xml
from ...xml.spec import Child, field_of

KIND = "network"

# Containers that mean nothing once their live-edited lists are gone.
EMPTY_MEANS_ABSENT = ("dhcp", "dns")


def spec_at(path: str) -> Any:
    """The spec of the element at model path ``path`` (``ips.dhcp.hosts``)."""
    spec = xml.load(KIND)
    for step in path.split("."):
        spec = spec.fields[step].spec
    return spec


def pruned(model: dict) -> dict:
    """``model`` without empty lists, nor a ``dns`` or ``dhcp`` left empty."""
    def prune(value: Any) -> Any:
        if isinstance(value, list):
            return [prune(item) for item in value]
        if not isinstance(value, dict):
            return value
        result = {}
        for key, item in value.items():
            item = prune(item)
            if item == [] or (item == {} and key in EMPTY_MEANS_ABSENT):
                continue
            result[key] = item
        return result

    return prune(model)


def drop(value: Any, steps: list[str]) -> None:
    """Remove, in place, what model path ``steps`` reaches (in every item of a list on the
    way), and a ``dns`` or ``dhcp`` that leaves empty."""
    if isinstance(value, list):
        for item in value:
            drop(item, steps)
        return
    if not isinstance(value, dict):
        return
    if len(steps) == 1:
        value.pop(steps[0], None)
        return
    inner = value.get(steps[0])
    drop(inner, steps[1:])
    if inner == {} and steps[0] in EMPTY_MEANS_ABSENT:
        del value[steps[0]]


def plural_form(model: dict) -> dict:
    """A copy of ``model`` with every list under its own key (``ip={...}`` as ``ips=[{...}]``):
    the form libvirt's XML reads back as."""
    def plural(spec, value: Any) -> Any:
        if not isinstance(value, dict):
            return copy.deepcopy(value) if isinstance(value, list) else value
        result: dict = {}
        for key, item in value.items():
            field, singular = field_of(spec, key)
            if not isinstance(field, Child) or item is None:
                result[key] = copy.deepcopy(item) if isinstance(item, (dict, list)) else item
            elif field.many:
                items = item if isinstance(item, (list, tuple)) and not singular else [item]
                result.setdefault(field.key, []).extend(plural(field.spec, i) for i in items)
            else:
                result[key] = plural(field.spec, item)
        return result

    return plural(xml.load(KIND), model)


def underived(merged: dict, written: dict) -> dict:
    """``merged`` (the live model with the user's values over it) without what libvirt derives
    from other values, unless the user wrote it: ``forward.dev``, which libvirt sets to the
    first forward interface and refuses when it names another (a redefinition that changes the
    list must let libvirt derive it again)."""
    forward = merged.get("forward")
    if not isinstance(forward, dict) or "dev" not in forward or not forward.get("interfaces"):
        return merged
    if isinstance(written.get("forward"), dict) and "dev" in written["forward"]:
        return merged
    return {**merged, "forward": {k: v for k, v in forward.items() if k != "dev"}}
