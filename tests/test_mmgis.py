"""MMGIS layers: tolerant parsers on the recorded files and on junk, fetching through the loopback
stand-in with the host allow-list checked at every hop, and the tile cache."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from bot.imagery.projection import MapView
from bot.imagery.tiles import TileCache, TileFetcher, TileRequest, plan
from bot.sources.nasa import NasaError
from bot.sources import mmgis
from tests.mmgis_standin import (CURRENT_EMPTY, CURRENT_OLD_SCHEMA, FIXTURES, Fault,  # noqa: F401 (fixtures)
                                 http, make_tile, mmgis_standin)

ALLOWED = ("127.0.0.1",)


def fixture(name: str):
    return json.loads((FIXTURES / name).read_bytes())


# ------------------------------------------------------------------ parsers


def test_current_position_sol_1840():
    loc = mmgis.current(fixture("m20_waypoints_current_sol1840.json"), "https://mars.nasa.gov/mmgis-maps/M20/")
    assert (loc.sol, loc.site, loc.drive) == (1840, 87, 5154)
    assert (loc.lat, loc.lon) == pytest.approx((18.43252254, 77.22014945))
    assert loc.elevation_m == pytest.approx(-1969.769165)
    assert loc.dist_m == pytest.approx(49.889) and loc.dist_total_m == pytest.approx(41737.781)
    m = loc.mosaic
    assert m.url == "https://mars.nasa.gov/mmgis-maps/M20/Layers/mosaics/N_LRGB_1840_RZS_0875154_CYL_L_AUTOGENJ02.jpg"
    assert (m.rows, m.columns, m.azmin, m.azmax, m.az_span) == (2144, 9292, 0.0, 360.0, 360.0)


def test_old_schema_2021_is_read():
    loc = mmgis.current(fixture("m20_waypoints_current_2021-03-15_sol0023_oldschema.json"))
    assert (loc.sol, loc.site, loc.drive) == (23, 3, 792)
    assert loc.dist_total_m == pytest.approx(96.89)  # `dist_total`, metres, no suffix
    assert loc.mosaic is None and loc.elevation_m == pytest.approx(-2568.968994)


def test_empty_features_and_non_collections_give_nothing():
    assert mmgis.current(fixture("m20_waypoints_current_2024-11-20_empty_features.json")) is None
    for junk in (None, [], "x", 3, {"features": None}, {"features": "no"}, {"features": [None, 1, "a", []]}):
        assert mmgis.current(junk) is None
        assert mmgis.localizations(junk) == ()
        assert mmgis.samples(junk) == ()
        assert len(mmgis.traverse(junk).points) == 0


def test_junk_records_are_skipped_and_sentinels_become_unknown():
    good = fixture("m20_waypoints_current_sol1840.json")["features"][0]
    sentinel = json.loads(json.dumps(good))
    sentinel["properties"].update(elev_geoid=-9999, drive=6000, dist_total_m="41800.5", dist_m="NaN")
    sentinel["geometry"]["coordinates"] = [77.3, 18.5]  # 2-D, so no elevation from the geometry either
    payload = {"features": [
        {"properties": {"sol": 5}},  # no position
        {"geometry": {"type": "Point", "coordinates": [1, 2]}},  # no properties
        {"properties": {**good["properties"], "sol": True}, "geometry": good["geometry"]},  # a bool is no sol
        {"properties": {**good["properties"], "lat": 95, "lon": 10}, "geometry": {"coordinates": ["a", "b"]}},
        {"properties": {**good["properties"], "images": [{"url": "x.jpg", "rows": "n/a"}, 7]}, "geometry": good["geometry"]},
        sentinel,
    ]}
    locs = mmgis.localizations(payload)
    assert [loc.drive for loc in locs] == [5154, 6000]
    assert locs[0].mosaic is None  # its only image entry was unusable
    assert locs[1].elevation_m is None and locs[1].dist_m is None
    assert locs[1].dist_total_m == pytest.approx(41800.5) and (locs[1].lat, locs[1].lon) == (18.5, 77.3)


def test_all_waypoints_in_drive_order():
    locs = mmgis.localizations(fixture("m20_waypoints_all_2024-04-04_sol1110.json"))
    assert len(locs) == 380 and locs[0].sol == 13 and locs[-1].sol == 1110
    assert [loc.key for loc in locs] == sorted(loc.key for loc in locs)


def test_curiosity_current_position():
    loc = mmgis.current(fixture("msl_waypoints_current_sol4868.json"))
    assert (loc.sol, loc.site, loc.drive) == (4868, 122, 0)
    assert loc.lat == pytest.approx(-4.8142672) and loc.dist_total_m == pytest.approx(37170.64)


def test_traverse_is_compact_arrays():
    tr = mmgis.traverse(fixture("m20_traverse_to_sol1840.json"))
    assert tr.points.shape == (33749, 2) and tr.points.dtype == np.float64
    assert len(tr.starts) == len(tr.sols) == 522 and tr.last_sol == 1840
    assert tr.lengths_m[-1] == pytest.approx(49.89) and tr.sclk_end[-1] == 830286463
    assert tuple(tr.segment(521)[-1]) == pytest.approx((18.43252254, 77.22014945))
    assert tr.nbytes < 700_000  # vs tens of MB for the decoded JSON (bench/where.py measures it)


def test_traverse_multilinestring_and_junk_vertices():
    payload = {"features": [
        {"properties": {"sol": 10, "length": 5}, "geometry": {"type": "MultiLineString", "coordinates": [
            [[137.4, -4.6], [137.41, -4.61]], [[137.41, -4.61], ["x", 1], [137.42, -4.62]], [[1, 2]]]}},
        {"properties": {"sol": 11}, "geometry": {"type": "Point", "coordinates": [1, 2]}},
        {"properties": {"sol": 12}, "geometry": {"type": "LineString", "coordinates": [[1, 2], [None, 3]]}},
    ]}
    tr = mmgis.traverse(payload)
    assert len(tr.starts) == 2 and tr.points.shape == (4, 2) and list(tr.sols) == [10, 10]


def test_samples_with_names_and_sols():
    from tests.mmgis_standin import SAMPLES

    got = mmgis.samples(SAMPLES)
    assert [(s.name, s.sol) for s in got] == [("S-A", 1835), ("S-B", 120)]


def test_mission_layers_from_the_recorded_configuration():
    layers = mmgis.mission_layers(fixture("m20_mmgis_mission_config_2025-06-06.json"))
    base = "https://mars.nasa.gov/mmgis-maps/M20/Layers/json/"
    assert layers.current == base + "M20_waypoints_current.json"
    assert layers.waypoints == base + "M20_waypoints.json" and layers.traverse == base + "M20_traverse.json"
    assert layers.samples == base + "M20_SAMPLE_v3.json"
    assert layers.helicopter_current == base + "m20_heli_waypoints_current.json"
    assert layers.helicopter_path == base + "m20_heli_flight_path.json"
    assert [t.name for t in layers.tiles] == ["Labels", "Color Basemap", "Grayscale Basemap", "Northeast Syrtis Base Map"]
    assert all(t.tms for t in layers.tiles) and not layers.tiles[0].visible
    assert layers.tiles[3].max_native_zoom == 12 and layers.tiles[3].bbox[0] == pytest.approx(67.49927040089868)
    assert layers.radius_m == 3396190 and layers.view == (18.46511002, 77.28671777, 11)
    assert layers.mosaic_base == "https://mars.nasa.gov/mmgis-maps/M20/"


def test_mission_layers_from_junk_falls_back_to_known_files():
    for junk in (None, {}, {"layers": "x"}, {"layers": [None, {"url": 5}, {"type": "tile", "url": "ftp://x/{z}"}]}):
        layers = mmgis.mission_layers(junk, "perseverance")
        assert layers.current.endswith("/M20/Layers/json/M20_waypoints_current.json") and layers.tiles == ()
    assert mmgis.default_layers("curiosity").current.endswith("/MSL/Layers/json/MSL_waypoints_current.json")


# ------------------------------------------------------------------ fetching


async def _client_and_layers(standin, http, **kw):
    client = mmgis.MmgisClient(http, ALLOWED, **kw)
    layers = await client.layers(standin.url + "/maps/location/api/configure/get?mission=M20")
    return client, layers


async def test_reads_every_layer_through_the_configuration(mmgis_standin, http):
    client, layers = await _client_and_layers(mmgis_standin, http)
    assert layers.current.startswith(mmgis_standin.url)
    loc = await client.current(layers)
    assert loc.sol == 1840 and loc.mosaic.url == mmgis_standin.url + "/mmgis-maps/M20/Layers/mosaics/N_LRGB_1840_RZS_0875154_CYL_L_AUTOGENJ02.jpg"
    assert len(await client.localizations(layers)) == 380
    assert [s.name for s in await client.samples(layers)] == ["S-A", "S-B"]


async def test_traverse_is_parsed_once_while_unchanged(mmgis_standin, http):
    client, layers = await _client_and_layers(mmgis_standin, http)
    first = await client.traverse(layers)
    second = await client.traverse(layers)
    assert second is first and client.parses == 1
    assert mmgis_standin.requests.count("/mmgis-maps/M20/Layers/json/M20_traverse.json") == 2


async def test_empty_features_and_old_schema_from_the_server(mmgis_standin, http):
    client, layers = await _client_and_layers(mmgis_standin, http)
    mmgis_standin.current_file = CURRENT_EMPTY
    assert await client.current(layers) is None
    mmgis_standin.current_file = CURRENT_OLD_SCHEMA
    assert (await client.current(layers)).dist_total_m == pytest.approx(96.89)


async def test_redirect_to_a_host_not_allowed_is_refused(mmgis_standin, http):
    client, layers = await _client_and_layers(mmgis_standin, http)
    mmgis_standin.faults.append(Fault("/mmgis-maps/M20/Layers/json/M20_waypoints_current.json",
                                      redirect="http://evil.invalid/M20_waypoints_current.json"))
    with pytest.raises(NasaError, match="not an allowed host") as e:
        await client.current(layers)
    assert not e.value.transient


async def test_every_redirect_hop_is_checked(mmgis_standin, http):
    client, layers = await _client_and_layers(mmgis_standin, http)
    # hop 1 stays on the allowed host, hop 2 leaves it
    mmgis_standin.faults += [Fault("/mmgis-maps/M20/Layers/json/M20_waypoints_current.json", redirect="/moved/current.json"),
                             Fault("/moved/", redirect="https://attacker.example/current.json")]
    with pytest.raises(NasaError, match="not an allowed host"):
        await client.current(layers)
    assert "/moved/current.json" in mmgis_standin.requests
    # an allowed chain is followed to the end
    mmgis_standin.faults.append(Fault("/mmgis-maps/M20/Layers/json/M20_waypoints_current.json",
                                      redirect=mmgis_standin.url + "/mmgis-maps/M20/Layers/json/M20_waypoints_current.json"))
    assert (await client.current(layers)).sol == 1840


async def test_body_cap_stall_junk_and_404(mmgis_standin, http):
    client, layers = await _client_and_layers(mmgis_standin, http, deadline_seconds=0.3)
    small = mmgis.MmgisClient(http, ALLOWED, max_bytes=100_000)
    with pytest.raises(NasaError, match="limit"):
        await small.traverse(layers)  # 3.5 MB against a 100 kB cap
    mmgis_standin.faults.append(Fault("/mmgis-maps/M20/Layers/json/M20_waypoints_current.json", delay=1.5))
    started = time.monotonic()
    with pytest.raises(NasaError, match="did not arrive"):
        await client.current(layers)
    assert time.monotonic() - started < 2
    mmgis_standin.faults.append(Fault("/mmgis-maps/M20/Layers/json/M20_waypoints_current.json",
                                      body=b"<html>Service Unavailable</html>", content_type="text/html"))
    with pytest.raises(NasaError, match="not valid JSON"):
        await client.current(layers)
    mmgis_standin.faults.append(Fault("/mmgis-maps/M20/Layers/json/M20_waypoints_current.json", status=404))
    with pytest.raises(NasaError) as e:
        await client.current(layers)
    assert e.value.status == 404 and not e.value.transient


# ------------------------------------------------------------------ tiles


def test_tile_cache_keeps_to_its_cap_evicting_the_oldest(tmp_path):
    cache = TileCache(tmp_path / "tiles", max_bytes=10_000)
    for i in range(5):
        cache.put(f"https://h/{i}.png", bytes([i]) * 3000)
        past = time.time() - 100 + i
        os.utime(cache._path(f"https://h/{i}.png"), (past, past))
    assert cache.total_bytes <= 10_000
    assert cache.get("https://h/0.png") is None and cache.get("https://h/1.png") is None
    assert cache.get("https://h/4.png") == bytes([4]) * 3000
    on_disk = sum(p.stat().st_size for p in (tmp_path / "tiles").glob("*.tile"))
    assert on_disk == cache.total_bytes
    reopened = TileCache(tmp_path / "tiles", max_bytes=10_000)
    assert reopened.total_bytes == on_disk and reopened.get("https://h/3.png") == bytes([3]) * 3000


async def test_fetcher_cold_then_warm(mmgis_standin, http, tmp_path):
    client, layers = await _client_and_layers(mmgis_standin, http)
    view = MapView(18.4909, 77.3232, 16, 512, 384)
    requests = plan(view, layers.tiles)
    assert requests and all(r.url.startswith(mmgis_standin.url) for r in requests)
    fetcher = TileFetcher(http, TileCache(tmp_path / "t", 20_000_000), ALLOWED)
    cold = await fetcher.fetch(requests)
    served = len(mmgis_standin.tile_requests)
    assert len(cold) == len(requests) and fetcher.downloaded_bytes > 0
    warm = await TileFetcher(http, TileCache(tmp_path / "t", 20_000_000), ALLOWED).fetch(requests)
    assert [t.data for t in warm] == [t.data for t in cold]
    assert len(mmgis_standin.tile_requests) == served  # nothing asked again


async def test_missing_stalled_junk_and_refused_tiles_are_absent(mmgis_standin, http, tmp_path):
    url = mmgis_standin.url + "/mmgis-maps/M20/Layers/HMC_13E10_co5_colorcorrect_rect/12/{x}/{y}.png"
    good = TileRequest("Syrtis", 12, 2926, 1834, url.format(x=2926, y=2**12 - 1 - 1834))
    outside = TileRequest("Syrtis", 12, 10, 10, url.format(x=10, y=4085))  # outside the layer's box: 404
    stalled = TileRequest("Syrtis", 12, 2927, 1838, url.format(x=2927, y=2**12 - 1 - 1838))
    junk = TileRequest("Syrtis", 12, 2926, 1839, url.format(x=2926, y=2**12 - 1 - 1839))
    refused = TileRequest("Syrtis", 12, 2926, 1837, "http://tiles.invalid/12/2926/2258.png")
    mmgis_standin.faults += [Fault(stalled.url.split(mmgis_standin.url)[1], delay=1.5),
                             Fault(junk.url.split(mmgis_standin.url)[1], body=b"<html>oops</html>", content_type="text/html")]
    cache = TileCache(tmp_path / "t", 20_000_000)
    fetcher = TileFetcher(http, cache, ALLOWED, deadline_seconds=0.3)
    got = await fetcher.fetch([good, outside, stalled, junk, refused])
    assert [(t.x, t.y) for t in got] == [(2926, 1834)] and got[0].data == make_tile(12, 2926, 1834)
    assert cache.get(junk.url) is None  # an HTML page is never cached as a tile
    before = len(mmgis_standin.requests)
    await fetcher.fetch([outside])
    assert len(mmgis_standin.requests) == before  # a 404 is remembered, not asked again at once


async def test_deeply_nested_json_is_an_error_not_a_crash(mmgis_standin, http):
    client, layers = await _client_and_layers(mmgis_standin, http)
    mmgis_standin.faults.append(Fault("/mmgis-maps/M20/Layers/json/M20_waypoints_current.json", body=b"[" * 100_000))
    with pytest.raises(NasaError, match="nested too deeply|not valid JSON"):
        await client.current(layers)
    nested = {"layers": [{"sublayers": []}]}
    inner = nested["layers"][0]["sublayers"]
    for _ in range(300):
        inner.append({"sublayers": []})
        inner = inner[0]["sublayers"]
    assert mmgis.mission_layers(nested).current.endswith("M20_waypoints_current.json")


from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["sol", "site", "drive", "lat", "lon", "coordinates", "geometry", "properties", "images", "url",
                         "rows", "columns", "azmin", "azmax", "type", "features", "layers", "length", "SCLK_END",
                         "dist_total", "elev_geoid", "sample_num"]), inner, max_size=5),
    max_leaves=25)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(_json, max_size=5), _json)
def test_parsers_never_raise_on_junk(features, other):
    payload = {"type": "FeatureCollection", "features": features}
    for parse in (mmgis.localizations, mmgis.current, mmgis.samples, mmgis.traverse):
        parse(payload)
        parse(other)
    mmgis.mission_layers(other)
    mmgis.mission_layers({"layers": features})
