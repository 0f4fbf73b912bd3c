"""Reading when and where from file headers (EXIF, GPS, container and sound tags), places offline, and
the file_meta side table's queries."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from engine.errors import DecodeError
from engine.media import metadata as mm
from engine.media.places import country_aliases, country_name, reverse, reverse_many
from engine.storage import metadata as sm
from engine.storage.catalog import Catalog
from tests.metagen import LISBON, PORTO, VIENNA, save_exif_photo, save_tagged_sound, save_tagged_video


@pytest.fixture
def tz_lisbon(monkeypatch: pytest.MonkeyPatch):
    """Run in a fixed zone with DST, so that 'this machine's zone' is known to the test."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is not available on this platform")
    monkeypatch.setenv("TZ", "Europe/Lisbon")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_exif_date_with_offset_camera_and_gps(tmp_path: Path) -> None:
    p = save_exif_photo(
        tmp_path / "a.jpg",
        1,
        taken="2023:07:14 18:02:11",
        offset="+01:00",
        gps=PORTO,
        make="Canon",
        model="Canon EOS 5D",
    )
    m = mm.read_photo_meta(p)
    assert m.time_source == mm.SOURCE_EXIF
    assert m.local == "2023-07-14T18:02:11" and m.offset_min == 60
    assert m.utc == pytest.approx(1689354131.0)  # 17:02:11 UTC
    assert m.camera == "Canon EOS 5D" and m.make == "Canon"
    assert m.lat == pytest.approx(PORTO[0], abs=1e-4) and m.lon == pytest.approx(PORTO[1], abs=1e-4)


def test_southern_and_western_hemispheres_are_negative(tmp_path: Path) -> None:
    p = save_exif_photo(tmp_path / "rio.jpg", 2, taken="2022:02:01 12:00:00", gps=(-22.9068, -43.1729))
    m = mm.read_photo_meta(p)
    assert m.lat == pytest.approx(-22.9068, abs=1e-4) and m.lon == pytest.approx(-43.1729, abs=1e-4)


def test_offset_is_recovered_from_the_gps_clock_when_exif_has_none(tmp_path: Path) -> None:
    p = save_exif_photo(
        tmp_path / "b.jpg",
        3,
        taken="2020:08:01 10:00:00",
        gps=VIENNA,
        gps_utc=("2020:08:01", (8, 0, 0)),
        make="Apple",
        model="iPhone 12",
    )
    m = mm.read_photo_meta(p)
    assert m.offset_min == 120 and m.local == "2020-08-01T10:00:00"
    assert m.camera == "Apple iPhone 12"  # a model without the make gets it prefixed


def test_exif_without_offset_is_read_in_the_machine_zone(tmp_path: Path, tz_lisbon) -> None:
    p = save_exif_photo(tmp_path / "c.jpg", 4, taken="2021:01:10 09:30:00")
    m = mm.read_photo_meta(p)
    assert m.offset_min is None and m.local == "2021-01-10T09:30:00"
    assert m.utc == pytest.approx(1610271000.0)  # Lisbon is UTC+0 in January


def test_no_exif_falls_back_to_mtime_marked_as_such(tmp_path: Path, tz_lisbon) -> None:
    p = save_exif_photo(tmp_path / "d.jpg", 5)
    os.utime(p, (1595000000, 1595000000))  # 2020-07-17 15:33:20 UTC = 16:33:20 in Lisbon (summer)
    m = mm.read_photo_meta(p)
    assert m.time_source == mm.SOURCE_MTIME
    assert m.utc == 1595000000 and m.local == "2020-07-17T16:33:20"
    assert m.lat is None and m.camera is None


def test_unset_camera_clock_and_gps_without_fix_are_ignored(tmp_path: Path) -> None:
    p = save_exif_photo(tmp_path / "e.jpg", 6, taken="0000:00:00 00:00:00", gps=(0.0, 0.0))
    m = mm.read_photo_meta(p)
    assert m.time_source == mm.SOURCE_MTIME and m.lat is None


def test_png_exif_is_read_and_a_png_without_is_not_decoded(tmp_path: Path, monkeypatch) -> None:
    from PIL import Image, PngImagePlugin

    from tests.media import make_photo

    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Pillow writes no eXIf chunk for an EXIF whose first IFD is empty
    exif.get_ifd(0x8769)[0x9003] = "2022:02:02 10:00:00"
    with_exif, without = tmp_path / "a.png", tmp_path / "b.png"
    make_photo(1, (64, 48)).save(with_exif, exif=exif)
    make_photo(2, (64, 48)).save(without)
    assert mm.read_photo_meta(with_exif).local == "2022-02-02T10:00:00"

    def no_decoding(self):  # type: ignore[no-untyped-def]
        raise AssertionError("the metadata reader decoded the pixels")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_decoding)
    assert mm.read_photo_meta(without).time_source == mm.SOURCE_MTIME


def test_a_broken_photo_raises_decode_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg at all")
    with pytest.raises(DecodeError):
        mm.read_photo_meta(bad)


def test_mp4_creation_time_and_location(tmp_path: Path) -> None:
    v = save_tagged_video(
        tmp_path / "v.mp4",
        1,
        tags={"creation_time": "2021-07-14T10:20:30.000000Z", "location": "+41.1496-008.6110/"},
    )
    m = mm.read_video_meta(v)
    assert m.time_source == mm.SOURCE_CONTAINER and m.utc == pytest.approx(1626258030.0)
    assert (m.lat, m.lon) == pytest.approx(PORTO, abs=1e-4)


def test_quicktime_xyz_atom(tmp_path: Path) -> None:
    # In a .mov, FFmpeg writes "location" as the classic QuickTime ©xyz user-data atom.
    v = save_tagged_video(
        tmp_path / "v.mov",
        4,
        tags={"creation_time": "2019-03-02T12:00:00Z", "location": "+38.7223-009.1393/"},
    )
    assert b"\xa9xyz" in v.read_bytes()
    m = mm.read_video_meta(v)
    assert (m.lat, m.lon) == pytest.approx(LISBON, abs=1e-4) and m.local is not None


def test_quicktime_apple_keys_keep_the_local_offset(tmp_path: Path) -> None:
    v = save_tagged_video(
        tmp_path / "v.mov",
        2,
        apple_keys=True,
        tags={
            "com.apple.quicktime.creationdate": "2021-07-14T12:20:30+0200",
            "com.apple.quicktime.location.ISO6709": "+48.2082+016.3738+100.000/",
            "com.apple.quicktime.make": "Apple",
            "com.apple.quicktime.model": "iPhone 12",
        },
    )
    m = mm.read_video_meta(v)
    assert m.local == "2021-07-14T12:20:30" and m.offset_min == 120
    assert m.utc == pytest.approx(1626258030.0)
    assert (m.lat, m.lon) == pytest.approx(VIENNA, abs=1e-4) and m.camera == "Apple iPhone 12"


def test_video_without_tags_uses_mtime(tmp_path: Path) -> None:
    v = save_tagged_video(tmp_path / "plain.mp4", 3, tags={})
    assert mm.read_video_meta(v).time_source == mm.SOURCE_MTIME


@pytest.mark.parametrize("suffix", [".flac", ".mp3", ".wav"])
def test_sound_tags(tmp_path: Path, suffix: str) -> None:
    try:
        s = save_tagged_sound(
            tmp_path / f"s{suffix}", tags={"title": "Birds", "artist": "Me", "date": "2019"}
        )
    except Exception as exc:  # an FFmpeg build without this encoder
        pytest.skip(f"PyAV cannot write {suffix} here: {exc}")
    m = mm.read_sound_meta(s)
    assert (m.title, m.artist, m.time_source) == ("Birds", "Me", mm.SOURCE_TAGS)
    assert m.local is not None and m.local.startswith("2019-01-01")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+41.1496-008.6110/", (41.1496, -8.611)),
        ("+41.1496-008.6110+012.000/", (41.1496, -8.611)),
        ("-33.8688+151.2093/", (-33.8688, 151.2093)),
        ("+4108.976-00836.660/", (41.1496, -8.611)),  # degrees and minutes
        ("nonsense", None),
        ("+00.0000+000.0000/", None),
    ],
)
def test_iso6709(text: str, expected: tuple[float, float] | None) -> None:
    got = mm.parse_iso6709(text)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1e-3)


def test_places_offline() -> None:
    porto, vienna, sea = reverse_many([PORTO, VIENNA, (30.0, -40.0)])
    assert porto is not None and (porto.city, porto.cc, porto.country) == ("Porto", "PT", "Portugal")
    assert vienna is not None and (vienna.city, vienna.country) == ("Vienna", "Austria")
    assert sea is None  # mid-Atlantic: the nearest town is far across the sea
    assert reverse(*LISBON).city == "Lisbon"  # type: ignore[union-attr]
    assert country_name("GB") == "United Kingdom" and country_name("KR") == "South Korea"
    assert "Alemania" in country_aliases("DE")


# -- the side table ---------------------------------------------------------------------------------


def _meta(local: str, source: str = mm.SOURCE_EXIF, **kw) -> mm.MediaMeta:
    return mm.MediaMeta(utc=0.0, local=local, time_source=source, **kw)


def test_side_table_queries(tmp_path: Path) -> None:
    from engine.media.places import Place

    c = Catalog(tmp_path / "catalog.sqlite")
    ids = [c.add(f"/p/{i}.jpg", 1, 1.0, "photo") for i in range(5)]
    c.set_state(ids, "indexed")
    porto = Place("Porto", "Porto", "PT", "Portugal")
    lisbon = Place("Lisbon", "Lisbon", "PT", "Portugal")
    vienna = Place("Vienna", "Vienna", "AT", "Austria")
    sm.put_many(
        c,
        [
            (ids[0], _meta("2023-07-14T18:00:00", make="Canon"), porto),
            (ids[1], _meta("2023-07-30T09:00:00"), lisbon),
            (ids[2], _meta("2020-08-01T10:00:00"), vienna),
            (ids[3], _meta("2019-12-25T10:00:00", source=mm.SOURCE_MTIME), None),
        ],
    )
    assert sm.missing(c) == [ids[4]]
    assert sm.in_time_range(c, "2023-07-01", "2023-08-01") == [ids[1], ids[0]]  # newest first
    assert sm.in_place(c, sm.COUNTRY, "PT") == [ids[1], ids[0]]
    assert sm.in_place(c, sm.CITY, "Vienna", "AT") == [ids[2]]
    assert sm.matching(c, sm.Filter(ranges=(("2019-01-01", "2020-01-01"),))) == [ids[3]]
    assert sm.matching(c, sm.Filter(ranges=(("2019-01-01", "2020-01-01"),), header_dates_only=True)) == []
    # Intersection of a place and a date; a union of places.
    both = sm.Filter(ranges=(("2023-07-20", "2023-08-01"),), places=((sm.COUNTRY, "Portugal", "PT"),))
    assert sm.matching(c, both) == [ids[1]]
    either = sm.Filter(places=((sm.CITY, "Porto", "PT"), (sm.CITY, "Vienna", "AT")))
    assert set(sm.matching(c, either)) == {ids[0], ids[2]}
    # A season's halves: northern months north of the equator (or without a position), southern south.
    sydney = c.add("/p/sydney.jpg", 1, 1.0, "photo")
    c.set_state([sydney], "indexed")
    sm.put(c, sydney, _meta("2021-01-10T10:00:00", lat=-33.87, lon=151.21), None)
    summer = sm.Filter(ranges=(("2021-06-01", "2021-09-01", "N"), ("2020-12-01", "2021-03-01", "S")))
    assert sm.matching(c, summer) == [sydney]
    winter = sm.Filter(ranges=(("2022-12-01", "2023-03-01", "N"), ("2023-06-01", "2023-09-01", "S")))
    assert sm.matching(c, winter) == []  # July 2023 in Porto is no winter
    summer_2023 = sm.Filter(ranges=(("2023-06-01", "2023-09-01", "N"), ("2022-12-01", "2023-03-01", "S")))
    assert set(sm.matching(c, summer_2023)) == {ids[0], ids[1]}
    c.remove([sydney])
    two_years = sm.Filter(ranges=(("2019-01-01", "2020-01-01"), ("2020-01-01", "2021-01-01")))
    assert sm.matching(c, two_years) == [ids[2], ids[3]]
    assert sm.count_matching(c, sm.Filter(ranges=((None, "2021-01-01"),), kinds=("video",))) == 0
    assert sm.matching(c, sm.Filter(places=((sm.COUNTRY, "PT", "PT"),), folder="/p")) == [ids[1], ids[0]]
    assert sm.matching(c, sm.Filter(places=((sm.COUNTRY, "PT", "PT"),), folder="/q")) == []
    found = {(p.level, p.name): p.files for p in sm.places(c)}
    assert found[(sm.COUNTRY, "Portugal")] == 2 and found[(sm.CITY, "Vienna")] == 1
    assert found[(sm.REGION, "Lisbon")] == 1
    assert sm.histogram(c, "year") == [("2019", 1), ("2020", 1), ("2023", 2)]
    assert sm.histogram(c, "month", header_dates_only=True)[-1] == ("2023-07", 2)
    assert sm.date_bounds(c) == ("2019-12-25T10:00:00", "2023-07-30T09:00:00")
    # Rows of files that are not indexed (mid-reindex) or gone never surface.
    c.set_state([ids[0]], "pending")
    assert sm.in_place(c, sm.CITY, "Porto") == []
    c.remove([ids[1]])
    assert sm.in_place(c, sm.CITY, "Lisbon") == []
    assert sm.get(c, ids[2]).city == "Vienna"  # type: ignore[union-attr]
    c.close()
