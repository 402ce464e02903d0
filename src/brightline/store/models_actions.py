"""ORM tables of the actions layer: rules, evidence, webhook deliveries, user notices and enforcement."""

from __future__ import annotations
