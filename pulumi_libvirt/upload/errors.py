"""What an upload raises, and what it returns."""

from __future__ import annotations

from dataclasses import dataclass


class UploadError(Exception):
    """Base class of every error raised by the upload package."""


class SourceError(UploadError, ValueError):
    """The source dict is invalid, cannot be opened, or does not fit the volume's format."""


class TransferError(UploadError):
    """Reading the image failed (HTTP status, network error, retries exhausted)."""


class IntegrityError(UploadError):
    """The bytes read do not have the expected sha256 digest."""


class VolumeWriteError(UploadError):
    """libvirt refused or failed to write the volume."""


class CapacityError(VolumeWriteError):
    """The image is larger than the volume's capacity."""


class PoolSpaceError(VolumeWriteError):
    """The image's data does not fit in the space the volume's pool has."""


@dataclass(frozen=True)
class UploadResult:
    """What an upload wrote."""

    bytes: int  #: image bytes written to the volume (data and holes)
    sha256: str | None  #: hex digest of those bytes (None if the source was opened digest=False)
    sent: int  #: data bytes actually sent over the stream (``bytes`` minus holes)
    sparse: bool  #: whether a sparse stream was used
    resumes: int = 0  #: HTTP reconnections during the upload
    seconds: float = 0.0
