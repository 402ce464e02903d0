"""The `serve --workers N` supervisor: sockets in one SO_REUSEPORT group, replacing dead workers, giving up."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from brightline.cli import app, workers
from brightline.cli.workers import STARTUP_FAILURE, Supervisor, listening_sockets, reuse_port_supported

pytestmark = pytest.mark.skipif(not reuse_port_supported(), reason="no SO_REUSEPORT here")


class FakeProcess:
    def __init__(self, pid: int, exitcode: int | None = None) -> None:
        self.pid = pid
        self.exitcode = exitcode

    def is_alive(self) -> bool:
        return self.exitcode is None


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    made: list[socket.socket] = []
    yield made
    for sock in made:
        sock.close()


def _supervisor(
    monkeypatch: pytest.MonkeyPatch, sockets: list[socket.socket], count: int = 2
) -> tuple[Supervisor, list[FakeProcess]]:
    started: list[FakeProcess] = []
    sockets.extend(socket.socket() for _ in range(count))
    supervisor = Supervisor(sockets=sockets, options={})

    def start(self: Supervisor, slot: int) -> FakeProcess:
        process = FakeProcess(pid=100 + len(started))
        started.append(process)
        self._started[slot] = clock[0]
        return process

    clock = [1000.0]
    monkeypatch.setattr(Supervisor, "_start", start)
    monkeypatch.setattr(workers.time, "monotonic", lambda: clock[0])
    supervisor.processes = [supervisor._start(slot) for slot in range(count)]  # type: ignore[misc]
    supervisor.clock = clock  # type: ignore[attr-defined]
    return supervisor, started


def test_sockets_share_one_port_and_port_zero_picks_one_for_all() -> None:
    sockets = listening_sockets("127.0.0.1", 0, 3)
    try:
        ports = {s.getsockname()[1] for s in sockets}
        assert len(ports) == 1 and ports.pop() != 0
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for s in sockets)
    finally:
        for s in sockets:
            s.close()


def test_a_port_held_by_someone_else_is_refused() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(OSError, match="in use"):
            listening_sockets("127.0.0.1", port, 2)  # no SO_REUSEPORT on theirs: never share it


def test_a_dead_worker_is_replaced(monkeypatch: pytest.MonkeyPatch, sockets: list[socket.socket]) -> None:
    supervisor, started = _supervisor(monkeypatch, sockets)
    supervisor.clock[0] += 60  # type: ignore[attr-defined]
    started[0].exitcode = -9
    assert supervisor._replace_dead() == 0
    assert [p.pid for p in supervisor.processes if p is not None] == [102, 101]


def test_a_startup_failure_stops_everything(monkeypatch: pytest.MonkeyPatch, sockets: list[socket.socket]) -> None:
    supervisor, started = _supervisor(monkeypatch, sockets)
    started[1].exitcode = STARTUP_FAILURE
    assert supervisor._replace_dead() == STARTUP_FAILURE
    assert len(started) == 2  # not restarted: it would only fail again


def test_workers_that_keep_dying_at_once_make_it_give_up(
    monkeypatch: pytest.MonkeyPatch, sockets: list[socket.socket]
) -> None:
    supervisor, _ = _supervisor(monkeypatch, sockets, count=1)
    statuses: list[Any] = []
    for _ in range(workers.MAX_QUICK_CRASHES):
        supervisor.processes[0].exitcode = 1  # type: ignore[union-attr]
        statuses.append(supervisor._replace_dead())
    assert statuses[:-1] == [0] * (workers.MAX_QUICK_CRASHES - 1) and statuses[-1] == 1


def test_serve_gives_each_of_n_workers_a_share_of_the_cores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_serve_workers(host: str, port: int, count: int, options: dict[str, Any]) -> int:
        seen.update(host=host, port=port, count=count, threads=os.environ.get("BRIGHTLINE_HASHING_THREADS"))
        return 0

    monkeypatch.setattr("brightline.cli.serve.serve_workers", fake_serve_workers)
    monkeypatch.setattr("brightline.cli.serve.os.cpu_count", lambda: 8)
    # "0" (automatic) through monkeypatch, so the value serve writes is undone after the test.
    monkeypatch.setenv("BRIGHTLINE_HASHING_THREADS", "0")
    monkeypatch.setenv("BRIGHTLINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BRIGHTLINE_DATABASE_URL", "")
    result = CliRunner().invoke(app, ["serve", "--workers", "4", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert seen == {"host": "127.0.0.1", "port": 0, "count": 4, "threads": "2"}


def test_serve_keeps_a_hashing_thread_count_that_was_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []
    monkeypatch.setattr(
        "brightline.cli.serve.serve_workers",
        lambda *_args: seen.append(os.environ.get("BRIGHTLINE_HASHING_THREADS")) or 0,
    )
    monkeypatch.setenv("BRIGHTLINE_HASHING_THREADS", "5")
    monkeypatch.setenv("BRIGHTLINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BRIGHTLINE_DATABASE_URL", "")
    result = CliRunner().invoke(app, ["serve", "--workers", "2", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert seen == ["5"]
