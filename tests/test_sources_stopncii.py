"""StopNCII source against its local fake: paging, resume, failures, malformed records, withdrawals, feedback."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from brightline.errors import ConfigurationError, SourceAuthError, SourceError, ValidationError
from brightline.sources.fakes.stopncii import FakeStopNcii
from brightline.sources.stopncii import BASE_URL, StopNciiSource
from brightline.sources.types import Feedback, SourceBatch, SourceConfig

START = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2024, 4, 1, tzinfo=UTC)


def at(day: float) -> datetime:
    return START + timedelta(days=day)


def pdq(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def md5(seed: str) -> str:
    return hashlib.md5(seed.encode()).hexdigest()


def source(
    fake: FakeStopNcii, sleeps: list[float] | None = None, key: str | None = None, **options: str
) -> StopNciiSource:
    credentials = {"subscription_key": fake.subscription_key if key is None else key}
    if fake.function_key:
        credentials["function_key"] = fake.function_key
    config = SourceConfig(
        name="stopncii-test",
        kind="stopncii",
        bank="ncii",
        options={"start": "2024-01-01T00:00:00Z", "window_days": "30", "lag_seconds": "0", **options},
        credentials=credentials,
    )
    return StopNciiSource.from_config(
        config,
        transport=httpx.MockTransport(fake.handle),
        sleep=(sleeps if sleeps is not None else []).append,
        clock=NOW.timestamp,
    )


def populated() -> FakeStopNcii:
    """Ten hashes (PDQ and MD5) over three months in pages of three; one withdrawn, one re-submitted."""
    fake = FakeStopNcii(page_size=3)
    for i in range(10):
        if i % 3:
            fake.add("PDQ", pdq(f"{i}"), at=at(i * 8 + 1), tags=("ncii",))
        else:
            fake.add("MD5", md5(f"{i}"), at=at(i * 8 + 1))
    fake.withdraw("PDQ", pdq("2"), at=at(70))
    fake.add("PDQ", pdq("4"), at=at(75), tags=("ncii", "resubmitted"))
    return fake


def everything(batches: Iterable[SourceBatch]) -> tuple[list[tuple[str, str, str]], list[str]]:
    upserts, removals = [], []
    for batch in batches:
        upserts += [(e.remote_id, e.signal_type, e.value) for e in batch.upserts]
        removals += list(batch.removals)
    return upserts, removals


def test_a_full_fetch_pages_through_every_window() -> None:
    fake = populated()
    batches = list(source(fake).fetch(None))
    upserts, removals = everything(batches)
    assert len(upserts) == 9 and len(set(upserts)) == 9  # ten hashes, one withdrawn, the re-submitted one once
    assert (f"md5:{md5('0')}", "md5", md5("0")) in upserts
    assert removals == [f"pdq:{pdq('2')}"]
    assert any("cursor" in json.loads(b.checkpoint) for b in batches)  # some windows took several pages
    assert json.loads(batches[-1].checkpoint) == {"v": 1, "done": int(NOW.timestamp())}
    again = next(e for b in batches for e in b.upserts if e.value == pdq("4"))
    assert again.tags == ("ncii", "resubmitted") and again.added_at == at(33) and again.updated_at == at(75)
    assert again.category == "" and again.bank is None


def test_resuming_after_a_kill_at_every_batch_loses_and_repeats_nothing() -> None:
    fake = populated()
    full = list(source(fake).fetch(None))
    for k in range(len(full)):
        run = source(fake).fetch(None)
        before = list(itertools.islice(run, k + 1))
        run.close()  # killed after committing batch k
        after = list(source(fake).fetch(before[-1].checkpoint))
        assert everything(before + after) == everything(full), f"kill after batch {k}"


def test_changes_after_a_complete_sync_come_with_the_next() -> None:
    fake = populated()
    last = list(source(fake).fetch(None))[-1].checkpoint
    assert everything(source(fake).fetch(last)) == ([], [])
    fake.add("MD5", md5("new"), at=NOW + timedelta(seconds=5))
    fake.withdraw("MD5", md5("0"), at=NOW + timedelta(seconds=6))
    later = StopNciiSource.from_config(
        SourceConfig("s", "stopncii", "ncii", {}, {"subscription_key": fake.subscription_key}),
        transport=httpx.MockTransport(fake.handle),
        sleep=lambda _s: None,
        clock=lambda: NOW.timestamp() + 3600,
    )
    assert everything(later.fetch(last)) == ([(f"md5:{md5('new')}", "md5", md5("new"))], [f"md5:{md5('0')}"])


def test_a_record_on_a_window_boundary_is_read_once() -> None:
    fake = FakeStopNcii()
    fake.add("PDQ", pdq("edge"), at=at(30))
    assert everything(source(fake).fetch(None))[0] == [(f"pdq:{pdq('edge')}", "pdq", pdq("edge"))]


def test_rate_limit_waits_as_long_as_retry_after_says() -> None:
    fake = populated()
    sleeps: list[float] = []
    fake.fail_next("FetchHashes", 429, retry_after=12)
    assert everything(source(fake, sleeps).fetch(None)) == everything(source(populated()).fetch(None))
    assert sleeps == [12.0]


def test_a_too_long_retry_after_ends_the_sync_for_later() -> None:
    fake = populated()
    fake.fail_next("FetchHashes", 429, retry_after=3600)
    with pytest.raises(SourceError, match="rate limited"):
        list(source(fake).fetch(None))


def test_a_5xx_on_a_later_page_is_retried_with_backoff() -> None:
    fake = populated()
    sleeps: list[float] = []
    run = source(fake, sleeps).fetch(None)
    first = [next(run), next(run)]
    fake.fail_next("FetchHashes", 500, times=3)
    assert everything([*first, *run]) == everything(source(populated()).fetch(None))
    assert sleeps == [1.0, 2.0, 4.0]


def test_a_page_that_is_not_json_fails_without_losing_it() -> None:
    fake = populated()
    run = source(fake).fetch(None)
    done = [next(run)]
    fake.malformed_next("FetchHashes")
    with pytest.raises(SourceError, match="hashRecords"):
        next(run)
    rest = list(source(fake).fetch(done[-1].checkpoint))
    assert everything(done + rest) == everything(source(populated()).fetch(None))


def test_an_expired_authorisation_is_renewed_once() -> None:
    fake = populated()
    run = source(fake).fetch(None)
    first = next(run)
    fake.expire_token()
    rest = list(run)
    assert everything([first, *rest]) == everything(source(populated()).fetch(None))
    assert len(fake.requests) == 1 + len(rest) + 1


def test_a_wrong_key_stops_the_sync_after_one_renewal() -> None:
    fake = populated()
    with pytest.raises(SourceAuthError):
        list(source(fake, key="revoked").fetch(None))
    assert len(fake.requests) == 2


def test_the_function_key_is_sent_when_configured() -> None:
    fake = populated()
    fake.function_key = "fn-key"
    assert everything(source(fake).fetch(None)) == everything(source(populated()).fetch(None))
    assert all(r.headers["x-functions-key"] == "fn-key" for r in fake.requests)


def test_malformed_records_are_counted_without_hash_values() -> None:
    fake = FakeStopNcii(page_size=20)
    fake.add("PDQ", pdq("good"), at=at(1))
    fake.add("PDQ", "zz" + pdq("bad")[2:], at=at(2))
    fake.add("SHA1", "a" * 40, at=at(3))
    fake.add("MD5", None, at=at(4))
    fake.add("MD5", md5("odd"), at=at(5), hashStatus="Frozen")
    fake.add("MD5", md5("when"), at=at(6), lastModifiedTimestamp="yesterday")
    batches = list(source(fake).fetch(None))
    assert everything(batches) == ([(f"pdq:{pdq('good')}", "pdq", pdq("good"))], [])
    assert sum(b.malformed for b in batches) == 5
    problems = sorted(p for b in batches for p in b.problems)
    assert problems == [
        "bad pdq value",
        "missing hashValue",
        "unknown hashStatus frozen",
        "unreadable lastModifiedTimestamp",
        "unsupported signalType SHA1",
    ]


def test_withdrawals_of_hashes_never_seen_are_passed_through() -> None:
    fake = FakeStopNcii()
    fake.withdraw("MD5", md5("never-seen"), at=at(2))
    assert everything(source(fake).fetch(None)) == ([], [f"md5:{md5('never-seen')}"])


def feedback(opinion: Any, value: str | None = None) -> Feedback:
    value = pdq("1") if value is None else value
    return Feedback(remote_id=f"pdq:{value}", signal_type="pdq", value=value.upper(), opinion=opinion, note="private")


def test_feedback_reaches_stopncii_and_is_retried_on_5xx() -> None:
    fake = populated()
    sleeps: list[float] = []
    fake.fail_next("SubmitFeedback", 503, retry_after=2)
    stopncii = source(fake, sleeps)
    for opinion in ("false_positive", "true_positive", "disputed"):
        stopncii.send_feedback(feedback(opinion))
    assert fake.feedback == [
        {"signalType": "PDQ", "hashValue": pdq("1"), "feedbackValue": verdict}
        for verdict in ("FalsePositive", "Blocked", "UnderReview")
    ]
    assert sleeps == [2.0]
    assert not any(b"private" in r.content for r in fake.requests)


def test_feedback_on_an_unknown_hash_or_type_is_refused() -> None:
    fake = populated()
    with pytest.raises(SourceError, match="404"):
        source(fake).send_feedback(feedback("false_positive", value=pdq("unknown")))
    with pytest.raises(ValidationError):
        source(fake).send_feedback(
            Feedback(remote_id="x", signal_type="sha256", value=pdq("1"), opinion="false_positive")
        )
    assert fake.feedback == []


def test_describe_names_the_credentials_and_feedback() -> None:
    described = source(FakeStopNcii()).describe()
    assert described.kind == "stopncii" and described.credentials == ("subscription_key",)
    assert described.supports_feedback and described.signal_types == ("md5", "pdq")


def test_configuration_refuses_missing_keys_and_plain_http() -> None:
    default = StopNciiSource.from_config(SourceConfig("s", "stopncii", "b", {}, {"subscription_key": "k"}))
    assert default.base_url == BASE_URL
    with pytest.raises(ConfigurationError, match="subscription_key"):
        StopNciiSource.from_config(SourceConfig("s", "stopncii", "b", {}, {}))
    for options in ({"base_url": "http://plain.example/v1/"}, {"start": "soon"}, {"lag_seconds": "-1"}):
        with pytest.raises(ConfigurationError):
            StopNciiSource.from_config(SourceConfig("s", "stopncii", "b", options, {"subscription_key": "k"}))
