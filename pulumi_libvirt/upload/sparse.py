"""Zeros: runs found in data and holes found in files, and hashed without being copied.

A run of zeros becomes a hole in the volume only when it covers whole ``MIN_HOLE`` blocks
aligned to the image's offsets: shorter runs are sent as data (tiny holes would fragment the
stream into small messages and the file into small extents).
"""

from __future__ import annotations

import errno
import functools
import os
from collections.abc import Iterator
from typing import Any

#: Smallest run of zeros sent as a hole; runs are whole blocks of this size, aligned.
MIN_HOLE = 64 * 1024

#: What flows through an upload: data (bytes: libvirt's stream takes nothing else) or a run
#: of that many zero bytes (int).
Item = bytes | int

_ZERO_BLOCK = bytes(MIN_HOLE)
_ZEROS = memoryview(bytes(1024 * 1024))  # shared, read-only: slicing a memoryview copies nothing


@functools.lru_cache(maxsize=4)
def zeros(n: int) -> bytes:
    """``n`` zero bytes (one shared object per size: usually only the chunk size)."""
    return bytes(n)


def hash_zeros(hasher: Any, n: int) -> None:
    """Feed ``n`` zero bytes to ``hasher`` from the shared buffer."""
    step = len(_ZEROS)
    while n > step:
        hasher.update(_ZEROS)
        n -= step
    if n:
        hasher.update(_ZEROS[:n])


def split_zeros(data: bytes, offset: int) -> list[Item]:
    """Split ``data`` (found at image ``offset``) into data pieces and zero-run lengths, in order.

    Only whole ``MIN_HOLE`` blocks aligned to image offsets count as zeros; a chunk without any
    comes back as ``[data]`` (the common, dense case costs one comparison per block, which stops
    at the first non-zero byte).
    """
    size = len(data)
    pos = -offset % MIN_HOLE
    runs: list[tuple[int, int]] = []
    while pos + MIN_HOLE <= size:
        if not data.startswith(_ZERO_BLOCK, pos):  # memcmp in place, no copy
            pos += MIN_HOLE
            continue
        start = pos
        pos += MIN_HOLE
        while pos + MIN_HOLE <= size and data.startswith(_ZERO_BLOCK, pos):
            pos += MIN_HOLE
        runs.append((start, pos))
    if not runs:
        return [data]
    pieces: list[Item] = []
    done = 0
    for start, end in runs:
        if start > done:
            pieces.append(data[done:start])
        pieces.append(end - start)
        done = end
    if done < size:
        pieces.append(data[done:])
    return pieces


def seek(fd: int, pos: int, whence: int, size: int) -> int | None:
    """lseek for SEEK_DATA/SEEK_HOLE: ``size`` past the last data, None if unsupported."""
    try:
        return os.lseek(fd, pos, whence)
    except OSError as e:
        if e.errno == errno.ENXIO:
            return size
        if e.errno in (errno.EINVAL, errno.EOPNOTSUPP):
            return None
        raise


def data_sections(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """The file's data as ``(start, end)`` sections in order, found lazily, skipping holes of
    at least MIN_HOLE; where the file system cannot tell holes, the rest of the file is data."""
    pos = 0
    while pos < size:
        start = seek(fd, pos, os.SEEK_DATA, size)
        if start is None:  # SEEK_DATA unsupported
            yield pos, size
            return
        if start >= size:
            return
        pos = data_end(fd, start, size)
        yield start, pos


def data_bytes(fd: int, size: int) -> int | None:
    """Bytes of ``fd`` outside holes of at least MIN_HOLE (what a sparse upload sends as data);
    None where the file system cannot tell."""
    if size and seek(fd, 0, os.SEEK_DATA, size) is None:
        return None
    return sum(end - start for start, end in data_sections(fd, size))


def data_end(fd: int, pos: int, size: int) -> int:
    """End of the file's data section at ``pos``, ignoring holes shorter than MIN_HOLE."""
    while True:
        hole = seek(fd, pos, os.SEEK_HOLE, size)
        if hole is None or hole >= size:
            return size
        nxt = seek(fd, hole, os.SEEK_DATA, size)
        if nxt is None or nxt >= size or nxt - hole >= MIN_HOLE:
            return hole
        pos = nxt
