"""A synthetic Mars scene seen through real camera models, served like NASA serves raw images.

The scene lives in the local-level frame (x north, y east, z down) and is far away (a function of
direction only): a textured ground below a level horizon, a sky above, dark posts at known
azimuths and an optional dust devil that drifts with time. Frames are rendered by casting each
pixel's ray through a CAHVORE Navcam model (derived from a recorded sol-1994 model: fisheye type 2,
the real R and E terms) or a CAHVOR Mastcam-Z model, pointed by the mast about its real pivot and
turned by a tilted rover's attitude. Each frame then gets its own exposure gain and vignetting,
like auto-exposed raw images.

`SceneStandIn` serves the feed page (the real record schema: string numbers, camera model
strings, attitude quaternion, subframeRect, scaleFactor, dimension, four renditions) and the
pictures themselves over real HTTP on 127.0.0.1, rendering each rendition at its own size when
first asked, and records which paths were requested.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from aiohttp import web
from PIL import Image

from bot.imagery.cameramodel import (CameraModel, attitude_matrix, az_el, format_model, mast_pointing, parse_model,
                                     quaternion_of, rotation_zyx)
from tests.loopback import LoopbackServer

FIXTURES = Path(__file__).parent / "fixtures"
CRLF_TRAILER = b"\r\n\r\n\r\n\r\n"
PIVOT = np.array([0.806, 0.560, -1.926])  # mast pivot in the rover frame (camera-models.md §3)
STEREO_BASELINE = 0.424  # m, along the mast head's y axis
RENDITION_WIDTHS = {"small": 320, "medium": 800, "large": 1200}
POSTS = ((20.0, 8.0), (75.0, 11.0), (140.0, 14.0), (200.0, 8.0), (260.0, 11.0), (325.0, 14.0))  # (azimuth, top el)
POST_HALF_WIDTH = 0.6  # degrees
POST_BOTTOM = -12.0
TILTED = rotation_zyx(37.5, 3.0, -2.8)  # yaw, pitch, roll: a rover parked on a slope
SOL = 1200
LANDING = datetime(2021, 2, 18, 4, 24, 15, tzinfo=timezone.utc)
SOL_SECONDS = 88775.244


# ------------------------------------------------------------ the scene


def _periodic_noise(rng: np.random.Generator, cells_az: int, cells_el: int, width: int, height: int) -> np.ndarray:
    """Smooth value noise on a width×height az/el table, periodic in azimuth."""
    grid = rng.uniform(-1, 1, (cells_el + 1, cells_az))
    gx = np.arange(width) * cells_az / width
    gy = np.arange(height) * cells_el / height
    x0, y0 = gx.astype(int), gy.astype(int)
    fx, fy = gx - x0, gy - y0
    sx, sy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    x1 = (x0 + 1) % cells_az
    top = grid[y0][:, x0] * (1 - sx) + grid[y0][:, x1] * sx
    bot = grid[y0 + 1][:, x0] * (1 - sx) + grid[y0 + 1][:, x1] * sx
    return (top * (1 - sy[:, None]) + bot * sy[:, None]).astype(np.float32)


class Scene:
    """Luminance and colour of every direction, and of the same directions at a later time."""

    RES = 0.1  # degrees per table cell

    def __init__(self, seed: int = 7):
        rng = np.random.default_rng(seed)
        w, h = int(360 / self.RES), int(180 / self.RES)
        noise = sum(a * _periodic_noise(rng, n, n // 2, w, h) for a, n in ((0.45, 72), (0.3, 240), (0.25, 720), (0.2, 1800)))
        self.ground = (0.34 + 0.3 * noise).astype(np.float32)
        self.sky = (0.84 + 0.03 * _periodic_noise(rng, 24, 12, w, h)).astype(np.float32)

    def _lookup(self, table: np.ndarray, az: np.ndarray, el: np.ndarray) -> np.ndarray:
        h, w = table.shape
        x = (az % 360.0) / self.RES - 0.5
        y = np.clip((el + 90.0) / self.RES - 0.5, 0, h - 1.001)
        x0 = np.floor(x).astype(int)
        y0 = y.astype(int)
        fx, fy = x - x0, y - y0
        x0 %= w
        x1 = (x0 + 1) % w
        return ((table[y0, x0] * (1 - fx) + table[y0, x1] * fx) * (1 - fy)
                + (table[y0 + 1, x0] * (1 - fx) + table[y0 + 1, x1] * fx) * fy)

    def luminance(self, az: np.ndarray, el: np.ndarray, t: float | None = None) -> np.ndarray:
        """The true scene in [0, 1] at azimuth/elevation (degrees, local level), at time t."""
        az = np.asarray(az, float)
        el = np.asarray(el, float)
        lum = np.empty(np.broadcast_shapes(az.shape, el.shape))
        az, el = np.broadcast_arrays(az, el)
        below = el < 0
        lum[below] = self._lookup(self.ground, az[below], el[below])
        lum[~below] = self._lookup(self.sky, az[~below], el[~below]) - 0.0015 * el[~below]
        band = (el > POST_BOTTOM) & (el < max(top for _, top in POSTS))
        a, e = az[band], el[band]
        vals = lum[band]
        for post_az, top in POSTS:
            daz = np.abs((a - post_az + 180.0) % 360.0 - 180.0) * np.cos(np.radians(e))
            vals[(daz < POST_HALF_WIDTH) & (e < top)] = 0.08
        lum[band] = vals
        if t is not None:
            # a dust devil drifting east, 2° per time step, standing on the horizon
            daz = (az - self.devil_az(t) + 180.0) % 360.0 - 180.0
            lum = lum * (1 - 0.6 * np.exp(-(daz**2 + (el - 3.0) ** 2) / (2 * 1.5**2)))
        return lum

    @staticmethod
    def devil_az(t: float) -> float:
        return 100.0 + 2.0 * t

    def colour(self, lum: np.ndarray, el: np.ndarray) -> np.ndarray:
        tint = np.where((el < 0)[..., None], np.array([1.0, 0.8, 0.62]), np.array([0.97, 0.86, 0.74]))
        return lum[..., None] * tint

    def render(self, shot: "Shot", width: int, height: int) -> np.ndarray:
        """The picture a camera takes of the scene: 2×2 supersampled, with the shot's exposure gain and vignetting."""
        W, H = shot.dimension
        model = shot.model.for_size(W, H, width, height)
        R = attitude_matrix(shot.attitude)
        acc = np.zeros((height, width, 3))
        for ox, oy in ((-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)):
            az, el = az_el(_dense_rays(model, width, height, ox, oy) @ R.T)
            acc += self.colour(self.luminance(az, el, shot.t), el)
        img = acc / 4
        yy, xx = np.mgrid[0:height, 0:width]
        r2 = ((xx - (width - 1) / 2) / (width / 2)) ** 2 + ((yy - (height - 1) / 2) / (width / 2)) ** 2
        img *= (shot.gain * (1 - 0.18 * r2))[..., None]
        return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


def _dense_rays(model: CameraModel, width: int, height: int, ox: float, oy: float, step: int = 4) -> np.ndarray:
    """Unit rays of every pixel (offset by ox, oy): exact on every `step`-th pixel, bilinear between
    (the rays are smooth to far below a thousandth of a pixel over that span), then renormalised."""
    cx = np.arange(0, width + step, step, dtype=float)
    cy = np.arange(0, height + step, step, dtype=float)
    gx, gy = np.meshgrid(cx + ox, cy + oy)
    coarse = model.rays(gx, gy)[1]
    fx = (np.arange(width) % step / step)[None, :, None]
    fy = (np.arange(height) % step / step)[:, None, None]
    ix, iy = np.arange(width) // step, np.arange(height) // step
    a = coarse[iy][:, ix]
    b = coarse[iy][:, ix + 1]
    c = coarse[iy + 1][:, ix]
    d = coarse[iy + 1][:, ix + 1]
    rays = (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy
    return rays / np.linalg.norm(rays, axis=-1, keepdims=True)


# ------------------------------------------------------------ cameras


@dataclass(frozen=True)
class Shot:
    """What one record's pictures show."""

    model: CameraModel  # for the full_res picture of `dimension` pixels
    dimension: tuple[int, int]
    attitude: tuple[float, float, float, float]
    gain: float = 1.0
    t: float | None = None  # scene time: None = no dust devil


def _recorded_navcam() -> tuple[CameraModel, float, float]:
    rec = json.loads((FIXTURES / "m2020_raw_latest_sol1994_navcam_left_page0_num12.json").read_bytes())["images"][0]
    model = parse_model(rec["camera"]["camera_model_component_list"], rec["camera"]["camera_model_type"])
    return model.to_sensor((1, 1, 5120, 3840), 4), float(rec["extended"]["mastAz"]), float(rec["extended"]["mastEl"])


_NAVCAM = _recorded_navcam()
# the right eye is never perfectly parallel to the left: a little toe-in, pitch and roll (degrees)
RIGHT_MISALIGNMENT = (0.3, 0.55, 0.35)


def navcam_sensor_model(az: float, el: float, eye: str = "L") -> CameraModel:
    """A full-sensor (5120×3840) Navcam CAHVORE model for rover-frame mast angles: the recorded
    sol-1994 left model turned about the mast pivot; the right eye 42.4 cm along the head's y axis."""
    base, az0, el0 = _NAVCAM
    G = mast_pointing(az, el)
    Q = G @ mast_pointing(az0, el0).T
    m = base.moved(Q, PIVOT - Q @ PIVOT)
    if eye == "R":
        C = np.array(m.C)
        M = G @ rotation_zyx(*RIGHT_MISALIGNMENT) @ G.T
        m = m.moved(M, C - M @ C + STEREO_BASELINE * (G @ np.array([0.0, 1.0, 0.0])))
    return m


def mastcamz_model(az: float, el: float, eye: str = "L", focal_mm: float = 26.0) -> CameraModel:
    """A Mastcam-Z CAHVOR model (1648×1200, 7.4 µm pixels) for rover-frame mast angles."""
    G = mast_pointing(az, el)
    A = G @ np.array([1.0, 0.0, 0.0])
    right, down = G @ np.array([0.0, 1.0, 0.0]), G @ np.array([0.0, 0.0, 1.0])
    f = focal_mm / 0.0074
    hc, vc = 823.5 + 3.2, 599.5 - 2.1
    C = PIVOT + G @ np.array([0.18, -0.122 if eye == "L" else 0.122, -0.12])
    O = G @ rotation_zyx(0.04, -0.03, 0.0) @ np.array([1.0, 0.0, 0.0])
    t = lambda v: tuple(float(c) for c in v)  # noqa: E731
    return CameraModel(C=t(C), A=t(A), H=t(f * right + hc * A), V=t(f * down + vc * A), O=t(O), R=(1e-5, -0.012, 0.004))


# ------------------------------------------------------------ records


def _g(v: float) -> str:
    return f"{v:.6g}"


def _vec(v) -> str:
    return "(" + ",".join(_g(float(c)) for c in v) + ")"


def record(base: str, shot: Shot, *, camera: str, instrument: str, sequence: str, sclk: float, mast_az: float,
           mast_el: float, subframe: tuple[int, int, int, int], scale: int, sol: int = SOL, site: int = 45,
           drive: int = 1234, version: int = 1, tile: int = 0) -> dict:
    """A feed record in the real schema for one shot, its files under `base`."""
    secs, ms = int(sclk), int(round((sclk - int(sclk)) * 1000)) % 1000
    if camera[0] == "Z":
        image_id = f"{camera}0_{sol:04d}_{secs:010d}_{ms:03d}EBY_N{site:03d}{drive:04d}{sequence}_0260LMJ"
        folder, credit, name = "zcam", "NASA/JPL-Caltech/ASU", f"{'Left' if camera[1] == 'L' else 'Right'} Mastcam-Z Camera"
    else:
        digit = {1: 0, 2: 1, 4: 2, 8: 3}[scale]
        image_id = f"{camera}G_{sol:04d}_{secs:010d}_{ms:03d}ECM_N{site:03d}{drive:04d}{sequence}_{tile:02d}_{digit}I3J"
        folder, credit = "ncam", "NASA/JPL-Caltech"
        name = f"{'Left' if camera[1] == 'L' else 'Right'} Navigation Camera (Navcam)"
    files = f"{base}/mars2020-raw-images/pub/ods/surface/sol/{sol:05d}/ids/edr/browse/{folder}/{image_id}{version:02d}"
    taken = LANDING + timedelta(seconds=SOL_SECONDS * sol + 13 * 3600 + (sclk % 3600))
    lmst = f"13:{int(sclk % 3600) // 60:02d}:{int(sclk % 60):02d}"
    W, H = shot.dimension
    centre = shot.model.rays(np.array((W - 1) / 2), np.array((H - 1) / 2))[1]
    return {
        "extended": {"mastAz": _g(((mast_az + 180) % 360) - 180), "mastEl": _g(mast_el), "sclk": f"{sclk:.3f}",
                     "scaleFactor": str(scale), "xyz": "(83.3992,-48.0124,-8.55903)",
                     "subframeRect": f"({subframe[0]},{subframe[1]},{subframe[2]},{subframe[3]})", "dimension": f"({W},{H})"},
        "sol": sol,
        "attitude": _vec(shot.attitude),
        "image_files": {"medium": files + "_800.jpg", "small": files + "_320.jpg", "full_res": files + ".png",
                        "large": files + "_1200.jpg"},
        "imageid": image_id,
        "camera": {"filter_name": "UNK", "camera_vector": _vec(centre), "camera_model_component_list": format_model(shot.model),
                   "camera_position": _vec(shot.model.C), "instrument": instrument, "camera_model_type": shot.model.kind},
        "caption": f"NASA's Mars Perseverance rover acquired this image using its onboard {name}. \n\nThis image was acquired on sol {sol} at the local mean solar time of {lmst}.",
        "sample_type": "Full",
        "date_taken_mars": f"Sol-{sol:05d}M{lmst}.000",
        "credit": credit,
        "date_taken_utc": taken.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
        "json_link": f"{base}/rss/api/?feed=raw_images&category=mars2020&feedtype=json&id={image_id}",
        "link": f"{base}/mars2020/multimedia/raw-images/{image_id}",
        "drive": str(drive),
        "title": f"Mars Perseverance Sol {sol}: {name}",
        "site": site,
        "date_received": (taken + timedelta(hours=9)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


# ------------------------------------------------------------ the server


@dataclass
class SceneStandIn(LoopbackServer):
    scene: Scene = field(default_factory=Scene)
    records: list[dict] = field(default_factory=list)
    shots: dict[str, tuple[Shot, str]] = field(default_factory=dict)  # URL path -> (shot, rendition)
    rendered: dict[str, bytes] = field(default_factory=dict)
    requested: list[str] = field(default_factory=list)  # every path asked for, in order
    url: str = ""

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/{tail:.*}", self._handle)

    def start(self) -> "SceneStandIn":  # type: ignore[override]
        return LoopbackServer.start(self, "scene-standin")

    def add(self, rec: dict, shot: Shot) -> dict:
        from urllib.parse import urlsplit

        self.records.append(rec)
        for rendition, url in rec["image_files"].items():
            self.shots[urlsplit(url).path] = (shot, rendition)
        return rec

    def picture(self, path: str) -> bytes:
        """The bytes served at a path (rendered on first use, then kept)."""
        if path not in self.rendered:
            shot, rendition = self.shots[path]
            W, H = shot.dimension
            w = W if rendition == "full_res" else RENDITION_WIDTHS[rendition]
            h = H if rendition == "full_res" else max(1, round(H * w / W))
            im = Image.fromarray(self.scene.render(shot, w, h))
            out = io.BytesIO()
            if rendition == "full_res":
                im.save(out, "PNG")
            else:
                im.save(out, "JPEG", quality=85)
            self.rendered[path] = out.getvalue()
        return self.rendered[path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requested.append(request.path)
        if request.path == "/rss/api/":
            body = {"images": self.records, "per_page": str(len(self.records)), "total_results": len(self.records),
                    "type": "mars2020-images-list-1.1", "page": 0, "mission": "mars2020", "total_images": 4 * len(self.records)}
            return web.Response(body=json.dumps(body).encode() + CRLF_TRAILER, content_type="application/json")
        if request.path not in self.shots:
            return web.Response(status=404, text="Not Found")
        data = self.picture(request.path)
        return web.Response(body=data, content_type="image/png" if request.path.endswith(".png") else "image/jpeg")

    def full_res_requests(self) -> list[str]:
        return [p for p in self.requested if p.endswith(".png")]


# ------------------------------------------------------------ whole sequences


def attitude_q(R: np.ndarray = TILTED) -> tuple[float, float, float, float]:
    return tuple(round(v, 6) for v in quaternion_of(R))  # type: ignore[return-value]


def navcam_pan(standin: SceneStandIn, azimuths: list[float], elevations: list[float], *, attitude: np.ndarray = TILTED,
               sequence: str = "NCAM00600", sclk0: float = 770000000.0, eye: str = "L", seed: int = 3) -> list[dict]:
    """A Navcam pan: one full frame (1280×960, 4×4 binned) per (elevation, azimuth), taken in that
    order a few seconds apart, each with its own auto-exposure gain."""
    rng = np.random.default_rng(seed)
    q = attitude_q(attitude)
    out = []
    n = 0
    for el in elevations:
        for az in azimuths:
            model = navcam_sensor_model(az, el, eye).for_subframe((1, 1, 5120, 3840), 4)
            shot = Shot(model=model, dimension=(1280, 960), attitude=q, gain=float(rng.uniform(0.8, 1.2)))
            out.append(standin.add(record(standin.url, shot, camera="N" + eye, instrument=f"NAVCAM_{'LEFT' if eye == 'L' else 'RIGHT'}",
                                          sequence=sequence, sclk=sclk0 + 6.25 * n + 0.125, mast_az=az, mast_el=el,
                                          subframe=(1, 1, 5120, 3840), scale=4), shot))
            n += 1
    return out


def navcam_stereo(standin: SceneStandIn, az: float, el: float, *, attitude: np.ndarray = TILTED,
                  sequence: str = "NCAM00710", sclk: float = 770100000.25) -> tuple[dict, dict]:
    """A left/right Navcam pair of one exposure."""
    q = attitude_q(attitude)
    recs = []
    for eye, gain in (("L", 1.0), ("R", 0.93)):
        model = navcam_sensor_model(az, el, eye).for_subframe((1, 1, 5120, 3840), 4)
        shot = Shot(model=model, dimension=(1280, 960), attitude=q, gain=gain)
        recs.append(standin.add(record(standin.url, shot, camera="N" + eye, instrument=f"NAVCAM_{'LEFT' if eye == 'L' else 'RIGHT'}",
                                       sequence=sequence, sclk=sclk, mast_az=az, mast_el=el, subframe=(1, 1, 5120, 3840), scale=4), shot))
    return recs[0], recs[1]


def navcam_movie(standin: SceneStandIn, az: float, el: float, count: int, *, attitude: np.ndarray = TILTED,
                 sequence: str = "NCAM00528", sclk0: float = 770200000.0, strip: bool = True) -> list[dict]:
    """Repeated exposures at one pointing (a dust-devil watch): 1280×256 strips like sol 1994's NCAM00528."""
    q = attitude_q(attitude)
    subframe, dim = ((1, 1409, 5120, 1024), (1280, 256)) if strip else ((1, 1, 5120, 3840), (1280, 960))
    out = []
    for i in range(count):
        model = navcam_sensor_model(az, el).for_subframe(subframe, 4)
        shot = Shot(model=model, dimension=dim, attitude=q, gain=1.0, t=float(i))
        out.append(standin.add(record(standin.url, shot, camera="NL", instrument="NAVCAM_LEFT", sequence=sequence,
                                      sclk=sclk0 + 8.0 * i + 0.5, mast_az=az, mast_el=el, subframe=subframe, scale=4), shot))
    return out


def mastcamz_pan(standin: SceneStandIn, azimuths: list[float], el: float, *, attitude: np.ndarray = TILTED,
                 sequence: str = "ZCAM08100", sclk0: float = 770300000.0) -> list[dict]:
    q = attitude_q(attitude)
    out = []
    for i, az in enumerate(azimuths):
        shot = Shot(model=mastcamz_model(az, el), dimension=(1648, 1200), attitude=q, gain=1.0 + 0.05 * (i % 3))
        out.append(standin.add(record(standin.url, shot, camera="ZL", instrument="MCZ_LEFT", sequence=sequence,
                                      sclk=sclk0 + 5.0 * i + 0.75, mast_az=az, mast_el=el, subframe=(1, 1, 1648, 1200), scale=1), shot))
    return out


def truth(scene: Scene, azimuths: np.ndarray, elevations: np.ndarray) -> np.ndarray:
    """The scene's luminance on a mosaic grid, for comparison with an assembled mosaic."""
    return scene.luminance(azimuths[None, :], elevations[:, None])


# ------------------------------------------------------------ measuring a mosaic against the scene


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two equally shaped arrays (1 = identical up to gain and offset)."""
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()))


def _near_post(azimuths: np.ndarray, margin: float) -> np.ndarray:
    return np.any([np.abs((azimuths - p + 180) % 360 - 180) < margin for p, _ in POSTS], axis=0)


def horizon_elevations(lum: np.ndarray, covered: np.ndarray, azimuths: np.ndarray, elevations: np.ndarray,
                       band: tuple[float, float] = (6.0, 14.0)) -> tuple[np.ndarray, np.ndarray]:
    """(azimuths, horizon elevation) for every column clear of posts and fully covered near the horizon:
    where luminance crosses midway between the sky (band[0]…band[1] up) and the ground (as far down)."""
    out_az, out_el = [], []
    inner, outer = band
    sky = (elevations > inner) & (elevations < outer)
    ground = (elevations < -inner) & (elevations > -outer)
    span = (elevations < outer) & (elevations > -outer)
    rows = np.nonzero(span)[0]
    for c in np.nonzero(~_near_post(azimuths, 2.0))[0]:
        if not covered[rows, c].all() or not covered[sky, c].all() or not covered[ground, c].all():
            continue
        mid = (np.median(lum[sky, c]) + np.median(lum[ground, c])) / 2
        col = lum[rows, c]
        below = np.nonzero(col < mid)[0]
        if not len(below) or below[0] == 0:
            continue
        i = below[0]  # first row under the threshold, from the top
        f = (col[i - 1] - mid) / (col[i - 1] - col[i])
        out_az.append(azimuths[c])
        out_el.append(elevations[rows[i - 1]] + f * (elevations[rows[i]] - elevations[rows[i - 1]]))
    return np.array(out_az), np.array(out_el)


def tilt_of(az: np.ndarray, el: np.ndarray) -> float:
    """Amplitude (°) of the best-fitting sinusoid el = a + b·cos(az) + c·sin(az): a tilted horizon's tilt."""
    r = np.radians(az)
    M = np.stack([np.ones_like(r), np.cos(r), np.sin(r)], axis=1)
    coef = np.linalg.lstsq(M, el, rcond=None)[0]
    return float(math.hypot(coef[1], coef[2]))


def post_azimuths(lum: np.ndarray, covered: np.ndarray, azimuths: np.ndarray, elevations: np.ndarray,
                  band_el: tuple[float, float] = (1.5, 7.0)) -> list[float]:
    """Azimuths of the dark vertical posts seen against the sky just above the horizon."""
    band = (elevations > band_el[0]) & (elevations < band_el[1])
    cols = covered[band].all(axis=0)
    prof = np.where(cols, lum[band].mean(axis=0), np.nan)
    ref = np.nanmedian(prof)
    dark = np.nan_to_num(prof < 0.5 * ref, nan=False).astype(bool)
    found, c = [], 0
    n = len(dark)
    while c < n:
        if dark[c]:
            start = c
            while c < n and dark[c]:
                c += 1
            idx = np.arange(start, c)
            depth = ref - prof[idx]
            # circular mean keeps a post on the 0/360 seam in one piece
            ang = np.radians(azimuths[idx])
            found.append(float(np.degrees(np.arctan2((np.sin(ang) * depth).sum(), (np.cos(ang) * depth).sum())) % 360))
        c += 1
    return found


def azimuth_errors(found: list[float], expected: list[float]) -> list[float]:
    """For each expected post, how far (°) the nearest found post is (inf when none was found)."""
    return [min((abs((f - e + 180) % 360 - 180) for f in found), default=math.inf) for e in expected]
