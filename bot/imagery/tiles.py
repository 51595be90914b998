"""NASA's basemap tiles for the rover map: which tiles a view needs, fetching them from allowed
hosts only, and a disk cache with a size cap.

A tile that cannot be had (404 outside the mosaic, a stall, junk, a refused host) is simply
absent: the map is drawn on a plain background under the same overlays. Misses are remembered
for a while so a map redrawn every few minutes does not ask again for tiles NASA does not have.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import httpx

from bot.imagery.projection import TILE_SIZE, MapView, tile_of
from bot.sources.nasa import NasaError
from bot.sources.mmgis import TileLayer, get_capped

log = logging.getLogger("roverbot.tiles")

MAX_TILE_BYTES = 1_000_000  # a 256x256 RGBA PNG is at most ~260 KB; anything bigger is not a tile
MISS_TTL_SECONDS = 6 * 3600


@dataclass(frozen=True)
class Tile:
    """One fetched tile, placed by its zoom, column and XYZ (north-first) row."""

    z: int
    x: int
    y: int
    data: bytes


@dataclass(frozen=True)
class TileRequest:
    layer: str
    z: int
    x: int
    y: int  # XYZ row; the layer's URL turns it into a TMS row when it needs one
    url: str


class TileCache:
    """Tiles on disk, one file per URL, at most max_bytes in all: when a write goes over the cap
    the least recently used files go first (reads refresh a file's time)."""

    def __init__(self, directory: Path, max_bytes: int):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._sizes = {p.name: p.stat().st_size for p in self.directory.glob("*.tile")}
        self.hits = 0
        self.misses = 0

    @property
    def total_bytes(self) -> int:
        return sum(self._sizes.values())

    def _path(self, url: str) -> Path:
        return self.directory / (hashlib.sha256(url.encode()).hexdigest()[:40] + ".tile")

    def get(self, url: str) -> bytes | None:
        path = self._path(url)
        try:
            data = path.read_bytes()
            os.utime(path)
        except OSError:
            self.misses += 1
            return None
        self.hits += 1
        return data

    def put(self, url: str, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        path = self._path(url)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # a crash mid-write never leaves half a tile under the real name
        self._sizes[path.name] = len(data)
        self._evict(keep=path.name)

    def _evict(self, keep: str) -> None:
        total = self.total_bytes
        if total <= self.max_bytes:
            return
        entries = []
        for name in list(self._sizes):
            try:
                entries.append((os.stat(self.directory / name).st_mtime_ns, name))
            except OSError:
                self._sizes.pop(name, None)
        for _, name in sorted(entries):
            if total <= self.max_bytes:
                break
            if name == keep:
                continue
            try:
                os.remove(self.directory / name)
            except OSError:
                pass
            total -= self._sizes.pop(name, 0)


@dataclass
class TileFetcher:
    """Gets tiles through the cache, downloading only from allowed hosts (every redirect hop
    checked), at most `parallel` at a time."""

    http: httpx.AsyncClient
    cache: TileCache
    allowed_hosts: tuple[str, ...]
    max_tile_bytes: int = MAX_TILE_BYTES
    deadline_seconds: float = 15.0
    parallel: int = 4
    clock: Callable[[], float] = time.monotonic
    downloaded_bytes: int = 0
    downloads: int = 0
    _missing: dict[str, float] = field(default_factory=dict, repr=False)

    async def get(self, url: str) -> bytes | None:
        cached = self.cache.get(url)
        if cached is not None:
            return cached
        if self.clock() < self._missing.get(url, float("-inf")):
            return None
        try:
            data = await get_capped(self.http, url, allowed_hosts=self.allowed_hosts, max_bytes=self.max_tile_bytes,
                                    deadline_seconds=self.deadline_seconds)
        except NasaError as e:
            log.info("no tile %s: %s", url, e)
            # A transient failure is retried on the next map; a 404 or a refusal waits.
            self._missing[url] = self.clock() + (60.0 if e.transient else MISS_TTL_SECONDS)
            return None
        self.downloads += 1
        self.downloaded_bytes += len(data)
        if not _looks_like_image(data):
            self._missing[url] = self.clock() + 60.0
            return None
        self.cache.put(url, data)
        return data

    async def fetch(self, requests: Sequence[TileRequest]) -> list[Tile]:
        """The tiles that could be had, in request order (the order they are drawn in)."""
        gate = asyncio.Semaphore(self.parallel)

        async def one(req: TileRequest) -> bytes | None:
            async with gate:
                return await self.get(req.url)

        bodies = await asyncio.gather(*(one(r) for r in requests))
        return [Tile(r.z, r.x, r.y, b) for r, b in zip(requests, bodies) if b is not None]


def _looks_like_image(data: bytes) -> bool:
    # A 200 with an HTML error page is a known habit of web servers; do not cache it as a tile.
    return data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF", b"GIF8"))


def _intersects(bbox: tuple[float, float, float, float] | None, view_bounds: tuple[float, float, float, float]) -> bool:
    if bbox is None:
        return True
    w, s, e, n = view_bounds
    return not (bbox[2] < w or bbox[0] > e or bbox[3] < s or bbox[1] > n)


def plan(view: MapView, layers: Iterable[TileLayer]) -> list[TileRequest]:
    """The tiles a view needs, bottom layer first. A layer is used when it is visible by default,
    reaches this zoom, and its bounding box meets the view; above its native zoom its deepest tiles
    are enlarged (as Leaflet does with maxNativeZoom), and tiles outside its box are not asked for."""
    bounds = view.bounds()
    out: list[TileRequest] = []
    for layer in reversed(tuple(layers)):  # MMGIS lists the top-most layer first
        if not layer.visible or view.zoom < layer.min_zoom or not _intersects(layer.bbox, bounds):
            continue
        z = min(view.zoom, layer.max_native_zoom)
        west, south, east, north = bounds
        if layer.bbox is not None:
            west, south = max(west, layer.bbox[0]), max(south, layer.bbox[1])
            east, north = min(east, layer.bbox[2]), min(north, layer.bbox[3])
        x0, y0 = tile_of(north, west, z)
        x1, y1 = tile_of(south, east, z)
        for y in range(y0, y1 + 1):
            for x in range(x0, x1 + 1):
                out.append(TileRequest(layer.name, z, x, y, layer.tile_url(z, x, y)))
    return out


def placement(view: MapView, tile: Tile) -> tuple[int, int, int]:
    """(left, top, size in picture pixels) of a tile, which may come from a shallower zoom."""
    scale = 2 ** (view.zoom - tile.z)
    ox, oy = view.origin
    size = TILE_SIZE * scale
    return round(tile.x * size - ox), round(tile.y * size - oy), size

