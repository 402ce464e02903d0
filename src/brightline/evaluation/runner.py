"""Hash the known photos, their edited copies and the distractors with every method, in parallel."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from brightline.errors import BrightlineError
from brightline.evaluation.corpus import CorpusSplit
from brightline.evaluation.methods import EvalMethod, KnownRecord, MethodUnavailableError, QueryRecord
from brightline.evaluation.transforms import Edit

# What a photo or a copy may raise while decoding/hashing; it is counted, not fatal.
HASH_ERRORS = (BrightlineError, OSError, ValueError, MethodUnavailableError)
Progress = Callable[[int], None]


@dataclass
class HashedCorpus:
    """Every record the metrics need; queries are the copies (in known x edit order) then the distractors."""

    methods: list[EvalMethod]
    edits: list[Edit]
    known_files: list[str]
    distractor_files: list[str]
    copy_owner: npt.NDArray[np.int64]  # (C,) index into known_files
    copy_edit: npt.NDArray[np.int64]  # (C,) index into edits
    known_records: dict[str, list[KnownRecord]]
    query_records: dict[str, list[QueryRecord | None]]  # None: hashing that query failed (never matches)
    failures: list[str] = field(default_factory=list)

    @property
    def copies(self) -> int:
        """Number of edited copies."""
        return int(self.copy_owner.shape[0])


@dataclass
class _KnownResult:
    records: dict[str, KnownRecord] | None
    copies: list[dict[str, QueryRecord | None]]
    errors: list[str]


def _hash_queries(
    methods: Sequence[EvalMethod], data: bytes, label: str, errors: list[str]
) -> dict[str, QueryRecord | None]:
    out: dict[str, QueryRecord | None] = {}
    for method in methods:
        try:
            out[method.name] = method.hash_query(data)
        except HASH_ERRORS as exc:
            out[method.name] = None
            errors.append(f"{label}: {method.name}: {exc}")
    return out


def _decode_rgb(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        # Large wallpapers trip Pillow's decompression-bomb warning; these are our own corpus files.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB")


def _known_task(
    split: CorpusSplit, rel: str, edits: Sequence[Edit], methods: Sequence[EvalMethod], seed: int
) -> _KnownResult:
    errors: list[str] = []
    try:
        data = (split.root / rel).read_bytes()
        records = {m.name: m.hash_known(data) for m in methods}
        image = _decode_rgb(data)
    except HASH_ERRORS as exc:
        return _KnownResult(None, [], [f"{rel}: known photo dropped: {exc}"])
    copies = []
    for edit in edits:
        try:
            copy = edit.apply(image, seed, rel)
        except HASH_ERRORS as exc:
            errors.append(f"{rel} {edit.label}: edit failed: {exc}")
            copies.append(dict.fromkeys((m.name for m in methods), None))
            continue
        copies.append(_hash_queries(methods, copy, f"{rel} {edit.label}", errors))
    return _KnownResult(records, copies, errors)


def _distractor_task(
    split: CorpusSplit, rel: str, methods: Sequence[EvalMethod]
) -> tuple[dict[str, QueryRecord | None], list[str]]:
    errors: list[str] = []
    try:
        data = (split.root / rel).read_bytes()
    except OSError as exc:
        return dict.fromkeys((m.name for m in methods), None), [f"{rel}: {exc}"]
    return _hash_queries(methods, data, rel, errors), errors


def hash_corpus(
    split: CorpusSplit,
    edits: Sequence[Edit],
    methods: Sequence[EvalMethod],
    *,
    seed: int,
    workers: int = 2,
    progress: Progress | None = None,
) -> HashedCorpus:
    """Hash everything with a thread pool (PDQ and Pillow release the GIL); results do not depend on order."""
    advance = progress or (lambda n: None)
    known_results: list[_KnownResult | None] = [None] * len(split.known)
    distractor_results: list[tuple[dict[str, QueryRecord | None], list[str]] | None] = [None] * len(split.distractors)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures: dict[Future[Any], tuple[bool, int]] = {}
        for i, rel in enumerate(split.known):
            futures[pool.submit(_known_task, split, rel, edits, methods, seed)] = (True, i)
        for i, rel in enumerate(split.distractors):
            futures[pool.submit(_distractor_task, split, rel, methods)] = (False, i)
        for future in as_completed(futures):
            is_known, i = futures[future]
            if is_known:
                known_results[i] = future.result()
                advance(1 + len(edits))
            else:
                distractor_results[i] = future.result()
                advance(1)
    return _assemble(split, list(edits), list(methods), known_results, distractor_results)


def _assemble(
    split: CorpusSplit,
    edits: list[Edit],
    methods: list[EvalMethod],
    known_results: Sequence[_KnownResult | None],
    distractor_results: Sequence[tuple[dict[str, QueryRecord | None], list[str]] | None],
) -> HashedCorpus:
    names = [m.name for m in methods]
    known_files: list[str] = []
    known_records: dict[str, list[KnownRecord]] = {n: [] for n in names}
    query_records: dict[str, list[QueryRecord | None]] = {n: [] for n in names}
    owners: list[int] = []
    edit_ids: list[int] = []
    failures: list[str] = []
    for rel, result in zip(split.known, known_results, strict=True):
        assert result is not None  # every future completed
        failures.extend(result.errors)
        if result.records is None:
            continue
        owner = len(known_files)
        known_files.append(rel)
        for n in names:
            known_records[n].append(result.records[n])
        for edit_id, copy in enumerate(result.copies):
            owners.append(owner)
            edit_ids.append(edit_id)
            for n in names:
                query_records[n].append(copy[n])
    for distractor in distractor_results:
        assert distractor is not None
        records, errors = distractor
        failures.extend(errors)
        for n in names:
            query_records[n].append(records[n])
    return HashedCorpus(
        methods=methods,
        edits=edits,
        known_files=known_files,
        distractor_files=list(split.distractors),
        copy_owner=np.asarray(owners, dtype=np.int64),
        copy_edit=np.asarray(edit_ids, dtype=np.int64),
        known_records=known_records,
        query_records=query_records,
        failures=sorted(failures),
    )
