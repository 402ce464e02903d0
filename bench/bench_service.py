"""Load test of `brightline serve` on loopback: requests/s and latency of /v1/match and /v1/scan.

Sets up a throwaway SQLite database with a bank of --bank-size random PDQ hashes (plus the
hashes of the scan photos, so scans match), starts the real server as a subprocess, and drives
it with an async HTTP client at a fixed concurrency for --seconds per endpoint. /healthz is
measured in the same run as the baseline: the cost of the HTTP stack alone.
Usage: python bench/bench_service.py [--bank-size 1000000] [--seconds 10] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BRIGHTLINE_SHARED", ROOT.parent / "shared"))
BIN = Path(sys.executable).parent / "brightline"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, check=True)
    return done.stdout


def _setup(env: dict[str, str], work: Path, bank_size: int, photos: list[Path]) -> str:
    rng = random.Random(0)
    hex_list = work / "bank.txt"
    with hex_list.open("w") as fh:
        for _ in range(bank_size):
            fh.write(f"{rng.getrandbits(256):064x}\n")
    _cli(env, "bank", "create", "bench")
    started = time.perf_counter()
    _cli(env, "bank", "import", "bench", str(hex_list))
    print(f"imported {bank_size:,} hashes in {time.perf_counter() - started:.1f}s")
    _cli(env, "bank", "add", "bench", *map(str, photos), "--signals", "pdq")
    token = json.loads(_cli(env, "keys", "create", "--name", "bench", "--scopes", "match,scan", "--json"))["key"]
    return str(token)


async def _drive(
    client: httpx.AsyncClient, make_request: object, seconds: float, concurrency: int
) -> tuple[int, int, list[float]]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            response = await make_request(client)  # type: ignore[operator]
            latencies.append(time.perf_counter() - t0)
            if response.status_code != 200:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies), errors, latencies


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def _run(base: str, token: str, photos: list[Path], seconds: float, concurrency: int) -> list[dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(1)
    images = [(p.name, p.read_bytes()) for p in photos]

    async def healthz(c: httpx.AsyncClient) -> httpx.Response:
        return await c.get("/healthz")

    async def match(c: httpx.AsyncClient) -> httpx.Response:
        body = {"signals": [{"type": "pdq", "value": f"{rng.getrandbits(256):064x}"}]}
        return await c.post("/v1/match", json=body, headers=headers)

    async def scan(c: httpx.AsyncClient) -> httpx.Response:
        name, data = rng.choice(images)
        return await c.post("/v1/scan", files={"file": (name, data, "image/jpeg")}, headers=headers)

    rows = []
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        for name, fn in (("GET /healthz (baseline)", healthz), ("POST /v1/match", match), ("POST /v1/scan", scan)):
            await _drive(client, fn, 1.0, concurrency)  # warm-up
            count, errors, lat = await _drive(client, fn, seconds, concurrency)
            rows.append(
                {
                    "endpoint": name,
                    "requests": count,
                    "errors": errors,
                    "rps": count / seconds,
                    "p50_ms": _pct(lat, 0.50),
                    "p99_ms": _pct(lat, 0.99),
                }
            )
    return rows


def main() -> None:
    """Set up, serve, load, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bank-size", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    photos = sorted((SHARED / "corpus" / "kodak24").iterdir())[:8]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "BRIGHTLINE_DATA_DIR": str(work / "data"), "BRIGHTLINE_DATABASE_URL": ""}
        token = _setup(env, work, args.bank_size, photos)
        port = _free_port()
        server = subprocess.Popen(
            [str(BIN), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            started = time.perf_counter()
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.perf_counter() - started > 120 or server.poll() is not None:
                    raise SystemExit("server did not become ready")
                time.sleep(0.2)
            print(f"server ready in {time.perf_counter() - started:.1f}s (bank {args.bank_size:,} + 8 photos)")
            rows = asyncio.run(_run(base, token, photos, args.seconds, args.concurrency))
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"concurrency {args.concurrency}, {args.seconds:.0f}s per endpoint, workers {args.workers}")
    print("| endpoint | requests | errors | req/s | p50 ms | p99 ms |\n|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['endpoint']} | {r['requests']} | {r['errors']} | {r['rps']:.0f} | "
            f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    if any(r["errors"] for r in rows):
        raise SystemExit("errors during the load test")


if __name__ == "__main__":
    main()
