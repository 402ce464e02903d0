"""End to end, over real HTTP and in a real browser: scan -> match -> rule -> queue -> a reviewer confirms ->
the report reaches a fake CyberTipline -> evidence is preserved; then appeal -> reversal -> retraction.

The platform and NCMEC are fakes behind one httpx transport handed to create_app(); the service
itself runs under uvicorn and the reviewer uses Debian's Chromium through Playwright. Media are
benign photos standing in for a hash list.
"""

from __future__ import annotations

import io
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, shared_path
from console_support import PASSWORD, chromium_path, detailed_image, serve_app
from PIL import Image

from brightline.actions import verify, webhook_secret_from_settings
from brightline.banks import EntryInput
from brightline.reporting.fake import FakeCyberTipline
from brightline.service.app import create_app
from brightline.service.state import ServiceState
from brightline.settings import Settings
from brightline.signals.hashing import HashOptions, hash_bytes

ARTIFACTS = ROOT / "build" / "test-artifacts"
SECRET = "e2e-secret-not-the-default"
RULES = """
[domains.third_party]
verified = false

[[rules]]
name = "csam-known"
domains = ["csam"]
actions = ["block", "review", "report", "webhook"]
webhook_url = "https://platform.test/hooks"

[[rules]]
name = "third-party-signals"
domains = ["third_party"]
actions = ["block", "report", "webhook"]
webhook_url = "https://platform.test/hooks"
"""


@dataclass
class Platform:
    """The platform's webhook receiver: keeps every delivery whose signature checks out."""

    secret: bytes
    events: list[dict[str, object]] = field(default_factory=list)
    refused: int = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Verify the signature as a platform would, then accept."""
        body = request.read()
        if not verify(self.secret, request.headers["Brightline-Signature"], body, now=int(time.time())):
            self.refused += 1
            return httpx.Response(401)
        self.events.append({"event": request.headers["Brightline-Event"], **json.loads(body)})
        return httpx.Response(204)


@dataclass
class World:
    """The served app, its state, the fakes and API keys."""

    base: str
    state: ServiceState
    ncmec: FakeCyberTipline
    platform: Platform
    keys: dict[str, str]

    def headers(self, scope: str) -> dict[str, str]:
        """Authorization for the key holding ``scope``."""
        return {"Authorization": f"Bearer {self.keys[scope]}"}


def _photo(index: int) -> bytes:
    folder = shared_path() / "corpus" / "kodak24"
    photos = sorted(folder.iterdir()) if folder.is_dir() else []
    return photos[index].read_bytes() if len(photos) > index else detailed_image(index)


def _edited_copy(photo: bytes) -> bytes:
    """What users upload: the known photo scaled down and re-encoded (a perceptual, not exact, match)."""
    image = Image.open(io.BytesIO(photo)).convert("RGB")
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=70)
    return out.getvalue()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'e2e.db'}",
        secret_key=SECRET,
        index_refresh_seconds=0.1,
        rules_file=rules,
        ncmec_url="https://cybertipline.test/ispws",
        ncmec_username="esp",
        ncmec_password="secret",
        ncmec_reporter_first_name="Trust",
        ncmec_reporter_last_name="Safety",
        ncmec_reporter_email="reports@platform.test",
    )
    ncmec = FakeCyberTipline("esp", "secret")

    platform = Platform(webhook_secret_from_settings(settings))

    def route(request: httpx.Request) -> httpx.Response:
        handlers: dict[str, Callable[[httpx.Request], httpx.Response]] = {
            "cybertipline.test": ncmec.handle,
            "platform.test": platform.handle,
        }
        return handlers[request.url.host](request)

    app = create_app(settings, transport=httpx.MockTransport(route))
    state: ServiceState = app.state.brightline
    state.reviewers.create("alice", PASSWORD, display_name="Alice")
    keys = {scope: state.keys.create(scope, [scope])[0] for scope in ("scan", "appeals", "admin")}
    for name, domain, photo in (("csam-known", "csam", _photo(3)), ("signals", "third_party", _photo(7))):
        state.banks.create_bank(name, domain=domain)
        hashes = hash_bytes(photo, HashOptions(exact=True))
        state.banks.add_entries(name, [EntryInput("pdq", hashes.pdq or "", category="A1", source="e2e")])
    with serve_app(app) as base:
        yield World(base=base, state=state, ncmec=ncmec, platform=platform, keys=keys)


def _wait_for(condition: Callable[[], bool], what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _scan(world: World, data: bytes, content_id: str, account_id: str) -> dict[str, object]:
    context = {"ip_address": "198.51.100.23", "ip_event": "Upload", "ip_captured_at": "2026-11-20T10:00:00Z"}
    response = httpx.post(
        f"{world.base}/v1/scan",
        files={"file": ("upload.jpg", data, "image/jpeg")},
        data={"content_id": content_id, "account_id": account_id, "context": json.dumps(context)},
        headers=world.headers("scan"),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _confirm_in_browser(world: World, case_id: int) -> None:
    """A reviewer logs in, opens the item (blurred), reveals it, confirms it A1 and sees the queue shrink."""
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{world.base}/console/login")
            page.fill('input[name="username"]', "alice")
            page.fill('input[name="password"]', PASSWORD)
            page.click('button[type="submit"]')
            expect(page.locator("#pending-count")).to_have_text("1 pending")
            page.locator(f'tr[data-case="{case_id}"] button.claim').click()
            media = page.locator("#case-media")
            expect(media).to_have_attribute("src", f"/console/cases/{case_id}/media?view=blurred")
            page.screenshot(path=str(ARTIFACTS / "e2e-item-blurred.png"), full_page=True)
            page.keyboard.press("r")
            expect(media).to_have_attribute("src", f"/console/cases/{case_id}/media?view=clear")
            page.select_option("#classification", "A1")
            page.click("#confirm-button")
            expect(page.locator("#pending-count")).to_have_text("0 pending")
        finally:
            browser.close()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _texts(document: bytes, name: str) -> list[str]:
    return [el.text or "" for el in ET.fromstring(document).iter() if _local(el.tag) == name]


def test_scan_review_report_appeal_and_reversal(world: World) -> None:
    state = world.state
    _wait_for(lambda: state.keeper.status().get("loaded", False) is True, "the index to load")
    upload = _edited_copy(_photo(3))

    # 1. The platform scans an upload: it matches, the rule blocks it and opens a review case.
    scanned = _scan(world, upload, "post-42", "acct-9")
    assert scanned["matched"] is True
    actions = scanned["actions"]
    assert isinstance(actions, dict)
    assert actions["block"] is True and actions["rules"] == ["csam-known"]
    case_id = actions["review_case_id"]
    assert isinstance(case_id, int)
    case = state.queue.get(case_id)
    assert (case.status, case.report_on_confirm, case.verified, case.media_viewed) == ("open", True, True, False)
    evidence = state.evidence.for_scan(case.scan_id or 0) if state.evidence else None
    assert evidence is not None and evidence.size == len(upload)
    _wait_for(lambda: any(e["event"] == "match" for e in world.platform.events), "the match webhook")
    assert not world.ncmec.reports  # nothing reported before a human looked

    # 2. A reviewer confirms it in the browser; the rule's `report` sends it to the CyberTipline.
    _confirm_in_browser(world, case_id)
    finished = world.ncmec.finished_reports
    assert len(finished) == 1
    report = finished[0]
    assert len(report.files) == 1 and report.files[0].data == upload
    details = report.files[0].details or b""
    assert _texts(details, "fileViewedByEsp") == ["true"]
    assert _texts(details, "industryClassification") == ["A1"]
    assert _texts(details, "originalFileHash") == [hash_bytes(upload, HashOptions()).md5]
    assert _texts(report.document, "ipAddress") == ["198.51.100.23"]
    sent = state.reports.list(case_id=case_id)
    assert [r.status for r in sent] == ["finished"] and sent[0].report_xml.encode() in report.document
    kept = state.evidence.for_scan(case.scan_id or 0) if state.evidence else None
    assert kept is not None and kept.preserve_until is not None
    assert kept.preserve_until > datetime.now(UTC) + timedelta(days=364)

    # 3. The user appeals through the platform; a reviewer upholds it; everything is reversed.
    appeal = httpx.post(
        f"{world.base}/v1/appeals",
        json={"content_id": "post-42", "reason": "this is my own holiday photo"},
        headers=world.headers("appeals"),
    )
    assert appeal.status_code == 201, appeal.text
    appeal_case = appeal.json()["review_case_id"]
    reviewer = state.reviewers.list()[0]
    state.queue.claim(appeal_case, reviewer.id)
    state.queue.decide(appeal_case, reviewer.id, "uphold", note="benign, the list entry is wrong")
    upheld = httpx.get(f"{world.base}/v1/appeals/{appeal.json()['id']}", headers=world.headers("appeals")).json()
    assert upheld["status"] == "upheld" and "retracted 1 report" in upheld["outcome"]
    assert world.ncmec.reports[report.report_id].retracted
    assert state.queue.get(case_id).status == "false_positive"
    active = httpx.get(
        f"{world.base}/v1/enforcement", params={"content_id": "post-42"}, headers=world.headers("scan")
    ).json()
    assert active["enforcement"] == []
    _wait_for(lambda: any(e["event"] == "reversal" for e in world.platform.events), "the reversal webhook")
    assert world.platform.refused == 0
    history = [e.action for e in state.queue.history(case_id)]
    assert {"opened", "viewed", "decided", "report_sent", "appealed", "appeal_upheld"} <= set(history), history


def test_an_unverified_list_neither_blocks_nor_reports_without_review(world: World) -> None:
    state = world.state
    _wait_for(lambda: state.keeper.status().get("loaded", False) is True, "the index to load")
    scanned = _scan(world, _edited_copy(_photo(7)), "post-7", "acct-3")
    actions = scanned["actions"]
    assert isinstance(actions, dict)
    assert actions["block"] is False
    assert any("unverified" in reason for reason in actions["withheld"])
    case = state.queue.get(actions["review_case_id"])
    assert case.verified is False and case.is_open
    assert not world.ncmec.reports
    assert state.enforcement.active(content_id="post-7") == []
