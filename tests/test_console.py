"""The reviewer console over HTTP: login, CSRF, blurred-by-default media, reveal, decisions, roles, wellbeing."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from console_support import PASSWORD, detailed_image, make_app, queue_photo
from fastapi import FastAPI
from PIL import Image

from brightline.service.console import media
from brightline.service.state import ServiceState
from brightline.store.models import utcnow
from brightline.store.models_cases import console_sessions_table

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def serve(app: FastAPI, base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running and one client (one cookie jar: one browser)."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


@asynccontextmanager
async def two_clients(app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two browsers on one running app."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as first,
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as second,
        ):
            yield first, second


@pytest.fixture
async def console(tmp_path: Path, anyio_backend: str) -> AsyncIterator[tuple[httpx.AsyncClient, ServiceState]]:
    app, state = make_app(tmp_path)
    async with serve(app) as client:
        yield client, state


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "page has no CSRF field"
    return found.group(1)


async def _login(client: httpx.AsyncClient, username: str = "alice") -> str:
    """Log in and return the session's CSRF token (from the queue page)."""
    form = await client.get("/console/login")
    response = await client.post(
        "/console/login", data={"username": username, "password": PASSWORD, "csrf": _csrf(form.text)}
    )
    assert response.status_code == 303, response.text
    return _csrf((await client.get("/console/queue")).text)


def _edge_energy(image: Image.Image) -> float:
    """Mean absolute difference between neighbouring pixels: high for sharp detail, low for a blur."""
    grey = np.asarray(image.convert("L"), dtype=np.float64)
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


async def test_pages_need_a_login(console: tuple[httpx.AsyncClient, ServiceState]) -> None:
    client, _ = console
    for path in ("/console/queue", "/console/cases/1", "/console/reviewers"):
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/console/login"
    assert (await client.get("/console/cases/1/media")).status_code == 401


async def test_login_sets_a_strict_http_only_cookie(console: tuple[httpx.AsyncClient, ServiceState]) -> None:
    client, _ = console
    form = await client.get("/console/login")
    assert "default-src 'self'" in form.headers["content-security-policy"]
    response = await client.post(
        "/console/login", data={"username": "alice", "password": PASSWORD, "csrf": _csrf(form.text)}
    )
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("brightline_console="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http in the test environment


async def test_cookies_are_secure_over_https(tmp_path: Path) -> None:
    app, _ = make_app(tmp_path)
    async with serve(app, "https://testserver") as client:
        form = await client.get("/console/login")
        assert "Secure" in form.headers["set-cookie"]
        response = await client.post(
            "/console/login", data={"username": "alice", "password": PASSWORD, "csrf": _csrf(form.text)}
        )
        assert "Secure" in response.headers["set-cookie"]


async def test_login_refuses_wrong_password_and_missing_csrf(console: tuple[httpx.AsyncClient, ServiceState]) -> None:
    client, _ = console
    form = await client.get("/console/login")
    wrong = await client.post(
        "/console/login", data={"username": "alice", "password": "nope-nope", "csrf": _csrf(form.text)}
    )
    assert wrong.status_code == 401 and "wrong user name or password" in wrong.text
    assert "brightline_console=" not in wrong.headers.get("set-cookie", "").split(";")[0]
    await client.get("/console/login")
    forged = await client.post("/console/login", data={"username": "alice", "password": PASSWORD, "csrf": "forged"})
    assert forged.status_code == 403
    assert (await client.get("/console/queue")).status_code == 303


async def test_posts_without_the_session_csrf_token_are_refused(
    console: tuple[httpx.AsyncClient, ServiceState],
) -> None:
    client, state = console
    case = queue_photo(state, detailed_image())
    await _login(client)
    for path in (f"/console/cases/{case.id}/reveal", f"/console/cases/{case.id}/claim", "/console/next"):
        assert (await client.post(path, data={"csrf": "wrong"})).status_code == 403
        assert (await client.post(path, data={})).status_code == 403
    assert not state.queue.get(case.id).media_viewed
    assert state.queue.get(case.id).claimed_by is None


async def test_media_is_blurred_by_default_and_clear_only_after_reveal(
    console: tuple[httpx.AsyncClient, ServiceState],
) -> None:
    client, state = console
    original_bytes = detailed_image()
    case = queue_photo(state, original_bytes)
    csrf = await _login(client)
    item = await client.get(f"/console/cases/{case.id}")
    assert item.status_code == 200
    assert f'src="/console/cases/{case.id}/media?view=blurred"' in item.text
    assert "view=clear" not in item.text
    assert state.queue.get(case.id).claimed_by is not None  # opening the item claimed it

    blurred = await client.get(f"/console/cases/{case.id}/media")
    assert blurred.status_code == 200 and blurred.headers["cache-control"] == "no-store"
    blurred_image = Image.open(io.BytesIO(blurred.content))
    original = Image.open(io.BytesIO(original_bytes)).convert("RGB")
    assert blurred_image.mode == "L"  # greyscale
    assert _edge_energy(blurred_image) < _edge_energy(original.convert("L").resize(blurred_image.size)) / 5

    assert (await client.get(f"/console/cases/{case.id}/media?view=clear")).status_code == 403
    assert not state.queue.get(case.id).media_viewed

    assert (await client.post(f"/console/cases/{case.id}/reveal", data={"csrf": csrf})).status_code == 303
    viewed = state.queue.get(case.id)
    assert viewed.media_viewed and viewed.viewed_by is not None
    assert (
        'src="/console/cases/' + str(case.id) + '/media?view=clear"'
        in (await client.get(f"/console/cases/{case.id}")).text
    )
    clear = await client.get(f"/console/cases/{case.id}/media?view=clear")
    assert clear.status_code == 200
    clear_image = Image.open(io.BytesIO(clear.content)).convert("RGB")
    assert clear_image.size == original.size
    difference = np.abs(np.asarray(clear_image, dtype=np.int16) - np.asarray(original, dtype=np.int16)).mean()
    assert difference < 8

    assert state.evidence is not None
    reads = [a for a in state.evidence.access_log(state.evidence.for_scan(case.scan_id or 0).id) if a.action == "read"]
    assert {a.actor for a in reads} == {"reviewer:alice"}
    assert any("(clear)" in a.purpose for a in reads) and any("(blurred)" in a.purpose for a in reads)


async def test_a_reveal_holds_for_its_own_login_only(tmp_path: Path) -> None:
    app, state = make_app(tmp_path)
    case = queue_photo(state, detailed_image())
    async with two_clients(app) as (first, second):
        csrf = await _login(first)
        await first.get(f"/console/cases/{case.id}")
        await first.post(f"/console/cases/{case.id}/reveal", data={"csrf": csrf})
        await _login(second, "root")
        assert (await first.get(f"/console/cases/{case.id}/media?view=clear")).status_code == 200
        assert (await second.get(f"/console/cases/{case.id}/media?view=clear")).status_code == 403


async def test_confirm_needs_a_classification_and_shrinks_the_queue(
    console: tuple[httpx.AsyncClient, ServiceState],
) -> None:
    client, state = console
    case = queue_photo(state, detailed_image())
    queue_photo(state, detailed_image(8), content="post-2", domain="other", distance=20)
    csrf = await _login(client)
    assert 'data-count="2"' in (await client.get("/console/queue")).text
    await client.get(f"/console/cases/{case.id}")
    missing = await client.post(f"/console/cases/{case.id}/decide", data={"csrf": csrf, "decision": "confirm"})
    assert missing.status_code == 422 and "classification" in missing.text
    done = await client.post(
        f"/console/cases/{case.id}/decide",
        data={"csrf": csrf, "decision": "confirm", "classification": "A1", "domain": "csam", "note": "clear match"},
    )
    assert done.status_code == 303
    decided = state.queue.get(case.id)
    assert (decided.status, decided.classification, decided.decision_domain) == ("confirmed", "A1", "csam")
    assert 'data-count="1"' in (await client.get("/console/queue")).text


async def test_false_positive_and_escalate_from_the_form(console: tuple[httpx.AsyncClient, ServiceState]) -> None:
    client, state = console
    first = queue_photo(state, detailed_image())
    second = queue_photo(state, detailed_image(9), content="post-2")
    csrf = await _login(client)
    await client.get(f"/console/cases/{first.id}")
    await client.post(
        f"/console/cases/{first.id}/decide",
        data={"csrf": csrf, "decision": "false_positive", "disable_entry": "on", "negative_bank": "known-good"},
    )
    assert state.queue.get(first.id).status == "false_positive"
    # The app wires EntryFeedback: the entry that misfired is disabled and the scan's hash allow-listed.
    assert state.banks.get_entry(first.entry_id or 0).enabled is False
    assert state.banks.get_bank("known-good").domain == "allow"
    assert [e.value for e in state.banks.list_entries("known-good")] == ["0" * 64]
    await client.get(f"/console/cases/{second.id}")
    await client.post(f"/console/cases/{second.id}/decide", data={"csrf": csrf, "decision": "escalate"})
    escalated = state.queue.get(second.id)
    assert escalated.status == "escalated" and escalated.claimed_by is None


async def test_next_claims_the_most_urgent_item(console: tuple[httpx.AsyncClient, ServiceState]) -> None:
    client, state = console
    queue_photo(state, detailed_image(), domain="other", distance=25)
    urgent = queue_photo(state, detailed_image(3), content="post-2", domain="csam", distance=1)
    csrf = await _login(client)
    response = await client.post("/console/next", data={"csrf": csrf})
    assert response.headers["location"] == f"/console/cases/{urgent.id}"
    item = (await client.get(response.headers["location"])).text
    assert "known-csam" in item and "post-2" in item and "uploads" in item


async def test_reviewers_cannot_decide_items_someone_else_holds_but_admins_can(tmp_path: Path) -> None:
    app, state = make_app(tmp_path)
    case = queue_photo(state, detailed_image())
    async with two_clients(app) as (alice, root):
        await _login(root, "root")
        root_csrf = _csrf((await root.get("/console/queue")).text)
        await root.get(f"/console/cases/{case.id}")  # root holds it now
        alice_csrf = await _login(alice)
        page = (await alice.get(f"/console/cases/{case.id}")).text
        assert "Another reviewer holds this item" in page and 'id="decide-form"' not in page
        refused = await alice.post(
            f"/console/cases/{case.id}/decide", data={"csrf": alice_csrf, "decision": "escalate"}
        )
        assert refused.status_code == 409
        assert (await alice.get("/console/reviewers")).status_code == 403
        listing = await root.get("/console/reviewers")
        assert listing.status_code == 200 and "alice" in listing.text
        await root.post(f"/console/cases/{case.id}/decide", data={"csrf": root_csrf, "decision": "false_positive"})
        assert state.queue.get(case.id).status == "false_positive"


async def test_logout_ends_the_session(console: tuple[httpx.AsyncClient, ServiceState]) -> None:
    client, _ = console
    csrf = await _login(client)
    assert (await client.post("/console/logout", data={"csrf": "wrong"})).status_code == 403
    assert (await client.post("/console/logout", data={"csrf": csrf})).status_code == 303
    assert (await client.get("/console/queue")).status_code == 303


async def test_break_reminder_after_the_configured_minutes(tmp_path: Path) -> None:
    app, state = make_app(tmp_path, review_break_minutes=1)
    async with serve(app) as client:
        csrf = await _login(client)
        assert 'id="break-banner"' not in (await client.get("/console/queue")).text
        with state.db.write_connection() as conn:
            conn.execute(sa.update(console_sessions_table).values(created_at=utcnow() - timedelta(minutes=2)))
        assert 'id="break-banner"' in (await client.get("/console/queue")).text
        await client.post("/console/break", data={"csrf": csrf})
        assert 'id="break-banner"' not in (await client.get("/console/queue")).text


async def test_daily_cap_is_shown_and_enforced(tmp_path: Path) -> None:
    app, state = make_app(tmp_path, review_daily_cap=1)
    first = queue_photo(state, detailed_image())
    queue_photo(state, detailed_image(5), content="post-2")
    async with serve(app) as client:
        csrf = await _login(client)
        assert "decided today: <b>0</b> / 1" in (await client.get("/console/queue")).text
        await client.get(f"/console/cases/{first.id}")
        await client.post(f"/console/cases/{first.id}/decide", data={"csrf": csrf, "decision": "false_positive"})
        queue_page = (await client.get("/console/queue")).text
        assert "decided today: <b>1</b> / 1" in queue_page and "today's cap" in queue_page
        assert (await client.post("/console/next", data={"csrf": csrf})).status_code == 429


async def test_static_assets_and_nothing_else(console: tuple[httpx.AsyncClient, ServiceState]) -> None:
    client, _ = console
    assert (await client.get("/console/static/console.css")).status_code == 200
    assert "keydown" in (await client.get("/console/static/console.js")).text
    assert (await client.get("/console/static/..%2Froutes.py")).status_code == 404
    assert (await client.get("/console/static/missing.js")).status_code == 404


async def test_videos_show_as_a_blurred_keyframe_grid(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (160, 120), (40 * i % 256, 90, 200 - 15 * i)) for i in range(12)]
    for number, frame in enumerate(frames):
        frame.paste((255, 255, 255), (10 * number, 10, 10 * number + 12, 110))
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    video = out.getvalue()
    assert media.is_video(video)
    grid = Image.open(io.BytesIO(media.render(video, revealed=True)))
    assert grid.size == (media.GRID_COLUMNS * media.GRID_TILE, 3 * media.GRID_TILE)
    blurred = Image.open(io.BytesIO(media.render(video, revealed=False)))
    assert blurred.mode == "L" and _edge_energy(blurred) < _edge_energy(grid.resize(blurred.size))
