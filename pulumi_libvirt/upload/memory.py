"""Bytes already in memory (a generated ISO or config) as an image source, no temporary file."""

from __future__ import annotations

from collections.abc import Iterator

from .formats import HEAD_SIZE, sniff_format
from .source import CHUNK_SIZE, Source
from .sparse import Item


class BytesSource(Source):
    """Bytes already in memory (a generated ISO or config), sent in chunks.

    ``description`` names the data in messages; the bytes themselves never appear there.
    """

    def __init__(
        self,
        data: bytes | bytearray | memoryview,
        description: str = "in-memory data",
        expected_sha256: str | None = None,
        *,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        super().__init__(expected_sha256, chunk_size)
        self._data = memoryview(data).cast("B")
        self.description = description
        self.size = len(self._data)
        self.format = sniff_format(bytes(self._data[:HEAD_SIZE]))

    def _items(self) -> Iterator[Item]:
        data, chunk = self._data, self.read_size
        for start in range(0, len(data), chunk):
            yield bytes(data[start : start + chunk])  # libvirt's stream takes only bytes

    def close(self) -> None:
        self._data = memoryview(b"")
