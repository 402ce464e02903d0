"""ORM tables of the reporting layer: reports to NCMEC's CyberTipline and other destinations."""

from __future__ import annotations
