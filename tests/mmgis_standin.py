"""A loopback stand-in for NASA's MMGIS rover map (mars.nasa.gov/mmgis-maps and the map
configuration API), over real HTTP on 127.0.0.1.

Layers are the recorded files (tests/fixtures/m20_*, msl_*), served as they are; the mission
configuration is the recorded one with the real host replaced by the stand-in's address, the way
the real one names its own host. Two things have no recording and are generated:

- basemap tiles: for each tile layer of the configuration, {z}/{x}/{y}.png with `y` a TMS row
  (counted from the south) as the configuration says, 256x256 PNG, served only for zooms up to the
  layer's maxNativeZoom and inside its bounding box, 404 elsewhere, as a tile folder on a web
  server behaves. Each pixel encodes where it is: red = column in the tile, green = row in the
  tile (north at the top), blue = (31*x + 17*xyz_row + 7*z) mod 256 names the tile. A test can
  read a map's pixel and know exactly which spot of which tile landed there.
- the sample-site layer, in the schema the configuration implies (sample_num, sample_start).

Faults are queued per path prefix: an HTTP status, a stall, a junk body, a redirect.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web
from PIL import Image

from tests.loopback import LoopbackServer

FIXTURES = Path(__file__).parent / "fixtures"
REAL_HOST = "https://mars.nasa.gov"
CONFIG = "m20_mmgis_mission_config_2025-06-06.json"
CURRENT_1840 = "m20_waypoints_current_sol1840.json"
CURRENT_1524 = "m20_waypoints_current_2025-06-06_sol1524.json"
CURRENT_OLD_SCHEMA = "m20_waypoints_current_2021-03-15_sol0023_oldschema.json"
CURRENT_EMPTY = "m20_waypoints_current_2024-11-20_empty_features.json"
WAYPOINTS_ALL = "m20_waypoints_all_2024-04-04_sol1110.json"
TRAVERSE = "m20_traverse_to_sol1840.json"
MSL_CURRENT = "msl_waypoints_current_sol4868.json"

# Generated sample sites, near the sol-1840 position and near the landing site.
SAMPLES = {"type": "FeatureCollection", "name": "M20_SAMPLE_v3", "features": [
    {"type": "Feature", "properties": {"sample_num": "S-A", "sample_start": 1835, "sample_name": "near the rover"},
     "geometry": {"type": "Point", "coordinates": [77.2225, 18.4338, -1975.0]}},
    {"type": "Feature", "properties": {"sample_num": "S-B", "sample_start": 120},
     "geometry": {"type": "Point", "coordinates": [77.4460, 18.4480, -2570.0]}},
    {"type": "Feature", "properties": {"sample_num": "junk"}, "geometry": {"type": "Point", "coordinates": ["x", None]}},
]}


def _corner(x: int, xyz_row: int, z: int) -> tuple[float, float]:
    """(lat, lon) of a tile corner in spherical Mercator: written out here, independent of bot/."""
    n = 2**z
    return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * xyz_row / n)))), x / n * 360.0 - 180.0


def tile_blue(z: int, x: int, xyz_row: int) -> int:
    return (31 * x + 17 * xyz_row + 7 * z) % 256


def make_tile(z: int, x: int, xyz_row: int, texture: bool = False) -> bytes:
    """The position-encoding tile; with `texture`, grain like an orbital photo's, which makes the
    PNG as big as a real HiRISE tile (~100-150 kB) but no longer exact pixel by pixel."""
    cols, rows = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8))
    rgb = np.dstack([cols, rows, np.full((256, 256), tile_blue(z, x, xyz_row), np.uint8)])
    if texture:
        grain = np.random.default_rng(31 * x + 17 * xyz_row + z).integers(-24, 25, (256, 256, 1))
        rgb = np.clip(rgb.astype(np.int16) + grain, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "PNG")
    return buf.getvalue()


def make_mosaic(columns: int, rows: int) -> bytes:
    """A JPEG the size NASA lists, brighter to the right, so orientation is visible."""
    ramp = np.linspace(40, 220, columns, dtype=np.float32)
    band = np.tile(ramp, (rows, 1)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(np.dstack([band, band // 2 + 40, band // 3 + 20]), "RGB").save(buf, "JPEG", quality=80)
    return buf.getvalue()


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_bytes())


@dataclass
class Fault:
    path: str  # applies to the next request whose path starts with this
    status: int = 200
    body: bytes | None = None
    delay: float = 0.0
    redirect: str | None = None  # Location for a 302
    content_type: str = "application/json"


@dataclass
class MmgisStandIn(LoopbackServer):
    current_file: str = CURRENT_1840
    tile_texture: bool = False  # realistic tile sizes (benchmarks), at the cost of exact pixels
    faults: list[Fault] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    bytes_served: int = 0
    url: str = ""
    _mosaics: dict[str, bytes] = field(default_factory=dict)

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/{tail:.*}", self._handle)

    def start(self) -> "MmgisStandIn":  # type: ignore[override]
        self._config = load(CONFIG)
        self._tile_layers = {}
        for layer in self._config["layers"]:
            if layer.get("type") == "tile":
                folder = layer["url"].split("/Layers/", 1)[1].split("/{z}")[0]
                self._tile_layers[folder] = layer
        return LoopbackServer.start(self, "mmgis-standin")

    @property
    def tile_requests(self) -> list[str]:
        return [p for p in self.requests if p.endswith(".png") and "/json/" not in p]

    def _reply(self, body: bytes, content_type: str, status: int = 200) -> web.Response:
        self.bytes_served += len(body)
        return web.Response(status=status, body=body, content_type=content_type)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests.append(path)
        for i, fault in enumerate(self.faults):
            if path.startswith(fault.path):
                self.faults.pop(i)
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.redirect:
                    raise web.HTTPFound(fault.redirect)
                if fault.body is not None or fault.status != 200:
                    return self._reply(fault.body or b"", fault.content_type, fault.status)
                break
        if path == "/maps/location/api/configure/get":
            text = json.dumps(self._config).replace(REAL_HOST, self.url)
            return self._reply(text.encode(), "application/json")
        parts = path.strip("/").split("/")
        if len(parts) == 5 and parts[:2] == ["mmgis-maps", "M20"] and parts[2:4] == ["Layers", "json"]:
            return self._layer(parts[4])
        if len(parts) == 5 and parts[:2] == ["mmgis-maps", "MSL"] and parts[2:4] == ["Layers", "json"]:
            if parts[4] == "MSL_waypoints_current.json":
                return self._reply((FIXTURES / MSL_CURRENT).read_bytes(), "application/json")
        if len(parts) == 5 and parts[2:4] == ["Layers", "mosaics"]:
            return self._mosaic(parts[4])
        if len(parts) == 7 and parts[:3] == ["mmgis-maps", "M20", "Layers"] and parts[6].endswith(".png"):
            return self._tile(parts[3], parts[4], parts[5], parts[6][:-4])
        return self._reply(b"Not Found", "text/plain", 404)

    def _layer(self, name: str) -> web.Response:
        files = {"M20_waypoints_current.json": self.current_file, "M20_waypoints.json": WAYPOINTS_ALL,
                 "M20_traverse.json": TRAVERSE}
        if name in files:
            return self._reply((FIXTURES / files[name]).read_bytes(), "application/json")
        if name == "M20_SAMPLE_v3.json":
            return self._reply(json.dumps(SAMPLES).encode(), "application/json")
        return self._reply(b"Not Found", "text/plain", 404)

    def _tile(self, folder: str, z: str, x: str, y: str) -> web.Response:
        layer = self._tile_layers.get(folder)
        if layer is None or not (z.isdigit() and x.isdigit() and y.isdigit()):
            return self._reply(b"Not Found", "text/plain", 404)
        zi, xi, tms_y = int(z), int(x), int(y)
        n = 2**zi
        if zi > int(layer["maxNativeZoom"]) or xi >= n or tms_y >= n:
            return self._reply(b"Not Found", "text/plain", 404)
        xyz_row = n - 1 - tms_y
        west, south, east, north = layer["boundingBox"]
        t_north, t_west = _corner(xi, xyz_row, zi)
        t_south, t_east = _corner(xi + 1, xyz_row + 1, zi)
        if t_east < west or t_west > east or t_north < south or t_south > north:
            return self._reply(b"Not Found", "text/plain", 404)
        return self._reply(make_tile(zi, xi, xyz_row, self.tile_texture), "image/png")

    def _mosaic(self, name: str) -> web.Response:
        if name not in self._mosaics:
            current = load(self.current_file)["features"]
            props = current[0]["properties"] if current else {}
            image = next((im for im in props.get("images", []) if im["url"].endswith("/" + name)), None)
            if image is None:
                return self._reply(b"Not Found", "text/plain", 404)
            self._mosaics[name] = make_mosaic(int(image["columns"]), int(image["rows"]))
        return self._reply(self._mosaics[name], "image/jpeg")


# ------------------------------------------------------------------ pytest fixtures (import them)

import pytest  # noqa: E402


@pytest.fixture
def mmgis_standin():
    standin = MmgisStandIn().start()
    yield standin
    standin.stop()


@pytest.fixture
async def http():
    from bot.sources.nasa import make_http_client

    client = make_http_client("roverbot-tests (contact: tests@example.org)", 5)
    yield client
    await client.aclose()
