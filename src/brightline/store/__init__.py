"""Persistence: the database, its tables and their migrations."""

from brightline.store.db import Database, ensure_schema
from brightline.store.models import Bank, BankEntry, Base, EntryTombstone, StoreState, utcnow

__all__ = ["Bank", "BankEntry", "Base", "Database", "EntryTombstone", "StoreState", "ensure_schema", "utcnow"]
