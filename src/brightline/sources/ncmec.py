"""NCMEC hash sharing API (v2): hashes shared by NCMEC and its members, with up/down-vote feedback.

Written from NCMEC's public v2 documentation for members. Requests authenticate with HTTP
Basic (the member account's user name and password). Changes are read by time window:
``GET entries?from=A&to=B`` answers a ``queryResult`` with the images, videos and deletions
whose timestamp falls in the window, and a ``paging/next`` link that is followed until none is
left. A sync walks windows of ``window_days`` from the last completed one up to now less
``lag_seconds`` (changes still being written are left for the next sync); the checkpoint after
each page holds the window's end and the next link, so a sync killed after page k resumes at
page k+1 of the same window. Records are kept to the half-open window [A, B) whatever the
server does at the boundaries, so a record on a boundary is read once.

Each fingerprint of an entry becomes a `SourceEntry` whose ``remote_id`` is
``image:ID:md5``, ``video:ID:pdq``...: unique per hash, as the sync engine needs; a deletion of
entry ID withdraws the remote id of every fingerprint type brightline reads (those it never
held are counted as unknown removals), and feedback names the entry and fingerprint type.
MD5 and PDQ map to brightline's ``md5`` and ``pdq``; other types
(SHA-1, PhotoDNA, TMK...) are counted as malformed unless named in ``skip_types``. A
classification A1/A2/B1/B2 becomes the category, anything else is kept as free text; the
member id becomes the tag ``member:ID``. Feedback: ``true_positive`` is an up-vote
(affirmative), ``false_positive`` a down-vote (negative) with a reason id from the
``downvote_reason`` option or, when unset, the first reason NCMEC lists for that fingerprint
type; ``disputed`` has no NCMEC equivalent. The reviewer's note is never sent. Names brightline
was unsure of are in ``ncmec_parse``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator, Mapping
from datetime import UTC, datetime
from typing import ClassVar, Final, Self
from urllib.parse import quote

import httpx

from brightline.errors import ConfigurationError, FeedbackUnsupportedError, SourceError, ValidationError
from brightline.sources import windows
from brightline.sources.http import SourceHttp, basic_auth
from brightline.sources.ncmec_parse import (
    ENTRIES_PATH,
    ENVIRONMENTS,
    FEEDBACK_PATH,
    FINGERPRINT_TYPES,
    FROM_PARAM,
    MEMBER_PARAM,
    REASONS_PATH,
    TO_PARAM,
    PageFilter,
    feedback_body,
    format_time,
    parse_page,
    parse_xml,
    pick_reason,
    split_remote_id,
)
from brightline.sources.types import Feedback, SourceBatch, SourceConfig, SourceDescription

DEFAULT_START: Final = "2010-01-01T00:00:00Z"
OPTIONS: Final[Mapping[str, str]] = {
    "environment": "production or test (NCMEC's two services; default production)",
    "base_url": "API root overriding the environment's (e.g. the industry list's /exchange/v2/)",
    "members": "comma-separated member ids: only their hashes are kept (default: every member)",
    "skip_types": "comma-separated fingerprint types skipped silently (e.g. sha1,photodna)",
    "start": f"ISO 8601 time the first sync reads from (default {DEFAULT_START})",
    "window_days": "length of one time window (default 30)",
    "lag_seconds": "the newest changes left for the next sync, for entries still being written (default 300)",
    "downvote_reason": "reason id sent with down-votes (default: the first reason NCMEC lists)",
}
_XML: Final = {"Content-Type": "application/xml; charset=utf-8"}


class NcmecSource:
    """NCMEC hash sharing (v2): time-windowed change feed of member-shared hashes, with votes."""

    kind: ClassVar[str] = "ncmec"

    def __init__(
        self,
        *,
        username: str,
        password: str,
        base_url: str = ENVIRONMENTS["production"],
        members: frozenset[str] = frozenset(),
        skip_types: frozenset[str] = frozenset(),
        start: int = int(datetime(2010, 1, 1, tzinfo=UTC).timestamp()),
        window_s: int = 30 * 86400,
        lag_s: int = 300,
        downvote_reason: str | None = None,
        name: str = "ncmec",
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credentials = (username, password)
        self.base_url = base_url
        self.members = members
        self.skip_types = skip_types
        self.start = start
        self.window_s = window_s
        self.lag_s = lag_s
        self.downvote_reason = downvote_reason
        self._reasons: dict[str, str] = {}
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
        username, password = config.credentials.get("username", ""), config.credentials.get("password", "")
        if not username or not password:
            raise ConfigurationError(f"source {name}: the username and password credentials are required")
        environment = str(options.get("environment", "production")).strip().lower()
        if environment not in ENVIRONMENTS:
            raise ConfigurationError(f"source {name}: environment must be one of {', '.join(ENVIRONMENTS)}")
        base_url = str(options.get("base_url") or ENVIRONMENTS[environment])
        if not base_url.startswith("https://"):
            raise ConfigurationError(f"source {name}: base_url must be https (credentials travel with every request)")
        start = windows.time_option(name, options, "start", DEFAULT_START)
        return cls(
            username=username,
            password=password,
            base_url=base_url,
            members=windows.list_option(options, "members"),
            skip_types=frozenset(t.lower() for t in windows.list_option(options, "skip_types")),
            start=start,
            window_s=windows.int_option(name, options, "window_days", 30, minimum=1) * 86400,
            lag_s=windows.int_option(name, options, "lag_seconds", 300, minimum=0),
            downvote_reason=str(options.get("downvote_reason", "")).strip() or None,
            name=name,
            transport=transport,
            sleep=sleep,
            clock=clock,
        )

    def describe(self) -> SourceDescription:
        """What this source supplies and which credentials it needs."""
        return SourceDescription(
            kind=self.kind,
            summary="NCMEC hash sharing API v2 (member-shared image and video hashes, time-window feed, votes)",
            signal_types=tuple(sorted(set(FINGERPRINT_TYPES.values()))),
            credentials=("username", "password"),
            supports_feedback=True,
            options=dict(OPTIONS),
        )

    def _http(self) -> SourceHttp:
        return SourceHttp(
            f"source {self.name}",
            self.base_url,
            basic_auth(*self._credentials),
            transport=self._transport,
            sleep=self._sleep,
            clock=self._clock,
        )

    def fetch(self, checkpoint: str | None) -> Generator[SourceBatch, None, None]:
        """One batch per entries page, window after window, each with the checkpoint after it."""
        at = windows.position(checkpoint, self.start)
        http = self._http()
        try:
            end = int(self._clock()) - self.lag_s
            yield from windows.walk(at, end, self.window_s, lambda a, b, link: self._window(http, a, b, link))
        finally:
            http.close()

    def _window(self, http: SourceHttp, start: int, end: int, link: str | None) -> Iterator[SourceBatch]:
        keep = PageFilter(start, end, self.members, self.skip_types)
        seen: set[str] = set()
        while True:
            if link is None:
                params: list[tuple[str, str]] = [(FROM_PARAM, format_time(start)), (TO_PARAM, format_time(end))]
                params += [(MEMBER_PARAM, member) for member in sorted(self.members)]
                response = http.request("GET", ENTRIES_PATH, params=params)
            else:
                response = http.request("GET", link)
            root = parse_xml(response.content)
            if root is None:
                # The checkpoint still names this page: the next sync asks for it again.
                raise SourceError(f"source {self.name}: an entries page is not XML; will try again")
            page = parse_page(root, keep)
            if page.next is not None and page.next in seen:
                raise SourceError(f"source {self.name}: the server's next link repeats; paging stopped")
            if page.next is not None:
                seen.add(page.next)
            malformed, problems = windows.summary(page.problems)
            yield SourceBatch(
                upserts=tuple(page.upserts),
                removals=tuple(dict.fromkeys(page.removals)),
                checkpoint=windows.checkpoint(start, end, page.next),
                malformed=malformed,
                problems=problems,
            )
            if page.next is None:
                return
            link = page.next

    def send_feedback(self, feedback: Feedback) -> None:
        """Up-vote (true positive) or down-vote (false positive) the entry's fingerprint at NCMEC."""
        named = split_remote_id(feedback.remote_id)
        if named is None:
            raise ValidationError(f"source {self.name}: {feedback.remote_id!r} is not an NCMEC remote id")
        kind, entry_id, signal = named
        fingerprint = next(f for f, s in FINGERPRINT_TYPES.items() if s == signal)
        if feedback.opinion == "disputed":
            raise FeedbackUnsupportedError(f"source {self.name}: NCMEC takes up- and down-votes only, not 'disputed'")
        http = self._http()
        try:
            reason = None
            if feedback.opinion == "false_positive":
                reason = self.downvote_reason or self._listed_reason(http, fingerprint)
            path = FEEDBACK_PATH.format(kind=kind, entry_id=quote(entry_id, safe=""), fingerprint=fingerprint)
            http.request("PUT", path, content=feedback_body(reason), headers=_XML)
        finally:
            http.close()

    def _listed_reason(self, http: SourceHttp, fingerprint: str) -> str:
        if fingerprint not in self._reasons:
            root = parse_xml(http.request("GET", REASONS_PATH).content)
            reason = pick_reason(root, fingerprint) if root is not None else None
            if reason is None:
                raise SourceError(f"source {self.name}: NCMEC lists no down-vote reason for {fingerprint}")
            self._reasons[fingerprint] = reason  # reasons may differ by fingerprint type
        return self._reasons[fingerprint]
