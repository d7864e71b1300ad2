"""Image formats: sniffed from the first bytes, checked against the volume's declared format."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import SourceError

#: Bytes needed to sniff a format (the ISO 9660 magic sits at 0x8001).
HEAD_SIZE = 64 * 1024

#: Formats that are containers (their bytes are not the disk's bytes): declared and sniffed
#: formats must agree for these. ``raw`` and ``iso`` are plain data.
CONTAINER_FORMATS = frozenset({"qcow", "qcow2", "qed", "vmdk", "vdi", "vhdx", "vpc", "luks"})


def sniff_format(head: bytes) -> str:
    """Guess an image format from its first bytes (64 KiB suffice); default ``raw``.

    ``iso`` is informational: an ISO image is raw data to libvirt.
    """
    if head[:4] == b"QFI\xfb":
        version = int.from_bytes(head[4:8], "big") if len(head) >= 8 else 2
        return "qcow" if version == 1 else "qcow2"
    if head[:4] == b"QED\x00":
        return "qed"
    if head[:4] == b"KDMV":
        return "vmdk"
    if head[:8] == b"vhdxfile":
        return "vhdx"
    if head[:8] == b"conectix":
        return "vpc"
    if head[0x40:0x44] == b"\x7f\x10\xda\xbe":
        return "vdi"
    if head[:6] == b"LUKS\xba\xbe":
        return "luks"
    if head[0x8001:0x8006] == b"CD001":
        return "iso"
    return "raw"


def virtual_size(head: bytes) -> int | None:
    """The disk size a qcow or qcow2 header declares (bytes 24-31), or None for other images."""
    if head[:4] == b"QFI\xfb" and len(head) >= 32:
        return int.from_bytes(head[24:32], "big")
    return None


@dataclass(frozen=True)
class ImageInfo:
    """What an image's first bytes tell (``probe``, ``Source.info``)."""

    description: str  #: the file path, or the URL without credentials and query
    size: int | None  #: bytes of the image (None: the server sends no length)
    format: str  #: sniffed from the first bytes (``sniff_format``)
    virtual_size: int | None  #: the disk size a qcow/qcow2 header declares
    #: bytes of data, when known without reading the image: a local file's size less its
    #: holes (None: an HTTP image, whose runs of zeros are found only while reading it)
    data_size: int | None = None

    @property
    def space_needed(self) -> int | None:
        """Bytes the image takes in a pool at most: its data where known, else its length
        (a sparse upload leaves runs of zeros as holes)."""
        return self.data_size if self.data_size is not None else self.size

    @property
    def disk_size(self) -> int | None:
        """The size of the disk the image holds: a qcow2's virtual size, else its length."""
        if self.format in CONTAINER_FORMATS:
            return self.virtual_size
        return self.size

    def check_format(self, declared: str | None) -> None:
        """Raise SourceError if the declared volume format contradicts the sniffed format."""
        try:
            check_format(self.format, declared)
        except SourceError as e:
            raise SourceError(f"{self.description}: {e}") from None


def check_format(sniffed: str, declared: str | None) -> None:
    """Raise SourceError when a declared volume format contradicts the sniffed image format."""
    if not declared:
        return
    declared = declared.lower()
    if declared == sniffed:
        return
    if sniffed in CONTAINER_FORMATS:
        raise SourceError(
            f"the image is {sniffed} but the volume format is {declared}: "
            f"set the volume's format to {sniffed!r} (or convert the image)"
        )
    if declared in CONTAINER_FORMATS:
        raise SourceError(
            f"the volume format is {declared} but the image is {sniffed} data "
            f"(no {declared} header): set the volume's format to 'raw'"
        )
