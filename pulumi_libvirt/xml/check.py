"""Check a user's model against a kind's table: unknown keys, wrong types, bad values.

Each problem names its full path (``devices.disks[1].target.bus``) and what was expected, so a
resource's Check can report it at preview time.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from .convert import EXTRA, parse_document
from .spec import ElementSpec, ValueType, load, one_item


class Unknown:
    """A value not known yet (Pulumi preview): every check passes it."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = Unknown()


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


_INT_TEXT = re.compile(r"[+-]?(0x[0-9a-fA-F]+|[0-9]+)")
_NUMBER_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def check(kind: str, model: Any, path: str = "") -> list[Problem]:
    """Problems with a ``kind`` model; an empty list when it is good."""
    problems: list[Problem] = []
    check_element(_prepared(kind), model, path, problems)
    return problems


def suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=2, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean", int: "an integer", float: "a number", str: "a string",
        list: "a list", tuple: "a list", dict: "a dict",
    }.get(type(value), type(value).__name__)


def check_value(vtype: ValueType | None, value: Any, path: str, problems: list[Problem]) -> None:
    """One attribute or text value."""
    if value is UNKNOWN or vtype is None:
        return
    message = _value_problem(vtype, value)
    if message:
        problems.append(Problem(path, message))


def _value_problem(vtype: ValueType, value: Any) -> str | None:
    kind = vtype.kind
    if isinstance(value, (dict, list, tuple)) or value is None:
        return f"expected {vtype.describe()}, got {_type_name(value)}"
    if kind == "bool":
        if isinstance(value, bool) or value in vtype.values:
            return None
        return f"expected a boolean (True/False), got {value!r}"
    if isinstance(value, bool):
        if kind == "enum" and any(v in vtype.values for v in ("yes", "on")):
            return None
        return f"expected {vtype.describe()}, got a boolean"
    if kind == "enum":
        if str(value) in vtype.values:
            return None
        hint = suggest(str(value), vtype.values)
        return f"expected {vtype.describe()}; got {value!r}{hint}"
    if kind == "octal":
        if isinstance(value, str) and re.fullmatch(r"[0-7]+", value):
            return None
        if isinstance(value, int) and value >= 0:
            return _octal_advice(value)
        return f"expected {vtype.describe()}, got {value!r}"
    if kind in ("int", "float"):
        if isinstance(value, int) or (kind == "float" and isinstance(value, float)):
            return None
        if isinstance(value, float) and value.is_integer():
            return None
        if isinstance(value, str):
            pattern = _INT_TEXT if kind == "int" else _NUMBER_TEXT
            if pattern.fullmatch(value) or value in vtype.values or _matches(vtype, value):
                return None
        return f"expected {vtype.describe()}, got {value!r}"
    # str
    text = str(value) if isinstance(value, (int, float)) else value
    if not isinstance(text, str):
        return f"expected a string, got {_type_name(value)}"
    if vtype.regexes and text not in vtype.values and not _matches(vtype, text):
        return f"expected {vtype.describe()}, got {value!r}"
    return None


def _octal_advice(value: int) -> str:
    """A mode given as a number: the string it stands for (0o640 is 416; 640 is '0640')."""
    digits = str(value)
    if value > 0o777 and set(digits) <= set("01234567"):
        write, why = digits.zfill(4), f"{value} reads as the octal digits of a mode"
    else:
        write, why = f"{value:04o}", f"{value} is 0o{value:o}"
    return (f"a mode is an octal string such as '0755': write '{write}' ({why}); got the "
            f"integer {value}")


def _matches(vtype: ValueType, text: str) -> bool:
    return any(regex.fullmatch(text) for regex in vtype.regexes)


# ---------------------------------------------------------------- prepared specs


class _Rules:
    """One element spec with what the checks look up, computed once per kind.

    ``fields``: model key -> (None, value type, quick test) for an attribute, (rules, many,
    one) for a child element: for a list, ``one`` says whether its key also takes a single item
    (``graphics``); for a list's singular key (``source`` of ``sources``), many is False and
    ``one`` is the list's key. A quick test answers True for the common good values only;
    anything else goes through ``check_value``, which finds the problem and words it.
    """

    __slots__ = ("spec", "shape", "text", "text_ok", "shorthand", "shorthand_ok", "fields")

    def __init__(self, spec: ElementSpec):
        self.spec = spec
        self.shape = spec.shape
        self.text = spec.text
        self.text_ok = _quick_test(spec.text) if spec.text is not None else None
        self.shorthand = spec.shorthand
        self.shorthand_ok = _quick_test(spec.shorthand.type) if spec.shorthand else None
        self.fields: dict = {
            attr.key: (None, attr.type, _quick_test(attr.type)) for attr in spec.attrs.values()
        }


@cache
def _prepared(kind: str) -> _Rules:
    """The root ``_Rules`` of ``kind``, every one linked to its children's."""
    root = load(kind)
    rules: dict[int, _Rules] = {}
    pending = [root]
    while pending:
        spec = pending.pop()
        if id(spec) not in rules:
            rules[id(spec)] = _Rules(spec)
            pending.extend(child.spec for child in spec.children.values())
    for rule in rules.values():
        for child in rule.spec.children.values():
            one = one_item(child) if child.many else None
            rule.fields[child.key] = (rules[id(child.spec)], child.many, one)
        for singular, plural in rule.spec.singulars.items():
            rule.fields[singular] = (rule.fields[plural][0], False, plural)
    return rules[id(root)]


def _quick_test(vtype: ValueType):
    """A fast ``value -> bool`` that is True only for values ``check_value`` accepts."""
    kind = vtype.kind
    values = frozenset(vtype.values)
    if kind == "str" and not vtype.regexes:
        def test(v):
            return v.__class__ is str
    elif kind == "str":
        match = _alternatives(vtype.regexes)

        def test(v):
            return v.__class__ is str and (v in values or match(v) is not None)
    elif kind == "enum":
        def test(v):
            return v.__class__ is str and v in values
    elif kind == "bool":
        def test(v):
            return v is True or v is False or (v.__class__ is str and v in values)
    elif kind == "int":
        def test(v):
            return v.__class__ is int
    elif kind == "float":
        def test(v):
            return v.__class__ is int or v.__class__ is float
    elif kind == "octal":
        def test(v):
            return False  # the full check decides: a number gets advice
    else:
        def test(v):
            return False
    return test


def _alternatives(regexes: tuple):
    """One ``fullmatch`` for several patterns."""
    try:
        return re.compile("|".join(f"(?:{r.pattern})" for r in regexes)).fullmatch
    except re.error:
        return lambda text: next((m for r in regexes if (m := r.fullmatch(text))), None)


# ---------------------------------------------------------------- checking


def check_element(rules: _Rules, value: Any, path: str, problems: list[Problem]) -> None:
    """One element's model value (a dict, a scalar shorthand, True for presence, raw XML)."""
    if value is UNKNOWN or value is None:
        return
    if not isinstance(value, dict):
        _check_scalar(rules, value, path, problems)
        return
    fields = rules.fields
    for key, item in value.items():
        if item is None or item is UNKNOWN:
            continue
        field = fields.get(key)
        if field is None:
            _check_other_key(rules, key, item, f"{path}.{key}" if path else key, problems)
        elif field[0] is None:  # an attribute
            if not field[2](item):
                check_value(field[1], item, f"{path}.{key}" if path else key, problems)
        elif field[1]:  # a list of elements
            sub = f"{path}.{key}" if path else key
            if not isinstance(item, (list, tuple)):
                if field[2]:  # the list's own key takes one item too (graphics)
                    check_element(field[0], item, sub, problems)
                else:
                    problems.append(Problem(sub, f"expected a list, got {_type_name(item)}"))
                continue
            child = field[0]
            for index, entry in enumerate(item):
                check_element(child, entry, f"{sub}[{index}]", problems)
        elif field[2] is not None:  # one item of a list, under the list's singular
            _check_singular(field, key, item, value, f"{path}.{key}" if path else key, problems)
        elif isinstance(item, (list, tuple)):
            problems.append(Problem(f"{path}.{key}" if path else key,
                                    "expected a single value, got a list"))
        else:
            check_element(field[0], item, f"{path}.{key}" if path else key, problems)


def _check_singular(field: tuple, key: str, item: Any, value: dict, path: str,
                    problems: list[Problem]) -> None:
    """``source={...}`` where the list is ``sources``: one item, named as written."""
    plural = field[2]
    if isinstance(item, (list, tuple)):
        problems.append(Problem(path, f"expected one item, got a list (several go under "
                                      f"{plural!r})"))
    elif value.get(plural) is not None:
        problems.append(Problem(path, f"give either {key!r} (one item) or {plural!r} (a list), "
                                      "not both"))
    else:
        check_element(field[0], item, path, problems)


def _check_scalar(rules: _Rules, value: Any, path: str, problems: list[Problem]) -> None:
    """A value that is not a dict: text, the only attribute, True/False, raw XML."""
    shape = rules.shape
    if shape == "scalar":
        if not rules.text_ok(value):
            check_value(rules.text, value, path, problems)
        return
    if shape == "presence":
        if not isinstance(value, bool):
            problems.append(Problem(path, f"expected True or False, got {_type_name(value)}"))
        return
    if shape == "raw":
        _check_fragment(value, path, problems)
    elif rules.shorthand is not None:
        if not rules.shorthand_ok(value):
            check_value(rules.shorthand.type, value, path, problems)
    elif rules.text is not None:
        if not rules.text_ok(value):
            check_value(rules.text, value, path, problems)
    elif value is not True:
        keys = ", ".join(rules.fields) or "no keys"
        message = f"expected a dict (keys: {keys}), got {_type_name(value)}"
        problems.append(Problem(path, message))


def _check_other_key(rules: _Rules, key: str, item: Any, sub: str, problems: list) -> None:
    """A key that is neither an attribute nor a child element: value, _extra, or a mistake."""
    if key == "value" and (rules.text is not None or rules.shape == "raw"):
        if rules.shape == "raw":
            _check_fragment(item, sub, problems)
        else:
            check_value(rules.text, item, sub, problems)
    elif key == EXTRA:
        _check_extra(item, sub, problems)
    else:
        known = list(rules.fields) + (["value"] if rules.text is not None else [])
        problems.append(Problem(sub, f"unknown key {key!r}{suggest(key, known)}"))


def _check_fragment(value: Any, path: str, problems: list[Problem]) -> None:
    if not isinstance(value, str):
        problems.append(Problem(path, f"expected a string of XML, got {_type_name(value)}"))
        return
    try:
        parse_document(f"<fragment>{value}</fragment>")
    except ValueError as exc:
        problems.append(Problem(path, f"expected a string of XML: {exc}"))


def _check_extra(value: Any, path: str, problems: list[Problem]) -> None:
    if not isinstance(value, dict):
        problems.append(Problem(path, f"expected a dict, got {_type_name(value)}"))
        return
    for key, item in value.items():
        sub = _join(path, key)
        if key == "attributes":
            if not isinstance(item, dict) or not all(isinstance(k, str) for k in item):
                problems.append(Problem(sub, "expected a dict of attribute name -> value"))
        elif key == "elements":
            if not isinstance(item, (list, tuple)):
                problems.append(Problem(sub, "expected a list of XML strings"))
                continue
            for index, fragment in enumerate(item):
                _check_fragment(fragment, f"{sub}[{index}]", problems)
        elif key == "text":
            if not isinstance(item, str):
                problems.append(Problem(sub, f"expected a string, got {_type_name(item)}"))
        else:
            known = ("attributes", "elements", "text")
            problems.append(Problem(sub, f"unknown key {key!r}{suggest(key, known)}"))
