"""Synthetic photos for tests and benchmarks: distinct random compositions of shapes and colours (Pillow)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def make_photo(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A picture that is visibly different for every seed: a gradient background and coloured shapes."""
    rng = np.random.default_rng(seed)
    w, h = size
    c1, c2 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    ramp = np.linspace(0, 1, w)[None, :, None]
    bg = (c1 * (1 - ramp) + c2 * ramp).repeat(h, axis=0).astype(np.uint8)
    img = Image.fromarray(bg, "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(6):
        x, y = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
        s = int(rng.integers(30, max(31, min(w, h) // 2)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            d.ellipse([x, y, x + s, y + s], fill=colour)
        else:
            d.rectangle([x, y, x + s, y + s // 2], fill=colour)
    return img


def save_photo(path: Path, seed: int, size: tuple[int, int] = (640, 480), **save_kw: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    make_photo(seed, size).save(path, **save_kw)  # type: ignore[arg-type]
    return path


def recompressed_copy(src: Path, dest: Path, scale: float = 0.5, quality: int = 60) -> Path:
    """A resized, JPEG-recompressed copy: what a messaging app does to a photo."""
    img = Image.open(src).convert("RGB")
    img = img.resize((int(img.width * scale), int(img.height * scale)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(buf.getvalue())
    return dest


def make_library(folder: Path, n: int, start_seed: int = 0) -> list[Path]:
    return [save_photo(folder / f"photo_{i:03d}.jpg", start_seed + i, quality=90) for i in range(n)]
