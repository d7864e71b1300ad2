"""Compare models the way libvirt means them, and project live state onto a user's intent.

``canonical`` reduces a model value to a form where two spellings of one meaning are equal
(``2 GiB`` and ``2097152`` KiB, ``q35`` and ``pc-q35-7.2``, ``"0755"`` and ``0o755``, ``"yes"``
and ``True``). ``project`` gives the live values in the shape of what the user wrote, keeping
the user's spelling where the meaning is the same, so that a second preview is empty and drift
shows exactly where it is. ``differences`` lists the changed field paths
(``changed_values`` with list indexes and both values).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from . import policy
from .check import UNKNOWN
from .convert import EXTRA
from .convert import canonical as canonical_xml
from .spec import Attr, Child, ElementSpec, ValueType, field_of, load


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _items(value: Any) -> list:
    """A list's value: a list, or one item written alone (``source={...}`` for ``sources``)."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _one_item(field: Any, value: Any) -> bool:
    """Whether ``value`` is one item of a list field, written without the list."""
    return isinstance(field, Child) and field.many and not isinstance(value, (list, tuple))


def _plural_keys(spec: ElementSpec, value: Any) -> Any:
    """A dict with every list written under its own key as a list (singulars folded in)."""
    if not isinstance(value, dict):
        return value
    result: dict = {}
    for key, item in value.items():
        field, singular = field_of(spec, key)
        if item is None or not isinstance(field, Child) or not field.many:
            result[key] = item
        elif field.key in result:
            result[field.key] = _items(result[field.key] or []) + _items(item)
        else:
            result[field.key] = _items(item) if singular or _one_item(field, item) else item
    return result


# ---------------------------------------------------------------- canonical values


def canonical_value(kind: str, vtype: ValueType | None, value: Any, path: str) -> Any:
    """A scalar in comparable form."""
    if value is None or value is UNKNOWN:
        return value
    normalize = policy.NORMALIZERS.get((kind, path))
    if normalize is not None:
        value = normalize(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    tkind = vtype.kind if vtype is not None else "str"
    if tkind == "bool":
        true, false = vtype.values
        return True if value in (True, true) else False if value in (False, false) else value
    if tkind in ("int", "float"):
        if isinstance(value, str):
            try:
                return int(value, 16) if value.lower().startswith("0x") else int(value)
            except ValueError:
                try:
                    return float(value) if tkind == "float" else value
                except ValueError:
                    return value
        return value
    if tkind == "octal":
        if isinstance(value, str):
            try:
                return int(value, 8)
            except ValueError:
                return value
        return value
    if isinstance(value, bool):
        return ("on" if value else "off") if vtype and "on" in vtype.values else (
            "yes" if value else "no"
        )
    return str(value)


def to_bytes(kind: str, value: Any) -> Any:
    """A scaled integer (``{"value": 2, "unit": "GiB"}`` or a bare number) in bytes."""
    unit = policy.DEFAULT_UNIT.get(kind, "bytes")
    if isinstance(value, dict):
        unit = value.get("unit") or unit
        value = value.get("value")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    factor = policy.UNITS.get(str(unit).lower())
    if not isinstance(value, int) or factor is None:
        return (value, unit)
    return value * factor


# Within one project() or differences() call, each dict is made canonical once: comparing
# level by level would otherwise redo every subtree at every level above it. Keyed by the
# object's id (the memo holds the object, so the id stays its own), the spec and the path.
_MEMO: ContextVar[dict | None] = ContextVar("pulumi_libvirt_canonical_memo", default=None)


@contextmanager
def _memoized() -> Iterator[None]:
    token = _MEMO.set({}) if _MEMO.get() is None else None
    try:
        yield
    finally:
        if token is not None:
            _MEMO.reset(token)


def canonical(kind: str, spec: ElementSpec, value: Any, path: str = "") -> Any:
    """An element's model value in comparable form."""
    if value is None or value is UNKNOWN:
        return value
    memo = _MEMO.get()
    if memo is None or not isinstance(value, dict):
        return _canonical(kind, spec, value, path)
    key = (id(value), id(spec), path)
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = (value, _canonical(kind, spec, value, path))
    return hit[1]


def _canonical(kind: str, spec: ElementSpec, value: Any, path: str) -> Any:
    if isinstance(value, dict):
        normalize = policy.NORMALIZERS.get((kind, path))
        if normalize is not None:  # an element's libvirt spelling (each item, for a list)
            value = normalize(value)
            if value is None:
                return None
    shape = spec.shape
    if shape == "presence":
        return bool(value) if not isinstance(value, dict) else _dict(kind, spec, value, path)
    if spec.scaled and (not isinstance(value, dict) or set(value) <= {"value", "unit"}):
        return to_bytes(kind, value)
    if spec.scaled:  # with attributes of its own (<maxMemory slots=...>): the size in bytes
        rest = _dict(kind, spec, {k: v for k, v in value.items() if k not in ("value", "unit")},
                     path)
        return {**rest, "value": to_bytes(kind, {k: value.get(k) for k in ("value", "unit")})}
    if shape == "raw" and not isinstance(value, dict):
        return _fragment(value)
    if not isinstance(value, dict):
        expanded = _expand(spec, value)
        if isinstance(expanded, dict):
            return _dict(kind, spec, expanded, path)
        return canonical_value(kind, spec.text, value, path)
    if shape == "scalar" and set(value) <= {"value"}:
        return canonical_value(kind, spec.text, value.get("value"), path)
    return _dict(kind, spec, value, path)


def _expand(spec: ElementSpec, value: Any) -> Any:
    """The dict a shorthand stands for when the element has attributes: ``True`` is ``{}``,
    ``"qcow2"`` is ``{"type": "qcow2"}`` (its only attribute), ``2`` is ``{"value": 2}``."""
    if spec.shape != "dict" or isinstance(value, (dict, list)):
        return value
    if value is None or value is False or value is UNKNOWN:
        return value
    if value is True and spec.text is None:
        return {}
    if spec.shorthand is not None:
        return {spec.shorthand.key: value}
    return {"value": value} if spec.text is not None else value


def _dict(kind: str, spec: ElementSpec, value: dict, path: str) -> dict:
    result = {}
    for key, item in value.items():
        if item is None:
            continue
        field, _singular = field_of(spec, key)
        sub = _join(path, field.key if field is not None else key)
        if isinstance(field, Attr):
            result[key] = canonical_value(kind, field.type, item, sub)
        elif isinstance(field, Child):
            if field.many:  # a singular's one item joins its list
                # items that mean nothing (normalised away) are left out; no items is no list
                items = [canonical(kind, field.spec, entry, sub) for entry in _items(item)]
                items = result.get(field.key, []) + [e for e in items if e is not None]
                if items:
                    result[field.key] = items
            elif item is not False:
                result[key] = canonical(kind, field.spec, item, sub)
        elif key == "value":
            raw = spec.shape == "raw"
            result[key] = _fragment(item) if raw else canonical_value(kind, spec.text, item, path)
        elif key == EXTRA:
            unknown = {}
            for name, text in (item.get("attributes") or {}).items():
                attr = spec.attrs.get(name)
                if attr is None:
                    unknown[name] = text
                else:  # a known attribute with a value newer than the table (the escape)
                    result[attr.key] = canonical_value(kind, attr.type, text, _join(path, attr.key))
            extra = {
                "attributes": dict(sorted(unknown.items())),
                "elements": [_fragment(f) for f in item.get("elements") or []],
                "text": (item.get("text") or "").strip(),
            }
            if any(extra.values()):
                result[key] = extra
        else:
            result[key] = item
    return result


def _fragment(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return canonical_xml(f"<fragment>{text}</fragment>")
    except ValueError:
        return text


def same(kind: str, spec: ElementSpec, a: Any, b: Any, path: str = "") -> bool:
    """Whether two model values of one element mean the same to libvirt."""
    return canonical(kind, spec, a, path) == canonical(kind, spec, b, path)


# ---------------------------------------------------------------- projection


def project(kind: str, live: dict, desired: dict) -> dict:
    """The live document's values for the keys the user wrote, in the user's shape.

    Where live and desired mean the same, the desired value is returned as written; elsewhere the
    live value. Keys the user did not write are left out; lists keep the user's items (matched by
    identity key where policy has one) and, for closed lists, append live items the user lacks.
    """
    with _memoized():
        return _project_element(kind, load(kind), live, desired, "")


def _project_element(kind: str, spec: ElementSpec, live: Any, desired: Any, path: str) -> Any:
    if desired is UNKNOWN:
        return live
    if same(kind, spec, live, desired, path):
        return desired
    wanted = _expand(spec, desired)  # vcpu=2 projects live {"placement": ..., "value": 2}
    if (
        isinstance(wanted, dict)
        and isinstance(live, dict)
        and spec.shape in ("dict", "presence")
        and not spec.scaled
    ):
        result = {}
        normalize = policy.NORMALIZERS.get((kind, path))
        meaningful = normalize(wanted) if normalize is not None else wanted
        for key, want in wanted.items():
            if meaningful is None or key not in meaningful:
                result[key] = want  # means nothing to libvirt (autoport's port='-1'): as written
                continue
            got = _project_field(kind, spec, key, live, want, path)
            if got is not None:
                result[key] = got
        if wanted is not desired and same(kind, spec, result, wanted, path):
            return desired
        return result
    return live


def _project_field(kind: str, spec: ElementSpec, key: str, live: dict, want: Any,
                   parent: str) -> Any:
    """The live value of one key the user wrote, in the user's shape: one item of a list
    written alone (``source={...}`` for ``sources``) stays one item while libvirt has one."""
    field, singular = field_of(spec, key)
    path = _join(parent, field.key if field is not None else key)
    got = live.get(field.key if field is not None else key)
    if want is UNKNOWN:
        if singular and isinstance(got, list) and len(got) == 1:
            return got[0]
        return got
    if isinstance(field, Child):
        if _one_item(field, want):
            items = _project_list(kind, field, got or [], [want], path)
            return items[0] if len(items) == 1 else (items or None)
        if field.many:
            return _project_list(kind, field, got or [], want, path)
        if got is None and want is False:
            return want
        return _project_element(kind, field.spec, got, want, path) if got is not None else None
    vtype = field.type if isinstance(field, Attr) else spec.text
    if key == EXTRA or (field is None and key != "value"):
        return got
    return want if canonical_value(kind, vtype, got, path) == canonical_value(
        kind, vtype, want, path
    ) else got


def _identity(kind: str, field: Child, item: Any, path: str) -> Any:
    rule = policy.IDENTITY.get((kind, path))
    if rule is None or not isinstance(item, dict):
        return None
    parts = rule if isinstance(rule, tuple) else (rule,)
    values = []
    for part in parts:
        spec, value, sub = field.spec, item, path
        for step in part.split("."):
            if not isinstance(value, dict):
                value = None
                break
            value = value.get(step)
            sub = _join(sub, step)
            child = spec.fields.get(step)
            if isinstance(child, Child):
                spec = child.spec
            elif isinstance(child, Attr):
                value = canonical_value(kind, child.type, value, sub)
        if isinstance(value, dict) or isinstance(value, list):
            value = repr(canonical(kind, spec, value, sub))
        if value is None or value is UNKNOWN:
            return None
        values.append(value)
    return tuple(values)


def _match_items(kind: str, field: Child, live: list, desired: list, path: str) -> list:
    """For each desired item, the index of the live item it stands for, or None: the one with
    the same identity key (policy.IDENTITY), else, for an item without one (an interface whose
    MAC libvirt generated), the one at the same position."""
    keyed = (kind, path) in policy.IDENTITY
    used: set[int] = set()
    matches: list = []
    for position, want in enumerate(desired):
        ident = _identity(kind, field, want, path) if keyed else None
        if ident is not None:
            match = next(
                (i for i, item in enumerate(live)
                 if i not in used and _identity(kind, field, item, path) == ident),
                None,
            )
        else:
            match = position if position < len(live) and position not in used else None
        if match is not None:
            used.add(match)
        matches.append(match)
    return matches


def match_items(kind: str, path: str, live: list, desired: list) -> list:
    """For each item of ``desired`` (a list at ``path``, such as ``devices.disks``), the index
    of the ``live`` item it stands for, or None: matched as projection and merge match them."""
    spec = load(kind)
    *steps, last = path.split(".")
    for step in steps:
        spec = spec.fields[step].spec
    return _match_items(kind, spec.fields[last], list(live), list(desired), path)


def _unmatched(kind: str, live: list, matches: list, path: str, open_only: bool) -> list:
    """Live items no desired item stands for, when the list keeps them."""
    keep = ((kind, path) in policy.OPEN_LISTS) == open_only
    return [item for i, item in enumerate(live) if i not in matches] if keep else []


def _project_list(kind: str, field: Child, live: list, desired: Any, path: str) -> Any:
    if not isinstance(desired, (list, tuple)):
        return live
    matches = _match_items(kind, field, live, desired, path)
    result = []
    for want, match in zip(desired, matches, strict=True):
        if isinstance(want, dict) and canonical(kind, field.spec, want, path) is None:
            result.append(want)  # an item that means nothing to libvirt: as written
        elif match is not None:
            result.append(_project_element(kind, field.spec, live[match], want, path))
    return result + _unmatched(kind, live, matches, path, open_only=False)


# ---------------------------------------------------------------- differences


def differences(kind: str, old: dict, new: dict, keys=None) -> list[str]:
    """Field paths (list indexes left out) where ``new`` means something else than ``old``.

    ``keys`` limits the top-level keys compared. Unknown values in ``new`` count as changes.
    """
    return sorted({shown for shown, _old, _new in _changes(kind, old, new, keys, False)})


def changed_values(kind: str, old: dict, new: dict, keys=None) -> list[tuple[str, Any, Any]]:
    """What ``differences`` finds, as (path, old value, new value): the path as written, with
    the index of each item of a list written as a list (``cpu.numa.cells[0].cpus``)."""
    return _changes(kind, old, new, keys, True)


def _changes(kind: str, old: dict, new: dict, keys, indexed: bool) -> list[tuple[str, Any, Any]]:
    spec = load(kind)
    found: list[tuple[str, Any, Any]] = []
    if keys is not None:
        old = {k: v for k, v in old.items() if k in keys}
        new = {k: v for k, v in new.items() if k in keys}
    with _memoized():
        for key, (shown, before, after) in sorted(_paired(spec, old, new).items()):
            if key in spec.fields:
                _diff_field(kind, spec, key, before, after, key, shown, found, indexed)
    return found


def _paired(spec: ElementSpec, old: dict, new: dict) -> dict:
    """Field key -> (key as written, old value, new value): a list written one item at a
    time (``source`` of ``sources``) is paired with its list; the new side's spelling is shown."""
    pairs: dict = {}
    for side, value in ((1, old), (2, new)):
        for key, item in _plural_keys(spec, value).items():
            entry = pairs.setdefault(key, [key, None, None])
            entry[side] = item
    for value in (old, new):  # the spelling as written, the new side's last
        for key in value:
            field, _singular = field_of(spec, key)
            if field is not None and field.key in pairs:
                pairs[field.key][0] = key
    return {key: tuple(entry) for key, entry in pairs.items()}


def _diff_field(kind, spec: ElementSpec, key: str, old: Any, new: Any, path: str, shown: str,
                found, indexed: bool) -> None:
    """``path``: the field's path in policy form (lists by their keys); ``shown``: as written.
    ``found`` gets (shown, old, new) for each change; ``indexed``: shown with list indexes."""
    field = spec.fields.get(key)
    if has_unknown(new):
        found.append((shown, old, new))
        return
    if isinstance(field, Attr):
        if canonical_value(kind, field.type, old, path) != canonical_value(
            kind, field.type, new, path
        ):
            found.append((shown, old, new))
        return
    if not isinstance(field, Child):
        if old != new:
            found.append((shown, old, new))
        return
    if field.many:
        old_items, new_items = _items(old or []), _items(new or [])
        if _same_items(kind, field, old_items, new_items, path):
            return
        if len(old_items) != len(new_items):
            found.append((shown, old, new))
            return
        # indexes for a list written as its list, not for one item under the singular
        listed = indexed and shown.rpartition(".")[2] == field.key
        for index, (before, after) in enumerate(zip(old_items, new_items, strict=True)):
            item = f"{shown}[{index}]" if listed else shown
            _diff_element(kind, field.spec, before, after, path, item, found, indexed)
        return
    if old is False:
        old = None
    if new is False:
        new = None
    _diff_element(kind, field.spec, old, new, path, shown, found, indexed)


def _diff_element(kind, spec: ElementSpec, old: Any, new: Any, path: str, shown: str,
                  found, indexed: bool) -> None:
    if same(kind, spec, old, new, path):
        return
    if isinstance(old, dict) and isinstance(new, dict) and spec.shape == "dict" and not spec.scaled:
        for key, (written, before, after) in _paired(spec, old, new).items():
            if key in spec.fields:
                _diff_field(kind, spec, key, before, after, _join(path, key),
                            _join(shown, written), found, indexed)
            elif canonical(kind, spec, {key: before}, path) != canonical(
                kind, spec, {key: after}, path
            ):
                found.append((_join(shown, written), before, after))
        return
    found.append((shown, old, new))


def _same_items(kind: str, field: Child, old: list, new: list, path: str) -> bool:
    """Whether two lists mean the same, items that mean nothing left out."""
    def meaning(items: list) -> list:
        found = (canonical(kind, field.spec, item, path) for item in items)
        return [item for item in found if item is not None]

    return meaning(old) == meaning(new)


def has_unknown(value: Any) -> bool:
    """Whether a value is, or holds, a value not known yet (Pulumi preview)."""
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(has_unknown(v) for v in value)
    return False


# ---------------------------------------------------------------- patching


def merge(kind: str, live: dict, desired: dict, previous: dict | None = None) -> dict:
    """The live model with the user's values written over it.

    What libvirt added and the user never wrote (UUIDs, MACs, PCI addresses) stays; keys the user
    wrote before (``previous``) but no longer writes are removed.
    """
    return _merge(kind, load(kind), live, desired, previous, "")


def _merge(kind: str, spec: ElementSpec, live: Any, want: Any, before: Any, path: str) -> Any:
    if isinstance(live, dict) and not spec.scaled:
        want, before = _expand(spec, want), _expand(spec, before)
    if not (isinstance(live, dict) and isinstance(want, dict)) or spec.scaled:
        return want
    want, before = _plural_keys(spec, want), _plural_keys(spec, before)
    result = dict(live)
    if isinstance(before, dict):
        for key in before:
            if key not in want:
                result.pop(key, None)
    for key, item in want.items():
        sub = _join(path, key)
        field = spec.fields.get(key)
        previous = before.get(key) if isinstance(before, dict) else None
        if item is None or (item is False and isinstance(field, Child) and not field.many):
            result.pop(key, None)
        elif isinstance(field, Child) and field.many:
            result[key] = _merge_list(kind, field, live.get(key) or [], item, previous, sub)
        elif isinstance(field, Child):
            result[key] = _merge(kind, field.spec, live.get(key), item, previous, sub)
        else:
            result[key] = item
    return result


def _merge_list(kind: str, field: Child, live: list, want: list, before: Any, path: str) -> list:
    matches = _match_items(kind, field, live, want, path)
    result = []
    for position, (item, match) in enumerate(zip(want, matches, strict=True)):
        previous = None
        if isinstance(before, list) and position < len(before):
            previous = before[position]
        if match is None:
            result.append(item)
        else:
            result.append(_merge(kind, field.spec, live[match], item, previous, path))
    return result + _unmatched(kind, live, matches, path, open_only=True)
