"""The service on videos: /v1/hash returns vPDQ, /v1/scan matches and records a video."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_service_support import Service, upload

from brightline.banks import EntryInput
from brightline.signals.video import vpdq_hash
from brightline.signals.vpdq_signal import VpdqSignal

pytestmark = pytest.mark.anyio
pytest_plugins = ("test_service_support",)


@pytest.fixture
def videos(shared_dir: Path) -> Path:
    return shared_dir / "vectors" / "vpdq" / "videos"


async def test_hash_a_video(service: Service, videos: Path) -> None:
    data = (videos / "pattern-sd-grey-bar.mp4").read_bytes()
    response = await service.client.post(
        "/v1/hash", files=upload(data, "clip.mp4", "video/mp4"), headers=service.auth("hash")
    )
    body = response.json()
    assert response.status_code == 200
    assert body["pdq"] is None and body["video_md5"] == body["md5"]
    assert [f["frame"] for f in body["vpdq"][:2]] == [0, 30]


async def test_scan_a_video_variant_matches_and_is_recorded(service: Service, videos: Path) -> None:
    original = vpdq_hash(videos / "chair-orig-22-sd-bar.mp4")
    value = VpdqSignal.validate(
        ";".join(f"{f.frame_number},{f.quality},{f.pdq},{f.timestamp:.3f}" for f in original.features)
    )
    service.state.banks.create_bank("videos")
    service.state.banks.add_entries("videos", [EntryInput("vpdq", value, source="test")])
    service.state.keeper.refresh()
    data = (videos / "chair-22-sd-sepia-bar.mp4").read_bytes()
    response = await service.client.post(
        "/v1/scan",
        files=upload(data, "upload.mp4", "video/mp4"),
        data={"content_id": "clip-1"},
        headers=service.auth("scan"),
    )
    body = response.json()
    assert response.status_code == 200 and body["matched"] is True
    (match,) = body["matches"]
    assert match["bank"] == "videos" and match["signal_type"] == "vpdq" and match["query_percent"] >= 80
    events, _ = service.state.records.list_matches(bank="videos")
    assert [e.scan_id for e in events] == [body["scan_id"]]
    assert [c["content_type"] for c in service.state.records.counters()] == ["video"]


async def test_an_unrelated_video_scan_stores_nothing(service: Service, videos: Path) -> None:
    service.state.banks.create_bank("videos")
    data = (videos / "doorknob-hd-no-bar.mp4").read_bytes()
    response = await service.client.post(
        "/v1/scan", files=upload(data, "upload.mp4", "video/mp4"), headers=service.auth("scan")
    )
    assert response.status_code == 200 and response.json()["matched"] is False
    assert service.state.records.list_matches() == ([], None)
