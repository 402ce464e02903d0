"""ThreatExchange source against the local fake Graph API: paging, resume, failures, feedback."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

import httpx
import pytest

from brightline.errors import ConfigurationError, SourceAuthError, SourceError
from brightline.sources.fakes.threatexchange import FakeThreatExchange
from brightline.sources.threatexchange import ThreatExchangeSource
from brightline.sources.types import Feedback, SourceBatch, SourceConfig

TOKEN = "1234|app-secret"


def pdq(n: int) -> str:
    return hashlib.sha256(f"pdq-{n}".encode()).hexdigest()


def md5(n: int) -> str:
    return hashlib.md5(f"md5-{n}".encode()).hexdigest()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_source(
    fake: FakeThreatExchange,
    groups: str = "111,222",
    *,
    sleep: Sleeps | None = None,
    handler: Any = None,
    **options: Any,
) -> ThreatExchangeSource:
    config = SourceConfig(
        name="te-partners",
        kind="threatexchange",
        bank="partners",
        options={"privacy_groups": groups, "page_size": 2, **options},
        credentials={"access_token": TOKEN},
        bank_map={"222": "partners-video"},
    )
    return ThreatExchangeSource.from_config(
        config,
        transport=httpx.MockTransport(handler or fake.handle),
        sleep=sleep if sleep is not None else Sleeps(),
        clock=lambda: fake.now,
    )


def populated() -> FakeThreatExchange:
    fake = FakeThreatExchange(TOKEN)
    fake.add_group("111", "partners")
    fake.add_group("222", "video partners")
    for n in range(5):
        fake.add_descriptor("111", pdq(n).upper(), tags=["csam", "a1"] if n % 2 else ["csam"])
    fake.add_descriptor("222", md5(0), indicator_type="HASH_VIDEO_MD5", tags=["video"])
    fake.add_descriptor("222", md5(1), indicator_type="HASH_MD5")
    fake.add_descriptor("222", md5(2), indicator_type="MD5")
    return fake


def flatten(batches: Iterable[SourceBatch]) -> tuple[list[tuple[str, str, str | None]], list[str]]:
    upserts: list[tuple[str, str, str | None]] = []
    removals: list[str] = []
    for batch in batches:
        upserts += [(e.remote_id, e.value, e.bank) for e in batch.upserts]
        removals += list(batch.removals)
    return upserts, removals


def test_full_fetch_pages_through_every_group() -> None:
    fake = populated()
    batches = list(make_source(fake).fetch(None))
    entries = [entry for batch in batches for entry in batch.upserts]
    assert len(batches) == 5  # 111: 2+2+1, 222: 2+1
    assert [e.value for e in entries[:5]] == [pdq(n) for n in range(5)]  # canonical lower-case hex
    assert {e.signal_type for e in entries} == {"pdq", "md5"}
    assert [e.bank for e in entries] == [None] * 5 + ["partners-video"] * 3
    assert entries[1].tags == ("csam", "a1") and entries[5].tags == ("video",)
    assert entries[0].classification == "HASH_PDQ" and entries[0].updated_at is not None
    assert len({e.remote_id for e in entries}) == 8
    assert all(batch.malformed == 0 for batch in batches)


def test_checkpoint_never_holds_the_access_token() -> None:
    fake = populated()
    checkpoints = [batch.checkpoint for batch in make_source(fake).fetch(None)]
    assert all(TOKEN not in checkpoint and "secret" not in checkpoint for checkpoint in checkpoints)
    assert json.loads(checkpoints[0])["groups"]["111"]["after"]


def test_resume_from_every_checkpoint_equals_an_uninterrupted_run() -> None:
    fake = populated()
    whole = list(make_source(fake).fetch(None))
    expected = flatten(whole)
    for stop in range(len(whole)):
        fetch = make_source(fake).fetch(None)
        head = [next(fetch) for _ in range(stop + 1)]
        fetch.close()  # the process is killed after committing batch ``stop``
        tail = list(make_source(fake).fetch(head[-1].checkpoint))
        assert flatten(head + tail) == expected, f"killed after batch {stop}"


def test_changes_made_during_a_cut_off_sync_arrive_in_the_next_one() -> None:
    fake = populated()
    fetch = make_source(fake).fetch(None)
    first = next(fetch)
    fetch.close()
    late = fake.add_descriptor("111", pdq(99))
    resumed = list(make_source(fake).fetch(first.checkpoint))
    assert late.id not in {e.remote_id for b in resumed for e in b.upserts}  # outside the open window
    following = list(make_source(fake).fetch(resumed[-1].checkpoint))
    assert flatten(following) == ([(late.id, pdq(99), None)], [])


def test_incremental_sync_returns_only_changes() -> None:
    fake = populated()
    done = list(make_source(fake).fetch(None))[-1].checkpoint
    first, second = sorted(d.id for d in fake.descriptors.values() if d.privacy_group == "111")[:2]
    fake.set_tags(first, ["csam", "b1"])
    fake.expire(second)
    batches = list(make_source(fake).fetch(done))
    entries = [e for b in batches for e in b.upserts]
    assert [(e.remote_id, e.tags) for e in entries] == [(first, ("csam", "b1"))]
    assert [r for b in batches for r in b.removals] == [second]
    assert flatten(make_source(fake).fetch(batches[-1].checkpoint)) == ([], [])


def test_deletions_of_ids_never_seen_are_passed_as_removals() -> None:
    fake = populated()
    fake.add_raw("111", {"id": "424242", "should_delete": True, "type": "HASH_TMK", "last_updated": fake.now})
    deleted = fake.add_descriptor("222", md5(7))
    fake.delete(deleted.id)
    _, removals = flatten(make_source(fake).fetch(None))
    assert removals == ["424242", deleted.id]


def test_malformed_records_are_counted_without_hash_values() -> None:
    fake = populated()
    fake.add_raw("111", {"indicator": pdq(50), "type": "HASH_PDQ"})  # no id
    fake.add_raw("111", {"id": "7001", "indicator": "zz" + pdq(51)[2:], "type": "HASH_PDQ"})
    fake.add_raw("111", {"id": "7002", "indicator": pdq(52)[:10], "type": "HASH_MD5"})
    fake.add_raw("111", {"id": "7003", "indicator": "tmk-bytes", "type": "HASH_TMK"})
    fake.add_raw("111", ["not", "an", "object"])
    batches = list(make_source(fake).fetch(None))
    problems = [p for b in batches for p in b.problems]
    assert sum(b.malformed for b in batches) == 5 == len(problems)
    assert any("unsupported type HASH_TMK" in p for p in problems)
    assert any("7001" in p and "invalid pdq" in p for p in problems)
    assert not any(pdq(51)[2:12] in p or pdq(52)[:10] in p for p in problems)
    assert len(flatten(batches)[0]) == 8  # the good records all arrived


def test_rate_limit_waits_for_retry_after() -> None:
    fake, sleeps = populated(), Sleeps()
    fake.fail_next("/111/threat_updates", 429, retry_after=7)
    batches = list(make_source(fake, sleep=sleeps).fetch(None))
    assert sleeps == [7.0]
    assert flatten(batches) == flatten(make_source(fake).fetch(None))


def test_rate_limit_error_code_without_header_backs_off() -> None:
    fake, sleeps = populated(), Sleeps()
    fake.fail_next("threat_updates", 400, error_code=4, times=3)  # "Application request limit reached"
    assert len(flatten(make_source(fake, sleep=sleeps).fetch(None))[0]) == 8
    assert sleeps == [1.0, 2.0, 4.0]


def test_a_retry_after_longer_than_max_wait_ends_the_sync() -> None:
    fake, sleeps = populated(), Sleeps()
    fake.fail_next("threat_updates", 429, retry_after=3600)
    with pytest.raises(SourceError, match="rate limited"):
        list(make_source(fake, sleep=sleeps).fetch(None))
    assert sleeps == []


def test_server_error_on_a_middle_page_is_retried() -> None:
    fake, sleeps = populated(), Sleeps()
    expected = flatten(make_source(fake).fetch(None))
    fetch = make_source(fake, sleep=sleeps).fetch(None)
    first = next(fetch)
    fake.fail_next("threat_updates", 503, times=2)
    assert flatten([first, *fetch]) == expected
    assert sleeps == [1.0, 2.0]


def test_an_unreadable_page_is_retried() -> None:
    fake, sleeps = populated(), Sleeps()
    fake.fail_next("threat_updates", 200, body='{"data": [')
    assert len(flatten(make_source(fake, sleep=sleeps).fetch(None))[0]) == 8
    assert sleeps == [1.0]


def test_persistent_server_errors_raise_and_the_last_checkpoint_still_resumes() -> None:
    fake = populated()
    expected = flatten(make_source(fake).fetch(None))
    fetch = make_source(fake, max_retries=2).fetch(None)
    first = next(fetch)
    fake.fail_next("threat_updates", 500, times=3)
    with pytest.raises(SourceError, match="giving up after 3 tries"):
        next(fetch)
    assert flatten([first, *make_source(fake).fetch(first.checkpoint)]) == expected


def test_network_errors_are_retried_and_never_show_the_token() -> None:
    fake, sleeps, calls = populated(), Sleeps(), []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) <= 3:
            raise httpx.ConnectError(f"cannot reach {request.url}")
        return fake.handle(request)

    with pytest.raises(SourceError) as raised:
        list(make_source(fake, sleep=sleeps, handler=flaky, max_retries=2).fetch(None))
    assert TOKEN not in str(raised.value) and "ConnectError" in str(raised.value)
    calls.clear()
    assert len(flatten(make_source(fake, sleep=sleeps, handler=flaky).fetch(None))[0]) == 8


def test_expired_token_raises_source_auth_error_without_retrying() -> None:
    fake, sleeps = populated(), Sleeps()
    fetch = make_source(fake, sleep=sleeps).fetch(None)
    next(fetch)
    fake.expire_token()
    with pytest.raises(SourceAuthError, match="cannot be refreshed"):
        next(fetch)
    assert sleeps == []


@pytest.mark.parametrize(("status", "code"), [(401, None), (403, 10)])
def test_unauthorised_and_forbidden_raise_source_auth_error(status: int, code: int | None) -> None:
    fake = populated()
    fake.fail_next("threat_updates", status, error_code=code)
    with pytest.raises(SourceAuthError):
        list(make_source(fake).fetch(None))


def test_unknown_privacy_group_fails_without_retrying() -> None:
    fake, sleeps = populated(), Sleeps()
    with pytest.raises(SourceError, match="does not exist"):
        list(make_source(fake, "333", sleep=sleeps).fetch(None))
    assert sleeps == []


@pytest.mark.parametrize(
    ("opinion", "reaction"),
    [("false_positive", "DISAGREE_WITH_TAGS"), ("true_positive", "SAW_THIS_TOO"), ("disputed", "WANT_MORE_INFO")],
)
def test_feedback_posts_the_mapped_reaction(opinion: Any, reaction: str) -> None:
    fake = populated()
    descriptor = next(iter(fake.descriptors.values()))
    make_source(fake).send_feedback(Feedback(descriptor.id, "pdq", descriptor.value.lower(), opinion))
    assert fake.reactions == [(descriptor.id, reaction)]


def test_feedback_is_retried_after_a_server_error() -> None:
    fake, sleeps = populated(), Sleeps()
    descriptor = next(iter(fake.descriptors.values()))
    fake.fail_next("/reactions", 502)
    make_source(fake, sleep=sleeps).send_feedback(Feedback(descriptor.id, "pdq", "", "false_positive"))
    assert fake.reactions == [(descriptor.id, "DISAGREE_WITH_TAGS")] and sleeps == [1.0]


def test_feedback_on_an_unknown_descriptor_or_with_an_expired_token_fails() -> None:
    fake = populated()
    with pytest.raises(SourceError, match="does not exist"):
        make_source(fake).send_feedback(Feedback("555", "pdq", "", "false_positive"))
    fake.expire_token()
    with pytest.raises(SourceAuthError):
        make_source(fake).send_feedback(Feedback(next(iter(fake.descriptors)), "pdq", "", "false_positive"))
    assert fake.reactions == []


def test_describe() -> None:
    description = make_source(populated()).describe()
    assert description.kind == "threatexchange" and description.supports_feedback
    assert description.credentials == ("access_token",)
    assert set(description.signal_types) == {"pdq", "md5", "sha256"}
    assert "privacy_groups" in description.options


def test_requests_carry_version_window_and_token() -> None:
    fake = populated()
    list(make_source(fake, "111", api_version="v19.0").fetch(None))
    method, path, params = fake.requests[0]
    assert (method, path) == ("GET", "/v19.0/111/threat_updates")
    assert "start_time" not in params and params["stop_time"] == str(fake.now)
    assert "access_token" not in params  # the fake strips it after checking it was sent


@pytest.mark.parametrize(
    ("options", "credentials", "message"),
    [
        ({"privacy_groups": "111"}, {}, "access_token"),
        ({}, {"access_token": TOKEN}, "privacy_groups is required"),
        ({"privacy_groups": "111,../me"}, {"access_token": TOKEN}, "numeric"),
        ({"privacy_groups": "111", "api_version": "latest"}, {"access_token": TOKEN}, "api_version"),
        ({"privacy_groups": "111", "base_url": "http://graph.local"}, {"access_token": TOKEN}, "https"),
        ({"privacy_groups": "111", "page_size": "lots"}, {"access_token": TOKEN}, "page_size"),
    ],
)
def test_bad_configuration_is_refused(options: dict[str, str], credentials: dict[str, str], message: str) -> None:
    config = SourceConfig("te", "threatexchange", "partners", options=options, credentials=credentials)
    with pytest.raises(ConfigurationError, match=message):
        ThreatExchangeSource.from_config(config)


def test_unreadable_checkpoint_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="checkpoint"):
        next(make_source(populated()).fetch("not json"))
