"""ThreatExchange wire formats: update records, Graph API errors, reactions and checkpoints.

Every ThreatExchange field name brightline relies on is named once, here, so a field that turns
out to be spelled differently is a one-line fix. Names taken from Meta's public Graph API
documentation for ``/{privacy_group_id}/threat_updates``: ``id``, ``indicator``, ``type``,
``tags``, ``should_delete``, ``last_updated``, ``creation_time`` and the ``paging`` object
(``cursors.after``, ``next``). Less certain (checked against no live server): whether ``tags``
arrives as a list of strings or as a Graph edge (``{"data": [{"text": ...}]}``; both are
accepted), whether times are Unix seconds or ISO-8601 (both accepted), and the reaction names
in ``REACTIONS``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal
from urllib.parse import parse_qs, urlsplit

from brightline.errors import BrightlineError, ConfigurationError
from brightline.signals.registry import get_signal_type
from brightline.sources.types import Opinion, SourceEntry

# --- field names of one threat_updates record ------------------------------------------------
F_ID: Final = "id"
F_VALUE: Final = "indicator"
F_TYPE: Final = "type"
F_TAGS: Final = "tags"
F_DELETE: Final = "should_delete"
F_UPDATED: Final = "last_updated"
F_ADDED: Final = "creation_time"

# ThreatExchange indicator types -> brightline signal types. The bare names are accepted because
# older documents and some exports drop the HASH_ prefix. Video MD5 is the MD5 of the file's
# bytes, which is exactly brightline's md5 signal for a video.
SIGNAL_TYPES: Final[Mapping[str, str]] = {
    "HASH_PDQ": "pdq",
    "PDQ": "pdq",
    "HASH_MD5": "md5",
    "MD5": "md5",
    "HASH_VIDEO_MD5": "md5",
    "VIDEO_MD5": "md5",
    "HASH_SHA256": "sha256",
    "SHA256": "sha256",
}

# A reviewer's opinion -> the reaction posted on the descriptor (POST /{id}/reactions, field
# ``reaction``). DISAGREE_WITH_TAGS is how a member says "this is not what it is labelled";
# SAW_THIS_TOO confirms a sighting; disputed decisions ask the owner for more context.
REACTIONS: Final[Mapping[Opinion, str]] = {
    "false_positive": "DISAGREE_WITH_TAGS",
    "true_positive": "SAW_THIS_TOO",
    "disputed": "WANT_MORE_INFO",
}

# Graph API error codes (error.code in the JSON body).
RATE_LIMIT_CODES: Final = frozenset({4, 17, 32, 341, 613})
AUTH_CODES: Final = frozenset({102, 190})  # invalid or expired access token
PERMISSION_CODES: Final = frozenset({10, *range(200, 300)})  # the token may not read this object
TRANSIENT_CODES: Final = frozenset({1, 2})  # "unknown error" / "service temporarily unavailable"

Failure = Literal["rate_limit", "auth", "transient", "fatal"]


@dataclass(frozen=True)
class GraphFailure:
    """What went wrong with one Graph API response, without any secret or hash in the message."""

    kind: Failure
    message: str


def classify_failure(status: int, body: Any) -> GraphFailure | None:
    """None for a usable response, else the kind of failure an error response (or body) reports."""
    error = body.get("error") if isinstance(body, dict) else None
    if status < 400 and not isinstance(error, dict):
        return None
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    text = str(error.get("message") or f"HTTP {status}")[:200]
    described = f"HTTP {status}, code {code}: {text}" if code is not None else f"HTTP {status}: {text}"
    if status == 429 or code in RATE_LIMIT_CODES:
        return GraphFailure("rate_limit", f"rate limited ({described})")
    if status == 401 or code in AUTH_CODES or (error.get("type") == "OAuthException" and code is None):
        return GraphFailure("auth", f"access token refused ({described}); app tokens cannot be refreshed")
    if status == 403 or code in PERMISSION_CODES:
        return GraphFailure("auth", f"access denied ({described})")
    if status >= 500 or code in TRANSIENT_CODES:
        return GraphFailure("transient", described)
    return GraphFailure("fatal", described)


@dataclass(frozen=True)
class ParsedPage:
    """One threat_updates page turned into brightline terms."""

    upserts: tuple[SourceEntry, ...]
    removals: tuple[str, ...]
    problems: tuple[str, ...]  # one per malformed or skipped record
    after: str | None  # cursor of the next page; None on the last page


def parse_page(body: Any, *, group: str, bank: str | None) -> ParsedPage:
    """Parse a threat_updates response body; raise BrightlineError if the page itself is unusable."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise BrightlineError(f"privacy group {group}: page without a data list")
    upserts: list[SourceEntry] = []
    removals: list[str] = []
    problems: list[str] = []
    for position, record in enumerate(data):
        outcome = parse_record(record, bank=bank)
        if isinstance(outcome, SourceEntry):
            upserts.append(outcome)
        elif isinstance(outcome, Removal):
            removals.append(outcome.remote_id)
        else:
            problems.append(f"privacy group {group}, record {position}: {outcome}")
    return ParsedPage(tuple(upserts), tuple(removals), tuple(problems), next_cursor(body))


@dataclass(frozen=True)
class Removal:
    """The owner withdrew this entry (``should_delete``: deleted, expired or no longer shared)."""

    remote_id: str


def parse_record(record: Any, *, bank: str | None) -> SourceEntry | Removal | str:
    """A SourceEntry, a Removal, or the reason the record was skipped."""
    if not isinstance(record, dict):
        return "not an object"
    remote_id = record.get(F_ID)
    if isinstance(remote_id, int) and not isinstance(remote_id, bool):
        remote_id = str(remote_id)
    if not isinstance(remote_id, str) or not remote_id.strip():
        return "no id"
    remote_id = remote_id.strip()
    # A withdrawal needs nothing but the id: the type may be one brightline never imported.
    if record.get(F_DELETE) is True:
        return Removal(remote_id)
    te_type = record.get(F_TYPE)
    signal_type = SIGNAL_TYPES.get(te_type.upper()) if isinstance(te_type, str) else None
    if signal_type is None:
        shown = te_type if isinstance(te_type, str) and len(te_type) <= 40 else "missing"
        return f"id {remote_id}: unsupported type {shown}"
    raw = record.get(F_VALUE)
    try:
        value = get_signal_type(signal_type).validate(raw if isinstance(raw, str) else "")
    except BrightlineError:
        # The validator's message quotes the value; problems must not carry hash values.
        return f"id {remote_id}: invalid {signal_type} value"
    return SourceEntry(
        remote_id=remote_id,
        signal_type=signal_type,
        value=value,
        classification=te_type if isinstance(te_type, str) else "",
        tags=parse_tags(record.get(F_TAGS)),
        bank=bank,
        added_at=parse_time(record.get(F_ADDED)),
        updated_at=parse_time(record.get(F_UPDATED)),
    )


def parse_tags(raw: Any) -> tuple[str, ...]:
    """Tag texts from a list of strings or a Graph edge of tag objects, deduplicated in order."""
    if isinstance(raw, dict):
        raw = raw.get("data")
    if not isinstance(raw, list):
        return ()
    texts: list[str] = []
    for item in raw:
        text = item.get("text") or item.get("name") if isinstance(item, dict) else item
        if isinstance(text, str) and text.strip() and text.strip() not in texts:
            texts.append(text.strip())
    return tuple(texts)


def parse_time(raw: Any) -> datetime | None:
    """A UTC datetime from Unix seconds (number or digit string) or ISO-8601 text; None if neither."""
    try:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return datetime.fromtimestamp(raw, UTC)
        if isinstance(raw, str) and raw.strip().isdigit():
            return datetime.fromtimestamp(int(raw.strip()), UTC)
        if isinstance(raw, str) and raw.strip():
            parsed = datetime.fromisoformat(raw.strip())
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def next_cursor(body: Any) -> str | None:
    """The ``after`` cursor when the page says another follows (``paging.next``), else None.

    The cursor is kept rather than the ``next`` URL because that URL carries the access token.
    """
    paging = body.get("paging") if isinstance(body, dict) else None
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    if isinstance(after, str) and after:
        return after
    # Some edges page with a bare ``next`` URL; fish the cursor out of its query string.
    found = parse_qs(urlsplit(str(paging["next"])).query).get("after")
    return found[0] if found else None


# --- checkpoints -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupState:
    """Where one privacy group's delta feed stands: the window being read and the page within it."""

    since: int = 0  # everything updated before this is in the bank
    until: int | None = None  # end of the window being paged through (None: no window open)
    after: str | None = None  # cursor of the next page of that window

    def as_json(self) -> dict[str, Any]:
        """The JSON object stored in the checkpoint."""
        return {"since": self.since, "until": self.until, "after": self.after}


def encode_checkpoint(groups: Mapping[str, GroupState]) -> str:
    """Checkpoint text for the given per-group states."""
    return json.dumps({"v": 1, "groups": {g: s.as_json() for g, s in groups.items()}}, sort_keys=True)


def decode_checkpoint(text: str | None, groups: Iterable[str]) -> dict[str, GroupState]:
    """Per-group states for the configured groups; groups new to the checkpoint start from scratch."""
    stored: dict[str, Any] = {}
    if text:
        try:
            parsed = json.loads(text)
            stored = parsed["groups"]
            if parsed.get("v") != 1 or not isinstance(stored, dict):
                raise ValueError("unknown checkpoint version")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigurationError(f"threatexchange checkpoint unreadable: {exc}") from exc
    states: dict[str, GroupState] = {}
    for group in groups:
        raw = stored.get(group)
        if not isinstance(raw, dict):
            states[group] = GroupState()
            continue
        since, until, after = raw.get("since", 0), raw.get("until"), raw.get("after")
        if not isinstance(since, int) or not (until is None or isinstance(until, int)):
            raise ConfigurationError(f"threatexchange checkpoint: bad times for privacy group {group}")
        states[group] = GroupState(since, until, after if isinstance(after, str) and after else None)
    return states
