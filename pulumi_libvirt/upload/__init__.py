"""Stream an image (HTTP(S) URL, local file, or bytes) into an existing libvirt storage volume.

One job: get bytes into a volume through a libvirt stream with memory that stays flat whatever
the image size. No Pulumi, no XML core. Typical use (the Volume provider)::

    with upload.open_source({"url": "https://host/img.qcow2", "sha256": "..."}) as src:
        src.check_format("qcow2")           # before any byte is written
        result = src.upload_into(conn, vol, progress=upload.StderrProgress("volume 'x'"))

- Reading, sha256 and sending to libvirt are stages in threads joined by bounded queues
  (``pipeline``); stream messages are 256 KiB.
- Runs of zeros (aligned 64 KiB blocks, from any source) and a file's holes go to libvirt as
  holes of a sparse stream where the volume reads as zeros already (``stream``): a raw volume
  stays as sparse as its image. The digest still covers every byte.
- HTTP resumes dropped connections with Range requests (``http``); files are read with pread,
  their holes skipped (``file``); ``BytesSource`` uploads bytes held in memory (``memory``),
  ``VolumeSource`` another volume's bytes as stored (``volume``).
- ``probe`` tells an image's size, format and virtual size from its first 64 KiB, without
  downloading it.
- libvirt lets a file volume grow past its capacity: the capacity is enforced here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from .errors import (
    CapacityError,
    IntegrityError,
    PoolSpaceError,
    SourceError,
    TransferError,
    UploadError,
    UploadResult,
    VolumeWriteError,
)
from .file import FileSource
from .formats import CONTAINER_FORMATS, ImageInfo, check_format, sniff_format, virtual_size
from .http import HttpSource, RetryPolicy, probe_http
from .memory import BytesSource
from .progress import NullProgress, Progress, StderrProgress
from .source import CHUNK_SIZE, READ_SIZE, Source
from .sparse import MIN_HOLE
from .validation import SOURCE_FIELDS, raise_if_invalid, validate_source
from .volume import VolumeSource

__all__ = [
    "CHUNK_SIZE",
    "CONTAINER_FORMATS",
    "MIN_HOLE",
    "READ_SIZE",
    "SOURCE_FIELDS",
    "BytesSource",
    "CapacityError",
    "PoolSpaceError",
    "FileSource",
    "HttpSource",
    "ImageInfo",
    "IntegrityError",
    "NullProgress",
    "Progress",
    "RetryPolicy",
    "Source",
    "SourceError",
    "StderrProgress",
    "TransferError",
    "UploadError",
    "UploadResult",
    "VolumeSource",
    "VolumeWriteError",
    "check_format",
    "open_source",
    "probe",
    "sniff_format",
    "validate_source",
    "virtual_size",
]


def open_source(
    source: Mapping[str, Any],
    *,
    chunk_size: int = CHUNK_SIZE,
    retry: RetryPolicy | None = None,
    timeout: tuple[float, float] = (15.0, 60.0),
    session: requests.Session | None = None,
    digest: bool = True,
) -> Source:
    """Validate ``source``, connect (HTTP GET or open the file), sniff the format, learn the size.

    ``digest=False`` skips computing sha256 when the source gives none to verify (saves about
    0.5 CPU-seconds per GiB; ``UploadResult.sha256`` is then None).
    Raises SourceError for an invalid dict or an unreadable file, TransferError when the server
    cannot be reached or answers with an error status.
    """
    raise_if_invalid(source)
    sha = source.get("sha256")
    expected = sha.lower() if sha else None
    url = source.get("url")
    src: Source
    if url is not None and urlsplit(url).scheme.lower() == "file":
        src = FileSource(unquote(urlsplit(url).path), expected, chunk_size=chunk_size)
    elif url is not None:
        src = HttpSource(
            url,
            expected,
            headers=dict(source.get("headers") or {}),
            chunk_size=chunk_size,
            retry=retry or RetryPolicy(),
            timeout=timeout,
            session=session,
        )
    else:
        src = FileSource(source["path"], expected, chunk_size=chunk_size)
    src.digest = digest or bool(expected)
    return src


def probe(
    source: Mapping[str, Any],
    *,
    timeout: tuple[float, float] = (15.0, 30.0),
    session: requests.Session | None = None,
) -> ImageInfo:
    """Learn an image's size, format and virtual size from its first 64 KiB, without
    downloading it: one HTTP GET with ``Range: bytes=0-65535`` (read no further, whatever the
    server sends), or a local read. Raises SourceError / TransferError like ``open_source``.
    """
    raise_if_invalid(source)
    url = source.get("url")
    if url is None or urlsplit(url).scheme.lower() == "file":
        with open_source(source, digest=False) as src:
            return src.info
    return probe_http(url, dict(source.get("headers") or {}), timeout=timeout, session=session)
