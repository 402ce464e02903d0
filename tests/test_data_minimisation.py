"""Data minimisation, proven: 1,000 non-matching scans leave no trace but the daily counters.

The uploads are random-noise images with distinctive names, ids, context and EXIF text (each
carrying a marker unique to the run). Afterwards every table of the database and every file
under the data dir (index snapshots, and the SQLite file itself) is searched for the marker,
for the uploads' hashes in hex and binary, and for any 32-byte window of their bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image
from sqlalchemy.engine import make_url
from test_service_support import Service, bank_with_photo, make_settings, running_service

from brightline.signals.hashing import hash_bytes
from brightline.store.audit import AuditLog
from brightline.store.db import Database

pytestmark = pytest.mark.anyio
pytest_plugins = ("test_service_support",)
UPLOADS = 1000
WINDOW = 32
BLOCK = WINDOW // 2  # every 32-byte window of an upload contains one whole 16-byte block aligned at 16
_HEX_RUN = re.compile(rb"[0-9a-fA-F]{32,}")


@dataclass(frozen=True)
class Upload:
    """One non-matching image and everything sent with it."""

    name: str
    data: bytes
    media_type: str
    form: dict[str, str]
    idempotency_key: str


def _uploads(marker: str, count: int) -> list[Upload]:
    rng = np.random.default_rng(20260126)
    uploads = []
    for i in range(count):
        image = Image.fromarray(rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8))
        out = io.BytesIO()
        if i % 2:
            exif = Image.Exif()
            exif[0x010E] = f"{marker}-exif-description-{i}"  # ImageDescription
            image.save(out, format="JPEG", quality=92, exif=exif)
            name, media_type = f"{marker}-holiday-{i:04d}.jpg", "image/jpeg"
        else:
            image.save(out, format="PNG")
            name, media_type = f"{marker}-holiday-{i:04d}.png", "image/png"
        context = {"ip_address": f"198.51.100.{i % 250}", "screen_name": f"{marker}-user-{i}", "file_name": name}
        form = {
            "content_id": f"{marker}-content-{i}",
            "account_id": f"{marker}-account-{i % 37}",
            "source": f"{marker}-surface-{i % 5}",
            "context": json.dumps(context),
        }
        uploads.append(Upload(name, out.getvalue(), media_type, form, f"{marker}-retry-{i}"))
    return uploads


def _dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in the database (those the models do not know included), sorted."""
    with db.engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        tables = {name: sa.Table(name, sa.MetaData(), autoload_with=conn) for name in names}
        return {name: sorted((tuple(r) for r in conn.execute(sa.select(t))), key=repr) for name, t in tables.items()}


def _haystacks(dump: dict[str, list[tuple[Any, ...]]], folders: Iterable[Path], files: Iterable[Path]) -> list[bytes]:
    """The dump as text (raw bytes for binary columns) and the bytes of every file."""
    pieces: list[bytes] = []
    text: list[str] = []
    for name, rows in dump.items():
        for row in rows:
            for value in row:
                if isinstance(value, bytes | memoryview):
                    pieces.append(bytes(value))
                else:
                    text.append(f"{name}:{value}")
    pieces.append("\n".join(text).encode())
    paths = [p for folder in folders for p in folder.rglob("*") if p.is_file()] + [p for p in files if p.is_file()]
    pieces.extend(p.read_bytes() for p in paths)
    return pieces


def _block_keys(data: bytes) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """A 64-bit key of the 16 bytes at every position of ``data`` (equal blocks, equal keys)."""
    count = len(data) - BLOCK + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    raw = np.frombuffer(data, dtype=np.uint8)
    words = np.zeros(len(data) - 7, dtype=np.uint64)
    for j in range(8):  # the little-endian 8-byte word at every position
        words |= raw[j : j + len(words)].astype(np.uint64) << np.uint64(8 * j)
    return (words[:count] * np.uint64(0x9E3779B97F4A7C15)) ^ words[8 : 8 + count]


def _traces(
    haystacks: list[bytes], marker: str, uploads: list[Upload], hexes: set[str], digests: set[bytes]
) -> list[str]:
    """Everything of the uploads found in the haystacks: the marker, hex hashes, binary digests, 32-byte windows."""
    found: list[str] = []
    # The key of every upload's 16-byte blocks at offsets 0, 16, 32 ..., sorted, with whose block it is.
    per_upload = [_block_keys(u.data)[::BLOCK] for u in uploads]
    owner = np.concatenate([np.full(len(k), n) for n, k in enumerate(per_upload)])
    offset = np.concatenate([np.arange(len(k)) * BLOCK for k in per_upload])
    keys = np.concatenate(per_upload)
    order = np.argsort(keys, kind="stable")
    keys, owner, offset = keys[order], owner[order], offset[order]
    for hay in haystacks:
        if marker.encode() in hay or marker.upper().encode() in hay:
            found.append(f"marker {marker}")
        found.extend(f"digest {d.hex()}" for d in digests if d in hay)
        for run in _HEX_RUN.findall(hay):
            low = run.decode().lower()
            found.extend(
                f"hex {low[i : i + size]}"
                for size in (32, 64)
                for i in range(len(low) - size + 1)
                if low[i : i + size] in hexes
            )
        # Candidates by key (numpy), then checked byte for byte.
        hay_keys = _block_keys(hay)
        first = np.searchsorted(keys, hay_keys, side="left")
        last = np.searchsorted(keys, hay_keys, side="right")
        for position in np.nonzero(last > first)[0].tolist():
            for entry in range(int(first[position]), int(last[position])):
                data, at_block = uploads[int(owner[entry])].data, int(offset[entry])
                if data[at_block : at_block + BLOCK] != hay[position : position + BLOCK]:
                    continue  # a key collision
                for shift in range(BLOCK + 1):
                    start, at = at_block - shift, position - shift
                    window = data[start : start + WINDOW] if start >= 0 else b""
                    if len(window) == WINDOW and at >= 0 and hay[at : at + WINDOW] == window:
                        found.append(f"32 bytes of {uploads[int(owner[entry])].name}")
                        break
    return found


def _sqlite_files(database_url: str) -> list[Path]:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return []
    return [Path(url.database + suffix) for suffix in ("", "-wal", "-shm", "-journal")]


def _without_last_used(rows: list[tuple[Any, ...]], columns: list[str]) -> list[tuple[Any, ...]]:
    at = columns.index("last_used_at")
    return [row[:at] + row[at + 1 :] for row in rows]


async def _scan_all(service: Service, uploads: list[Upload]) -> None:
    """POST every upload to /v1/scan, a few at a time as a platform would; none may match."""
    headers = service.auth("scan")
    slots = asyncio.Semaphore(4)

    async def scan(upload: Upload) -> None:
        async with slots:
            response = await service.client.post(
                "/v1/scan",
                files={"file": (upload.name, upload.data, upload.media_type)},
                data=upload.form,
                headers={**headers, "Idempotency-Key": upload.idempotency_key},
            )
        assert response.status_code == 200, response.text
        assert response.json()["matched"] is False

    await asyncio.gather(*(scan(upload) for upload in uploads))


def test_the_trace_finder_finds_what_is_planted() -> None:
    marker = "dm" + secrets.token_hex(5)
    [upload] = _uploads(marker, 2)[1:]
    digest = hashlib.sha256(upload.data).digest()
    noise = secrets.token_bytes(500)
    assert _traces([noise], marker, [upload], {"ab" * 32}, {digest}) == []
    assert _traces([noise + upload.data[301 : 301 + WINDOW] + noise], marker, [upload], set(), set()) == [
        f"32 bytes of {upload.name}"
    ]
    assert _traces([noise + upload.data[301 : 301 + WINDOW - 1] + noise], marker, [upload], set(), set()) == []
    assert _traces([noise + digest], marker, [upload], set(), {digest}) == [f"digest {digest.hex()}"]
    assert _traces([b"x" + ("ab" * 32).encode().upper()], marker, [upload], {"ab" * 32}, set()) == [f"hex {'ab' * 32}"]
    assert _traces([f'{{"name": "{marker}-x"}}'.encode()], marker, [upload], set(), set()) == [f"marker {marker}"]


async def test_non_matching_scans_leave_only_counters(tmp_path: Path, database_url: str, photos: list[bytes]) -> None:
    marker = "dm" + secrets.token_hex(5)
    uploads = _uploads(marker, UPLOADS)
    # Retention off: the proof is about the scan path, and a retention run would log itself.
    settings = make_settings(tmp_path, database_url, retention_interval_hours=0)
    async for service in running_service(settings):
        for n, photo in enumerate(photos[:3]):
            bank_with_photo(service, photo, name=f"known-{n}")
        db = service.state.db
        before = _dump(db)
        audit_before = AuditLog(db).count()
        await _scan_all(service, uploads)
        # Non-matching scans are counted in memory first; write them so the sums below are whole.
        service.state.records.flush_counters()
        after = _dump(db)
        assert AuditLog(db).count() == audit_before

        options = service.state.hash_options(exact=True)
        hexes: set[str] = set()
        digests: set[bytes] = set()
        for upload in uploads:
            hashes = hash_bytes(upload.data, options)
            values = [hashes.pdq, hashes.md5, hashes.sha256, *(v for v in hashes.extra.values() if len(v) in (32, 64))]
            hexes.update(v.lower() for v in values if v)
            digests.update(bytes.fromhex(v) for v in values if v)
        assert len(hexes) >= 3 * UPLOADS

        # Only the counters changed (and the scan key's last-use time, which says nothing about content).
        changed = {name for name in after if after[name] != before.get(name)}
        assert changed <= {"scan_counters", "api_keys"}, changed
        with db.engine.connect() as conn:
            key_columns = [c["name"] for c in sa.inspect(conn).get_columns("api_keys")]
        assert _without_last_used(after["api_keys"], key_columns) == _without_last_used(before["api_keys"], key_columns)
        with db.engine.connect() as conn:
            counter_columns = [c["name"] for c in sa.inspect(conn).get_columns("scan_counters")]
        scans, matched = counter_columns.index("scans"), counter_columns.index("matched")
        assert sum(r[scans] for r in after["scan_counters"]) - sum(r[scans] for r in before["scan_counters"]) == UPLOADS
        assert sum(r[matched] for r in after["scan_counters"]) == sum(r[matched] for r in before["scan_counters"])

    haystacks = _haystacks(after, [settings.data_dir], _sqlite_files(database_url))
    assert _traces(haystacks, marker, uploads, hexes, digests) == []
