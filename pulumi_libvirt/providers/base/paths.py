"""Dotted paths into plain models, the items of a list as the user wrote them, and the
engine's numbers made whole again."""

from __future__ import annotations

from typing import Any

from ... import xml
from ...xml.spec import field_of


def get_path(model: Any, path: str) -> Any:
    for step in path.split("."):
        if not isinstance(model, dict):
            return None
        model = model.get(step)
    return model


def set_path(model: dict, path: str, value: Any) -> None:
    steps = path.split(".")
    for step in steps[:-1]:
        inner = model.get(step)
        if not isinstance(inner, dict):
            inner = {} if inner is None or inner is True else {"value": inner}
            model[step] = inner
        model = inner
    model[steps[-1]] = value


def items_as_written(kind: str, parent: Any, path: str,
                     where: str = "") -> list[tuple[str, dict]]:
    """The items of the list at model path ``path`` (``ips``, ``devices.filesystems``) in
    ``parent``, the dict that holds it, each with its path as the user wrote it (``where`` is
    the parent's): ``ips[0]``, or ``ip`` for one item written under the list's singular."""
    if not isinstance(parent, dict):
        return []
    *head, last = path.split(".")
    spec = xml.load(kind)
    for step in head:
        spec = spec.fields[step].spec
    found = []
    for key, value in parent.items():
        field, singular = field_of(spec, key)
        if field is None or field.key != last or value is None:
            continue
        at = f"{where}.{key}" if where else key
        if isinstance(value, (list, tuple)) and not singular:
            found += [(f"{at}[{i}]", v) for i, v in enumerate(value) if isinstance(v, dict)]
        elif isinstance(value, dict):
            found.append((at, value))
    return found


def whole_numbers(value: Any) -> Any:
    """Whole floats as ints, at any depth (the engine's numbers are floats)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [whole_numbers(v) for v in value]
    return value
