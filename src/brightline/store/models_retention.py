"""ORM tables of retention runs."""

from __future__ import annotations
