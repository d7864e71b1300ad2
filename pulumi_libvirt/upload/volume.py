"""Another libvirt volume's bytes, as stored, as an image source (a download stream)."""

from __future__ import annotations

from collections.abc import Iterator

import libvirt

from .errors import SourceError, TransferError
from .formats import HEAD_SIZE, sniff_format, virtual_size
from .source import CHUNK_SIZE, Source, _vol_name
from .sparse import Item
from .stream import abort


class VolumeSource(Source):
    """Another libvirt volume's bytes as stored, read through a libvirt download stream: a
    qcow2 overlay keeps its header, and so its backing file, when copied this way."""

    def __init__(
        self,
        conn: libvirt.virConnect,
        vol: libvirt.virStorageVol,
        *,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        super().__init__(None, chunk_size)
        self.digest = False
        self._conn, self._vol = conn, vol
        try:
            self.description = f"volume {vol.path()}"
            # The file's length (a qcow2's capacity is its virtual size).
            self.size = int(vol.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2])
            head = b"".join(self._chunks(HEAD_SIZE))
        except libvirt.libvirtError as e:
            raise SourceError(
                f"cannot read volume '{_vol_name(vol)}': {e.get_error_message()}"
            ) from None
        self.format = sniff_format(head)
        self.virtual_size = virtual_size(head)

    def _chunks(self, length: int) -> Iterator[bytes]:
        st = self._conn.newStream(0)
        self._vol.download(st, 0, length, 0)
        done = False
        try:
            while True:
                data = st.recv(self.chunk_size)
                if isinstance(data, int):  # -2: would block (a non-blocking stream)
                    raise TransferError(f"{self.description}: the stream is non-blocking")
                if not data:
                    break
                yield data
            st.finish()
            done = True
        finally:
            if not done:
                abort(st)

    def _items(self) -> Iterator[Item]:
        try:
            yield from self._chunks(0)
        except libvirt.libvirtError as e:
            raise TransferError(
                f"reading {self.description} failed: {e.get_error_message()}"
            ) from None
