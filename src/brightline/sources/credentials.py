"""Source credentials at rest: AES-256-GCM with the evidence key provider, bound to the source's name.

The database holds base64(nonce || ciphertext) and the id of the key that sealed it, never a
secret in the clear. The associated data names the source, so ciphertext copied from one
source's row to another's fails to open instead of handing one feed another's token.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from brightline.actions.keys import KeyProvider
from brightline.errors import EvidenceError, SourceError, ValidationError

_NONCE_BYTES = 12
_CONTEXT = b"brightline source credentials v1\x00"
MAX_CREDENTIALS = 16
MAX_SECRET_CHARS = 8192


def _associated(source: str) -> bytes:
    return _CONTEXT + source.encode("utf-8")


def check_credentials(credentials: Mapping[str, str]) -> dict[str, str]:
    """Names and values as plain strings, bounded in number and size."""
    if len(credentials) > MAX_CREDENTIALS:
        raise ValidationError(f"at most {MAX_CREDENTIALS} credentials per source")
    clean: dict[str, str] = {}
    for name, value in credentials.items():
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise ValidationError("a credential name must be 1 to 64 characters")
        if not isinstance(value, str) or len(value) > MAX_SECRET_CHARS:
            raise ValidationError(f"credential {name!r} must be text of at most {MAX_SECRET_CHARS} characters")
        clean[name.strip()] = value
    return clean


def seal(keys: KeyProvider, source: str, credentials: Mapping[str, str]) -> tuple[str, str]:
    """(ciphertext as text, key id) for ``credentials``; ("", "") when there are none."""
    clean = check_credentials(credentials)
    if not clean:
        return "", ""
    key_id, key = keys.current_key()
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, json.dumps(clean, sort_keys=True).encode(), _associated(source))
    return base64.b64encode(nonce + sealed).decode("ascii"), key_id


def open_sealed(keys: KeyProvider, source: str, text: str, key_id: str) -> dict[str, str]:
    """The credentials sealed for ``source``; SourceError if the key is gone or the ciphertext was altered."""
    if not text:
        return {}
    try:
        raw = base64.b64decode(text, validate=True)
        key = keys.key(key_id)
        plain = AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated(source))
    except (binascii.Error, ValueError, InvalidTag, EvidenceError):
        # Say which source, never why in detail: the message may be logged.
        raise SourceError(f"the stored credentials of source {source!r} cannot be decrypted") from None
    data = json.loads(plain)
    return {str(k): str(v) for k, v in data.items()}
