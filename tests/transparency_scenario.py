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


_DEMO_LISTS = (
    # bank, domain, technologies, share of matches, chance a review finds it false
    ("ncmec-hashes", "csam", ("md5", "pdq", "vpdq"), 0.5, 0.01),
    ("tech-coalition", "csam", ("pdq", "pdq_regions"), 0.25, 0.06),
    ("hotline-nl", "csam", ("pdq", "md5"), 0.15, 0.03),
    ("gifct-tvec", "terrorism", ("pdq", "vpdq"), 0.10, 0.08),
)


def seed_demo(db: Database, year: int = 2025, matches: int = 240, rng_seed: int = 7) -> None:
    """A plausible, benign demo year (made-up numbers only) for the README's sample report."""
    import random

    rng = random.Random(rng_seed)
    events: list[tuple[datetime, str, dict[str, Any]]] = []
    weights = [share for *_, share, _ in _DEMO_LISTS]
    for n in range(1, matches + 1):
        bank, domain, techs, _, fp_chance = rng.choices(_DEMO_LISTS, weights)[0]
        tech = rng.choice(techs)
        opened = datetime(year, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(365 * 86400))
        hit = {
            "bank": bank,
            "domain": domain,
            "signal_type": tech,
            "distance": 0 if tech == "md5" else rng.randrange(32),
        }
        content_type = "video" if tech == "vpdq" else "image"
        events.append((opened, "match.recorded", {"scan_id": n, "content_type": content_type, "hits": [hit]}))
        case = {"case_id": n, "bank": bank, "domain": domain, "signal_type": tech}
        events.append((opened, "case.opened", case | {"kind": "match", "verified": True}))
        if rng.random() < 0.04:
            continue  # still in the queue at the year's end
        seconds = int(rng.lognormvariate(9.0, 0.8))
        decision = "false_positive" if rng.random() < fp_chance else "confirm"
        decided = case | {"kind": "match", "decision": decision, "seconds_to_decision": seconds}
        events.append((opened + timedelta(seconds=seconds), "case.decided", decided))
        if decision == "confirm" and domain == "csam":
            after = seconds + int(rng.lognormvariate(7.5, 0.6))
            destination = "file_drop" if bank == "hotline-nl" else "cybertipline"
            sent = {"report_id": n, "case_id": n, "destination": destination, "seconds_since_case_opened": after}
            events.append((opened + timedelta(seconds=after), "report.sent", sent))
        if decision == "confirm" and rng.random() < 0.05:
            upheld = rng.random() < 0.3
            appealed = opened + timedelta(days=rng.randrange(1, 20))
            events.append((appealed, "appeal.submitted", {"appeal_id": n, "case_id": n}))
            outcome = {"appeal_id": n, "case_id": n, "outcome": "upheld" if upheld else "rejected"}
            events.append((appealed + timedelta(days=2), "appeal.decided", outcome | case))
            if upheld and domain == "csam":
                retracted = {"report_id": n, "case_id": n}
                events.append((appealed + timedelta(days=2, hours=1), "report.retracted", retracted))
    with db.write_connection() as conn:
        for at, action, details in events:
            if at.year == year:
                append_audit(conn, actor="demo", action=action, details=details, at=at)
    rows = []
    for day in range(365):
        when = date(year, 1, 1) + timedelta(days=day)
        growth = 1 + day / 700
        images, videos = int(rng.gauss(40_000, 3_000) * growth), int(rng.gauss(5_000, 600) * growth)
        rows += [(when, "image", 0, images, 0), (when, "video", 0, videos, 0)]
    counts = [(at.date(), d["content_type"]) for at, action, d in events if action == "match.recorded"]
    matched = {key: counts.count(key) for key in set(counts)}
    seed_counters(db, [(d, ct, k, s, matched.get((d, ct), 0)) for d, ct, k, s, _ in rows])


if __name__ == "__main__":
    # Writes the demo report's HTML (the README's docs/transparency.png is a screenshot of it).
    import sys
    import tempfile
    from pathlib import Path

    from brightline.privacy.transparency import Period
    from brightline.privacy.transparency_html import render_html
    from brightline.privacy.transparency_source import build_transparency_report
    from brightline.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        demo_db = Database(f"sqlite:///{tmp}/demo.db")
        demo_db.upgrade()
        seed_demo(demo_db)
        settings = Settings(environment="test", data_dir=Path(tmp))
        period = Period(date(2025, 1, 1), date(2025, 12, 31))
        report = build_transparency_report(demo_db, period, settings, now=datetime(2026, 1, 15, 9, 0, tzinfo=UTC))
        Path(sys.argv[1]).write_text(render_html(report), encoding="utf-8")
