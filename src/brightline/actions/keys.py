"""Keys for evidence at rest and for webhook signatures: a KMS-style provider interface and a local one."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from brightline.errors import ConfigurationError, EvidenceError
from brightline.settings import Settings

KEY_BYTES = 32  # AES-256
# HKDF "info" strings: each purpose gets its own key from the one secret, and changing them
# would make old evidence unreadable, so they are fixed forever.
EVIDENCE_CONTEXT = b"brightline evidence key v1"
WEBHOOK_CONTEXT = b"brightline webhook signing v1"


class KeyProvider(Protocol):
    """Hands out data keys by id; a KMS-backed provider would unwrap them on request."""

    def current_key(self) -> tuple[str, bytes]:
        """The id and bytes of the key new evidence is encrypted with."""

    def key(self, key_id: str) -> bytes:
        """The key with id ``key_id``; EvidenceError when this provider does not hold it."""


def key_id_of(key: bytes) -> str:
    """A short public id for ``key``: names it in the database without revealing it."""
    return hashlib.sha256(b"brightline key id\x00" + key).hexdigest()[:16]


def derive_key(secret: str, context: bytes) -> bytes:
    """A 32-byte key for one purpose, derived from the application secret with HKDF-SHA256."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=context)
    return hkdf.derive(secret.encode("utf-8"))


class LocalKeyProvider:
    """Keys held in process memory: the current one plus older ones kept only to decrypt (rotation)."""

    def __init__(self, key: bytes, old_keys: Sequence[bytes] = ()) -> None:
        for candidate in (key, *old_keys):
            if not isinstance(candidate, bytes) or len(candidate) != KEY_BYTES:
                raise ConfigurationError(f"an evidence key must be exactly {KEY_BYTES} bytes")
        self._current = (key_id_of(key), key)
        self._keys = {key_id_of(k): k for k in (*old_keys, key)}

    def __repr__(self) -> str:
        # Never print key bytes, even in a traceback.
        return f"LocalKeyProvider(current={self._current[0]!r}, keys={len(self._keys)})"

    def current_key(self) -> tuple[str, bytes]:
        """The id and bytes of the current key."""
        return self._current

    def key(self, key_id: str) -> bytes:
        """The key called ``key_id``; EvidenceError if it is not one of this provider's."""
        try:
            return self._keys[key_id]
        except KeyError:
            raise EvidenceError(f"evidence key {key_id!r} is not available (was it rotated out?)") from None


def _decode_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError("BRIGHTLINE_EVIDENCE_KEY must be base64 of 32 random bytes") from None
    if len(key) != KEY_BYTES:
        raise ConfigurationError(f"BRIGHTLINE_EVIDENCE_KEY must decode to {KEY_BYTES} bytes, not {len(key)}")
    return key


def key_provider_from_settings(settings: Settings) -> KeyProvider:
    """Evidence keys from settings: evidence_key (comma-separated, newest first) or one derived from secret_key."""
    if not settings.evidence_key.strip():
        return LocalKeyProvider(derive_key(settings.secret_key, EVIDENCE_CONTEXT))
    keys = [_decode_key(part) for part in settings.evidence_key.split(",") if part.strip()]
    return LocalKeyProvider(keys[0], keys[1:])


def webhook_secret_from_settings(settings: Settings) -> bytes:
    """The secret webhook bodies are signed with: webhook_secret, or one derived from secret_key."""
    if settings.webhook_secret:
        return settings.webhook_secret.encode("utf-8")
    return derive_key(settings.secret_key, WEBHOOK_CONTEXT)
