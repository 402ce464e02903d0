"""brightline's robust matching as an evaluation method: the same rules the Matcher applies.

A pair (query, known) scores the smallest of:
- the plain-PDQ distance from the query's plain hash (its 8 dihedral variants with
  ``dihedral``) and its border-trimmed hash to the known photo's plain hash;
- the distance from the query's plain hash to the closest of the known photo's crops;
- the PARTS_NEEDED-th smallest distance between same-named parts (halves and quarters).
Regions below the quality floor never match, as in RegionIndex. A test checks that the
Matcher finds exactly the pairs this scores within the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt

from brightline.evaluation.methods import (
    Codes,
    HashRecord,
    KnownRecord,
    MethodOptions,
    QueryRecord,
    Scores,
    register_method,
)
from brightline.signals.hashing import HashOptions, hash_bytes
from brightline.signals.hexcodes import hex_to_words
from brightline.signals.regions import CROPS, PARTS, PARTS_NEEDED
from brightline.signals.regions_signal import decode_regions

_NO_CODE = "0" * 64
_ROWS_PER_CHUNK = 512


@dataclass(frozen=True, kw_only=True)
class RegionRecord(HashRecord):
    """``codes``: the whole-image hashes (plain, dihedral, trimmed); plus crops and parts with validity masks."""

    crops: Codes
    crops_ok: npt.NDArray[np.bool_]
    parts: Codes
    parts_ok: npt.NDArray[np.bool_]


def _named(value: str, names: Sequence[str], floor: int) -> tuple[Codes, npt.NDArray[np.bool_]]:
    """Codes for ``names`` in order from a pdq_regions value (missing or below ``floor``: masked out)."""
    found = {r.name: r for r in decode_regions(value)} if value else {}
    codes = hex_to_words([found[n].pdq if n in found else _NO_CODE for n in names])
    ok = np.array([n in found and found[n].quality >= floor for n in names], dtype=np.bool_)
    return codes, ok


class BrightlineMethod:
    """PDQ with border trimming, crop hashes and part hashes (optionally dihedral), as brightline matches."""

    max_distance = 256
    default_threshold = 31

    def __init__(self, options: MethodOptions, *, dihedral: bool) -> None:
        self.name = "brightline-dihedral" if dihedral else "brightline"
        self.dihedral = dihedral
        self.min_quality = options.min_quality

    def hash_known(self, data: bytes) -> KnownRecord:
        """Plain PDQ plus crops and parts, on the exact decode path (as `bank add` stores them)."""
        hashes = hash_bytes(data, HashOptions(exact=True, regions="known"))
        crops, crops_ok = _named(hashes.regions, CROPS, self.min_quality)
        parts, parts_ok = _named(hashes.regions, PARTS, self.min_quality)
        return RegionRecord(
            codes=hex_to_words([hashes.pdq]),
            quality=hashes.quality,
            crops=crops,
            crops_ok=crops_ok,
            parts=parts,
            parts_ok=parts_ok,
        )

    def hash_query(self, data: bytes) -> QueryRecord:
        """Plain (or dihedral) PDQ, the trimmed PDQ and the parts, on the fast path (as a scan computes them)."""
        hashes = hash_bytes(data, HashOptions(dihedral=self.dihedral, regions="query"))
        values = list(hashes.pdq_dihedral) if self.dihedral else [hashes.pdq]
        if hashes.pdq_trimmed:
            values.append(hashes.pdq_trimmed)
        parts, parts_ok = _named(hashes.regions, PARTS, self.min_quality)
        return RegionRecord(
            codes=hex_to_words(values),
            quality=hashes.quality,
            crops=np.zeros((0, 4), dtype=np.uint64),
            crops_ok=np.zeros(0, dtype=np.bool_),
            parts=parts,
            parts_ok=parts_ok,
        )

    def scores(self, queries: Sequence[QueryRecord], known: Sequence[KnownRecord]) -> Scores:
        """(Q, K) scores by the rules in the module docstring."""
        no_match = self.max_distance + 1
        out = np.full((len(queries), len(known)), no_match, dtype=np.int32)
        if not queries or not known:
            return out
        q = [cast(RegionRecord, r) for r in queries]
        k = [cast(RegionRecord, r) for r in known]
        k_plain = np.stack([r.codes[0] for r in k])  # (K, 4)
        k_crops = np.stack([r.crops for r in k])  # (K, C, 4)
        k_crops_ok = np.stack([r.crops_ok for r in k])
        k_parts = np.stack([r.parts for r in k])  # (K, P, 4)
        k_parts_ok = np.stack([r.parts_ok for r in k])
        k_good = np.array([r.quality >= self.min_quality for r in k])
        for start in range(0, len(q), _ROWS_PER_CHUNK):
            block = q[start : start + _ROWS_PER_CHUNK]
            out[start : start + len(block)] = self._block(block, k_plain, k_crops, k_crops_ok, k_parts, k_parts_ok)
        out[:, ~k_good] = no_match
        out[np.array([r.quality < self.min_quality for r in q]), :] = no_match
        return out

    def _block(
        self,
        q: Sequence[RegionRecord],
        k_plain: Codes,
        k_crops: Codes,
        k_crops_ok: npt.NDArray[np.bool_],
        k_parts: Codes,
        k_parts_ok: npt.NDArray[np.bool_],
    ) -> Scores:
        big = np.int32(self.max_distance + 1)
        best = np.full((len(q), k_plain.shape[0]), big, dtype=np.int32)
        variants = max(r.codes.shape[0] for r in q)
        whole = np.stack([np.concatenate([r.codes, np.repeat(r.codes[:1], variants - len(r.codes), 0)]) for r in q])
        for v in range(variants):  # plain, dihedral and trimmed hashes vs the plain hash
            np.minimum(best, _popcount(whole[:, v, None, :] ^ k_plain[None, :, :]), out=best)
        plain = whole[:, 0, :]  # the query's own plain hash vs each crop
        for c in range(k_crops.shape[1]):
            distance = _popcount(plain[:, None, :] ^ k_crops[None, :, c, :])
            np.minimum(best, np.where(k_crops_ok[None, :, c], distance, big), out=best)
        q_parts = np.stack([r.parts for r in q])
        q_parts_ok = np.stack([r.parts_ok for r in q])
        per_part = np.stack(
            [
                np.where(
                    q_parts_ok[:, None, p] & k_parts_ok[None, :, p],
                    _popcount(q_parts[:, None, p, :] ^ k_parts[None, :, p, :]),
                    big,
                )
                for p in range(len(PARTS))
            ]
        )
        deciding = np.partition(per_part, PARTS_NEEDED - 1, axis=0)[PARTS_NEEDED - 1]
        np.minimum(best, deciding.astype(np.int32), out=best)
        return best


def _popcount(words: Codes) -> Scores:
    counted: Scores = np.bitwise_count(words).sum(axis=-1, dtype=np.int32)
    return counted


register_method(
    "brightline",
    lambda o: BrightlineMethod(o, dihedral=False),
    "PDQ + border trimming + crop hashes + part hashes (brightline's matching)",
)
register_method(
    "brightline-dihedral",
    lambda o: BrightlineMethod(o, dihedral=True),
    "brightline plus the query's 8 dihedral variants",
)
