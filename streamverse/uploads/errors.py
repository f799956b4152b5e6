"""The ways an upload is refused, each with its HTTP status (``streamverse.errors``)."""

from __future__ import annotations

from ..errors import ServiceError


class PayloadTooLarge(ServiceError):
    status = 413


class UnsupportedMediaType(ServiceError):
    """Not an allowed format by its content, or (tus) a PATCH that is not
    ``application/offset+octet-stream``."""

    status = 415


class Gone(ServiceError):
    """A tus upload that existed but can no longer be resumed (terminated, expired, failed)."""

    status = 410


class PreconditionFailed(ServiceError):
    """A tus request without ``Tus-Resumable: 1.0.0``."""

    status = 412


class Locked(ServiceError):
    """Another request holds the upload and did not let go in time."""

    status = 423


class ChecksumMismatch(ServiceError):
    """tus checksum extension: the PATCH body does not match ``Upload-Checksum``."""

    status = 460


class InsufficientStorage(ServiceError):
    status = 507
