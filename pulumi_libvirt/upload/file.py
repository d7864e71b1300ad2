"""A local file (or block device) as an image source; its holes are known without reading them."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

from .errors import SourceError, TransferError
from .formats import HEAD_SIZE, sniff_format, virtual_size
from .source import CHUNK_SIZE, Source
from .sparse import Item, data_bytes, data_sections


class FileSource(Source):
    """A local file read with ``pread``; holes of at least MIN_HOLE are skipped, not read."""

    def __init__(
        self, path: str, expected_sha256: str | None = None, *, chunk_size: int = CHUNK_SIZE
    ) -> None:
        super().__init__(expected_sha256, chunk_size)
        self.path = path
        self.description = path
        self._fd: int | None = None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise SourceError(f"source.path: cannot open {path}: {e.strerror}") from None
        self._fd = fd
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise SourceError(f"source.path: {path} is a directory")
            if stat.S_ISREG(st.st_mode):
                self.size = st.st_size
                self.data_size = data_bytes(fd, st.st_size)
            else:
                self.size = os.lseek(fd, 0, os.SEEK_END)
            head = os.pread(fd, HEAD_SIZE, 0)
            self.format = sniff_format(head)
            self.virtual_size = virtual_size(head)
        except OSError as e:
            self.close()
            raise SourceError(f"source.path: cannot read {path}: {e.strerror}") from None
        except BaseException:
            self.close()
            raise

    def _items(self) -> Iterator[Item]:
        fd, size, chunk = self._fd, self.size or 0, self.read_size
        assert fd is not None
        pos = 0
        for start, end in data_sections(fd, size):
            if start > pos:
                yield start - pos  # a hole
            pos = start
            while pos < end:
                data = os.pread(fd, min(chunk, end - pos), pos)
                if not data:
                    raise TransferError(f"{self.path}: file shrank to {pos} bytes while reading")
                yield data
                pos += len(data)
        if pos < size:
            yield size - pos  # the final hole
        now = os.fstat(fd)
        if stat.S_ISREG(now.st_mode) and now.st_size < size:  # its tail read as a hole
            raise TransferError(f"{self.path}: file shrank to {now.st_size} bytes while reading")

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
