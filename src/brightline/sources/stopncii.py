"""StopNCII: hashes of intimate images people submitted to stopncii.org, with withdrawals and feedback.

Written from StopNCII's partner API documentation (the industry partner hash exchange).
Requests carry the partner's API key in the ``Ocp-Apim-Subscription-Key`` header (and, when
configured, a function key in ``x-functions-key``). ``GET FetchHashes`` with
``startTimestamp``/``endTimestamp`` (Unix seconds) answers ``hashRecords`` and, while more
remain, a ``nextPageToken`` sent back with the same window. A sync walks windows of
``window_days`` from the last completed one to now less ``lag_seconds``; the checkpoint after
each page holds the window and the token, so a sync killed after page k resumes at page k+1.
Records are kept to the half-open window [start, end) by their last-modified time, so a record
on a boundary is read once.

StopNCII hashes carry no id of their own: the ``remote_id`` is ``SIGNAL:VALUE`` (``pdq:...``,
``md5:...``), which a withdrawal (``hashStatus`` ``Withdrawn``: the person took their case
back) names again. PDQ and MD5 map to brightline's ``pdq`` and ``md5``; other types are
counted as malformed. Feedback (``POST SubmitFeedback``) sends the hash with a verdict from
``VERDICTS``; the reviewer's note is never sent.

Names brightline was unsure of (written without a live partner account) are the constants
below: the paths, the ``x-functions-key`` header, the record fields ``lastModifiedTimestamp``,
``hashStatus`` values and ``tags``, and the feedback body's ``hashFeedbacks``/``feedbackValue``
and its verdict words.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Self

import httpx

from brightline.errors import ConfigurationError, SignalError, SourceError, ValidationError
from brightline.signals.registry import get_signal_type
from brightline.sources import windows
from brightline.sources.http import SourceHttp, StaticHeaders
from brightline.sources.types import Feedback, Opinion, SourceBatch, SourceConfig, SourceDescription, SourceEntry

BASE_URL: Final = "https://api.stopncii.org/v1/"
FETCH_PATH: Final = "FetchHashes"
FEEDBACK_PATH: Final = "SubmitFeedback"
KEY_HEADER: Final = "Ocp-Apim-Subscription-Key"
FUNCTION_KEY_HEADER: Final = "x-functions-key"
SIGNAL_TYPES: Final[Mapping[str, str]] = {"PDQ": "pdq", "MD5": "md5"}  # StopNCII signalType -> brightline
ACTIVE, WITHDRAWN = frozenset({"active"}), frozenset({"withdrawn", "deleted"})
VERDICTS: Final[Mapping[Opinion, str]] = {
    "true_positive": "Blocked",
    "false_positive": "FalsePositive",
    "disputed": "UnderReview",
}
DEFAULT_START: Final = "2021-12-01T00:00:00Z"  # StopNCII opened in December 2021
OPTIONS: Final[Mapping[str, str]] = {
    "base_url": f"API root (default {BASE_URL})",
    "start": f"ISO 8601 time the first sync reads from (default {DEFAULT_START})",
    "window_days": "length of one time window (default 30)",
    "lag_seconds": "the newest changes left for the next sync (default 300)",
}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class StopNciiSource:
    """StopNCII partner hash exchange: PDQ and MD5 hashes, withdrawals and feedback."""

    kind: ClassVar[str] = "stopncii"

    def __init__(
        self,
        *,
        subscription_key: str,
        function_key: str = "",
        base_url: str = BASE_URL,
        start: int = int(datetime(2021, 12, 1, tzinfo=UTC).timestamp()),
        window_s: int = 30 * 86400,
        lag_s: int = 300,
        name: str = "stopncii",
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._headers = {KEY_HEADER: subscription_key} | ({FUNCTION_KEY_HEADER: function_key} if function_key else {})
        self.base_url = base_url
        self.start = start
        self.window_s = window_s
        self.lag_s = lag_s
        self.name = name
        self._transport = transport
        self._sleep = sleep
        self._clock = clock

    @classmethod
    def from_config(
        cls,
        config: SourceConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> Self:
        """Build the source from its stored configuration; ConfigurationError names what is wrong."""
        options, name = config.options, config.name
        key = config.credentials.get("subscription_key", "")
        if not key:
            raise ConfigurationError(f"source {name}: the subscription_key credential is required")
        base_url = str(options.get("base_url") or BASE_URL)
        if not base_url.startswith("https://"):
            raise ConfigurationError(f"source {name}: base_url must be https (the key travels with every request)")
        return cls(
            subscription_key=key,
            function_key=config.credentials.get("function_key", ""),
            base_url=base_url,
            start=windows.time_option(name, options, "start", DEFAULT_START),
            window_s=windows.int_option(name, options, "window_days", 30, minimum=1) * 86400,
            lag_s=windows.int_option(name, options, "lag_seconds", 300, minimum=0),
            name=name,
            transport=transport,
            sleep=sleep,
            clock=clock,
        )

    def describe(self) -> SourceDescription:
        """What this source supplies and which credentials it needs."""
        return SourceDescription(
            kind=self.kind,
            summary="StopNCII partner hash exchange (PDQ and MD5 of self-submitted intimate images; withdrawals)",
            signal_types=tuple(sorted(SIGNAL_TYPES.values())),
            credentials=("subscription_key",),  # a function_key credential is sent too when stored
            supports_feedback=True,
            options=dict(OPTIONS),
        )

    def _http(self) -> SourceHttp:
        auth = StaticHeaders(self._headers)
        return SourceHttp(
            f"source {self.name}", self.base_url, auth, transport=self._transport, sleep=self._sleep, clock=self._clock
        )

    def fetch(self, checkpoint: str | None) -> Generator[SourceBatch, None, None]:
        """One batch per FetchHashes page, window after window, each with the checkpoint after it."""
        at = windows.position(checkpoint, self.start)
        http = self._http()
        try:
            end = int(self._clock()) - self.lag_s
            yield from windows.walk(at, end, self.window_s, lambda a, b, token: self._window(http, a, b, token))
        finally:
            http.close()

    def _window(self, http: SourceHttp, start: int, end: int, token: str | None) -> Iterator[SourceBatch]:
        seen: set[str] = set()
        while True:
            params = {"startTimestamp": str(start), "endTimestamp": str(end)}
            if token is not None:
                params["nextPageToken"] = token
            body = _json(http.request("GET", FETCH_PATH, params=params))
            records = body.get("hashRecords") if isinstance(body, dict) else None
            if not isinstance(records, list):
                # The checkpoint still names this page: the next sync asks for it again.
                raise SourceError(f"source {self.name}: a FetchHashes page has no hashRecords list; will try again")
            next_token = body.get("nextPageToken")
            more = body.get("hasMoreRecords", True) is not False
            token = next_token if isinstance(next_token, str) and next_token and more else None
            if token is not None and token in seen:
                raise SourceError(f"source {self.name}: the server's nextPageToken repeats; paging stopped")
            if token is not None:
                seen.add(token)
            upserts, removals, problems = _parse_records(records, start, end)
            malformed, lines = windows.summary(problems)
            yield SourceBatch(
                upserts=tuple(upserts),
                removals=tuple(dict.fromkeys(removals)),
                checkpoint=windows.checkpoint(start, end, token),
                malformed=malformed,
                problems=lines,
            )
            if token is None:
                return

    def send_feedback(self, feedback: Feedback) -> None:
        """Send the reviewer's verdict on one hash to StopNCII (retried on 5xx and rate limits)."""
        stop_type = next((t for t, s in SIGNAL_TYPES.items() if s == feedback.signal_type), None)
        if stop_type is None:
            raise ValidationError(f"source {self.name}: StopNCII takes no feedback on {feedback.signal_type} hashes")
        value = get_signal_type(feedback.signal_type).validate(feedback.value)
        body = {
            "hashFeedbacks": [
                {"signalType": stop_type, "hashValue": value, "feedbackValue": VERDICTS[feedback.opinion]}
            ]
        }
        http = self._http()
        try:
            http.request("POST", FEEDBACK_PATH, json=body)
        finally:
            http.close()


def _parse_records(records: list[Any], start: int, end: int) -> tuple[list[SourceEntry], list[str], Counter[str]]:
    upserts: list[SourceEntry] = []
    removals: list[str] = []
    problems: Counter[str] = Counter()
    for record in records:
        if not isinstance(record, dict):
            problems["record is not an object"] += 1
            continue
        modified = _moment(record.get("lastModifiedTimestamp"))
        if record.get("lastModifiedTimestamp") is not None and modified is None:
            problems["unreadable lastModifiedTimestamp"] += 1
            continue
        # Whichever way the server treats the window's ends, each record is read in exactly one window.
        if modified is not None and not start <= modified.timestamp() < end:
            continue
        raw_type, raw_value = record.get("signalType"), record.get("hashValue")
        if not isinstance(raw_value, str) or not raw_value.strip():
            problems["missing hashValue"] += 1
            continue
        signal = SIGNAL_TYPES.get(raw_type.strip().upper()) if isinstance(raw_type, str) else None
        if signal is None:
            problems[f"unsupported signalType {_SAFE_NAME.sub('', str(raw_type))[:40]}"] += 1
            continue
        try:
            value = get_signal_type(signal).validate(raw_value)
        except SignalError:
            problems[f"bad {signal} value"] += 1  # the validator's message would quote the value
            continue
        status = str(record.get("hashStatus") or "Active").strip().lower()
        if status in WITHDRAWN:
            removals.append(f"{signal}:{value}")
        elif status in ACTIVE:
            tags = record.get("tags")
            upserts.append(
                SourceEntry(
                    remote_id=f"{signal}:{value}",
                    signal_type=signal,
                    value=value,
                    tags=tuple(str(t) for t in tags if isinstance(t, str) and t) if isinstance(tags, list) else (),
                    added_at=_moment(record.get("hashRegistrationTimestamp")),
                    updated_at=modified,
                )
            )
        else:
            problems[f"unknown hashStatus {_SAFE_NAME.sub('', status)[:40]}"] += 1
    return upserts, removals, problems


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _moment(raw: Any) -> datetime | None:
    """Unix seconds (or ISO 8601 text) as an aware UTC datetime; None if absent or unreadable."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        try:
            return datetime.fromtimestamp(raw, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            return None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return None
