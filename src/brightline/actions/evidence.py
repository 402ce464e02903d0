"""Evidence store: the media of a matched scan, encrypted at rest (AES-256-GCM), every access logged.

Only matched scans are ever stored (the caller passes a recorded scan's id). Each file holds a
format tag, a random 96-bit nonce and the ciphertext with its tag; the associated data binds it
to its evidence id and key id, so a file swapped between rows fails to decrypt. (Not to the scan
id: that turns NULL if retention deletes the scan record, and the evidence must stay readable.)
The database holds metadata only: never the bytes, never a key.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from brightline.actions.keys import KeyProvider
from brightline.errors import (
    EvidenceError,
    EvidenceNotFoundError,
    LegalHoldError,
    ScanRecordNotFoundError,
    ValidationError,
)
from brightline.store.audit import append_audit
from brightline.store.db import Database
from brightline.store.models import scan_records_table, utcnow
from brightline.store.models_actions import evidence_access_table, evidence_table
from brightline.store.models_cases import cases_table, legal_holds_table

MAGIC = b"BLEV1\x00"  # file format tag and version
NONCE_BYTES = 12
MAX_EVIDENCE_BYTES = 1 << 31  # AES-GCM itself allows far more; this bounds memory use
_E = evidence_table.c
_A = evidence_access_table.c
# Free text (purposes, reasons) is cut to this length in audit records, which stay small.
_AUDIT_TEXT = 200


@dataclass(frozen=True)
class EvidenceInfo:
    """What the database knows of one piece of evidence (metadata only)."""

    id: int
    scan_id: int | None
    media_type: str
    size: int
    sha256: str
    md5: str
    key_id: str
    created_at: datetime
    preserve_until: datetime | None
    deleted_at: datetime | None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in ((n, getattr(self, n)) for n in self.__dataclass_fields__)
        }


@dataclass(frozen=True)
class EvidenceAccess:
    """One logged action on a piece of evidence: store, read, read_failed, preserve or delete."""

    id: int
    evidence_id: int
    created_at: datetime
    actor: str
    action: str
    purpose: str


def _info(row: RowMapping) -> EvidenceInfo:
    return EvidenceInfo(
        id=row["id"],
        scan_id=row["scan_id"],
        media_type=row["media_type"],
        size=row["size"],
        sha256=row["sha256"],
        md5=row["md5"],
        key_id=row["key_id"],
        created_at=row["created_at"],
        preserve_until=row["preserve_until"],
        deleted_at=row["deleted_at"],
    )


def _associated_data(evidence_id: int, key_id: str) -> bytes:
    return f"brightline-evidence:v1:{evidence_id}:{key_id}".encode()


def _text(name: str, value: str, limit: int = 128) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ValidationError(f"{name} must be non-empty text of at most {limit} characters")
    return value


def _write_private(root: Path, relative: str, data: bytes) -> Path:
    """Write ``data`` to ``root/relative`` atomically (temp file, fsync, rename), readable by the owner only."""
    path = root / relative
    # mkdir(parents=True) would create the middle folders with the default mode: make each private.
    folder = root
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for part in Path(relative).parent.parts:
        folder = folder / part
        folder.mkdir(mode=0o700, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


class EvidenceStore:
    """Encrypted copies of matched media, with their metadata and access log in the database."""

    def __init__(self, db: Database, directory: Path, keys: KeyProvider) -> None:
        self.db = db
        self.directory = directory
        self.keys = keys

    def _file(self, relative: str) -> Path:
        return self.directory / relative

    def _log(self, conn: Connection, evidence_id: int, actor: str, action: str, purpose: str = "") -> None:
        conn.execute(
            sa.insert(evidence_access_table).values(
                evidence_id=evidence_id, created_at=utcnow(), actor=actor, action=action, purpose=purpose
            )
        )

    def put(self, scan_id: int, data: bytes, *, media_type: str, actor: str) -> EvidenceInfo:
        """Encrypt and keep ``data`` as the evidence of recorded scan ``scan_id``; a second put returns the first."""
        _text("actor", actor)
        _text("media_type", media_type)
        if not isinstance(data, bytes) or not data:
            raise ValidationError("evidence must be non-empty bytes")
        if len(data) > MAX_EVIDENCE_BYTES:
            raise ValidationError(f"evidence larger than {MAX_EVIDENCE_BYTES} bytes")
        key_id, key = self.keys.current_key()
        now = utcnow()
        relative = f"{now:%Y}/{now:%m}/{secrets.token_hex(16)}.bin"
        written: Path | None = None
        try:
            with self.db.write_connection() as conn:
                existing = conn.execute(sa.select(evidence_table).where(_E.scan_id == scan_id)).mappings().first()
                if existing is not None:
                    return _info(existing)
                if (
                    conn.execute(sa.select(scan_records_table.c.id).where(scan_records_table.c.id == scan_id)).first()
                    is None
                ):
                    raise ScanRecordNotFoundError(f"no recorded scan {scan_id}: only matched scans keep evidence")
                evidence_id = conn.execute(
                    sa.insert(evidence_table)
                    .values(
                        scan_id=scan_id,
                        media_type=media_type,
                        size=len(data),
                        sha256=hashlib.sha256(data).hexdigest(),
                        md5=hashlib.md5(data).hexdigest(),  # an identifier, as reports ask for
                        key_id=key_id,
                        path=relative,
                        created_at=now,
                        created_by=actor,
                    )
                    .returning(_E.id)
                ).scalar_one()
                nonce = secrets.token_bytes(NONCE_BYTES)
                sealed = AESGCM(key).encrypt(nonce, data, _associated_data(evidence_id, key_id))
                written = _write_private(self.directory, relative, MAGIC + nonce + sealed)
                self._log(conn, evidence_id, actor, "store")
                append_audit(
                    conn,
                    actor=actor,
                    action="evidence.stored",
                    subject=f"evidence:{evidence_id}",
                    details={"evidence_id": evidence_id, "scan_id": scan_id, "size": len(data)},
                    at=now,
                )
        except IntegrityError:
            # Another process stored this scan's evidence first: keep theirs.
            if written is not None:
                written.unlink(missing_ok=True)
            return self.for_scan(scan_id)
        except BaseException:
            if written is not None:
                written.unlink(missing_ok=True)
            raise
        return self.get(evidence_id)

    def _row(self, conn: Connection, evidence_id: int) -> RowMapping:
        row = conn.execute(sa.select(evidence_table).where(_E.id == evidence_id)).mappings().first()
        if row is None:
            raise EvidenceNotFoundError(f"no evidence {evidence_id}")
        return row

    def get(self, evidence_id: int) -> EvidenceInfo:
        """Metadata of evidence ``evidence_id`` (no access is logged: nothing is decrypted)."""
        with self.db.engine.connect() as conn:
            return _info(self._row(conn, evidence_id))

    def for_scan(self, scan_id: int) -> EvidenceInfo:
        """Metadata of the evidence of scan ``scan_id``; EvidenceNotFoundError if none was kept."""
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(evidence_table).where(_E.scan_id == scan_id)).mappings().first()
        if row is None:
            raise EvidenceNotFoundError(f"no evidence kept for scan {scan_id}")
        return _info(row)

    def read(self, evidence_id: int, *, actor: str, purpose: str) -> bytes:
        """Decrypt and verify the evidence, logging who read it and why (failed attempts too)."""
        _text("actor", actor)
        _text("purpose", purpose, limit=1000)
        with self.db.engine.connect() as conn:
            row = self._row(conn, evidence_id)
        try:
            data = self._decrypt(row)
        except EvidenceError as exc:
            with self.db.write_connection() as conn:
                self._log(conn, evidence_id, actor, "read_failed", f"{purpose} ({exc})")
            raise
        with self.db.write_connection() as conn:
            self._log(conn, evidence_id, actor, "read", purpose)
            append_audit(
                conn,
                actor=actor,
                action="media.viewed",
                subject=f"evidence:{evidence_id}",
                details={"evidence_id": evidence_id, "scan_id": row["scan_id"], "purpose": purpose[:_AUDIT_TEXT]},
            )
        return data

    def _decrypt(self, row: RowMapping) -> bytes:
        if row["deleted_at"] is not None:
            raise EvidenceError(f"evidence {row['id']} was deleted")
        try:
            blob = self._file(row["path"]).read_bytes()
        except OSError as exc:
            raise EvidenceError(f"evidence {row['id']}: file unreadable: {exc.strerror or exc}") from None
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + NONCE_BYTES + 16:
            raise EvidenceError(f"evidence {row['id']}: not a brightline evidence file")
        nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
        key = self.keys.key(row["key_id"])
        try:
            data = AESGCM(key).decrypt(
                nonce, blob[len(MAGIC) + NONCE_BYTES :], _associated_data(row["id"], row["key_id"])
            )
        except InvalidTag:
            raise EvidenceError(f"evidence {row['id']}: failed authentication (tampered file or wrong key)") from None
        if hashlib.sha256(data).hexdigest() != row["sha256"]:
            raise EvidenceError(f"evidence {row['id']}: content does not match its recorded digest")
        return data

    def access_log(self, evidence_id: int) -> list[EvidenceAccess]:
        """Every logged action on the evidence, oldest first."""
        with self.db.engine.connect() as conn:
            self._row(conn, evidence_id)
            rows = conn.execute(
                sa.select(evidence_access_table).where(_A.evidence_id == evidence_id).order_by(_A.id)
            ).mappings()
            return [
                EvidenceAccess(
                    id=r["id"],
                    evidence_id=r["evidence_id"],
                    created_at=r["created_at"],
                    actor=r["actor"],
                    action=r["action"],
                    purpose=r["purpose"],
                )
                for r in rows
            ]

    def preserve(self, scan_id: int, until: datetime, *, actor: str) -> EvidenceInfo:
        """Keep the scan's evidence at least until ``until``; never shortens an earlier preservation."""
        _text("actor", actor)
        if not isinstance(until, datetime) or until.tzinfo is None:
            raise ValidationError("until must be a timezone-aware datetime")
        with self.db.write_connection() as conn:
            row = conn.execute(sa.select(evidence_table).where(_E.scan_id == scan_id)).mappings().first()
            if row is None:
                raise EvidenceNotFoundError(f"no evidence kept for scan {scan_id}")
            if row["deleted_at"] is not None:
                raise EvidenceError(f"evidence of scan {scan_id} was already deleted")
            current = row["preserve_until"]
            if current is None or until > current:
                conn.execute(sa.update(evidence_table).where(_E.id == row["id"]).values(preserve_until=until))
                self._log(conn, row["id"], actor, "preserve", f"until {until.isoformat()}")
        return self.get(row["id"])

    def _active_holds(self, conn: Connection, scan_id: int | None, now: datetime) -> int:
        if scan_id is None:
            return 0
        h = legal_holds_table.c
        query = (
            sa.select(sa.func.count())
            .select_from(legal_holds_table.join(cases_table, cases_table.c.id == h.case_id))
            .where(cases_table.c.scan_id == scan_id, h.released_at.is_(None))
            .where(sa.or_(h.expires_at.is_(None), h.expires_at > now))
        )
        return int(conn.execute(query).scalar_one())

    def delete(self, evidence_id: int, *, actor: str, reason: str) -> None:
        """Delete the file and mark the row deleted (the access log stays); LegalHoldError while preserved."""
        _text("actor", actor)
        _text("reason", reason, limit=1000)
        now = utcnow()
        with self.db.write_connection() as conn:
            row = self._row(conn, evidence_id)
            if row["deleted_at"] is not None:
                return
            if row["preserve_until"] is not None and row["preserve_until"] > now:
                raise LegalHoldError(f"evidence {evidence_id} is preserved until {row['preserve_until'].isoformat()}")
            if self._active_holds(conn, row["scan_id"], now):
                raise LegalHoldError(f"evidence {evidence_id} is under a legal hold")
            conn.execute(
                sa.update(evidence_table)
                .where(_E.id == evidence_id)
                .values(deleted_at=now, deleted_by=actor, delete_reason=reason)
            )
            self._log(conn, evidence_id, actor, "delete", reason)
            append_audit(
                conn,
                actor=actor,
                action="evidence.deleted",
                subject=f"evidence:{evidence_id}",
                details={"evidence_id": evidence_id, "scan_id": row["scan_id"], "reason": reason[:_AUDIT_TEXT]},
                at=now,
            )
            # Inside the transaction: if the file cannot go, the row is not marked deleted either.
            self._file(row["path"]).unlink(missing_ok=True)

    def due_for_deletion(self, *, created_before: datetime, limit: int = 100) -> list[EvidenceInfo]:
        """Undeleted evidence older than ``created_before``, not preserved and not under a legal hold."""
        now = utcnow()
        h = legal_holds_table.c
        held = (
            sa.select(cases_table.c.scan_id)
            .select_from(legal_holds_table.join(cases_table, cases_table.c.id == h.case_id))
            .where(h.released_at.is_(None), sa.or_(h.expires_at.is_(None), h.expires_at > now))
            .where(cases_table.c.scan_id.is_not(None))
        )
        query = (
            sa.select(evidence_table)
            .where(_E.deleted_at.is_(None), _E.created_at < created_before)
            .where(sa.or_(_E.preserve_until.is_(None), _E.preserve_until <= now))
            .where(sa.or_(_E.scan_id.is_(None), _E.scan_id.not_in(held)))
            .order_by(_E.id)
            .limit(limit)
        )
        with self.db.engine.connect() as conn:
            return [_info(row) for row in conn.execute(query).mappings()]
