"""The libvirt side of an upload: which stream to open, and the writer that feeds it.

Holes are only safe where the volume already reads as zeros: libvirt writes a hole by seeking
past it (bytes already there stay), and truncates the file where a sparse stream ends. So:

- a file volume in raw format with nothing allocated (fresh, sparse) takes holes anywhere, and
  the stream runs to its capacity (a final hole keeps the file that long);
- another file volume (a fresh qcow2 has a header; a preallocated raw file has extents) takes
  holes only past its current physical end; zeros before it are sent as data;
- block volumes get no holes at all (a device keeps whatever it held).

A file volume's data must also fit in its pool: the writer stops before the data it sent
exceeds what the pool had available when the upload began (a full file system fails libvirt's
write with ENOSPC, which libvirt 11.3's daemon does not survive), keeping a margin for the file
system's own blocks.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import libvirt

from .errors import CapacityError, PoolSpaceError, UploadError, VolumeWriteError
from .progress import Progress
from .sparse import Item, split_zeros, zeros


@dataclass(frozen=True)
class Plan:
    """How to stream into one volume."""

    capacity: int
    length: int  #: bytes announced to libvirt
    holes_from: int | None  #: offset from which zero runs may be holes (None: no holes)
    pad: bool  #: end the stream with a hole up to ``length`` (keeps a raw file its full size)
    room: int | None = None  #: data bytes the pool takes (None: not a file, or not known)
    pool: str = "?"


def room_margin(available: int) -> int:
    """Bytes kept free in a pool beyond the data: its file system's own blocks (extent trees,
    journal)."""
    return min(1024 * 1024 + available // 100, 64 * 1024 * 1024)


def plan(vol: libvirt.virStorageVol, size: int | None, name: str) -> Plan:
    """Decide length and holes for ``vol`` and an image of ``size`` bytes (None: unknown)."""
    try:
        kind, capacity, allocation = vol.info()
    except libvirt.libvirtError as e:
        raise VolumeWriteError(f"cannot read volume '{name}': {e.get_error_message()}") from e
    if size is not None and size > capacity:
        raise CapacityError(
            f"image is larger than the volume's capacity {capacity} bytes "
            f"(image {size} bytes, volume '{name}')"
        )
    length = size if size is not None else capacity
    if kind != libvirt.VIR_STORAGE_VOL_FILE:
        return Plan(capacity, length, None, False)
    pool, room = _room(vol, allocation)
    if allocation == 0 and _format(vol) == "raw":
        return Plan(capacity, capacity, 0, True, room, pool)
    try:
        physical = vol.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2]
    except (libvirt.libvirtError, AttributeError):
        return Plan(capacity, length, None, False, room, pool)
    return Plan(capacity, length, physical if physical < length else None, False, room, pool)


def _room(vol: libvirt.virStorageVol, allocation: int) -> tuple[str, int | None]:
    """The pool's name, and the data bytes a file volume can take: what the pool has available
    less a margin, plus what the volume already holds (rewritten in place)."""
    try:
        pool = vol.storagePoolLookupByVolume()
        available = pool.info()[3]
        return pool.name(), max(available - room_margin(available), 0) + allocation
    except libvirt.libvirtError:
        return "?", None


def _format(vol: libvirt.virStorageVol) -> str | None:
    try:
        found = ET.fromstring(vol.XMLDesc(0)).find("target/format")
    except (libvirt.libvirtError, ET.ParseError):
        return None
    return found.get("type") if found is not None else None


def open_stream(
    conn: libvirt.virConnect, vol: libvirt.virStorageVol, how: Plan, progress: Progress
) -> tuple[libvirt.virStream, bool]:
    """Start the upload: ``(stream, sparse)``; a sparse stream when holes may be sent and the
    host accepts one, a plain stream otherwise."""
    if how.holes_from is not None:
        st = conn.newStream(0)
        try:
            vol.upload(st, 0, how.length, libvirt.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM)
            return st, True
        except libvirt.libvirtError as e:
            abort(st)
            progress.note(f"sparse upload refused ({e.get_error_message()}); sending all bytes")
        except BaseException:
            abort(st)
            raise
    st = conn.newStream(0)
    try:
        vol.upload(st, 0, how.length, 0)
    except BaseException:
        abort(st)
        raise
    return st, False


class VolumeWriter:
    """Writes items at increasing offsets: data as stream messages of at most ``chunk`` bytes,
    zero runs as holes where ``how`` allows (and the stream is sparse), as zero data elsewhere.

    Refuses anything past the volume's capacity (libvirt would let a file grow past it).
    """

    def __init__(
        self, st: libvirt.virStream, how: Plan, *, sparse: bool, chunk: int, name: str
    ) -> None:
        self._st = st
        self._how = how
        self._holes_from = how.holes_from if sparse else None
        self._chunk = chunk
        self._name = name
        self.done = 0  #: image bytes written (data and zeros)
        self.sent = 0  #: data bytes sent over the stream
        self._hole = 0  #: zeros not yet sent as a hole (merged with the next run)

    def write(self, item: Item) -> None:
        if isinstance(item, int):
            self._zeros(item)
        elif self._holes_from is None:
            self._data(item)
        else:
            for piece in split_zeros(item, self.done):
                if isinstance(piece, int):
                    self._zeros(piece)
                else:
                    self._data(piece)

    def close(self) -> None:
        """Send what is pending (and the final hole of a padded stream)."""
        if self._how.pad and self._holes_from is not None and self._how.length > self.done:
            self._hole += self._how.length - self.done
        self._flush_hole()

    def _check(self, n: int) -> None:
        if self.done + n > self._how.capacity:
            raise CapacityError(
                f"image is larger than the volume's capacity {self._how.capacity} bytes "
                f"(volume '{self._name}')"
            )

    def _zeros(self, n: int) -> None:
        self._check(n)
        start = self.done
        self.done += n
        # zeros before ``holes_from`` overwrite what the volume holds there: send them as data
        if self._holes_from is None:
            as_data = n
        else:
            as_data = min(max(self._holes_from - start, 0), n)
        if as_data:
            self._flush_hole()
            left = as_data
            while left:
                k = min(left, self._chunk)
                self._send(zeros(k))
                left -= k
        self._hole += n - as_data

    def _data(self, data: bytes) -> None:
        self._check(len(data))
        self._flush_hole()
        self.done += len(data)
        if len(data) <= self._chunk:
            self._send(data)
            return
        for i in range(0, len(data), self._chunk):
            self._send(data[i : i + self._chunk])

    def _flush_hole(self) -> None:
        if self._hole:
            hole, self._hole = self._hole, 0
            self._st.sendHole(hole, 0)

    def _send(self, data: bytes) -> None:
        room = self._how.room
        if room is not None and self.sent + len(data) > room:
            raise PoolSpaceError(
                f"the image's data does not fit in pool '{self._how.pool}' (volume "
                f"'{self._name}'): it had room for {room} bytes when the upload began; "
                f"stopped after sending {self.sent} bytes, before the pool filled up"
            )
        self.sent += len(data)
        while data:
            n = self._st.send(data)
            if n < 0:
                raise VolumeWriteError("libvirt stream is non-blocking (unexpected)")
            if n >= len(data):
                return
            data = data[n:]


def abort(st: libvirt.virStream) -> None:
    """Abort ``st``, ignoring errors (the original failure says more)."""
    try:
        st.abort()
    except libvirt.libvirtError:
        pass


def volume_error(e: libvirt.libvirtError, name: str, done: int, capacity: int) -> UploadError:
    """The UploadError for a libvirt failure while writing ``done`` bytes."""
    msg = e.get_error_message() or str(e)
    if "No space left on device" in msg and done >= capacity:
        return CapacityError(
            f"image is larger than the volume's capacity {capacity} bytes (volume '{name}')"
        )
    return VolumeWriteError(f"writing volume '{name}' failed after {done} bytes: {msg}")
