"""A fixture year for the transparency report: audit events and scan counters with hand-countable numbers.

Four hash lists (three csam lists, one terrorism list), two technologies (pdq, md5), seven matched
scans, six reviews with known times, one confirmed match later overturned by an upheld appeal, three
reports (one retracted), plus events and counter rows just outside 2025 that the report must skip.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from brightline.store.audit import append_audit
from brightline.store.db import Database
from brightline.store.models import scan_counters_table

START, END = date(2025, 1, 1), date(2025, 12, 31)
BEFORE = datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC)  # last instant before the period
AFTER = datetime(2026, 1, 1, tzinfo=UTC)  # first instant after it (the period's end is exclusive)

# scan/case id -> (hits as (bank, domain, signal_type, distance), the case's bank, domain, signal)
_SCANS: dict[int, list[tuple[str, str, str, int]]] = {
    1: [("ncmec-hashes", "csam", "pdq", 4)],
    2: [("ncmec-hashes", "csam", "md5", 0), ("ncmec-hashes", "csam", "pdq", 0)],
    3: [("partner-list", "csam", "pdq", 10)],
    4: [("terror-list", "terrorism", "pdq", 20)],
    5: [("partner-list", "csam", "md5", 0), ("terror-list", "terrorism", "md5", 0)],
    6: [("hotline-list", "csam", "pdq", 30)],
    7: [("ncmec-hashes", "csam", "pdq", 2)],
}
# case id -> [(decision, seconds to decision)] in order; case 6 is only decided after the period
_DECISIONS: dict[int, list[tuple[str, int]]] = {
    1: [("confirm", 3600)],
    2: [("confirm", 600)],
    3: [("false_positive", 7200)],
    4: [("escalate", 1800), ("false_positive", 10800)],
    5: [("confirm", 1200)],
    7: [("confirm", 5400)],
}


def _at(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


def _case(case_id: int) -> dict[str, Any]:
    bank, domain, signal, _ = _SCANS[case_id][0]
    return {"bank": bank, "domain": domain, "signal_type": signal}


def seed_counters(db: Database, rows: list[tuple[date, str, int, int, int]]) -> None:
    """Insert scan counter rows (day, content type, API key id, scans, matched)."""
    with db.write_connection() as conn:
        for day, content_type, key, scans, matched in rows:
            conn.execute(
                scan_counters_table.insert().values(
                    day=day, content_type=content_type, api_key_id=key, scans=scans, matched=matched
                )
            )


def seed(db: Database) -> None:
    """Write the whole fixture year (and its just-outside neighbours) to ``db``."""
    events: list[tuple[datetime, str, dict[str, Any]]] = []
    for scan_id, hits in _SCANS.items():
        opened = _at(scan_id, 10)
        hit_docs = [{"bank": b, "domain": d, "signal_type": s, "distance": x} for b, d, s, x in hits]
        events.append((opened, "match.recorded", {"scan_id": scan_id, "content_type": "image", "hits": hit_docs}))
        events.append(
            (opened, "case.opened", {"case_id": scan_id, "kind": "match", "verified": True, **_case(scan_id)})
        )
        for decision, seconds in _DECISIONS.get(scan_id, []):
            details = {"case_id": scan_id, "kind": "match", "decision": decision, "classification": None}
            details |= {"opened_at": opened.isoformat(), "seconds_to_decision": seconds, **_case(scan_id)}
            events.append((opened + timedelta(seconds=seconds), "case.decided", details))
    # Case 6 is decided only after the period, so it stays undecided in the report.
    late = {"case_id": 6, "kind": "match", "decision": "confirm", "seconds_to_decision": 99, **_case(6)}
    events.append((AFTER + timedelta(days=1), "case.decided", late))
    # Out of period on both sides: must not count.
    outside = {"scan_id": 99, "content_type": "image", "hits": [{"bank": "ncmec-hashes", "domain": "csam"}]}
    events += [(BEFORE, "match.recorded", outside), (AFTER, "match.recorded", {**outside, "scan_id": 100})]
    events.append((BEFORE, "report.sent", {"report_id": 90, "case_id": 90, "destination": "cybertipline"}))
    # Reports: cases 1 and 2 to the CyberTipline, case 5 to a drop folder; report 1 retracted after the appeal.
    sent = ((1, 1, "cybertipline", 1800), (2, 2, "cybertipline", 900), (3, 5, "file_drop", 6000))
    for report_id, case_id, destination, seconds in sent:
        details = {"report_id": report_id, "case_id": case_id, "destination": destination}
        details["seconds_since_case_opened"] = seconds
        events.append((_at(case_id, 10) + timedelta(seconds=seconds), "report.sent", details))
    # Appeals: case 1 upheld (its confirmed match becomes a false positive), case 5 rejected, case 2 pending.
    for appeal_id, case_id in ((1, 1), (2, 5), (3, 2)):
        events.append((_at(8, appeal_id), "appeal.submitted", {"appeal_id": appeal_id, "case_id": case_id}))
    for appeal_id, case_id, outcome in ((1, 1, "upheld"), (2, 5, "rejected")):
        details = {"appeal_id": appeal_id, "case_id": case_id, "outcome": outcome, **_case(case_id)}
        events.append((_at(9, appeal_id), "appeal.decided", details))
    appeal_case = {"case_id": 20, "kind": "appeal", "decision": "uphold", "seconds_to_decision": 50, **_case(1)}
    events.append((_at(9, 1), "case.decided", appeal_case))
    events.append((_at(9, 1, 13), "report.retracted", {"report_id": 1, "case_id": 1}))
    events.append((_at(10, 1), "media.viewed", {"case_id": 3}))
    for kind, obj in (("scan_record", 11), ("scan_record", 12), ("case", 13)):
        events.append((_at(11, 1), "retention.deleted", {"kind": kind, "id": obj, "policy": "test"}))
    with db.write_connection() as conn:
        for at, action, details in events:
            append_audit(conn, actor="test", action=action, subject="", details=details, at=at)
    seed_counters(
        db,
        [
            (date(2024, 12, 31), "image", 0, 1000, 5),
            (date(2025, 1, 15), "image", 0, 100, 2),
            (date(2025, 1, 15), "image", 7, 50, 1),
            (date(2025, 2, 3), "video", 0, 20, 1),
            (date(2025, 3, 10), "image", 0, 30, 2),
            (date(2025, 12, 31), "video", 0, 10, 1),
            (date(2026, 1, 1), "image", 0, 999, 9),
        ],
    )
