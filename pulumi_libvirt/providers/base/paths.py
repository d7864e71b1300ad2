"""Dotted paths into plain models, and the engine's numbers made whole again."""

from __future__ import annotations

from typing import Any


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


def whole_numbers(value: Any) -> Any:
    """Whole floats as ints, at any depth (the engine's numbers are floats)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [whole_numbers(v) for v in value]
    return value
