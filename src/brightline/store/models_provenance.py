"""ORM tables of hash-list provenance."""

from __future__ import annotations
