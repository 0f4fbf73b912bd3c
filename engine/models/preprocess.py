"""Image preprocessing for CLIP-style image encoders (UForm), as upstream's torch path does it.

Upstream (uform ``torch_processors.ImageProcessor``) is torchvision's ``Resize(size, BICUBIC)`` of the
short side, ``CenterCrop(size)``, ``ToTensor`` and ``Normalize(mean, std)`` from the model's config. The
numpy processor that uform 3.1 ships gets portrait images wrong: it sets the width to ``size`` before
computing the height from it, so the height is never scaled (256x341 became 224x341, a 100x150 picture
came out a third black). This module does what the torch path does, for every aspect ratio, without
torch: one bicubic resample from the decoded image (Pillow's bicubic filters, with the antialiasing
torchvision gets from Pillow for PIL inputs), then a crop and the normalisation in numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL.Image import Image


def resized_size(width: int, height: int, size: int) -> tuple[int, int]:
    """torchvision's ``Resize(size)`` output for a (width, height) image: the short side becomes
    ``size`` and the long side ``int(size * long / short)`` (truncated, as torchvision does)."""
    if width <= height:
        return size, max(1, int(size * height / width))
    return max(1, int(size * width / height)), size


def crop_box(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """torchvision's ``CenterCrop(size)`` box on a (width, height) image that is at least ``size``
    on both sides: offsets rounded half to even, as ``int(round(x / 2.0))`` in Python."""
    left = int(round((width - size) / 2.0))
    top = int(round((height - size) / 2.0))
    return left, top, left + size, top + size


class ClipPreprocess:
    """Pillow images → the (n, 3, size, size) float32 batch a CLIP-style image encoder takes.

    ``mean`` and ``std`` are per channel (RGB), on the 0..1 scale, as in the model's config. Images of any
    mode are converted to RGB (after the resize, as upstream does: RGBA's colour channels resize alike).
    """

    def __init__(self, size: int, mean: Sequence[float], std: Sequence[float]) -> None:
        if size <= 0 or len(mean) != 3 or len(std) != 3:
            raise ValueError(f"bad preprocessing parameters: size={size}, mean={mean}, std={std}")
        self.size = int(size)
        # Folded into one multiply-add on the 0..255 pixels: (p / 255 - mean) / std.
        std_a = np.asarray(std, dtype=np.float32)
        self._scale = (1.0 / (255.0 * std_a)).reshape(3, 1, 1)
        self._shift = (-np.asarray(mean, dtype=np.float32) / std_a).reshape(3, 1, 1)

    def pixels(self, image: Image) -> np.ndarray:
        """One image as a (size, size, 3) uint8 array: short side resized to ``size``, centre crop."""
        from PIL import Image as PILImage

        w, h = image.size
        new_w, new_h = resized_size(w, h, self.size)
        if (new_w, new_h) != (w, h):
            image = image.resize((new_w, new_h), PILImage.Resampling.BICUBIC)
        if image.mode != "RGB":
            image = image.convert("RGB")
        image = image.crop(crop_box(new_w, new_h, self.size))
        return np.asarray(image, dtype=np.uint8)

    def __call__(self, images: Sequence[Image]) -> np.ndarray:
        out = np.empty((len(images), 3, self.size, self.size), dtype=np.float32)
        for i, image in enumerate(images):
            chw = self.pixels(image).transpose(2, 0, 1)
            np.multiply(chw, self._scale, out=out[i])
            out[i] += self._shift
        return out
