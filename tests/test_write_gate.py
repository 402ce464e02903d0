"""The SQLite write gate: writers on one file queue on a file lock before BEGIN IMMEDIATE."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from brightline.store import Database
from brightline.store.write_gate import SUFFIX, WriteGate

pytestmark = pytest.mark.skipif(not WriteGate.supported(), reason="no flock on this platform")


def test_the_gate_excludes_other_threads_and_lets_them_in_after(tmp_path: Path) -> None:
    gate = WriteGate(tmp_path / "db.sqlite", timeout_s=10)
    order: list[str] = []
    inside = threading.Event()

    def second() -> None:
        inside.wait()
        with gate.hold() as taken:
            order.append(f"second {taken}")

    thread = threading.Thread(target=second)
    thread.start()
    with gate.hold() as taken:
        order.append(f"first {taken}")
        inside.set()
        time.sleep(0.2)  # the other thread is waiting now
        order.append("first done")
    thread.join(10)
    assert order == ["first True", "first done", "second True"]
    assert (tmp_path / f"db.sqlite{SUFFIX}").exists()


def test_the_gate_is_reentrant_within_a_thread(tmp_path: Path) -> None:
    gate = WriteGate(tmp_path / "db.sqlite", timeout_s=0.2)
    with gate.hold() as outer, gate.hold() as inner:
        assert outer and inner  # a nested write session does not wait for itself


def test_a_gate_held_too_long_is_passed_by_after_the_timeout(tmp_path: Path) -> None:
    gate = WriteGate(tmp_path / "db.sqlite", timeout_s=0.1)
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with gate.hold():
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    started = time.monotonic()
    with gate.hold() as taken:
        assert taken is False  # went on without it: SQLite's own locking decides
    assert 0.1 <= time.monotonic() - started < 5
    release.set()
    thread.join(10)


def test_the_gate_excludes_another_process(tmp_path: Path) -> None:
    gate = WriteGate(tmp_path / "db.sqlite", timeout_s=0.1)
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from brightline.store.write_gate import WriteGate\n"
        "gate = WriteGate(Path(sys.argv[1]), timeout_s=5)\n"
        "with gate.hold():\n"
        "    print('held', flush=True)\n"
        "    time.sleep(1.0)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "db.sqlite")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with gate.hold() as taken:
            assert taken is False  # the other process holds it for longer than our timeout
    finally:
        child.wait(10)
        assert child.stdout is not None
        child.stdout.close()
    with gate.hold() as taken:
        assert taken is True  # released when the process let go


def test_database_write_sessions_go_through_the_gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(f"sqlite:///{tmp_path / 'gate.db'}")
    db.ensure_schema()
    holds: list[str] = []
    original = WriteGate.hold

    def counting(self: WriteGate) -> object:
        holds.append(self.path.name)
        return original(self)

    monkeypatch.setattr(WriteGate, "hold", counting)
    with db.session() as session:
        session.execute(sa.text("SELECT 1"))
    assert holds == []  # reads never queue
    with db.session(write=True) as session:
        session.execute(sa.text("SELECT 1"))
    with db.write_connection() as conn:
        conn.execute(sa.text("SELECT 1"))
    assert holds == [f"gate.db{SUFFIX}", f"gate.db{SUFFIX}"]
    db.dispose()


def test_in_memory_databases_have_no_gate() -> None:
    db = Database("sqlite://")
    with db.session(write=True) as session:
        assert session.execute(sa.text("SELECT 1")).scalar() == 1
    assert db._gate is None
    db.dispose()


def test_concurrent_writers_on_one_file_all_commit(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'many.db'}")
    with db.write_connection() as conn:
        conn.execute(sa.text("CREATE TABLE t (n INTEGER)"))
    errors: list[BaseException] = []

    def write(base: int) -> None:
        try:
            for n in range(50):
                with db.session(write=True) as session:
                    session.execute(sa.text("INSERT INTO t VALUES (:n)"), {"n": base + n})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k * 1000,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with db.session() as session:
        assert session.execute(sa.text("SELECT count(*) FROM t")).scalar() == 300
    db.dispose()
