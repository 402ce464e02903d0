"""Evidence store: encrypted at rest, verified on read, access logged, deletion blocked by holds."""

from __future__ import annotations

import base64
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from brightline.actions.evidence import EvidenceStore
from brightline.actions.keys import LocalKeyProvider, key_id_of, key_provider_from_settings
from brightline.errors import (
    ConfigurationError,
    EvidenceError,
    EvidenceNotFoundError,
    LegalHoldError,
    ScanRecordNotFoundError,
)
from brightline.settings import Settings
from brightline.store.db import Database
from brightline.store.models import scan_records_table, utcnow
from brightline.store.models_actions import evidence_table
from brightline.store.models_cases import cases_table, legal_holds_table

KEY = bytes(range(32))


def media() -> bytes:
    # Stand-in for a photo: varied, incompressible-looking bytes (a benign generated payload).
    return os.urandom(4096) + b"JFIF-like header of a benign test image" + os.urandom(4096)


def scan(db: Database) -> int:
    with db.write_connection() as conn:
        return int(
            conn.execute(
                sa.insert(scan_records_table)
                .values(created_at=utcnow(), content_type="image", account_id="acct")
                .returning(scan_records_table.c.id)
            ).scalar_one()
        )


@pytest.fixture
def store(db: Database, tmp_path: Path) -> EvidenceStore:
    return EvidenceStore(db, tmp_path / "evidence", LocalKeyProvider(KEY))


def evidence_files(store: EvidenceStore) -> list[Path]:
    return [p for p in store.directory.rglob("*") if p.is_file()]


def windows(data: bytes, size: int = 64) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data) - size + 1, 16)]


def test_evidence_is_encrypted_on_disk_and_never_in_the_database(
    store: EvidenceStore, db: Database, tmp_path: Path
) -> None:
    data = media()
    info = store.put(scan(db), data, media_type="image/jpeg", actor="system")
    files = evidence_files(store)
    assert len(files) == 1
    blob = files[0].read_bytes()
    assert all(w not in blob for w in windows(data))
    if db.dialect_name == "sqlite":
        database_file = Path(str(db.url.database))
        db.dispose()  # checkpoint nothing away: read the main file and its WAL as they are
        on_disk = database_file.read_bytes() + b"".join(
            p.read_bytes() for p in database_file.parent.glob(database_file.name + "-*")
        )
        assert all(w not in on_disk for w in windows(data))
        assert KEY not in on_disk
    with db.engine.connect() as conn:
        row = conn.execute(sa.select(evidence_table)).mappings().one()
    assert all(not isinstance(v, bytes) for v in row.values())
    assert KEY.hex() not in str(dict(row))
    assert info.size == len(data) and info.key_id == key_id_of(KEY)
    assert store.read(info.id, actor="reviewer:ann", purpose="review case 1") == data


def test_files_are_private_and_dated(store: EvidenceStore, db: Database) -> None:
    store.put(scan(db), media(), media_type="image/png", actor="system")
    (path,) = evidence_files(store)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    now = utcnow()
    assert path.relative_to(store.directory).parts[:2] == (f"{now:%Y}", f"{now:%m}")
    for folder in (store.directory, path.parent.parent, path.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_evidence_outlives_its_scan_record(store: EvidenceStore, db: Database) -> None:
    data = media()
    scan_id = scan(db)
    info = store.put(scan_id, data, media_type="image/jpeg", actor="system")
    with db.write_connection() as conn:
        conn.execute(sa.delete(scan_records_table).where(scan_records_table.c.id == scan_id))
    assert store.get(info.id).scan_id is None
    assert store.read(info.id, actor="a", purpose="p") == data


def test_put_is_idempotent_per_scan(store: EvidenceStore, db: Database) -> None:
    scan_id = scan(db)
    first = store.put(scan_id, media(), media_type="image/jpeg", actor="system")
    second = store.put(scan_id, media(), media_type="image/jpeg", actor="system")
    assert second == first
    assert len(evidence_files(store)) == 1
    assert store.for_scan(scan_id) == first


def test_only_recorded_scans_keep_evidence(store: EvidenceStore) -> None:
    with pytest.raises(ScanRecordNotFoundError):
        store.put(999, b"x", media_type="image/jpeg", actor="system")
    assert evidence_files(store) == []
    with pytest.raises(EvidenceNotFoundError):
        store.for_scan(999)


def test_tampering_is_detected(store: EvidenceStore, db: Database) -> None:
    info = store.put(scan(db), media(), media_type="image/jpeg", actor="system")
    (path,) = evidence_files(store)
    blob = bytearray(path.read_bytes())
    blob[-40] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(EvidenceError, match="failed authentication"):
        store.read(info.id, actor="reviewer:ann", purpose="check")
    assert [a.action for a in store.access_log(info.id)] == ["store", "read_failed"]


def test_a_file_moved_to_another_row_does_not_decrypt(store: EvidenceStore, db: Database) -> None:
    first = store.put(scan(db), media(), media_type="image/jpeg", actor="system")
    second = store.put(scan(db), media(), media_type="image/jpeg", actor="system")
    with db.engine.connect() as conn:
        paths = dict(conn.execute(sa.select(evidence_table.c.id, evidence_table.c.path)).all())
    (store.directory / paths[second.id]).write_bytes((store.directory / paths[first.id]).read_bytes())
    with pytest.raises(EvidenceError):
        store.read(second.id, actor="a", purpose="p")


def test_the_wrong_key_cannot_read(store: EvidenceStore, db: Database) -> None:
    info = store.put(scan(db), media(), media_type="image/jpeg", actor="system")
    other = EvidenceStore(db, store.directory, LocalKeyProvider(bytes(32)))
    with pytest.raises(EvidenceError, match="not available"):
        other.read(info.id, actor="a", purpose="p")
    # A provider that claims the same key id but holds other bytes fails authentication.
    liar = LocalKeyProvider(bytes(32))
    liar._keys[info.key_id] = bytes(32)
    with pytest.raises(EvidenceError, match="failed authentication"):
        EvidenceStore(db, store.directory, liar).read(info.id, actor="a", purpose="p")


def test_rotated_keys_still_decrypt_old_evidence(store: EvidenceStore, db: Database) -> None:
    data = media()
    info = store.put(scan(db), data, media_type="image/jpeg", actor="system")
    rotated = EvidenceStore(db, store.directory, LocalKeyProvider(bytes(32), [KEY]))
    assert rotated.read(info.id, actor="a", purpose="p") == data
    newer = rotated.put(scan(db), data, media_type="image/jpeg", actor="system")
    assert newer.key_id == key_id_of(bytes(32)) != info.key_id


def test_reads_are_logged_with_actor_and_purpose(store: EvidenceStore, db: Database) -> None:
    info = store.put(scan(db), media(), media_type="image/jpeg", actor="system")
    store.read(info.id, actor="reviewer:ann", purpose="review case 7")
    log = store.access_log(info.id)
    assert [(a.action, a.actor, a.purpose) for a in log] == [
        ("store", "system", ""),
        ("read", "reviewer:ann", "review case 7"),
    ]


def test_preservation_only_extends_and_blocks_deletion(store: EvidenceStore, db: Database) -> None:
    scan_id = scan(db)
    info = store.put(scan_id, media(), media_type="image/jpeg", actor="system")
    later = utcnow() + timedelta(days=365)
    store.preserve(scan_id, later, actor="reporting")
    kept = store.preserve(scan_id, utcnow() + timedelta(days=1), actor="reporting")
    assert kept.preserve_until == later
    with pytest.raises(LegalHoldError, match="preserved until"):
        store.delete(info.id, actor="retention", reason="expired")
    assert len(evidence_files(store)) == 1


def test_an_active_legal_hold_blocks_deletion(store: EvidenceStore, db: Database) -> None:
    scan_id = scan(db)
    info = store.put(scan_id, media(), media_type="image/jpeg", actor="system")
    now = utcnow()
    with db.write_connection() as conn:
        case_id = conn.execute(
            sa.insert(cases_table).values(scan_id=scan_id, created_at=now, updated_at=now).returning(cases_table.c.id)
        ).scalar_one()
        hold_id = conn.execute(
            sa.insert(legal_holds_table)
            .values(case_id=case_id, reason="court order", created_by="legal", created_at=now)
            .returning(legal_holds_table.c.id)
        ).scalar_one()
    with pytest.raises(LegalHoldError, match="legal hold"):
        store.delete(info.id, actor="retention", reason="expired")
    assert store.due_for_deletion(created_before=utcnow() + timedelta(seconds=1)) == []
    with db.write_connection() as conn:
        conn.execute(sa.update(legal_holds_table).where(legal_holds_table.c.id == hold_id).values(released_at=utcnow()))
    assert [e.id for e in store.due_for_deletion(created_before=utcnow() + timedelta(seconds=1))] == [info.id]
    store.delete(info.id, actor="retention", reason="expired")
    assert evidence_files(store) == []
    assert store.get(info.id).deleted_at is not None
    assert [a.action for a in store.access_log(info.id)] == ["store", "delete"]
    with pytest.raises(EvidenceError, match="deleted"):
        store.read(info.id, actor="a", purpose="p")


def test_key_from_settings(tmp_path: Path) -> None:
    encoded = base64.b64encode(KEY).decode()
    provider = key_provider_from_settings(Settings(data_dir=tmp_path, evidence_key=encoded))
    assert provider.current_key() == (key_id_of(KEY), KEY)
    derived = key_provider_from_settings(Settings(data_dir=tmp_path, secret_key="s1"))
    again = key_provider_from_settings(Settings(data_dir=tmp_path, secret_key="s1"))
    other = key_provider_from_settings(Settings(data_dir=tmp_path, secret_key="s2"))
    assert derived.current_key() == again.current_key() != other.current_key()
    rotated = key_provider_from_settings(
        Settings(data_dir=tmp_path, evidence_key=f"{base64.b64encode(bytes(32)).decode()},{encoded}")
    )
    assert rotated.current_key()[1] == bytes(32) and rotated.key(key_id_of(KEY)) == KEY
    assert "KEY" not in repr(rotated) and str(list(KEY)) not in repr(rotated)


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_key_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigurationError):
        key_provider_from_settings(Settings(data_dir=tmp_path, evidence_key=value))
