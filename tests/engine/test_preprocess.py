"""Image preprocessing equals upstream's torch path (torchvision Resize(short side, bicubic) → CenterCrop →
ToTensor → Normalize) for every aspect ratio; portrait photos are no longer squeezed (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.models.preprocess import ClipPreprocess, crop_box, resized_size

MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
SIZE = 224


def reference(image: Image.Image) -> np.ndarray:
    """torchvision's transforms written out (torchvision itself has no CPU wheel beside this torch):
    ``_compute_resized_output_size`` for ``Resize(int)``, PIL bicubic for PIL inputs, ``CenterCrop``'s
    ``int(round((h - size) / 2.0))`` offsets, ``ToTensor``'s /255, ``Normalize``."""
    torch = pytest.importorskip("torch")
    w, h = image.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = SIZE, int(SIZE * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    resized = image.resize((new_w, new_h), Image.Resampling.BICUBIC) if (new_w, new_h) != (w, h) else image
    rgb = resized.convert("RGB")
    top = int(round((new_h - SIZE) / 2.0))
    left = int(round((new_w - SIZE) / 2.0))
    t = torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1).float() / 255.0
    t = t[:, top : top + SIZE, left : left + SIZE]
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    return ((t - mean) / std).numpy()


def textured(w: int, h: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 255 // max(1, w - 1)), (yy * 255 // max(1, h - 1)), (xx + yy) % 256], axis=-1)
    noise = rng.integers(0, 40, size=(h, w, 3))
    img = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")
    return img.convert(mode) if mode != "RGB" else img


@pytest.mark.parametrize(
    "w,h",
    [
        (640, 480),
        (480, 640),
        (256, 341),
        (250, 444),
        (100, 150),
        (224, 224),
        (300, 300),
        (37, 20),
        (4000, 250),
    ],
)
def test_equals_the_torch_reference_for_every_aspect_ratio(w: int, h: int) -> None:
    img = textured(w, h, seed=w * 7 + h)
    ours = ClipPreprocess(SIZE, MEAN, STD)([img])[0]
    assert ours.shape == (3, SIZE, SIZE)
    np.testing.assert_allclose(ours, reference(img), atol=1e-5)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "CMYK"])
def test_other_modes_match_the_reference(mode: str) -> None:
    img = textured(320, 200, mode=mode)
    ours = ClipPreprocess(SIZE, MEAN, STD)([img])[0]
    np.testing.assert_allclose(ours, reference(img), atol=1e-5)


def test_a_portrait_photo_keeps_its_shapes() -> None:
    """A circle in a 1080x1920 phone photo stays a circle: the squeeze uform's numpy processor applied
    (the height never scaled) would make it an ellipse 1.78x taller than wide."""
    w, h = 270, 480  # what the JPEG draft decode gives for a 1080x1920 photo
    yy, xx = np.mgrid[0:h, 0:w]
    disc = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) < 80**2
    img = Image.fromarray(np.where(disc, 255, 0).astype(np.uint8), "L").convert("RGB")
    px = ClipPreprocess(SIZE, [0, 0, 0], [1, 1, 1]).pixels(img)[..., 0] > 127
    rows = np.flatnonzero(px.any(axis=1))
    cols = np.flatnonzero(px.any(axis=0))
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    assert abs(height - width) <= 2, (height, width)


def test_a_small_portrait_picture_has_no_black_band() -> None:
    img = Image.new("RGB", (100, 150), (200, 180, 40))
    px = ClipPreprocess(SIZE, [0, 0, 0], [1, 1, 1]).pixels(img)
    assert px.shape == (SIZE, SIZE, 3)
    assert px.min() > 30  # uform 3.1's numpy processor left a third of it black


def test_sizes_follow_torchvision() -> None:
    assert resized_size(256, 341, 224) == (224, 298)
    assert resized_size(341, 256, 224) == (298, 224)
    assert resized_size(1080, 1920, 224) == (224, 398)
    assert crop_box(298, 224, 224) == (37, 0, 261, 224)
    assert crop_box(224, 225, 224) == (0, 0, 224, 224)  # round(0.5) is 0


def test_uform_encoder_uses_it(tiny_models) -> None:
    from engine.models.tiny import UFORM_ID
    from engine.models.uform import UFormEncoder

    enc = UFormEncoder(tiny_models / UFORM_ID, UFORM_ID, precision="fp32")
    img = textured(250, 444)
    batch = enc.preprocess([img])
    assert batch.shape == (1, 3, enc.image_size, enc.image_size)
    ref = ClipPreprocess(enc.image_size, MEAN, STD)([img])
    np.testing.assert_allclose(batch, ref, atol=1e-6)
