"""NCMEC hash sharing (v2) source against its local fake: paging, resume, failures, malformed records, votes."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from brightline.errors import (
    ConfigurationError,
    FeedbackUnsupportedError,
    SourceAuthError,
    SourceError,
    ValidationError,
)
from brightline.sources.fakes.ncmec import FakeNcmecHashSharing
from brightline.sources.ncmec import NcmecSource
from brightline.sources.ncmec_parse import ENVIRONMENTS
from brightline.sources.types import Feedback, SourceBatch, SourceConfig

START = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2024, 6, 1, tzinfo=UTC)


def at(day: float) -> datetime:
    return START + timedelta(days=day)


def pdq(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def md5(seed: str) -> str:
    return hashlib.md5(seed.encode()).hexdigest()


def source(fake: FakeNcmecHashSharing, sleeps: list[float] | None = None, **options: str) -> NcmecSource:
    config = SourceConfig(
        name="ncmec-test",
        kind="ncmec",
        bank="ncmec",
        options={"start": "2024-01-01T00:00:00Z", "window_days": "30", "lag_seconds": "0", **options},
        credentials={"username": fake.username, "password": fake.password},
    )
    return NcmecSource.from_config(
        config,
        transport=httpx.MockTransport(fake.handle),
        sleep=(sleeps if sleeps is not None else []).append,
        clock=NOW.timestamp,
    )


def populated() -> FakeNcmecHashSharing:
    """Twelve entries over five months in pages of two, one deleted, one updated, one video."""
    fake = FakeNcmecHashSharing(page_size=2)
    for i in range(12):
        fake.add(
            f"e{i}", at=at(i * 12 + 1), fingerprints={"md5": md5(f"{i}"), "pdq": pdq(f"{i}")}, member_id="12"[i % 2]
        )
    fake.add("v1", kind="video", at=at(40), fingerprints={"md5": md5("video")}, classification="B1")
    fake.update("e3", at=at(100), classification="A2")
    fake.delete("e5", at=at(120))
    return fake


def everything(batches: Iterator[SourceBatch] | list[SourceBatch]) -> tuple[list[tuple[str, str, str]], list[str]]:
    upserts, removals = [], []
    for batch in batches:
        upserts += [(e.remote_id, e.signal_type, e.value) for e in batch.upserts]
        removals += list(batch.removals)
    return upserts, removals


def test_a_full_fetch_pages_through_every_window() -> None:
    fake = populated()
    batches = list(source(fake).fetch(None))
    upserts, removals = everything(batches)
    assert len(upserts) == 11 * 2 + 1  # md5 and pdq of e0..e11 but the deleted e5 (e3 once), and the video
    assert len(set(upserts)) == len(upserts)
    assert ("image:e3:pdq", "pdq", pdq("3")) in upserts
    assert ("video:v1:md5", "md5", md5("video")) in upserts
    assert removals == ["image:e5:md5", "image:e5:pdq"]  # every fingerprint type read
    assert len(batches) > 6  # several windows, several pages in some
    last = json.loads(batches[-1].checkpoint)
    assert last["done"] == int(NOW.timestamp()) and "cursor" not in last
    entry = next(e for b in batches for e in b.upserts if e.remote_id == "image:e3:md5")
    assert (entry.category, entry.classification, entry.tags) == ("A2", "A2", ("member:2",))
    assert entry.updated_at == at(100)
    video = next(e for b in batches for e in b.upserts if e.remote_id == "video:v1:md5")
    assert (video.category, video.bank) == ("B1", None)  # the engine's bank map routes by category


def test_nothing_new_after_a_complete_sync() -> None:
    fake = populated()
    ncmec = source(fake)
    last = list(ncmec.fetch(None))[-1].checkpoint
    assert everything(ncmec.fetch(last)) == ([], [])
    fake.add("late", at=NOW + timedelta(seconds=10), fingerprints={"md5": md5("late")})
    later = NcmecSource.from_config(
        SourceConfig("n", "ncmec", "b", {"start": "2024-01-01"}, {"username": "esp-user", "password": "esp-password"}),
        transport=httpx.MockTransport(fake.handle),
        sleep=lambda _s: None,
        clock=lambda: NOW.timestamp() + 3600,
    )
    assert everything(later.fetch(last)) == ([("image:late:md5", "md5", md5("late"))], [])


def test_resuming_after_a_kill_at_every_batch_loses_and_repeats_nothing() -> None:
    fake = populated()
    full = list(source(fake).fetch(None))
    for k in range(len(full)):
        run = source(fake).fetch(None)
        before = list(itertools.islice(run, k + 1))
        run.close()  # killed after committing batch k
        after = list(source(fake).fetch(before[-1].checkpoint))
        assert everything(before + after) == everything(full), f"kill after batch {k}"


def test_a_record_on_a_window_boundary_is_read_once() -> None:
    fake = FakeNcmecHashSharing(page_size=3)
    fake.add("edge", at=at(30), fingerprints={"md5": md5("edge")})  # the end of window 1, start of window 2
    upserts, _ = everything(source(fake).fetch(None))
    assert upserts == [("image:edge:md5", "md5", md5("edge"))]


def test_rate_limit_waits_as_long_as_retry_after_says() -> None:
    fake = populated()
    sleeps: list[float] = []
    fake.fail_next("entries", 429, retry_after=7)
    assert everything(source(fake, sleeps).fetch(None)) == everything(source(populated()).fetch(None))
    assert sleeps == [7.0]


def test_a_5xx_on_a_later_page_is_retried_with_backoff() -> None:
    fake = populated()
    sleeps: list[float] = []
    run = source(fake, sleeps).fetch(None)
    first = next(run)
    fake.fail_next("entries", 503, times=2)
    rest = list(run)
    assert everything([first, *rest]) == everything(source(populated()).fetch(None))
    assert sleeps == [1.0, 2.0]


def test_a_persisting_5xx_fails_the_sync_and_the_checkpoint_resumes_it() -> None:
    fake = populated()
    run = source(fake).fetch(None)
    done = [next(run), next(run)]
    fake.fail_next("entries", 500, times=5)
    with pytest.raises(SourceError, match="after 5 attempts"):
        next(run)
    rest = list(source(fake).fetch(done[-1].checkpoint))
    assert everything(done + rest) == everything(source(populated()).fetch(None))


def test_a_page_that_is_not_xml_fails_without_losing_it() -> None:
    fake = populated()
    run = source(fake).fetch(None)
    done = [next(run)]
    fake.malformed_next("entries")
    with pytest.raises(SourceError, match="not XML"):
        next(run)
    rest = list(source(fake).fetch(done[-1].checkpoint))
    assert everything(done + rest) == everything(source(populated()).fetch(None))


def test_an_expired_session_authenticates_again_once() -> None:
    fake = populated()
    run = source(fake).fetch(None)
    first = next(run)
    fake.expire_token()
    rest = list(run)
    assert everything([first, *rest]) == everything(source(populated()).fetch(None))
    refused = [r for r in fake.requests if r.url.path.endswith("entries")]
    assert len(refused) == len([first, *rest]) + 1  # the refused request was sent once more


def test_wrong_credentials_stop_the_sync_after_one_renewal() -> None:
    fake = populated()
    with pytest.raises(SourceAuthError):
        list(_with_password(fake, "wrong"))
    assert len(fake.requests) == 2


def _with_password(fake: FakeNcmecHashSharing, password: str) -> Iterator[SourceBatch]:
    config = SourceConfig("n", "ncmec", "b", {"start": "2024-01-01"}, {"username": fake.username, "password": password})
    ncmec = NcmecSource.from_config(
        config, transport=httpx.MockTransport(fake.handle), sleep=lambda _s: None, clock=NOW.timestamp
    )
    return ncmec.fetch(None)


def test_malformed_records_are_counted_without_hash_values() -> None:
    fake = FakeNcmecHashSharing(page_size=10)
    fake.add("good", at=at(1), fingerprints={"md5": md5("good"), "sha1": "a" * 40})
    fake.add("badhex", at=at(2), fingerprints={"pdq": "zz" + pdq("x")[2:]})
    fake.add("odd", at=at(3), fingerprints={"sha512": "ab" * 64})
    fake.add(None, at=at(4), fingerprints={"md5": md5("orphan")})
    fake.add("bare", at=at(5), fingerprints={})
    batches = list(source(fake).fetch(None))
    assert everything(batches)[0] == [("image:good:md5", "md5", md5("good"))]
    assert sum(b.malformed for b in batches) == 5
    problems = [p for b in batches for p in b.problems]
    assert sorted(problems) == [
        "image: bad pdq value",
        "image: missing id",
        "image: no fingerprints",
        "image: unsupported hash type sha1",
        "image: unsupported hash type sha512",
    ]
    assert not any("zz" in p or "ab" * 8 in p for p in problems)
    quiet = list(source(fake, skip_types="SHA1").fetch(None))
    assert sum(b.malformed for b in quiet) == 4


def test_deletions_of_ids_never_seen_are_passed_through() -> None:
    fake = FakeNcmecHashSharing()
    fake.delete("never-shared", at=at(2))
    fake.delete("old-video", at=at(3), kind="video")
    assert everything(source(fake).fetch(None)) == (
        [],
        [
            "image:never-shared:md5",
            "image:never-shared:pdq",
            "video:old-video:md5",
            "video:old-video:pdq",
        ],
    )


def test_member_filter_keeps_only_the_chosen_members_hashes() -> None:
    fake = populated()
    fake.delete("gone-from-member-1", at=at(5))
    upserts, removals = everything(source(fake, members="2").fetch(None))
    assert upserts and all(int(remote.split(":")[1][1:]) % 2 == 1 for remote, _, _ in upserts)
    assert "image:gone-from-member-1:pdq" in removals
    assert all(r.url.params.get_list("mid") == ["2"] for r in fake.requests if "start" not in r.url.params)


def feedback(opinion: Any, remote_id: str = "image:e1:pdq", signal_type: str = "pdq") -> Feedback:
    return Feedback(remote_id=remote_id, signal_type=signal_type, value=pdq("1"), opinion=opinion, note="private")


def test_votes_reach_ncmec() -> None:
    fake = populated()
    fake.reasons = (("md5-only", "Not CSAM (file hash)", "md5"), ("reason-not-csam", "Not CSAM", ""))
    ncmec = source(fake)
    ncmec.send_feedback(feedback("true_positive"))
    ncmec.send_feedback(feedback("false_positive", remote_id="image:e1:md5", signal_type="md5"))
    assert fake.feedback == [
        {"kind": "image", "id": "e1", "fingerprint": "pdq", "vote": "up", "reasons": []},
        {"kind": "image", "id": "e1", "fingerprint": "md5", "vote": "down", "reasons": ["md5-only"]},
    ]
    ncmec.send_feedback(feedback("false_positive"))
    assert fake.feedback[-1]["reasons"] == ["reason-not-csam"]  # the reason picked for md5 is not reused for pdq
    assert not any(b"private" in r.content for r in fake.requests)


def test_a_configured_downvote_reason_is_used_and_a_5xx_retried() -> None:
    fake = populated()
    sleeps: list[float] = []
    fake.fail_next("feedback", 502)
    source(fake, sleeps, downvote_reason="mine").send_feedback(feedback("false_positive"))
    assert fake.feedback[-1]["reasons"] == ["mine"] and sleeps == [1.0]
    assert not any(r.url.path.endswith("reasons") for r in fake.requests)


def test_feedback_that_ncmec_cannot_take_is_refused() -> None:
    fake = populated()
    with pytest.raises(FeedbackUnsupportedError):
        source(fake).send_feedback(feedback("disputed"))
    with pytest.raises(SourceError, match="404"):
        source(fake).send_feedback(feedback("true_positive", remote_id="image:unknown:pdq"))
    for bad in ("image:e1", "audio:e1:pdq", "image:e1:sha1", "image:../x:pdq"):
        with pytest.raises(ValidationError):
            source(fake).send_feedback(feedback("true_positive", remote_id=bad))
    assert fake.feedback == []


def test_describe_names_the_credentials_and_feedback() -> None:
    described = source(FakeNcmecHashSharing()).describe()
    assert described.kind == "ncmec" and described.credentials == ("username", "password")
    assert described.supports_feedback and set(described.signal_types) == {"md5", "pdq"}
    assert "members" in described.options


def test_configuration_picks_the_environment_and_refuses_bad_values() -> None:
    creds = {"username": "u", "password": "p"}
    test_env = NcmecSource.from_config(SourceConfig("n", "ncmec", "b", {"environment": "test"}, creds))
    assert test_env.base_url == ENVIRONMENTS["test"]
    assert NcmecSource.from_config(SourceConfig("n", "ncmec", "b", {}, creds)).base_url == ENVIRONMENTS["production"]
    for options in ({"environment": "staging"}, {"base_url": "http://plain.example/v2/"}, {"window_days": "0"}):
        with pytest.raises(ConfigurationError):
            NcmecSource.from_config(SourceConfig("n", "ncmec", "b", options, creds))
    with pytest.raises(ConfigurationError, match="credentials"):
        NcmecSource.from_config(SourceConfig("n", "ncmec", "b", {}, {"username": "u"}))
