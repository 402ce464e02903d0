"""Exact file digests: MD5 and SHA-256 over the file's bytes."""

from __future__ import annotations

from brightline.signals.base import ExactSignalType


class Md5Signal(ExactSignalType):
    """MD5 of the file bytes, as shared by NCMEC and other hash lists."""

    name = "md5"
    bits = 128
    description = "MD5 digest of the file bytes (exact match only)"


class Sha256Signal(ExactSignalType):
    """SHA-256 of the file bytes."""

    name = "sha256"
    bits = 256
    description = "SHA-256 digest of the file bytes (exact match only)"
