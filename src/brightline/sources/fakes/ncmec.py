"""An in-process NCMEC hash sharing (v2) server for tests and demos: ``httpx.MockTransport(fake.handle)``.

It answers the calls `NcmecSource` makes as the documentation describes them: HTTP Basic on
every request (401 when wrong or when the session was expired with `expire_token`), entries by
time window (both ends inclusive, the less convenient reading) with a ``paging/next`` link per
page of ``page_size`` records, member filters, deletions, the feedback reasons list and votes.
Paging is by key (timestamp, then change order), so a change made while a client pages through
a past window never shifts the records it has yet to read. Failures are injected per endpoint
(``entries``, ``reasons``, ``feedback``) with `fail_next` and `malformed_next`.
"""

from __future__ import annotations

import base64
import itertools
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from brightline.sources.ncmec_parse import NAMESPACE, child, local, parse_time


@dataclass
class FakeEntry:
    """One entry as the fake holds it: the latest change to it wins."""

    entry_id: str | None
    kind: str  # image | video
    timestamp: datetime
    member_id: str = "1"
    fingerprints: dict[str, str] = field(default_factory=dict)
    classification: str = "A1"
    tags: tuple[str, ...] = ()
    deleted: bool = False
    order: int = 0  # change order, breaks timestamp ties for paging


@dataclass
class _Failure:
    status: int
    retry_after: float | None


class FakeNcmecHashSharing:
    """A stateful NCMEC hash sharing v2 server; mutate it with add/update/delete and inspect what it got."""

    def __init__(
        self,
        *,
        username: str = "esp-user",
        password: str = "esp-password",  # noqa: S107 - the fake server's own test account
        page_size: int = 3,
        members: Mapping[str, str] | None = None,
        reasons: tuple[tuple[str, str, str], ...] = (("reason-not-csam", "Not CSAM", ""),),
    ) -> None:
        self.username, self.password = username, password
        self.page_size = page_size
        self.members = dict(members or {"1": "Member One", "2": "Member Two"})
        self.reasons = reasons  # (guid, name, fingerprint type or "" for all)
        self.entries: dict[tuple[str, str | None], FakeEntry] = {}
        self.feedback: list[dict[str, Any]] = []  # votes received, in order
        self.requests: list[httpx.Request] = []
        self._order = itertools.count(1)
        self._failures: dict[str, list[_Failure]] = {}
        self._garbled: dict[str, int] = {}
        self._expired = False

    # --- state ------------------------------------------------------------------------

    def add(
        self,
        entry_id: str | None,
        *,
        at: datetime,
        fingerprints: Mapping[str, str],
        kind: str = "image",
        member_id: str = "1",
        classification: str = "A1",
        tags: tuple[str, ...] = (),
    ) -> FakeEntry:
        """Share an entry (an id of None makes a record without an id, as a malformed one)."""
        entry = FakeEntry(entry_id, kind, at, member_id, dict(fingerprints), classification, tags)
        entry.order = next(self._order)
        self.entries[(kind, entry_id)] = entry
        return entry

    def update(self, entry_id: str, *, at: datetime, kind: str = "image", **changes: Any) -> FakeEntry:
        """Change an entry; it moves to timestamp ``at``."""
        entry = self.entries[(kind, entry_id)]
        for name, value in changes.items():
            setattr(entry, name, value)
        entry.timestamp, entry.order = at, next(self._order)
        return entry

    def delete(self, entry_id: str, *, at: datetime, kind: str = "image") -> None:
        """Delete an entry; an id never shared still yields a deletion record, as the real service may."""
        entry = self.entries.get((kind, entry_id)) or FakeEntry(entry_id, kind, at)
        entry.deleted, entry.timestamp, entry.order = True, at, next(self._order)
        self.entries[(kind, entry_id)] = entry

    # --- failure injection ------------------------------------------------------------

    def fail_next(self, endpoint: str, status: int, *, retry_after: float | None = None, times: int = 1) -> None:
        """The next ``times`` calls to ``endpoint`` (entries, reasons, feedback) answer ``status``."""
        self._failures.setdefault(endpoint, []).extend(_Failure(status, retry_after) for _ in range(times))

    def malformed_next(self, endpoint: str = "entries", times: int = 1) -> None:
        """The next ``times`` answers of ``endpoint`` are cut off mid-document (not XML)."""
        self._garbled[endpoint] = self._garbled.get(endpoint, 0) + times

    def expire_token(self) -> None:
        """The session lapses: the next request is refused with 401 and must authenticate again."""
        self._expired = True

    # --- HTTP -------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request (pass to ``httpx.MockTransport``)."""
        self.requests.append(request)
        path = request.url.path
        prefix, marker, rest = path.partition("/v2/")
        if not marker:
            return _error(404, "not found")
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if self._expired or request.headers.get("Authorization") != expected:
            self._expired = False
            response = _error(401, "Unauthorized: authentication required")
            response.headers["WWW-Authenticate"] = 'Basic realm="hashsharing"'
            return response
        parts = rest.strip("/").split("/")
        if request.method == "GET" and parts == ["entries"]:
            endpoint = "entries"
        elif request.method == "GET" and parts == ["feedback", "reasons"]:
            endpoint = "reasons"
        elif request.method == "PUT" and len(parts) == 4 and parts[2] == "feedback":
            endpoint = "feedback"
        else:
            return _error(404, "not found")
        queued = self._failures.get(endpoint)
        if queued:
            failure = queued.pop(0)
            response = _error(failure.status, "injected failure")
            if failure.retry_after is not None:
                response.headers["Retry-After"] = f"{failure.retry_after:g}"
            return response
        if endpoint == "entries":
            response = self._entries(request, prefix + marker)
        elif endpoint == "reasons":
            response = self._reasons()
        else:
            response = self._vote(request, parts)
        if self._garbled.get(endpoint):
            self._garbled[endpoint] -= 1
            return httpx.Response(200, content=response.content[: len(response.content) // 2], headers=_XML)
        return response

    def _entries(self, request: httpx.Request, base_path: str) -> httpx.Response:
        query = request.url.params
        start, end = parse_time(query.get("from", "")), parse_time(query.get("to", ""))
        if start is None or end is None or end < start:
            return _error(400, "from and to must be ISO 8601 times, from before to")
        members = set(query.get_list("mid"))
        after = tuple(int(p) for p in query["start"].split("-")) if "start" in query else None
        chosen = sorted(
            (
                entry
                for entry in self.entries.values()
                if start <= entry.timestamp <= end and (entry.deleted or not members or entry.member_id in members)
            ),
            key=_key,
        )
        if after is not None:
            chosen = [e for e in chosen if _key(e) > after]
        page, more = chosen[: self.page_size], len(chosen) > self.page_size
        root = ET.Element("queryResult", xmlns=NAMESPACE)
        sections = {name: ET.SubElement(root, name) for name in ("images", "videos", "deletedImages", "deletedVideos")}
        for entry in page:
            name = ("deleted" + entry.kind.title() + "s") if entry.deleted else entry.kind + "s"
            self._record(sections[name], entry)
        for section in sections.values():
            section.set("count", str(len(section)))
        if more:
            last = page[-1]
            params = [(k, v) for k, v in query.multi_items() if k != "start"]
            params.append(("start", "-".join(str(part) for part in _key(last))))
            ET.SubElement(ET.SubElement(root, "paging"), "next").text = f"{base_path}entries?{urlencode(params)}"
        return _document(root)

    def _record(self, section: ET.Element, entry: FakeEntry) -> None:
        name = ("deleted" + entry.kind.title()) if entry.deleted else entry.kind
        record = ET.SubElement(section, name)
        member = ET.SubElement(record, "member", id=entry.member_id)
        member.text = self.members.get(entry.member_id, "")
        ET.SubElement(record, "timestamp").text = entry.timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if entry.entry_id is not None:
            ET.SubElement(record, "id").text = entry.entry_id
        if entry.deleted:
            return
        ET.SubElement(record, "classification").text = entry.classification
        if entry.tags:
            tags = ET.SubElement(record, "tags")
            for tag in entry.tags:
                ET.SubElement(tags, "tag").text = tag
        fingerprints = ET.SubElement(record, "fingerprints")
        for kind, value in entry.fingerprints.items():
            ET.SubElement(fingerprints, kind).text = value

    def _reasons(self) -> httpx.Response:
        root = ET.Element("reasons", xmlns=NAMESPACE)
        for guid, name, kind in self.reasons:
            reason = ET.SubElement(root, "reason")
            ET.SubElement(reason, "guid").text = guid
            ET.SubElement(reason, "name").text = name
            ET.SubElement(reason, "type").text = kind
        return _document(root)

    def _vote(self, request: httpx.Request, parts: list[str]) -> httpx.Response:
        collection, entry_id, _, fingerprint = parts
        kind = collection.removesuffix("s")
        entry = self.entries.get((kind, entry_id))
        if entry is None or entry.deleted:
            return _error(404, "no such entry")
        if fingerprint not in entry.fingerprints:
            return _error(400, f"the entry has no {fingerprint} fingerprint")
        try:
            root = ET.fromstring(request.content)  # noqa: S314 - the fake parses what brightline itself wrote
        except ET.ParseError:
            return _error(400, "feedbackSubmission is not XML")
        negative = child(root, "negative")
        if local(root.tag) != "feedbackSubmission" or (child(root, "affirmative") is None) == (negative is None):
            return _error(400, "feedbackSubmission needs exactly one of affirmative or negative")
        reasons = (
            [(e.text or "").strip() for e in negative.iter() if local(e.tag) == "guid"] if negative is not None else []
        )
        if negative is not None and not reasons:
            return _error(400, "a negative vote needs a reason id")
        vote = "up" if negative is None else "down"
        self.feedback.append(
            {"kind": kind, "id": entry_id, "fingerprint": fingerprint, "vote": vote, "reasons": reasons}
        )
        return httpx.Response(204)


_XML = {"Content-Type": "application/xml; charset=utf-8"}


def _key(entry: FakeEntry) -> tuple[int, int]:
    """Paging key: the timestamp in milliseconds, then the change order."""
    return int(entry.timestamp.timestamp() * 1000), entry.order


def _document(root: ET.Element) -> httpx.Response:
    return httpx.Response(200, content=ET.tostring(root, encoding="utf-8", xml_declaration=True), headers=_XML)


def _error(status: int, message: str) -> httpx.Response:
    root = ET.Element("error", xmlns=NAMESPACE)
    ET.SubElement(root, "code").text = str(status)
    ET.SubElement(root, "message").text = message
    return httpx.Response(status, content=ET.tostring(root, encoding="utf-8"), headers=_XML)
