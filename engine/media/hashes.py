"""Content and perceptual fingerprints for finding duplicates: photos, video clips and sounds.

Photos:

* **exact**: blake2b of the whole file (the catalog's ``quick_hash`` samples only three 64 KiB blocks,
  so it proposes exact pairs and :func:`full_hash` confirms them).
* **near**: a DCT perceptual hash (the algorithm of imagehash's ``phash``: 32x32 grey, 2-D DCT, the
  8x8 lowest frequencies against their median) of the picture with its uniform borders trimmed
  (letterbox bars, padding to a square), for the 8 orientations (4 rotations x mirror). The 8 come
  from one DCT: mirroring a picture flips the sign of its odd-index coefficients and a quarter turn is a
  transpose plus a mirror, so rotated and mirrored copies cost nothing extra to match.
* **regions**: the same hash of 9 sub-windows covering 90 % of each side (left/centre/right x
  top/middle/bottom): a copy cropped by 5-10 % lines up with one of them within 2.5 % of the frame,
  which the hash tolerates, where it does not tolerate the whole frame's 10 % zoom.
* **local features**: ORB keypoints matched under a RANSAC similarity transform (OpenCV) confirm a pair
  whose hashes are close but not identical: the same scene photographed twice differs in geometry,
  the same photo edited does not.

Videos: one hash per sampled moment, in time order (:func:`match_sequences` finds the copy or trim).
Sounds: a Haitsma-Kalker style spectral fingerprint, 32 bits per 64 ms frame (:func:`sound_fingerprint`);
near-silent frames are left out of a match, so recordings padded with silence do not match on it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import DecodeError

if TYPE_CHECKING:
    from PIL.Image import Image

#: Orientation codes: 0 identity, 1 mirror (left-right), 2 rotate 180, 3 flip (top-bottom),
#: 4 transpose, 5 rotate 90 clockwise, 6 rotate 90 anticlockwise, 7 transverse.
N_ORIENTATIONS = 8

#: The top window's height, a share of the picture's: a stamp sits in the bottom sixth or so.
TOP_SHARE = 0.8
#: The 9 region windows, (left, top) offsets as a share of the side; each covers REGION of each side.
REGION = 0.9
REGION_OFFSETS = [(x, y) for y in (0.0, 0.05, 0.1) for x in (0.0, 0.05, 0.1)]

_HASH_SIZE = 8
_DCT_SIZE = 32


def _dct_matrix(n: int, k: int) -> np.ndarray:
    i = np.arange(n)
    return np.cos(np.pi * np.arange(k)[:, None] * (2 * i[None, :] + 1) / (2 * n))


_C = _dct_matrix(_DCT_SIZE, _HASH_SIZE)
# Sign patterns: coefficient (u, v) of a mirrored picture is (-1)^v times the original's.
_SIGN = (-1.0) ** np.arange(_HASH_SIZE)
_BITS = (1 << np.arange(63, -1, -1, dtype=np.uint64)).astype(np.uint64)


# -- exact ------------------------------------------------------------------------------------------


def full_hash(path: str | os.PathLike[str], block: int = 1 << 20) -> str:
    """blake2b (128 bits) of the whole file: two files with the same one are byte-identical.

    Raises OSError when the file cannot be read.
    """
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


# -- perceptual hash ----------------------------------------------------------------------------------


def _low_dct(grey: np.ndarray) -> np.ndarray:
    """The 8x8 lowest DCT-II coefficients of a 32x32 float picture (scipy's unnormalised DCT / 4)."""
    return _C @ grey @ _C.T


def _pack(bits: np.ndarray) -> int:
    return int(np.bitwise_or.reduce(np.where(bits.reshape(-1), _BITS, np.uint64(0))))


def _orient_coeffs(d: np.ndarray) -> list[np.ndarray]:
    """The DCT coefficients of the 8 orientations of the picture whose coefficients are ``d``."""
    sv, su = _SIGN[None, :], _SIGN[:, None]
    t = d.T
    return [d, d * sv, d * su * sv, d * su, t, t * sv, t * su, t * su * sv]


def _hash_of(d: np.ndarray) -> int:
    return _pack(d > np.median(d))


def _grey32(img: Image) -> np.ndarray:
    from PIL import Image as PILImage

    small = img.convert("L").resize((_DCT_SIZE, _DCT_SIZE), PILImage.Resampling.LANCZOS)
    return np.asarray(small, dtype=np.float64)


def phash(img: Image) -> int:
    """imagehash's pHash of ``img`` as a 64-bit int (bit 63 = coefficient (0, 0))."""
    return _hash_of(_low_dct(_grey32(img)))


def phash_orientations(img: Image) -> np.ndarray:
    """The pHash of the 8 orientations of ``img`` (uint64, orientation codes as N_ORIENTATIONS)."""
    return np.array([_hash_of(c) for c in _orient_coeffs(_low_dct(_grey32(img)))], dtype=np.uint64)


def hamming(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Bitwise Hamming distance between uint64 hashes (broadcasting)."""
    x = np.bitwise_xor(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64))
    return np.bitwise_count(x).astype(np.int32)


# -- borders ----------------------------------------------------------------------------------------


def trim_box(img: Image, *, tol: float = 10.0, passes: int = 3) -> tuple[int, int, int, int]:
    """The (left, top, right, bottom) box of ``img`` without its uniform borders.

    A border row or column is one whose pixels stay within ``tol`` (0-255, per channel, 99 % of them)
    of the colour on that edge: letterbox bars, padding to a square, a plain backdrop. Trimming runs
    ``passes`` times, so black bars around a photo on white trim to the same box as the photo alone.
    A picture that would lose over 85 % of either side keeps its whole frame (a plain picture).
    """
    a = np.asarray(img.convert("RGB"), dtype=np.int16)
    h, w = a.shape[:2]
    left, top, right, bottom = 0, 0, w, h
    for _ in range(passes):
        before = (left, top, right, bottom)
        sub = a[top:bottom, left:right]
        if sub.shape[0] < 4 or sub.shape[1] < 4:
            break

        def run(lines: np.ndarray) -> int:
            # lines: (n, length, 3), the first line is the edge: how many lines from the edge stay within
            # tol of the edge's median colour. Read in growing blocks: most photos have no border, and
            # comparing every line of the picture four times was most of the hashing time.
            ref = np.median(lines[0], axis=0)
            start, block = 0, 8
            while start < len(lines):
                part = lines[start : start + block]
                flags = (np.abs(part - ref[None, None, :]).max(axis=2) <= tol).mean(axis=1) >= 0.99
                bad = np.flatnonzero(~flags)
                if len(bad):
                    return start + int(bad[0])
                start, block = start + block, block * 4
            return len(lines)

        t = run(sub)
        b = run(sub[::-1])
        lft = run(sub.transpose(1, 0, 2))
        rgt = run(sub.transpose(1, 0, 2)[::-1])
        top, bottom = top + t, bottom - b
        left, right = left + lft, right - rgt
        if (left, top, right, bottom) == before:
            break
    if right - left < 0.15 * w or bottom - top < 0.15 * h or right <= left or bottom <= top:
        return 0, 0, w, h
    return left, top, right, bottom


# -- photo signature ----------------------------------------------------------------------------------


@dataclass
class PhotoHashes:
    """What duplicate finding keeps of one photo."""

    #: pHash of the trimmed picture in its 8 orientations (uint64, (8,)).
    full: np.ndarray
    #: pHash of the 9 region windows of the trimmed picture, as shown (uint64, (9,)).
    regions: np.ndarray
    #: Pixels of the picture as shown (after EXIF orientation), before trimming.
    width: int
    height: int
    #: The region hashes in the 8 orientations ((9, 8)); only needed to probe the index, not stored.
    oriented_regions: np.ndarray | None = None
    #: pHash of the top TOP_SHARE of the picture (untrimmed), as shown: what a date stamp, a caption or
    #: a watermark along the bottom leaves untouched. None for rows hashed before it existed.
    top: int | None = None

    def to_bytes(self) -> bytes:
        extra = [] if self.top is None else [self.top]
        return np.concatenate([self.full, self.regions, np.array(extra, np.uint64)]).astype("<u8").tobytes()

    @classmethod
    def from_bytes(cls, blob: bytes, width: int, height: int) -> PhotoHashes:
        v = np.frombuffer(blob, dtype="<u8").astype(np.uint64)
        n = N_ORIENTATIONS + len(REGION_OFFSETS)
        return cls(
            full=v[:N_ORIENTATIONS].copy(),
            regions=v[N_ORIENTATIONS:n].copy(),
            width=width,
            height=height,
            top=int(v[n]) if len(v) > n else None,
        )


def photo_hashes(img: Image, width: int | None = None, height: int | None = None) -> PhotoHashes:
    """The hashes of a decoded, upright photo (``load_photo``'s output). ``width``/``height``: the
    original's pixel size when ``img`` was decoded reduced."""
    box = trim_box(img)
    core = img.crop(box)
    w, h = core.size
    regions = []
    for ox, oy in REGION_OFFSETS:
        win = (round(ox * w), round(oy * h), round((ox + REGION) * w), round((oy + REGION) * h))
        regions.append(phash_orientations(core.crop(win)))
    oriented = np.stack(regions)
    return PhotoHashes(
        full=phash_orientations(core),
        regions=oriented[:, 0].copy(),
        width=width or img.size[0],
        height=height or img.size[1],
        oriented_regions=oriented,
        # Of the picture untrimmed: a stamp in a plain margin moves the trimmed box, not this window.
        top=phash(img.crop((0, 0, img.size[0], max(1, round(TOP_SHARE * img.size[1]))))),
    )


def load_for_hashing(path: str | os.PathLike[str]) -> tuple[Image, int, int]:
    """Decode a photo for hashing: upright, short side about 256 px. Returns (image, width, height)
    with the original's size as shown. Raises DecodeError."""
    from PIL import Image as PILImage

    from engine.media.images import load_photo

    img = load_photo(path, min_side=256)
    try:
        with PILImage.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except Exception:  # load_photo read it; the size is only for display
        w, h, orientation = img.size[0], img.size[1], 1
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    return img, w, h


@dataclass
class PairScore:
    """How two photos compare: the best hash distance and what gave it."""

    distance: int
    #: "full" (whole frame vs whole frame) or "region" (one is a crop of the other).
    via: str
    #: Orientation of ``a`` that matched ``b`` (N_ORIENTATIONS codes).
    orientation: int


def compare(a: PhotoHashes, b: PhotoHashes) -> PairScore:
    """The closest match between two photos' hashes: whole frames in any orientation, or one's whole
    frame against a 90 % window of the other (a crop).

    Region hashes are stored as shown, so the oriented whole frame of one side is compared with the
    other's windows; the reverse direction uses the other side's orientations.
    """
    full = hamming(a.full, b.full[0])
    best = PairScore(int(full.min()), "full", int(full.argmin()))
    # a's oriented frames against b's windows: a is the crop of b.
    d1 = hamming(a.full[:, None], b.regions[None, :])
    # b's oriented frames against a's windows: b is the crop of a.
    d2 = hamming(b.full[:, None], a.regions[None, :])
    for d, flip in ((d1, False), (d2, True)):
        m = int(d.min())
        if m < best.distance:
            o = int(np.unravel_index(d.argmin(), d.shape)[0])
            best = PairScore(m, "region", _inverse(o) if flip else o)
    if a.top is not None and b.top is not None:
        m = int(hamming(a.top, b.top))
        if m < best.distance:  # one of them stamped along the bottom, both as shown
            best = PairScore(m, "top", 0)
    return best


#: Bytes of a stored photo's hashes without the top window (rows made before it existed).
PHOTO_BLOB_MIN = 8 * (N_ORIENTATIONS + len(REGION_OFFSETS))


def decode_many(blobs: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray, list[int | None]]:
    """Many :meth:`PhotoHashes.to_bytes` blobs at once: (full (n, 8), regions (n, 9), tops)."""
    n_base = N_ORIENTATIONS + len(REGION_OFFSETS)
    rows = np.zeros((len(blobs), n_base + 1), dtype=np.uint64)
    has_top = np.zeros(len(blobs), dtype=bool)
    for size in {len(b) for b in blobs}:
        idx = [i for i, b in enumerate(blobs) if len(b) == size]
        v = np.frombuffer(b"".join(blobs[i] for i in idx), dtype="<u8").astype(np.uint64)
        width = size // 8
        v = v.reshape(len(idx), width)[:, : n_base + 1]
        rows[idx, : v.shape[1]] = v
        has_top[idx] = width > n_base
    tops = [int(t) if h else None for t, h in zip(rows[:, n_base].tolist(), has_top.tolist(), strict=True)]
    return rows[:, :N_ORIENTATIONS], rows[:, N_ORIENTATIONS:n_base], tops


def closest_distances(
    a: PhotoHashes, full: np.ndarray, regions: np.ndarray, tops: Sequence[int | None] = ()
) -> np.ndarray:
    """:func:`compare`'s distance of ``a`` to many photos at once (``full`` (n, 8), ``regions`` (n, 9)
    and ``tops`` (n, None where missing) of their hashes): a new photo's candidates scored in one array
    operation."""
    if len(full) == 0:
        return np.zeros(0, dtype=np.int32)
    d_full = hamming(a.full[None, :], full[:, :1]).min(axis=1)
    d_crop = hamming(a.full[None, :, None], regions[:, None, :]).min(axis=(1, 2))
    d_back = hamming(full[:, :, None], a.regions[None, None, :]).min(axis=(1, 2))
    best = np.minimum(d_full, np.minimum(d_crop, d_back))
    if a.top is not None and len(tops):
        have = np.array([t is not None for t in tops])
        d_top = hamming(a.top, np.array([t or 0 for t in tops], dtype=np.uint64))
        best = np.where(have, np.minimum(best, d_top), best)
    return best


def _inverse(o: int) -> int:
    # Rotating 90 one way is undone by 90 the other; the rest are their own inverse.
    return {5: 6, 6: 5}.get(o, o)


# -- local features -----------------------------------------------------------------------------------


@dataclass
class Features:
    keypoints: np.ndarray  # (n, 2) float32 pixel coordinates
    descriptors: np.ndarray  # (n, 32) uint8 ORB descriptors
    #: The grey picture the keypoints are in (uint8, (h, w)): to compare pixels once aligned.
    grey: np.ndarray


def orb_features(img: Image, n: int = 600, side: int = 320) -> Features:
    """ORB keypoints of the picture's trimmed core, scaled so its long side is ``side`` px."""
    import cv2

    core = img.crop(trim_box(img)).convert("L")
    f = side / max(core.size)
    if f < 1:
        core = core.resize((max(1, round(core.size[0] * f)), max(1, round(core.size[1] * f))))
    g = np.asarray(core, dtype=np.uint8)
    orb = cv2.ORB_create(  # type: ignore[attr-defined]  # OpenCV 5's stubs omit it
        nfeatures=n, scaleFactor=1.2, nlevels=8, edgeThreshold=15, patchSize=21
    )
    kps, des = orb.detectAndCompute(g, None)
    if des is None or not kps:
        return Features(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), g)
    pts = np.array([k.pt for k in kps], dtype=np.float32)
    return Features(pts, des, g)


@dataclass
class Alignment:
    """Two pictures' keypoints under one similarity transform, and their pixels compared through it."""

    #: Keypoint matches consistent with the transform.
    inliers: int
    #: The transform's scale (b's pixels per a's pixel).
    scale: float
    #: Normalised correlation of the two grey pictures over their overlap, after alignment (-1..1).
    correlation: float
    #: Share of b's frame that a covers once aligned.
    overlap: float
    #: Share of the 4x4 tiles of the overlap whose pixels agree on their own (see :func:`_tiles_agree`):
    #: a date stamp or a logo spoils one or two tiles of a copy, a different shot spoils most.
    tiles: float = 0.0


NO_ALIGNMENT = Alignment(0, 0.0, 0.0, 0.0)
#: A tile agrees when its aligned pixels correlate this well, or, for a flat tile (sky, a backdrop),
#: when they sit within TILE_FLAT_DIFF grey levels of the whole overlap's gain and offset.
TILE_CORRELATION = 0.97
TILE_FLAT_DIFF = 12.0
_TILE_FLAT_STD = 6.0


def align(a: Features, b: Features) -> Alignment:
    """Match ``a``'s ORB keypoints to ``b``'s, fit a similarity transform (rotation, scale, shift: what
    cropping, resizing and rotating do) with RANSAC, and compare the aligned pixels.

    Two shots of a similar scene (the same motorbike model on white, say) can share dozens of
    consistent keypoints; their pixels, once aligned, still differ, where an edited copy's agree.
    Returns NO_ALIGNMENT when either side has too few features or nothing fits.
    """
    import cv2

    if len(a.descriptors) < 8 or len(b.descriptors) < 8:
        return NO_ALIGNMENT
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(a.descriptors, b.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance and p[0].distance < 64]
    if len(good) < 6:
        return NO_ALIGNMENT
    src = a.keypoints[[m.queryIdx for m in good]]
    dst = b.keypoints[[m.trainIdx for m in good]]
    model, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=4.0)
    if model is None or mask is None:
        return NO_ALIGNMENT
    # Count each keypoint of b once: a repeated texture can pull many of a's onto one point.
    inliers = len({m.trainIdx for m, ok in zip(good, mask.ravel(), strict=True) if ok})
    scale = float(np.hypot(model[0, 0], model[1, 0]))
    if not 0.2 < scale < 5.0:
        return Alignment(inliers, scale, 0.0, 0.0)
    h, w = b.grey.shape
    warped = cv2.warpAffine(a.grey, model, (w, h), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    cover = cv2.warpAffine(np.full(a.grey.shape, 255, np.uint8), model, (w, h), flags=cv2.INTER_NEAREST)
    m = cover > 0
    overlap = float(m.mean())
    if m.sum() < 64:
        return Alignment(inliers, scale, 0.0, overlap)
    # Compared slightly blurred: resampling and JPEG noise should not count, a different object should.
    xa, ya = cv2.GaussianBlur(warped, (5, 5), 0), cv2.GaussianBlur(b.grey, (5, 5), 0)
    x, y = xa[m].astype(np.float64), ya[m].astype(np.float64)
    tiles = _tiles_agree(xa, ya, m, x, y)
    x -= x.mean()
    y -= y.mean()
    denom = float(np.sqrt((x * x).sum() * (y * y).sum()))
    corr = float((x * y).sum() / denom) if denom > 0 else 0.0
    return Alignment(inliers, scale, corr, overlap, tiles)


def _tiles_agree(xa: np.ndarray, ya: np.ndarray, mask: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Share of the 4x4 tiles (those at least half covered) whose aligned pixels agree.

    ``xa``/``ya`` are the two blurred grey pictures in b's frame, ``mask`` where a covers it, ``x``/``y``
    their covered pixels (for the gain and offset a brightness edit applies to the whole picture).
    """
    gain, offset = np.polyfit(x, y, 1) if x.std() > 0 else (1.0, float(y.mean() - x.mean()))
    h, w = mask.shape
    agree = total = 0
    for i in range(4):
        for j in range(4):
            sl = (slice(i * h // 4, (i + 1) * h // 4), slice(j * w // 4, (j + 1) * w // 4))
            m = mask[sl]
            if m.mean() < 0.5:
                continue
            tx, ty = xa[sl][m].astype(np.float64), ya[sl][m].astype(np.float64)
            total += 1
            if tx.std() > _TILE_FLAT_STD and ty.std() > _TILE_FLAT_STD:
                agree += float(np.corrcoef(tx, ty)[0, 1]) >= TILE_CORRELATION
            else:
                agree += float(np.abs(ty - (gain * tx + offset)).mean()) <= TILE_FLAT_DIFF
    return agree / total if total else 0.0


def mirrored(img: Image) -> Image:
    from PIL import Image as PILImage

    return img.transpose(PILImage.Transpose.FLIP_LEFT_RIGHT)


# -- video -------------------------------------------------------------------------------------------


def match_sequences(
    ta: Sequence[float] | np.ndarray,
    ha: np.ndarray,
    tb: Sequence[float] | np.ndarray,
    hb: np.ndarray,
    *,
    max_distance: int = 10,
    slack_s: float = 2.5,
) -> tuple[float, float]:
    """How much of the shorter of two clips is a copy of the other, in order: (share, offset).

    ``ha``/``hb`` are per-moment pHashes at times ``ta``/``tb``. Each moment of the shorter clip is
    matched to the other's moments within ``max_distance`` bits; the offset (time in the longer minus
    time in the shorter) most of them agree on, within ``slack_s``, is the trim; ``share`` is the part
    of the shorter clip's moments that match at that offset (1.0 for a copy or a trim).
    Sampling moments are not at the same instants in two encodes, hence the slack.
    """
    ta_, tb_ = np.asarray(ta, dtype=np.float64), np.asarray(tb, dtype=np.float64)
    ha_, hb_ = np.asarray(ha, dtype=np.uint64), np.asarray(hb, dtype=np.uint64)
    if len(ha_) == 0 or len(hb_) == 0:
        return 0.0, 0.0
    swap = len(ha_) < len(hb_)
    if swap:  # a is the longer
        ta_, tb_, ha_, hb_ = tb_, ta_, hb_, ha_
    d = hamming(hb_[:, None], ha_[None, :])  # (short, long)
    close = d <= max_distance
    offsets = (ta_[None, :] - tb_[:, None])[close]
    if offsets.size == 0:
        return 0.0, 0.0
    # The offset most short-clip moments agree on: a coarse histogram, then the mean of its bin.
    best_off, best_n = 0.0, -1
    for off in np.unique(np.round(offsets / slack_s) * slack_s):
        agree = close & (np.abs(ta_[None, :] - tb_[:, None] - off) <= slack_s)
        n = int(agree.any(axis=1).sum())
        if n > best_n:
            best_n, best_off = n, float(off)
    share = best_n / len(hb_)
    return share, (-best_off if swap else best_off)


# -- sound -------------------------------------------------------------------------------------------

#: Sample rate, frame and hop of the sound fingerprint: 64 ms frames 8 ms apart (the heavy overlap keeps
#: the bits of a copy cut at any instant close to the original's: at most 4 ms out of step).
FP_RATE = 8000
_FP_FRAME = 512
_FP_HOP = 64
_FP_BANDS = 33


def _band_edges() -> np.ndarray:
    # 33 bands spaced logarithmically between 300 Hz and 3 kHz, as Haitsma and Kalker's.
    freqs = np.geomspace(300.0, 3000.0, _FP_BANDS + 1)
    return np.round(freqs / (FP_RATE / _FP_FRAME)).astype(int)


def sound_fingerprint(samples: np.ndarray, rate: int) -> np.ndarray:
    """32-bit sub-fingerprints (uint32, one per 32 ms hop) of mono float samples at ``rate`` Hz.

    Bit m of frame n is the sign of the energy difference between bands m and m+1, minus the same in
    frame n-1: robust to gain, equalisation and lossy coding (MP3/AAC/Opus), so the same recording in
    another format gives mostly the same bits. Near-silent frames (:data:`SILENCE_DB` below the
    recording's mean) give 0, which :func:`fingerprint_match` leaves out.
    """
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    if rate != FP_RATE and len(x):
        import soxr

        x = soxr.resample(x, rate, FP_RATE)
    if len(x) < _FP_FRAME * 2:
        return np.zeros(0, dtype=np.uint32)
    energy = _band_energy(x)
    return _bits_of(energy)


def _band_energy(x: np.ndarray) -> np.ndarray:
    n = 1 + (len(x) - _FP_FRAME) // _FP_HOP
    idx = np.arange(_FP_FRAME)[None, :] + _FP_HOP * np.arange(n)[:, None]
    frames = x[idx] * np.hanning(_FP_FRAME).astype(np.float32)[None, :]
    spec = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    edges = _band_edges()
    bands = [spec[:, edges[i] : max(edges[i + 1], edges[i] + 1)].sum(axis=1) for i in range(_FP_BANDS)]
    return np.stack(bands, 1)


#: A frame whose energy (300 Hz - 3 kHz) is this far below the mean frame's of its recording is silence:
#: its sub-fingerprint is set to 0 and never compared. Digital silence gives all-zero bits, so two
#: different recordings padded with silence (ESC-50 clips: 1.5 s of sound, then zeros to 5 s) agreed on
#: every padded frame and grouped; a lossy copy's near-silence gives noise bits that only lower its match.
#: Relative, so a gain change moves the floor with the sound. -35 dB: below what a field recording's
#: background sits at, above a lossy codec's residue of digital silence.
SILENCE_DB = 35.0


def _bits_of(energy: np.ndarray) -> np.ndarray:
    """Sub-fingerprints of band energies ((n, 33) -> (n-1,) uint32), 0 where both frames are silent."""
    diff = energy[:, :-1] - energy[:, 1:]  # (n, 32)
    bits = (diff[1:] - diff[:-1]) > 0  # (n-1, 32)
    weights = (1 << np.arange(31, -1, -1, dtype=np.uint64)).astype(np.uint64)
    fp = (bits.astype(np.uint64) * weights[None, :]).sum(axis=1).astype(np.uint32)
    total = energy.sum(axis=1)
    floor = float(total.mean()) * 10.0 ** (-SILENCE_DB / 10.0)
    # Bits of frame n compare energy frames n and n+1: an onset out of silence still says something.
    silent = np.maximum(total[1:], total[:-1]) <= floor
    fp[silent] = 0
    return fp


#: Coarse keys: the spectrum averaged over 1 s windows, 0.25 s apart, as 20 signs of adjacent bands.
_KEY_WINDOW = 125
_KEY_STEP = 32


def sound_keys(samples: np.ndarray, rate: int) -> np.ndarray:
    """Index keys of a sound (uint32, about 4 a second): the shape of its spectrum over each second.

    A second's average spectrum barely moves when the recording is cut a few milliseconds off the
    original's frame grid or coded lossily, where every fine sub-fingerprint can change; so a trimmed
    copy shares many of these keys with its original. They only propose candidates:
    :func:`fingerprint_match` decides.
    """
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    if rate != FP_RATE and len(x):
        import soxr

        x = soxr.resample(x, rate, FP_RATE)
    stream = _SoundStream(fine_s=0.0, long_s=0.0)
    stream.feed(x)
    return stream.result().keys


def _key_of(means: np.ndarray, prev_loud: float | None) -> int:
    # 15 signs of adjacent coarse bands, and whether the second is louder than the one before.
    bits = [bool(v) for v in means[:-1] > means[1:]]
    loud = float(means.mean())
    bits.append(prev_loud is not None and loud > prev_loud)
    return sum(1 << (15 - i) for i, on in enumerate(bits) if on)


#: The first FP_FULL_S seconds keep every sub-fingerprint (8 ms apart); the whole recording, up to
#: LONG_MAX_S, also keeps a coarser one: a sub-fingerprint per LONG_FACTOR hops (64 ms) of the band
#: energy summed over them, so a copy or a trim of a long recording matches wherever it was cut. Longer
#: frames also shrug off the sub-hop misalignment of a cut better: 0.04 bit errors for a trim where the
#: fine sub-fingerprints have 0.12 (measured on a synthetic recording, cut at 37.123 s).
FP_FULL_S = 180.0
LONG_FACTOR = 8
LONG_HOP_S = LONG_FACTOR * _FP_HOP / FP_RATE
LONG_MAX_S = 3 * 3600.0


@dataclass
class SoundPrint:
    """What duplicate finding keeps of a sound."""

    #: Sub-fingerprints of the first FP_FULL_S seconds, 8 ms apart (uint32).
    fine: np.ndarray
    #: Sub-fingerprints of the whole recording (up to LONG_MAX_S), LONG_HOP_S apart (uint32).
    long: np.ndarray
    #: Index keys of the whole recording (:func:`sound_keys`), 0.25 s apart (uint32, 16 bits used).
    keys: np.ndarray
    #: Seconds fingerprinted.
    seconds: float

    _MAGIC = b"LSP2"

    def to_bytes(self) -> bytes:
        head = self._MAGIC + np.array([len(self.fine)], dtype="<u4").tobytes()
        return head + self.fine.astype("<u4").tobytes() + self.long.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, blob: bytes) -> SoundPrint:
        """Read what :meth:`to_bytes` wrote, or an older row's bare fine fingerprint (no long one)."""
        if blob[:4] == cls._MAGIC and len(blob) >= 8:
            n = int(np.frombuffer(blob[4:8], dtype="<u4")[0])
            fine = np.frombuffer(blob[8 : 8 + 4 * n], dtype="<u4").astype(np.uint32)
            long = np.frombuffer(blob[8 + 4 * n :], dtype="<u4").astype(np.uint32)
        else:
            fine, long = np.frombuffer(blob, dtype="<u4").astype(np.uint32), np.zeros(0, np.uint32)
        return cls(fine, long, np.zeros(0, np.uint32), len(fine) * _FP_HOP / FP_RATE)


class _SoundStream:
    """Fingerprints and keys of a recording fed in chunks at FP_RATE: the same frames as one pass over
    the whole signal, in memory bounded by the fine part, one chunk, and 33 numbers per 64 ms."""

    def __init__(self, fine_s: float = FP_FULL_S, long_s: float = LONG_MAX_S) -> None:
        self.fine_frames = int(fine_s * FP_RATE / _FP_HOP)
        self.long_frames = int(long_s * FP_RATE / _FP_HOP)
        self.carry = np.zeros(0, dtype=np.float32)
        self.fine: list[np.ndarray] = []
        self.n_fine = 0
        self.boxes: list[np.ndarray] = []
        self.rest = np.zeros((0, _FP_BANDS))
        self.frames = 0
        # Keys: coarse log-energy rows from global frame ``coarse_at`` on; the next key's first frame.
        self.coarse = np.zeros((0, 16))
        self.coarse_at = 0
        self.next_key = 0
        self.prev_loud: float | None = None
        self.keys: list[int] = []
        #: Set when the long fingerprint is full: the caller may stop decoding.
        self.full = False

    def feed(self, x: np.ndarray) -> None:
        buf = np.concatenate([self.carry, np.asarray(x, dtype=np.float32)])
        if len(buf) < _FP_FRAME:
            self.carry = buf
            return
        e = _band_energy(buf)
        self.carry = buf[len(e) * _FP_HOP :]
        if self.n_fine < self.fine_frames:
            part = e[: self.fine_frames - self.n_fine]
            self.fine.append(part)
            self.n_fine += len(part)
        if self.frames < self.long_frames:
            take = np.vstack([self.rest, e[: self.long_frames - self.frames]])
            n = len(take) // LONG_FACTOR
            if n:
                self.boxes.append(take[: n * LONG_FACTOR].reshape(n, LONG_FACTOR, -1).sum(axis=1))
            self.rest = take[n * LONG_FACTOR :]
        self.frames += len(e)
        self.full = self.frames >= max(self.long_frames, self.fine_frames)
        self._keys(e)

    def _keys(self, e: np.ndarray) -> None:
        log_e = np.log(e + 1e-9)
        coarse = log_e[:, :-1].reshape(len(e), 16, 2).mean(axis=2)
        self.coarse = np.vstack([self.coarse, coarse])
        while self.next_key + _KEY_WINDOW <= self.coarse_at + len(self.coarse):
            i = self.next_key - self.coarse_at
            means = self.coarse[i : i + _KEY_WINDOW].mean(axis=0)
            self.keys.append(_key_of(means, self.prev_loud))
            self.prev_loud = float(means.mean())
            self.next_key += _KEY_STEP
        drop = self.next_key - self.coarse_at
        if drop > 0:
            self.coarse = self.coarse[drop:]
            self.coarse_at = self.next_key

    def result(self) -> SoundPrint:
        fine = np.vstack(self.fine) if self.fine else np.zeros((0, _FP_BANDS))
        long = np.vstack(self.boxes) if self.boxes else np.zeros((0, _FP_BANDS))
        empty = np.zeros(0, dtype=np.uint32)
        return SoundPrint(
            _bits_of(fine) if len(fine) >= 2 else empty,
            _bits_of(long) if len(long) >= 2 else empty,
            np.asarray(self.keys, dtype=np.uint32),
            self.frames * _FP_HOP / FP_RATE,
        )


#: Sound both recordings must have at the offset they match best, in seconds and as a share of the
#: sound (non-silent frames) in the one with less: a match on a sliver of sound proves nothing.
MIN_SOUND_S = 0.25
MIN_SOUND_SHARE = 0.5


def fingerprint_match(
    a: np.ndarray,
    b: np.ndarray,
    *,
    min_overlap_s: float = 3.0,
    hop_s: float = _FP_HOP / FP_RATE,
    min_sound_s: float = MIN_SOUND_S,
    min_sound_share: float = MIN_SOUND_SHARE,
) -> tuple[float, float, float]:
    """How alike two sound fingerprints are where they overlap best: (bit error rate, offset seconds,
    overlap as a share of the shorter).

    Silent sub-fingerprints (0, see :data:`SILENCE_DB`) of either side are left out: the bit error rate
    is measured over the frames where both have sound, and an offset counts only where those cover
    ``min_sound_s`` and ``min_sound_share`` of the sound of the side with less (so two recordings that
    are mostly silence do not match on their silence). Lossy copies of one recording score below about
    0.2, different recordings near 0.5. Returns (1.0, 0.0, 0.0) when nothing lines up. ``hop_s``: the
    seconds between sub-fingerprints (LONG_HOP_S for the long ones).
    """
    a = np.asarray(a, dtype=np.uint32)
    b = np.asarray(b, dtype=np.uint32)
    need = max(8, int(min_overlap_s / hop_s))
    if len(a) < need or len(b) < need:
        need = min(len(a), len(b))
        if need < 8:
            return 1.0, 0.0, 0.0
    ma, mb = (a != 0).astype(np.float32), (b != 0).astype(np.float32)
    sound_need = max(8.0, min_sound_s / hop_s, min_sound_share * min(ma.sum(), mb.sum()))
    # Every offset at once: the agreement of the two bit matrices at each shift, by FFT correlation of
    # their +-1 columns (0 where silent), and the frames with sound on both sides by the same on the
    # masks (a cut copy shares no exact sub-fingerprint when its bits are a little off).
    size = 1 << int(np.ceil(np.log2(len(a) + len(b))))

    def xcorr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        fx = np.fft.rfft(x, size, axis=0)
        fy = np.fft.rfft(y, size, axis=0)
        return np.fft.irfft((fx * np.conj(fy)).reshape(len(fx), -1).sum(axis=1), size)

    def at_shifts(c: np.ndarray) -> np.ndarray:
        # c[k] (k >= 0): a[j + k] against b[j]; negative shifts wrap to the end of the array.
        return np.concatenate([c[: len(a)], c[size - (len(b) - 1) :]]) if len(b) > 1 else c[: len(a)]

    values = at_shifts(xcorr(_signs(a) * ma[:, None], _signs(b) * mb[:, None]))
    both = np.rint(at_shifts(xcorr(ma, mb)))
    shifts = np.concatenate([np.arange(0, len(a)), np.arange(-(len(b) - 1), 0)])
    overlap = np.minimum(len(a), shifts + len(b)) - np.maximum(0, shifts)
    ok = (overlap >= need) & (both >= sound_need)
    if not ok.any():
        return 1.0, 0.0, 0.0
    agree = np.where(ok, values / np.maximum(both, 1) / 32.0, -np.inf)
    k = int(np.argmax(agree))
    ber = float((1.0 - agree[k]) / 2.0)
    return ber, float(shifts[k]) * hop_s, float(overlap[k]) / min(len(a), len(b))


def _signs(fp: np.ndarray) -> np.ndarray:
    bits = (fp[:, None] >> np.arange(31, -1, -1, dtype=np.uint32)[None, :]) & 1
    return bits.astype(np.float32) * 2.0 - 1.0


def load_sound_fingerprint(path: str | os.PathLike[str]) -> SoundPrint:
    """The fingerprints and index keys of a sound or a video's soundtrack: fine over the first
    FP_FULL_S seconds, long and keys over the whole recording up to LONG_MAX_S (decoded once, in
    chunks). A 10 minute recording at 44.1 kHz took 10-14 s here (load 14 on 2 shared cores; half of
    it the band energies' FFTs) and stores 127 KB, 90 KB of it the fine part; 3 hours would store 0.8 MB.

    Raises DecodeError when the file holds no decodable audio.
    """
    from engine.media.audio import iter_audio_chunks

    stream = _SoundStream()
    any_audio = False
    for chunk in iter_audio_chunks(path, sr=FP_RATE, chunk_s=10.0):
        any_audio = True
        stream.feed(chunk)
        if stream.full:
            break
    if not any_audio:
        raise DecodeError("no audio could be decoded")
    return stream.result()
