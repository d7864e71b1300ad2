#!/usr/bin/env python3
"""How long ``import pulumi_libvirt`` takes: the provider host imports the package on every
Pulumi command, so the typed API must not slow it.

    python benchmarks/import_time.py [--runs 30] [--baseline REV]

Each run is a fresh interpreter timing the import alone (median of the runs, interleaved so
that a busy machine hurts every candidate alike). Candidates: this tree; the same package at
``--baseline`` (checked out into a temporary git worktree; default: 23c156b, main just before
the typed API came, the "today" issue 13 measures against); and the floor
every version pays, importing pulumi, libvirt and lxml. Prints the figures and the ratio of
this tree to the baseline; the target is at most 1.2 (exit status 1 above it). Also times
``pulumi_libvirt.types.domain`` (or the largest types module), which loads only when a
program imports it.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = 1.2

_TIMER = """
import sys, time
sys.path.insert(0, {root!r})
{setup}
start = time.perf_counter()
{statement}
elapsed = time.perf_counter() - start
{check}
print(elapsed)
"""


def timed(statement: str, root: pathlib.Path, check: str = "", setup: str = "") -> float:
    code = _TIMER.format(root=str(root), statement=statement, check=check, setup=setup)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tempfile.gettempdir()).stdout
    return float(out.split()[-1])


def from_tree(root: pathlib.Path) -> str:
    """A check that the package came from ``root`` (not the installed one)."""
    return (f"import pulumi_libvirt; assert pulumi_libvirt.__file__.startswith({str(root)!r}), "
            "pulumi_libvirt.__file__")


BEFORE_TYPED_API = "23c156b"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--baseline", default=BEFORE_TYPED_API)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="import-baseline-") as scratch:
        baseline = pathlib.Path(scratch) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet",
                        str(baseline), args.baseline], check=True)
        try:
            candidates = {
                "pulumi + libvirt + lxml": ("import pulumi, pulumi.dynamic, libvirt, lxml.etree",
                                            ROOT, ""),
                f"pulumi_libvirt at {args.baseline}": ("import pulumi_libvirt", baseline,
                                                       from_tree(baseline)),
                "pulumi_libvirt (this tree)": ("import pulumi_libvirt", ROOT, from_tree(ROOT)),
            }
            times: dict[str, list[float]] = {name: [] for name in candidates}
            for _ in range(args.runs):
                for name, (statement, root, check) in candidates.items():
                    times[name].append(timed(statement, root, check))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(baseline)], check=False)
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"{name:40s} {value * 1000:8.1f} ms (median of {args.runs})")
    ratio = medians["pulumi_libvirt (this tree)"] / medians[f"pulumi_libvirt at {args.baseline}"]
    print(f"{'this tree / baseline':40s} {ratio:8.2f}x (target <= {TARGET}x)")
    modules = sorted((ROOT / "pulumi_libvirt" / "types").glob("*.py"),
                     key=lambda p: p.stat().st_size)
    largest = modules[-1].stem
    on_demand = statistics.median(
        timed(f"import pulumi_libvirt.types.{largest}", ROOT, setup="import pulumi_libvirt")
        for _ in range(min(args.runs, 10)))
    print(f"{'+ pulumi_libvirt.types.' + largest + ' (on demand)':40s} "
          f"{on_demand * 1000:8.1f} ms")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
