"""NCMEC hash sharing (v2) documents: the names brightline relies on, and parsing of an entries page.

Every element and parameter name the client depends on is in the constants below, so one
place changes if NCMEC's documentation says otherwise. Names brightline was not sure of when
this was written (from the public v2 documentation, without a live account): the member filter
parameter ``mid``, the ``tags`` element, the feedback path and body, and the reasons list.
Parsing ignores XML namespaces, so a document with or without NCMEC's namespace reads the same.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from brightline.errors import SignalError
from brightline.reporting import xmlsafe
from brightline.signals.registry import get_signal_type
from brightline.sources.types import SourceEntry

NAMESPACE: Final = "https://hashsharing.ncmec.org/hashsharing/v2"
ENVIRONMENTS: Final[Mapping[str, str]] = {
    "production": "https://hashsharing.ncmec.org/npo/v2/",
    "test": "https://hashsharing-test.ncmec.org/npo/v2/",
}
ENTRIES_PATH: Final = "entries"  # GET, with FROM_PARAM/TO_PARAM (ISO 8601 UTC) and MEMBER_PARAM
FROM_PARAM: Final = "from"
TO_PARAM: Final = "to"
MEMBER_PARAM: Final = "mid"  # repeated, one per member id
REASONS_PATH: Final = "feedback/reasons"  # GET: <reasons><reason><guid/><name/><type/></reason></reasons>
FEEDBACK_PATH: Final = "{kind}s/{entry_id}/feedback/{fingerprint}"  # PUT a <feedbackSubmission>
# Sections of a <queryResult>: section element -> (record element, entry kind, is a deletion).
SECTIONS: Final[Mapping[str, tuple[str, str, bool]]] = {
    "images": ("image", "image", False),
    "videos": ("video", "video", False),
    "deletedImages": ("deletedImage", "image", True),
    "deletedVideos": ("deletedVideo", "video", True),
}
# NCMEC fingerprint element -> brightline signal type. SHA-1, PhotoDNA and the video
# fingerprints (TMK, Videntifier) have no brightline signal type: they count as malformed
# unless listed in the source's skip_types option.
FINGERPRINT_TYPES: Final[Mapping[str, str]] = {"md5": "md5", "pdq": "pdq"}
INDUSTRY_CLASSES: Final = frozenset({"A1", "A2", "B1", "B2"})
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def local(tag: str) -> str:
    """An element's name without its namespace."""
    return tag.rsplit("}", 1)[-1]


def child(element: ET.Element, name: str) -> ET.Element | None:
    """The first child called ``name`` (any namespace)."""
    return next((c for c in element if local(c.tag) == name), None)


def text(element: ET.Element, name: str) -> str:
    """The stripped text of the first child called ``name``; empty when absent."""
    found = child(element, name)
    return (found.text or "").strip() if found is not None else ""


def remote_id(kind: str, entry_id: str, signal: str) -> str:
    """The remote id of one fingerprint of an entry: ``image:ID:pdq`` (unique per source, as the engine needs)."""
    return f"{kind}:{entry_id}:{signal}"


def split_remote_id(text: str) -> tuple[str, str, str] | None:
    """(kind, entry id, signal type) from a remote id; None if it is not one of ours."""
    kind, _, rest = text.partition(":")
    entry_id, _, signal = rest.rpartition(":")
    if kind not in ("image", "video") or not entry_id or "/" in entry_id or signal not in FINGERPRINT_TYPES.values():
        return None
    return kind, entry_id, signal


def parse_xml(data: bytes) -> ET.Element | None:
    """The root element, or None when the body is not XML (or declares a DTD)."""
    try:
        return xmlsafe.parse(data)
    except ET.ParseError:
        return None


def parse_time(raw: str) -> datetime | None:
    """An ISO 8601 timestamp as an aware UTC datetime (naive means UTC); None if unreadable."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_time(epoch: int) -> str:
    """Unix seconds as the ISO 8601 UTC text the entries query takes."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Page:
    """What one entries page holds after filtering to the window and the chosen members."""

    upserts: list[SourceEntry] = field(default_factory=list)
    removals: list[str] = field(default_factory=list)
    problems: Counter[str] = field(default_factory=Counter)
    next: str | None = None


@dataclass(frozen=True)
class PageFilter:
    """Which records of a page the source keeps."""

    start: int  # window, half-open [start, end) in Unix seconds: a record on a boundary is read once
    end: int
    members: frozenset[str] = frozenset()  # empty: every member
    skip_types: frozenset[str] = frozenset()


def parse_page(root: ET.Element, keep: PageFilter) -> Page:
    """Entries and deletions of a ``queryResult`` within the window, and the next-page link."""
    page = Page()
    for section in root:
        spec = SECTIONS.get(local(section.tag))
        if spec is None:
            continue
        record_name, kind, deleted = spec
        for record in section:
            if local(record.tag) == record_name:
                _parse_record(record, kind, deleted, keep, page)
    paging = child(root, "paging")
    link = text(paging, "next") if paging is not None else ""
    page.next = link or None
    return page


def _parse_record(record: ET.Element, kind: str, deleted: bool, keep: PageFilter, page: Page) -> None:
    raw_time = text(record, "timestamp")
    moment = parse_time(raw_time) if raw_time else None
    if raw_time and moment is None:
        page.problems[f"{kind}: unreadable timestamp"] += 1
        return
    # Whichever way the server treats the window's ends, each record is read in exactly one window.
    if moment is not None and not keep.start <= moment.timestamp() < keep.end:
        return
    entry_id = text(record, "id")
    member = child(record, "member")
    member_id = (member.get("id") or "").strip() if member is not None else ""
    if deleted:
        # Deletions pass whatever the member filter: removing an id never stored is harmless.
        if entry_id:
            # Which fingerprints the entry had is not said: each possible remote id is withdrawn.
            page.removals.extend(
                remote_id(kind, entry_id, signal) for signal in dict.fromkeys(FINGERPRINT_TYPES.values())
            )
        else:
            page.problems[f"deleted {kind}: missing id"] += 1
        return
    if keep.members and member_id not in keep.members:
        return
    if not entry_id:
        page.problems[f"{kind}: missing id"] += 1
        return
    page.upserts.extend(_entries(record, kind, entry_id, member_id, moment, keep, page))


def _entries(
    record: ET.Element,
    kind: str,
    entry_id: str,
    member_id: str,
    moment: datetime | None,
    keep: PageFilter,
    page: Page,
) -> Iterable[SourceEntry]:
    classification = text(record, "classification")
    category = classification.upper() if classification.upper() in INDUSTRY_CLASSES else classification
    tags_element = child(record, "tags")
    listed = () if tags_element is None else tuple(tags_element)
    tags = [t.text.strip() for t in listed if local(t.tag) == "tag" and t.text and t.text.strip()]
    if member_id:
        tags.insert(0, f"member:{member_id}")
    fingerprints = () if (found := child(record, "fingerprints")) is None else tuple(found)
    if not fingerprints:
        page.problems[f"{kind}: no fingerprints"] += 1
    for fingerprint in fingerprints:
        name = local(fingerprint.tag)
        if name.lower() in keep.skip_types:
            continue
        signal = FINGERPRINT_TYPES.get(name.lower())
        if signal is None:
            page.problems[f"{kind}: unsupported hash type {_SAFE_NAME.sub('', name)[:40]}"] += 1
            continue
        try:
            value = get_signal_type(signal).validate((fingerprint.text or "").strip())
        except SignalError:
            # The validator's message quotes the value; problems never carry hash values.
            page.problems[f"{kind}: bad {signal} value"] += 1
            continue
        yield SourceEntry(
            remote_id=remote_id(kind, entry_id, signal),
            signal_type=signal,
            value=value,
            category=category,
            classification=classification,
            tags=tuple(dict.fromkeys(tags)),
            updated_at=moment,
        )


def feedback_body(reason: str | None) -> bytes:
    """A ``feedbackSubmission``: ``affirmative`` without a reason, else ``negative`` with that reason id."""
    root = ET.Element("feedbackSubmission", xmlns=NAMESPACE)
    if reason is None:
        ET.SubElement(root, "affirmative")
    else:
        ids = ET.SubElement(ET.SubElement(root, "negative"), "reasonIds")
        ET.SubElement(ids, "guid").text = reason
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def pick_reason(root: ET.Element, fingerprint: str) -> str | None:
    """The first listed down-vote reason that applies to ``fingerprint`` (a reason without a type applies to all)."""
    for reason in root.iter():
        if local(reason.tag) != "reason":
            continue
        guid, kind = text(reason, "guid"), text(reason, "type").lower()
        if guid and kind in ("", fingerprint):
            return guid
    return None
