"""Persistence: the database, its tables and their migrations."""

from brightline.store.db import Database, ensure_schema
from brightline.store.models import Bank, BankEntry, Base, EntryTombstone, StoreState, utcnow

# Imported for their side effect: every table registers on Base.metadata, which migrations compare against.
from brightline.store import (  # noqa: F401  isort: skip
    models_actions,
    models_audit,
    models_cases,
    models_provenance,
    models_reporting,
    models_retention,
    models_sources,
)

__all__ = ["Bank", "BankEntry", "Base", "Database", "EntryTombstone", "StoreState", "ensure_schema", "utcnow"]
