"""Open-loop HTTP load at a fixed rate, for latency at a given load (wrk measures at saturation).

wrk keeps N connections busy, so its latency is mostly queueing at whatever rate the server
peaks at. A latency target ("p99 <= 100 ms at 150 requests/s") needs the other kind of test:
requests are due on a fixed schedule whether or not earlier ones have answered, and each
latency counts from when the request was due, so a stalled server is charged for every
request it held up (no "coordinated omission"). Connections come from a pool that grows as
needed, up to --max-connections.

Usage: python bench/loadgen.py SPEC.json --rate 150 --seconds 10 [--max-connections 256]
SPEC.json: {"host": "127.0.0.1", "port": 8000, "requests": ["<base64 of a whole HTTP/1.1 request>", ...]}
Prints one JSON object: requests, errors, offered and achieved rate, p50/p90/p99/p999/max in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import time
from pathlib import Path

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
# Servers close idle keep-alive connections (uvicorn after 5 s); like any pooling client, retire them sooner.
IDLE_LIMIT_S = 4.0


class Pool:
    """Idle keep-alive connections to one server; opens more while under ``limit``."""

    def __init__(self, host: str, port: int, limit: int) -> None:
        self.host, self.port, self.limit = host, port, limit
        self.idle: list[tuple[Connection, float]] = []  # (connection, when it was put back), newest last
        self.opened = 0
        self.peak = 0
        self._freed = asyncio.Condition()

    async def get(self) -> Connection:
        async with self._freed:
            now = time.perf_counter()
            while self.idle and now - self.idle[0][1] > IDLE_LIMIT_S:
                self.idle.pop(0)[0][1].close()
                self.opened -= 1
            while not self.idle and self.opened >= self.limit:
                await self._freed.wait()
            if self.idle:
                return self.idle.pop()[0]
            self.opened += 1
            self.peak = max(self.peak, self.opened)
        try:
            return await asyncio.open_connection(self.host, self.port)
        except OSError:
            await self.drop()
            raise

    async def put(self, connection: Connection) -> None:
        async with self._freed:
            self.idle.append((connection, time.perf_counter()))
            self._freed.notify()

    async def drop(self, connection: Connection | None = None) -> None:
        if connection is not None:
            connection[1].close()
        async with self._freed:
            self.opened -= 1
            self._freed.notify()


async def _exchange(connection: Connection, request: bytes) -> int:
    """Send one request and read its whole response; returns the status code."""
    reader, writer = connection
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _one(
    pool: Pool,
    request: bytes,
    due: float,
    latencies: list[float],
    errors: list[str],
    trace: list[tuple[float, float, int]],
) -> None:
    try:
        connection = await pool.get()
    except OSError as exc:
        errors.append(f"connect: {exc}")
        return
    try:
        status = await _exchange(connection, request)
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
        errors.append(f"exchange: {type(exc).__name__}")
        await pool.drop(connection)
        return
    latencies.append(time.perf_counter() - due)  # from when it was due, not from when it was sent
    trace.append((due, latencies[-1], status))
    if status >= 300:
        errors.append(f"status {status}")
    await pool.put(connection)


async def run(
    spec: dict[str, object], rate: float, seconds: float, max_connections: int, trace_file: Path | None = None
) -> dict[str, float]:
    """Send requests at ``rate`` per second for ``seconds``; summarise their latencies."""
    requests = [base64.b64decode(str(r)) for r in spec["requests"]]  # type: ignore[attr-defined]
    pool = Pool(str(spec["host"]), int(spec["port"]), max_connections)  # type: ignore[call-overload]
    rng = random.Random(0)
    latencies: list[float] = []
    errors: list[str] = []
    trace: list[tuple[float, float, int]] = []
    tasks: set[asyncio.Task[None]] = set()
    total = int(rate * seconds)
    started = time.perf_counter()
    for n in range(total):
        due = started + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(_one(pool, rng.choice(requests), due, latencies, errors, trace))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    if trace_file is not None:
        lines = (f"{due - started:.4f},{latency * 1000:.2f},{status}" for due, latency, status in sorted(trace))
        trace_file.write_text("due_s,latency_ms,status\n" + "\n".join(lines) + "\n")
    for (_reader, writer), _ in pool.idle:
        writer.close()
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000 if ordered else float("nan")

    return {
        "requests": len(ordered) + len(errors),
        "errors": len(errors),
        "offered_rps": rate,
        "achieved_rps": len(ordered) / elapsed,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "p999_ms": pct(99.9),
        "max_ms": ordered[-1] * 1000 if ordered else float("nan"),
        "connections": pool.peak,
        "first_errors": errors[:3],  # type: ignore[dict-item]
    }


def main() -> None:
    """Parse arguments, run, print the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", type=Path)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-connections", type=int, default=256)
    parser.add_argument("--trace", type=Path, help="write each request's due time, latency and status here (CSV)")
    args = parser.parse_args()
    spec = json.loads(args.spec.read_text())
    job = run(spec, args.rate, args.seconds, args.max_connections, args.trace)
    try:
        import uvloop  # the client's own overhead is lower on uvloop (uvicorn[standard] brings it)
    except ImportError:
        result = asyncio.run(job)
    else:
        result = uvloop.run(job)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
