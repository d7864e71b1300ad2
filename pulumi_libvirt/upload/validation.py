"""Checking a ``source`` dict's shape, before anything is opened (pure: no network, no files)."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .errors import SourceError

SOURCE_FIELDS = ("url", "path", "sha256", "headers")
_SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_TOKEN_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def validate_source(
    source: Any, *, is_unknown: Callable[[Any], bool] | None = None
) -> list[tuple[str, str]]:
    """Check a source dict's shape; return ``[(field, message)]`` (empty when valid).

    Fields: exactly one of ``url`` (http, https or file) and ``path`` (absolute); optional
    ``sha256`` (64 hex characters) and ``headers`` (dict of str to str, http(s) only). Values for
    which ``is_unknown`` returns true (e.g. Pulumi preview placeholders) are not checked.
    """
    unknown = is_unknown or (lambda _v: False)
    if not isinstance(source, Mapping):
        return [("source", "must be a dict with either 'url' or 'path'")]
    problems: list[tuple[str, str]] = []
    for key in source:
        if key not in SOURCE_FIELDS:
            hint = difflib.get_close_matches(str(key), SOURCE_FIELDS, n=1)
            extra = f"; did you mean '{hint[0]}'?" if hint else ""
            problems.append(
                (str(key), f"unknown field (expected {', '.join(SOURCE_FIELDS)}){extra}")
            )
    url, path = source.get("url"), source.get("path")
    if url is None and path is None:
        problems.append(("url", "one of 'url' or 'path' is required"))
    elif url is not None and path is not None:
        problems.append(("url", "give either 'url' or 'path', not both"))
    scheme = None
    if url is not None and not unknown(url):
        if not isinstance(url, str):
            problems.append(("url", f"must be a string, got {type(url).__name__}"))
        else:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            if scheme not in ("http", "https", "file"):
                problems.append(
                    (
                        "url",
                        f"scheme must be http, https or file, got {url.split(':')[0]!r}"
                        if ":" in url
                        else "must be an absolute URL (http, https or file)",
                    )
                )
            elif scheme in ("http", "https") and not parts.hostname:
                problems.append(("url", "has no host"))
            elif scheme == "file":
                if parts.netloc not in ("", "localhost"):
                    problems.append(("url", "file URLs must be local (file:///abs/path)"))
                elif not parts.path.startswith("/"):
                    problems.append(("url", "file URL must have an absolute path"))
    if path is not None and not unknown(path):
        if not isinstance(path, str):
            problems.append(("path", f"must be a string, got {type(path).__name__}"))
        elif not os.path.isabs(path):
            problems.append(("path", f"must be an absolute path, got {path!r}"))
    sha = source.get("sha256")
    if sha is not None and not unknown(sha):
        if not isinstance(sha, str):
            problems.append(("sha256", f"must be a string, got {type(sha).__name__}"))
        elif not _SHA256_RE.match(sha):
            problems.append(
                ("sha256", f"must be 64 hexadecimal characters, got {len(sha)} characters")
                if len(sha) != 64
                else ("sha256", "must contain only hexadecimal characters")
            )
    headers = source.get("headers")
    if headers is not None and not unknown(headers):
        if not isinstance(headers, Mapping):
            problems.append(
                ("headers", f"must be a dict of str to str, got {type(headers).__name__}")
            )
        else:
            if path is not None or scheme == "file":
                problems.append(("headers", "only used with http and https URLs"))
            for name, value in headers.items():
                if unknown(value):
                    continue
                if not isinstance(name, str) or not _TOKEN_RE.match(name):
                    problems.append(("headers", f"invalid header name {name!r}"))
                elif not isinstance(value, str):
                    problems.append(
                        (
                            "headers",
                            f"value of {name!r} must be a string, got {type(value).__name__}",
                        )
                    )
                elif "\r" in value or "\n" in value:
                    problems.append(("headers", f"value of {name!r} must not contain line breaks"))
    return problems


def raise_if_invalid(source: Any) -> None:
    """Raise SourceError naming every problem of ``source`` (``source.<field>: ...``)."""
    problems = validate_source(source)
    if problems:
        raise SourceError("; ".join(f"source.{f}: {m}" for f, m in problems))
