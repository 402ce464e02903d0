"""Choosing the known list and the distractors from a folder of photos, reproducibly from a seed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brightline.signals.media_formats import MEDIA_SUFFIXES


@dataclass(frozen=True)
class CorpusSplit:
    """The photos playing known-list entries and those playing unrelated uploads (paths relative to root)."""

    root: Path
    known: tuple[str, ...]
    distractors: tuple[str, ...]
    total: int

    def folders(self, which: tuple[str, ...]) -> dict[str, int]:
        """Photos per top-level folder ("." for files directly under the root)."""
        counts = Counter(p.split("/")[0] if "/" in p else "." for p in which)
        return dict(sorted(counts.items()))

    def info(self) -> dict[str, object]:
        """Corpus facts for the report."""
        return {
            "root": str(self.root),
            "images_found": self.total,
            "known": len(self.known),
            "distractors": len(self.distractors),
            "known_by_folder": self.folders(self.known),
            "distractors_by_folder": self.folders(self.distractors),
        }


def find_images(root: Path) -> list[str]:
    """Image files under ``root`` (recursively, by name ending), as sorted relative POSIX paths."""
    if not root.is_dir():
        raise ValueError(f"corpus folder not found: {root}")
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.suffix.lower() in MEDIA_SUFFIXES and p.is_file() and not p.name.startswith(".")
    )


def split_corpus(root: Path, known: int, seed: int, distractors: int | None = None) -> CorpusSplit:
    """Pick ``known`` photos at random (seeded) as the known list; the rest (or a seeded sample) are distractors."""
    files = find_images(root)
    if known < 1:
        raise ValueError("--known must be at least 1")
    if known >= len(files):
        raise ValueError(f"--known {known} leaves no distractors: {len(files)} images found under {root}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(files))
    chosen = sorted(int(i) for i in order[:known])
    rest = sorted(int(i) for i in order[known:])
    if distractors is not None and distractors < len(rest):
        rest = sorted(int(i) for i in rng.choice(rest, size=max(0, distractors), replace=False))
    return CorpusSplit(
        root=root,
        known=tuple(files[i] for i in chosen),
        distractors=tuple(files[i] for i in rest),
        total=len(files),
    )
