"""Helpers for the source tests: a scripted source kind, a test registry, and bank/provenance readers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import httpx
import sqlalchemy as sa

from brightline.actions.keys import LocalKeyProvider
from brightline.errors import SourceAuthError, SourceError
from brightline.hookspecs import hookimpl
from brightline.sources.catalog import SourceCatalog
from brightline.sources.registry import SourceRegistry, make_plugin_manager
from brightline.sources.sync import SafetyLimits, SyncEngine
from brightline.sources.types import Feedback, SourceBatch, SourceConfig, SourceDescription, SourceEntry
from brightline.store.db import Database
from brightline.store.models import entries_table
from brightline.store.models_provenance import entry_sources_table


def md5(n: int) -> str:
    """A distinct benign md5-shaped value."""
    return f"{n:032x}"


def entry(n: int, **kw: Any) -> SourceEntry:
    """Entry number ``n`` of a scripted feed."""
    return SourceEntry(remote_id=f"r-{n}", signal_type="md5", value=md5(n), **kw)


@dataclass
class Script:
    """What a scripted source serves: batches in order, and failures to inject."""

    batches: list[SourceBatch] = field(default_factory=list)
    crash_after: int | None = None  # raise RuntimeError after yielding this many batches in one fetch
    error: BaseException | None = None  # raise before the first batch
    feedback_failures: int = 0
    sent: list[Feedback] = field(default_factory=list)
    fetches: list[str | None] = field(default_factory=list)

    def add(self, *, upserts: tuple[SourceEntry, ...] = (), removals: tuple[str, ...] = (), **kw: Any) -> None:
        """Append a batch whose checkpoint is its position."""
        self.batches.append(
            SourceBatch(upserts=upserts, removals=removals, checkpoint=str(len(self.batches) + 1), **kw)
        )


SCRIPTS: dict[str, Script] = {}


class ScriptedSource:
    """A source kind whose batches come from SCRIPTS[options['script']]; it takes feedback."""

    kind: ClassVar[str] = "scripted"

    def __init__(self, script: Script) -> None:
        self.script = script

    @classmethod
    def from_config(cls, config: SourceConfig, *, transport: httpx.BaseTransport | None = None) -> Self:
        """Options: script (a key of SCRIPTS)."""
        return cls(SCRIPTS[str(config.options["script"])])

    def describe(self) -> SourceDescription:
        """A feedback-capable test source."""
        return SourceDescription(kind=self.kind, summary="scripted", signal_types=("md5",), supports_feedback=True)

    def fetch(self, checkpoint: str | None) -> Iterator[SourceBatch]:
        """The batches after ``checkpoint`` (their index), with the scripted failures."""
        self.script.fetches.append(checkpoint)
        if self.script.error is not None:
            raise self.script.error
        start = int(checkpoint or 0)
        for count, batch in enumerate(self.script.batches[start:], start=1):
            yield batch
            if self.script.crash_after is not None and count >= self.script.crash_after:
                raise RuntimeError("killed mid-sync")

    def send_feedback(self, feedback: Feedback) -> None:
        """Record it, or fail while failures are scripted."""
        if self.script.feedback_failures > 0:
            self.script.feedback_failures -= 1
            raise SourceError("owner unreachable")
        self.script.sent.append(feedback)


class _TestKinds:
    @hookimpl
    def brightline_source_kinds(self) -> list[type[Any]]:
        return [ScriptedSource]


def test_registry() -> SourceRegistry:
    """The built-in kinds plus ``scripted``."""
    pm = make_plugin_manager(load_entry_points=False)
    pm.register(_TestKinds(), name="test-kinds")
    return SourceRegistry(pm)


test_registry.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def make_catalog(db: Database, transport: httpx.BaseTransport | None = None) -> SourceCatalog:
    """A catalog with a random key and the test registry."""
    return SourceCatalog(db, LocalKeyProvider(os.urandom(32)), transport=transport, registry=test_registry())


def make_engine(catalog: SourceCatalog, **limits: Any) -> SyncEngine:
    """An engine with the given safety limits."""
    return SyncEngine(catalog, limits=SafetyLimits(**limits))


def scripted(catalog: SourceCatalog, name: str, bank: str, script: Script, **kw: Any) -> Script:
    """Register ``script`` and configure a scripted source called ``name``."""
    SCRIPTS[name] = script
    catalog.add(name, kind="scripted", bank=bank, options={"script": name}, **kw)
    return script


def bank_state(db: Database, bank_id: int | None = None) -> set[tuple[str, str, bool]]:
    """(signal type, value, enabled) of every entry (of one bank)."""
    e = entries_table.c
    stmt = sa.select(e.signal_type, e.value, e.enabled)
    if bank_id is not None:
        stmt = stmt.where(e.bank_id == bank_id)
    with db.engine.connect() as conn:
        return {(r[0], r[1], bool(r[2])) for r in conn.execute(stmt)}


def vouch_rows(db: Database) -> list[tuple[int, str, str | None, bool]]:
    """(entry id, source, remote id, active) of every entry_sources row."""
    s = entry_sources_table.c
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(s.entry_id, s.source, s.remote_id, s.withdrawn_at).order_by(s.id))
        return [(int(r[0]), r[1], r[2], r[3] is None) for r in rows]


def all_rows(db: Database) -> int:
    """How many bank entries exist."""
    with db.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(entries_table)).scalar_one())


__all__ = ["SourceAuthError"]
