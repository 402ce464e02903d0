"""Matching methods compared by the evaluation: a small protocol, a registry, PDQ and optional baselines.

A method hashes a known photo into a KnownRecord, an uploaded copy into a QueryRecord, and scores
every (query, known) pair at once: lower is more similar, a pair matches iff score <= threshold.
Add one with ``register_method("name", factory, "description")``; ``--signals name`` then runs it.
"""

from __future__ import annotations

import importlib
import io
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt
from PIL import Image

from brightline.signals.hashing import HashOptions, MediaHashes, hash_bytes
from brightline.signals.hexcodes import hex_to_words

Codes = npt.NDArray[np.uint64]
Scores = npt.NDArray[np.int32]


@dataclass(frozen=True)
class HashRecord:
    """One photo's hashes for a method: (n, words) packed binary codes and the hash quality (0..100)."""

    codes: Codes
    quality: int = 100


# Known and query records may differ per method (several codes for a known photo, variants of a
# query); the built-ins and the shared scorer below use HashRecord for both.
KnownRecord = HashRecord
QueryRecord = HashRecord


class EvalMethod(Protocol):
    """A way of matching uploads against known photos, as the evaluation measures it."""

    name: str
    max_distance: int  # scores run 0..max_distance; ROC sweeps every threshold in that range
    default_threshold: int

    def hash_known(self, data: bytes) -> KnownRecord:
        """Hashes stored for a known photo (the file's bytes)."""
        ...

    def hash_query(self, data: bytes) -> QueryRecord:
        """Hashes computed for an uploaded (query) photo."""
        ...

    def scores(self, queries: Sequence[QueryRecord], known: Sequence[KnownRecord]) -> Scores:
        """(Q, K) int32 scores; lower = more similar; a pair matches iff score <= threshold."""
        ...


class MethodUnavailableError(Exception):
    """A method's hashing library is not installed; the evaluation skips it and says why."""


@dataclass(frozen=True)
class MethodOptions:
    """Settings every method factory receives."""

    min_quality: int = 0  # hashes below this quality never match, as in production matching


MethodFactory = Callable[[MethodOptions], EvalMethod]
_REGISTRY: dict[str, tuple[MethodFactory, str]] = {}


def register_method(name: str, factory: MethodFactory, description: str = "") -> None:
    """Make a method available to ``brightline eval --signals NAME`` (a later registration replaces it)."""
    _REGISTRY[name] = (factory, description)


def registered_methods() -> dict[str, str]:
    """Registered method names and their descriptions."""
    return {name: description for name, (_, description) in _REGISTRY.items()}


def create_method(name: str, options: MethodOptions) -> EvalMethod:
    """An instance of a registered method; KeyError if unknown, MethodUnavailableError if not installed."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown method {name!r}; registered: {', '.join(_REGISTRY)}")
    return _REGISTRY[name][0](options)


def hamming_min_scores(
    queries: Sequence[HashRecord],
    known: Sequence[HashRecord],
    *,
    no_match: int,
    min_quality: int = 0,
    chunk_bytes: int = 64 << 20,
) -> Scores:
    """Smallest Hamming distance over all (query code, known code) pairs; ``no_match`` for low quality."""
    out = np.full((len(queries), len(known)), no_match, dtype=np.int32)
    if not queries or not known:
        return out
    q = _stack([r.codes for r in queries])
    k = _stack([r.codes for r in known])
    rows = max(1, chunk_bytes // max(1, k.shape[0] * k.shape[2] * 8))
    for start in range(0, q.shape[0], rows):
        block = q[start : start + rows]
        best = np.full((block.shape[0], k.shape[0]), np.iinfo(np.int32).max, dtype=np.int32)
        for j in range(q.shape[1]):
            for i in range(k.shape[1]):
                xor = block[:, j, None, :] ^ k[None, :, i, :]
                np.minimum(best, np.bitwise_count(xor).sum(axis=2, dtype=np.int32), out=best)
        out[start : start + rows] = best
    low_q = np.array([r.quality < min_quality for r in queries])
    low_k = np.array([r.quality < min_quality for r in known])
    out[low_q, :] = no_match
    out[:, low_k] = no_match
    return out


def _stack(codes: Sequence[Codes]) -> Codes:
    """(N, n_max, words), shorter lists padded by repeating their first code (no effect on a minimum)."""
    n_max = max(c.shape[0] for c in codes)
    padded = [c if c.shape[0] == n_max else np.concatenate([c, np.repeat(c[:1], n_max - c.shape[0], 0)]) for c in codes]
    return np.stack(padded)


_last_hash = threading.local()


def _pdq_hashes(data: bytes, options: HashOptions) -> MediaHashes:
    """hash_bytes, remembering each thread's last call: pdq and pdq-dihedral hash the same upload in turn."""
    last = cast(tuple[bytes, HashOptions, MediaHashes] | None, getattr(_last_hash, "entry", None))
    if last is not None and last[0] is data and last[1] == options:
        return last[2]
    hashes = hash_bytes(data, options)
    _last_hash.entry = (data, options, hashes)
    return hashes


class PdqMethod:
    """brightline's PDQ as deployed: known photos hashed exactly, queries on the fast decode path.

    With ``dihedral`` a query contributes its 8 rotated/flipped variants and scores the minimum.
    """

    max_distance = 256
    default_threshold = 31

    def __init__(self, options: MethodOptions, *, dihedral: bool) -> None:
        self.name = "pdq-dihedral" if dihedral else "pdq"
        self.dihedral = dihedral
        self.min_quality = options.min_quality

    def hash_known(self, data: bytes) -> KnownRecord:
        """The plain PDQ hash, decoded at full size as banks built from media are."""
        hashes = _pdq_hashes(data, HashOptions(exact=True))
        return HashRecord(hex_to_words([hashes.pdq]), hashes.quality)

    def hash_query(self, data: bytes) -> QueryRecord:
        """The plain PDQ hash (fast decode), or all 8 dihedral variants (the first is the plain hash)."""
        hashes = _pdq_hashes(data, HashOptions(dihedral=True))
        values = list(hashes.pdq_dihedral) if self.dihedral else [hashes.pdq]
        return HashRecord(hex_to_words(values), hashes.quality)

    def scores(self, queries: Sequence[QueryRecord], known: Sequence[KnownRecord]) -> Scores:
        """Hamming distances (minimum over the query's variants)."""
        return hamming_min_scores(queries, known, no_match=self.max_distance + 1, min_quality=self.min_quality)


class ImageHashMethod:
    """A 64-bit baseline from the ``imagehash`` package (pHash or dHash), threshold scaled from PDQ's."""

    max_distance = 64
    default_threshold = 8  # PDQ's 31 of 256 bits, scaled to 64 bits

    def __init__(self, kind: str) -> None:
        try:
            module = importlib.import_module("imagehash")
        except ImportError:
            raise MethodUnavailableError("needs the imagehash package: pip install 'brightline[eval]'") from None
        self.name = kind
        self._fn = cast(Callable[[Image.Image], Any], getattr(module, kind))

    def _hash(self, data: bytes) -> HashRecord:
        with Image.open(io.BytesIO(data)) as image:
            value = self._fn(image.convert("RGB"))
        bits = np.asarray(value.hash, dtype=bool).reshape(-1)
        return HashRecord(np.packbits(bits).view(">u8").astype(np.uint64).reshape(1, 1))

    def hash_known(self, data: bytes) -> KnownRecord:
        """The 64-bit hash of the known photo."""
        return self._hash(data)

    def hash_query(self, data: bytes) -> QueryRecord:
        """The 64-bit hash of the query."""
        return self._hash(data)

    def scores(self, queries: Sequence[QueryRecord], known: Sequence[KnownRecord]) -> Scores:
        """Hamming distances over 64 bits."""
        return hamming_min_scores(queries, known, no_match=self.max_distance + 1)


register_method("pdq", lambda o: PdqMethod(o, dihedral=False), "PDQ, plain hash against plain hash")
register_method(
    "pdq-dihedral", lambda o: PdqMethod(o, dihedral=True), "PDQ, the query's 8 dihedral variants vs the plain hash"
)
register_method("phash", lambda o: ImageHashMethod("phash"), "imagehash pHash (64-bit DCT), optional baseline")
register_method("dhash", lambda o: ImageHashMethod("dhash"), "imagehash dHash (64-bit gradient), optional baseline")
