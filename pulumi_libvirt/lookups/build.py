"""Typed result objects filled from XML-core models, declaratively.

A result class is a frozen dataclass; each field says where its value sits in the model (a key
path, the field's own name by default) and, when the model's value needs it, how to convert it.
``build(cls, model)`` reads every field by its annotation: nested result classes and lists of
them are built the same way, ``int`` fields accept libvirt's hex strings, ``bool`` fields its
yes/no spellings.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def at(path: str | None = None, convert: Callable[[Any], Any] | None = None,
       default: Any = None, repr: bool = True) -> Any:
    """A result field read from ``path`` of the model (default: the field's name), through
    ``convert`` when given. A list or dict default is a fresh empty one per instance;
    ``repr=False`` keeps bulky fields (the model, the XML) out of the result's repr."""
    metadata = {"path": path, "convert": convert}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=type(default), metadata=metadata, repr=repr)
    return dataclasses.field(default=default, metadata=metadata, repr=repr)


def get(model: Any, path: str) -> Any:
    """The value at a dotted key path, or None. A step ``key[name=value]`` picks the first item
    of the list under ``key`` whose ``name`` is ``value`` (``capabilities[type=pci].bus``),
    ``key[0]`` the first item."""
    for step in path.split("."):
        condition = None
        if step.endswith("]"):
            step, _, condition = step[:-1].partition("[")
        if not isinstance(model, dict):
            return None
        model = model.get(step)
        if condition is not None:
            items = model if isinstance(model, list) else []
            if condition.isdigit():
                model = items[int(condition)] if int(condition) < len(items) else None
                continue
            key, value = condition.split("=", 1)
            model = next((i for i in items if isinstance(i, dict) and i.get(key) == value), None)
    return model


def pluck(key: str) -> Callable[[Any], list[str]]:
    """A converter: the ``key`` of each item of a list (``features`` -> their names)."""
    def convert(items: Any) -> list[str]:
        items = items if isinstance(items, list) else []
        return [str(i[key]) for i in items if isinstance(i, dict) and i.get(key) is not None]
    return convert


def present(value: Any) -> bool:
    """A converter: whether the element is there at all."""
    return value is not None


def number(value: Any) -> int | None:
    """An int from libvirt's text: ``17``, ``'17'``, ``'0x1af4'``; None stays None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        value = value.get("value")
    text = str(value).strip()
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return None


def flag(value: Any) -> bool | None:
    """True/False from a model boolean or libvirt's spellings (yes/no, on/off, 1/0)."""
    if value is None or isinstance(value, bool):
        return value
    return str(value).lower() in ("yes", "on", "1", "true")


def text(value: Any) -> str | None:
    """The text of a model value (a dict's ``value``)."""
    if isinstance(value, dict):
        value = value.get("value")
    return None if value is None or value is True else str(value)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _inner(annotation: Any) -> tuple[str, Any]:
    """('list', item type) | ('one', type), with ``X | None`` unwrapped."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        origin = typing.get_origin(annotation)
    if origin is list:
        return "list", typing.get_args(annotation)[0]
    return "one", annotation


def _convert_one(kind: Any, value: Any) -> Any:
    if value is None:
        return None
    if dataclasses.is_dataclass(kind):
        return build(typing.cast(type, kind),
                     value if isinstance(value, dict) else {"value": value})
    if kind is int:
        return number(value)
    if kind is bool:
        return flag(value)
    if kind is str:
        return text(value)
    return value


def build(cls: type[T], model: Any) -> T:  # cls: a dataclass
    """An instance of the result class ``cls`` read from ``model``."""
    if not isinstance(model, dict):
        model = {}
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not field.init:
            continue
        path = field.metadata.get("path") or field.name
        convert = field.metadata.get("convert")
        value = model if path == "." else get(model, path)
        if convert is not None:
            values[field.name] = convert(value)
            continue
        shape, kind = _inner(_hints(typing.cast(type, cls))[field.name])
        if shape == "list":
            items = value if isinstance(value, list) else [] if value is None else [value]
            values[field.name] = [_convert_one(kind, item) for item in items]
        else:
            converted = _convert_one(kind, value)
            if converted is not None:
                values[field.name] = converted
    return cls(**values)
