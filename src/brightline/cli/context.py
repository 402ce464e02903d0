"""What every command needs, built once per invocation from Settings (never at import time)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import typer
from rich.console import Console
from rich.markup import escape

from brightline.auth.keys import ApiKeyService
from brightline.banks.service import BankService
from brightline.errors import BrightlineError
from brightline.matching import Matcher, MatchOptions
from brightline.privacy.audit_settings import record_settings
from brightline.settings import Settings
from brightline.signals.hashing import HashOptions
from brightline.signals.media_formats import MEDIA_SUFFIXES
from brightline.store.db import Database

# Exit statuses shared by every command.
EXIT_OK = 0
EXIT_MATCH = 1  # scan: something matched; hash: some file could not be hashed
EXIT_FAILED = 2


@dataclass
class CliContext:
    """Settings plus lazily opened database, bank service and matcher."""

    settings: Settings
    out: Console = field(default_factory=lambda: Console(soft_wrap=True))
    err: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=True))
    _db: Database | None = None
    _banks: BankService | None = None
    _api_keys: ApiKeyService | None = None
    _matcher: Matcher | None = None

    @property
    def db(self) -> Database:
        """The database, migrated to the latest schema on first use."""
        if self._db is None:
            self._db = Database(self.settings.effective_database_url)
            self._db.upgrade()
            # Settings as this command runs them: the audit log names any that changed since last time.
            record_settings(self._db, self.settings, actor="cli")
        return self._db

    @property
    def banks(self) -> BankService:
        """Bank operations on the configured database."""
        if self._banks is None:
            self._banks = BankService(self.db)
        return self._banks

    @property
    def api_keys(self) -> ApiKeyService:
        """API key administration on the configured database."""
        if self._api_keys is None:
            self._api_keys = ApiKeyService(self.db)
        return self._api_keys

    def matcher(self, dihedral: bool | None = None) -> Matcher:
        """A matcher with indexes refreshed to the store's current revision."""
        if self._matcher is None:
            options = MatchOptions(
                min_quality=self.settings.min_quality,
                dihedral=self.settings.match_dihedral if dihedral is None else dihedral,
                thresholds={"pdq": self.settings.pdq_threshold},
                video_query_percent=self.settings.video_query_percent,
                video_candidate_percent=self.settings.video_candidate_percent,
            )
            self._matcher = Matcher(self.banks, index_dir=self.settings.index_dir, options=options)
            self._matcher.refresh()
        return self._matcher

    def hash_options(self, exact: bool, dihedral: bool, *, known: bool = False) -> HashOptions:
        """Hashing options from flags and settings; ``known`` for media going into a bank (region hashes)."""
        regions: Literal["none", "known"] = "known" if known else "none"
        return HashOptions.from_settings(self.settings, exact=exact, dihedral=dihedral, regions=regions)

    def close(self) -> None:
        """Release database connections."""
        if self._db is not None:
            self._db.dispose()


def get_context(ctx: typer.Context) -> CliContext:
    """The CliContext the root callback stored on the Typer context."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliContext):
        raise RuntimeError("brightline CLI context missing")
    return obj


def fail(ctx: CliContext, error: BrightlineError | str) -> typer.Exit:
    """Print a one-line error to stderr and return the exit to raise."""
    ctx.err.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
    return typer.Exit(EXIT_FAILED)


def expand_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given, and media files found recursively under given folders (sorted)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in MEDIA_SUFFIXES:
                    yield child
        else:
            yield path


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal (tables) rather than a pipe."""
    return sys.stdout.isatty()
