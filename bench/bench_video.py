"""vPDQ throughput: brightline's vpdq_hash vs Meta's vpdq package on the shared sample videos.

Reports frames decoded per second and seconds of video per second of wall time, at one hash
per second (the production setting) and with every frame hashed, plus how many frames each
hashed and whether the two agree. The `vpdq` package (pip install vpdq; a source build against
the system FFmpeg) is optional: without it only brightline's numbers are printed.

    python bench/bench_video.py [--videos DIR] [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from brightline.signals.video import vpdq_hash

DEFAULT_VIDEOS = (
    Path(os.environ.get("BRIGHTLINE_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "vectors/vpdq/videos"
)

try:  # optional baseline
    import vpdq  # type: ignore[import-not-found]
except ImportError as exc:  # pragma: no cover - depends on the environment
    vpdq = None
    VPDQ_MISSING = f"vpdq package not importable ({exc}); brightline numbers only"
else:
    VPDQ_MISSING = ""


def _best(fn: Any, repeat: int) -> tuple[float, Any]:
    """Best wall time of `repeat` runs and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def _distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def run(videos: list[Path], repeat: int) -> list[dict[str, Any]]:
    rows = []
    for path in videos:
        for seconds in (1.0, 0.0):
            t_bl, ours = _best(lambda p=path, s=seconds: vpdq_hash(p, seconds_per_hash=s), repeat)
            row: dict[str, Any] = {
                "video": path.stem,
                "seconds_per_hash": seconds,
                "size": f"{ours.width}x{ours.height}",
                "frames": ours.frame_count,
                "video_seconds": ours.frame_count / ours.average_fps,
                "hashed": len(ours.features),
                "brightline_s": t_bl,
                "brightline_fps": ours.frame_count / t_bl,
                "brightline_vsps": ours.frame_count / ours.average_fps / t_bl,
            }
            if vpdq is not None:
                t_ref, theirs = _best(lambda p=path, s=seconds: vpdq.computeHash(str(p), seconds_per_hash=s), repeat)
                row["vpdq_s"] = t_ref
                row["vpdq_fps"] = ours.frame_count / t_ref
                row["vpdq_hashed"] = len(theirs)
                row["speedup"] = t_ref / t_bl
                same = len(theirs) == len(ours.features)
                row["same_frames"] = same and all(
                    a.frame_number == b.frame_number for a, b in zip(ours.features, theirs, strict=True)
                )
                row["max_distance_vs_vpdq"] = (
                    max(_distance(a.pdq, b.hex) for a, b in zip(ours.features, theirs, strict=True)) if same else None
                )
            rows.append(row)
    return rows


def _print(rows: list[dict[str, Any]]) -> None:
    head = f"{'video':30} {'s/hash':>6} {'frames':>6} {'hashed':>6} {'bl fps':>8} {'bl vid-s/s':>10}"
    if vpdq is not None:
        head += f" {'vpdq fps':>8} {'vpdq/bl':>7} {'same':>5} {'maxd':>4}"
    print(head)
    for r in rows:
        line = (
            f"{r['video']:30} {r['seconds_per_hash']:>6} {r['frames']:>6} {r['hashed']:>6}"
            f" {r['brightline_fps']:>8.0f} {r['brightline_vsps']:>10.1f}"
        )
        if vpdq is not None:
            line += (
                f" {r['vpdq_fps']:>8.0f} {r['speedup']:>6.2f}x {r['same_frames']!s:>5} {r['max_distance_vs_vpdq']!s:>4}"
            )
        print(line)
    for seconds in (1.0, 0.0):
        sel = [r for r in rows if r["seconds_per_hash"] == seconds]
        frames = sum(r["frames"] for r in sel)
        vsec = sum(r["video_seconds"] for r in sel)
        t_bl = sum(r["brightline_s"] for r in sel)
        total = f"TOTAL s/hash={seconds}: brightline {frames / t_bl:.0f} frames/s, {vsec / t_bl:.1f} video-s/s"
        if vpdq is not None:
            t_ref = sum(r["vpdq_s"] for r in sel)
            total += (
                f"; vpdq {frames / t_ref:.0f} frames/s, {vsec / t_ref:.1f} video-s/s; brightline is {t_ref / t_bl:.2f}x"
            )
        print(total)
    if VPDQ_MISSING:
        print(VPDQ_MISSING)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=Path, default=DEFAULT_VIDEOS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    videos = sorted(args.videos.glob("*.mp4"))
    if not videos:
        print(f"no videos in {args.videos}", file=sys.stderr)
        return 2
    vpdq_hash(videos[0], max_frames=2)  # warm up numba's compiled PDQ
    rows = run(videos, args.repeat)
    if args.json:
        print(json.dumps({"cpus": os.cpu_count(), "vpdq": VPDQ_MISSING or "installed", "rows": rows}, indent=2))
    else:
        _print(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
