"""POST /v1/hash, /v1/match and /v1/scan: the endpoints that look at media and hashes.

They are plain ``def`` functions, so FastAPI runs them on its threadpool: hashing and
matching are CPU-bound and would otherwise stall the event loop.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, Query, UploadFile

from brightline.auth import ApiKeyInfo
from brightline.errors import PayloadTooLargeError, ScanRecordNotFoundError, SignalError, ValidationError
from brightline.matching import Match
from brightline.records import ScanMetadata, ScanRecord
from brightline.service.deps import JsonBody, MultipartBody, require_scope
from brightline.service.schemas import (
    HashOut,
    MatchOut,
    MatchRequest,
    MatchResponse,
    ScanResponse,
    SignalResult,
    VpdqFeatureOut,
    public_match,
)
from brightline.service.state import ServiceState, get_state
from brightline.service.uploads import hash_upload
from brightline.signals.registry import get_signal_type

router = APIRouter(prefix="/v1", tags=["media"])
State = Annotated[ServiceState, Depends(get_state)]
ImageFile = Annotated[
    UploadFile,
    File(description="The image (JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC, AVIF) or video (MP4, MOV, WebM, MKV, AVI...)."),
]


@router.post("/hash", summary="Hash an image or video (scope: hash)")
def hash_media(
    _key: Annotated[ApiKeyInfo, Depends(require_scope("hash"))],
    _body: Annotated[None, MultipartBody],
    state: State,
    file: ImageFile,
    exact: Annotated[bool, Query(description="Decode at full size (slower, reference-exact).")] = False,
    dihedral: Annotated[bool, Query(description="Also return the 8 rotated/flipped PDQ hashes.")] = False,
) -> HashOut:
    """The signals: PDQ with its quality (vPDQ frames for a video), MD5 and SHA-256 of the bytes."""
    hashes = hash_upload(state, file, exact=exact, dihedral=dihedral)
    floor = state.settings.min_quality
    # Fields every answer has; the image or video specifics are filled in below.
    common = HashOut(
        pdq=None,
        quality=None,
        md5=hashes.md5,
        sha256=hashes.sha256,
        low_quality=False,
        width=hashes.width,
        height=hashes.height,
        format=hashes.format,
    )
    if hashes.video is not None:
        features = hashes.video.features
        return common.model_copy(
            update={
                "low_quality": not any(f.quality >= floor for f in features),
                "video_md5": hashes.md5,
                "vpdq": [
                    VpdqFeatureOut(frame=f.frame_number, quality=f.quality, pdq=f.pdq, timestamp=round(f.timestamp, 3))
                    for f in features
                ],
                "duration": hashes.video.duration,
                "frame_count": hashes.video.frame_count,
            }
        )
    return common.model_copy(
        update={
            "pdq": hashes.pdq,
            "quality": hashes.quality,
            "low_quality": hashes.quality < floor,
            "pdq_dihedral": list(hashes.pdq_dihedral) if dihedral else None,
        }
    )


@router.post("/match", summary="Look hashes up in the banks (scope: match)")
def match_hashes(
    _key: Annotated[ApiKeyInfo, Depends(require_scope("match"))],
    _body: Annotated[None, JsonBody],
    state: State,
    request: MatchRequest,
) -> MatchResponse:
    """Matches for each signal of a batch (up to max_batch), in request order."""
    if len(request.signals) > state.settings.max_batch:
        raise PayloadTooLargeError(
            f"{len(request.signals)} signals is over the limit of {state.settings.max_batch} per request"
        )
    # Validate the whole batch first: a bad value is an error even when no bank holds its type.
    canonical: list[tuple[str, str]] = []
    for number, signal in enumerate(request.signals):
        try:
            kind = get_signal_type(signal.type)
            canonical.append((kind.name, kind.validate(signal.value)))
        except SignalError as exc:
            raise type(exc)(f"signals[{number}]: {exc.message}") from None
    results: list[SignalResult] = []
    for signal, (type_name, value) in zip(request.signals, canonical, strict=True):
        found = state.keeper.match_values(type_name, [value])
        state.metrics.count_matches(found)
        results.append(
            SignalResult(type=signal.type, value=signal.value, matches=[public_match(m.as_dict()) for m in found])
        )
    return MatchResponse(matched=any(r.matches for r in results), results=results)


def _context(raw: str | None) -> dict[str, object] | None:
    if raw is None or raw == "":
        return None
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"context is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(parsed, dict):
        raise ValidationError("context must be a JSON object")
    return parsed


def _record_response(
    record: ScanRecord, *, replayed: bool = False, low_quality: bool = False, live: Sequence[Match] = ()
) -> ScanResponse:
    # Recorded events keep no video details; a fresh scan adds them back from its live matches.
    details = {(m.bank, m.entry_id, m.signal_type): m.as_dict() for m in live}
    matches = [
        public_match({**details.get((e.bank, e.entry_id, e.signal_type), {}), **e.as_dict()}) for e in record.matches
    ]
    return ScanResponse(
        matched=bool(matches),
        scan_id=record.id,
        replayed=replayed or record.replayed,
        low_quality=low_quality,
        matches=matches,
    )


@router.post("/scan", summary="Hash, match and record an image or video (scope: scan)")
def scan_media(
    key: Annotated[ApiKeyInfo, Depends(require_scope("scan"))],
    _body: Annotated[None, MultipartBody],
    state: State,
    file: ImageFile,
    content_id: Annotated[str | None, Form(description="Your id for the content.")] = None,
    account_id: Annotated[str | None, Form(description="Your id for the uploading account.")] = None,
    source: Annotated[str | None, Form(description="Where the content came from (surface, feature).")] = None,
    context: Annotated[str | None, Form(description="Extra context as a JSON object.")] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key", max_length=255, description="Retries with the same key return the first record."
        ),
    ] = None,
) -> ScanResponse:
    """Hash the image or video and match it; a match is recorded (committed) before this returns.

    A scan that matches nothing stores nothing about the content, only aggregate counters.
    """
    metadata = ScanMetadata(content_id=content_id, account_id=account_id, source=source, context=_context(context))
    if idempotency_key:
        try:
            return _record_response(state.records.lookup_idempotent(key.id, idempotency_key), replayed=True)
        except ScanRecordNotFoundError:
            pass
    hashes = hash_upload(state, file)
    matches, low_quality = state.keeper.match_hashes(hashes)
    record = state.records.record_scan(
        api_key_id=key.id,
        idempotency_key=idempotency_key or None,
        metadata=metadata,
        hashes=hashes,
        # What we decoded, not what the client claimed.
        content_type="video" if hashes.is_video else f"image/{hashes.format.lower()}",
        matches=matches,
    )
    state.metrics.count_matches(matches)
    if record is not None:
        return _record_response(record, low_quality=low_quality, live=matches)
    found: list[MatchOut] = [public_match(m.as_dict()) for m in matches]
    return ScanResponse(matched=bool(found), low_quality=low_quality, matches=found)
