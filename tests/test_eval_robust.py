"""The "brightline" evaluation method scores pairs exactly as the Matcher matches them."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageOps

from brightline.banks import BankService, EntryInput
from brightline.evaluation.methods import MethodOptions, create_method
from brightline.matching import Matcher, MatchOptions
from brightline.signals.hashing import HashOptions, hash_bytes
from brightline.store.db import Database


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def _edits(photo: Image.Image) -> list[Image.Image]:
    w, h = photo.size
    caption = photo.copy()
    ImageDraw.Draw(caption).rectangle((0, int(h * 0.8), w, h), fill=(10, 10, 10))
    return [
        photo,
        ImageOps.expand(photo, border=(0, h // 6, 0, h // 6), fill=(0, 0, 0)),
        photo.crop((w // 20, h // 20, w - w // 20, h - h // 20)),
        photo.crop((w // 10, h // 10, w, h)),
        caption,
        photo.rotate(3),
    ]


@pytest.fixture
def banks(tmp_path: Path) -> Iterator[BankService]:
    db = Database(f"sqlite:///{tmp_path / 'eval.db'}")
    db.upgrade()
    yield BankService(db)
    db.dispose()


@pytest.mark.parametrize("method_name", ["brightline", "brightline-dihedral"])
def test_method_scores_agree_with_the_matcher(shared_dir: Path, banks: BankService, method_name: str) -> None:
    photos = [Image.open(p).convert("RGB") for p in sorted((shared_dir / "corpus" / "kodak24").iterdir())[:5]]
    method = create_method(method_name, MethodOptions(min_quality=50))
    banks.create_bank("known")
    owner: dict[int, int] = {}
    for number, photo in enumerate(photos):
        hashes = hash_bytes(_jpeg(photo), HashOptions(exact=True, regions="known"))
        result = banks.add_entries("known", [EntryInput(s, hashes.signals()[s]) for s in ("pdq", "pdq_regions")])
        assert result.added == 2
        owner.update({e.id: number for e in banks.list_entries("known") if e.id not in owner})
    matcher = Matcher(banks, options=MatchOptions(min_quality=50, dihedral=method_name.endswith("dihedral")))
    matcher.refresh()
    known = [method.hash_known(_jpeg(p)) for p in photos]
    queries = [_jpeg(edit) for photo in photos[:3] for edit in _edits(photo)]
    scores = method.scores([method.hash_query(q) for q in queries], known)
    for row, data in enumerate(queries):
        hashes = hash_bytes(data, matcher.query_options(HashOptions(dihedral=matcher.options.dihedral)))
        found = {owner[m.entry_id] for m in matcher.match_hashes(hashes)[0]}
        assert found == {k for k in range(len(photos)) if scores[row, k] <= 31}, row
