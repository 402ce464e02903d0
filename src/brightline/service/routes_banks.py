"""/v1/banks: create, read, change and delete hash lists and their entries.

Writes refresh this worker's index before answering, so this worker matches the change at
once; other workers and replicas see it within max_index_age_seconds (see freshness.py).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError as PydanticValidationError
from starlette.datastructures import UploadFile as FormFile

from brightline.auth import ApiKeyInfo
from brightline.banks import UNSET, EntryInput, detect_format
from brightline.banks.transfer import import_bank_file
from brightline.errors import BrightlineError, HashListFormatError, UnsupportedContentTypeError, ValidationError
from brightline.matching.regions import MEDIA_SIGNALS, PDQ_SIGNALS, default_media_signals, signals_for
from brightline.service.deps import JsonBody, MultipartBody, is_json, is_multipart, require_scope
from brightline.service.schemas import BankCreate, BankPatch, EntriesIn, EntryPatch
from brightline.service.state import ServiceState, get_state
from brightline.service.uploads import hash_upload

router = APIRouter(prefix="/v1/banks", tags=["banks"])
State = Annotated[ServiceState, Depends(get_state)]
Reader = Annotated[ApiKeyInfo, Depends(require_scope("banks:read"))]
Writer = Annotated[ApiKeyInfo, Depends(require_scope("banks:write"))]


def _actor(key: ApiKeyInfo) -> str:
    return f"api_key:{key.id}"


_ENTRY_SCHEMA = {"$ref": "#/components/schemas/EntriesIn"}
_ENTRIES_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _ENTRY_SCHEMA},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "category": {"type": "string"},
                        "source": {"type": "string", "default": "api"},
                        "note": {"type": "string"},
                        "signals": {"type": "string", "default": "pdq,md5,sha256"},
                        "allow_low_quality": {"type": "boolean", "default": False},
                    },
                }
            },
        },
    }
}


@router.get("", summary="List banks (scope: banks:read)")
def list_banks(_key: Reader, state: State) -> dict[str, object]:
    """Every bank with its entry counts."""
    return {"banks": [b.as_dict() for b in state.banks.list_banks()]}


@router.post("", status_code=201, summary="Create a bank (scope: banks:write)")
def create_bank(key: Writer, _body: Annotated[None, JsonBody], state: State, bank: BankCreate) -> dict[str, object]:
    """Create an empty bank; 409 if the name is taken."""
    info = state.banks.create_bank(
        bank.name, domain=bank.domain, threshold=bank.threshold, description=bank.description, actor=_actor(key)
    )
    state.keeper.try_refresh()
    return info.as_dict()


@router.get("/{name}", summary="A bank, its counts and version digest (scope: banks:read)")
def get_bank(_key: Reader, state: State, name: str) -> dict[str, object]:
    """The bank's settings, counts and digest; entry values need admin (GET /v1/banks/{name}/entries)."""
    info = state.banks.get_bank(name)
    return {"bank": info.as_dict(), "digest": state.banks.digest(name).as_details()}


@router.patch("/{name}", summary="Rename a bank or change its settings (scope: banks:write)")
def update_bank(
    key: Writer, _body: Annotated[None, JsonBody], state: State, name: str, patch: BankPatch
) -> dict[str, object]:
    """Change only the fields given; ``threshold: null`` goes back to the default."""
    given = patch.model_fields_set
    if "name" in given and patch.name is None:
        raise ValidationError("name cannot be null")
    for field in ("domain", "description", "enabled"):
        if field in given and getattr(patch, field) is None:
            raise ValidationError(f"{field} cannot be null")
    current = name
    if patch.name is not None and patch.name != name:
        current = state.banks.rename_bank(name, patch.name, actor=_actor(key)).name
    info = state.banks.update_bank(
        current,
        threshold=patch.threshold if "threshold" in given else UNSET,
        domain=patch.domain if patch.domain is not None else UNSET,
        description=patch.description if patch.description is not None else UNSET,
        enabled=patch.enabled if patch.enabled is not None else UNSET,
        actor=_actor(key),
    )
    state.keeper.try_refresh()
    return info.as_dict()


@router.delete("/{name}", summary="Delete a bank and its entries (scope: banks:write)")
def delete_bank(key: Writer, state: State, name: str) -> dict[str, object]:
    """Delete the bank; its entries stop matching everywhere within the freshness bound."""
    removed = state.banks.delete_bank(name, actor=_actor(key))
    state.keeper.try_refresh()
    return {"deleted": name, "entries_removed": removed}


def _add_json(state: ServiceState, name: str, body: EntriesIn, actor: str) -> dict[str, object]:
    entries = [
        EntryInput(e.signal_type, e.value, e.source, e.category, e.domain, e.note, e.enabled) for e in body.entries
    ]
    result = state.banks.add_entries(name, entries, actor=actor)
    state.keeper.try_refresh()
    return {"added": result.added, "unchanged": result.unchanged, "skipped": []}


def _add_media(
    state: ServiceState, name: str, uploads: list[FormFile], fields: dict[str, str], actor: str
) -> dict[str, object]:
    default = ",".join(default_media_signals(state.settings.region_hashes))
    wanted = [s.strip().lower() for s in fields.get("signals", default).split(",") if s.strip()]
    unknown = [s for s in wanted if s not in MEDIA_SIGNALS]
    if unknown or not wanted:
        raise ValidationError(f"signals must be a comma-separated subset of {', '.join(MEDIA_SIGNALS)}")
    allow_low = fields.get("allow_low_quality", "false").strip().lower() in ("1", "true", "yes", "on")
    state.banks.get_bank(name)  # 404 before hashing anything
    entries: list[EntryInput] = []
    skipped: list[str] = []
    for upload in uploads:
        label = upload.filename or "upload"
        try:
            # Banks built from media always hash on the exact path, like the CLI.
            values = hash_upload(state, upload, exact=True, dihedral=False, known="pdq_regions" in wanted)
        except BrightlineError as exc:
            raise type(exc)(f"{label}: {exc.message}") from None
        produced = values.signals()
        for signal in signals_for(wanted, values):
            if signal not in produced:
                skipped.append(f"{label}: no {signal} for this media")
                continue
            if signal in PDQ_SIGNALS and values.quality < state.settings.min_quality and not allow_low:
                skipped.append(f"{label}: pdq quality {values.quality} is below {state.settings.min_quality}")
                continue
            entries.append(
                EntryInput(
                    signal,
                    produced[signal],
                    source=fields.get("source", "api"),
                    category=fields.get("category", ""),
                    note=fields.get("note") or label,
                )
            )
    result = state.banks.add_entries(name, entries, actor=actor)
    state.keeper.try_refresh()
    return {"added": result.added, "unchanged": result.unchanged, "skipped": skipped}


@router.post(
    "/{name}/entries",
    status_code=201,
    openapi_extra=_ENTRIES_BODY,
    summary="Add hashes (JSON) or hash media into a bank (multipart) (scope: banks:write)",
)
async def add_entries(key: Writer, state: State, name: str, request: Request) -> dict[str, object]:
    """All or nothing: every hash is valid and added (or already present), or nothing is."""
    if is_json(request):
        try:
            body = EntriesIn.model_validate_json(await request.body())
        except PydanticValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from None
        return await run_in_threadpool(_add_json, state, name, body, _actor(key))
    if not is_multipart(request):
        raise UnsupportedContentTypeError("send entries as application/json or media as multipart/form-data")
    async with request.form() as form:
        uploads = [f for f in form.getlist("file") if isinstance(f, FormFile)]
        if not uploads:
            raise ValidationError("multipart body has no 'file' part")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        return await run_in_threadpool(_add_media, state, name, uploads, fields, _actor(key))


@router.delete("/{name}/entries/{entry_id}", summary="Delete an entry (scope: banks:write)")
def delete_entry(key: Writer, state: State, name: str, entry_id: int) -> dict[str, object]:
    """Delete one entry of the bank."""
    removed = state.banks.remove_entries(name, [entry_id], actor=_actor(key))
    state.keeper.try_refresh()
    return {"removed": removed, "id": entry_id}


@router.patch("/{name}/entries/{entry_id}", summary="Enable or disable an entry (scope: banks:write)")
def update_entry(
    key: Writer, _body: Annotated[None, JsonBody], state: State, name: str, entry_id: int, patch: EntryPatch
) -> dict[str, object]:
    """Stop or resume matching one entry without deleting it."""
    changed = state.banks.set_entries_enabled(name, [entry_id], patch.enabled, actor=_actor(key))
    state.keeper.try_refresh()
    return {"id": entry_id, "enabled": patch.enabled, "changed": changed}


@router.post("/{name}/import", status_code=201, summary="Import a hash-list file (scope: banks:write)")
def import_list(
    key: Writer,
    _body: Annotated[None, MultipartBody],
    state: State,
    name: str,
    file: Annotated[UploadFile, File(description="csv, tsv, jsonl or hex hash list.")],
    fmt: Annotated[
        str | None, Form(alias="format", description="csv, tsv, jsonl or hex; default: from the file name.")
    ] = None,
    signal_type: Annotated[str, Form(description="Signal type of plain hex lists.")] = "pdq",
    source: Annotated[str | None, Form(description="Provenance recorded on every entry.")] = None,
) -> dict[str, object]:
    """Import atomically, as `brightline bank import` does: any bad line imports nothing."""
    label = file.filename or "upload"
    fmt = detect_format(label, fmt or None)
    with tempfile.TemporaryDirectory(prefix="brightline-import-") as folder:
        path = Path(folder) / f"upload.{fmt}"
        file.file.seek(0)
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        try:
            report = import_bank_file(
                state.banks, name, path, fmt=fmt, default_signal_type=signal_type, source=source, actor=_actor(key)
            )
        except HashListFormatError as exc:
            # Name the uploaded file, not our temporary copy.
            raise HashListFormatError(exc.message.replace(str(path), label)) from None
    state.keeper.try_refresh()
    return {"added": report.added, "unchanged": report.unchanged, "lines": report.lines, "entries": report.entries}
