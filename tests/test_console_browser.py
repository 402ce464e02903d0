"""The reviewer console in a real headless browser (Debian's Chromium driven by Playwright).

Logs in, opens an item, checks its media is the blurred greyscale rendering, reveals it with the
keyboard shortcut, confirms it with a classification and sees the queue shrink. Screenshots go
to build/test-artifacts/console-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, shared_path
from console_support import PASSWORD, chromium_path, detailed_image, make_app, queue_photo, serve_app

from brightline.service.state import ServiceState

ARTIFACTS = ROOT / "build" / "test-artifacts"
# Per pixel of the media as the browser decoded it: largest difference between colour channels.
_CHANNEL_SPREAD_JS = """(img) => {
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let spread = 0;
  for (let i = 0; i < data.length; i += 4) {
    spread = Math.max(spread, Math.abs(data[i] - data[i + 1]), Math.abs(data[i + 1] - data[i + 2]));
  }
  return spread;
}"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, ServiceState]]:
    """The app served by uvicorn on a free local port in a background thread."""
    app, state = make_app(tmp_path)
    with serve_app(app) as base:
        yield base, state


def _photo(index: int) -> bytes:
    """A benign photo from shared/ (kodak24) when present, else a generated one."""
    folder = shared_path() / "corpus" / "kodak24"
    photos = sorted(folder.iterdir()) if folder.is_dir() else []
    return photos[index].read_bytes() if len(photos) > index else detailed_image(index)


def test_log_in_reveal_confirm_and_see_the_queue_shrink(served: tuple[str, ServiceState]) -> None:
    executable = chromium_path()
    from playwright.sync_api import expect, sync_playwright

    base, state = served
    urgent = queue_photo(state, _photo(2), account="acct-7", content="post-17", domain="csam", distance=3)
    queue_photo(state, _photo(5), account="acct-9", content="post-23", domain="other", distance=18)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/console/queue")
            expect(page).to_have_url(f"{base}/console/login")
            page.fill('input[name="username"]', "alice")
            page.fill('input[name="password"]', PASSWORD)
            page.click('button[type="submit"]')
            expect(page.locator("#pending-count")).to_have_text("2 pending")
            page.screenshot(path=str(ARTIFACTS / "console-queue.png"), full_page=True)

            page.locator(f'tr[data-case="{urgent.id}"] button.claim').click()
            expect(page).to_have_url(f"{base}/console/cases/{urgent.id}")
            media = page.locator("#case-media")
            expect(media).to_have_attribute("src", f"/console/cases/{urgent.id}/media?view=blurred")
            # Not wait_for_function: its polling evaluates a string, which the console's CSP forbids.
            expect(media).to_have_js_property("complete", True)
            assert media.evaluate("img => img.naturalWidth") > 0
            assert media.evaluate(_CHANNEL_SPREAD_JS) <= 2  # greyscale: no colour reached the browser
            page.screenshot(path=str(ARTIFACTS / "console-item-blurred.png"), full_page=True)
            assert not state.queue.get(urgent.id).media_viewed

            page.keyboard.press("r")  # the reveal shortcut
            expect(media).to_have_attribute("src", f"/console/cases/{urgent.id}/media?view=clear")
            # Not wait_for_function: its polling evaluates a string, which the console's CSP forbids.
            expect(media).to_have_js_property("complete", True)
            assert media.evaluate(_CHANNEL_SPREAD_JS) > 20  # the photo, in colour
            assert state.queue.get(urgent.id).media_viewed
            page.screenshot(path=str(ARTIFACTS / "console-item-revealed.png"), full_page=True)

            page.select_option("#classification", "A1")
            page.click("#confirm-button")
            expect(page.locator("#pending-count")).to_have_text("1 pending")
            expect(page.locator(f'tr[data-case="{urgent.id}"]')).to_have_count(0)
            page.screenshot(path=str(ARTIFACTS / "console-queue-after.png"), full_page=True)
        finally:
            browser.close()
    decided = state.queue.get(urgent.id)
    assert (decided.status, decided.classification, decided.media_viewed) == ("confirmed", "A1", True)
