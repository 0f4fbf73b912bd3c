"""When and where a file was made, read from its header: capture time, camera, GPS position, tags.

Pure functions, no library state. Photos: EXIF DateTimeOriginal with OffsetTimeOriginal when present,
camera make and model, the GPS IFD. Videos: the container's creation time and location (MP4/QuickTime
``©xyz`` / ``location`` / Apple's ``com.apple.quicktime.location.ISO6709``, all ISO 6709). Sounds: the
title, artist and date tags that PyAV exposes for ID3, Vorbis comments, RIFF INFO and MP4 atoms.

Time has two faces here. ``local`` is the wall clock where the picture was taken ("2023-07-14T18:02:11"):
what people remember and what "July 2023" means, so date filters compare it. ``utc`` is the instant
(seconds since the epoch), exact when the offset is known and otherwise computed as if the camera had
been in this machine's time zone. A file with no capture time in its header gets its modification time,
with ``time_source`` "mtime" so that nobody mistakes it for a capture date.

Nothing here raises for a file with odd or broken metadata: a value that cannot be read is left out
(None). :func:`read_metadata` raises DecodeError only when the file itself cannot be opened.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from engine.errors import DecodeError
from engine.media.kinds import Kind
from engine.media.raw import is_raw, raw_exif

#: Where a capture time came from, most trusted first.
SOURCE_EXIF = "exif"  # EXIF DateTimeOriginal (or Digitized / DateTime)
SOURCE_CONTAINER = "container"  # a video container's creation time
SOURCE_TAGS = "tags"  # a sound's date tag
SOURCE_MTIME = "mtime"  # the file's modification time: no capture time was recorded

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_MAKE, _MODEL, _DATETIME = 0x010F, 0x0110, 0x0132
_DATETIME_ORIGINAL, _DATETIME_DIGITIZED = 0x9003, 0x9004
_OFFSET_TIME, _OFFSET_TIME_ORIGINAL, _OFFSET_TIME_DIGITIZED = 0x9010, 0x9011, 0x9012
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON, _GPS_TIME, _GPS_DATE = 1, 2, 3, 4, 7, 29

#: Capture times before this are camera clocks that were never set (1904/1970 epochs, "0000:00:00").
_EARLIEST_YEAR = 1900


@dataclass
class MediaMeta:
    """What a file's header says about when and where it was made (None where it says nothing)."""

    #: Capture instant, seconds since the epoch (see the module docstring for how it is computed).
    utc: float | None = None
    #: Capture wall-clock time where it was taken, ISO 8601 without offset: "2023-07-14T18:02:11".
    local: str | None = None
    #: Minutes east of UTC of ``local`` when the file records it (EXIF OffsetTimeOriginal, Apple's dates).
    offset_min: int | None = None
    #: SOURCE_EXIF, SOURCE_CONTAINER, SOURCE_TAGS or SOURCE_MTIME.
    time_source: str = SOURCE_MTIME
    make: str | None = None
    model: str | None = None
    lat: float | None = None
    lon: float | None = None
    title: str | None = None
    artist: str | None = None

    @property
    def camera(self) -> str | None:
        """Make and model as people say them ("Canon EOS 5D", not "Canon Canon EOS 5D")."""
        if not self.model:
            return self.make
        if self.make and not self.model.lower().startswith(self.make.split()[0].lower()):
            return f"{self.make} {self.model}"
        return self.model

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["camera"] = self.camera
        return d


# -- time helpers ------------------------------------------------------------------------------------


def _clean(value: Any) -> str | None:
    """A tag value as a trimmed string (EXIF strings are often NUL-padded); None when empty."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).replace("\x00", "").strip()
    return text or None


def _parse_offset(text: str | None) -> int | None:
    """'+02:00', '-0530', 'Z' → minutes east of UTC; None when absent or malformed."""
    text = _clean(text)
    if not text:
        return None
    if text in ("Z", "z"):
        return 0
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text)
    if not m:
        return None
    minutes = int(m.group(2)) * 60 + int(m.group(3))
    if minutes > 14 * 60:
        return None
    return minutes if m.group(1) == "+" else -minutes


#: The clocks' zero points, which muxers and cameras write for "no date" (ffmpeg's MP4 writer puts
#: 1970-01-01T00:00:00Z in creation_time when it has none; QuickTime counts from 1904).
_EPOCHS = (datetime(1970, 1, 1), datetime(1904, 1, 1))


def _valid(dt: datetime) -> bool:
    return dt.year >= _EARLIEST_YEAR and dt.replace(tzinfo=None) not in _EPOCHS


def _from_wall_clock(local: datetime, offset_min: int | None) -> tuple[float, str]:
    """(utc seconds, local ISO text) of a naive wall-clock time; without an offset it is taken as being
    in this machine's zone (the usual guess of photo managers: most photos are taken at home)."""
    if offset_min is not None:
        aware = local.replace(tzinfo=timezone(timedelta(minutes=offset_min)))
    else:
        aware = local.astimezone()  # naive → the machine's local zone, DST included
    return aware.timestamp(), local.replace(microsecond=0).isoformat()


def _local_of_instant(utc: float, offset_min: int | None = None) -> str:
    """The wall-clock ISO text of an instant: at ``offset_min`` when known, else in this machine's zone."""
    if offset_min is not None:
        dt = datetime.fromtimestamp(utc, timezone(timedelta(minutes=offset_min)))
    else:
        dt = datetime.fromtimestamp(utc).astimezone()
    return dt.replace(tzinfo=None, microsecond=0).isoformat()


def mtime_meta(mtime: float) -> MediaMeta:
    """The fallback: the file's modification time, marked as such."""
    return MediaMeta(utc=float(mtime), local=_local_of_instant(float(mtime)), time_source=SOURCE_MTIME)


def parse_iso_datetime(text: str | None) -> tuple[float, str, int | None] | None:
    """A container/tag date ('2021-07-14T10:20:30.000000Z', '2021-07-14 10:20:30', '2021-07-14T12:20:30+0200',
    '2021-07-14', '2021') → (utc, local ISO, offset minutes or None); None when it is no usable date.

    A time with an offset keeps that offset's wall clock as ``local``; a 'Z' (what MP4 muxers write) is an
    instant whose local time is shown in this machine's zone; a naive one is a wall clock.
    """
    text = _clean(text)
    if not text:
        return None
    m = re.match(
        r"(\d{4})(?:[-:](\d{2})(?:[-:](\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?)?)?\s*"
        r"(Z|[+-]\d{2}:?\d{2})?$",
        text,
    )
    if not m:
        return None
    year, month, day, hh, mm, ss, zone = m.groups()
    try:
        dt = datetime(int(year), int(month or 1), int(day or 1), int(hh or 0), int(mm or 0), int(ss or 0))
    except ValueError:
        return None
    if not _valid(dt):
        return None
    if zone in ("Z", "z"):
        utc = dt.replace(tzinfo=timezone.utc).timestamp()
        return utc, _local_of_instant(utc), None
    offset = _parse_offset(zone)
    utc, local = _from_wall_clock(dt, offset)
    return utc, local, offset


# -- photos ------------------------------------------------------------------------------------------


def _exif_datetime(text: Any) -> datetime | None:
    """EXIF 'YYYY:MM:DD HH:MM:SS' (some writers use '-' or 'T') → naive datetime, None if unset/invalid."""
    s = _clean(text)
    if not s:
        return None
    m = re.match(r"(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?", s)
    if not m:
        return None
    y, mo, d, h, mi, sec = (int(g or 0) for g in m.groups())
    try:
        dt = datetime(y, mo, d, h, mi, sec)
    except ValueError:
        return None
    return dt if _valid(dt) else None


def _rational(v: Any) -> float:
    if isinstance(v, tuple) and len(v) == 2:  # (num, den) from old writers
        return float(v[0]) / float(v[1]) if v[1] else math.nan
    return float(v)


def _gps_coord(dms: Any, ref: Any) -> float | None:
    """Degrees/minutes/seconds rationals with an N/S/E/W reference → signed degrees."""
    try:
        parts = [_rational(x) for x in dms]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not parts or any(math.isnan(p) for p in parts):
        return None
    parts += [0.0] * (3 - len(parts))
    value = parts[0] + parts[1] / 60 + parts[2] / 3600
    r = (_clean(ref) or "").upper()
    return -value if r in ("S", "W") else value


def _gps_position(gps: Any) -> tuple[float, float] | None:
    if not gps:
        return None
    lat = _gps_coord(gps.get(_GPS_LAT), gps.get(_GPS_LAT_REF)) if _GPS_LAT in gps else None
    lon = _gps_coord(gps.get(_GPS_LON), gps.get(_GPS_LON_REF)) if _GPS_LON in gps else None
    return _checked_position(lat, lon)


def _checked_position(lat: float | None, lon: float | None) -> tuple[float, float] | None:
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    # 0,0 is what a GPS without a fix writes (it is in the Gulf of Guinea, where few photos are taken).
    if abs(lat) < 1e-6 and abs(lon) < 1e-6:
        return None
    return round(lat, 6), round(lon, 6)


def _gps_utc(gps: Any) -> datetime | None:
    """The GPS clock's UTC date and time (GPSDateStamp + GPSTimeStamp), when both are there."""
    date = _clean(gps.get(_GPS_DATE)) if gps else None
    stamp = gps.get(_GPS_TIME) if gps else None
    if not date or not stamp:
        return None
    m = re.match(r"(\d{4})[:-](\d{2})[:-](\d{2})", date)
    if not m:
        return None
    try:
        h, mi, s = (_rational(x) for x in stamp)
        return datetime(int(m.group(1)), int(m.group(2)), int(m.group(3))) + timedelta(
            hours=h, minutes=mi, seconds=s
        )
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None


def _register_heif() -> None:
    from engine.media.images import _register_heif as register

    register()


def read_photo_meta(path: str | os.PathLike[str], mtime: float | None = None) -> MediaMeta:
    """EXIF capture time (with its offset), camera and GPS position of a photo; mtime when it has no date.

    Only the header is read (Pillow opens lazily and getexif() parses the APP1/eXIf segment).
    Raises DecodeError when the file is not an image Pillow can open.
    """
    from PIL import Image, UnidentifiedImageError

    _register_heif()
    p = Path(path)
    try:
        if mtime is None:
            mtime = p.stat().st_mtime
        if is_raw(p):  # CR3 and RAF are no TIFF Pillow opens; raw_exif reads them all, never raises
            exif = raw_exif(p) or Image.Exif()
        else:
            with Image.open(p) as im:
                # A PNG with no eXIf chunk before its pixels: Pillow's getexif() would decode the whole
                # picture to look for one after them (rare, and not worth a full decode per PNG).
                none_early = im.format == "PNG" and "exif" not in im.info
                exif = Image.Exif() if none_early else im.getexif()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DecodeError(f"cannot read the photo's header: {exc}") from exc
    meta = mtime_meta(mtime)
    if not exif:
        return meta
    try:
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception:  # a corrupt IFD pointer: keep what IFD0 has
        sub = {}
    try:
        gps = exif.get_ifd(_GPS_IFD)
    except Exception:
        gps = {}
    meta.make = _clean(exif.get(_MAKE))
    meta.model = _clean(exif.get(_MODEL))
    pos = _gps_position(gps)
    if pos is not None:
        meta.lat, meta.lon = pos
    # DateTimeOriginal is the shutter; Digitized and IFD0's DateTime are the fallbacks (scanners, editors).
    for dt_tag, off_tag, ifd in (
        (_DATETIME_ORIGINAL, _OFFSET_TIME_ORIGINAL, sub),
        (_DATETIME_DIGITIZED, _OFFSET_TIME_DIGITIZED, sub),
        (_DATETIME, _OFFSET_TIME, exif),
    ):
        local = _exif_datetime(ifd.get(dt_tag))
        if local is None:
            continue
        offset = _parse_offset(sub.get(off_tag))
        if offset is None:
            offset = _offset_from_gps_clock(local, _gps_utc(gps))
        meta.utc, meta.local = _from_wall_clock(local, offset)
        meta.offset_min = offset
        meta.time_source = SOURCE_EXIF
        break
    return meta


def _offset_from_gps_clock(local: datetime, gps_utc: datetime | None) -> int | None:
    """The zone offset implied by the camera clock beside the GPS clock (UTC), rounded to 15 minutes;
    None when they are more than 14 hours apart (one of the clocks is wrong)."""
    if gps_utc is None:
        return None
    minutes = (local - gps_utc).total_seconds() / 60
    if abs(minutes) > 14 * 60:
        return None
    return int(round(minutes / 15) * 15)


# -- videos and sounds -------------------------------------------------------------------------------

_ISO6709 = re.compile(r"([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?(?:CRS[^/]*)?/?$")

#: Container keys holding an ISO 6709 position, most specific first.
_LOCATION_KEYS = (
    "com.apple.quicktime.location.ISO6709",
    "location",
    "location-eng",
    "com.android.location",
)
#: Container keys holding a creation date; Apple's keeps the local offset, so it goes first.
_CREATION_KEYS = ("com.apple.quicktime.creationdate", "creation_time", "date")


def parse_iso6709(text: str | None) -> tuple[float, float] | None:
    """'+41.1496-008.6110/' or '+41.1496-008.6110+012.000/' (degrees form) → (lat, lon); None otherwise.

    The degrees-minutes(-seconds) forms (+4108.97-00836.66/) are read too, from the length of the
    integer part as ISO 6709 defines it.
    """
    s = _clean(text)
    if not s:
        return None
    m = _ISO6709.match(s.replace(" ", ""))
    if not m:
        return None
    try:
        lat = _iso6709_part(m.group(1), 2)
        lon = _iso6709_part(m.group(2), 3)
    except ValueError:
        return None
    return _checked_position(lat, lon)


def _iso6709_part(text: str, degree_digits: int) -> float:
    sign = -1.0 if text[0] == "-" else 1.0
    body = text[1:]
    whole, _, frac = body.partition(".")
    frac_v = float("0." + frac) if frac else 0.0
    if len(whole) <= degree_digits:  # ±DD.DDDD
        return sign * (int(whole) + frac_v)
    if len(whole) == degree_digits + 2:  # ±DDMM.MMMM
        return sign * (int(whole[:degree_digits]) + (int(whole[degree_digits:]) + frac_v) / 60)
    if len(whole) == degree_digits + 4:  # ±DDMMSS.SSSS
        d, mi, se = (
            whole[:degree_digits],
            whole[degree_digits : degree_digits + 2],
            whole[degree_digits + 2 :],
        )
        return sign * (int(d) + int(mi) / 60 + (int(se) + frac_v) / 3600)
    raise ValueError(text)


def _container_tags(path: Path) -> dict[str, str]:
    """The container's and its streams' metadata, container keys winning (PyAV; only headers are read)."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            tags: dict[str, str] = {}
            for s in c.streams:
                for k, v in (s.metadata or {}).items():
                    tags.setdefault(k, v)
            for k, v in (c.metadata or {}).items():
                tags[k] = v
    except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(f"cannot read the file's container: {exc}") from exc
    # Keys differ in case between muxers (ID3 'TITLE' vs 'title'); look them up lowercased.
    return {k.lower(): v for k, v in tags.items()}


def _first(tags: dict[str, str], keys: tuple[str, ...]) -> str | None:
    for k in keys:
        v = _clean(tags.get(k.lower()))
        if v:
            return v
    return None


def read_video_meta(path: str | os.PathLike[str], mtime: float | None = None) -> MediaMeta:
    """A video's container creation time, location and camera (Apple/Android keys); mtime without a date.

    Raises DecodeError when the container cannot be opened.
    """
    p = Path(path)
    if mtime is None:
        mtime = p.stat().st_mtime
    tags = _container_tags(p)
    meta = mtime_meta(mtime)
    when = parse_iso_datetime(_first(tags, _CREATION_KEYS))
    if when is not None:
        meta.utc, meta.local, meta.offset_min = when
        meta.time_source = SOURCE_CONTAINER
    pos = parse_iso6709(_first(tags, _LOCATION_KEYS))
    if pos is not None:
        meta.lat, meta.lon = pos
    meta.make = _first(tags, ("com.apple.quicktime.make", "make"))
    meta.model = _first(tags, ("com.apple.quicktime.model", "model", "com.android.model"))
    meta.title = _first(tags, ("title",))
    return meta


def read_sound_meta(path: str | os.PathLike[str], mtime: float | None = None) -> MediaMeta:
    """A sound's title, artist and recording date tags (ID3, Vorbis, RIFF INFO, MP4); mtime without a date.

    Raises DecodeError when the file cannot be opened.
    """
    p = Path(path)
    if mtime is None:
        mtime = p.stat().st_mtime
    tags = _container_tags(p)
    meta = mtime_meta(mtime)
    meta.title = _first(tags, ("title", "inam"))
    meta.artist = _first(tags, ("artist", "album_artist", "iart"))
    # A bare year tag ("2019") is a date too: it lands on January 1st, which a year filter still finds.
    when = parse_iso_datetime(_first(tags, ("date", "creation_time", "icrd", "tdrc", "year")))
    if when is not None:
        meta.utc, meta.local, meta.offset_min = when
        meta.time_source = SOURCE_TAGS
    pos = parse_iso6709(_first(tags, _LOCATION_KEYS))
    if pos is not None:
        meta.lat, meta.lon = pos
    return meta


def read_metadata(path: str | os.PathLike[str], kind: str, mtime: float | None = None) -> MediaMeta:
    """The metadata of a file of ``kind`` (a Kind value). Raises DecodeError for an unreadable file."""
    if kind == Kind.PHOTO.value:
        return read_photo_meta(path, mtime)
    if kind == Kind.VIDEO.value:
        return read_video_meta(path, mtime)
    if kind == Kind.SOUND.value:
        return read_sound_meta(path, mtime)
    raise ValueError(f"no metadata reader for kind {kind!r}")
