"""NASA's MMGIS "where is the rover" map: layer URLs, fetching, and tolerant parsers.

The layers are undocumented GeoJSON files (nasa-data-sources.md §5). Their shape drifted: 2021
files say `dist_total` (metres) where later ones say `dist_total_m`, carry 2-D coordinates and no
`images`; `elev_radii`/`radius` became the sentinel -9999 in 2026; the current-position file once
came back with `"features": []`. So every parser takes whatever JSON arrived and returns plain
frozen values, skipping any record it cannot make sense of rather than raising.

The sample-site layer (M20_SAMPLE_v3.json) has no recording here; its keys are taken from the
mission configuration (`useKeyAsName: sample_num`, links to `#{sample_start}`) and parsed loosely.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import urljoin, urlsplit

import httpx
import numpy as np

from bot.sources.nasa import NasaError


SENTINEL = -9999.0
MAX_JSON_BYTES = 32_000_000  # the M20 traverse is 3.5 MB at sol 1840 and grows ~2 MB a year
MAX_REDIRECTS = 5
MAX_ZOOM = 24  # beyond any Mars mosaic (HiRISE 25 cm is zoom 19)

# Where the layers were when the mission configuration was recorded (2025-06-06); the
# configuration document itself is the source of truth when it can be read.
CONFIG_URL = "https://mars.nasa.gov/maps/location/api/configure/get?mission={mission}"
_LAYER_FILES = {
    "M20": {"current": "M20_waypoints_current.json", "waypoints": "M20_waypoints.json",
            "traverse": "M20_traverse.json", "samples": "M20_SAMPLE_v3.json"},
    "MSL": {"current": "MSL_waypoints_current.json", "waypoints": "MSL_waypoints.json",
            "traverse": "MSL_traverse.json", "samples": ""},
}
MISSION_CODES = {"mars2020": "M20", "m2020": "M20", "perseverance": "M20", "m20": "M20",
                 "msl": "MSL", "curiosity": "MSL"}


# ------------------------------------------------------------------ values


@dataclass(frozen=True)
class MosaicRef:
    """NASA's end-of-drive cylindrical mosaic (camera-models.md §6). Columns span azmin -> azmax
    clockwise from north (wrapping through north when azmin > azmax); rows span elmax -> elmin."""

    url: str
    rows: int
    columns: int
    azmin: float
    azmax: float
    elmin: float
    elmax: float

    @property
    def az_span(self) -> float:
        span = (self.azmax - self.azmin) % 360.0
        return 360.0 if span == 0 and self.azmax != self.azmin else span or 360.0


@dataclass(frozen=True)
class Localization:
    """One end-of-drive (or site-increment) position of the rover."""

    sol: int
    site: int
    drive: int
    lat: float
    lon: float
    elevation_m: float | None  # above the areoid; None when NASA sent the sentinel or nothing
    dist_m: float | None  # this drive
    dist_total_m: float | None  # since landing
    note: str = ""
    mosaic: MosaicRef | None = None

    @property
    def key(self) -> tuple[int, int]:
        """Site/drive: the rover's motion counter, which only ever increases."""
        return self.site, self.drive


@dataclass(frozen=True, eq=False)
class Traverse:
    """The drive path, compact: one float64 (N, 2) array of lat/lon vertices and one row per
    drive segment (index of its first vertex, sol, length in metres, SCLK at its end)."""

    points: np.ndarray  # (N, 2) lat, lon
    starts: np.ndarray  # (S,) int32: segment i is points[starts[i]:starts[i+1]]
    sols: np.ndarray  # (S,) int32
    lengths_m: np.ndarray  # (S,) float64
    sclk_end: np.ndarray  # (S,) float64, NaN when unknown

    def segment(self, i: int) -> np.ndarray:
        end = self.starts[i + 1] if i + 1 < len(self.starts) else len(self.points)
        return self.points[self.starts[i] : end]

    @property
    def last_sol(self) -> int | None:
        return int(self.sols.max()) if len(self.sols) else None

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.points, self.starts, self.sols, self.lengths_m, self.sclk_end))


EMPTY_TRAVERSE = Traverse(np.zeros((0, 2)), np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0), np.zeros(0))


@dataclass(frozen=True)
class Sample:
    name: str
    sol: int | None
    lat: float
    lon: float


@dataclass(frozen=True)
class TileLayer:
    name: str
    url: str  # with {z}/{x}/{y}
    tms: bool
    min_zoom: int
    max_native_zoom: int
    bbox: tuple[float, float, float, float] | None  # west, south, east, north
    visible: bool = True

    def tile_url(self, z: int, x: int, xyz_row: int) -> str:
        row = 2**z - 1 - xyz_row if self.tms else xyz_row
        return self.url.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(row))


@dataclass(frozen=True)
class MissionLayers:
    mission: str  # MMGIS code: M20, MSL
    current: str
    waypoints: str
    traverse: str
    samples: str = ""
    helicopter_current: str = ""
    helicopter_waypoints: str = ""
    helicopter_path: str = ""
    tiles: tuple[TileLayer, ...] = ()  # top-most first, as MMGIS lists them
    radius_m: float = 3_396_190.0
    view: tuple[float, float, int] | None = None  # lat, lon, zoom of the mission's default view

    @property
    def mosaic_base(self) -> str:
        """Where `images[].url` is relative to: the folder above Layers/."""
        path = self.current
        cut = path.find("/Layers/")
        return path[: cut + 1] if cut >= 0 else path.rsplit("/", 1)[0] + "/"


def default_layers(mission: str, base_url: str = "https://mars.nasa.gov") -> MissionLayers:
    """Layer URLs known from the recorded configuration, for when the configuration is unreadable.
    No tile layers: without the configuration's bounding boxes and zooms, the map goes plain."""
    code = MISSION_CODES.get(mission.lower(), mission.upper())
    files = _LAYER_FILES.get(code)
    if files is None:
        raise ValueError(f"no MMGIS layers known for mission {mission!r}")
    folder = f"{base_url.rstrip('/')}/mmgis-maps/{code}/Layers/json/"
    return MissionLayers(code, *(folder + files[k] if files[k] else "" for k in ("current", "waypoints", "traverse", "samples")))


# ------------------------------------------------------------------ parsers


def _num(value: Any) -> float | None:
    """A finite number from a number or numeric string; None for junk and for NASA's sentinel."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a 400-digit integer
        return None
    if not math.isfinite(f) or f == SENTINEL:
        return None
    return f


def _int(value: Any) -> int | None:
    f = _num(value)
    return int(f) if f is not None and f == int(f) else None


def _features(payload: Any) -> list[dict]:
    feats = payload.get("features") if isinstance(payload, dict) else None
    return [f for f in feats if isinstance(f, dict)] if isinstance(feats, list) else []


def _lat_lon(props: dict, geometry: Any) -> tuple[float, float] | None:
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    lon = lat = None
    if isinstance(coords, list) and len(coords) >= 2:
        lon, lat = _num(coords[0]), _num(coords[1])
    if lon is None or lat is None:
        lon, lat = _num(props.get("lon")), _num(props.get("lat"))
    if lon is None or lat is None or not (-90 <= lat <= 90) or not (-360 <= lon <= 360):
        return None
    return lat, _wrap(lon)


def _wrap(lon: float) -> float:
    """East longitude into [-180, 180] (some layers use 0..360); in-range values pass untouched."""
    return lon if -180 <= lon <= 180 else (lon + 180) % 360 - 180


def _mosaic(props: dict, base: str) -> MosaicRef | None:
    images = props.get("images")
    if not isinstance(images, list):
        return None
    for im in images:
        if not isinstance(im, dict) or not isinstance(im.get("url"), str) or not im["url"].strip():
            continue
        nums = [_num(im.get(k)) for k in ("rows", "columns", "azmin", "azmax", "elmin", "elmax")]
        if any(n is None for n in nums) or nums[0] <= 0 or nums[1] <= 0:
            continue
        rows, cols, azmin, azmax, elmin, elmax = nums
        return MosaicRef(urljoin(base, im["url"].strip()), int(rows), int(cols), azmin, azmax, elmin, elmax)
    return None


def _localization(feature: dict, base: str) -> Localization | None:
    props = feature.get("properties")
    if not isinstance(props, dict):
        return None
    where = _lat_lon(props, feature.get("geometry"))
    sol, site, drive = _int(props.get("sol")), _int(props.get("site")), _int(props.get("drive"))
    if where is None or sol is None or site is None or drive is None:
        return None
    elevation = _num(props.get("elev_geoid"))
    if elevation is None:
        coords = (feature.get("geometry") or {}).get("coordinates") if isinstance(feature.get("geometry"), dict) else None
        elevation = _num(coords[2]) if isinstance(coords, list) and len(coords) >= 3 else None
    total = _num(props.get("dist_total_m"))
    if total is None:
        total = _num(props.get("dist_total"))  # the 2021 schema: metres, without the suffix
    if total is None and _num(props.get("dist_km")) is not None:
        total = _num(props.get("dist_km")) * 1000.0
    note = props.get("Note") if isinstance(props.get("Note"), str) else ""
    return Localization(sol, site, drive, where[0], where[1], elevation, _num(props.get("dist_m")), total,
                        note, _mosaic(props, base))


def localizations(payload: Any, base: str = "") -> tuple[Localization, ...]:
    """Every usable localisation in a waypoints layer, in drive order (site, drive).
    `base` resolves the relative mosaic URLs (MissionLayers.mosaic_base)."""
    out = {}
    for feat in _features(payload):
        loc = _localization(feat, base)
        if loc is not None:
            out[loc.key] = loc  # a repeated site/drive: the later record wins
    return tuple(sorted(out.values(), key=lambda loc: loc.key))


def current(payload: Any, base: str = "") -> Localization | None:
    """The newest localisation in the current-position layer; None when it has none (it happens)."""
    locs = localizations(payload, base)
    return locs[-1] if locs else None


def traverse(payload: Any) -> Traverse:
    """The drive path as compact arrays. LineStrings and MultiLineStrings both occur (M20, MSL);
    vertices that are not two finite numbers are dropped, and so are parts left with under two."""
    pts: list[tuple[float, float]] = []
    starts: list[int] = []
    sols: list[int] = []
    lengths: list[float] = []
    sclk: list[float] = []
    for feat in _features(payload):
        geom = feat.get("geometry")
        props = feat.get("properties") if isinstance(feat.get("properties"), dict) else {}
        if not isinstance(geom, dict):
            continue
        coords = geom.get("coordinates")
        if geom.get("type") == "LineString":
            parts = [coords]
        elif geom.get("type") == "MultiLineString" and isinstance(coords, list):
            parts = coords
        else:
            continue
        sol = _int(props.get("sol"))
        if sol is None:
            sol = _int(props.get("Sol"))
        for part in parts:
            if not isinstance(part, list):
                continue
            clean = []
            for v in part:
                if isinstance(v, list) and len(v) >= 2:
                    lon, lat = _num(v[0]), _num(v[1])
                    if lon is not None and lat is not None and -90 <= lat <= 90:
                        clean.append((lat, _wrap(lon)))
            if len(clean) < 2:
                continue
            starts.append(len(pts))
            pts.extend(clean)
            sols.append(sol if sol is not None else -1)
            length = _num(props.get("length"))
            lengths.append(length if length is not None and len(parts) == 1 else math.nan)
            end = _num(props.get("SCLK_END"))
            sclk.append(end if end is not None else math.nan)
    if not pts:
        return EMPTY_TRAVERSE
    return Traverse(np.asarray(pts, dtype=np.float64), np.asarray(starts, np.int32), np.asarray(sols, np.int32),
                    np.asarray(lengths, np.float64), np.asarray(sclk, np.float64))


def samples(payload: Any) -> tuple[Sample, ...]:
    out = []
    for feat in _features(payload):
        props = feat.get("properties") if isinstance(feat.get("properties"), dict) else {}
        where = _lat_lon(props, feat.get("geometry"))
        if where is None:
            continue
        name = next((str(props[k]).strip() for k in ("sample_num", "sample_name", "Name", "name")
                     if isinstance(props.get(k), (str, int)) and not isinstance(props.get(k), bool) and str(props[k]).strip()), "")
        sol = _int(props.get("sample_start"))
        if sol is None:
            sol = _int(props.get("sol"))
        out.append(Sample(name[:40], sol, where[0], where[1]))
    return tuple(out)


def _bbox(value: Any) -> tuple[float, float, float, float] | None:
    if not isinstance(value, list) or len(value) != 4:
        return None
    nums = [_num(v) for v in value]
    if any(n is None for n in nums) or nums[0] >= nums[2] or nums[1] >= nums[3]:
        return None
    return nums[0], nums[1], nums[2], nums[3]


def mission_layers(config_payload: Any, mission: str = "M20") -> MissionLayers:
    """The layer URLs of an MMGIS mission configuration. Vector layers are recognised by their file
    names (display names are editorial); tile layers keep MMGIS's order, top-most first.
    Falls back to the known file names for anything the configuration does not list."""
    cfg = config_payload if isinstance(config_payload, dict) else {}
    msv = cfg.get("msv") if isinstance(cfg.get("msv"), dict) else {}
    code = str(msv.get("mission") or MISSION_CODES.get(mission.lower(), mission)).upper()
    try:
        fallback = default_layers(code)
    except ValueError:
        fallback = MissionLayers(code, "", "", "")
    found: dict[str, str] = {}
    tiles: list[TileLayer] = []
    layers = cfg.get("layers") if isinstance(cfg.get("layers"), list) else []

    def walk(items: Iterable[Any], depth: int = 0) -> None:
        for layer in items:
            if not isinstance(layer, dict):
                continue
            if isinstance(layer.get("sublayers"), list) and depth < 8:  # MMGIS header groups nest layers
                walk(layer["sublayers"], depth + 1)
            url = layer.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                continue
            name = url.rsplit("/", 1)[-1].lower()
            if layer.get("type") == "tile" and "{z}" in url and "{x}" in url and "{y}" in url:
                minz, maxn = _int(layer.get("minZoom")), _int(layer.get("maxNativeZoom"))
                fmt = layer.get("tileformat", "tms" if layer.get("tms", True) else "wmts")
                minz = min(MAX_ZOOM, max(0, minz if minz is not None else 0))
                maxn = min(MAX_ZOOM, max(0, maxn if maxn is not None else 18))
                tiles.append(TileLayer(str(layer.get("name") or name), url, fmt == "tms", minz, maxn,
                                       _bbox(layer.get("boundingBox")), bool(layer.get("visibility", True))))
            elif layer.get("type") == "vector":
                for key, test in (("current", "waypoints_current.json"), ("helicopter_current", "heli_waypoints_current.json"),
                                  ("helicopter_waypoints", "heli_waypoints.json"), ("helicopter_path", "heli_flight_path.json")):
                    if name.endswith(test) and (key.startswith("heli") == ("heli" in name)):
                        found.setdefault(key, url)
                if name.endswith("_waypoints.json") and "heli" not in name:
                    found.setdefault("waypoints", url)
                elif name.endswith("_traverse.json"):
                    found.setdefault("traverse", url)
                elif "sample" in name and "depot" not in name:
                    found.setdefault("samples", url)

    walk(layers)
    radius = _num((msv.get("radius") or {}).get("major")) if isinstance(msv.get("radius"), dict) else None
    view = msv.get("view")
    v = [_num(x) for x in view] if isinstance(view, list) and len(view) >= 3 else []
    return MissionLayers(
        code,
        found.get("current", fallback.current),
        found.get("waypoints", fallback.waypoints),
        found.get("traverse", fallback.traverse),
        found.get("samples", fallback.samples),
        found.get("helicopter_current", ""),
        found.get("helicopter_waypoints", ""),
        found.get("helicopter_path", ""),
        tuple(tiles),
        radius if radius and radius > 1000 else fallback.radius_m,
        (v[0], v[1], int(v[2])) if len(v) == 3 and None not in v else None,
    )


# ------------------------------------------------------------------ fetching


def host_allowed(url: str, allowed_hosts: Iterable[str]) -> bool:
    """http(s) to an allowed host or one of its subdomains (host:port entries match exactly)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host, netloc = parts.hostname.lower(), parts.netloc.lower()
    return any(netloc == h or host == h or host.endswith("." + h) for h in (a.lower() for a in allowed_hosts))


async def get_capped(http: httpx.AsyncClient, url: str, *, allowed_hosts: Iterable[str], max_bytes: int,
                     deadline_seconds: float = 60.0) -> bytes:
    """GET a body from an allowed host, following redirects by hand so every hop is checked
    against the allow-list, and never reading more than max_bytes. Raises NasaError."""
    allowed = tuple(allowed_hosts)
    name = urlsplit(url).path.rsplit("/", 1)[-1] or url
    try:
        async with asyncio.timeout(deadline_seconds):
            for _ in range(MAX_REDIRECTS + 1):
                if not host_allowed(url, allowed):
                    raise NasaError(f"refused to fetch {name} from {urlsplit(url).netloc or url!r}: not an allowed host",
                                    transient=False)
                async with http.stream("GET", url, follow_redirects=False) as resp:
                    if resp.is_redirect and resp.headers.get("location"):
                        url = urljoin(url, resp.headers["location"])
                        continue
                    if resp.status_code >= 400:
                        raise NasaError(f"{name} answered HTTP {resp.status_code}", status=resp.status_code,
                                        transient=resp.status_code >= 500 or resp.status_code == 429)
                    declared = resp.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > max_bytes:
                        raise NasaError(f"{name} is {int(declared):,} bytes, over the {max_bytes:,} limit", transient=False)
                    chunks, size = [], 0
                    async for chunk in resp.aiter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise NasaError(f"{name} is over the {max_bytes:,} byte limit", transient=False)
                        chunks.append(chunk)
                    return b"".join(chunks)
            raise NasaError(f"{name}: more than {MAX_REDIRECTS} redirects", transient=False)
    except TimeoutError:
        raise NasaError(f"{name} did not arrive within {deadline_seconds:g} s") from None
    except httpx.TimeoutException:
        raise NasaError(f"{name} at {urlsplit(url).netloc} did not answer in time") from None
    except httpx.TransportError as e:
        raise NasaError(f"{name} at {urlsplit(url).netloc} could not be fetched ({type(e).__name__})") from None


def decode_json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise NasaError(f"{what} is not valid JSON ({len(body):,} bytes)") from None
    except RecursionError:
        raise NasaError(f"{what} is JSON nested too deeply to read", transient=False) from None


@dataclass
class MmgisClient:
    """Reads a mission's MMGIS layers. The traverse is big and changes about once a sol, so its
    parsed arrays are kept and reused while the body is byte-for-byte the same."""

    http: httpx.AsyncClient
    allowed_hosts: tuple[str, ...]
    max_bytes: int = MAX_JSON_BYTES
    deadline_seconds: float = 60.0
    _traverse: dict[str, tuple[bytes, Traverse]] = field(default_factory=dict, repr=False)
    parses: int = 0  # traverse parses, for tests and the benchmark

    async def json(self, url: str) -> Any:
        body = await get_capped(self.http, url, allowed_hosts=self.allowed_hosts, max_bytes=self.max_bytes,
                                deadline_seconds=self.deadline_seconds)
        return decode_json(body, urlsplit(url).path.rsplit("/", 1)[-1])

    async def layers(self, config_url: str, mission: str = "M20") -> MissionLayers:
        return mission_layers(await self.json(config_url), mission)

    async def current(self, layers: MissionLayers) -> Localization | None:
        return current(await self.json(layers.current), layers.mosaic_base)

    async def localizations(self, layers: MissionLayers) -> tuple[Localization, ...]:
        return localizations(await self.json(layers.waypoints), layers.mosaic_base)

    async def samples(self, layers: MissionLayers) -> tuple[Sample, ...]:
        return samples(await self.json(layers.samples)) if layers.samples else ()

    async def traverse(self, layers: MissionLayers) -> Traverse:
        url = layers.traverse
        body = await get_capped(self.http, url, allowed_hosts=self.allowed_hosts, max_bytes=self.max_bytes,
                                deadline_seconds=self.deadline_seconds)
        digest = hashlib.blake2b(body, digest_size=16).digest()
        held = self._traverse.get(url)
        if held and held[0] == digest:
            return held[1]
        parsed = await asyncio.to_thread(lambda: traverse(decode_json(body, "the traverse")))
        self.parses += 1
        self._traverse[url] = (digest, parsed)  # only the arrays stay; the body and dict are dropped
        return parsed
