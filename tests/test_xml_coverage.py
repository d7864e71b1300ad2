"""Every element and attribute of the pinned libvirt schemas has a place in the model.

The schemas are the pinned ones the tables are generated from (libvirt 11.3, fetched by
``scripts/fetch_schemas.py`` into a cache), not this machine's: the tests mean the same on
every host. An independent, deliberately simple walk of each schema (not ``rng.Walker``)
collects the (element, child element) and (element, attribute) pairs reachable from the
schema's start; the generated tables must hold every one of them. Also: the committed tables
are what ``scripts/generate.py`` produces (they are not stale), they say which libvirt they
come from, and every key ever published still works.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pathlib
import subprocess
import sys
from functools import cache

import pytest
from lxml import etree
from pinned import fetcher, generator, schema_dir

from pulumi_libvirt.xml import policy, published

ROOT = pathlib.Path(__file__).resolve().parent.parent
RNG = "{http://relaxng.org/ns/structure/1.0}"
KINDS = policy.SCHEMA_FILES


# ---------------------------------------------------------------- a small RelaxNG walk


class Grammar:
    """The defines and starts of one ``<grammar>``, its includes (with overrides) merged in."""

    def __init__(self, node: etree._Element, parent: Grammar | None):
        self.parent = parent
        self.defines: dict[str, list] = {}
        self.starts: list = []
        self._read(node, pathlib.Path(node.getroottree().docinfo.URL).parent, set())

    def _read(self, container, base: pathlib.Path, overridden: set) -> None:
        for node in container:
            if node.tag == RNG + "define" and node.get("name") not in overridden:
                self.defines.setdefault(node.get("name"), []).append(node)
            elif node.tag == RNG + "start" and "start()" not in overridden:
                self.starts.append(node)
            elif node.tag == RNG + "div":
                self._read(node, base, overridden)
            elif node.tag == RNG + "include":
                href = base / node.get("href")
                own = {d.get("name") for d in node.iter(RNG + "define")}
                own |= {"start()"} if node.find(RNG + "start") is not None else set()
                included = etree.parse(str(href)).getroot()
                self._read(included, href.parent, overridden | own)
                self._read(node, base, overridden)


def _name(node: etree._Element) -> str | None:
    """An element's or attribute's qualified name; None for name classes (anyName, ...)."""
    name = node.get("name")
    if name is None:
        name_node = node.find(RNG + "name")
        if name_node is None:
            return None
        name = name_node.text.strip()
    if ":" in name:  # a prefixed QName
        prefix, local = name.split(":", 1)
        return f"{{{node.nsmap[prefix]}}}{local}"
    if node.tag == RNG + "attribute":
        return name  # attributes take no namespace from ns=
    ns = next((n.get("ns") for n in node.iterancestors() if n.get("ns") is not None), None)
    ns = node.get("ns", ns)
    return f"{{{ns}}}{name}" if ns else name


@cache
def schema_pairs(rng_file: pathlib.Path) -> tuple[set, set]:
    """(element, child element) and (element, attribute) pairs reachable from the start."""
    children: set = set()
    attributes: set = set()
    seen: set = set()

    def walk(node, parent: str | None, grammar: Grammar) -> None:
        tag = node.tag
        if not isinstance(tag, str):
            return
        if tag == RNG + "element":
            name = _name(node)
            if name is None:
                return  # any element: raw XML
            if parent is not None:
                children.add((parent, name))
            key = (node, id(grammar))
            if key not in seen:
                seen.add(key)
                for child in node:
                    walk(child, name, grammar)
        elif tag == RNG + "attribute":
            name = _name(node)
            if name is not None and parent is not None:
                attributes.add((parent, name))
        elif tag in (RNG + "ref", RNG + "parentRef"):
            scope = grammar if tag == RNG + "ref" else grammar.parent
            key = (node.get("name"), id(scope), parent)
            if key not in seen:
                seen.add(key)
                for define in scope.defines[node.get("name")]:
                    for child in define:
                        walk(child, parent, scope)
        elif tag == RNG + "grammar":
            inner = grammars.setdefault((node, id(grammar)), Grammar(node, grammar))
            for start in inner.starts:
                for child in start:
                    walk(child, parent, inner)
        elif tag not in (RNG + "data", RNG + "value", RNG + "name", RNG + "anyName"):
            for child in node:
                walk(child, parent, grammar)

    grammars: dict = {}
    top = Grammar(etree.parse(str(rng_file)).getroot(), None)
    for start in top.starts:
        for child in start:
            walk(child, None, top)
    return children, attributes


def table_pairs(kind: str) -> tuple[set, set]:
    """The same pairs as the generated table of ``kind`` holds them."""
    table = importlib.import_module(f"pulumi_libvirt.xml.tables.{kind}")
    children, attributes = set(), set()
    for tag, attrs, kids, _text, _raw in table.SPECS:
        attributes.update((tag, attr[0]) for attr in attrs)
        children.update((tag, kid[0]) for kid in kids)
    return children, attributes


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_schema_element_and_attribute_has_a_place(kind):
    schema_children, schema_attributes = schema_pairs(schema_dir() / KINDS[kind])
    table_children, table_attributes = table_pairs(kind)
    missing = sorted(schema_children - table_children) + sorted(
        (element, "@" + attribute) for element, attribute in schema_attributes - table_attributes
    )
    print(
        f"{kind}: {len(schema_children)} (element, child) and {len(schema_attributes)} "
        f"(element, attribute) pairs in {KINDS[kind]}; {len(missing)} without a place in the table"
    )
    assert schema_children and schema_attributes, "the walk found nothing: is the schema empty?"
    assert not missing, f"{len(missing)} schema pairs missing from the {kind} table: {missing}"


@pytest.mark.parametrize("kind", list(KINDS))
def test_tables_hold_nothing_the_schema_lacks(kind):
    """The converse: the walk and the generator agree exactly (no invented names)."""
    schema_children, schema_attributes = schema_pairs(schema_dir() / KINDS[kind])
    table_children, table_attributes = table_pairs(kind)
    assert sorted(table_children - schema_children) == []
    assert sorted(table_attributes - schema_attributes) == []


def test_tables_are_not_stale():
    """The committed tables, schema.json and key record equal what scripts/generate.py writes
    from the pinned schemas."""
    schemas = schema_dir()
    stale = [
        os.path.relpath(target, ROOT)
        for target, text in generator().expected_files(
            str(schemas), fetcher().UPSTREAM_VERSION).items()
        if not target.exists() or target.read_text() != text
    ]
    assert not stale, f"stale generated files: {stale} (run scripts/generate.py)"


@pytest.mark.parametrize("kind", list(KINDS))
def test_tables_say_which_libvirt_they_come_from(kind):
    table = importlib.import_module(f"pulumi_libvirt.xml.tables.{kind}")
    assert table.LIBVIRT_VERSION == fetcher().UPSTREAM_VERSION == "11.3.0"
    assert f"(libvirt {table.LIBVIRT_VERSION})" in table.__doc__


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_published_key_still_works(kind):
    """A key users write keeps its name whatever libvirt relaxes: tests/published_keys holds
    every key the tables ever published (the libvirt 9.0 ones first); each one names the same
    thing today, or, for an element that became a list (11.x allows several <watchdog> and
    <secret>), one item of that list under the same key."""
    record = published.parse((ROOT / "tests" / "published_keys" / f"{kind}.txt").read_text())
    broken = {
        path: (what, published.resolve(kind, path)) for path, what in record.items()
        if not published.still_works(what, published.resolve(kind, path))
    }
    assert record and not broken, f"published {kind} keys no longer working: {broken}"
    assert set(published.key_paths(kind)) <= set(record), "run scripts/generate.py"


def test_generation_is_reproducible():
    """The same schemas give the same files, whatever the process's hash seed."""
    schema_dir()
    for seed in ("0", "4242"):
        result = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "generate.py"), "--check"],
            capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert result.returncode == 0 and result.stdout == "up to date\n", result.stdout + (
            result.stderr)
