"""Shared helpers for the service tests: an in-process app with one API key per scope, and photos."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from brightline.auth import SCOPES
from brightline.service.app import create_app
from brightline.service.state import ServiceState
from brightline.settings import Settings


@dataclass
class Service:
    """A running app, its state and an HTTP client, with one token per scope."""

    app: FastAPI
    state: ServiceState
    client: httpx.AsyncClient
    tokens: dict[str, str]

    def auth(self, scope: str) -> dict[str, str]:
        """Headers carrying the key that holds only ``scope``."""
        return {"Authorization": f"Bearer {self.tokens[scope]}"}

    def key_without(self, scope: str) -> dict[str, str]:
        """Headers carrying a key with every scope except ``scope`` (and never admin)."""
        others = [s for s in SCOPES if s not in (scope, "admin")]
        token, _ = self.state.keys.create(f"all-but-{scope.replace(':', '-')}", others)
        return {"Authorization": f"Bearer {token}"}


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    """Test settings on a private data dir and the given database."""
    values: dict[str, object] = {
        "environment": "test",
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "index_refresh_seconds": 0.05,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def running_service(settings: Settings) -> AsyncIterator[Service]:
    """Start an app (lifespan included) and yield it with a client; stop it afterwards."""
    app = create_app(settings)
    state = app.state.brightline
    tokens = {scope: state.keys.create(f"only-{scope.replace(':', '-')}", [scope])[0] for scope in SCOPES}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Service(app=app, state=state, client=client, tokens=tokens)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def service(tmp_path: Path, database_url: str, anyio_backend: str) -> AsyncIterator[Service]:
    async for running in running_service(make_settings(tmp_path, database_url)):
        yield running


@pytest.fixture
def photos(shared_dir: Path) -> list[bytes]:
    """The kodak24 photos as bytes (benign stand-ins for known media)."""
    return [p.read_bytes() for p in sorted((shared_dir / "corpus" / "kodak24").iterdir())[:6]]


def upload(data: bytes, name: str = "photo.png", content_type: str = "image/png") -> dict[str, tuple[str, bytes, str]]:
    """The ``files`` argument for a one-file multipart upload."""
    return {"file": (name, data, content_type)}


def bank_with_photo(service: Service, photo: bytes, name: str = "known") -> list[int]:
    """Create a bank holding the photo's pdq, md5 and sha256; return the entry ids."""
    from brightline.banks import EntryInput
    from brightline.signals.hashing import HashOptions, hash_bytes

    hashes = hash_bytes(photo, HashOptions(exact=True))
    service.state.banks.create_bank(name)
    entries = [EntryInput(t, v, source="test") for t, v in hashes.signals().items()]
    service.state.banks.add_entries(name, entries)
    service.state.keeper.refresh()
    return [e.id for e in service.state.banks.list_entries(name)]
