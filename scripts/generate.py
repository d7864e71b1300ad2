#!/usr/bin/env python3
"""Regenerate the XML core's tables (and schema.json) from libvirt's RelaxNG schemas.

    python scripts/generate.py [--schemas /usr/share/libvirt/schemas] [--check]

With --check nothing is written; the exit status says whether the committed files are current.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pulumi_libvirt.xml import policy, rng  # noqa: E402

DEFAULT_SCHEMAS = "/usr/share/libvirt/schemas"


def libvirt_version() -> str:
    """The version of the libvirt whose schemas are read (Debian's libvirt0 ships them)."""
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "libvirt0"],
            capture_output=True, text=True, check=True,
        ).stdout
        return out.split("-")[0].split(":")[-1]
    except (OSError, subprocess.CalledProcessError):
        import libvirt

        major, rest = divmod(libvirt.getVersion(), 1_000_000)
        return f"{major}.{rest // 1000}.{rest % 1000}"


def expected_files(schema_dir: str) -> dict[pathlib.Path, str]:
    version = libvirt_version()
    files = {
        ROOT / "pulumi_libvirt" / "xml" / "tables" / f"{kind}.py": rng.render_table(
            kind, schema_dir, version
        )
        for kind in policy.SCHEMA_FILES
    }
    from pulumi_libvirt.schema import build_schema

    files[ROOT / "schema.json"] = json.dumps(build_schema(), indent=2, sort_keys=False) + "\n"
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemas", default=DEFAULT_SCHEMAS)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    for path, text in expected_files(args.schemas).items():
        current = path.read_text() if path.exists() else None
        if current != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(text)
    if args.check and stale:
        print("stale: " + ", ".join(map(str, stale)) + " (run scripts/generate.py)")
        return 1
    print(("updated: " + ", ".join(map(str, stale))) if stale else "up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
