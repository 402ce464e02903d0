"""POST /v1/hash, /v1/match and /v1/scan: the endpoints that look at media and hashes.

Hashing is CPU-bound, so /v1/hash and /v1/scan do their work in one threadpool call, at most
``hashing_threads`` at a time per worker (``hashing_slots``; one per core per host by default):
more threads would only contend for the cores, the GIL and the database. /v1/match looks a
small batch up on the event loop, cheaper than a threadpool hop; large batches, and lookups
that would wait for a refresh, go to the threadpool.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from brightline.auth import ApiKeyInfo
from brightline.errors import PayloadTooLargeError, ScanRecordNotFoundError, SignalError, ValidationError
from brightline.matching import Match
from brightline.records import ScanMetadata, ScanRecord
from brightline.review.intake import IntakeResult
from brightline.service.deps import JsonBody, MultipartBody, hashing_slots, require_scope, service_state
from brightline.service.schemas import (
    HashOut,
    MatchOut,
    MatchRequest,
    MatchResponse,
    ScanActions,
    ScanResponse,
    SignalIn,
    SignalResult,
    VpdqFeatureOut,
    public_match,
)
from brightline.service.state import ServiceState
from brightline.service.uploads import hash_upload, read_upload
from brightline.signals.registry import get_signal_type
from brightline.sources.service import vouching_sources

router = APIRouter(prefix="/v1", tags=["media"])
AsyncState = Annotated[ServiceState, Depends(service_state)]
# Batches up to this many signals are looked up on the event loop (~0.15 ms each at 1M PDQ entries).
INLINE_SIGNALS = 16
ImageFile = Annotated[
    UploadFile,
    File(description="The image (JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC, AVIF) or video (MP4, MOV, WebM, MKV, AVI...)."),
]


@router.post("/hash", summary="Hash an image or video (scope: hash)")
async def hash_media(
    _key: Annotated[ApiKeyInfo, Depends(require_scope("hash"))],
    _body: Annotated[None, MultipartBody],
    state: AsyncState,
    request: Request,
    file: ImageFile,
    exact: Annotated[bool, Query(description="Decode at full size (slower, reference-exact).")] = False,
    dihedral: Annotated[bool, Query(description="Also return the 8 rotated/flipped PDQ hashes.")] = False,
) -> HashOut:
    """The signals: PDQ with its quality (vPDQ frames for a video), MD5 and SHA-256 of the bytes."""
    return await to_thread.run_sync(_hash, state, file, exact, dihedral, limiter=hashing_slots(request))


def _hash(state: ServiceState, file: UploadFile, exact: bool, dihedral: bool) -> HashOut:
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


def _canonical(state: ServiceState, request: MatchRequest) -> list[tuple[str, str]]:
    """(type name, canonical value) per signal; the whole batch is checked before any lookup."""
    if len(request.signals) > state.settings.max_batch:
        raise PayloadTooLargeError(
            f"{len(request.signals)} signals is over the limit of {state.settings.max_batch} per request"
        )
    # A bad value is an error even when no bank holds its type.
    canonical: list[tuple[str, str]] = []
    for number, signal in enumerate(request.signals):
        try:
            kind = get_signal_type(signal.type)
            canonical.append((kind.name, kind.validate(signal.value)))
        except SignalError as exc:
            raise type(exc)(f"signals[{number}]: {exc.message}") from None
    return canonical


def _signal_result(state: ServiceState, signal: SignalIn, found: list[Match]) -> SignalResult:
    state.metrics.count_matches(found)
    return SignalResult(type=signal.type, value=signal.value, matches=[public_match(m.as_dict()) for m in found])


def _with_sources(state: ServiceState, matches: list[MatchOut]) -> list[MatchOut]:
    """The matches with the sources vouching for each entry (for keys holding provenance:read; blocking)."""
    found = vouching_sources(state.db, [m.entry_id for m in matches])
    return [m.model_copy(update={"sources": found.get(m.entry_id, [])}) for m in matches]


def _results_with_sources(state: ServiceState, results: list[SignalResult]) -> list[SignalResult]:
    return [r.model_copy(update={"matches": _with_sources(state, r.matches)}) if r.matches else r for r in results]


def _match_all(state: ServiceState, request: MatchRequest, canonical: list[tuple[str, str]]) -> list[SignalResult]:
    """Every lookup of a batch, waiting for the index lock as needed (blocking: threadpool only)."""
    return [
        _signal_result(state, signal, state.keeper.match_values(type_name, [value]))
        for signal, (type_name, value) in zip(request.signals, canonical, strict=True)
    ]


@router.post("/match", summary="Look hashes up in the banks (scope: match)")
async def match_hashes(
    key: Annotated[ApiKeyInfo, Depends(require_scope("match"))],
    _body: Annotated[None, JsonBody],
    state: AsyncState,
    request: MatchRequest,
) -> MatchResponse:
    """Matches for each signal of a batch (up to max_batch), in request order."""
    canonical = _canonical(state, request)
    if len(canonical) > INLINE_SIGNALS:
        results = await run_in_threadpool(_match_all, state, request, canonical)
    else:
        results = []
        for signal, (type_name, value) in zip(request.signals, canonical, strict=True):
            found = state.keeper.match_values_nowait(type_name, [value])
            if found is None:  # not loaded yet, or a refresh holds the index: wait off the loop
                found = await run_in_threadpool(state.keeper.match_values, type_name, [value])
            results.append(_signal_result(state, signal, found))
    if key.allows("provenance:read") and any(r.matches for r in results):
        results = await run_in_threadpool(_results_with_sources, state, results)
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
    record: ScanRecord,
    *,
    replayed: bool = False,
    low_quality: bool = False,
    live: Sequence[Match] = (),
    actions: IntakeResult | None = None,
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
        actions=ScanActions(**actions.as_dict()) if actions is not None else None,
    )


@router.post("/scan", summary="Hash, match and record an image or video (scope: scan)")
async def scan_media(
    key: Annotated[ApiKeyInfo, Depends(require_scope("scan"))],
    _body: Annotated[None, MultipartBody],
    state: AsyncState,
    request: Request,
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
    response = await to_thread.run_sync(
        _scan, state, key, file, metadata, idempotency_key or None, limiter=hashing_slots(request)
    )
    if key.allows("provenance:read") and response.matches:
        matches = await run_in_threadpool(_with_sources, state, response.matches)
        response = response.model_copy(update={"matches": matches})
    return response


def _scan(
    state: ServiceState, key: ApiKeyInfo, file: UploadFile, metadata: ScanMetadata, idempotency_key: str | None
) -> ScanResponse:
    """Replay, or hash, match and record (blocking: the database and the CPU)."""
    if idempotency_key:
        try:
            earlier = state.records.lookup_idempotent(key.id, idempotency_key)
        except ScanRecordNotFoundError:
            pass
        else:
            if not state.intake.interrupted(earlier):
                return _record_response(earlier, replayed=True, actions=state.intake.replay(earlier))
            # Its intake never finished: go on with the re-sent upload, which becomes the evidence.
    hashes = hash_upload(state, file)
    matches, low_quality = state.keeper.match_hashes(hashes)
    record = state.records.record_scan(
        api_key_id=key.id,
        idempotency_key=idempotency_key,
        metadata=metadata,
        hashes=hashes,
        # What we decoded, not what the client claimed.
        content_type="video" if hashes.is_video else f"image/{hashes.format.lower()}",
        matches=matches,
    )
    state.metrics.count_matches(matches)
    if record is not None:
        # Only matched media is kept, encrypted, as evidence; the bytes are read again from the spooled upload.
        actions = state.intake.process(
            record,
            matches,
            media=read_upload(file, state.settings.max_file_bytes),
            media_type=record.content_type,
            actor=f"api_key:{key.id}",
        )
        return _record_response(record, low_quality=low_quality, live=matches, actions=actions)
    found: list[MatchOut] = [public_match(m.as_dict()) for m in matches]
    return ScanResponse(matched=bool(found), low_quality=low_quality, matches=found)
