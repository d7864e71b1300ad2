"""The element specs the converter, the checks and the schema are driven by.

One generated table per kind (``tables/<kind>.py``) lists specs as plain tuples; ``load(kind)``
turns them into linked ``ElementSpec`` objects once per process.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from functools import cache

from .policy import element_key, pattern_name
from .policy import update_mode as _update_mode

KINDS = (
    "domain", "network", "pool", "volume", "nodedev", "domainsnapshot", "capabilities",
    "domaincaps",
)


@dataclass(frozen=True)
class ValueType:
    """The text an attribute or element holds.

    kind: ``str`` (patterns, when given, restrict it), ``int`` (also decimal/hex strings, the
    listed literals and pattern matches), ``float``, ``octal`` (file modes), ``bool`` (values are
    the true and false spellings) or ``enum`` (one of values).
    """

    kind: str
    values: tuple = ()
    patterns: tuple = ()

    @property
    def regexes(self) -> tuple:
        return _compile(self.patterns)

    def describe(self) -> str:
        if self.kind == "enum":
            return "one of " + ", ".join(repr(v) for v in self.values)
        if self.kind == "bool":
            return "a boolean"
        if self.kind == "octal":
            return "an octal mode string such as '0755'"
        if self.kind in ("int", "float"):
            text = "an integer" if self.kind == "int" else "a number"
            if self.values:
                text += " or one of " + ", ".join(repr(v) for v in self.values)
            return text
        if self.patterns:
            names = []
            for pattern in self.patterns:
                name = pattern_name(pattern) or f"a string matching {pattern!r}"
                if name not in names:
                    names.append(name)
            return " or ".join(names)
        return "a string"


@cache
def _compile(patterns: tuple) -> tuple:
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error:
            return ()  # an XML Schema construct Python lacks: don't restrict at all
    return tuple(compiled)


@dataclass(eq=False)
class Attr:
    xml: str
    key: str
    type: ValueType
    required: bool = False


@dataclass(eq=False)
class Child:
    tag: str  # Clark notation: {namespace}local
    key: str
    spec: ElementSpec
    many: bool = False
    required: bool = False
    singular: str = ""  # a list's key for one item: ``source`` for ``sources`` (may equal key)


@dataclass(eq=False)
class ElementSpec:
    tag: str
    attrs: dict = field(default_factory=dict)  # xml name -> Attr
    children: dict = field(default_factory=dict)  # clark tag -> Child
    text: ValueType | None = None
    raw: bool = False  # elements and attributes of any name are allowed
    fields: dict = field(default_factory=dict)  # model key -> Attr | Child
    order: dict = field(default_factory=dict)  # child key -> position in the schema
    shape: str = "dict"
    shorthand: Attr | None = None  # the only attribute: "qcow2" stands for {"type": "qcow2"}
    # A list written one item at a time: singular key -> the list's key (``source`` ->
    # ``sources``), for lists whose singular is not a field of its own.
    singulars: dict = field(default_factory=dict)

    def _shape(self) -> str:
        """How the element appears in the model.

        ``presence``: True; ``scalar``: its text; ``raw``: a string of XML; ``dict`` otherwise.
        """
        if self.attrs or self.children:
            return "dict"
        if self.text is not None:
            return "scalar"
        return "raw" if self.raw else "presence"

    @property
    def scaled(self) -> bool:
        """A size with an optional unit: ``<memory unit='MiB'>512</memory>``."""
        return (
            "unit" in self.attrs
            and self.text is not None
            and self.text.kind == "int"
            and not self.children
        )


@cache
def load(kind: str) -> ElementSpec:
    """The root spec of ``kind`` (one of ``KINDS``), linked from its generated table."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: expected one of {', '.join(KINDS)}")
    table = importlib.import_module(f"pulumi_libvirt.xml.tables.{kind}")
    specs = [ElementSpec(tag=row[0]) for row in table.SPECS]
    for spec, (_tag, attrs, children, text, raw) in zip(specs, table.SPECS, strict=True):
        for xml, key, vtype, required in attrs:
            spec.attrs[xml] = Attr(xml, key, ValueType(*vtype), required)
        for tag, key, index, many, required in children:
            singular = element_key(spec.tag, tag) if many else key
            spec.children[tag] = Child(tag, key, specs[index], many, required, singular)
        spec.text = ValueType(*text) if text is not None else None
        spec.raw = raw
        spec.fields = {a.key: a for a in spec.attrs.values()}
        spec.fields.update({c.key: c for c in spec.children.values()})
        spec.order = {c.key: i for i, c in enumerate(spec.children.values())}
        spec.singulars = {
            c.singular: c.key for c in spec.children.values()
            if c.many and c.singular != c.key and c.singular not in spec.fields
            and c.singular != "value"
        }
        spec.shape = spec._shape()
        if len(spec.attrs) == 1 and spec.text is None and not spec.raw:
            spec.shorthand = next(iter(spec.attrs.values()))
    return specs[0]


def namespaces(kind: str) -> dict:
    """Prefix -> namespace URI for the namespaced elements of ``kind``."""
    table = importlib.import_module(f"pulumi_libvirt.xml.tables.{kind}")
    return dict(table.NAMESPACES)


def one_item(child: Child) -> bool:
    """Whether a list takes a single item under its own key (``graphics``: the singular is
    the plural)."""
    return child.many and child.singular == child.key


def field_of(spec: ElementSpec, key: str) -> tuple[Attr | Child | None, bool]:
    """The field a model key names, and whether the key is a list's singular (one item)."""
    found = spec.fields.get(key)
    if found is not None:
        return found, False
    plural = spec.singulars.get(key)
    return (spec.fields[plural], True) if plural is not None else (None, False)


def key_path(kind: str, path: str) -> str:
    """A dotted model path with singulars written as their lists' keys: the form the policy
    rows use (``source.device.path`` -> ``source.devices.path``)."""
    spec: ElementSpec | None = load(kind)
    steps = []
    for step in path.split(".") if path else ():
        found = None
        if spec is not None:
            found, singular = field_of(spec, step)
            if singular:
                step = found.key
        steps.append(step)
        spec = found.spec if isinstance(found, Child) else None
    return ".".join(steps)


def update_mode(kind: str, path: str) -> str:
    """How a change at ``path`` is applied: live, at next boot/restart, or by replacing
    (``policy.UPDATE_MODES``; singular keys count as their lists)."""
    return _update_mode(kind, key_path(kind, path))
