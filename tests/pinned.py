"""The pinned libvirt schemas the tables are generated from (scripts/fetch_schemas.py), for
tests that compare or validate against them whatever libvirt this machine runs.

``schema_dir()`` fetches them into the cache when missing; when that fails the calling test
fails, saying how to fetch them.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from functools import cache

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import fetch_schemas  # noqa: E402


def fetcher():
    """scripts/fetch_schemas.py as a module."""
    return fetch_schemas


@cache
def generator():
    """scripts/generate.py as a module."""
    spec = importlib.util.spec_from_file_location("_generate", ROOT / "scripts" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def _ensure() -> tuple[pathlib.Path | None, str]:
    fetch = fetcher()
    try:
        return fetch.ensure(), ""
    except fetch.FetchError as exc:
        return None, f"{fetch.missing_message()}. Fetching them failed: {exc}"


def schema_dir() -> pathlib.Path:
    """The pinned schemas' directory; fails the test when they cannot be had."""
    directory, problem = _ensure()
    if directory is None:
        pytest.fail(problem, pytrace=False)
    return directory
