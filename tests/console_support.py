"""Shared helpers for the console tests: an app on a private SQLite file, reviewers and a queued benign photo."""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from PIL import Image

from brightline.banks import EntryInput
from brightline.errors import BankNotFoundError
from brightline.review.types import CaseHit, CaseInfo
from brightline.service.app import create_app
from brightline.service.state import ServiceState
from brightline.settings import Settings
from brightline.store.models import match_events_table, scan_records_table

PASSWORD = "benign-test-pass"


def make_app(tmp_path: Path, **overrides: object) -> tuple[FastAPI, ServiceState]:
    """A console-ready app on its own SQLite file, with a reviewer 'alice' and an admin 'root'."""
    values: dict[str, object] = {
        "environment": "test",
        "data_dir": tmp_path / "data",
        "database_url": f"sqlite:///{tmp_path / 'console.db'}",
        "index_refresh_seconds": 0.2,
    }
    values.update(overrides)
    app = create_app(Settings(**values))  # type: ignore[arg-type]
    state: ServiceState = app.state.brightline
    state.reviewers.create("alice", PASSWORD, display_name="Alice")
    state.reviewers.create("root", PASSWORD, role="admin")
    return app, state


def detailed_image(seed: int = 7, size: tuple[int, int] = (384, 256)) -> bytes:
    """A colourful, sharp-edged generated photo stand-in (JPEG): lots of detail for a blur to remove."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    pixels = np.kron(blocks, np.ones((8, 8, 1), dtype=np.uint8))
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, format="JPEG", quality=92)
    return out.getvalue()


def queue_photo(
    state: ServiceState,
    data: bytes,
    *,
    account: str = "acct-1",
    content: str = "post-1",
    domain: str = "csam",
    distance: int = 4,
    media_type: str = "image/jpeg",
) -> CaseInfo:
    """Record a matched scan of ``data`` with its evidence and open a review case for it."""
    bank = f"known-{domain}"
    try:
        state.banks.get_bank(bank)
    except BankNotFoundError:
        state.banks.create_bank(bank, domain=domain)
    state.banks.add_entries(bank, [EntryInput(signal_type="pdq", value=f"{distance:02x}" * 32, category="A1")])
    entry = state.banks.list_entries(bank)[-1]
    with state.db.write_connection() as conn:
        scan_id = conn.execute(
            sa.insert(scan_records_table)
            .values(content_type="image", content_id=content, account_id=account, source="uploads", pdq="0" * 64)
            .returning(scan_records_table.c.id)
        ).scalar_one()
        conn.execute(
            sa.insert(match_events_table).values(
                scan_id=scan_id,
                bank_name=bank,
                entry_id=entry.id,
                signal_type="pdq",
                distance=distance,
                variant="plain",
                account_id=account,
            )
        )
    assert state.evidence is not None
    state.evidence.put(scan_id, data, media_type=media_type, actor="test")
    hit = CaseHit(bank=bank, domain=domain, category="A1", signal_type="pdq", entry_id=entry.id, distance=distance)
    return state.queue.open_case(scan_id=scan_id, account_id=account, content_id=content, hits=[hit])


def chromium_path() -> str:
    """Debian's Chromium for Playwright: skipped when missing, except under CI where that is a failure."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {message}")
        pytest.skip(message)
    return path


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_app(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free local port in a background thread; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", loop="asyncio", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="console-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the console server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
