"""Reading uploaded media and turning it into signals, inside the configured limits."""

from __future__ import annotations

from starlette.datastructures import UploadFile

from brightline.service.state import ServiceState
from brightline.signals.files import check_payload
from brightline.signals.hashing import MediaHashes, hash_bytes


def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """The uploaded file's bytes (blocking: call from a worker thread), or a media error."""
    upload.file.seek(0)
    return check_payload(upload.file.read(max_bytes + 1), max_bytes, upload.filename or "upload")


def hash_upload(
    state: ServiceState,
    upload: UploadFile,
    *,
    exact: bool = False,
    dihedral: bool | None = None,
    known: bool = False,
) -> MediaHashes:
    """Hash one uploaded image with the service's limits; CPU-bound, so call from a worker thread."""
    data = read_upload(upload, state.settings.max_file_bytes)
    hashes = hash_bytes(data, state.hash_options(exact=exact, dihedral=dihedral, known=known))
    state.metrics.hashes.inc()
    return hashes
