"""Edited copies of a photo, as people make them (tests/engine/test_duplicates.py, bench_duplicates.py)."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance, ImageFont

ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets" / "data"
if not ASSETS.is_dir():
    ASSETS = Path("/work/shared/assets/data")
CALTECH = ASSETS / "caltech101_subset" / "images"


def caltech_photos() -> list[Path]:
    """The Caltech subset's photos, by class. Faces_easy is left out: its pictures are crops of the
    Faces class's (the same photos), so they are real duplicates, not distinct photos."""
    if not CALTECH.is_dir():
        return []
    return sorted(p for p in CALTECH.glob("*/*.jpg") if p.parent.name != "Faces_easy")


def _resize(img: Image.Image, rng: random.Random) -> Image.Image:
    f = rng.uniform(0.4, 0.7)
    return img.resize((max(8, round(img.width * f)), max(8, round(img.height * f))), Image.Resampling.LANCZOS)


def _crop(img: Image.Image, rng: random.Random) -> Image.Image:
    # 5-10 % of each side cut away, split at random between the two edges (framing a shot again).
    w, h = img.size
    fx, fy = rng.uniform(0.05, 0.10), rng.uniform(0.05, 0.10)
    lx, ty = rng.uniform(0, fx), rng.uniform(0, fy)
    return img.crop((round(lx * w), round(ty * h), round((1 - fx + lx) * w), round((1 - fy + ty) * h)))


def _brightness(img: Image.Image, rng: random.Random) -> Image.Image:
    return ImageEnhance.Brightness(img).enhance(rng.choice([0.7, 1.3]))


def _stamp(img: Image.Image, rng: random.Random) -> Image.Image:
    out = img.copy()
    d = ImageDraw.Draw(out)
    size = max(10, img.height // 12)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    text = f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} 1{rng.randint(0, 9)}:3{rng.randint(0, 9)}"
    x, y = img.width - size * 8, img.height - size * 2
    d.text((max(2, x), max(2, y)), text, fill=(255, 140, 0), font=font, stroke_width=1, stroke_fill=(0, 0, 0))
    return out


def _letterbox(img: Image.Image, rng: random.Random) -> Image.Image:
    # Padded to a square (messaging apps, Instagram), black or white bars.
    side = max(img.size)
    colour = rng.choice([(0, 0, 0), (255, 255, 255)])
    out = Image.new("RGB", (side, side), colour)
    out.paste(img, ((side - img.width) // 2, (side - img.height) // 2))
    return out


EDITS: dict[str, Callable[[Image.Image, random.Random], Image.Image]] = {
    "resize": _resize,
    "recompress": lambda img, rng: img,  # saved at low JPEG quality below
    "crop": _crop,
    "brightness": _brightness,
    "mirror": lambda img, rng: img.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "rotate90": lambda img, rng: img.transpose(Image.Transpose.ROTATE_90),
    "rotate180": lambda img, rng: img.transpose(Image.Transpose.ROTATE_180),
    "rotate270": lambda img, rng: img.transpose(Image.Transpose.ROTATE_270),
    "stamp": _stamp,
    "letterbox": _letterbox,
}


def save_edit(src: Path, kind: str, dest: Path, seed: int = 0) -> Path:
    """Write ``src`` edited by ``kind`` (a key of EDITS) as a JPEG at ``dest``."""
    rng = random.Random(f"{seed}:{src.name}:{kind}")
    with Image.open(src) as im:
        img = im.convert("RGB")
    out = EDITS[kind](img, rng)
    dest.parent.mkdir(parents=True, exist_ok=True)
    out.save(dest, "JPEG", quality=35 if kind == "recompress" else 90)
    return dest


def use_temp_trash(monkeypatch: object, folder: Path) -> Path:
    """Point the freedesktop trash (XDG_DATA_HOME/Trash) at ``folder`` for one test; returns the folder
    that will hold the trashed files. send2trash reads XDG_DATA_HOME once, at import, so its module
    constants are patched too (an earlier test may have imported it with another value)."""
    import os

    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("XDG_DATA_HOME", str(folder))  # type: ignore[attr-defined]
    try:
        from send2trash import plat_other
    except ImportError:  # another platform's backend: the environment variable is all there is
        return folder / "Trash" / "files"
    xdg = os.fsencode(str(folder))
    monkeypatch.setattr(plat_other, "XDG_DATA_HOME", xdg)  # type: ignore[attr-defined]
    monkeypatch.setattr(plat_other, "HOMETRASH_B", os.path.join(xdg, b"Trash"))  # type: ignore[attr-defined]
    monkeypatch.setattr(plat_other, "HOMETRASH", str(folder / "Trash"))  # type: ignore[attr-defined]
    return folder / "Trash" / "files"
