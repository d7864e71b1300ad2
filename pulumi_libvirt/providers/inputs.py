"""Provider-only inputs (not libvirt XML): their rows, and what every resource does with them.

A row (``Input``) gives a name, a type, the documentation, a default and how a change is
applied; a dict-valued input gives its keys as rows too (``keys``), a string input its allowed
values, an integer its smallest value. The same rows drive checking (here), the typed API and
``schema.json``. Most inputs are top-level keywords (``running``). A resource may also take
provider-only keys inside the items of its XML (``ResourceLogic.nested_inputs``:
``wait_for_ip`` in each of ``devices.interfaces``): they are checked here, taken out before the
XML is written, and put back into the outputs, which keep the user's inputs.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import xml
from ..xml import UNKNOWN, Problem, has_unknown
from ..xml.spec import ElementSpec

# Model path (list items left out: ``devices.interfaces``) -> the provider-only keys its items
# take beside libvirt's.
Nested = Mapping[str, tuple["Input", ...]]


@dataclass(frozen=True)
class Input:
    """A provider-only input: not libvirt XML, documented as such."""

    name: str
    type: str  # "bool" | "str" | "int" | "dict" | "str|dict" | "bool|dict"
    doc: str
    default: Any = None
    on_change: str = "update"  # "update" in place, "replace", or "none" (nothing to do now)
    live: bool = False  # read back from libvirt on refresh (autostart, running)
    secret: bool = False  # kept secret in the state even when given in plain text
    values: tuple[str, ...] = ()  # the strings allowed (a ``Literal`` in the typed API)
    keys: tuple[Input, ...] = ()  # the keys of its dict form, each a row of its own
    minimum: int | None = None  # the smallest integer allowed
    unit: str = ""  # what an integer counts ("seconds"), for messages


PY_TYPES = {"bool": (bool,), "str": (str,), "int": (int,), "dict": (dict,),
            "str|dict": (str, dict), "bool|dict": (bool, dict)}
TYPE_WORDS = {"bool": "a boolean", "str": "a string", "int": "an integer", "dict": "a dict",
              "str|dict": "a string or a dict", "bool|dict": "a boolean or a dict"}


def listed(names: Iterable[str], last: str = "or") -> str:
    """``'a'``, ``'a' or 'b'``, ``'a', 'b' or 'c'``."""
    quoted = [repr(name) for name in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} {last} {quoted[-1]}"


def expected(item: Input) -> str:
    """What a value of ``item`` may be, in words."""
    words = TYPE_WORDS[item.type]
    if item.keys:
        words += " with " + listed((k.name for k in item.keys), "and")
    return words


def input_problems(item: Input, value: Any, path: str) -> list[Problem]:
    """What is wrong with ``value`` for the row ``item`` (at ``path``, as the user wrote it);
    values not known yet (preview) pass."""
    if value is None or value is UNKNOWN:
        return []
    allowed = PY_TYPES[item.type]
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        if has_unknown(value):
            return []
        return [Problem(path, f"expected {expected(item)}, got {type(value).__name__} "
                              f"{value!r}")]
    found = []
    if isinstance(value, str) and item.values and value not in item.values:
        found.append(Problem(path, "expected one of " + ", ".join(map(repr, item.values))
                             + f", got {value!r}"))
    if (item.minimum is not None and isinstance(value, int) and not isinstance(value, bool)
            and value < item.minimum):
        unit = f" {item.unit}" if item.unit else ""
        found.append(Problem(path, f"expected {item.minimum} or more{unit}, got {value}"))
    if isinstance(value, dict) and item.keys:
        rows = {row.name: row for row in item.keys}
        for key, inner in value.items():
            if key in rows:
                found.extend(input_problems(rows[key], inner, f"{path}.{key}"))
            else:
                found.append(Problem(f"{path}.{key}",
                                     f"unknown key {key!r}: expected {listed(rows)}"))
    return found


# ---------------------------------------------------------------- keys inside XML items


def items_at(kind: str, model: Any, path: str) -> list[tuple[str, dict]]:
    """The dicts at a model path (``devices.interfaces``: each interface), each with where it
    is written (``devices.interfaces[0]``; a list's singular or a lone item as written)."""
    found: list[tuple[str, dict]] = []
    _walk(xml.load(kind), model, path.split("."), "", found)
    return found


def _walk(spec: ElementSpec, value: Any, steps: list[str], written: str,
          found: list[tuple[str, dict]]) -> None:
    if not isinstance(value, dict):
        return
    if not steps:
        found.append((written, value))
        return
    child = spec.fields[steps[0]]
    for key in _spellings(spec, steps[0]):
        inner = value.get(key)
        where = f"{written}.{key}" if written else key
        if isinstance(inner, (list, tuple)):
            for index, item in enumerate(inner):
                _walk(child.spec, item, steps[1:], f"{where}[{index}]", found)
        else:
            _walk(child.spec, inner, steps[1:], where, found)


def _spellings(spec: ElementSpec, key: str) -> list[str]:
    """A list's key and its singular (``interfaces``, ``interface``)."""
    return [key, *(one for one, plural in spec.singulars.items() if plural == key)]


def own_paths(nested: Nested) -> frozenset[str]:
    """The paths that take nested inputs and those above them: where the typed API and the
    schema give an element a type of its own (a spec shared with other paths would carry the
    keys there too)."""
    return frozenset(".".join(path.split(".")[:n]) for path in nested
                     for n in range(1, path.count(".") + 2))


def nested_problems(kind: str, nested: Nested, props: dict) -> list[Problem]:
    found = []
    for path, rows in nested.items():
        for where, item in items_at(kind, props, path):
            for row in rows:
                found.extend(input_problems(row, item.get(row.name), f"{where}.{row.name}"))
    return found


def strip_nested(kind: str, nested: Nested, model: dict) -> dict:
    """The model without the nested inputs (``model`` is a copy: changed in place)."""
    for path, rows in nested.items():
        for _where, item in items_at(kind, model, path):
            for row in rows:
                item.pop(row.name, None)
    return model


def nested_values(kind: str, nested: Nested, props: dict) -> dict[tuple[str, str], list]:
    """(top-level key, row name) -> where and what the user wrote of that nested input under
    that key, in order."""
    found: dict[tuple[str, str], list] = {}
    for path, rows in nested.items():
        for where, item in items_at(kind, props, path):
            for row in rows:
                if item.get(row.name) is not None:
                    found.setdefault((path.split(".")[0], row.name), []).append(
                        (where, item[row.name]))
    return found


def restore_nested(kind: str, nested: Nested, outs: dict, props: dict) -> None:
    """Put the nested inputs of ``props`` into the items of ``outs`` they belong to (list
    items matched as projection matches them: by identity, such as a MAC, else position)."""
    plain = strip_nested(kind, nested, copy.deepcopy(props))
    for path, rows in nested.items():
        names = [row.name for row in rows]
        _restore(kind, xml.load(kind), outs, props, plain, path.split("."), "", names)


def _restore(kind: str, spec: ElementSpec, out: Any, given: Any, plain: Any, steps: list[str],
             path: str, names: list[str]) -> None:
    if not (isinstance(out, dict) and isinstance(given, dict)):
        return
    if not steps:
        out.update({name: given[name] for name in names if given.get(name) is not None})
        return
    child, here = spec.fields[steps[0]], f"{path}.{steps[0]}" if path else steps[0]
    for key in _spellings(spec, steps[0]):
        mine, theirs, bare = out.get(key), given.get(key), plain.get(key)
        if isinstance(mine, list) and isinstance(theirs, (list, tuple)):
            for index, match in enumerate(xml.match_items(kind, here, mine, list(bare))):
                if match is not None:
                    _restore(kind, child.spec, mine[match], theirs[index], bare[index],
                             steps[1:], here, names)
        else:
            _restore(kind, child.spec, mine, theirs, bare, steps[1:], here, names)
