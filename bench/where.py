"""/where benchmarks: the map with a cold and a warm tile cache, its size, and the memory the parsed
traverse holds compared with the decoded JSON. Loopback stand-in only; nothing reaches NASA."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.imagery.mapview import render_map  # noqa: E402
from bot.imagery.projection import MapView  # noqa: E402
from bot.imagery.tiles import TileCache, TileFetcher, plan  # noqa: E402
from bot.sources.nasa import make_http_client  # noqa: E402
from bot.sources import mmgis  # noqa: E402
from bot.answers.where import LANDING_SITES  # noqa: E402
from tests.mmgis_standin import FIXTURES, TRAVERSE, MmgisStandIn  # noqa: E402

Row = tuple[str, str, str, bool]
SIZE = (640, 480)
ZOOM = 15


async def _maps(tmp: Path) -> list[Row]:
    standin = MmgisStandIn(tile_texture=True).start()
    http = make_http_client("roverbot-bench (contact: bench@example.org)", 30)
    allowed = ("127.0.0.1",)
    try:
        client = mmgis.MmgisClient(http, allowed)
        layers = await client.layers(standin.url + "/maps/location/api/configure/get?mission=M20")
        rover = await client.current(layers)
        trav = await client.traverse(layers)
        samples = await client.samples(layers)
        view = MapView(rover.lat, rover.lon, ZOOM, *SIZE)
        requests = plan(view, layers.tiles)

        async def one_map(cache_dir: Path) -> tuple[float, TileFetcher, bytes]:
            fetcher = TileFetcher(http, TileCache(cache_dir, 50_000_000), allowed)
            t0 = time.perf_counter()
            tiles = await fetcher.fetch(requests)
            data = await asyncio.to_thread(render_map, rover, trav, samples, LANDING_SITES["mars2020"], tiles,
                                           size=SIZE, zoom=ZOOM, title="Perseverance · sol 1840")
            return (time.perf_counter() - t0) * 1000, fetcher, data

        cold_ms, cold, picture = await one_map(tmp / "tiles")
        warm = []
        for _ in range(5):
            ms, fetcher, _ = await one_map(tmp / "tiles")
            warm.append((ms, fetcher.downloaded_bytes))
        warm_ms = sorted(m for m, _ in warm)[2]
        plain = render_map(rover, trav, samples, LANDING_SITES["mars2020"], (), size=SIZE, zoom=ZOOM)
    finally:
        await http.aclose()
        standin.stop()
    return [
        (f"where map {SIZE[0]}x{SIZE[1]} z{ZOOM}: cold tile cache (fetch + render)", f"{cold_ms:.0f} ms",
         "< 1500 ms on loopback", cold_ms < 1500),
        ("where map: cold cache download", f"{cold.downloads} tiles, {cold.downloaded_bytes / 1e3:.0f} kB", "", True),
        ("where map: warm tile cache (median of 5)", f"{warm_ms:.0f} ms", "< 250 ms", warm_ms < 250),
        ("where map: warm cache download", f"{max(b for _, b in warm)} bytes", "0 bytes", all(b == 0 for _, b in warm)),
        ("where map picture (JPEG over tiles)", f"{len(picture) / 1e3:.0f} kB", "< 200 kB", len(picture) < 200_000),
        ("where map picture (PNG, no tiles)", f"{len(plain) / 1e3:.0f} kB", "< 200 kB", len(plain) < 200_000),
    ]


def _traverse_memory() -> list[Row]:
    body = (FIXTURES / TRAVERSE).read_bytes()
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        raw = json.loads(body)
        raw_bytes = tracemalloc.get_traced_memory()[0] - base
        trav = mmgis.traverse(raw)
        del raw
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    ratio = held / raw_bytes
    raw = json.loads(body)  # timed without tracemalloc, which slows every allocation several-fold
    t0 = time.perf_counter()
    mmgis.traverse(raw)
    parse_ms = (time.perf_counter() - t0) * 1000
    return [
        (f"traverse to sol 1840 ({len(body) / 1e6:.1f} MB, {len(trav.points):,} vertices): decoded JSON held",
         f"{raw_bytes / 1e6:.1f} MB", "", True),
        ("traverse: parsed arrays held (tracemalloc)", f"{held / 1e3:.0f} kB", "< 1 MB", held < 1_000_000),
        ("traverse: arrays vs decoded JSON", f"{ratio:.3f}x", "< 0.1x", ratio < 0.1),
        ("traverse: dict -> arrays", f"{parse_ms:.0f} ms", "< 200 ms", parse_ms < 200),
    ]


def bench_where(tmp: Path) -> list[Row]:
    return _traverse_memory() + asyncio.run(_maps(tmp))


if __name__ == "__main__":
    import tempfile

    from bench.run import print_table

    with tempfile.TemporaryDirectory() as d:
        rows = bench_where(Path(d))
    print_table(rows)
    sys.exit(0 if all(r[3] for r in rows) else 1)
