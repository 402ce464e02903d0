"""Multi-index hashing layouts: masks, layout choice, exactness for every layout, snapshot layout checks."""

from __future__ import annotations

import json
from itertools import combinations
from math import comb
from pathlib import Path

import numpy as np
import pytest

from brightline.errors import IndexFormatError
from brightline.index import HammingIndex, IndexHit, mih, mih_kernels
from brightline.index import hamming as hamming_module
from brightline.signals.hexcodes import hex_to_words, words_to_hex


def brute_force(words: np.ndarray, ids: np.ndarray, query: str, radius: int) -> list[IndexHit]:
    """Reference answer with numpy popcounts."""
    q = hex_to_words([query], words.shape[1] * 64)
    dist = np.bitwise_count(words ^ q).sum(axis=1)
    keep = np.flatnonzero(dist <= radius)
    order = np.lexsort((ids[keep], dist[keep]))
    return [IndexHit(int(ids[keep][i]), int(dist[keep][i])) for i in order]


def bank(rng: np.random.Generator, n: int, words: int = 4) -> np.ndarray:
    """Random codes plus tight clusters (hot buckets), shuffled."""
    random = rng.integers(0, 2**64, size=(n // 2, words), dtype=np.uint64)
    centres = rng.integers(0, 2**64, size=(10, words), dtype=np.uint64)
    noise = rng.random((n - n // 2, words * 64)) < 0.04
    flips = np.packbits(noise, axis=1).view(">u8").astype(np.uint64)
    clustered = np.repeat(centres, -(-(n - n // 2) // 10), axis=0)[: n - n // 2] ^ flips
    return np.concatenate([random, clustered])[rng.permutation(n)]


def queries(rng: np.random.Generator, words: np.ndarray) -> list[str]:
    """Stored codes, near copies at assorted distances and unrelated codes."""
    picks = words[rng.integers(0, words.shape[0], 12)]
    out = []
    for i, code in enumerate(picks):
        flips = rng.choice(code.size * 64, size=min(3 * i, code.size * 64), replace=False)
        near = code.copy()
        for bit in flips:
            near[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
        out.append(near)
    out += list(rng.integers(0, 2**64, size=(4, words.shape[1]), dtype=np.uint64))
    return words_to_hex(np.array(out, dtype=np.uint64))


@pytest.mark.parametrize(("width", "rmax"), [(8, 0), (10, 3), (23, 2), (12, 12)])
def test_weight_masks_enumerate_every_mask_by_popcount(width: int, rmax: int) -> None:
    masks, ends = mih_kernels.weight_masks(width, rmax)
    weights = [int(m).bit_count() for m in masks]
    assert weights == sorted(weights)
    assert len(set(masks.tolist())) == masks.size == sum(comb(width, r) for r in range(rmax + 1))
    assert ends.tolist() == [sum(comb(width, r) for r in range(w + 1)) for w in range(rmax + 1)]
    assert all(0 <= m < 1 << width for m in masks.tolist())
    if width == 10:
        expected = {sum(1 << b for b in c) for r in range(4) for c in combinations(range(10), r)}
        assert set(masks.tolist()) == expected


def test_layout_follows_log2_rows_and_bounds_offsets() -> None:
    assert mih.choose_layout(10_000_000, 256) == (11, 23)
    for rows in (1, 300, 20_000, 1_000_000, 10_000_000, 100_000_000):
        tables, width = mih.choose_layout(rows, 256)
        assert tables * width <= 256 and mih.MIN_WIDTH <= width <= mih.MAX_WIDTH
        assert width == mih.MIN_WIDTH or 1 << width <= 4 * rows  # offsets stay within 16 bytes a row
    widths = [mih.choose_layout(rows, 256)[1] for rows in (10_000, 100_000, 1_000_000, 10_000_000)]
    assert widths == sorted(widths)


def test_radii_satisfy_pigeonhole() -> None:
    for tables in (3, 11, 16, 32):
        for radius in range(0, 140, 7):
            radii = mih.radii(radius, tables, 64)
            assert sum(r + 1 for r in radii) == radius + 1
            assert radii == mih_kernels.mih_radii(radius, tables, 64).tolist()


LAYOUTS = [(256, (11, 23)), (256, (12, 21)), (256, (3, 30)), (256, (16, 16)), (128, (5, 25)), (64, (2, 9))]


@pytest.mark.parametrize(("bits", "layout"), LAYOUTS)
def test_every_layout_matches_brute_force(bits: int, layout: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    # Widths that straddle 64-bit words and leave bits unindexed must stay exact.
    monkeypatch.setattr(mih, "choose_layout", lambda rows, b: layout)
    monkeypatch.setattr(hamming_module, "choose_layout", lambda rows, b: layout)
    rng = np.random.default_rng(layout[1])
    words = bank(rng, 3000, bits // 64)
    ids = rng.permutation(100_000)[:3000].astype(np.int64)
    index = HammingIndex(bits, strategy="mih", threads=2)
    index.add(ids, words_to_hex(words))
    qs = queries(rng, words)
    for radius in (0, 4, bits // 8, bits // 8 + 1, bits // 4):
        want = [brute_force(words, ids, q, radius) for q in qs]
        assert [index.search(q, radius) for q in qs] == want, radius
        assert index.search_many(qs, radius) == want, radius
    assert index._mih is not None and (index._mih.tables, index._mih.width) == layout


def test_large_index_loaded_from_disk_matches_brute_force(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    words = bank(rng, 60_000)
    ids = np.arange(60_000, dtype=np.int64) * 3
    index = HammingIndex(threads=2)
    index.add(ids, words_to_hex(words))
    index.save(tmp_path / "ix")
    loaded = HammingIndex.load(tmp_path / "ix")
    meta = json.loads((tmp_path / "ix" / "meta.json").read_text())
    assert (meta["mih_tables"], meta["mih_width"]) == mih.choose_layout(60_000, 256)
    assert loaded._base._mih is not None and loaded._base._mih.width == meta["mih_width"]
    qs = queries(rng, words)
    want = [brute_force(words, ids, q, 31) for q in qs]
    assert [loaded.search(q, 31) for q in qs] == want
    assert loaded.search_many(qs, 31) == want
    # Updates on the loaded index show at once: a delta of new rows and tombstones, no rebuild.
    extra = rng.integers(0, 2**64, size=(2000, 4), dtype=np.uint64)
    loaded.add(np.arange(1, 6001, 3), words_to_hex(extra))
    loaded.remove(ids[:5000])
    all_words, all_ids = np.concatenate([words[5000:], extra]), np.concatenate([ids[5000:], np.arange(1, 6001, 3)])
    qs += words_to_hex(extra[:3])
    assert loaded.search_many(qs, 31) == [brute_force(all_words, all_ids, q, 31) for q in qs]


def _saved(tmp_path: Path) -> Path:
    index = HammingIndex()
    index.add(range(20_000), words_to_hex(np.random.default_rng(3).integers(0, 2**64, (20_000, 4), np.uint64)))
    index.save(tmp_path / "ix")
    return tmp_path / "ix"


def _edit_meta(path: Path, **changes: object) -> None:
    meta = json.loads((path / "meta.json").read_text())
    meta.update(changes)
    (path / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "changes",
    [
        {"version": 2},
        {"mih_width": 17},
        {"mih_tables": 40},
        {"mih_width": 0},
        {"mih_width": "16"},
        {"mih_tables": None},
    ],
)
def test_old_format_or_bad_layout_is_refused(tmp_path: Path, changes: dict[str, object]) -> None:
    path = _saved(tmp_path)
    _edit_meta(path, **changes)
    with pytest.raises(IndexFormatError):
        HammingIndex.load(path)


def test_auto_scans_where_probes_would_cost_more(monkeypatch: pytest.MonkeyPatch) -> None:
    index = HammingIndex()
    assert index._wants_mih(10_000_000, 31, hamming_module.MIH_RATIO_SINGLE)
    assert not index._wants_mih(10_000_000, 90, hamming_module.MIH_RATIO_SINGLE)
    assert not HammingIndex(strategy="mih")._wants_mih(10_000, 200, 1)  # probes would outnumber rows
