"""Transparency report numbers equal hand-computed ones on the fixture year (tests/transparency_scenario.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from transparency_scenario import END, START, seed, seed_counters

from brightline.errors import ValidationError
from brightline.privacy.transparency import Period, parse_day, report_period
from brightline.privacy.transparency_source import build_transparency_report
from brightline.settings import Settings
from brightline.store.audit import append_audit
from brightline.store.db import Database

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _report(db: Database, tmp_path: Path, start: date = START, end: date = END) -> dict[str, Any]:
    settings = Settings(environment="test", data_dir=tmp_path, preservation_days=365)
    return build_transparency_report(db, Period(start, end), settings, now=NOW).as_dict()


@pytest.fixture
def year(db: Database, tmp_path: Path) -> dict[str, Any]:
    seed(db)
    return _report(db, tmp_path)


def test_volume_comes_from_the_scan_counters_of_the_period(year: dict[str, Any]) -> None:
    volume = year["volume"]
    # 100 + 50 (two API keys, one day) + 30 images; 20 + 10 videos. Rows of 2024-12-31 and 2026-01-01 excluded.
    assert volume["scans"] == 210
    assert volume["matched"] == 7
    assert volume["match_rate"] == pytest.approx(7 / 210)
    assert volume["by_content_type"] == {
        "image": {"scans": 180, "matched": 5, "match_rate": pytest.approx(5 / 180)},
        "video": {"scans": 30, "matched": 2, "match_rate": pytest.approx(2 / 30)},
    }
    months = {m["month"]: (m["scans"], m["matched"]) for m in volume["by_month"]}
    assert len(months) == 12
    assert months["2025-01"] == (150, 3) and months["2025-02"] == (20, 1) and months["2025-03"] == (30, 2)
    assert months["2025-12"] == (10, 1) and months["2025-06"] == (0, 0)


def test_matches_by_bank_domain_and_technology_count_each_scan_once(year: dict[str, Any]) -> None:
    matches = year["matches"]
    assert matches["matched_scans"] == 7
    # Scan 2 hit ncmec-hashes twice (md5 and pdq): one match for the bank, one per technology.
    assert matches["by_bank"] == {"hotline-list": 1, "ncmec-hashes": 3, "partner-list": 2, "terror-list": 2}
    assert matches["by_domain"] == {"csam": 6, "terrorism": 2}
    assert matches["by_technology"] == {"md5": 2, "pdq": 6}


def test_cases_reviewed_and_confirmed(year: dict[str, Any]) -> None:
    # Case 4's escalation is not a review; case 6 is decided only after the period.
    assert year["cases"] == {
        "opened": 7,
        "reviewed": 6,
        "confirmed": 4,
        "false_positive": 2,
        "escalated": 1,
        "undecided": 1,
    }


def test_an_upheld_appeal_counts_as_a_false_positive_of_its_technology_and_list(year: dict[str, Any]) -> None:
    rates = year["error_rates"]
    # Reviewed 6: false positives 2 by review (cases 3, 4) + 1 by appeal (case 1, confirmed then overturned).
    assert rates["overall"] == {
        "matches": 7,
        "reviewed": 6,
        "confirmed": 4,
        "false_positives_by_review": 2,
        "false_positives_by_appeal": 1,
        "false_positives": 3,
        "error_rate": 0.5,
    }
    pdq, md5 = rates["by_technology"]["pdq"], rates["by_technology"]["md5"]
    assert (pdq["matches"], pdq["reviewed"], pdq["confirmed"]) == (6, 4, 2)
    assert (pdq["false_positives_by_review"], pdq["false_positives_by_appeal"], pdq["error_rate"]) == (2, 1, 0.75)
    assert (md5["matches"], md5["reviewed"], md5["confirmed"], md5["false_positives"], md5["error_rate"]) == (
        2,
        2,
        2,
        0,
        0.0,
    )
    banks = rates["by_bank"]
    ncmec = banks["ncmec-hashes"]
    # Without the appeal ncmec-hashes would be 0 / 3; the overturned case 1 makes it 1 / 3.
    assert (ncmec["domain"], ncmec["reviewed"], ncmec["confirmed"], ncmec["false_positives_by_appeal"]) == (
        "csam",
        3,
        3,
        1,
    )
    assert ncmec["error_rate"] == pytest.approx(1 / 3)
    assert (banks["partner-list"]["reviewed"], banks["partner-list"]["error_rate"]) == (2, 0.5)
    assert (banks["terror-list"]["domain"], banks["terror-list"]["error_rate"]) == ("terrorism", 1.0)
    # Matched but never reviewed: the rate is n/a (None), not zero.
    assert (banks["hotline-list"]["matches"], banks["hotline-list"]["reviewed"]) == (1, 0)
    assert banks["hotline-list"]["error_rate"] is None


def test_reports_appeals_and_times(year: dict[str, Any]) -> None:
    assert year["reports"] == {
        "sent": 3,
        "by_destination": {"cybertipline": 2, "file_drop": 1},
        "retracted": 1,
        "retracted_by_destination": {"cybertipline": 1},
    }
    assert year["appeals"] == {"submitted": 3, "upheld": 1, "rejected": 1, "pending": 1}
    # Reviews took 3600, 600, 7200, 10800, 1200 and 5400 s (the escalation at 1800 s is not one).
    assert year["time_to_review"] == {"count": 6, "mean_seconds": 4800.0, "median_seconds": 4500.0}
    # Reports: 1800, 900 and 6000 s after their cases opened.
    assert year["time_to_report"] == {"count": 3, "mean_seconds": 2900.0, "median_seconds": 1800.0}


def test_retention_policy_and_deletions(year: dict[str, Any]) -> None:
    retention = year["retention"]
    assert retention["deleted"] == {"case": 1, "scan_record": 2}
    kept = {item["what"]: item["kept"] for item in retention["policy"]}
    assert "365 days" in kept["Reported cases: evidence and records"]
    assert year["period"] == {"from": "2025-01-01", "to": "2025-12-31"}
    assert year["generated_at"] == "2026-01-05T09:00:00+00:00"
    assert set(year["definitions"]) >= {"error rate", "reviewed", "false positives by appeal"}


def test_a_shorter_period_excludes_events_outside_it(db: Database, tmp_path: Path) -> None:
    seed(db)
    # January to March: scans 1-3 only; the appeals (August, September) fall outside.
    q1 = _report(db, tmp_path, date(2025, 1, 1), date(2025, 3, 31))
    assert q1["matches"]["by_bank"] == {"ncmec-hashes": 2, "partner-list": 1}
    assert q1["cases"]["reviewed"] == 3
    assert q1["error_rates"]["overall"]["error_rate"] == pytest.approx(1 / 3)
    assert q1["appeals"] == {"submitted": 0, "upheld": 0, "rejected": 0, "pending": 0}
    assert q1["volume"]["scans"] == 200
    assert [m["month"] for m in q1["volume"]["by_month"]] == ["2025-01", "2025-02", "2025-03"]


def test_the_last_day_is_included_up_to_midnight(db: Database, tmp_path: Path) -> None:
    with db.write_connection() as conn:
        for at in (datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC)):
            append_audit(
                conn, actor="t", action="report.sent", details={"report_id": at.day, "destination": "x"}, at=at
            )
    seed_counters(db, [(date(2025, 6, 30), "image", 0, 4, 0), (date(2025, 7, 1), "image", 0, 8, 0)])
    june = _report(db, tmp_path, date(2025, 6, 1), date(2025, 6, 30))
    assert june["reports"]["sent"] == 1
    assert june["volume"]["scans"] == 4


def test_an_empty_period_gives_zeros_and_no_rates(db: Database, tmp_path: Path) -> None:
    empty = _report(db, tmp_path)
    assert empty["volume"]["scans"] == 0 and empty["volume"]["match_rate"] is None
    assert empty["error_rates"]["overall"]["error_rate"] is None
    assert empty["time_to_review"] == {"count": 0, "mean_seconds": None, "median_seconds": None}


def test_period_checks() -> None:
    with pytest.raises(ValidationError, match="before it starts"):
        Period(date(2025, 2, 1), date(2025, 1, 31))
    with pytest.raises(ValidationError, match="--from"):
        parse_day("31/01/2025", "--from")
    assert report_period(None, None, date(2025, 12, 31)) == Period(date(2025, 1, 1), date(2025, 12, 31))
    assert report_period(date(2025, 3, 1), None, date(2025, 4, 1)) == Period(date(2025, 3, 1), date(2025, 4, 1))
