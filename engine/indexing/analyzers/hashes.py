"""The duplicates analyzer: hash each file, then group it with the copies already in the library.

Per file (photo, video or sound), in the slow analyzers' pass after embedding:

1. **hash**: the full content hash (blake2b), plus the perceptual data: a photo's trimmed pHash in 8
   orientations and its 9 region windows; a clip's per-moment pHashes in time order (from the moment
   thumbnails the video pipeline saved, so the clip is not decoded again); a sound's spectral
   fingerprint. Stored in ``dupe_hashes``, with index keys in ``dupe_bands``.
2. **group**: look the new file's keys up in the index (a photo's 21-bit chunks within one bit, a
   clip's 16-bit bands, a sound's coarse spectral keys), score only those, confirm a photo pair with
   ORB keypoints and its aligned pixels, record accepted pairs and regroup the component they touch.
   No pass over the library: the work per file depends on how many files share its keys, and keys
   that long are shared by chance about as rarely in a million photos as in a thousand.

Thresholds (measured on edited copies of Caltech photos among other photos of their classes, see
docs/benchmarks.md "Duplicates"): a pair is a duplicate when its best hash distance is at most
``PHOTO_CANDIDATE`` bits and its keypoints agree (``MIN_INLIERS`` inliers under one similarity
transform, aligned pixels correlated above ``MIN_CORRELATION``, covering ``MIN_OVERLAP`` of the
frame); pictures too plain for keypoints fall back to the hash alone at ``PLAIN_HASH`` bits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from engine.errors import DecodeError
from engine.indexing.analyzers.base import Analyzer, Inputs, register
from engine.media import hashes as H
from engine.media.kinds import Kind
from engine.storage.duplicates import DuplicateTables, HashRow, pack_u64, unpack_u64

if TYPE_CHECKING:
    from PIL.Image import Image

    from engine.library import Library
    from engine.storage.catalog import FileRow

log = logging.getLogger(__name__)

VERSION = 1

#: Best hash distance (bits of 64) at which a pair of photos is worth checking with keypoints. Every true
#: pair of the bench set was at most 14 (hashes have 32 bits set, so distances are even); 16-20 were
#: 99.9 % false candidates, each costing a keypoint check.
PHOTO_CANDIDATE = 14
#: Band-index candidates scored per new photo (those sharing the most bands).
MAX_CANDIDATES = 256
#: Candidates checked with keypoints per new photo, closest first (bounds the work per file).
MAX_VERIFY = 12
MIN_INLIERS = 35
#: ...or this share of the smaller side's keypoints, never fewer than MIN_INLIERS_FLOOR.
INLIER_SHARE = 0.3
MIN_INLIERS_FLOOR = 12
MIN_CORRELATION = 0.84
MIN_OVERLAP = 0.7
#: ...or, where a date stamp or a logo lowers the whole picture's correlation, this share of its 4x4
#: tiles agreeing on their own (engine.media.hashes.TILE_CORRELATION): stamped copies keep 0.8-0.9 of
#: them, two shots of one motorbike model on white 0.3 at most (bench set, docs/benchmarks.md).
MIN_TILES = 0.7
#: Hash distance up to which a pair is still checked, but accepted only through its tiles: a large
#: stamp on a small picture moves its hash up to 18 bits. Strangers are that close far more often (13 %
#: of the bench set's distinct pairs against 0.6 % within PHOTO_CANDIDATE), so at most STAMP_VERIFY of
#: these, the closest, are checked per new photo, after the nearer ones.
STAMP_CANDIDATE = 18
STAMP_VERIFY = 3
#: Keypoints below which a picture is "plain" (a logo, a drawing): the hash alone decides, at this distance.
PLAIN_KEYPOINTS = 40
PLAIN_HASH = 4
#: Orientation codes that mirror the picture (ORB is rotation- but not mirror-invariant).
_MIRRORS = {1, 3, 4, 7}

#: Moments of a clip kept for matching, spread over its length.
VIDEO_MOMENTS = 240
#: Share of the shorter clip's moments that must match, in order, for a copy or a trim.
VIDEO_SHARE = 0.6
VIDEO_MAX_DISTANCE = 10
SOUND_MAX_BER = 0.3
SOUND_MIN_OVERLAP = 0.8
#: Sounds scored per new sound: those sharing the most index keys (a copy shares hundreds, a stranger
#: a few by chance), plus the nearest in the PANNs space; bounds the fingerprint comparisons per file.
SOUND_CANDIDATES = 16
_SOUND_BAND = 100
#: Band tables (engine.storage.duplicates): photo frames, photo windows, video moments, photo tops.
FRAMES, WINDOWS, MOMENTS, TOPS = 0, 1, 2, 3
#: The band numbers photos used before their index moved to long keys (16-bit bands of FRAMES and
#: WINDOWS): a catalog still holding them has its photo index rebuilt from the stored hashes.
_OLD_PHOTO_BANDS = range(0, 2 * 4)

#: Software names in EXIF that mark a picture as an edited copy.
_EDITORS = ("photoshop", "lightroom", "gimp", "snapseed", "picsart", "vsco", "facetune", "paint", "canva")
_EDITED_NAMES = ("edited", "-edit", "_edit", " copy", "(1)", "(2)", "_copy", "-copy")


def tables(lib: Library) -> DuplicateTables:
    t = DuplicateTables.of(lib.catalog)
    if not getattr(t, "_photo_index_checked", False):
        _upgrade_photo_index(t)
        t._photo_index_checked = True  # type: ignore[attr-defined]
    return t


def index_photo(t: DuplicateTables, file_id: int, ph: H.PhotoHashes) -> None:
    """A photo's index entries: its frame in all 8 orientations (FRAMES) and its 9 windows as shown
    (WINDOWS), as long keys. Storing the orientations lets a lookup probe with the new photo's frame
    and windows as shown (18 hashes) where probing every orientation of them took 88."""
    with t.catalog.transaction():
        t.add_index(file_id, [int(x) for x in ph.full], table=FRAMES, long=True)
        t.add_index(file_id, [int(x) for x in ph.regions], table=WINDOWS, long=True)
        if ph.top is not None:
            t.add_index(file_id, [ph.top], table=TOPS, long=True)


def _upgrade_photo_index(t: DuplicateTables) -> None:
    """Re-key the photos of a catalog indexed with 16-bit bands, from the hashes it stored (no photo
    is decoded again)."""
    if not any(t.has_band(b) for b in _OLD_PHOTO_BANDS):
        return
    ids = sorted(t.hashed_ids(Kind.PHOTO.value))
    log.info("duplicates: re-keying the index of %d photos", len(ids))
    with t.catalog.transaction():
        t.drop_bands(_OLD_PHOTO_BANDS)
        for i in range(0, len(ids), 500):
            for fid, row in t.get_many(ids[i : i + 500]).items():
                if row.data is not None:
                    index_photo(t, fid, H.PhotoHashes.from_bytes(row.data, row.width or 0, row.height or 0))


# -- photos ---------------------------------------------------------------------------------------------


@dataclass
class PhotoMatch:
    other: int
    distance: int
    via: str


def _is_edited(path: str, img_info: dict | None) -> bool:
    import os

    name = os.path.basename(path).lower()
    if any(s in name for s in _EDITED_NAMES):
        return True
    software = str((img_info or {}).get("software") or "").lower()
    return any(e in software for e in _EDITORS)


def _exif_software(path: str) -> dict:
    try:
        from PIL import Image as PILImage

        with PILImage.open(path) as im:
            return {"software": im.getexif().get(0x0131)}
    except Exception:  # only a hint for which copy to keep
        return {}


def hash_photo(lib: Library, row: FileRow, img: Image | None = None) -> tuple[HashRow, H.PhotoHashes, Image]:
    """Hash one photo and store the hashes (not yet grouped). Raises DecodeError, OSError."""
    digest = H.full_hash(row.path)
    if img is None:
        img, w, h = H.load_for_hashing(row.path)
    else:
        w, h = img.size
    ph = H.photo_hashes(img, w, h)
    hrow = HashRow(
        row.id, Kind.PHOTO.value, VERSION, digest, ph.width, ph.height, None,
        _is_edited(row.path, _exif_software(row.path)), ph.to_bytes(),
    )  # fmt: skip
    t = tables(lib)
    with lib.catalog.transaction():
        t.put(hrow)
        index_photo(t, row.id, ph)
    return hrow, ph, img


class _FeatureCache:
    """ORB features of decoded photos, per (file, mirrored), for one grouping step."""

    def __init__(self) -> None:
        self._imgs: dict[int, Image] = {}
        self._feats: dict[tuple[int, bool], H.Features] = {}

    def add(self, file_id: int, img: Image) -> None:
        self._imgs[file_id] = img

    def get(self, file_id: int, path: str, mirror: bool) -> H.Features:
        key = (file_id, mirror)
        if key not in self._feats:
            img = self._imgs.get(file_id)
            if img is None:
                img, _, _ = H.load_for_hashing(path)
                self._imgs[file_id] = img
            self._feats[key] = H.orb_features(H.mirrored(img) if mirror else img)
        return self._feats[key]


def verify_photos(
    a_id: int, a_path: str, b_id: int, b_path: str, score: H.PairScore, cache: _FeatureCache
) -> bool:
    """Whether a candidate pair is the same picture: keypoints and aligned pixels agree, or, for a
    picture too plain for keypoints, the hashes are nearly equal."""
    fa = cache.get(a_id, a_path, score.orientation in _MIRRORS)
    fb = cache.get(b_id, b_path, False)
    plain = min(len(fa.keypoints), len(fb.keypoints)) < PLAIN_KEYPOINTS
    if plain and score.distance <= PLAIN_HASH:
        return True
    al = H.align(fa, fb)
    # A picture with few keypoints (a smooth one) cannot give MIN_INLIERS; a share of them will do.
    need = max(
        MIN_INLIERS_FLOOR, min(MIN_INLIERS, round(INLIER_SHARE * min(len(fa.keypoints), len(fb.keypoints))))
    )
    near = score.distance <= PHOTO_CANDIDATE

    def agrees(x: H.Alignment, overlap: float) -> bool:
        # The whole picture correlates (hashes close), or most of its tiles do (a stamp spoils a corner).
        pixels = (near and x.correlation >= MIN_CORRELATION) or x.tiles >= MIN_TILES
        return x.inliers >= need and overlap >= MIN_OVERLAP and pixels

    if agrees(al, al.overlap):
        return True
    if al.inliers < need // 2:
        return False
    # From the other side: RANSAC on b's keypoints can fit where a's fell short, and the overlap of a
    # crop (b the crop of a) is only whole in a's frame.
    back = H.align(fb, fa)
    return agrees(back, back.overlap) or agrees(al, back.overlap)


def group_photo(
    lib: Library, row: FileRow, hrow: HashRow, ph: H.PhotoHashes, img: Image | None = None
) -> list[PhotoMatch]:
    """Find the photos already hashed that ``row`` duplicates, record the pairs and regroup."""
    t = tables(lib)
    matches: list[PhotoMatch] = []
    exact = [f for f in t.with_full_hash(hrow.full_hash or "") if f != row.id] if hrow.full_hash else []
    matches += [PhotoMatch(f, 0, "exact") for f in exact]
    # Frame against frames (stored in every orientation), every orientation of the frame against
    # windows (this photo a crop of another), and the windows against frames (another a crop of this
    # one), within a bit per long key. Window against window is what compare() never scores: looking it
    # up only added rows without finding a pair the other three missed on the bench set.
    cands: dict[int, int] = {}
    # And the top window against tops: a copy stamped along the bottom (a date, a caption).
    top = [ph.top] if ph.top is not None else []
    for probes, table in ((ph.full[:1], FRAMES), (ph.full, WINDOWS), (ph.regions, FRAMES), (top, TOPS)):
        for f, n in t.candidates([int(x) for x in probes], radius=1, table=table, long=True).items():
            cands[f] = cands.get(f, 0) + n
    cands.pop(row.id, None)
    for f in exact:
        cands.pop(f, None)
    # The files sharing the most bands first, at most MAX_CANDIDATES of them: a copy shares several
    # bands with its original, a stranger one by chance; so the scoring work per new file is bounded
    # however crowded the bands get in a big library.
    best = sorted(cands, key=lambda f: (-cands[f], f))[:MAX_CANDIDATES]
    got = t.get_many(best)
    ids = [f for f, r in got.items() if r.kind == Kind.PHOTO.value and len(r.data or b"") >= H.PHOTO_BLOB_MIN]
    # Every candidate's distance in one array operation; compare() (which also says how they matched)
    # only for the closest, the ones to check: the scoring work per photo stays bounded.
    full, regions, tops = H.decode_many([got[f].data or b"" for f in ids])
    near = H.closest_distances(ph, full, regions, tops)
    order = sorted(range(len(ids)), key=lambda i: (int(near[i]), ids[i]))
    close = [i for i in order if near[i] <= PHOTO_CANDIDATE][:MAX_VERIFY]
    wide = [i for i in order if PHOTO_CANDIDATE < near[i] <= STAMP_CANDIDATE][:STAMP_VERIFY]
    scored: list[tuple[H.PairScore, int]] = []
    for i in close + wide:
        r = got[ids[i]]
        other = H.PhotoHashes(full[i], regions[i], r.width or 0, r.height or 0, top=tops[i])
        scored.append((H.compare(ph, other), ids[i]))
    if scored:
        rows = lib.catalog.get_many(f for _, f in scored)
        cache = _FeatureCache()
        if img is not None:
            cache.add(row.id, img)
        for s, fid in scored:
            other_row = rows.get(fid)
            if other_row is None:
                continue
            try:
                ok = verify_photos(row.id, row.path, fid, other_row.path, s, cache)
            except (DecodeError, OSError) as exc:  # the other file vanished or broke: not a match now
                log.debug("duplicates: cannot check %s: %s", other_row.path, exc)
                continue
            if ok:
                matches.append(PhotoMatch(fid, s.distance, s.via))
    _record(t, row.id, Kind.PHOTO.value, [(m.other, float(m.distance), m.via) for m in matches])
    return matches


def _record(t: DuplicateTables, file_id: int, kind: str, found: list[tuple[int, float, str]]) -> None:
    t.add_pairs([(file_id, other, kind, d, via) for other, d, via in found])
    t.regroup([file_id])


# -- videos ---------------------------------------------------------------------------------------------


def _moment_hashes(lib: Library, row: FileRow, inputs: Inputs | None) -> tuple[np.ndarray, np.ndarray]:
    """(times, pHashes) of a clip's moments: from the thumbnails the video pipeline saved when the store
    knows their times, else by sampling the clip again. Plain frames (black, one colour) are left out:
    their hashes say nothing."""
    from PIL import Image as PILImage

    from engine.media.thumbnails import moment_key, thumbnail_path

    times: list[float] = []
    hashes: list[int] = []

    def take(t: float, img: Image) -> None:
        grey = np.asarray(img.convert("L").resize((32, 32)), dtype=np.float32)
        if grey.std() < 4.0:
            return
        core = img.crop(H.trim_box(img))
        times.append(float(t))
        hashes.append(H.phash(core))

    ts: np.ndarray = np.zeros(0)
    try:
        if lib.store.has_collection(lib.image_collection):
            ts, _ = lib.store.get_vectors(lib.image_collection, row.id)
    except Exception as exc:  # no store (a read-only view) or a store error: sample the clip instead
        log.debug("duplicates: no moment times for %s: %s", row.path, exc)
    thumbs = lib.settings.thumbnails_dir
    found = 0
    for t in ts.tolist():
        p = thumbnail_path(thumbs, moment_key(row.id, t))
        try:
            with PILImage.open(p) as im:
                take(t, im.convert("RGB"))
            found += 1
        except OSError:
            continue
    if found == 0:
        from engine.media.video import sample_moments

        cancel = inputs if inputs is not None else None
        for m in sample_moments(row.path, interval=2.0, max_moments=VIDEO_MOMENTS, size=256, cancel=cancel):
            take(m.t, m.image)
    order = np.argsort(times, kind="stable")
    t_arr = np.asarray(times, dtype=np.float64)[order]
    h_arr = np.asarray(hashes, dtype=np.uint64)[order]
    if len(t_arr) > VIDEO_MOMENTS:
        keep = np.linspace(0, len(t_arr) - 1, VIDEO_MOMENTS).round().astype(int)
        t_arr, h_arr = t_arr[keep], h_arr[keep]
    return t_arr, h_arr


def _pack_moments(ts: np.ndarray, hs: np.ndarray) -> bytes:
    return np.asarray(ts, dtype="<f8").tobytes() + pack_u64(hs)


def _unpack_moments(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    n = len(blob) // 16
    return np.frombuffer(blob[: 8 * n], dtype="<f8"), unpack_u64(blob[8 * n :])


def hash_and_group_video(lib: Library, row: FileRow, inputs: Inputs | None = None) -> list[int]:
    """Hash a clip's moments, store them, and group it with the clips it copies or trims."""
    t = tables(lib)
    digest = H.full_hash(row.path)
    ts, hs = _moment_hashes(lib, row, inputs)
    info = _video_size(row.path)
    hrow = HashRow(row.id, Kind.VIDEO.value, VERSION, digest, info[0], info[1], None, False,
                   _pack_moments(ts, hs))  # fmt: skip
    t.put(hrow, [int(x) for x in hs], table=MOMENTS)
    found: list[tuple[int, float, str]] = [(f, 0.0, "exact") for f in t.with_full_hash(digest) if f != row.id]
    exact = {f for f, _, _ in found}
    if len(hs):
        cands = t.candidates([int(x) for x in hs], radius=0, kind=Kind.VIDEO.value, table=MOMENTS)
        cands.pop(row.id, None)
        need = min(2, len(hs))
        for fid, other in t.get_many(f for f, n in cands.items() if n >= need and f not in exact).items():
            if other.data is None:
                continue
            ots, ohs = _unpack_moments(other.data)
            share, _ = H.match_sequences(ts, hs, ots, ohs, max_distance=VIDEO_MAX_DISTANCE)
            if share >= VIDEO_SHARE:
                found.append((fid, 1.0 - share, "moments"))
    _record(t, row.id, Kind.VIDEO.value, found)
    return [f for f, _, _ in found]


def _video_size(path: str) -> tuple[int | None, int | None]:
    try:
        from engine.media.video import probe_video

        info = probe_video(path)
        return info.width, info.height
    except Exception:  # the size is only shown
        return None, None


# -- sounds ---------------------------------------------------------------------------------------------


def hash_and_group_sound(lib: Library, row: FileRow) -> list[int]:
    """Fingerprint a sound, store it, and group it with the same recording in other formats or trims:
    their fine fingerprints agree over the first minutes, or (a long recording cut anywhere) their long
    fingerprints over the whole."""
    t = tables(lib)
    digest = H.full_hash(row.path)
    sp = H.load_sound_fingerprint(row.path)
    hrow = HashRow(row.id, Kind.SOUND.value, VERSION, digest, None, None, None, False, sp.to_bytes())
    t.put(hrow, [])
    keys = sorted({int(v) for v in sp.keys.tolist()})
    t.put_keys(row.id, _SOUND_BAND, keys)
    found: list[tuple[int, float, str]] = [(f, 0.0, "exact") for f in t.with_full_hash(digest) if f != row.id]
    exact = {f for f, _, _ in found}
    shared = t.lookup_keys(_SOUND_BAND, keys)
    for f in exact | {row.id}:
        shared.pop(f, None)
    best = sorted(shared, key=lambda f: (-shared[f], f))[:SOUND_CANDIDATES]
    cands = (set(best) | set(_similar_sounds(lib, row))) - exact - {row.id}
    for fid, other in t.get_many(cands).items():
        if other.kind != Kind.SOUND.value or other.data is None:
            continue
        match = sounds_match(sp, H.SoundPrint.from_bytes(other.data))
        if match is not None:
            found.append((fid, match[0], match[1]))
    _record(t, row.id, Kind.SOUND.value, found)
    return [f for f, _, _ in found]


def sounds_match(a: H.SoundPrint, b: H.SoundPrint) -> tuple[float, str] | None:
    """(bit error rate, how) when two recordings are one, else None.

    Short recordings compare their fine fingerprints. When either goes on past FP_FULL_S, the long
    fingerprints decide, over the whole of the shorter: two episodes that open with the same three
    minutes of jingle are not copies of each other, and a trim from the middle of a long recording is.
    Rows stored before long fingerprints existed have only the fine one, compared as before.
    """
    longer = max(a.seconds, b.seconds) > H.FP_FULL_S
    if longer and len(a.long) and len(b.long):
        ber, _, overlap = H.fingerprint_match(a.long, b.long, hop_s=H.LONG_HOP_S)
        ok = ber <= SOUND_MAX_BER and overlap >= SOUND_MIN_OVERLAP
        return (ber, "long fingerprint") if ok else None
    ber, _, overlap = H.fingerprint_match(a.fine, b.fine)
    if ber <= SOUND_MAX_BER and overlap >= SOUND_MIN_OVERLAP:
        return ber, "fingerprint"
    return None


def _similar_sounds(lib: Library, row: FileRow, k: int = 8) -> list[int]:
    """The sounds nearest to this one in the PANNs space, as extra candidates (the fingerprint decides):
    a copy whose sub-fingerprints all changed still lands next to its original there."""
    try:
        name = lib.audio_collection
        if not lib.store.has_collection(name):
            return []
        ts, vecs = lib.store.get_vectors(name, row.id)
        if not len(vecs):
            return []
        clip = vecs[int(np.argmin(ts))]  # the whole-file vector has the lowest t
        hits = lib.store.search(name, clip[None, :], k + 1, group_by_file=True)[0]
        return [h.file_id for h in hits if h.file_id != row.id]
    except Exception as exc:  # no store here, or it failed: the fingerprint index still works
        log.debug("duplicates: no PANNs neighbours for %s: %s", row.path, exc)
        return []


# -- the analyzer ---------------------------------------------------------------------------------------


def analyze_file(lib: Library, row: FileRow, inputs: Inputs | None = None) -> None:
    """Hash and group one file of any kind. Raises DecodeError / OSError for an unreadable file."""
    if row.kind == Kind.PHOTO.value:
        hrow, ph, img = hash_photo(lib, row)
        group_photo(lib, row, hrow, ph, img)
    elif row.kind == Kind.VIDEO.value:
        hash_and_group_video(lib, row, inputs)
    elif row.kind == Kind.SOUND.value:
        hash_and_group_sound(lib, row)


class DuplicatesAnalyzer(Analyzer):
    name = "duplicates"
    version = VERSION
    kinds = frozenset({Kind.PHOTO.value, Kind.VIDEO.value, Kind.SOUND.value})
    needs = "file"
    produces = "content and perceptual hashes, and the duplicate groups they make"
    #: After dates (10): the keep suggestion reads capture times; before OCR and speech (slower).
    priority: ClassVar[int] = 30
    label = "finding duplicates"

    def ready(self, lib: Library) -> str | None:
        import importlib.util

        if importlib.util.find_spec("cv2") is None:
            return "OpenCV (opencv-python) is not installed: near-duplicate photos cannot be confirmed"
        return None

    def analyze(self, lib: Library, row: FileRow, inputs: Inputs) -> None:
        analyze_file(lib, row, inputs)


DUPLICATES = register(DuplicatesAnalyzer())
