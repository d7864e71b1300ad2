"""The model keys a kind's tables publish, and whether once-published keys still resolve.

A key users write keeps its name when a newer libvirt's schemas are read: the record of
published keys (``tests/published_keys/<kind>.txt``, kept by ``scripts/generate.py``, which
only ever adds to it) is checked against the current tables by the tests. A key that was a
single element and became a list (libvirt 11 allows several ``<watchdog>``) resolves as the
list's singular: ``devices.watchdog`` is one item of ``devices.watchdogs``.

The record is a tree, one key a line, indented two spaces a level, sorted by path::

    devices
      disks[]
        target
          bus=

``key=`` is an attribute, ``key[]`` a list of elements, ``key`` a single element.
"""

from __future__ import annotations

from .spec import Attr, Child, ElementSpec, field_of, load

ATTRIBUTE, ELEMENT, LIST = "attribute", "element", "list"
_MARKS = {ATTRIBUTE: "=", LIST: "[]", ELEMENT: ""}


def key_paths(kind: str) -> dict[str, str]:
    """Every model key path of ``kind`` (list items left out) -> attribute, element or list.
    A recursive element (``backingStore``) is followed once."""
    paths: dict[str, str] = {}

    def walk(spec: ElementSpec, prefix: str, seen: frozenset) -> None:
        for key, found in spec.fields.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(found, Attr):
                paths[path] = ATTRIBUTE
                continue
            paths[path] = LIST if found.many else ELEMENT
            if id(found.spec) not in seen:
                walk(found.spec, path, seen | {id(found.spec)})

    root = load(kind)
    walk(root, "", frozenset({id(root)}))
    return paths


def render(kind: str, paths: dict[str, str]) -> str:
    """The text of the record."""
    lines = [
        f"# Model keys published for libvirt {kind} XML: written by scripts/generate.py, which",
        "# only adds to this list; a test holds every key here working. key= attribute,",
        "# key[] list of elements, key an element.",
    ]
    for path in sorted(paths, key=lambda p: p.split(".")):
        steps = path.split(".")
        lines.append("  " * (len(steps) - 1) + steps[-1] + _MARKS[paths[path]])
    return "\n".join(lines) + "\n"


def parse(text: str) -> dict[str, str]:
    """The record's paths -> attribute, element or list."""
    paths: dict[str, str] = {}
    stack: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name = line.strip()
        what = ELEMENT
        for candidate, mark in _MARKS.items():
            if mark and name.endswith(mark):
                what, name = candidate, name[: -len(mark)]
        del stack[depth:]
        stack.append(name)
        paths[".".join(stack)] = what
    return paths


def resolve(kind: str, path: str) -> str | None:
    """What ``path`` names in the current tables (attribute, element, list, or ``singular``:
    one item of a list), or None when it names nothing."""
    spec: ElementSpec | None = load(kind)
    what = None
    for step in path.split("."):
        if spec is None:
            return None
        found, singular = field_of(spec, step)
        if found is None:
            return None
        if isinstance(found, Child):
            what = "singular" if singular else LIST if found.many else ELEMENT
            spec = found.spec
        else:
            what, spec = ATTRIBUTE, None
    return what


def still_works(published: str, now: str | None) -> bool:
    """Whether a key published as ``published`` is written the same way today: an element may
    have become a list written one item at a time; nothing else may change."""
    if now == published:
        return True
    return published == ELEMENT and now == "singular"
