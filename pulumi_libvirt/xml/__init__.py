"""The XML core: libvirt's XML vocabulary as plain Python data (lxml only; no libvirt, no Pulumi).

    from_xml(kind, text) -> dict      to_xml(kind, model) -> str
    check(kind, model) -> [Problem]   project / differences / same: intent-preserving comparison

``kind`` is one of ``KINDS``. The tables behind them are generated from libvirt's RelaxNG
schemas by ``scripts/generate.py``; ``policy`` holds what the schemas cannot say.
"""

from .check import UNKNOWN, Problem, check
from .compare import (
    canonical,
    changed_values,
    differences,
    has_unknown,
    match_items,
    merge,
    project,
    same,
    to_bytes,
)
from .convert import canonical as canonical_xml
from .convert import from_xml, to_xml
from .spec import KINDS, key_path, load, update_mode

__all__ = [
    "KINDS", "UNKNOWN", "Problem", "canonical", "canonical_xml", "changed_values", "check",
    "differences", "from_xml", "has_unknown", "key_path", "load", "match_items", "merge",
    "project", "same", "to_bytes", "to_xml", "update_mode",
]
