"""Load test of `brightline serve` on loopback with wrk: requests/s and latency of /v1/match and /v1/scan.

Sets up a throwaway SQLite database with a bank of --bank-size random PDQ hashes plus the
PDQ hashes of every 8th scan photo (so 1 scan in 8 matches and is recorded), starts the real
server as a subprocess for each --workers value in turn and drives it with wrk (a C load
generator; `apt-get install wrk`) at a fixed number of connections for --seconds per endpoint.
/healthz is measured against the same server in the same run as the baseline: the cost of the
HTTP stack alone. Scans upload the 16 BSDS500 JPEGs closest to 100 KB.

wrk measures at saturation: its latency is mostly the queue in front of a busy server. Each
endpoint is then also driven open-loop at a fixed rate (--rate, by default the issue's targets:
/v1/match 2,000/s and /v1/scan 150/s) by bench/loadgen.py, whose latencies count from when each
request was due: the latency a platform sending that load would see.
Usage: python bench/bench_service.py [--bank-size 1000000] [--seconds 10] [--connections 16]
       [--workers 1 --workers 2] [--wrk-cpus 1] [--data-dir DIR] [--serve-arg=--no-access-log]
       [--rate match=2000 --rate scan=150] [--trace-dir DIR]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BRIGHTLINE_SHARED", ROOT.parent / "shared"))
BIN = Path(sys.executable).parent / "brightline"
SCAN_PHOTOS = 16
BANK_EVERY = 8  # every 8th scan photo is banked, so 1 scan in 8 matches and is recorded
BOUNDARY = "brightlinebenchboundary7d0a"
LOADGEN = Path(__file__).resolve().parent / "loadgen.py"
DEFAULT_RATES = {"match": 2000.0, "scan": 150.0}

# wrk script: bodies are built once per wrk thread in init(), so the client does no per-request work
# beyond picking one; done() prints one JSON line the harness reads.
LUA = r"""
local kind = "%(kind)s"
local token = "%(token)s"
local files = {%(files)s}
local bodies = {}
local headers = {}

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
  if kind == "healthz" then return end
  headers["Authorization"] = "Bearer " .. token
  if kind == "match" then
    headers["Content-Type"] = "application/json"
    local hex = "0123456789abcdef"
    for n = 1, 4096 do
      local t = {}
      for i = 1, 64 do local k = math.random(16); t[i] = hex:sub(k, k) end
      bodies[n] = '{"signals":[{"type":"pdq","value":"' .. table.concat(t) .. '"}]}'
    end
  else
    headers["Content-Type"] = "multipart/form-data; boundary=%(boundary)s"
    for n, path in ipairs(files) do
      local fh = assert(io.open(path, "rb"))
      local data = fh:read("*a")
      fh:close()
      bodies[n] = "--%(boundary)s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p" .. n
        .. ".jpg\"\r\nContent-Type: image/jpeg\r\n\r\n" .. data .. "\r\n--%(boundary)s--\r\n"
    end
  end
end

function request()
  if kind == "healthz" then return wrk.format("GET", "/healthz") end
  return wrk.format("POST", "/v1/" .. kind, headers, bodies[math.random(#bodies)])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %%d, "duration_us": %%d, "non2xx": %%d, "socket_errors": %%d, '
    .. '"p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "p999_us": %%d, "max_us": %%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max))
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, check=True)
    return done.stdout


def _scan_photos() -> list[Path]:
    """The 16 BSDS500 JPEGs (481x321) whose size is closest to 100 KB."""
    photos = sorted((SHARED / "corpus" / "bsds500").glob("*.jpg"))
    return sorted(sorted(photos, key=lambda p: abs(p.stat().st_size - 100_000))[:SCAN_PHOTOS])


def _setup(env: dict[str, str], work: Path, bank_size: int, photos: list[Path]) -> str:
    """Create the bank and an API key; returns the key. Reused when work/token exists."""
    token_file = work / "token"
    if token_file.exists():
        print(f"reusing the store in {work}")
        return token_file.read_text().strip()
    rng = random.Random(0)
    hex_list = work / "bank.txt"
    with hex_list.open("w") as fh:
        for _ in range(bank_size):
            fh.write(f"{rng.getrandbits(256):064x}\n")
    _cli(env, "bank", "create", "bench")
    started = time.perf_counter()
    _cli(env, "bank", "import", "bench", str(hex_list))
    print(f"imported {bank_size:,} hashes in {time.perf_counter() - started:.1f}s")
    hex_list.unlink()
    _cli(env, "bank", "add", "bench", *map(str, photos[::BANK_EVERY]), "--signals", "pdq")
    token = json.loads(_cli(env, "keys", "create", "--name", "bench", "--scopes", "match,scan", "--json"))["key"]
    token_file.write_text(str(token))
    return str(token)


def _wait_ready(base: str, server: subprocess.Popen[bytes]) -> float:
    started = time.perf_counter()
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        if time.perf_counter() - started > 180 or server.poll() is not None:
            raise SystemExit("server did not become ready")
        time.sleep(0.2)


def _check(base: str, token: str, photos: list[Path]) -> None:
    """One request of each kind by hand: the load test must measure answers, not errors."""
    headers = {"Authorization": f"Bearer {token}"}
    body = {"signals": [{"type": "pdq", "value": "ab" * 32}]}
    assert httpx.post(f"{base}/v1/match", json=body, headers=headers).status_code == 200
    for n, photo in enumerate(photos[:2]):
        files = {"file": (photo.name, photo.read_bytes(), "image/jpeg")}
        answer = httpx.post(f"{base}/v1/scan", files=files, headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["matched"] == (n % BANK_EVERY == 0), answer.text


def _tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by a process and all its descendants (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    tree, total = {root}, 0.0
    for pid in sorted(stats):  # children have larger pids than their parents here (no pid wrap-around)
        if pid in tree or stats[pid][0] in tree:
            tree.add(pid)
            total += stats[pid][1]
    return total


def _wrk(args: argparse.Namespace, script: Path, base: str, seconds: int, server: int) -> dict[str, float]:
    """One wrk run; adds the CPU seconds the server and wrk used during it."""
    command = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{seconds}s", "-s", str(script)]
    if args.wrk_cpus:
        command = ["taskset", "-c", args.wrk_cpus, *command]
    server_before, client_before = _tree_cpu(server), resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([*command, base], capture_output=True, text=True, check=True).stdout
    server_after, client_after = _tree_cpu(server), resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
    result["server_cpu_s"] = server_after - server_before
    result["client_cpu_s"] = sum(getattr(client_after, f) - getattr(client_before, f) for f in ("ru_utime", "ru_stime"))
    return result


def _raw_requests(kind: str, token: str, photos: list[Path]) -> list[bytes]:
    """Whole HTTP/1.1 requests for the open-loop client: the same bodies the wrk script sends."""
    rng = random.Random(1)
    if kind == "match":
        bodies = [
            json.dumps({"signals": [{"type": "pdq", "value": f"{rng.getrandbits(256):064x}"}]}).encode()
            for _ in range(4096)
        ]
        content_type = "application/json"
    else:
        bodies = [
            (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="p{n}.jpg"\r\n'
                "Content-Type: image/jpeg\r\n\r\n"
            ).encode()
            + photo.read_bytes()
            + f"\r\n--{BOUNDARY}--\r\n".encode()
            for n, photo in enumerate(photos)
        ]
        content_type = f"multipart/form-data; boundary={BOUNDARY}"
    head = "POST /v1/{kind} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: {ctype}\r\n"
    return [
        head.format(kind=kind, token=token, ctype=content_type).encode()
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
        for body in bodies
    ]


def _paced(spec: Path, rate: float, seconds: int, server: int, trace: Path | None) -> dict[str, Any]:
    """One open-loop run of bench/loadgen.py at ``rate``; adds the server's CPU seconds."""
    before = _tree_cpu(server)
    command = [sys.executable, str(LOADGEN), str(spec), "--rate", str(rate), "--seconds", str(seconds)]
    if trace is not None:
        command += ["--trace", str(trace)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["server_cpu_s"] = _tree_cpu(server) - before
    return result


ENDPOINTS = (("healthz", "GET /healthz (baseline)"), ("match", "POST /v1/match"), ("scan", "POST /v1/scan"))


def _measure(
    args: argparse.Namespace, env: dict[str, str], token: str, photos: list[Path], workers: int
) -> list[dict[str, object]]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [str(BIN), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    command += args.serve_arg
    if args.server_cpus:
        command = ["taskset", "-c", args.server_cpus, *command]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows: list[dict[str, object]] = []
    try:
        print(f"workers {workers}: server ready in {_wait_ready(base, server):.1f}s")
        _check(base, token, photos)
        scripts = Path(env["BRIGHTLINE_DATA_DIR"]).parent
        files = ", ".join(json.dumps(str(p)) for p in photos)
        for kind, label in ENDPOINTS:
            script = scripts / f"{kind}.lua"
            script.write_text(LUA % {"kind": kind, "token": token, "files": files, "boundary": BOUNDARY})
            _wrk(args, script, base, 2, server.pid)  # warm-up: connections, caches, the threadpool
            load = os.getloadavg()[0]
            r = _wrk(args, script, base, args.seconds, server.pid)
            seconds = r["duration_us"] / 1e6
            rows.append(
                {
                    "workers": workers,
                    "endpoint": label,
                    "requests": int(r["requests"]),
                    "errors": int(r["non2xx"] + r["socket_errors"]),
                    "rps": r["requests"] / seconds,
                    "p50_ms": r["p50_us"] / 1000,
                    "p90_ms": r["p90_us"] / 1000,
                    "p99_ms": r["p99_us"] / 1000,
                    "p999_ms": r["p999_us"] / 1000,
                    # CPU per request is what the noisy shared machine cannot hide: rps depends on what else runs.
                    "server_cpu_ms": r["server_cpu_s"] * 1000 / max(1, r["requests"]),
                    "client_cpu_ms": r["client_cpu_s"] * 1000 / max(1, r["requests"]),
                    "load_before": load,
                }
            )
            row = rows[-1]
            print(
                f"  {label}: {row['rps']:.0f} req/s, p99 {row['p99_ms']:.1f} ms, "
                f"server CPU {row['server_cpu_ms']:.2f} ms/request"
            )
            rate = args.rates.get(kind)
            if rate:
                spec = scripts / f"{kind}.json"
                requests = _raw_requests(kind, token, photos)
                encoded = [base64.b64encode(r).decode() for r in requests]
                spec.write_text(json.dumps({"host": "127.0.0.1", "port": port, "requests": encoded}))
                load = os.getloadavg()[0]
                trace = args.trace_dir / f"{workers}-workers-{kind}.csv" if args.trace_dir else None
                p = _paced(spec, rate, args.seconds, server.pid, trace)
                rows.append(
                    {
                        "workers": workers,
                        "endpoint": f"{label} at {rate:.0f}/s",
                        "requests": int(p["requests"]),
                        "errors": int(p["errors"]),
                        "rps": p["achieved_rps"],
                        "p50_ms": p["p50_ms"],
                        "p90_ms": p["p90_ms"],
                        "p99_ms": p["p99_ms"],
                        "p999_ms": p["p999_ms"],
                        "server_cpu_ms": p["server_cpu_s"] * 1000 / max(1, p["requests"]),
                        "client_cpu_ms": float("nan"),
                        "load_before": load,
                        "connections": p["connections"],
                        "paced": True,
                    }
                )
                print(
                    f"  {label} paced at {rate:.0f}/s: p50 {p['p50_ms']:.1f} ms, p99 {p['p99_ms']:.1f} ms, "
                    f"p99.9 {p['p999_ms']:.1f} ms, {p['errors']} errors, {p['connections']} connections"
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
    return rows


def main() -> None:
    """Set up, serve, load, report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bank-size", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, action="append", help="server workers; repeat them (default 1 and 2)")
    parser.add_argument("--wrk-cpus", default="", help="taskset CPU list for wrk (default: not pinned)")
    parser.add_argument("--server-cpus", default="", help="taskset CPU list for the server (default: not pinned)")
    parser.add_argument("--serve-arg", action="append", default=[], help="extra `brightline serve` argument")
    parser.add_argument("--data-dir", type=Path, help="keep the store here and reuse it on later runs")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--trace-dir", type=Path, help="write each paced request's latency here (loadgen --trace)")
    parser.add_argument(
        "--rate",
        action="append",
        default=[],
        metavar="ENDPOINT=RATE",
        help="open-loop rate per endpoint (default match=2000 scan=150; RATE 0 skips it)",
    )
    args = parser.parse_args()
    args.rates = dict(DEFAULT_RATES)
    for item in args.rate:
        kind, _, value = item.partition("=")
        if kind not in DEFAULT_RATES or not value:
            parser.error(f"--rate takes match=N or scan=N, not {item!r}")
        args.rates[kind] = float(value)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    photos = _scan_photos()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.data_dir if args.data_dir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "BRIGHTLINE_DATA_DIR": str(work / "data"), "BRIGHTLINE_DATABASE_URL": ""}
        token = _setup(env, work, args.bank_size, photos)
        rows = [row for n in args.workers or [1, 2] for row in _measure(args, env, token, photos, n)]
    print(
        f"wrk {args.threads} thread(s), {args.connections} connections, {args.seconds:.0f}s per endpoint, "
        f"wrk CPUs {args.wrk_cpus or 'any'}, server CPUs {args.server_cpus or 'any'}, serve args {args.serve_arg}"
    )
    print(
        "| workers | endpoint | requests | errors | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms "
        "| server CPU ms/req | wrk CPU ms/req | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        client = "—" if r.get("paced") else f"{r['client_cpu_ms']:.3f}"
        print(
            f"| {r['workers']} | {r['endpoint']} | {r['requests']} | {r['errors']} | {r['rps']:.0f} | "
            f"{r['p50_ms']:.1f} | {r['p90_ms']:.1f} | {r['p99_ms']:.1f} | {r['p999_ms']:.1f} | "
            f"{r['server_cpu_ms']:.3f} | {client} | {r['load_before']:.1f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    if any(r["errors"] for r in rows):
        raise SystemExit("errors during the load test")


if __name__ == "__main__":
    main()
