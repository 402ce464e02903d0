"""The bundled demo: benign CC0 photos and the edited copies made from them."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from PIL import Image, ImageOps

Edit = Callable[[Image.Image], Image.Image]


def photos(kind: str) -> list[Path]:
    """Bundled demo photos: kind 'known' (the stand-in hash list) or 'other' (unrelated)."""
    folder = Path(str(resources.files("brightline.demo") / "photos" / kind))
    return sorted(folder.glob("*.jpg"))


def _resize(im: Image.Image) -> Image.Image:
    return im.resize((im.width * 3 // 5, im.height * 3 // 5), Image.Resampling.BILINEAR)


# Plain PDQ tolerates only small crops and borders: past about 2 % of the frame most
# copies drift beyond distance 31 (see the accuracy table in the README), so the demo's
# "little" edits are little on purpose.
def _letterbox(im: Image.Image) -> Image.Image:
    bar = max(1, im.height // 100)  # thin black bars top and bottom, 1 % each
    return ImageOps.expand(im, border=(0, bar, 0, bar), fill=(0, 0, 0))


def _crop(im: Image.Image) -> Image.Image:
    dx, dy = max(1, im.width // 100), max(1, im.height // 100)  # 1 % off each edge
    return im.crop((dx, dy, im.width - dx, im.height - dy))


def label(kind: str, number: int) -> str:
    """Short stable name of a demo photo, e.g. known-3."""
    return f"{kind}-{number}"


# name -> (edit, JPEG quality of the saved copy)
EDITS: dict[str, tuple[Edit, int]] = {
    "resized": (_resize, 90),
    "jpeg-q25": (lambda im: im, 25),
    "flipped": (ImageOps.mirror, 90),
    "letterbox": (_letterbox, 90),
    "cropped": (_crop, 90),
}


def make_inbox(folder: Path) -> tuple[list[Path], list[Path]]:
    """Write edited copies of the known photos and copies of unrelated ones; returns (edited, unrelated)."""
    folder.mkdir(parents=True, exist_ok=True)
    edited: list[Path] = []
    for number, photo in enumerate(photos("known"), 1):
        with Image.open(photo) as im:
            rgb = im.convert("RGB")
        for name, (edit, quality) in EDITS.items():
            out = folder / f"{label('known', number)}-{name}.jpg"
            edit(rgb).save(out, quality=quality)
            edited.append(out)
    unrelated: list[Path] = []
    for number, photo in enumerate(photos("other"), 1):
        out = folder / f"{label('other', number)}.jpg"
        out.write_bytes(photo.read_bytes())
        unrelated.append(out)
    return edited, unrelated
