"""A file lock that queues this machine's writers to one SQLite file before they BEGIN IMMEDIATE.

SQLite makes a writer that finds the file locked sleep in steps of up to 100 ms before it
looks again, so under concurrent writes (several service workers recording matches) a write
that lost the race waits far longer than the write it waited for. Taking an advisory file
lock first turns that into a short wait: the lock is polled at sub-millisecond steps. It is
only an optimisation: if the lock cannot be had (no lock support, a read-only folder, or
``timeout_s`` passed) the writer goes on and SQLite's own locking decides, as before.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

SUFFIX = "-writer"
_FIRST_POLL_S = 0.0001
_MAX_POLL_S = 0.001


class WriteGate:
    """Per-file writer lock, re-entrant within a thread (a nested write session does not wait on itself)."""

    def __init__(self, database_file: Path, *, timeout_s: float) -> None:
        self.path = database_file.with_name(database_file.name + SUFFIX)
        self.timeout_s = timeout_s
        self._local = threading.local()

    @staticmethod
    def supported() -> bool:
        """Whether this platform has flock (not Windows)."""
        return fcntl is not None

    @contextmanager
    def hold(self) -> Iterator[bool]:
        """Hold the lock for the block; yields whether it was taken (False: SQLite's locking alone)."""
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield True
            finally:
                self._local.depth = depth
            return
        fd = self._acquire()
        self._local.depth = 1
        try:
            yield fd >= 0
        finally:
            self._local.depth = 0
            if fd >= 0:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def _acquire(self) -> int:
        """An open descriptor holding the lock, or -1 when it could not be had in time."""
        if fcntl is None:
            return -1
        try:
            # A descriptor per holder: flock locks belong to the open file, so threads exclude each other too.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return -1
        deadline = time.monotonic() + self.timeout_s
        pause = _FIRST_POLL_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return -1
                time.sleep(pause)
                pause = min(pause * 2, _MAX_POLL_S)
            except OSError:  # a file system without locks
                os.close(fd)
                return -1
