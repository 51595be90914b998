"""Where the rover is, for the bot: /where, drive posts, where a picture was taken, a day's distance.

One RoverMaps lives as long as the bot (Services holds it): it keeps ONE MmgisClient, whose parsed
traverse (several MB of JSON, a few hundred kB of arrays) is reused while NASA's file is unchanged,
one tile fetcher with its disk cache, the missions' layer lists, and the localizations (the
waypoints layer) that image posts are placed with — refreshed by the drives cycle, never per image.

Plain values in, plain values out: no Discord here. Network failures of the map are the caller's
MapUnavailable (a /where) or a logged skip (a post, a digest line): a map is never worth a crash.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import asdict
from datetime import datetime
from typing import Callable
from urllib.parse import urlsplit

import httpx

from bot import compose
from bot.mars import rovers
from bot.mars.rovers import Rover
from bot.answers import where
from bot.config import Config
from bot.imagery.pictures import BadImage
from bot.imagery import drivemosaic
from bot.imagery.mapview import render_map
from bot.imagery.projection import MapView
from bot.imagery.tiles import TileCache, TileFetcher, plan
from bot.models import NasaUnavailable, Post
from bot.sources.nasa import NasaError
from bot.sources import mmgis
from bot.sources.mmgis import Localization, MissionLayers, Sample, Traverse

log = logging.getLogger("roverbot.drives")

CONFIG_PATH = "/maps/location/api/configure/get?mission={code}"
LAYERS_TTL = 6 * 3600.0  # the mission configuration changes rarely; re-read it a few times a day
LAYERS_RETRY = 600.0  # after a failed read, the fallback layer list is used this long
PLACES_TTL = 6 * 3600.0  # the waypoints layer is re-read this often even without a new drive
MAP_SIZE = (640, 480)
WHERE_ZOOM = 15  # ~2.4 m a pixel at Jezero: 1.5 km across, the last few drives and the landmarks near them
DRIVE_ZOOM = 17  # ~0.6 m a pixel: a 50 m drive is 80 px long
DIGEST_SIZE = (400, 300)
DIGEST_ZOOM = 16
MOSAIC_DOWNLOAD_BYTES = 60_000_000  # NASA's largest end-of-drive mosaic JPEG seen is ~30 MB
MOSAIC_BYTES = 3_000_000  # well inside Discord's attachment limit, with the map beside it
MOSAIC_PIXELS = 3_000_000  # ~3600 x 830 for a 360° view: Discord shows it full width when opened
UNAVAILABLE = "NASA's map isn't answering right now; try again in a few minutes."

# Site and drive inside a Mars 2020 image id or a file named after one:
# NLG_1994_0843961141_380ECM_N0910970NCAM00518_00_2I3J -> site 091, drive 0970 (camera-models.md §4).
SITE_DRIVE = re.compile(r"[A-Z0-9]{3}_\d{4}_\d{10}_\d{3}[A-Z0-9]{3}_[A-Z](\d{3})(\d{4})[A-Z0-9]+_\d{2}_")


class MapUnavailable(NasaUnavailable):
    """NASA's map (MMGIS) did not answer usefully: shown to the caller as it is."""


def site_drive(text: str) -> tuple[int, int] | None:
    m = SITE_DRIVE.search(text)
    return (int(m[1]), int(m[2])) if m else None


def position_to_json(loc: Localization) -> str:
    """What the drives cycle remembers of the last position (the mosaic is not needed again)."""
    return json.dumps({k: v for k, v in asdict(loc).items() if k != "mosaic"})


def position_from_json(text: str | None) -> Localization | None:
    if not text:
        return None
    try:
        return Localization(**json.loads(text))
    except (ValueError, TypeError):
        log.warning("unreadable stored rover position; the next read is a new baseline")
        return None


class RoverMaps:
    def __init__(self, http: httpx.AsyncClient, config: Config, clock: Callable[[], datetime], *,
                 monotonic: Callable[[], float] = time.monotonic):
        self.config = config
        self.clock = clock
        self.monotonic = monotonic
        base_host = urlsplit(config.maps_base_url).netloc.lower()
        self.hosts = tuple(dict.fromkeys((base_host, *config.tile_hosts)))
        self.client = mmgis.MmgisClient(http, self.hosts)
        self.http = http
        self._tiles: TileFetcher | None = None
        self._layers: dict[str, tuple[MissionLayers, float]] = {}
        self._places: dict[str, tuple[tuple[Localization, ...], float]] = {}

    @property
    def tiles(self) -> TileFetcher:
        """Made on first use, so commands that never draw a map never create the cache folder."""
        if self._tiles is None:
            cache = TileCache(self.config.tile_cache_dir, self.config.tile_cache_max_mb * 1_000_000)
            self._tiles = TileFetcher(self.http, cache, tuple(self.config.tile_hosts))
        return self._tiles

    # ------------------------------------------------------------ layers and data

    @staticmethod
    def rover(name: str) -> Rover:
        try:
            return rovers.find(name)
        except ValueError:
            raise MapUnavailable(f"I know where {', '.join(r.name for r in rovers.ROVERS.values())} are, "
                                 f"not `{name.strip()[:40]}`.") from None

    async def layers(self, code: str) -> MissionLayers:
        held = self._layers.get(code)
        if held and self.monotonic() < held[1]:
            return held[0]
        url = self.config.maps_base_url + CONFIG_PATH.format(code=code)
        try:
            layers = await self.client.layers(url, code)
            ttl = LAYERS_TTL
            if layers.mission != code:  # a configuration for another mission: its layers are not ours
                layers, ttl = mmgis.default_layers(code, self.config.maps_base_url), LAYERS_TTL
        except NasaError as e:
            log.warning("MMGIS configuration for %s unreadable (%s); using the known layer files", code, e)
            layers, ttl = mmgis.default_layers(code, self.config.maps_base_url), LAYERS_RETRY
        self._layers[code] = (layers, self.monotonic() + ttl)
        return layers

    async def current(self, code: str) -> tuple[MissionLayers, Localization | None]:
        """The current-position layer. Raises NasaError."""
        layers = await self.layers(code)
        return layers, await self.client.current(layers)

    async def traverse(self, layers: MissionLayers) -> Traverse | None:
        try:
            return await self.client.traverse(layers)
        except NasaError as e:
            log.info("no traverse for %s: %s", layers.mission, e)
            return None

    async def samples(self, layers: MissionLayers) -> tuple[Sample, ...]:
        try:
            return await self.client.samples(layers)
        except NasaError as e:
            log.info("no sample sites for %s: %s", layers.mission, e)
            return ()

    # ------------------------------------------------------------ where a picture was taken

    async def refresh_places(self, code: str, current: Localization | None = None, *, force: bool = False) -> int:
        """Re-read the waypoints layer when it is stale or a new drive appeared; returns how many
        localizations are held. Failures keep what was held."""
        held = self._places.get(code)
        if held and not force and self.monotonic() < held[1]:
            return len(held[0])
        try:
            layers = await self.layers(code)
            locs = await self.client.localizations(layers)
        except NasaError as e:
            log.info("waypoints for %s not refreshed: %s", code, e)
            return len(held[0]) if held else 0
        if current is not None:
            locs = tuple(sorted({**{l.key: l for l in locs}, current.key: current}.values(), key=lambda l: l.key))
        self._places[code] = (locs, self.monotonic() + PLACES_TTL)
        return len(locs)

    def localizations(self, code: str) -> tuple[Localization, ...]:
        held = self._places.get(code)
        return held[0] if held else ()

    def place_of(self, text: str) -> str | None:
        """Where a Perseverance picture (its id, or a URL named after it) was taken; None when
        unknown. Only the held localizations are used: nothing is fetched. (Curiosity's image ids
        carry no site and drive, so only Perseverance's pictures can be placed this way.)"""
        sd = site_drive(text)
        locs = self.localizations(rovers.PERSEVERANCE.map_code)
        return where.locate(sd[0], sd[1], locs) if sd and locs else None

    # ------------------------------------------------------------ pictures

    async def map_picture(self, loc: Localization, layers: MissionLayers, traverse: Traverse | None,
                          samples: tuple[Sample, ...], landing: tuple[float, float], *, title: str = "",
                          size: tuple[int, int] = MAP_SIZE, zoom: int = WHERE_ZOOM) -> bytes:
        """The map around a position. Tiles that cannot be had leave a plain background."""
        view = MapView(loc.lat, loc.lon, zoom, *size)
        try:
            tiles = await self.tiles.fetch(plan(view, layers.tiles))
        except Exception as e:  # noqa: BLE001 - a broken tile source must never cost the map
            log.warning("tiles unavailable, plain map: %s: %s", type(e).__name__, e)
            tiles = []
        last = traverse.last_sol if traverse is not None else None
        newer = [l for l in self.localizations(layers.mission) if last is None or l.sol > last]
        extra = [(l.lat, l.lon) for l in newer if l.key <= loc.key] + [(loc.lat, loc.lon)] if newer else ()
        return await asyncio.to_thread(render_map, loc, traverse, samples, landing, tiles, size=size, zoom=zoom,
                                       title=title, extra_path=extra, radius_m=layers.radius_m)

    async def where(self, rover: Rover, budget_seconds: float = 18.0) -> Post:
        """The /where answer with its map. Raises MapUnavailable."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget_seconds
        try:
            async with asyncio.timeout(budget_seconds * 0.6):
                layers, loc = await self.current(rover.map_code)
        except (NasaError, TimeoutError) as e:
            log.warning("/where %s: %s", rover.key, e)
            raise MapUnavailable(UNAVAILABLE) from None
        if loc is None:
            raise MapUnavailable(f"NASA's map has no current position for {rover.mission.rover} right now; "
                                 "try again in a little while.")
        try:  # the rest only adds to the picture: what is late is left out
            traverse, samples = await asyncio.wait_for(
                asyncio.gather(self.traverse(layers), self.samples(layers)), max(1.0, deadline - loop.time() - 4))
        except TimeoutError:
            traverse, samples = None, ()
        answer = where.where_from(loc, self.clock(), traverse=traverse, mission=rover.mission)
        picture = await self.map_picture(loc, layers, traverse, samples, rover.landing,
                                         title=f"{rover.mission.rover} · sol {loc.sol}")
        return compose.where_post(answer, picture)

    async def drive_pictures(self, rover: Rover, drive: where.Drive, loc: Localization) -> tuple[bytes | None, bytes | None]:
        """(map, labelled 360° view) for a drive post; either is None when it cannot be made."""
        picture = mosaic = None
        try:
            layers = await self.layers(rover.map_code)
            traverse = await self.traverse(layers)
            samples = await self.samples(layers)
            picture = await self.map_picture(loc, layers, traverse, samples, rover.landing,
                                             title=f"{rover.mission.rover} · sol {drive.sol}", zoom=DRIVE_ZOOM)
        except (NasaError, BadImage, OSError) as e:
            log.warning("drive map for sol %d not made: %s", drive.sol, e)
        if drive.mosaic is not None:
            try:
                mosaic = await drivemosaic.fetch_labelled(
                    self.http, drive.mosaic, allowed_hosts=self.hosts, max_download_bytes=MOSAIC_DOWNLOAD_BYTES,
                    max_bytes=MOSAIC_BYTES, max_pixels=MOSAIC_PIXELS, title=f"Sol {drive.sol} · site {drive.site}, drive {drive.drive}")
            except (NasaError, BadImage) as e:
                log.warning("end-of-drive view for sol %d not made: %s", drive.sol, e)
        return picture, mosaic

    async def day(self, rover: Rover, start: datetime, end: datetime) -> tuple[float, bytes | None] | None:
        """Metres the rover drove in [start, end) and, when it moved, a small map; None when
        NASA's map cannot say."""
        try:
            layers, loc = await self.current(rover.map_code)
        except NasaError as e:
            log.info("digest drive line skipped: %s", e)
            return None
        traverse = await self.traverse(layers)
        if traverse is None and not self.localizations(rover.map_code):
            return None
        locs = (*self.localizations(rover.map_code), *((loc,) if loc is not None else ()))
        metres = where.driven_between(start, end, traverse=traverse, localizations={l.key: l for l in locs}.values(),
                                      mission=rover.mission)
        if metres <= 0 or loc is None:
            return metres, None
        picture = await self.map_picture(loc, layers, traverse, await self.samples(layers), rover.landing,
                                         size=DIGEST_SIZE, zoom=DIGEST_ZOOM)
        return metres, picture
