"""The /where map picture: overlays drawn with and without tiles, markers only when in view,
north up, a scale bar that means what it says, and a small file."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from bot.imagery import mapview
from bot.imagery.projection import MapView
from bot.imagery.tiles import Tile, TileCache, TileFetcher, plan
from bot.sources import mmgis
from bot.answers.where import LANDING_SITES
from tests.mmgis_standin import FIXTURES, http, mmgis_standin  # noqa: F401 (fixtures)

SIZE = (640, 480)
LANDING = LANDING_SITES["mars2020"]


@pytest.fixture(scope="module")
def traverse():
    return mmgis.traverse(json.loads((FIXTURES / "m20_traverse_to_sol1840.json").read_bytes()))


@pytest.fixture(scope="module")
def rover():
    return mmgis.current(json.loads((FIXTURES / "m20_waypoints_current_sol1840.json").read_bytes()))


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def count(arr: np.ndarray, colour, tol: int = 12, box=None) -> int:
    if box:
        x0, y0, x1, y1 = box
        arr = arr[y0:y1, x0:x1]
    return int(np.count_nonzero(np.all(np.abs(arr - np.array(colour)) <= tol, axis=-1)))


async def _tiles(standin, http, tmp_path, view, allowed=("127.0.0.1",)):
    text = (FIXTURES / "m20_mmgis_mission_config_2025-06-06.json").read_text().replace("https://mars.nasa.gov", standin.url)
    layers = mmgis.mission_layers(json.loads(text))
    return await TileFetcher(http, TileCache(tmp_path / "tiles", 50_000_000), allowed).fetch(plan(view, layers.tiles))


def test_plain_background_still_carries_every_overlay(traverse, rover):
    data = mapview.render_map(rover, traverse, (), LANDING, (), size=SIZE, zoom=15)
    im = Image.open(io.BytesIO(data))
    assert im.format == "PNG" and im.size == SIZE
    px = pixels(data)
    assert count(px, mapview.BACKGROUND, 2) > SIZE[0] * SIZE[1] // 2
    assert count(px, mapview.ROVER_COLOUR, box=(310, 230, 330, 250)) > 50  # the dot is at the centre
    assert count(px, mapview.PATH_COLOUR, box=(0, 0, 640, 480)) > 400  # the traverse
    assert count(px, (250, 250, 250), box=(590, 0, 640, 60)) > 40  # north arrow and its N
    assert count(px, (250, 250, 250), box=(0, 440, 250, 480)) > 100  # scale bar
    assert count(px, mapview.LANDING_COLOUR) == 0  # 14 km away: out of view at zoom 15


def test_landing_site_and_samples_marked_when_in_view(traverse):
    near_landing = mmgis.current(json.loads((FIXTURES / "m20_waypoints_current_2021-03-15_sol0023_oldschema.json").read_bytes()))
    samples = [mmgis.Sample("S-B", 120, 18.4460, 77.4480), mmgis.Sample("far", 900, 18.6, 77.6)]
    px = pixels(mapview.render_map(near_landing, traverse, samples, LANDING, (), size=SIZE, zoom=16))
    view = MapView(near_landing.lat, near_landing.lon, 16, *SIZE)
    lx, ly = (round(v) for v in view.px(*LANDING))
    assert count(px, mapview.LANDING_COLOUR, box=(lx - 5, ly - 5, lx + 6, ly + 6)) > 20
    sx, sy = (round(v) for v in view.px(18.4460, 77.4480))
    assert count(px, mapview.SAMPLE_COLOUR, 40, box=(sx - 4, sy - 4, sx + 5, sy + 5)) > 10
    assert count(px, mapview.SAMPLE_COLOUR, 40) < 120  # only the one sample in view


def test_scale_bar_length_matches_the_ground(rover):
    for zoom in (12, 15, 18):
        px = pixels(mapview.render_map(rover, None, (), None, (), size=SIZE, zoom=zoom))
        row = px[480 - 16, :260]
        white = np.flatnonzero(np.all(np.abs(row - 250) <= 6, axis=-1))
        bar_px = white.max() - white.min()
        metres = bar_px * MapView(rover.lat, rover.lon, zoom, *SIZE).metres_per_pixel()
        nice = [n * 10**e for e in range(0, 6) for n in (1, 2, 5)]
        assert min(abs(metres - n) / n for n in nice) < 0.02  # a round 1/2/5 figure, drawn to scale


def test_north_is_up_the_path_runs_the_right_way(traverse, rover):
    """The sol-1839/1840 drives came from the west-south-west (NASA's own coordinates): the path
    must enter the dot from the left, not from the right."""
    px = pixels(mapview.render_map(rover, traverse, (), None, (), size=SIZE, zoom=17))
    left = count(px, mapview.PATH_COLOUR, box=(200, 200, 312, 300))
    right = count(px, mapview.PATH_COLOUR, box=(328, 180, 440, 300))
    assert left > 50 and right == 0


def test_unreadable_tiles_are_skipped(rover):
    junk = [Tile(15, 0, 0, b"<html>not a tile</html>"), Tile(15, 1, 1, b"\x89PNG\r\n\x1a\n broken")]
    data = mapview.render_map(rover, None, (), None, junk, size=SIZE, zoom=15)
    assert count(pixels(data), mapview.BACKGROUND, 2) > SIZE[0] * SIZE[1] // 2


async def test_map_over_tiles_is_a_small_jpeg(mmgis_standin, http, tmp_path, traverse, rover):
    view = MapView(rover.lat, rover.lon, 15, *SIZE)
    tiles = await _tiles(mmgis_standin, http, tmp_path, view)
    assert tiles
    data = mapview.render_map(rover, traverse, (), LANDING, tiles, size=SIZE, zoom=15, title="Perseverance · sol 1840")
    assert Image.open(io.BytesIO(data)).format == "JPEG"
    assert len(data) < 150_000
    px = pixels(data)
    assert count(px, mapview.BACKGROUND, 2) < 1000  # the whole view is covered by some layer
    assert count(px, mapview.ROVER_COLOUR, 40, box=(310, 230, 330, 250)) > 25  # JPEG blurs its edge


async def test_tiles_from_a_host_not_allowed_are_not_drawn(mmgis_standin, http, tmp_path, rover):
    view = MapView(rover.lat, rover.lon, 15, *SIZE)
    tiles = await _tiles(mmgis_standin, http, tmp_path, view, allowed=("mars.nasa.gov",))
    assert tiles == [] and mmgis_standin.tile_requests == []
