"""Search indexes: exactness against brute force, updates, persistence, damaged files."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from brightline.errors import IndexFormatError, InvalidSignalValueError, SearchIndexError, ValidationError
from brightline.index import ExactIndex, HammingIndex, IndexHit, index_for, load_index
from brightline.index import hamming as hamming_module
from brightline.index import segment as segment_module
from brightline.index import storage as storage_module
from brightline.signals.cryptographic import Md5Signal, Sha256Signal
from brightline.signals.hexcodes import words_to_hex
from brightline.signals.pdq import PdqSignal

RADII = [0, 10, 31, 64, 100, 120]
STRATEGIES = ["linear", "mih", "auto"]


def random_hex(rng: np.random.Generator, n: int, bits: int = 256) -> list[str]:
    """n uniformly random codes."""
    return words_to_hex(rng.integers(0, 2**64, size=(n, bits // 64), dtype=np.uint64))


def flip(value: str, count: int, rng: np.random.Generator) -> str:
    """``value`` with ``count`` distinct random bits flipped."""
    bits = len(value) * 4
    mask = 0
    for bit in rng.choice(bits, size=count, replace=False):
        mask |= 1 << int(bit)
    return format(int(value, 16) ^ mask, f"0{len(value)}x")


def clustered_hex(rng: np.random.Generator, centres: int, per_centre: int, max_flips: int) -> list[str]:
    """Codes packed around a few centres, each 0..max_flips bits away from its centre."""
    out = []
    for centre in random_hex(rng, centres):
        out.append(centre)
        out += [flip(centre, int(rng.integers(0, max_flips + 1)), rng) for _ in range(per_centre - 1)]
    return out


def brute_force(codes: list[str], ids: list[int], query: str, radius: int) -> list[IndexHit]:
    """Reference answer: Python int popcount over every entry."""
    q = int(query, 16)
    hits = [IndexHit(i, (int(c, 16) ^ q).bit_count()) for i, c in zip(ids, codes, strict=True)]
    return sorted((h for h in hits if h.distance <= radius), key=lambda h: (h.distance, h.entry_id))


def make_queries(rng: np.random.Generator, codes: list[str], bits: int = 256) -> list[str]:
    """Stored codes, perturbed copies at assorted distances, and unrelated codes."""
    picks = [codes[int(i)] for i in rng.integers(0, len(codes), 12)]
    return (
        picks[:4]
        + [flip(c, k, rng) for c, k in zip(picks[4:], (1, 5, 9, 16, 24, 31, 40, 60), strict=True)]
        + (random_hex(rng, 4, bits))
    )


@pytest.fixture(autouse=True)
def small_mih_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let 'auto' build MIH tables on test-sized indexes so its MIH/linear choice is exercised."""
    monkeypatch.setattr(hamming_module, "MIH_MIN_ROWS", 256)


# --- exactness ------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("kind", ["random", "clustered"])
def test_search_matches_brute_force(strategy: str, kind: str) -> None:
    rng = np.random.default_rng(1 if kind == "random" else 2)
    codes = random_hex(rng, 3000) if kind == "random" else clustered_hex(rng, 6, 400, 40)
    ids = [int(i) for i in rng.permutation(10 * len(codes))[: len(codes)]]
    index = HammingIndex(strategy=strategy)  # type: ignore[arg-type]
    index.add(ids, codes)
    queries = make_queries(rng, codes)
    for radius in RADII:
        for query in queries:
            assert index.search(query, radius) == brute_force(codes, ids, query, radius), (radius, query)


@pytest.mark.parametrize("bits", [64, 128, 192])
@pytest.mark.parametrize("strategy", ["linear", "mih"])
def test_other_widths_match_brute_force(bits: int, strategy: str) -> None:
    rng = np.random.default_rng(bits)
    codes = random_hex(rng, 800, bits)
    ids = list(range(len(codes)))
    index = HammingIndex(bits=bits, strategy=strategy)  # type: ignore[arg-type]
    index.add(ids, codes)
    for radius in (0, 3, bits // 4, bits // 2):
        for query in make_queries(rng, codes, bits):
            assert index.search(query, radius) == brute_force(codes, ids, query, radius)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_search_many_equals_repeated_search(strategy: str) -> None:
    rng = np.random.default_rng(3)
    codes = clustered_hex(rng, 4, 300, 30) + random_hex(rng, 1500)
    index = HammingIndex(strategy=strategy, threads=2)  # type: ignore[arg-type]
    index.add(range(len(codes)), codes)
    queries = make_queries(rng, codes) * 3
    for radius in RADII:
        assert index.search_many(queries, radius) == [index.search(q, radius) for q in queries]
    assert index.search_many([], 31) == []


def test_radius_at_least_bits_returns_everything() -> None:
    rng = np.random.default_rng(4)
    codes = random_hex(rng, 50)
    index = HammingIndex()
    index.add(range(50), codes)
    assert sorted(h.entry_id for h in index.search(codes[0], 256)) == list(range(50))
    assert len(index.search(codes[0], 1000)) == 50


# --- updates --------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_add_replace_remove_len_contains(strategy: str) -> None:
    rng = np.random.default_rng(5)
    a, b, c = random_hex(rng, 3)
    index = HammingIndex(strategy=strategy)  # type: ignore[arg-type]
    assert len(index) == 0
    assert 1 not in index
    index.add([1, 2], [a, b])
    assert len(index) == 2
    assert 1 in index
    assert 2 in index
    assert 3 not in index
    assert "1" not in index
    assert 2**70 not in index
    index.add([1], [c])  # replace: a is gone, c is found under id 1
    assert len(index) == 2
    assert index.search(a, 0) == []
    assert index.search(c, 0) == [IndexHit(1, 0)]
    assert index.remove([1, 99, 1]) == 1
    assert len(index) == 1
    assert 1 not in index
    assert index.search(c, 0) == []
    assert index.remove([1]) == 0
    assert index.ids().tolist() == [2]


def test_duplicate_ids_in_one_add_keep_the_last_value() -> None:
    rng = np.random.default_rng(6)
    a, b = random_hex(rng, 2)
    index = HammingIndex()
    index.add([7, 7], [a, b])
    assert len(index) == 1
    assert index.search(b, 0) == [IndexHit(7, 0)]
    assert index.search(a, 0) == []


def test_many_single_adds_and_removes_stay_consistent() -> None:
    rng = np.random.default_rng(7)
    codes = random_hex(rng, 6000)
    index = HammingIndex(strategy="mih")
    for i, code in enumerate(codes):
        index.add([i], [code])  # exercises the id map's pending dict and its merges
    assert len(index) == 6000
    assert index.remove(range(0, 6000, 3)) == 2000
    assert len(index) == 4000
    assert 3 not in index
    assert 4 in index
    assert index.search(codes[4], 0) == [IndexHit(4, 0)]
    assert index.search(codes[3], 0) == []


def test_bulk_add_over_pending_single_adds() -> None:
    rng = np.random.default_rng(11)
    codes = random_hex(rng, 6001)
    index = HammingIndex()
    index.add([0, 1], codes[:2])  # pending in the id map
    index.add(range(1, 6001), codes[1:])  # bulk: merged, id 1 replaced by the same value
    index.add([2], [codes[0]])  # id 2 now shares code 0 with id 0
    assert len(index) == 6001
    assert index.search(codes[0], 0) == [IndexHit(0, 0), IndexHit(2, 0)]
    assert index.search(codes[2], 0) == []
    assert index.remove(np.arange(-5, 7000)) == 6001
    assert len(index) == 0


def test_tombstones_compact_past_a_quarter_dead() -> None:
    rng = np.random.default_rng(8)
    codes = random_hex(rng, 100)
    index = HammingIndex()
    index.add(range(100), codes)
    index.remove(range(25))  # exactly 25%: kept as tombstones
    assert index._rows == 100
    assert index._dead == 25
    index.remove([25])  # past 25%: compacted
    assert index._rows == 74
    assert index._dead == 0
    assert len(index) == 74
    assert 25 not in index
    assert 26 in index
    assert index.search(codes[50], 0) == [IndexHit(50, 0)]
    assert index.search(codes[10], 0) == []


def test_rows_added_after_mih_build_are_found() -> None:
    rng = np.random.default_rng(9)
    codes = random_hex(rng, 3000)
    index = HammingIndex(strategy="mih")
    index.add(range(2000), codes[:2000])
    assert index.search(codes[5], 0) == [IndexHit(5, 0)]  # builds tables over 2000 rows
    index.add(range(2000, 2300), codes[2000:2300])  # a tail, scanned linearly
    index.add([5], [codes[2500]])  # replaces a row the tables cover
    assert index._mih is not None
    assert index._mih.rows == 2000
    assert index.search(codes[2100], 0) == [IndexHit(2100, 0)]
    assert index.search(codes[5], 0) == []
    assert index.search(codes[2500], 0) == [IndexHit(5, 0)]
    near = flip(codes[2200], 12, rng)
    assert index.search_many([near], 31) == [brute_force(codes[:2300], list(range(2300)), near, 31)]


# --- persistence ----------------------------------------------------------------------


def saved_index(tmp_path: Path, n: int = 500) -> tuple[Path, HammingIndex, list[str]]:
    """An index of n random codes saved under tmp_path/'ix'."""
    codes = random_hex(np.random.default_rng(10), n)
    index = HammingIndex()
    index.add(range(100, 100 + n), codes)
    index.remove([100])
    path = tmp_path / "ix"
    index.save(path)
    return path, index, codes


def test_save_load_roundtrip(tmp_path: Path) -> None:
    path, index, codes = saved_index(tmp_path)
    loaded = HammingIndex.load(path)
    assert len(loaded) == len(index) == 499
    assert 100 not in loaded
    assert 101 in loaded
    assert loaded.bits == 256
    assert np.array_equal(loaded.ids(), index.ids())
    for query in codes[:20]:
        assert loaded.search(query, 31) == index.search(query, 31)
    assert not loaded._base.codes.flags.writeable  # memory-mapped
    assert loaded._rows == 0  # nothing in the private delta
    assert loaded._base._mih is not None  # tables read from disk, not built
    assert not loaded._base._mih.order.flags.writeable


def test_loaded_index_copies_on_write(tmp_path: Path) -> None:
    path, _, codes = saved_index(tmp_path)
    loaded = HammingIndex.load(path)
    loaded.add([1], [codes[0]])
    loaded.remove([101])
    assert loaded.search(codes[0], 0) == [IndexHit(1, 0)]
    again = HammingIndex.load(path)  # the files on disk are untouched
    assert again.search(codes[0], 0) == []
    assert 101 in again
    assert len(again) == 499


def test_save_replaces_previous_files(tmp_path: Path) -> None:
    path, index, _ = saved_index(tmp_path)
    index.remove([101])
    index.save(path)
    names = sorted(p.name.split("-")[0] for p in path.iterdir())
    assert names == ["codes", "ids", "meta.json", "mihoffsets", "mihorder"]
    assert len(HammingIndex.load(path)) == 498


def test_loaded_index_can_be_saved_over_its_own_files(tmp_path: Path) -> None:
    path, _, codes = saved_index(tmp_path)
    loaded = HammingIndex.load(path, strategy="mih")
    loaded.remove(range(100, 300))  # past 25% dead: compacts the memory-mapped arrays into memory
    loaded.save(path)
    again = HammingIndex.load(path)
    assert len(again) == 300
    assert again.search(codes[250], 0) == [IndexHit(350, 0)]
    assert loaded.search(codes[250], 0) == [IndexHit(350, 0)]


def test_concurrent_searches_share_one_table_build() -> None:
    rng = np.random.default_rng(12)
    codes = random_hex(rng, 2000)
    index = HammingIndex(strategy="mih")
    index.add(range(2000), codes)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: index.search(codes[i], 0), range(64)))
    assert results == [[IndexHit(i, 0)] for i in range(64)]


def test_empty_index(tmp_path: Path) -> None:
    index = HammingIndex()
    query = "0" * 64
    assert index.search(query, 31) == []
    assert index.search_many([query, query], 31) == [[], []]
    assert index.ids().tolist() == []
    index.save(tmp_path / "empty")
    loaded = HammingIndex.load(tmp_path / "empty")
    assert len(loaded) == 0
    assert loaded.search(query, 64) == []
    loaded.add([3], [query])
    assert loaded.search(query, 0) == [IndexHit(3, 0)]


def _meta(path: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((path / "meta.json").read_text())
    return meta


def _data_file(path: Path, name: str) -> Path:
    return path / str(_meta(path)["files"][name]["file"])


def _rewrite_meta(path: Path, **changes: object) -> None:
    meta = _meta(path)
    meta.update(changes)
    (path / "meta.json").write_text(json.dumps(meta))


def _flip_last_code_byte(path: Path) -> None:
    file = _data_file(path, "codes")
    data = bytearray(file.read_bytes())
    data[-7] ^= 0x10
    file.write_bytes(bytes(data))


def _rewrite_array(path: Path, name: str, change: Callable[[np.ndarray[Any, Any]], object]) -> None:
    """Load array ``name``, change it in place and write it back (its CRCs no longer match)."""
    file = _data_file(path, name)
    array = np.load(file)
    change(array)
    np.save(file, array)


DAMAGE: dict[str, Callable[[Path], object]] = {
    "truncated codes": lambda p: _data_file(p, "codes").write_bytes(_data_file(p, "codes").read_bytes()[:-100]),
    "flipped byte": _flip_last_code_byte,
    "unknown version": lambda p: _rewrite_meta(p, version=99),
    "meta not json": lambda p: (p / "meta.json").write_text("{not json"),
    "meta not an object": lambda p: (p / "meta.json").write_text("[1, 2]"),
    "wrong kind": lambda p: _rewrite_meta(p, kind="exact"),
    "missing ids file": lambda p: _data_file(p, "ids").unlink(),
    "path in file name": lambda p: _rewrite_meta(p, files={**_meta(p)["files"], "codes": {"file": "../x.npy"}}),
    "wrong count": lambda p: _rewrite_meta(p, count=12),
    "bad bits": lambda p: _rewrite_meta(p, bits=100),
    "wrong dtype": lambda p: np.save(_data_file(p, "codes"), np.zeros((499, 4), dtype=np.int32)),
    "not npy": lambda p: _data_file(p, "codes").write_bytes(b"hello"),
    "fortran order": lambda p: np.save(_data_file(p, "codes"), np.asfortranarray(np.zeros((499, 4), dtype=np.uint64))),
    "format 1": lambda p: _rewrite_meta(p, version=1),
    "truncated tables": lambda p: _data_file(p, "mihorder").write_bytes(_data_file(p, "mihorder").read_bytes()[:-8]),
    "flipped table byte": lambda p: _rewrite_array(
        p, "mihorder", lambda a: a.reshape(-1).__setitem__(7, 498 - a[0, 7])
    ),
    "missing tables": lambda p: _rewrite_meta(p, files={k: v for k, v in _meta(p)["files"].items() if k != "mihorder"}),
    "wrong checksum count": lambda p: _rewrite_meta(
        p, files={**_meta(p)["files"], "ids": {**_meta(p)["files"]["ids"], "crc32": [1, 2]}}
    ),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_index_raises_format_error(tmp_path: Path, damage: str) -> None:
    path, _, _ = saved_index(tmp_path)
    DAMAGE[damage](path)
    with pytest.raises(IndexFormatError):
        HammingIndex.load(path)
    with pytest.raises(IndexFormatError):
        load_index(path)


def test_duplicate_ids_on_disk_raise_format_error(tmp_path: Path) -> None:
    path, _, _ = saved_index(tmp_path)
    np.save(_data_file(path, "ids"), np.zeros(499, dtype=np.int64))
    with pytest.raises(IndexFormatError, match="checksum"):
        HammingIndex.load(path)
    with pytest.raises(IndexFormatError, match="duplicate"):
        HammingIndex.load(path, verify=False)


@pytest.mark.parametrize(
    "damage",
    [
        lambda a: a.__setitem__(slice(0, 2), a[1::-1]),  # ids out of order
        lambda a: a.__setitem__(1, a[0]),  # duplicate id
    ],
)
def test_unsorted_or_duplicate_ids_raise_even_without_crc(tmp_path: Path, damage: Callable[[Any], object]) -> None:
    path, _, _ = saved_index(tmp_path)
    _rewrite_array(path, "ids", damage)
    with pytest.raises(IndexFormatError, match="checksum"):
        HammingIndex.load(path)
    with pytest.raises(IndexFormatError, match="sorted or duplicate"):
        HammingIndex.load(path, verify=False)


def test_bad_table_offsets_raise_even_without_crc(tmp_path: Path) -> None:
    path, _, _ = saved_index(tmp_path)
    _rewrite_array(path, "mihoffsets", lambda a: a.__setitem__((2, 100), a[2, 100] + 100))
    with pytest.raises(IndexFormatError, match="offsets"):
        HammingIndex.load(path, verify=False)


def test_checksums_are_per_chunk_and_catch_damage_in_any_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage_module, "_CRC_CHUNK", 1000)
    path, _, codes = saved_index(tmp_path)
    assert len(_meta(path)["files"]["codes"]["crc32"]) == 16  # 499 * 32 bytes in 1000-byte chunks
    assert HammingIndex.load(path, threads=3).search(codes[7], 0) == [IndexHit(107, 0)]
    file = _data_file(path, "codes")
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 1
    file.write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match="checksum"):
        HammingIndex.load(path, threads=3)


def test_missing_index_is_a_search_index_error(tmp_path: Path) -> None:
    with pytest.raises(SearchIndexError):
        HammingIndex.load(tmp_path / "nowhere")
    with pytest.raises(SearchIndexError):
        load_index(tmp_path / "nowhere")


# --- validation -----------------------------------------------------------------------


def test_invalid_arguments_raise_brightline_errors() -> None:
    index = HammingIndex()
    good = "f" * 64
    with pytest.raises(InvalidSignalValueError):
        index.add([1], ["f" * 63])
    with pytest.raises(InvalidSignalValueError):
        index.add([1], ["g" * 64])
    with pytest.raises(InvalidSignalValueError):
        index.add([1], [None])  # type: ignore[list-item]
    with pytest.raises(InvalidSignalValueError):
        index.search("zz", 3)
    with pytest.raises(ValidationError):
        index.add([1, 2], [good])
    with pytest.raises(ValidationError):
        index.add([1.5], [good])  # type: ignore[list-item]
    with pytest.raises(ValidationError):
        index.search(good, -1)
    with pytest.raises(ValidationError):
        index.search(good, True)
    with pytest.raises(ValidationError):
        HammingIndex(bits=100)
    assert len(index) == 0


def test_hex_is_normalised() -> None:
    index = HammingIndex()
    value = "ABCDEF" + "0" * 58
    index.add([1], [value])
    assert index.search(value.lower(), 0) == [IndexHit(1, 0)]
    assert index.search(f"  {value}\n", 0) == [IndexHit(1, 0)]


# --- exact index and factory ----------------------------------------------------------


def test_exact_index_behaviour(tmp_path: Path) -> None:
    index = ExactIndex()
    index.add([3, 1, 2], ["aa", "bb", "aa"])
    assert len(index) == 3
    assert 1 in index
    assert 9 not in index
    assert index.search("aa", 0) == [IndexHit(2, 0), IndexHit(3, 0)]
    assert index.search("aa", 31) == index.search("aa", 0)  # radius never widens equality
    assert index.search("ab", 31) == []
    index.add([3], ["cc"])
    assert index.search("aa", 0) == [IndexHit(2, 0)]
    assert index.search("cc", 0) == [IndexHit(3, 0)]
    assert index.remove([2, 2, 42]) == 1
    assert index.search_many(["aa", "bb", "cc"], 0) == [[], [IndexHit(1, 0)], [IndexHit(3, 0)]]
    assert index.ids().tolist() == [1, 3]
    index.save(tmp_path / "ex")
    loaded = load_index(tmp_path / "ex")
    assert isinstance(loaded, ExactIndex)
    assert loaded.ids().tolist() == [1, 3]
    assert loaded.search("bb", 0) == [IndexHit(1, 0)]
    with pytest.raises(InvalidSignalValueError):
        index.add([5], [""])
    with pytest.raises(ValidationError):
        index.search("aa", -1)
    with pytest.raises(IndexFormatError):
        HammingIndex.load(tmp_path / "ex")


def test_exact_index_empty_roundtrip_and_damage(tmp_path: Path) -> None:
    ExactIndex().save(tmp_path / "ex")
    assert len(ExactIndex.load(tmp_path / "ex")) == 0
    index = ExactIndex()
    index.add([1], ["x" * 32])
    index.save(tmp_path / "ex")
    values = _data_file(tmp_path / "ex", "values")
    values.write_bytes(values.read_bytes()[:-4])
    with pytest.raises(IndexFormatError):
        ExactIndex.load(tmp_path / "ex")


def test_index_for_picks_by_match_kind(tmp_path: Path) -> None:
    pdq = index_for(PdqSignal)
    assert isinstance(pdq, HammingIndex)
    assert pdq.bits == 256
    assert isinstance(index_for(Md5Signal), ExactIndex)
    assert isinstance(index_for(Sha256Signal), ExactIndex)
    pdq.add([1], ["0" * 64])
    pdq.save(tmp_path / "pdq")
    assert isinstance(load_index(tmp_path / "pdq"), HammingIndex)


# --- memory-mapped base and private delta ---------------------------------------------


class Reference:
    """The expected content of an index as a plain dict, searched by brute force."""

    def __init__(self) -> None:
        self.codes: dict[int, str] = {}

    def add(self, index: HammingIndex, ids: list[int], codes: list[str]) -> None:
        index.add(ids, codes)
        self.codes.update(zip(ids, codes, strict=True))

    def remove(self, index: HammingIndex, ids: list[int]) -> None:
        assert index.remove(ids) == len({i for i in ids if i in self.codes})
        for i in ids:
            self.codes.pop(i, None)

    def check(self, index: HammingIndex, queries: list[str]) -> None:
        ids, codes = list(self.codes), list(self.codes.values())
        assert len(index) == len(ids)
        assert index.ids().tolist() == sorted(ids)
        for radius in (0, 12, 31, 64):
            want = [brute_force(codes, ids, q, radius) for q in queries]
            assert [index.search(q, radius) for q in queries] == want, radius
            assert index.search_many(queries, radius) == want, radius


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_changes_after_load_go_to_the_delta_and_stay_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, strategy: str
) -> None:
    monkeypatch.setattr(hamming_module, "_SAVE_CHUNK", 700)  # several gather steps per save
    monkeypatch.setattr(segment_module, "_CHECK_CHUNK", 500)
    rng = np.random.default_rng(20)
    codes = clustered_hex(rng, 4, 300, 30) + random_hex(rng, 1800)
    fresh = random_hex(rng, 400)
    ref = Reference()
    built = HammingIndex(threads=2)
    ref.add(built, list(range(0, 6000, 2)), codes)  # even ids; odd ones are free
    built.save(tmp_path / "ix")
    index = HammingIndex.load(tmp_path / "ix", strategy=strategy, threads=2)  # type: ignore[arg-type]
    base_codes, base_ids = index._base.codes, index._base.ids
    queries = make_queries(rng, codes) + [flip(c, 20, rng) for c in fresh[:6]] + fresh[:3]

    ref.add(index, list(range(1, 401, 2)), fresh[:200])  # new ids: delta
    ref.remove(index, [*range(0, 600, 4), 1, 3, 99_999])  # base ids, delta ids, unknown
    ref.add(index, [0, 8, 5], [fresh[200], codes[4], fresh[201]])  # re-add removed base ids, re-add delta id
    ref.add(index, [10, 12], [fresh[202], codes[6]])  # new value for live base ids (12 keeps its code)
    ref.add(index, [10], [fresh[203]])  # replace a delta row
    ref.check(index, queries)
    assert 4 not in index
    assert 0 in index
    assert index._rows < 300  # changes are private delta rows
    assert index._base.codes is base_codes  # the mapped base was never copied
    assert index._base.ids is base_ids
    assert not base_codes.flags.writeable
    assert index._base.dead == len(range(0, 600, 4)) + 1  # the removed base ids, and 10's old row

    index.save(tmp_path / "ix")  # merge: over the files the base is mapped from
    assert index._rows == 0
    assert index._base.dead == 0
    ref.check(index, queries)
    again = HammingIndex.load(tmp_path / "ix", strategy=strategy)  # type: ignore[arg-type]
    ref.check(again, queries)
    ref.remove(again, [*range(600, 1200, 6), 5, 10])
    ref.add(again, [12, 7, 600], [fresh[300], fresh[301], fresh[302]])
    ref.check(again, queries + fresh[300:303])
    assert again._base.dead > 0


def test_removing_every_base_entry_and_adding_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(21)
    codes = random_hex(rng, 400)
    ref = Reference()
    index = HammingIndex()
    ref.add(index, list(range(400)), codes)
    index.save(tmp_path / "ix")
    loaded = HammingIndex.load(tmp_path / "ix", strategy="mih")
    ref.remove(loaded, list(range(400)))
    ref.check(loaded, codes[:5])
    ref.add(loaded, [3, 1000], [codes[7], codes[3]])
    ref.check(loaded, codes[:8])
    loaded.save(tmp_path / "ix")
    ref.check(HammingIndex.load(tmp_path / "ix"), codes[:8])


def test_small_saved_index_has_no_tables_and_builds_them_lazily(tmp_path: Path) -> None:
    rng = np.random.default_rng(22)
    codes = random_hex(rng, 100)  # below MIH_MIN_ROWS: no tables on disk
    index = HammingIndex()
    index.add(range(100), codes)
    index.save(tmp_path / "ix")
    assert _meta(tmp_path / "ix")["mih"] is False
    loaded = HammingIndex.load(tmp_path / "ix", strategy="mih")
    assert loaded._base._mih is None
    assert loaded.search(codes[9], 0) == [IndexHit(9, 0)]
    assert loaded._base._mih is not None  # built privately, since none were saved


def test_save_then_serve_from_the_written_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(23)
    codes = random_hex(rng, 1000)
    index = HammingIndex()
    index.add(range(1000), codes)
    before = [index.search(c, 31) for c in codes[:10]]
    index.save(tmp_path / "ix")
    assert index._rows == 0
    assert not index._base.codes.flags.writeable
    assert [index.search(c, 31) for c in codes[:10]] == before
