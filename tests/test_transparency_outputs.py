"""Transparency report outputs: HTML with charts and numbers, PDF pages, and the CLI and API agreeing."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from test_service_support import Service, make_settings, running_service
from transparency_scenario import END, START, seed
from typer.testing import CliRunner

from brightline.cli import app
from brightline.privacy.transparency import Period
from brightline.privacy.transparency_html import render_html
from brightline.privacy.transparency_pdf import render_pdf
from brightline.privacy.transparency_source import build_transparency_report
from brightline.settings import Settings
from brightline.store.db import Database

pytest_plugins = ("test_service_support",)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    """One seeded SQLite database (the numbers are checked on both backends in test_transparency)."""
    db = Database(f"sqlite:///{tmp_path / 'report.db'}")
    db.upgrade()
    seed(db)
    return db


def _report(db: Database, tmp_path: Path) -> Any:
    settings = Settings(environment="test", data_dir=tmp_path)
    return build_transparency_report(db, Period(START, END), settings, now=datetime(2026, 1, 5, tzinfo=UTC))


def test_html_inlines_four_charts_and_shows_the_numbers(sqlite_db: Database, tmp_path: Path) -> None:
    html = render_html(_report(sqlite_db, tmp_path))
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/svg\+xml;base64,', html)) == 4
    # No external assets: nothing is fetched when the page opens or prints.
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "@page { size: A4" in html and "break-before: page" in html
    text = re.sub(r"<[^>]+>", " ", html)
    assert re.search(r"ncmec-hashes\s+csam\s+3\s+3\s+3\s+0\s+1\s+1\s+33\.3%", text)  # the overturned match
    assert re.search(r"hotline-list\s+csam\s+1\s+0\s+0\s+0\s+0\s+0\s+n/a", text)
    assert re.search(r"cybertipline\s+2\s+1", text)
    assert re.search(r"time to review\s+6\s+80\.0 min\s+75\.0 min", text)
    assert "50.0%" in text and "error rate" in text


def test_pdf_has_text_and_chart_pages(sqlite_db: Database, tmp_path: Path) -> None:
    pdf = render_pdf(_report(sqlite_db, tmp_path))
    assert pdf.startswith(b"%PDF")
    pages = int(re.findall(rb"/Type /Pages\s*/Kids \[[^\]]*\]\s*/Count (\d+)", pdf)[0])
    assert pages >= 4  # at least two text pages and two chart pages


def _cli(tmp_path: Path, database_url: str, *args: str) -> Any:
    env = {"BRIGHTLINE_DATA_DIR": str(tmp_path / "data"), "BRIGHTLINE_DATABASE_URL": database_url}
    return CliRunner().invoke(app, ["transparency", "report", *args], env=env, catch_exceptions=False)


def test_cli_writes_each_format(sqlite_db: Database, tmp_path: Path) -> None:
    url = sqlite_db.url.render_as_string(hide_password=False)
    shown = _cli(tmp_path, url, "--from", "2025-01-01", "--to", "2025-12-31")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["error_rates"]["overall"]["error_rate"] == 0.5
    for fmt, magic in (("html", b"<!doctype html>"), ("pdf", b"%PDF")):
        out = tmp_path / f"report.{fmt}"
        result = _cli(tmp_path, url, "--from", "2025-01-01", "--to", "2025-12-31", "--format", fmt, "-o", str(out))
        assert result.exit_code == 0, result.output
        assert out.read_bytes().startswith(magic)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2025-13-01"), "--from must be a date"),
        (("--from", "2025-02-01", "--to", "2025-01-01"), "before it starts"),
        (("--format", "docx"), "unknown transparency report format"),
    ],
)
def test_cli_refuses_bad_input(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = _cli(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}", *args)
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.fixture
async def seeded_service(tmp_path: Path, anyio_backend: str) -> AsyncIterator[Service]:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    db = Database(url)
    db.upgrade()
    seed(db)
    db.dispose()
    async for running in running_service(make_settings(tmp_path, url)):
        yield running


@pytest.mark.anyio
async def test_api_and_cli_return_the_same_json(seeded_service: Service, tmp_path: Path) -> None:
    service = seeded_service
    query = {"from": "2025-01-01", "to": "2025-12-31"}
    response = await service.client.get("/v1/transparency", params=query, headers=service.auth("admin"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    from_api = response.json()
    url = service.state.db.url.render_as_string(hide_password=False)
    from_cli = json.loads(_cli(tmp_path, url, "--from", "2025-01-01", "--to", "2025-12-31").stdout)
    # Only the time each was generated differs.
    assert from_api.pop("generated_at") and from_cli.pop("generated_at")
    assert from_api == from_cli
    assert from_api["appeals"]["upheld"] == 1
    html = await service.client.get(
        "/v1/transparency", params=query | {"format": "html"}, headers=service.auth("admin")
    )
    assert html.headers["content-type"].startswith("text/html") and "Transparency report" in html.text
    pdf = await service.client.get("/v1/transparency", params=query | {"format": "pdf"}, headers=service.auth("admin"))
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    bad = await service.client.get(
        "/v1/transparency", params={"from": "2025-02-01", "to": "2025-01-01"}, headers=service.auth("admin")
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_error"
