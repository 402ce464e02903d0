"""Bad input of every kind gets a 4xx {"error": {"code", "message"}}, never a 500; the service keeps serving."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from test_service_support import Service, make_settings, running_service, upload

pytestmark = pytest.mark.anyio
pytest_plugins = ("test_service_support",)


def _error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    return dict(body["error"])


async def _still_serving(service: Service, photo: bytes) -> None:
    assert (await service.client.get("/healthz")).status_code == 200
    ok = await service.client.post("/v1/hash", files=upload(photo), headers=service.auth("hash"))
    assert ok.status_code == 200


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (120, 30, 200)).save(out, "PNG")
    return out.getvalue()


async def test_malformed_json(service: Service, photos: list[bytes]) -> None:
    for url, scope in (("/v1/match", "match"), ("/v1/banks", "banks:write"), ("/v1/banks/x/entries", "banks:write")):
        response = await service.client.post(
            url, content=b'{"signals": [', headers={**service.auth(scope), "content-type": "application/json"}
        )
        _error(response, 422, "invalid_request")
    await _still_serving(service, photos[0])


async def test_wrong_shapes_are_422_in_the_same_shape(service: Service) -> None:
    headers = service.auth("match")
    for body in (
        {},
        {"signals": []},
        {"signals": "pdq"},
        {"signals": [{"type": "pdq"}]},
        [1, 2],
        {"signals": [], "x": 1},
    ):
        response = await service.client.post("/v1/match", json=body, headers=headers)
        error = _error(response, 422, "invalid_request")
        assert isinstance(error["details"], list)
    entry = await service.client.patch(
        "/v1/banks/x/entries/notanumber", json={"enabled": True}, headers=service.auth("banks:write")
    )
    _error(entry, 422, "invalid_request")


@pytest.mark.parametrize(
    ("signal", "code"),
    [
        ({"type": "pdq", "value": "abc"}, "invalid_signal_value"),
        ({"type": "pdq", "value": "g" * 64}, "invalid_signal_value"),
        ({"type": "md5", "value": "0" * 31}, "invalid_signal_value"),
        ({"type": "sha256", "value": "0" * 63}, "invalid_signal_value"),
        ({"type": "tmk", "value": "0" * 64}, "unknown_signal_type"),
    ],
)
async def test_bad_hashes_and_unknown_signal_types(service: Service, signal: dict[str, str], code: str) -> None:
    ok = {"type": "pdq", "value": "0" * 64}
    response = await service.client.post("/v1/match", json={"signals": [ok, signal]}, headers=service.auth("match"))
    error = _error(response, 422, code)
    assert error["message"].startswith("signals[1]")
    bad_entry = {"signal_type": signal["type"], "value": signal["value"]}
    service.state.banks.create_bank("b")
    added = await service.client.post(
        "/v1/banks/b/entries", json={"entries": [bad_entry]}, headers=service.auth("banks:write")
    )
    _error(added, 422)
    assert service.state.banks.get_bank("b").entry_count == 0


async def test_batch_limit(tmp_path: Path, database_url: str, anyio_backend: str) -> None:
    async for svc in running_service(make_settings(tmp_path, database_url, max_batch=3)):
        signal = {"type": "md5", "value": "0" * 32}
        ok = await svc.client.post("/v1/match", json={"signals": [signal] * 3}, headers=svc.auth("match"))
        assert ok.status_code == 200 and len(ok.json()["results"]) == 3
        over = await svc.client.post("/v1/match", json={"signals": [signal] * 4}, headers=svc.auth("match"))
        _error(over, 413, "payload_too_large")


async def test_corrupt_unsupported_and_empty_images(service: Service, photos: list[bytes]) -> None:
    cases = [
        (photos[0][:200], 422, "media_corrupt"),
        (b"%PDF-1.4 not an image at all", 415, "media_unsupported"),
        (b"", 422, "media_empty"),
    ]
    for data, status, code in cases:
        for url, scope in (("/v1/hash", "hash"), ("/v1/scan", "scan")):
            response = await service.client.post(url, files=upload(data), headers=service.auth(scope))
            _error(response, status, code)
    service.state.banks.create_bank("b")
    added = await service.client.post(
        "/v1/banks/b/entries", files=upload(photos[0][:300]), headers=service.auth("banks:write")
    )
    assert _error(added, 422)["message"].startswith("photo.png")
    await _still_serving(service, photos[0])


async def test_pixel_limit(tmp_path: Path, database_url: str, anyio_backend: str) -> None:
    async for svc in running_service(make_settings(tmp_path, database_url, max_image_pixels=10_000)):
        small = await svc.client.post("/v1/hash", files=upload(_png(100, 100)), headers=svc.auth("hash"))
        assert small.status_code == 200
        big = await svc.client.post("/v1/hash", files=upload(_png(101, 100)), headers=svc.auth("hash"))
        _error(big, 413, "media_too_large")


async def test_body_size_limit(tmp_path: Path, database_url: str, anyio_backend: str, shared_dir: Path) -> None:
    async for svc in running_service(make_settings(tmp_path, database_url, max_request_bytes=50_000)):
        big = b"x" * 60_000
        declared = await svc.client.post("/v1/hash", files=upload(big), headers=svc.auth("hash"))
        _error(declared, 413, "payload_too_large")

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
            for _ in range(20):
                yield b"y" * 5_000

        streamed = await svc.client.post(
            "/v1/match", content=chunks(), headers={**svc.auth("match"), "content-type": "application/json"}
        )
        _error(streamed, 413, "payload_too_large")
        assert (await svc.client.get("/healthz")).status_code == 200
        metrics = (await svc.client.get("/metrics")).text
        assert 'status="413"' in metrics


async def test_content_type_checks(service: Service, photos: list[bytes]) -> None:
    hashed = await service.client.post("/v1/hash", json={"file": "x"}, headers=service.auth("hash"))
    _error(hashed, 415, "unsupported_content_type")
    matched = await service.client.post("/v1/match", data={"signals": "x"}, headers=service.auth("match"))
    _error(matched, 415, "unsupported_content_type")
    service.state.banks.create_bank("b")
    entries = await service.client.post(
        "/v1/banks/b/entries", content=b"x", headers={**service.auth("banks:write"), "content-type": "text/plain"}
    )
    _error(entries, 415, "unsupported_content_type")
    missing_file = await service.client.post(
        "/v1/hash", data={"x": "1"}, files={"other": ("a", b"a", "text/plain")}, headers=service.auth("hash")
    )
    _error(missing_file, 422, "invalid_request")


async def test_scan_metadata_is_validated(service: Service, photos: list[bytes]) -> None:
    headers = service.auth("scan")
    for context in ("{not json", "[1, 2]"):
        response = await service.client.post(
            "/v1/scan", files=upload(photos[0]), data={"context": context}, headers=headers
        )
        _error(response, 422, "validation_error")
    long_id = await service.client.post(
        "/v1/scan", files=upload(photos[0]), data={"content_id": "x" * 10_000}, headers=headers
    )
    assert 400 <= long_id.status_code < 500 and "error" in long_id.json()


async def test_unknown_things_are_404_in_the_same_shape(service: Service) -> None:
    _error(await service.client.get("/v1/nothing"), 404, "not_found")
    _error(await service.client.get("/v1/banks/absent", headers=service.auth("banks:read")), 404, "bank_not_found")
    service.state.banks.create_bank("b")
    gone = await service.client.delete("/v1/banks/b/entries/999", headers=service.auth("banks:write"))
    _error(gone, 404, "entry_not_found")
    _error(await service.client.delete("/v1/keys/999", headers=service.auth("admin")), 404, "api_key_not_found")
    _error(await service.client.put("/v1/banks", headers=service.auth("admin")), 405)
    dup = await service.client.post("/v1/banks", json={"name": "B"}, headers=service.auth("banks:write"))
    _error(dup, 409, "bank_exists")
    bad_name = await service.client.post("/v1/banks", json={"name": "no spaces!"}, headers=service.auth("banks:write"))
    _error(bad_name, 422)


async def test_bad_import_is_atomic_and_names_the_upload(service: Service) -> None:
    service.state.banks.create_bank("b")
    content = ("0" * 64 + "\n" + "zz\n").encode()
    response = await service.client.post(
        "/v1/banks/b/import", files={"file": ("list.txt", content, "text/plain")}, headers=service.auth("banks:write")
    )
    error = _error(response, 422, "hash_list_format")
    assert error["message"].startswith("list.txt:2:")
    assert service.state.banks.get_bank("b").entry_count == 0
    unknown = await service.client.post(
        "/v1/banks/b/import",
        files={"file": ("list.bin", b"00", "application/octet-stream")},
        headers=service.auth("banks:write"),
    )
    _error(unknown, 422, "validation_error")


async def test_bad_time_filters(service: Service) -> None:
    headers = service.auth("matches:read")
    _error(await service.client.get("/v1/matches?since=yesterday", headers=headers), 422, "invalid_request")
    _error(await service.client.get("/v1/matches?since=2026-01-01T00:00:00", headers=headers), 422, "validation_error")
    _error(await service.client.get("/v1/matches?limit=0", headers=headers), 422, "invalid_request")
    _error(await service.client.get("/v1/matches?cursor=abc", headers=headers), 422, "invalid_request")
