"""Time-window change feeds: the checkpoint and walk shared by NCMEC and StopNCII, and their option parsing.

A window [start, end) is read page by page, each page answering a cursor for the next. The
checkpoint after a page is ``{"done": start, "to": end, "cursor": ...}`` while the window has
pages left and ``{"done": end}`` after its last, so a sync killed after any page resumes at the
next page of the same window, and a sync after a complete one starts where it ended.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from brightline.errors import ConfigurationError, ValidationError
from brightline.sources.types import SourceBatch

VERSION: Final = 1

# Reads window [start, end) from ``cursor`` (None: its first page), one batch per page.
ReadWindow = Callable[[int, int, str | None], Iterator[SourceBatch]]


@dataclass(frozen=True)
class Position:
    """Where a sync stands: everything before ``done`` is read; an open window's end and next cursor."""

    done: int
    window_end: int | None = None
    cursor: str | None = None


def checkpoint(start: int, end: int, cursor: str | None) -> str:
    """The checkpoint after a page of window [start, end) that answered ``cursor`` for the next."""
    state: dict[str, Any] = {"v": VERSION, "done": end if cursor is None else start}
    if cursor is not None:
        state.update(to=end, cursor=cursor)
    return json.dumps(state, sort_keys=True)


def position(text: str | None, start: int) -> Position:
    """The position a checkpoint records; ``start`` when there is none; ValidationError if unreadable."""
    if not text:
        return Position(start)
    try:
        state = json.loads(text)
        done = int(state["done"])
        window_end = int(state["to"]) if "to" in state else None
        cursor = str(state["cursor"]) if "cursor" in state else None
    except (ValueError, TypeError, KeyError) as exc:
        raise ValidationError(f"unreadable source checkpoint: {exc}") from None
    if state.get("v") != VERSION or (cursor is None) != (window_end is None):
        raise ValidationError("source checkpoint of an unknown shape")
    return Position(done, window_end, cursor)


def walk(at: Position, end: int, window_s: int, read: ReadWindow) -> Iterator[SourceBatch]:
    """Finish the open window, then read windows of ``window_s`` up to ``end``."""
    done = at.done
    if at.window_end is not None and at.cursor is not None:
        yield from read(done, at.window_end, at.cursor)
        done = at.window_end
    while done < end:
        until = min(done + window_s, end)
        yield from read(done, until, None)
        done = until


def summary(problems: Mapping[str, int]) -> tuple[int, tuple[str, ...]]:
    """The malformed count and one short line per distinct problem, with its count when above one."""
    lines = tuple(f"{reason} (x{n})" if n > 1 else reason for reason, n in sorted(problems.items()))
    return sum(problems.values()), lines


def list_option(options: Mapping[str, Any], key: str) -> frozenset[str]:
    """A comma-separated (or list) option as a set of trimmed, non-empty strings."""
    raw = options.get(key, "")
    items = raw.split(",") if isinstance(raw, str) else list(raw) if isinstance(raw, list | tuple) else []
    return frozenset(str(item).strip() for item in items if str(item).strip())


def int_option(source: str, options: Mapping[str, Any], key: str, default: int, *, minimum: int) -> int:
    """A whole-number option of at least ``minimum``, or ConfigurationError."""
    try:
        value = int(options.get(key, default))
    except (TypeError, ValueError):
        raise ConfigurationError(f"source {source}: option {key} must be a whole number") from None
    if value < minimum:
        raise ConfigurationError(f"source {source}: option {key} must be at least {minimum}")
    return value


def time_option(source: str, options: Mapping[str, Any], key: str, default: str) -> int:
    """An ISO 8601 option (naive means UTC) as Unix seconds, or ConfigurationError."""
    raw = str(options.get(key) or default).strip()
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ConfigurationError(f"source {source}: option {key} must be an ISO 8601 time") from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())
