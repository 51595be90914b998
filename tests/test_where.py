"""The /where answer, new-drive detection, where a picture was taken, distance in a time window,
and NASA's end-of-drive mosaic labelled with compass points."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from PIL import Image

from bot.mars import marstime
from bot.imagery.pictures import BadImage
from bot.imagery import drivemosaic
from bot.sources.nasa import NasaError
from bot.sources import mmgis
from bot.answers import where
from tests.mmgis_standin import FIXTURES, http, mmgis_standin  # noqa: F401 (fixtures)


def load(name):
    return json.loads((FIXTURES / name).read_bytes())


@pytest.fixture(scope="module")
def sol1840():
    return mmgis.current(load("m20_waypoints_current_sol1840.json"), "https://mars.nasa.gov/mmgis-maps/M20/")


@pytest.fixture(scope="module")
def sol1524():
    return mmgis.current(load("m20_waypoints_current_2025-06-06_sol1524.json"))


@pytest.fixture(scope="module")
def traverse():
    return mmgis.traverse(load("m20_traverse_to_sol1840.json"))


@pytest.fixture(scope="module")
def all1110():
    return mmgis.localizations(load("m20_waypoints_all_2024-04-04_sol1110.json"))


# ------------------------------------------------------------------ /where


def test_where_answer_sol_1840(sol1840, traverse):
    now = datetime(2026, 4, 26, 7, 0, tzinfo=timezone.utc)
    w = where.where_from(sol1840, now, traverse=traverse, mission=marstime.PERSEVERANCE)
    assert (w.sol, w.site, w.drive) == (1840, 87, 5154)
    assert w.total_km == pytest.approx(41.737781) and w.total_mi == pytest.approx(25.93, abs=0.01)  # NASA: 25.93
    assert w.last_drive_m == pytest.approx(49.889) and w.last_drive_ft == pytest.approx(163.68, abs=0.01)
    assert w.localized_utc == datetime(2026, 4, 24, 7, 6, 38, 816000, tzinfo=timezone.utc)  # the drive's SCLK end
    assert w.ago == "about 2 days ago"
    text = "\n".join(w.lines())
    for part in ("18.43252°N, 77.22015°E", "site 87, drive 5154", "sol 1840", "-1,970 m", "49.9 m (164 ft)",
                 "41.74 km (25.93 mi)"):
        assert part in text


def test_where_without_elevation_or_traverse(sol1840):
    loc = dataclasses.replace(sol1840, elevation_m=None)
    now = marstime.utc_of(1840, 20 * 3600, marstime.PERSEVERANCE)
    w = where.where_from(loc, now, mission=marstime.PERSEVERANCE)
    assert "Elevation: not published" in w.lines()
    assert w.localized_utc == marstime.utc_of(1840, 14 * 3600, marstime.PERSEVERANCE) and w.ago == "about 6 hours ago"
    assert "Perseverance" in w.lines()[0]


def test_curiosity_answer_uses_its_own_clock():
    loc = mmgis.current(load("msl_waypoints_current_sol4868.json"))
    w = where.where_from(loc, datetime(2026, 4, 25, tzinfo=timezone.utc), mission=marstime.CURIOSITY)
    assert w.rover == "Curiosity" and "4.81427°S, 137.38171°E" in w.lines()[0]
    assert marstime.sol_at(w.localized_utc, marstime.CURIOSITY) == 4868


def test_sclk_times_fall_on_their_sols(traverse):
    for i in (10, 200, 521):
        when = where.sclk_to_utc(traverse.sclk_end[i])
        assert marstime.sol_at(when, marstime.PERSEVERANCE) == traverse.sols[i]


# ------------------------------------------------------------------ drives


def test_new_drive_between_two_reads(sol1524, sol1840):
    drive = where.drive_from(sol1524, sol1840)
    assert drive.text() == "drove 49.9 m on sol 1840 (41.74 km since landing)"
    assert (drive.sol, drive.site, drive.drive) == (1840, 87, 5154)
    assert drive.mosaic.url.endswith("N_LRGB_1840_RZS_0875154_CYL_L_AUTOGENJ02.jpg") and drive.mosaic.az_span == 360


def test_no_drive_for_unchanged_stale_first_or_empty_reads(sol1524, sol1840):
    assert where.drive_from(sol1840, sol1840) is None  # the same position read twice
    assert where.drive_from(sol1840, sol1524) is None  # a stale cache answering with an older one
    assert where.drive_from(None, sol1840) is None  # first read: a baseline, not news
    assert where.drive_from(sol1840, None) is None  # NASA's file came back with no features
    in_place = dataclasses.replace(sol1840, drive=5200, dist_m=0.0)
    assert where.drive_from(sol1840, in_place) is None  # a new counter but no motion


def test_drive_length_from_totals_when_nasa_omits_it(sol1524, sol1840):
    drive = where.drive_from(sol1524, dataclasses.replace(sol1840, dist_m=None))
    assert drive.metres == pytest.approx(41737.781 - 34964.816)


# ------------------------------------------------------------------ where a picture was taken


def test_locate_pictures(all1110):
    last = all1110[-1]
    assert where.locate(last.site, last.drive, all1110) == "at the end of the sol-1110 drive, 25.3 km driven from the landing site"
    between = where.locate(51, 2700, all1110)
    assert between == "during the sol-1110 drive, about 25.3 km driven from the landing site"
    assert where.locate(51, 9000, all1110) is None  # newer than anything published
    assert where.locate(999, 0, all1110) is None  # unknown site
    assert where.locate(3, 0, all1110).startswith("at the end of the sol-13 drive")
    assert where.locate(3, 0, ()) is None


# ------------------------------------------------------------------ distance in a window


def test_driven_between_instants_and_sols(traverse):
    start, end = marstime.sol_interval(1840, marstime.PERSEVERANCE)
    assert where.driven_between(start, end, traverse=traverse, mission=marstime.PERSEVERANCE) == pytest.approx(49.89)
    ended = where.sclk_to_utc(traverse.sclk_end[-1])  # 2026-04-24 07:06:38 UTC, 12.7 h into the sol
    assert where.driven_between(start, ended, traverse=traverse, mission=marstime.PERSEVERANCE) == 0
    assert where.driven_between(ended, end, traverse=traverse, mission=marstime.PERSEVERANCE) == pytest.approx(49.89)
    assert where.driven_on_sols(1835, 1840, traverse=traverse) == pytest.approx(117.56 + float(
        sum(traverse.lengths_m[(traverse.sols >= 1836) & (traverse.sols <= 1840)])))
    day = datetime(2026, 4, 24, tzinfo=timezone.utc)
    assert where.driven_between(day, day + timedelta(days=1), traverse=traverse, mission=marstime.PERSEVERANCE) == pytest.approx(49.89)


def test_driven_between_adds_localizations_past_the_traverse(traverse, sol1840):
    newer = [dataclasses.replace(sol1840, sol=1841, drive=5400, dist_m=30.0),
             dataclasses.replace(sol1840, sol=1840, dist_m=49.889)]  # already in the traverse: not counted twice
    start, _ = marstime.sol_interval(1840, marstime.PERSEVERANCE)
    _, end = marstime.sol_interval(1841, marstime.PERSEVERANCE)
    assert where.driven_between(start, end, traverse=traverse, localizations=newer, mission=marstime.PERSEVERANCE) == pytest.approx(79.89)
    assert where.driven_on_sols(1841, 1841, traverse=traverse, localizations=newer) == pytest.approx(30.0)
    assert where.driven_on_sols(1841, 1841, localizations=newer) == pytest.approx(30.0)


# ------------------------------------------------------------------ the end-of-drive mosaic


def test_compass_ticks_full_circle_partial_and_wrapping():
    full = dict((label, x) for x, label in drivemosaic.compass_ticks(0.0, 360.0, 3600))
    assert full["E"] == pytest.approx(900) and full["S"] == pytest.approx(1800) and full["W"] == pytest.approx(2700)
    partial = drivemosaic.compass_ticks(34.5385, 328.187, 1000)  # sol 1524: north is not in it
    assert "N" not in [label for _, label in partial]
    assert dict((label, x) for x, label in partial)["E"] == pytest.approx((90 - 34.5385) / (328.187 - 34.5385) * 1000)
    wrap = drivemosaic.compass_ticks(300.0, 60.0, 1200)  # through north
    assert wrap == [(150.0, "NW"), (600.0, "N"), (1050.0, "NE")]


def _yellow_columns(data: bytes) -> list[int]:
    im = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    strip = im[-drivemosaic.STRIP - 4 : -drivemosaic.STRIP + 4]
    hits = np.all(np.abs(strip - np.array([255, 220, 90])) <= 40, axis=-1).any(axis=0)
    return list(np.flatnonzero(hits))


async def test_mosaic_is_fetched_fitted_and_labelled(mmgis_standin, http, sol1840):
    client = mmgis.MmgisClient(http, ("127.0.0.1",))
    layers = await client.layers(mmgis_standin.url + "/maps/location/api/configure/get?mission=M20")
    loc = await client.current(layers)
    data = await drivemosaic.fetch_labelled(http, loc.mosaic, allowed_hosts=("127.0.0.1",), max_download_bytes=20_000_000,
                                            max_bytes=400_000, max_pixels=1_000_000, title="Sol 1840")
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG" and len(data) <= 400_000 and im.width * im.height <= 1_000_000
    assert im.width / (im.height - drivemosaic.STRIP) == pytest.approx(9292 / 2144, rel=0.02)
    cols = _yellow_columns(data)  # N at both ends, E, S, W at quarters
    for frac in (0.25, 0.5, 0.75):
        assert any(abs(c - frac * im.width) <= 3 for c in cols)
    # the stand-in's mosaic brightens to the right: azimuth grows to the right, as drawn
    row = np.asarray(im.convert("L"))[10]
    assert row[-20] > row[20] + 50


async def test_mosaic_refusals(mmgis_standin, http, sol1840):
    with pytest.raises(NasaError, match="not an allowed host"):
        await drivemosaic.fetch_labelled(http, sol1840.mosaic, allowed_hosts=("127.0.0.1",), max_download_bytes=10**7,
                                         max_bytes=400_000, max_pixels=1_000_000)  # mars.nasa.gov is not allowed here
    with pytest.raises(BadImage):
        drivemosaic.label_mosaic(b"<html>gone</html>", sol1840.mosaic, max_bytes=10**6, max_pixels=10**6)
    tiny = io.BytesIO()
    Image.new("RGB", (400, 100), (90, 60, 40)).save(tiny, "JPEG")
    out = drivemosaic.label_mosaic(tiny.getvalue(), sol1840.mosaic, max_bytes=10**6, max_pixels=10**6)
    assert Image.open(io.BytesIO(out)).width == 400  # a small picture is not enlarged
