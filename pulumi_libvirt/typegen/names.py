"""Stable, readable type names for a kind's element specs: ``DomainDiskArgsDict``.

Every element spec reachable from a kind's root gets one name, from the first (shortest) model
path that reaches it: the kind, then the element's key (a list's singular). Specs that would
share a name are told apart by the keys above them, one step at a time, until the names differ
(``DomainDiskSource``, ``DomainInterfaceSource``); ``policy.TYPE_NAMES`` names a path by hand.
One spec reached by several paths (``<address>``) is one type, except at the paths given as
``own`` (where a resource takes provider-only keys, and the paths above them): there the spec
gets a type of its own, so that those keys land only where they are taken.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field

from ..xml import policy
from ..xml.spec import Child, ElementSpec, load


def camel(key: str) -> str:
    """``backing_store`` -> ``BackingStore``."""
    return "".join(part[:1].upper() + part[1:] for part in key.split("_") if part)


@dataclass
class Place:
    """An element spec and the model paths (list items left out) that reach it."""

    spec: ElementSpec
    steps: tuple[str, ...]  # the first path's item keys (a list's singular), for naming
    paths: list[str] = field(default_factory=list)


def place_key(spec: ElementSpec, path: str, own: frozenset[str]) -> Hashable:
    """What tells a place apart: the spec (``id``), and the path where it has a type of its
    own."""
    return (id(spec), path) if path in own else id(spec)


def places(kind: str, own: frozenset[str] = frozenset()) -> dict[Hashable, Place]:
    """Every element spec below the root of ``kind`` (by ``place_key``), breadth first, with
    every path that reaches it; a recursive element (``backingStore``) is followed once per
    path."""
    root = load(kind)
    found: dict[Hashable, Place] = {}
    queue: deque[tuple[ElementSpec, str, tuple[str, ...], frozenset[int]]] = deque(
        [(root, "", (), frozenset({id(root)}))])
    while queue:
        spec, path, steps, seen = queue.popleft()
        for child in spec.children.values():
            sub = f"{path}.{child.key}" if path else child.key
            item = _item_key(child)
            key = place_key(child.spec, sub, own)
            place = found.get(key)
            if place is None:
                place = found[key] = Place(child.spec, (*steps, item))
            place.paths.append(sub)
            if id(child.spec) not in seen:
                queue.append((child.spec, sub, (*steps, item), seen | {id(child.spec)}))
    return found


def _item_key(child: Child) -> str:
    return child.singular if child.many else child.key


def type_names(kind: str, own: frozenset[str] = frozenset()) -> dict[Hashable, str]:
    """Place key -> its type's stem (``DomainDisk``); the input type adds ``ArgsDict``, the
    output type nothing."""
    prefix = camel(kind)
    found = places(kind, own)
    fixed = {policy.TYPE_NAMES[(kind, p.paths[0])]: key for key, p in found.items()
             if (kind, p.paths[0]) in policy.TYPE_NAMES}
    depth = {key: 1 for key in found}
    names: dict[Hashable, str] = {}
    while True:
        names = {
            key: policy.TYPE_NAMES.get((kind, place.paths[0]))
            or prefix + "".join(camel(s) for s in place.steps[-depth[key]:])
            for key, place in found.items()
        }
        holders: dict[str, list[Hashable]] = {}
        for key, name in names.items():
            holders.setdefault(name, []).append(key)
        clashes = [keys for name, keys in holders.items() if len(keys) > 1]
        grown = False
        for keys in clashes:
            for key in keys:
                if names[key] in fixed and fixed[names[key]] == key:
                    continue
                if depth[key] < len(found[key].steps):
                    depth[key] += 1
                    grown = True
        if not clashes:
            return names
        if not grown:
            raise ValueError(f"{kind}: cannot tell apart the types named "
                             f"{sorted(names[k] for keys in clashes for k in keys)}: add a "
                             "row to policy.TYPE_NAMES")
