"""`brightline serve --workers N`: N uvicorn processes, each accepting on its own SO_REUSEPORT socket.

uvicorn's own multi-worker mode shares one listening socket, and the worker that wakes first
accepts every connection waiting: a client that opens its pool at once (a load balancer, a
platform's upload pipeline) lands all of it on one process while the others idle. With one
socket per worker in a SO_REUSEPORT group the kernel spreads new connections across them.
The parent holds the sockets, so a worker that dies is replaced on the same socket and the
connections queued for it are not lost.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

APP_FACTORY = "brightline.service.app:create_served_app"
BACKLOG = 2048
# uvicorn's exit status when the app failed to start: restarting would only fail again.
STARTUP_FAILURE = 3
# A worker that dies sooner than this after starting counts towards giving up.
CRASH_WINDOW_S = 10.0
MAX_QUICK_CRASHES = 5
GRACE_S = 30.0


def reuse_port_supported() -> bool:
    """Whether this platform can put several listening sockets on one port (Linux, the BSDs, macOS)."""
    return hasattr(socket, "SO_REUSEPORT")


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening sockets on one address, in one SO_REUSEPORT group (port 0: one free port for all)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = int(sock.getsockname()[1])  # the first bind fixes the port the others join
            sock.listen(BACKLOG)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _worker(options: dict[str, Any], sock: socket.socket) -> None:  # pragma: no cover - runs in the child
    import uvicorn

    config = uvicorn.Config(APP_FACTORY, factory=True, **options)
    uvicorn.Server(config).run(sockets=[sock])


@dataclass
class Supervisor:
    """Starts one worker per socket, replaces workers that die, and stops them all on SIGINT/SIGTERM."""

    sockets: list[socket.socket]
    options: dict[str, Any]
    processes: list[BaseProcess] = field(default_factory=list)
    _stopping: bool = False
    _quick_crashes: int = 0
    _started: dict[int, float] = field(default_factory=dict)

    def _start(self, slot: int) -> BaseProcess:
        process = multiprocessing.get_context("spawn").Process(
            target=_worker, args=(self.options, self.sockets[slot]), name=f"brightline-worker-{slot}"
        )
        process.start()
        self._started[slot] = time.monotonic()
        log.info("worker %d started (pid %s)", slot, process.pid)
        return process

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def run(self) -> int:
        """Serve until told to stop; returns the exit status for the command."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        status = 0
        try:
            self.processes = [self._start(slot) for slot in range(len(self.sockets))]
            while not self._stopping:
                status = self._replace_dead()
                if status:
                    break
                time.sleep(0.2)
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for sock in self.sockets:
                sock.close()
        return status

    def _replace_dead(self) -> int:
        for slot, process in enumerate(self.processes):
            if process.is_alive():
                continue
            code = process.exitcode
            if code == STARTUP_FAILURE:
                log.error("worker %d could not start the app; stopping", slot)
                return STARTUP_FAILURE
            if time.monotonic() - self._started[slot] < CRASH_WINDOW_S:
                self._quick_crashes += 1
                if self._quick_crashes >= MAX_QUICK_CRASHES:
                    log.error("workers keep dying within %.0f s of starting; stopping", CRASH_WINDOW_S)
                    return 1
            log.warning("worker %d (pid %s) exited with %s; starting a new one", slot, process.pid, code)
            self.processes[slot] = self._start(slot)
        return 0

    def _stop_all(self) -> None:
        live = [p for p in self.processes if p.is_alive()]
        for process in live:
            process.terminate()  # SIGTERM: uvicorn finishes the requests in flight, then runs the lifespan exit
        deadline = time.monotonic() + GRACE_S
        for process in live:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("worker pid %s did not stop in %.0f s; killing it", process.pid, GRACE_S)
                process.kill()
                process.join()


def serve_workers(host: str, port: int, workers: int, options: dict[str, Any]) -> int:
    """Run ``workers`` uvicorn processes on host:port, one SO_REUSEPORT socket each; returns the exit status."""
    sockets = listening_sockets(host, port, workers)
    return Supervisor(sockets=sockets, options=options).run()
