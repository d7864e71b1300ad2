"""What every image source shares: ``size``, ``format``, ``check_format`` and ``upload_into``.

A source only has to yield its bytes in order (``_items``); the upload runs it through the
pipeline (read -> sha256 -> send) into the volume. A new kind of source (in-memory bytes, say)
is a subclass that sets ``size``, ``format`` and ``description`` and implements ``_items``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import libvirt

from . import stream
from .errors import IntegrityError, TransferError, UploadError, UploadResult
from .formats import ImageInfo
from .pipeline import Pipeline
from .progress import NullProgress, Progress
from .sparse import Item, hash_zeros

#: Bytes per stream message: libvirt's own payload size (virsh uses it). Bigger messages look
#: faster on small uploads but halve the rate of multi-GiB ones (measured: 2 GiB at ~1000 MiB/s
#: with 256 KiB, 300-500 MiB/s with 1 MiB).
CHUNK_SIZE = 256 * 1024
#: Bytes per read from the source (and per handoff between stages): fewer, larger reads cost
#: less CPU (HTTP receive measured here: 0.28 CPU-s/GiB with 1 MiB reads, 0.44 with 256 KiB);
#: the writer cuts them into ``CHUNK_SIZE`` messages.
READ_SIZE = 1024 * 1024


class Source:
    """An opened image: ``size``, sniffed ``format``, and ``upload_into`` a volume (once)."""

    size: int | None
    format: str
    description: str

    def __init__(self, expected_sha256: str | None, chunk_size: int = CHUNK_SIZE) -> None:
        #: the disk size a qcow/qcow2 header declares, else None
        self.virtual_size: int | None = None
        #: bytes of data when known without reading (a local file's size less its holes)
        self.data_size: int | None = None
        self.expected_sha256 = expected_sha256
        self.chunk_size = chunk_size  #: bytes per stream message
        self.read_size = max(READ_SIZE, chunk_size)  #: bytes per read from the source
        #: compute sha256 while uploading (always when ``expected_sha256`` is set)
        self.digest = True
        self._used = False
        self._progress: Progress = NullProgress()
        self._cancel = threading.Event()  # set when any stage fails or the upload ends

    # -- what a subclass provides
    def _items(self) -> Iterator[Item]:
        """Yield the image in order: data (bytes, at most ``read_size`` each) and runs of
        zeros known without reading them (int: their length, e.g. a file's holes)."""
        raise NotImplementedError

    def _interrupt(self) -> None:
        """Called from another thread to unblock ``_items`` when the upload stops."""

    @property
    def resumes(self) -> int:
        """HTTP reconnections so far."""
        return 0

    def close(self) -> None:
        """Release the file descriptor or HTTP connection."""

    # -- public API
    @property
    def info(self) -> ImageInfo:
        """Size, format and virtual size, as ``probe`` reports them."""
        return ImageInfo(
            self.description, self.size, self.format, self.virtual_size, self.data_size
        )

    def check_format(self, declared: str | None) -> None:
        """Raise SourceError if the declared volume format contradicts the sniffed format."""
        self.info.check_format(declared)

    def upload_into(
        self,
        conn: libvirt.virConnect,
        vol: libvirt.virStorageVol,
        progress: Progress | None = None,
    ) -> UploadResult:
        """Stream the whole image into ``vol`` from offset 0; verify sha256 when given.

        Runs of zeros become holes where the volume allows (see ``stream``). On any failure the
        libvirt stream is aborted and an UploadError (or the original exception, for
        interrupts) is raised; deleting the half-written volume is the caller's job.
        """
        if self._used:
            raise UploadError(f"{self.description}: a source can be uploaded only once")
        self._used = True
        self._progress = progress = progress or NullProgress()
        try:
            return self._upload(conn, vol, progress)
        finally:
            self._progress = NullProgress()
            self.close()  # a source is spent after one upload

    def _upload(
        self, conn: libvirt.virConnect, vol: libvirt.virStorageVol, progress: Progress
    ) -> UploadResult:
        name = _vol_name(vol)
        how = stream.plan(vol, self.size, name)
        t0 = time.monotonic()
        try:
            st, sparse = stream.open_stream(conn, vol, how, progress)
        except libvirt.libvirtError as e:
            raise stream.volume_error(e, name, 0, how.capacity) from e
        writer = stream.VolumeWriter(st, how, sparse=sparse, chunk=self.chunk_size, name=name)
        hasher = hashlib.sha256() if self.digest or self.expected_sha256 else None
        stages = [_hash_stage(hasher)] if hasher is not None else []
        progress.start(self.size)
        ok = False
        try:
            with Pipeline(
                self._items(), stages, stop=self._cancel, interrupt=self._interrupt
            ) as items:
                for item in items:
                    writer.write(item)
                    progress.update(writer.done)
            done = writer.done
            digest = hasher.hexdigest() if hasher is not None else None
            if self.size is not None and done != self.size:
                raise TransferError(f"{self.description}: got {done} bytes, expected {self.size}")
            if self.expected_sha256 and digest != self.expected_sha256:
                raise IntegrityError(
                    f"{self.description}: sha256 mismatch: expected {self.expected_sha256}, "
                    f"got {digest} ({done} bytes)"
                )
            writer.close()
            st.finish()
            ok = True
        except libvirt.libvirtError as e:
            stream.abort(st)
            raise stream.volume_error(e, name, writer.done, how.capacity) from e
        except BaseException:
            stream.abort(st)
            raise
        finally:
            progress.finish(writer.done, ok)
        return UploadResult(
            bytes=done,
            sha256=digest,
            sent=writer.sent,
            sparse=sparse,
            resumes=self.resumes,
            seconds=time.monotonic() - t0,
        )

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # last resort; close() is the contract
        try:
            self.close()
        except Exception:
            pass


def _hash_stage(hasher: Any) -> Callable[[Item], None]:
    """The pipeline stage that feeds every byte to ``hasher`` (zero runs from a shared buffer)."""
    update = hasher.update

    def sha256(item: Item) -> None:
        if isinstance(item, int):
            hash_zeros(hasher, item)
        else:
            update(item)

    return sha256


def _vol_name(vol: libvirt.virStorageVol) -> str:
    try:
        return vol.name()
    except libvirt.libvirtError:
        return "?"
