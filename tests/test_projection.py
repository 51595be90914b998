"""The map projection MMGIS tiles use (spherical Mercator, TMS rows) against independent maths,
known tile numbers, NASA's own easting/northing, and pixels read back from a rendered map."""

from __future__ import annotations

import io
import json
import math

import pytest
from PIL import Image

from bot.imagery import projection as pj
from bot.imagery.mapview import render_map
from bot.imagery.tiles import TileCache, TileFetcher, plan
from bot.sources import mmgis
from tests.mmgis_standin import FIXTURES, http, mmgis_standin, tile_blue  # noqa: F401 (fixtures)


def _independent_px(lat: float, lon: float, z: int) -> tuple[float, float]:
    """Mercator written another way (y = ln tan(pi/4 + phi/2)), to check world_px against."""
    n = 256 * 2**z
    y_merc = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    return (lon + 180) / 360 * n, (1 - y_merc / math.pi) / 2 * n


def test_known_slippy_map_values():
    assert pj.world_px(0, 0, 0) == pytest.approx((128, 128))
    assert pj.tile_of(51.5, -0.1275, 10) == (511, 340)  # London's OSM tile at zoom 10
    assert pj.tile_of(85.05, -180, 3) == (0, 0) and pj.tile_of(-85.05, 179.99, 3) == (7, 7)


def test_tms_rows_count_from_the_south():
    assert pj.tms_row(0, 1) == 1 and pj.tms_row(1, 1) == 0
    assert pj.tms_row(pj.tms_row(12345, 19), 19) == 12345
    layer = mmgis.TileLayer("t", "https://h/{z}/{x}/{y}.png", tms=True, min_zoom=0, max_native_zoom=19, bbox=None)
    assert layer.tile_url(3, 5, 1) == "https://h/3/5/6.png"
    xyz = mmgis.TileLayer("t", "https://h/{z}/{x}/{y}.png", tms=False, min_zoom=0, max_native_zoom=19, bbox=None)
    assert xyz.tile_url(3, 5, 1) == "https://h/3/5/1.png"


@pytest.mark.parametrize("zoom", [0, 8, 15, 19])
def test_world_px_matches_an_independent_formula_and_inverts(zoom):
    payload = json.loads((FIXTURES / "m20_waypoints_all_2024-04-04_sol1110.json").read_bytes())
    for loc in mmgis.localizations(payload)[::37]:
        x, y = pj.world_px(loc.lat, loc.lon, zoom)
        ex, ey = _independent_px(loc.lat, loc.lon, zoom)
        assert abs(x - ex) < 1e-6 * max(1, ex) and abs(y - ey) < 1e-6 * max(1, ey)
        lat, lon = pj.lat_lon(x, y, zoom)
        assert lat == pytest.approx(loc.lat, abs=1e-9) and lon == pytest.approx(loc.lon, abs=1e-9)


def test_distances_agree_with_nasas_easting_northing():
    """NASA's easting/northing are metres on the 3396190 m sphere (equirectangular around Jezero),
    so over a few km the two must agree closely, and the Mercator scale must match cos(lat)."""
    payload = json.loads((FIXTURES / "m20_waypoints_all_2024-04-04_sol1110.json").read_bytes())
    props = {(f["properties"]["site"], f["properties"]["drive"]): f["properties"] for f in payload["features"]}
    locs = mmgis.localizations(payload)
    for a, b in zip(locs[100:160], locs[101:161]):
        pa, pb = props[a.key], props[b.key]
        planar = math.hypot(pa["easting"] - pb["easting"], pa["northing"] - pb["northing"])
        assert pj.distance_m(a.lat, a.lon, b.lat, b.lon) == pytest.approx(planar, rel=0.01, abs=0.05)
    assert pj.metres_per_pixel(0, 0) == pytest.approx(2 * math.pi * 3396190 / 256)
    assert pj.metres_per_pixel(60, 5) == pytest.approx(pj.metres_per_pixel(0, 5) / 2)


async def _rendered(standin, http, cache_dir, lat, lon, zoom, size=(640, 480)):
    layers = mmgis.mission_layers(json.loads((FIXTURES / "m20_mmgis_mission_config_2025-06-06.json").read_bytes()
                                             .decode().replace("https://mars.nasa.gov", standin.url)))
    view = pj.MapView(lat, lon, zoom, *size)
    cache = TileCache(cache_dir, 50_000_000)
    fetcher = TileFetcher(http, cache, ("127.0.0.1",))
    tiles = await fetcher.fetch(plan(view, layers.tiles))
    center = mmgis.Localization(0, 0, 0, lat, lon, None, None, None)
    png = render_map(center, None, (), None, tiles, size=size, zoom=zoom, fmt="PNG")
    return view, Image.open(io.BytesIO(png)).convert("RGB"), tiles


def _under_overlay(view, x, y) -> bool:
    """The rover dot, the north arrow and the scale bar cover the tiles."""
    return (math.hypot(x - view.width / 2, y - view.height / 2) < 12 or (x > view.width - 40 and y < 50)
            or (x < 220 and y > view.height - 40))


async def test_waypoints_land_on_their_tile_pixel_within_2px(mmgis_standin, http, tmp_path):
    """Render a map around one waypoint over the stand-in's position-encoding tiles, then read the
    pixels under other waypoints: each must show the very spot of the very tile that an
    independent Mercator formula puts the waypoint in (TMS rows flipped), within 2 px."""
    payload = json.loads((FIXTURES / "m20_waypoints_all_2024-04-04_sol1110.json").read_bytes())
    locs = mmgis.localizations(payload)
    centre = locs[-1]  # sol 1110, inside the HiRISE colour mosaic's box
    zoom = 17
    view, im, tiles = await _rendered(mmgis_standin, http, tmp_path, centre.lat, centre.lon, zoom)
    assert tiles and all(t.z == zoom for t in tiles[-4:])
    checked = 0
    for loc in locs:
        x, y = view.px(loc.lat, loc.lon)
        if not (4 <= x < view.width - 4 and 4 <= y < view.height - 4) or _under_overlay(view, x, y):
            continue
        ox, oy = view.origin
        ex, ey = _independent_px(loc.lat, loc.lon, zoom)
        assert abs((ex - ox) - x) < 0.01 and abs((ey - oy) - y) < 0.01
        r, g, b = im.getpixel((int(x), int(y)))
        tx, ty = int(ex // 256), int(ey // 256)
        assert b == tile_blue(zoom, tx, ty), "the pixel came from another tile (row flip or placement wrong)"
        assert abs(r - (ex % 256)) <= 2 and abs(g - (ey % 256)) <= 2
        checked += 1
    assert checked >= 5


async def test_enlarged_low_zoom_tiles_also_line_up(mmgis_standin, http, tmp_path):
    """At sol 1840 the rover is west of both HiRISE mosaics: only the zoom<=12 Syrtis layer
    covers it, enlarged 8x at zoom 15. The pixel under the rover is still the right one."""
    cur = mmgis.current(json.loads((FIXTURES / "m20_waypoints_current_sol1840.json").read_bytes()))
    view, im, tiles = await _rendered(mmgis_standin, http, tmp_path, cur.lat + 0.002, cur.lon - 0.002, 15)
    assert not _under_overlay(view, *view.px(cur.lat, cur.lon))
    assert any(t.z == 12 for t in tiles)
    x, y = view.px(cur.lat, cur.lon)
    ex, ey = _independent_px(cur.lat, cur.lon, 12)
    r, g, b = im.getpixel((int(x), int(y)))
    assert b == tile_blue(12, int(ex // 256), int(ey // 256))
    assert abs(r - (ex % 256)) <= 1 and abs(g - (ey % 256)) <= 1  # 2 px at zoom 15 = 0.25 px at zoom 12
