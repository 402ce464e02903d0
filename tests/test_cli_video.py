"""The CLI on videos: hash JSON, sampling options, banking a video, scanning and round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brightline.cli import app

VIDEOS = ("vectors", "vpdq", "videos")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


def records(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def videos(shared_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BRIGHTLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BRIGHTLINE_DATABASE_URL", "")
    return shared_dir.joinpath(*VIDEOS)


def test_hash_json_for_a_video(videos: Path) -> None:
    code, out = run("hash", "--json", str(videos / "pattern-sd-grey-bar.mp4"))
    (record,) = records(out)
    assert code == 0
    assert {"file", "video_md5", "md5", "sha256", "vpdq", "duration", "frame_count"} <= set(record)
    assert "pdq" not in record and record["video_md5"] == record["md5"]
    frames = record["vpdq"]
    assert isinstance(frames, list) and set(frames[0]) == {"frame", "quality", "pdq", "timestamp"}
    # 30 fps sampled once a second: frames 0, 30, 60, ...
    assert [f["frame"] for f in frames[:3]] == [0, 30, 60]


def test_frame_interval_and_frame_size_options(videos: Path) -> None:
    path = str(videos / "test-padded-dimensions.mp4")
    _, every = run("hash", "--json", "--frame-interval", "0", path)
    _, small = run("hash", "--json", "--frame-interval", "0", "--frame-size", "128", path)
    every_frames = records(every)[0]["vpdq"]
    small_frames = records(small)[0]["vpdq"]
    assert isinstance(every_frames, list) and isinstance(small_frames, list)
    assert len(every_frames) == len(small_frames) == 150
    assert every_frames != small_frames


def test_bank_a_video_then_scan_its_variants(videos: Path) -> None:
    assert run("bank", "create", "videos")[0] == 0
    code, out = run("bank", "add", "videos", str(videos / "chair-orig-22-sd-bar.mp4"))
    assert code == 0 and "added 4" in out  # vpdq, vpdq_regions, md5, sha256
    code, out = run(
        "scan", "--json", str(videos / "chair-22-sd-sepia-bar.mp4"), str(videos / "pattern-sd-grey-bar.mp4")
    )
    sepia, pattern = records(out)
    assert code == 1
    match, regions = sepia["matches"]  # type: ignore[misc]
    assert match["signal_type"] == "vpdq" and match["query_percent"] >= 80
    assert regions["signal_type"] == "vpdq_regions" and regions["query_percent"] >= 80
    assert match["time_ranges"][0][0] == 0.0
    assert pattern["matches"] == []


def test_the_identical_video_also_matches_by_md5(videos: Path) -> None:
    run("bank", "create", "videos")
    run("bank", "add", "videos", str(videos / "pattern-sd-grey-bar.mp4"))
    code, out = run("scan", "--json", str(videos / "pattern-sd-grey-bar.mp4"))
    (record,) = records(out)
    matches = record["matches"]
    assert code == 1 and isinstance(matches, list)
    assert {m["signal_type"] for m in matches} == {"vpdq", "vpdq_regions", "md5", "sha256"}


def test_vpdq_entries_survive_export_and_import(videos: Path, tmp_path: Path) -> None:
    run("bank", "create", "source")
    run("bank", "add", "source", str(videos / "pattern-sd-grey-bar.mp4"), "--signals", "pdq")
    for fmt in ("csv", "tsv", "jsonl"):
        exported = tmp_path / f"videos.{fmt}"
        assert run("bank", "export", "source", str(exported))[0] == 0
        run("bank", "create", f"copy-{fmt}")
        code, out = run("bank", "import", f"copy-{fmt}", str(exported))
        assert code == 0 and "imported 1 new" in out
        _, shown = run("bank", "show", f"copy-{fmt}", "--json")
        (entry,) = records(shown)
        assert entry["signal_type"] == "vpdq"
    _, original = run("bank", "show", "source", "--json")
    _, copied = run("bank", "show", "copy-csv", "--json")
    assert records(original)[0]["value"] == records(copied)[0]["value"]
