"""Bytes already in memory (an ISO image built on the fly, say) as an image source."""

from __future__ import annotations

from collections.abc import Iterator

from .formats import HEAD_SIZE, sniff_format
from .source import CHUNK_SIZE, Source
from .sparse import Item


class BytesSource(Source):
    """An image held in memory; ``description`` names it in messages."""

    def __init__(
        self,
        data: bytes,
        expected_sha256: str | None = None,
        *,
        description: str = "in-memory image",
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        super().__init__(expected_sha256, chunk_size)
        self._data = bytes(data)
        self.size = len(self._data)
        self.format = sniff_format(self._data[:HEAD_SIZE])
        self.description = description

    def _items(self) -> Iterator[Item]:
        data, chunk = self._data, self.chunk_size
        for i in range(0, len(data), chunk):
            yield data[i : i + chunk]
