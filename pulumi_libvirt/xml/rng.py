"""Read libvirt's RelaxNG schemas and derive the element specs the XML core runs on.

Used by ``scripts/generate.py`` to write ``pulumi_libvirt/xml/tables/*.py``; not needed at run time.

The walk resolves includes (with overriding defines), ``combine="choice|interleave"`` defines,
nested ``<grammar>`` scopes, ``ns`` inheritance and ``notAllowed`` placeholders. Every ``<element>``
pattern becomes part of an element spec; same-named children of one element coming from different
branches merge into one spec. Occurrence counts decide lists (``max > 1``) and required fields
(``min >= 1``): counts add up within a group, a choice takes the smaller minimum and the larger
maximum, ``zeroOrMore``/``oneOrMore`` make a list.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from lxml import etree

RNG = "http://relaxng.org/ns/structure/1.0"
MANY = 2  # counts are capped: 2 means "more than one"

INT_TYPES = {
    "int", "integer", "long", "short", "byte", "unsignedInt", "unsignedLong", "unsignedShort",
    "unsignedByte", "positiveInteger", "nonNegativeInteger", "negativeInteger",
    "nonPositiveInteger",
}
FLOAT_TYPES = {"double", "float", "decimal"}


def _local(node) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


class Scope:
    """The defines and start of one ``<grammar>`` (a file with its includes, or a nested one)."""

    def __init__(self, parent: Scope | None):
        self.parent = parent
        self.defines: dict[str, list] = {}
        self.starts: list = []

    def lookup(self, name: str) -> list:
        if name not in self.defines:
            raise KeyError(f"RelaxNG define '{name}' not found")
        return self.defines[name]


_PARSED: dict[str, etree._Element] = {}


def _parse(path: str):
    path = os.path.realpath(path)
    if path not in _PARSED:
        _PARSED[path] = etree.parse(path, etree.XMLParser(remove_comments=True)).getroot()
    return _PARSED[path]


def load_scope(grammar, base_dir: str, parent: Scope | None = None) -> Scope:
    scope = Scope(parent)
    _collect(scope, grammar, base_dir, frozenset())
    return scope


def _collect(scope: Scope, container, base_dir: str, overridden: frozenset) -> None:
    for node in container:
        tag = _local(node)
        if tag == "define":
            name = node.get("name")
            if name in overridden:
                continue
            nodes = scope.defines.setdefault(name, [])
            if node not in nodes:
                nodes.append(node)
        elif tag == "start":
            if "#start" not in overridden and node not in scope.starts:
                scope.starts.append(node)
        elif tag == "include":
            path = os.path.join(base_dir, node.get("href"))
            own = {d.get("name") for d in node if _local(d) == "define"}
            if any(_local(d) == "start" for d in node):
                own.add("#start")
            _collect(scope, _parse(path), os.path.dirname(path), overridden | own)
            _collect(scope, node, base_dir, overridden)
        elif tag == "div":
            _collect(scope, node, base_dir, overridden)


# ---------------------------------------------------------------- value types


@dataclass
class TypeAcc:
    """What text an attribute or element may hold: literal values, datatypes, string patterns."""

    values: list = field(default_factory=list)
    kinds: set = field(default_factory=set)  # "int", "float", "octal", "text" (any string)
    patterns: list = field(default_factory=list)

    def add(self, other: TypeAcc) -> None:
        for mine, theirs in ((self.values, other.values), (self.patterns, other.patterns)):
            mine.extend(v for v in theirs if v not in mine)
        self.kinds |= other.kinds

    def encode(self) -> tuple:
        """Table form ``(kind, values, patterns)``; kind is str, int, float, octal, bool or enum."""
        values, patterns = tuple(self.values), tuple(self.patterns)
        if "text" in self.kinds or not (values or self.kinds or patterns):
            return ("str", values, ())
        for kind in ("float", "int"):
            if kind in self.kinds:
                return (kind, values, patterns)
        if self.kinds == {"octal"} and not values and not patterns:
            return ("octal", (), ())
        if "octal" in self.kinds:
            return ("int", values, patterns)
        if patterns:
            return ("str", values, patterns)
        for pair in (("yes", "no"), ("on", "off")):
            if set(values) == set(pair):
                return ("bool", pair, ())
        return ("enum", values, ())


def _data_type(node) -> TypeAcc:
    dtype = node.get("type")
    patterns = [p.text for p in node if _local(p) == "param" and p.get("name") == "pattern"]
    if dtype in INT_TYPES:
        return TypeAcc(kinds={"octal" if patterns == ["[0-7]+"] else "int"})
    if dtype in FLOAT_TYPES:
        return TypeAcc(kinds={"float"})
    if dtype == "string" and patterns:
        return TypeAcc(patterns=patterns)
    return TypeAcc(kinds={"text"})


# ---------------------------------------------------------------- element specs


@dataclass
class Acc:
    """What one element's content allows, collected over all its branches."""

    attrs: dict = field(default_factory=dict)  # xml name -> TypeAcc
    children: dict = field(default_factory=dict)  # clark name -> list[(node, scope)]
    text: TypeAcc | None = None
    any_children: bool = False
    any_attrs: bool = False
    before: set = field(default_factory=set)  # (a, b): a sequence puts child a before child b


@dataclass
class Spec:
    tag: str
    attrs: list = field(default_factory=list)  # (xml name, type, required)
    children: list = field(default_factory=list)  # (clark name, spec index, many, required)
    text: tuple | None = None
    raw: bool = False  # elements of any name may appear as children
    index: int = -1


Counts = dict  # name -> (min, max); None means "not allowed"


def _seq(parts: list[Counts | None]) -> Counts | None:
    total: Counts = {}
    for part in parts:
        if part is None:
            return None
        for name, (lo, hi) in part.items():
            a, b = total.get(name, (0, 0))
            total[name] = (min(a + lo, MANY), min(b + hi, MANY))
    return total


def _alt(parts: list[Counts | None]) -> Counts | None:
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    names = {n for p in parts for n in p}
    return {
        n: (min(p.get(n, (0, 0))[0] for p in parts), max(p.get(n, (0, 0))[1] for p in parts))
        for n in names
    }


def _node_order(pair) -> tuple:
    node = pair[0]
    return (node.getroottree().docinfo.URL or "", node.sourceline or 0)


def _element_ns(node) -> str:
    found = node.xpath("ancestor-or-self::*[@ns][1]/@ns")
    return found[0] if found else ""


class Walker:
    """Turns the element patterns reachable from a start into a list of specs."""

    def __init__(self, base_dir: str):
        self.base_dir = base_dir
        self.specs: list[Spec] = []
        self._memo: dict[frozenset, Spec] = {}
        self._grammars: dict[tuple, Scope] = {}

    # -- content walk
    def walk(self, node, scope: Scope, acc: Acc) -> Counts | None:
        tag = _local(node)
        if tag == "element":
            name_node = node.get("name")
            if name_node is None:
                acc.any_children = True
                return {}
            ns = _element_ns(node)
            clark = f"{{{ns}}}{name_node}" if ns else name_node
            entry = acc.children.setdefault(clark, [])
            if (node, scope) not in entry:
                entry.append((node, scope))
            return {clark: (1, 1)}
        if tag == "attribute":
            name = node.get("name")
            if name is None:
                acc.any_attrs = True
                return {}
            type_acc = acc.attrs.setdefault(name, TypeAcc())
            content = [c for c in node if _local(c) not in ("name", "anyName", "nsName")]
            type_acc.add(self.value_type(content, scope) if content else TypeAcc(kinds={"text"}))
            return {"@" + name: (1, 1)}
        if tag == "interleave":
            return _seq([self.walk(c, scope, acc) for c in node if _local(c)])
        if tag == "group":
            return self.walk_group(node, scope, acc)
        if tag == "mixed":
            self._text(acc, TypeAcc(kinds={"text"}))
            return self.walk_group(node, scope, acc)
        if tag == "choice":
            return _alt([self.walk(c, scope, acc) for c in node if _local(c)])
        if tag == "optional":
            inner = self.walk_group(node, scope, acc)
            return {n: (0, hi) for n, (lo, hi) in (inner or {}).items()}
        if tag in ("zeroOrMore", "oneOrMore"):
            inner = self.walk_group(node, scope, acc)
            low = 0 if tag == "zeroOrMore" else None
            return {n: (lo if low is None else 0, MANY) for n, (lo, hi) in (inner or {}).items()}
        if tag in ("ref", "parentRef"):
            target = scope if tag == "ref" else scope.parent
            return self.walk_define(node.get("name"), target, acc)
        if tag == "grammar":
            inner = self._grammar(node, scope)
            return _seq([self.walk_group(s, inner, acc) for s in inner.starts])
        if tag in ("text", "data", "value", "list"):
            self._text(acc, self.value_type([node], scope))
            return {}
        if tag == "empty":
            return {}
        if tag == "notAllowed":
            return None
        raise ValueError(f"unsupported RelaxNG pattern <{tag}>")

    def walk_group(self, container, scope: Scope, acc: Acc) -> Counts | None:
        """The children of ``container`` in sequence: each child element name seen earlier
        must come before those seen later (recorded in ``acc.before`` for the output order)."""
        parts = [self.walk(c, scope, acc) for c in container if _local(c)]
        seen: set = set()
        for part in parts:
            names = {n for n in part or () if not n.startswith("@")}
            acc.before.update((a, b) for a in seen for b in names if a != b)
            seen |= names
        return _seq(parts)

    def walk_define(self, name: str, scope: Scope, acc: Acc) -> Counts | None:
        defines = scope.lookup(name)
        parts = [self.walk_group(d, scope, acc) for d in defines]
        if any(d.get("combine") == "interleave" for d in defines):
            return _seq(parts)
        return _alt(parts) if len(parts) > 1 else parts[0]

    def _grammar(self, node, scope: Scope) -> Scope:
        key = (node, id(scope))
        if key not in self._grammars:
            base = os.path.dirname(node.getroottree().docinfo.URL or self.base_dir)
            self._grammars[key] = load_scope(node, base, scope)
        return self._grammars[key]

    @staticmethod
    def _text(acc: Acc, type_acc: TypeAcc) -> None:
        if acc.text is None:
            acc.text = TypeAcc()
        acc.text.add(type_acc)

    # -- value types
    def value_type(self, nodes, scope: Scope, seen: frozenset = frozenset()) -> TypeAcc:
        result = TypeAcc()
        for node in nodes:
            tag = _local(node)
            if tag == "value":
                result.add(TypeAcc(values=[(node.text or "")]))
            elif tag == "data":
                result.add(_data_type(node))
            elif tag in ("text", "list"):
                result.add(TypeAcc(kinds={"text"}))
            elif tag in ("choice", "group", "optional", "interleave"):
                result.add(self.value_type([c for c in node if _local(c)], scope, seen))
            elif tag == "ref":
                name = node.get("name")
                if name in seen:
                    continue
                for define in scope.lookup(name):
                    kids = [c for c in define if _local(c)]
                    result.add(self.value_type(kids, scope, seen | {name}))
            elif tag in ("empty", "notAllowed"):
                pass
            else:
                raise ValueError(f"unsupported pattern <{tag}> in a value")
        return result

    # -- specs
    def spec_for(self, nodes: frozenset) -> Spec:
        if nodes in self._memo:
            return self._memo[nodes]
        first_node = next(iter(nodes))[0]
        ns = _element_ns(first_node)
        tag = f"{{{ns}}}{first_node.get('name')}" if ns else first_node.get("name")
        spec = Spec(tag=tag)
        self._memo[nodes] = spec
        acc = Acc()
        branch_counts = []
        for node, scope in sorted(nodes, key=_node_order):
            branch_counts.append(self.walk_group(_content(node), scope, acc))
        counts = _alt(branch_counts) or {}
        spec.attrs = [
            (name, type_acc.encode(), counts.get("@" + name, (0, 0))[0] >= 1)
            for name, type_acc in acc.attrs.items()
        ]
        spec.text = acc.text.encode() if acc.text is not None else None
        spec.raw = acc.any_children or acc.any_attrs
        spec.index = len(self.specs)
        self.specs.append(spec)
        for clark in _sequence_order(list(acc.children), acc.before):
            child = self.spec_for(frozenset(acc.children[clark]))
            lo, hi = counts.get(clark, (0, 0))
            spec.children.append((clark, child, hi >= MANY, lo >= 1))
        return spec


def _content(node) -> list:
    """An ``<element>`` pattern's content, without its name class."""
    return [c for c in node if _local(c) not in ("", "name", "anyName", "nsName")]


def _sequence_order(names: list, before: set) -> list:
    """``names`` (children in first-seen order) reordered so that every sequence constraint
    ``(a, b)`` of every branch holds: merged branches (the variants of ``<capability>``) each
    put their own children in their schema order. A name is placed right after the names it
    must follow; a constraint that contradicts another branch (a cycle) is dropped."""
    after: dict = {}
    for a, b in before:
        after.setdefault(b, []).append(a)
    placed: list = []
    state: dict = {}  # name -> "visiting" | "done"

    def place(name) -> None:
        if state.get(name):
            return  # done, or a cycle: drop that constraint
        state[name] = "visiting"
        for earlier in sorted(after.get(name, ()), key=names.index):
            place(earlier)
        state[name] = "done"
        placed.append(name)

    for name in names:
        place(name)
    return placed


def element_specs(rng_path: str) -> list[Spec]:
    """All element specs reachable from the start of ``rng_path``; the root is ``result[0]``."""
    base_dir = os.path.dirname(os.path.realpath(rng_path))
    scope = load_scope(_parse(rng_path), base_dir)
    walker = Walker(base_dir)
    probe = Acc()
    for start in scope.starts:
        for node in start:
            if _local(node):
                walker.walk(node, scope, probe)
    if len(probe.children) != 1:
        raise ValueError(f"{rng_path}: expected one root element, found {list(probe.children)}")
    (root_nodes,) = probe.children.values()
    walker.spec_for(frozenset(root_nodes))
    return walker.specs


# ---------------------------------------------------------------- tables


def _keyed_rows(specs: list[Spec]) -> list[tuple]:
    """Apply the naming policy: one row (tag, attrs, children, text, raw) per spec."""
    from . import policy

    rows = []
    for spec in specs:
        parent_local = _split(spec.tag)[1]
        attrs = tuple((xml, policy.snake(xml), vtype, req) for xml, vtype, req in spec.attrs)
        attr_keys = {key for _x, key, _t, _r in attrs}
        children = []
        for clark, child, many, req in spec.children:
            local = _split(clark)[1]
            key = policy.element_key(spec.tag, clark)
            many = many and (parent_local, local) not in policy.SINGLE
            if many:
                key = policy.plural(key)
            if key in attr_keys:
                if (parent_local, local) not in policy.CHILD_RENAMES:
                    raise ValueError(
                        f"<{spec.tag}>: attribute and child element both map to '{key}'; "
                        "add a row to policy.CHILD_RENAMES"
                    )
                key = policy.CHILD_RENAMES[(parent_local, local)]
            children.append((clark, key, child.index, many, req))
        # a single child named like the plural of a repeated one (<features> and <feature>)
        child_keys = [c[1] for c in children]
        for i, (clark, key, index, many, req) in enumerate(children):
            rename = policy.CHILD_RENAMES.get((parent_local, _split(clark)[1]))
            if rename and not many and child_keys.count(key) > 1:
                children[i] = (clark, rename, index, many, req)
        keys = [a[1] for a in attrs] + [c[1] for c in children]
        if spec.text is not None and (attrs or children):
            keys.append("value")
        clashes = {k for k in keys if keys.count(k) > 1}
        if clashes:
            raise ValueError(f"<{spec.tag}>: several XML names map to {sorted(clashes)}")
        rows.append((spec.tag, attrs, tuple(children), spec.text, spec.raw))
    return rows


def _split(clark: str) -> tuple[str, str]:
    if clark.startswith("{"):
        ns, local = clark[1:].split("}")
        return ns, local
    return "", clark


def _dedupe(rows: list[tuple]) -> list[tuple]:
    """Merge structurally identical specs and renumber breadth-first from the root."""
    canon = list(range(len(rows)))
    while True:
        seen: dict = {}
        changed = False
        for index, (tag, attrs, children, text, raw) in enumerate(rows):
            kids = tuple((c, k, canon[i], m, r) for c, k, i, m, r in children)
            signature = (tag, attrs, kids, text, raw)
            target = seen.setdefault(signature, canon[index])
            if target != canon[index]:
                canon = [target if c == canon[index] else c for c in canon]
                changed = True
        if not changed:
            break
    order, queue = {}, [canon[0]]
    while queue:
        index = queue.pop(0)
        if index in order:
            continue
        order[index] = len(order)
        queue.extend(canon[i] for _c, _k, i, _m, _r in rows[index][2])
    result = [None] * len(order)
    for old, new in order.items():
        tag, attrs, children, text, raw = rows[old]
        kids = tuple((c, k, order[canon[i]], m, r) for c, k, i, m, r in children)
        result[new] = (tag, attrs, kids, text, raw)
    return result


def render_table(kind: str, schema_dir: str, version: str) -> str:
    """The Python source of ``pulumi_libvirt/xml/tables/<kind>.py``."""
    from . import policy

    rng_file = policy.SCHEMA_FILES[kind]
    rows = _dedupe(_keyed_rows(element_specs(os.path.join(schema_dir, rng_file))))
    used = {_split(tag)[0] for row in rows for tag in [row[0], *(c[0] for c in row[2])]}
    namespaces = {policy.NAMESPACES[ns]: ns for ns in sorted(used) if ns}
    lines = [
        f'"""Element specs for libvirt {kind} XML. Generated by scripts/generate.py from',
        f"{rng_file} (libvirt {version}); do not edit.",
        "",
        "Each spec: (tag, attributes, children, text type, raw). An attribute is",
        "(xml name, model key, value type, required); a child is (tag, model key, spec index,",
        "many, required); a value type is (kind, values, patterns).",
        '"""',
        "",
        f"KIND = {kind!r}",
        f"LIBVIRT_VERSION = {version!r}",
        f"NAMESPACES = {namespaces!r}",
        "",
        "SPECS = [",
    ]
    for index, (tag, attrs, children, text, raw) in enumerate(rows):
        lines.append(f"    # {index}: <{_split(tag)[1]}>")
        lines.append(f"    ({tag!r},")
        lines.append("     (" + "".join(f"\n      {a!r}," for a in attrs) + "),")
        lines.append("     (" + "".join(f"\n      {c!r}," for c in children) + "),")
        lines.append(f"     {text!r}, {raw!r}),")
    lines.append("]")
    return "\n".join(lines) + "\n"
