"""The sync engine: fetch a source's batches after its checkpoint and commit each with its new checkpoint.

Per batch, one write transaction: bump the store revision, apply the batch (entries, provenance,
withdrawals), store the checkpoint, totals and ``last_batch_at``, and append ``source.synced``. A
crash between batches resumes from the last committed checkpoint; a crash inside one rolls it
back whole. Before committing, the safety check compares what the run has added and removed with
each target bank's size when the run began: an implausible change is rolled back and the source
paused (``source.paused``) until an admin resumes it, which lets the next run apply it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from brightline.banks.revisions import bump_revision
from brightline.errors import BrightlineError, SourceAuthError, SourcePausedError, ValidationError
from brightline.sources.apply import MAX_PROBLEMS, BatchApplier, BatchOutcome, apply_batch
from brightline.sources.catalog import SourceCatalog, source_subject
from brightline.sources.locks import lease_owner, renew_lease, sync_lock
from brightline.sources.types import SourceBatch
from brightline.store.audit import append_audit
from brightline.store.models import entries_table, utcnow
from brightline.store.models_sources import sources_table

log = logging.getLogger(__name__)
_S = sources_table.c
_E = entries_table.c
CREDENTIALS_REFUSED = "credentials refused"
# The reason of every pause an admin asked for, so resuming one confirms nothing: no change was held.
PAUSED_BY_ADMIN = "paused by an admin"
MAX_PAUSE_REASON = 500


@dataclass(frozen=True)
class SafetyLimits:
    """How much of a bank one sync run may add or remove before it waits for an admin."""

    max_remove_percent: float = 20.0
    max_add_percent: float = 500.0
    min_entries: int = 100


@dataclass
class SyncResult:
    """One run: ok, busy (another holds the lock), paused, failed, skipped (disabled/paused); and its counts."""

    source: str
    status: str = "ok"
    batches: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    unknown_removals: int = 0
    malformed: int = 0
    message: str = ""
    problems: list[str] = field(default_factory=list)

    def add(self, out: BatchOutcome) -> None:
        """Fold one batch's counts in."""
        self.batches += 1
        for name in ("added", "changed", "removed", "unknown_removals", "malformed"):
            setattr(self, name, getattr(self, name) + getattr(out, name))
        self.problems = (self.problems + out.problems)[-MAX_PROBLEMS:]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


class _ImplausibleError(Exception):
    """Raised inside a batch's transaction to roll it back: the safety check refused it."""


class SyncEngine:
    """Runs syncs of configured sources, one run per source at a time across the cluster."""

    def __init__(self, catalog: SourceCatalog, *, limits: SafetyLimits | None = None) -> None:
        self._catalog = catalog
        self._db = catalog.db
        self._limits = limits or SafetyLimits()
        self._owner = lease_owner()

    def sync(self, name: str, *, actor: str = "system", force: bool = False) -> SyncResult:
        """One run of ``name``: every batch the source has now. A paused source raises SourcePausedError."""
        info = self._catalog.get(name)
        if info.state == "paused" and not info.confirmed:
            raise SourcePausedError(f"source {info.name!r} is paused: {info.paused_reason} (resume it to go on)")
        if not info.enabled and not force:
            return SyncResult(info.name, status="skipped", message="disabled")
        with sync_lock(self._db, info.id, self._owner) as got:
            if not got:
                return SyncResult(info.name, status="busy", message="another process is syncing this source")
            return self._run(info.id, info.name, info.bank, info.bank_map, actor)

    def sync_all(self, *, actor: str = "system") -> list[SyncResult]:
        """One run of every enabled, active source (paused ones wait for their admin)."""
        results = []
        for info in self._catalog.list():
            if not info.enabled or (info.state == "paused" and not info.confirmed):
                continue
            try:
                results.append(self.sync(info.name, actor=actor))
            except BrightlineError as exc:  # one source's trouble must not stop the others
                results.append(SyncResult(info.name, status="failed", message=exc.message))
        return results

    def _bank_sizes(self) -> dict[int, int]:
        with self._db.engine.connect() as conn:
            rows = conn.execute(sa.select(_E.bank_id, sa.func.count()).where(_E.enabled.is_(True)).group_by(_E.bank_id))
            return {int(bank_id): int(count) for bank_id, count in rows}

    def _run(self, source_id: int, name: str, bank: str, bank_map: Mapping[str, str], actor: str) -> SyncResult:
        result = SyncResult(name)
        self._mark(source_id, last_attempt_at=utcnow())
        try:
            source = self._catalog.build(name)
            with self._db.engine.connect() as conn:
                row = conn.execute(
                    sa.select(_S.checkpoint, _S.sweep_from, _S.confirmed).where(_S.id == source_id)
                ).one()
            checkpoint, sweep_from, confirmed = row.checkpoint, row.sweep_from, bool(row.confirmed)
            sizes = self._bank_sizes()
            run_added: dict[int, int] = {}
            run_removed: dict[int, int] = {}
            for batch in source.fetch(checkpoint):
                with self._db.write_connection() as conn:
                    revision = bump_revision(conn)
                    now = utcnow()
                    if batch.snapshot_begin:
                        sweep_from = now
                    applier = BatchApplier(
                        conn, source=name, default_bank=bank, bank_map=bank_map, revision=revision, now=now
                    )
                    out = apply_batch(applier, batch, sweep_from=sweep_from)
                    if not confirmed:
                        self._check(sizes, run_added, run_removed, out)
                    sweep_from = None if batch.snapshot_end else sweep_from
                    result.add(out)
                    self._commit_batch(conn, source_id, name, batch, out, sweep_from, now, result.batches)
        except _ImplausibleError as exc:
            self._pause(source_id, name, str(exc), actor=actor)
            result.status, result.message = "paused", str(exc)
            return result
        except SourceAuthError as exc:
            self._failed(source_id, name, exc.message, actor=actor)
            self._pause(source_id, name, CREDENTIALS_REFUSED, actor=actor)
            result.status, result.message = "paused", CREDENTIALS_REFUSED
            return result
        except BrightlineError as exc:
            self._failed(source_id, name, exc.message, actor=actor)
            result.status, result.message = "failed", exc.message
            return result
        except Exception as exc:
            # A bug in a source: recorded like any failure, then raised so it is seen in full.
            self._failed(source_id, name, f"{type(exc).__name__}: {exc}"[:500], actor=actor)
            raise
        self._mark(source_id, last_success_at=utcnow(), confirmed=False)
        return result

    def _check(
        self, sizes: dict[int, int], run_added: dict[int, int], run_removed: dict[int, int], out: BatchOutcome
    ) -> None:
        limits = self._limits
        for counts, batch_counts, percent, verb in (
            (run_removed, out.bank_removed, limits.max_remove_percent, "remove"),
            (run_added, out.bank_added, limits.max_add_percent, "add"),
        ):
            for bank_id, count in batch_counts.items():
                counts[bank_id] = counts.get(bank_id, 0) + count
                base = sizes.get(bank_id, 0)
                if base >= limits.min_entries and counts[bank_id] * 100 > base * percent:
                    raise _ImplausibleError(
                        f"the feed would {verb} {counts[bank_id]} entries of a bank holding {base} "
                        f"(more than {percent:g}%); confirm with resume"
                    )

    def _commit_batch(
        self,
        conn: Connection,
        source_id: int,
        name: str,
        batch: SourceBatch,
        out: BatchOutcome,
        sweep_from: datetime | None,
        now: datetime,
        seq: int,
    ) -> None:
        row = conn.execute(sa.select(_S.batches, _S.newest_entry_at, _S.problems).where(_S.id == source_id)).one()
        newest = row.newest_entry_at
        if out.newest is not None and (newest is None or out.newest > newest):
            newest = out.newest
        problems = (json.loads(row.problems or "[]") + out.problems)[-MAX_PROBLEMS:]
        conn.execute(
            sa.update(sources_table)
            .where(_S.id == source_id)
            .values(
                checkpoint=batch.checkpoint,
                sweep_from=sweep_from,
                added=_S.added + out.added,
                changed=_S.changed + out.changed,
                removed=_S.removed + out.removed,
                unknown_removals=_S.unknown_removals + out.unknown_removals,
                malformed=_S.malformed + out.malformed,
                batches=_S.batches + 1,
                problems=json.dumps(problems),
                last_batch_at=now,
                newest_entry_at=newest,
                updated_at=now,
            )
        )
        renew_lease(conn, source_id, self._owner)
        details = {
            "source": name,
            "added": out.added,
            "changed": out.changed,
            "removed": out.removed,
            "unknown_removals": out.unknown_removals,
            "malformed": out.malformed,
            "checkpoint_seq": int(row.batches) + 1,
            "run_batch": seq,
        }
        subject = source_subject(name)
        append_audit(conn, actor=f"source:{name}", action="source.synced", subject=subject, details=details)

    def _mark(self, source_id: int, **values: Any) -> None:
        with self._db.write_connection() as conn:
            conn.execute(sa.update(sources_table).where(_S.id == source_id).values(**values))

    def _failed(self, source_id: int, name: str, message: str, *, actor: str) -> None:
        log.warning("source %s: sync failed: %s", name, message)
        with self._db.write_connection() as conn:
            conn.execute(
                sa.update(sources_table)
                .where(_S.id == source_id)
                .values(last_error=message[:1000], last_error_at=utcnow())
            )
            details = {"source": name, "error": message[:300]}
            append_audit(conn, actor=actor, action="source.sync_failed", subject=source_subject(name), details=details)

    def _pause(self, source_id: int, name: str, reason: str, *, actor: str) -> None:
        log.warning("source %s paused: %s", name, reason)
        with self._db.write_connection() as conn:
            conn.execute(
                sa.update(sources_table)
                .where(_S.id == source_id)
                .values(state="paused", paused_reason=reason, confirmed=False, updated_at=utcnow())
            )
            append_audit(
                conn,
                actor=actor,
                action="source.paused",
                subject=source_subject(name),
                details={"source": name, "reason": reason},
            )

    def resume(self, name: str, *, actor: str = "system") -> None:
        """An admin confirms a paused source: the next run applies what was held back, unchecked."""
        info = self._catalog.get(name)
        # Only a change the safety check held back is confirmed; refused credentials need new ones,
        # and a pause an admin asked for held nothing back.
        reason = info.paused_reason
        held = info.state == "paused" and reason != CREDENTIALS_REFUSED and not reason.startswith(PAUSED_BY_ADMIN)
        with self._db.write_connection() as conn:
            conn.execute(
                sa.update(sources_table)
                .where(_S.id == info.id)
                .values(state="active", paused_reason="", confirmed=held, updated_at=utcnow())
            )
            details = {"source": info.name, "reason": info.paused_reason}
            append_audit(conn, actor=actor, action="source.resumed", subject=source_subject(info.name), details=details)

    def pause(self, name: str, reason: str = "", *, actor: str = "system") -> None:
        """An admin stops a source's syncs until it is resumed (a suspect feed, a partner's request)."""
        info = self._catalog.get(name)
        text = reason.strip()
        if len(text) > MAX_PAUSE_REASON:
            raise ValidationError(f"the reason must be at most {MAX_PAUSE_REASON} characters")
        self._pause(info.id, info.name, f"{PAUSED_BY_ADMIN}: {text}" if text else PAUSED_BY_ADMIN, actor=actor)
