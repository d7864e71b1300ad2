#!/usr/bin/env python3
"""Regenerate the XML core's tables, schema.json, the typed API and the record of published keys.

    python scripts/generate.py [--check] [--schemas DIR --libvirt-version X.Y.Z]

The tables come from the pinned libvirt schemas (11.3, see scripts/fetch_schemas.py, which
this fetches into a cache when they are missing), whatever libvirt this machine runs; the same
schemas always give the same files. ``--schemas`` reads other schemas (an experiment: the tests
compare the tables with the pinned ones). The record of published keys
(tests/published_keys/<kind>.txt) only grows: a key once published stays in it, and a test
holds every key in it working. With --check nothing is written; the exit status says whether
the committed files are current.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import subprocess
import sys
import types

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import fetch_schemas  # noqa: E402


def _bare_package() -> None:
    """Make ``pulumi_libvirt`` importable without running its ``__init__``, which imports the
    generated resource modules: missing or conflicted generated files never stop their
    regeneration. (Nothing to do when the package is loaded already: the tests.)"""
    if "pulumi_libvirt" in sys.modules:
        return
    package = types.ModuleType("pulumi_libvirt")
    package.__path__ = [str(ROOT / "pulumi_libvirt")]
    init = (ROOT / "pulumi_libvirt" / "__init__.py").read_text()
    package.__version__ = re.search(r'^__version__ = "(.+)"$', init, re.MULTILINE).group(1)
    sys.modules["pulumi_libvirt"] = package


_bare_package()

from pulumi_libvirt.xml import policy, published, rng  # noqa: E402

HOST_SCHEMAS = "/usr/share/libvirt/schemas"
PUBLISHED = ROOT / "tests" / "published_keys"


def host_libvirt_version() -> str:
    """The version of the host's libvirt (Debian's libvirt0 ships its schemas)."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libvirt0"],
                         capture_output=True, text=True, check=True).stdout
    return out.split("-")[0].split(":")[-1]


def _use_tables(texts: dict[str, str]) -> None:
    """Make freshly rendered tables the ones this process loads."""
    for kind, text in texts.items():
        name = f"pulumi_libvirt.xml.tables.{kind}"
        if name in sys.modules:
            raise RuntimeError(f"{name} is loaded already: cannot build from the new tables")
        module = types.ModuleType(name)
        exec(compile(text, f"<generated table {kind}>", "exec"), module.__dict__)  # noqa: S102
        sys.modules[name] = module


def expected_files(schema_dir: str | None = None, version: str | None = None,
                   fresh: bool = False) -> dict[pathlib.Path, str]:
    """Generated file -> its text. Default: the pinned schemas (fetched when missing).
    ``fresh``: build schema.json and the key record from the new tables, not the loaded ones
    (the tables modules must not be imported yet)."""
    if schema_dir is None:
        schema_dir, version = str(fetch_schemas.ensure()), fetch_schemas.UPSTREAM_VERSION
    if version is None:
        raise ValueError("the libvirt version of the schemas in "
                         f"{schema_dir} is needed (--libvirt-version)")
    tables = {kind: rng.render_table(kind, schema_dir, version) for kind in policy.SCHEMA_FILES}
    if fresh:
        _use_tables(tables)
    files = {
        ROOT / "pulumi_libvirt" / "xml" / "tables" / f"{kind}.py": text
        for kind, text in tables.items()
    }
    from pulumi_libvirt.schema import build_schema

    files[ROOT / "schema.json"] = json.dumps(build_schema(), indent=2, sort_keys=False) + "\n"
    from pulumi_libvirt.typegen import generated_files

    files.update(generated_files(ROOT))
    for kind in policy.SCHEMA_FILES:
        path = PUBLISHED / f"{kind}.txt"
        keys = published.key_paths(kind)
        if path.exists():  # once published, a key stays in the record as it was published
            keys.update(published.parse(path.read_text()))
        files[path] = published.render(kind, keys)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemas", help="read these schemas instead of the pinned ones")
    parser.add_argument("--libvirt-version", help="the libvirt version of --schemas")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    version = args.libvirt_version
    if args.schemas and version is None and args.schemas == HOST_SCHEMAS:
        version = host_libvirt_version()
    try:
        files = expected_files(args.schemas, version, fresh=True)
    except (fetch_schemas.FetchError, ValueError) as exc:
        print(f"generate: {exc}", file=sys.stderr)
        return 1
    stale = []
    for path, text in files.items():
        current = path.read_text() if path.exists() else None
        if current != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    if args.check and stale:
        print("stale: " + ", ".join(map(str, stale)) + " (run scripts/generate.py)")
        return 1
    print(("updated: " + ", ".join(map(str, stale))) if stale else "up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
