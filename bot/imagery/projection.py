"""Where a Mars latitude/longitude falls on NASA's map tiles, and distances on the Mars sphere.

The projection is the one MMGIS draws its rover maps in. The M20 mission configuration has
`projection.custom: false`, and for that case MMGIS's Map_.js makes a plain Leaflet map. That is
Leaflet's default CRS, EPSG:3857 spherical ("web") Mercator, with a +a=+b=3396190 m sphere for
measurements. Every tile layer in the configuration says `tileformat: "tms"`, so Leaflet gets
`tms: true`: tile rows count up from the south, the reverse of the usual slippy-map {y}.

Pixel positions in spherical Mercator do not depend on the sphere's radius. The radius matters
only for metres (scale bar, distances), so those take it as a parameter.

Coordinates are planetocentric latitude and east-positive longitude in degrees, as MMGIS
publishes them (CRS84 on the Mars sphere).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MARS_RADIUS_M = 3_396_190.0  # MMGIS msv.radius.major/minor for M20 and MSL: the IAU Mars sphere
TILE_SIZE = 256
MAX_LATITUDE = 85.0511287798  # where square Mercator ends; Leaflet clamps to this too
METRES_PER_MILE = 1609.344


def world_px(lat: float, lon: float, zoom: int) -> tuple[float, float]:
    """Global pixel of a point at a zoom level: x east from 180°W, y south from the top edge
    (the slippy-map/XYZ convention; use tms_row for the row number in a TMS URL)."""
    scale = TILE_SIZE * 2**zoom
    lat = max(-MAX_LATITUDE, min(MAX_LATITUDE, lat))
    phi = math.radians(lat)
    x = (lon + 180.0) / 360.0 * scale
    y = (1.0 - math.log(math.tan(phi) + 1.0 / math.cos(phi)) / math.pi) / 2.0 * scale
    return x, y


def world_px_array(lat: np.ndarray, lon: np.ndarray, zoom: int) -> tuple[np.ndarray, np.ndarray]:
    """world_px over arrays: thousands of traverse vertices at once."""
    scale = TILE_SIZE * 2**zoom
    phi = np.radians(np.clip(lat, -MAX_LATITUDE, MAX_LATITUDE))
    x = (lon + 180.0) / 360.0 * scale
    y = (1.0 - np.log(np.tan(phi) + 1.0 / np.cos(phi)) / np.pi) / 2.0 * scale
    return x, y


def lat_lon(x: float, y: float, zoom: int) -> tuple[float, float]:
    """Inverse of world_px."""
    scale = TILE_SIZE * 2**zoom
    lon = x / scale * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * y / scale))))
    return lat, lon


def tile_of(lat: float, lon: float, zoom: int) -> tuple[int, int]:
    """(column, XYZ row) of the tile holding a point."""
    x, y = world_px(lat, lon, zoom)
    last = 2**zoom - 1
    return min(last, max(0, int(x // TILE_SIZE))), min(last, max(0, int(y // TILE_SIZE)))


def tms_row(xyz_row: int, zoom: int) -> int:
    """The row number a TMS tile URL uses for an XYZ row (and back: the mapping is its own inverse)."""
    return 2**zoom - 1 - xyz_row


def metres_per_pixel(lat: float, zoom: int, radius_m: float = MARS_RADIUS_M) -> float:
    """Ground size of one pixel at a latitude (Mercator stretches by 1/cos(lat))."""
    return 2 * math.pi * radius_m * math.cos(math.radians(lat)) / (TILE_SIZE * 2**zoom)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float, radius_m: float = MARS_RADIUS_M) -> float:
    """Great-circle distance on the sphere (haversine: stable for the metre-scale hops of a drive)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * radius_m * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class MapView:
    """A picture of `width` x `height` pixels centred on a point at one zoom level."""

    lat: float
    lon: float
    zoom: int
    width: int
    height: int

    @property
    def origin(self) -> tuple[float, float]:
        """Global pixel of the picture's top-left corner."""
        cx, cy = world_px(self.lat, self.lon, self.zoom)
        return cx - self.width / 2, cy - self.height / 2

    def px(self, lat: float, lon: float) -> tuple[float, float]:
        """Where a point lands in the picture (may be outside it)."""
        x, y = world_px(lat, lon, self.zoom)
        ox, oy = self.origin
        return x - ox, y - oy

    def px_array(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = world_px_array(lat, lon, self.zoom)
        ox, oy = self.origin
        return x - ox, y - oy

    def contains(self, lat: float, lon: float, margin: float = 0.0) -> bool:
        x, y = self.px(lat, lon)
        return -margin <= x <= self.width + margin and -margin <= y <= self.height + margin

    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees."""
        ox, oy = self.origin
        north, west = lat_lon(ox, oy, self.zoom)
        south, east = lat_lon(ox + self.width, oy + self.height, self.zoom)
        return west, south, east, north

    def metres_per_pixel(self, radius_m: float = MARS_RADIUS_M) -> float:
        return metres_per_pixel(self.lat, self.zoom, radius_m)
