"""Backlog scans on Ray: the local engine's results, through actor restarts, resumed runs and two nodes.

Each test runs under a hard watchdog (faulthandler exits the run with every thread's stack), since
a Ray job that cannot schedule waits for ever without an error. ``pytest -m ray`` runs these alone.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brightline.banks import BankService, EntryInput
from brightline.cli.app import app
from brightline.matching import Matcher
from brightline.records import RecordService
from brightline.scaleout import Partition, ScanJob, run
from brightline.scaleout.local import local_engine
from brightline.scaleout.rows import Row
from brightline.scaleout.runner import Engine
from brightline.scaleout.sink import ParquetOutput, Recorder
from brightline.signals.hashing import HashOptions, hash_file
from brightline.store.db import Database

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

WATCHDOG_S = 300  # per test: far above a normal run, far below CI's budget
PHOTOS = 240
PARTITION = 20


@dataclass
class Backlog:
    """A bank of known photos in a SQLite database, and the files of the backlog."""

    url: str
    index_dir: Path
    files: list[str]
    known: int


@pytest.fixture(autouse=True)
def watchdog() -> Iterator[None]:
    faulthandler.dump_traceback_later(WATCHDOG_S, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module")
def ray_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # A private instance: no token auth, logs under a short temporary folder (unix socket paths are short).
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_AUTH_MODE", "disabled")
        mp.setenv("RAY_TMPDIR", str(tmp_path_factory.mktemp("ray", numbered=True)))
        mp.delenv("RAY_ADDRESS", raising=False)
        yield


@pytest.fixture(scope="module")
def local_ray(ray_env: None) -> Iterator[None]:
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=150 * 1024**2)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def backlog(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Backlog:
    folder = tmp_path_factory.mktemp("backlog")
    photos = sorted((shared_dir / "corpus" / "clothing").rglob("*.jpg"))[:PHOTOS]
    broken = folder / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not a jpeg")
    url = f"sqlite:///{folder / 'bl.db'}"
    db = Database(url)
    db.upgrade()
    banks = BankService(db)
    banks.create_bank("known")
    known = photos[::12]
    entries = []
    for photo in known:
        hashes = hash_file(photo)
        entries += [EntryInput("pdq", hashes.pdq), EntryInput("md5", hashes.md5)]
    banks.add_entries("known", entries)
    db.dispose()
    return Backlog(url, folder / "index", [*map(str, photos), str(broken)], len(known))


def _matcher(backlog: Backlog) -> tuple[Matcher, Database]:
    db = Database(backlog.url)
    matcher = Matcher(BankService(db), index_dir=backlog.index_dir)
    matcher.refresh()
    return matcher, db


def _ray_engine(backlog: Backlog, matcher: Matcher, actors: int = 1) -> Engine:
    from brightline.scaleout.ray_engine import RayOptions, ray_engine

    return ray_engine(
        matcher,
        database_url=backlog.url,
        index_dir=backlog.index_dir,
        options=HashOptions(),
        banks=None,
        # Small batches: many tasks, so a run is still going when the actor-kill test strikes.
        ray_options=RayOptions(actors=actors, hash_batch=16, match_batch=16),
    )


def _rows(output: Path) -> list[Row]:
    out = ParquetOutput(str(output))
    rows = [row for name in sorted(out.done()) for row in out.read(_named(name))]
    return sorted(rows, key=lambda r: r["file"])


def _named(name: str) -> Partition:
    index, digest = name.removesuffix(".parquet").split("-")[1:]
    return Partition(int(index), digest, ())


@pytest.fixture(scope="module")
def local_rows(backlog: Backlog, tmp_path_factory: pytest.TempPathFactory) -> list[Row]:
    """The local engine's rows: what every Ray run must reproduce."""
    output = tmp_path_factory.mktemp("local-out")
    matcher, db = _matcher(backlog)
    job = ScanJob(tuple(backlog.files), HashOptions(), partition_size=PARTITION, output=str(output))
    summary = run(job, local_engine(matcher, HashOptions(), None, 2))
    db.dispose()
    assert summary.files == PHOTOS + 1 and summary.errors == 1
    assert summary.matched == backlog.known
    return _rows(output)


def _scan_records(url: str) -> int:
    db = Database(url)
    try:
        return len(RecordService(db).list_matches(limit=1000)[0])
    finally:
        db.dispose()


def test_ray_gives_the_local_engines_results_and_records_each_match_once(
    local_ray: None, backlog: Backlog, local_rows: list[Row], tmp_path: Path
) -> None:
    matcher, db = _matcher(backlog)
    job = ScanJob(tuple(backlog.files), HashOptions(), partition_size=PARTITION, output=str(tmp_path / "out"))
    summary = run(job, _ray_engine(backlog, matcher), recorder=Recorder(RecordService(db)))
    assert _rows(tmp_path / "out") == local_rows
    assert summary.records.new == backlog.known  # one scan record per matched file
    events = _scan_records(backlog.url)
    # Scanning files again (a new output, so nothing is skipped) replays their records instead of adding any.
    again = ScanJob(job.inputs[:40], job.options, partition_size=PARTITION, output=str(tmp_path / "out2"))
    rerun = run(again, _ray_engine(backlog, matcher), recorder=Recorder(RecordService(db)))
    db.dispose()
    assert (rerun.records.new, rerun.records.replayed) == (0, 4)  # photos 0, 12, 24 and 36 are known
    assert _scan_records(backlog.url) == events


def _matcher_actor_pids() -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"MatchActor" in cmdline and int(proc.name) != os.getpid():
            pids.append(int(proc.name))
    return pids


def test_a_matcher_actor_killed_mid_run_loses_and_repeats_nothing(
    local_ray: None, backlog: Backlog, local_rows: list[Row], tmp_path: Path
) -> None:
    matcher, db = _matcher(backlog)
    killed: list[int] = []
    seen: list[str] = []

    def kill_one(part: Partition, rows: Sequence[Row]) -> None:
        if not killed:
            pids = _matcher_actor_pids()
            assert pids, "no matcher actor process found"
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    job = ScanJob(tuple(backlog.files), HashOptions(), partition_size=PARTITION, output=str(tmp_path / "out"))
    summary = run(
        job,
        _ray_engine(backlog, matcher, actors=2),
        recorder=Recorder(RecordService(db)),
        on_row=lambda row: seen.append(row["file"]),
        on_partition=kill_one,
    )
    db.dispose()
    assert killed and summary.files == len(backlog.files)
    assert sorted(seen) == sorted(set(seen)) == sorted(backlog.files)  # each file once
    assert _rows(tmp_path / "out") == local_rows


class DriverCrashError(Exception):
    """Stands in for a crash of the driver."""


def test_a_rerun_after_a_crash_skips_finished_partitions(
    local_ray: None, backlog: Backlog, local_rows: list[Row], tmp_path: Path
) -> None:
    matcher, db = _matcher(backlog)
    files = backlog.files[:80]
    job = ScanJob(tuple(files), HashOptions(), partition_size=PARTITION, output=str(tmp_path / "out"))
    finished: list[int] = []

    def crash_after_two(part: Partition, rows: Sequence[Row]) -> None:
        finished.append(part.index)
        if len(finished) == 2:
            raise DriverCrashError

    with pytest.raises(DriverCrashError):
        run(job, _ray_engine(backlog, matcher), on_partition=crash_after_two)
    assert len(ParquetOutput(job.output or "").done()) == 2
    engine = _ray_engine(backlog, matcher)
    given: list[int] = []

    def counting(partitions: Sequence[Partition]) -> Iterator[Row]:
        given.extend(p.index for p in partitions)
        yield from engine(partitions)

    summary = run(job, counting)
    db.dispose()
    assert sorted(given) == sorted(set(range(4)) - set(finished))
    assert (summary.skipped_partitions, summary.skipped_files, summary.files) == (2, 40, 40)
    assert _rows(tmp_path / "out") == [r for r in local_rows if r["file"] in set(files)]


def test_cli_scan_engine_ray(local_ray: None, backlog: Backlog, local_rows: list[Row], tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"BRIGHTLINE_DATA_DIR": str(data), "BRIGHTLINE_DATABASE_URL": backlog.url}
    files = backlog.files[:24]
    args = ["scan", *files, "--engine", "ray", "--output", str(tmp_path / "out"), "--record", "--json"]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 1, result.output  # something matched
    printed = sorted((json.loads(line) for line in result.stdout.splitlines()), key=lambda r: str(r["file"]))
    expected = [r for r in local_rows if r["file"] in set(files)]
    assert [p["file"] for p in printed] == [r["file"] for r in expected]
    assert [p["matches"] for p in printed] == [json.loads(r["matches"]) for r in expected]
    unpartitioned = [{k: v for k, v in r.items() if k != "partition"} for r in expected]
    assert [{k: v for k, v in r.items() if k != "partition"} for r in _rows(tmp_path / "out")] == unpartitioned


@pytest.fixture
def two_nodes(ray_env: None) -> Iterator[None]:
    from ray.cluster_utils import Cluster

    ray.shutdown()  # the module's single-node instance, if it is up
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False, "object_store_memory": 100 * 1024**2},
    )
    try:
        cluster.add_node(num_cpus=1, object_store_memory=100 * 1024**2)
        ray.init(address=cluster.address)
        cluster.wait_for_nodes()
        yield
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_two_simulated_nodes_give_the_same_results(
    two_nodes: None, backlog: Backlog, local_rows: list[Row], tmp_path: Path
) -> None:
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    matcher, db = _matcher(backlog)
    files = backlog.files[:100]
    job = ScanJob(tuple(files), HashOptions(), partition_size=PARTITION, output=str(tmp_path / "out"))
    summary = run(job, _ray_engine(backlog, matcher, actors=2))
    db.dispose()
    assert summary.files == 100
    assert _rows(tmp_path / "out") == [r for r in local_rows if r["file"] in set(files)]
