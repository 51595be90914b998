"""One exposure as the imagery code sees it: where the camera looked, its model, its renditions.

`frame_of` reads a raw Mars 2020 feed record (nasa-data-sources.md §1.3d) tolerantly: numbers may
be strings, keys may be missing or "UNK", and a record it cannot use is None, never an exception.
`join_tiles` merges the tiles of one exposure (camera-models.md §3, §4); `frame_pixels` decodes a
frame's rendition(s) into one array together with the camera model for exactly that array.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np
from PIL import Image

from bot.imagery.pictures import BadImage, decode

from bot.imagery.cameramodel import CameraModel, parse_model
from bot.imagery.errors import ProductError

# A NASA 'large' rendition is 1200 px wide; even a joined 16-tile exposure stays far below this.
MAX_FRAME_PIXELS = 4096 * 4096
RENDITIONS = ("small", "medium", "large", "full_res")

# Navcam/Hazcam ids carry a tile field (`_00_`); Mastcam-Z ids do not (`..._N0222700ZCAM05106_1100LMJ`).
_ID = re.compile(r"^([A-Z]{2})([A-Z0-9])_(\d{4})_(\d{10})_(\d{3})([A-Z0-9]{3})_([A-Z])(\d{3})(\d{4})([A-Z0-9]+)(?:_(\d{2}))?_(\w+)$")
_FILE_VERSION = re.compile(r"(\d{2})(?:_\d+)?\.(?:jpe?g|png)$", re.IGNORECASE)
_TUPLE = re.compile(r"^\s*\(([^()]*)\)\s*$")


@dataclass(frozen=True)
class Frame:
    image_id: str
    exposure_id: str  # image id without the tile number: the tiles of one exposure share it
    sol: int
    instrument: str  # camera.instrument, e.g. NAVCAM_LEFT
    camera: str  # the id's two-letter camera: NL, NR, ZL, ...
    sequence: str  # e.g. NCAM00518
    sclk: float | None  # extended.sclk, seconds
    exposure_clock: str  # SCLK seconds + ms from the id: the left and right eye of one exposure share it
    site: int | None
    drive: int | None
    mast_az: float | None
    mast_el: float | None
    attitude: tuple[float, float, float, float] | None  # (w, x, y, z): rover frame -> local level
    model: CameraModel | None  # for the full_res image of `dimension` pixels
    model_type: str
    urls: tuple[tuple[str, str], ...]  # (rendition, url) for small, medium, large, full_res
    subframe: tuple[int, int, int, int] | None  # 1-based sensor (x0, y0, w, h)
    scale: int | None
    dimension: tuple[int, int] | None  # full_res width, height
    tile: int = 0
    version: int = 1
    thumbnail: bool = False
    tiles: tuple["Frame", ...] = ()  # the tiles this frame was joined from, in x then y order

    def url(self, rendition: str) -> str:
        return dict(self.urls).get(rendition, "")

    @property
    def eye(self) -> str:
        """'L', 'R' or '' from the camera letters (NL/NR, ZL/ZR, FL/FR, RL/RR)."""
        return self.camera[1] if len(self.camera) == 2 and self.camera[1] in "LR" and self.camera[0] in "NZFR" else ""

    @property
    def parts(self) -> tuple["Frame", ...]:
        """The frames whose pictures make this one: its tiles, or itself."""
        return self.tiles or (self,)


def rendition_url(frame: Frame, prefer: str = "medium") -> str:
    """The URL to download for assembly: `prefer` (medium or large), then the other, then small.
    Never full_res: the renditions carry enough detail for a 0.1°/px mosaic at a tenth of the bytes."""
    order = {"medium": ("medium", "large", "small"), "large": ("large", "medium", "small")}.get(prefer, ("medium", "large", "small"))
    for r in order:
        if frame.url(r):
            return frame.url(r)
    return ""


def download_urls(frame: Frame, prefer: str = "medium") -> dict[str, str]:
    """image id -> rendition URL for every picture a frame needs (one per tile)."""
    return {p.image_id: rendition_url(p, prefer) for p in frame.parts if rendition_url(p, prefer)}


# ------------------------------------------------------------ tolerant readers


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, str):
        try:
            f = float(v.strip())
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def _int(v: Any) -> int | None:
    f = _num(v)
    return int(f) if f is not None and f.is_integer() else None


def _tuple(v: Any, n: int) -> tuple[float, ...] | None:
    if isinstance(v, (list, tuple)):
        vals = [_num(x) for x in v]
    elif isinstance(v, str) and (m := _TUPLE.match(v)):
        vals = [_num(x) for x in m[1].split(",")]
    else:
        return None
    if len(vals) != n or any(x is None for x in vals):
        return None
    return tuple(vals)  # type: ignore[return-value]


def _ints(v: Any, n: int) -> tuple[int, ...] | None:
    t = _tuple(v, n)
    if t is None or not all(x.is_integer() and x >= 0 for x in t):
        return None
    return tuple(int(x) for x in t)


def _text(v: Any) -> str:
    return v.strip() if isinstance(v, str) and v.strip().upper() != "UNK" else ""


def _version(image_id: str, url: str) -> int:
    at = url.rfind(image_id)
    if at >= 0 and url[at + len(image_id): at + len(image_id) + 2].isdigit():
        return int(url[at + len(image_id): at + len(image_id) + 2])
    m = _FILE_VERSION.search(url)
    return int(m[1]) if m else 1


def frame_of(record: dict) -> Frame | None:
    """A raw Mars 2020 feed record -> Frame, or None when it is not a usable record. Never raises.

    A record whose camera model is missing or broken still gives a Frame (model None): it can be
    posted and grouped, just not projected.
    """
    try:
        return _frame_of(record)
    except Exception:  # noqa: BLE001 - the feed is undocumented; any junk means "not a frame"
        return None


def _frame_of(rec: Any) -> Frame | None:
    if not isinstance(rec, dict):
        return None
    image_id = _text(rec.get("imageid"))
    m = _ID.match(image_id)
    if not m:
        return None
    camera, _, sol_s, sclk_s, ms_s, _, thumb, site_s, drive_s, sequence, tile_s, _ = m.groups()
    sol = _int(rec.get("sol"))
    sol = sol if sol is not None else int(sol_s)
    ext = rec.get("extended") if isinstance(rec.get("extended"), dict) else {}
    cam = rec.get("camera") if isinstance(rec.get("camera"), dict) else {}
    files = rec.get("image_files") if isinstance(rec.get("image_files"), dict) else {}
    urls = tuple((k, files[k].strip()) for k in RENDITIONS if isinstance(files.get(k), str) and files[k].strip().startswith(("http://", "https://")))
    model_type = _text(cam.get("camera_model_type")).upper()
    try:
        model = parse_model(cam.get("camera_model_component_list"), model_type or None)
    except ProductError:
        model = None
    att = _tuple(rec.get("attitude"), 4)
    if att is not None and not any(att):
        att = None
    subframe = _ints(ext.get("subframeRect"), 4)
    dimension = _ints(ext.get("dimension"), 2)
    scale = _int(ext.get("scaleFactor"))
    sample = _text(rec.get("sample_type")).lower()
    any_url = next((u for _, u in urls), "")
    return Frame(
        image_id=image_id,
        exposure_id="_".join(image_id.split("_")[:5] + image_id.split("_")[6:]) if tile_s else image_id,
        sol=sol,
        instrument=_text(cam.get("instrument")) or "UNKNOWN",
        camera=camera,
        sequence=sequence,
        sclk=_num(ext.get("sclk")),
        exposure_clock=f"{sclk_s}.{ms_s}",
        site=_int(rec.get("site")) if _int(rec.get("site")) is not None else int(site_s),
        drive=_int(rec.get("drive")) if _int(rec.get("drive")) is not None else int(drive_s),
        mast_az=_num(ext.get("mastAz")),
        mast_el=_num(ext.get("mastEl")),
        attitude=att,  # type: ignore[arg-type]
        model=model,
        model_type=model_type,
        urls=urls,
        subframe=subframe,  # type: ignore[arg-type]
        scale=scale if scale and scale > 0 else None,
        dimension=dimension if dimension and all(dimension) else None,  # type: ignore[arg-type]
        tile=int(tile_s) if tile_s else 0,
        version=_version(image_id, any_url),
        thumbnail=sample == "thumbnail" or thumb == "T",
    )


# ------------------------------------------------------------ tiles


def join_tiles(frames: list[Frame]) -> list[Frame]:
    """Frames with the tiles of each exposure combined into one frame covering their union.

    The joined frame's subframe is the union of the tiles' subframeRects, its model the first tile's
    moved to the union's origin (tiles share C, A, V, O, R, E; H differs by −Δx0·A, §3). Tiles that
    do not agree (another scale, another model) are left as separate frames. Order is kept.
    """
    groups: dict[str, list[Frame]] = {}
    for f in frames:
        groups.setdefault(f.exposure_id, []).append(f)
    out: list[Frame] = []
    done: set[str] = set()
    for f in frames:
        if f.exposure_id in done:
            continue
        done.add(f.exposure_id)
        group = groups[f.exposure_id]
        joined = _join(group) if len(group) > 1 else None
        out.extend([joined] if joined else group)
    return out


def _join(tiles: list[Frame]) -> Frame | None:
    # the newest version of each tile number
    best: dict[int, Frame] = {}
    for t in tiles:
        if t.tile not in best or t.version > best[t.tile].version:
            best[t.tile] = t
    tiles = sorted(best.values(), key=lambda t: (t.subframe[1], t.subframe[0]) if t.subframe else (0, 0))
    if len(tiles) == 1:
        return tiles[0]
    first = tiles[0]
    if any(t.subframe is None or t.model is None or t.scale != first.scale or not t.dimension for t in tiles) or not first.scale:
        return None
    s = first.scale
    x0 = min(t.subframe[0] for t in tiles)  # type: ignore[index]
    y0 = min(t.subframe[1] for t in tiles)  # type: ignore[index]
    x1 = max(t.subframe[0] + t.subframe[2] for t in tiles)  # type: ignore[index]
    y1 = max(t.subframe[1] + t.subframe[3] for t in tiles)  # type: ignore[index]
    if (x0 - 1) % s or (y0 - 1) % s or (x1 - x0) % s or (y1 - y0) % s:
        return None
    joined_models = []
    for t in tiles:
        # tile pixel (0,0) sits at joined pixel ((tx0 - x0)/s, (ty0 - y0)/s)
        dx, dy = (t.subframe[0] - x0) / s, (t.subframe[1] - y0) / s  # type: ignore[index]
        joined_models.append(t.model.shifted(-dx, -dy))  # type: ignore[union-attr]
    ref = joined_models[0]
    for m in joined_models[1:]:
        # C, A to a millimetre / milliradian; H, V to about a pixel (the feed prints 6 digits)
        if (_gap(ref.C, m.C) > 1e-3 or _gap(ref.A, m.A) > 1e-3 or _gap(ref.H, m.H) > 1.0 or _gap(ref.V, m.V) > 1.0):
            return None
    return replace(first, image_id=first.image_id, tile=0, subframe=(x0, y0, x1 - x0, y1 - y0),
                   dimension=((x1 - x0) // s, (y1 - y0) // s), model=ref, tiles=tuple(tiles))


def _gap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return max(abs(p - q) for p, q in zip(a, b))


# ------------------------------------------------------------ pixels


def decode_rgb(data: bytes, max_pixels: int = MAX_FRAME_PIXELS) -> np.ndarray:
    """Image bytes -> (h, w, 3) uint8, or ProductError (corrupt, truncated, too large, a bomb).
    The one defensive decoder (bot/images.py) checks the size from the header before decoding."""
    try:
        return np.asarray(decode(data, max_pixels))
    except BadImage as e:
        raise ProductError(str(e)) from None


def frame_pixels(frame: Frame, images: Mapping[str, bytes], *, max_pixels: int = MAX_FRAME_PIXELS) -> tuple[np.ndarray, CameraModel]:
    """The frame's picture as one (h, w, 3) uint8 array (tiles pasted together) and its camera model
    rescaled to that array's size. ProductError when a picture is missing or unreadable or the
    frame has no model or size."""
    if frame.model is None:
        raise ProductError(f"{frame.image_id} has no usable camera model")
    if frame.dimension is None:
        raise ProductError(f"{frame.image_id} has no dimension")
    W, H = frame.dimension
    if not frame.tiles:
        data = images.get(frame.image_id)
        if data is None:
            raise ProductError(f"no picture for {frame.image_id}")
        px = decode_rgb(data, max_pixels)
        h, w = px.shape[:2]
        return px, frame.model.for_size(W, H, w, h)
    # tiles: bring every tile to the smallest rendition scale, then paste each at its offset
    decoded = []
    for t in frame.tiles:
        data = images.get(t.image_id)
        if data is None:
            raise ProductError(f"no picture for tile {t.image_id}")
        decoded.append(decode_rgb(data, max_pixels))
    k = min(px.shape[1] / t.dimension[0] for px, t in zip(decoded, frame.tiles))  # type: ignore[index]
    out_w, out_h = max(1, round(W * k)), max(1, round(H * k))
    if out_w * out_h > max_pixels:
        raise ProductError(f"joined tiles of {frame.image_id} would be {out_w}x{out_h} pixels")
    canvas = np.zeros((out_h, out_w, 3), np.uint8)
    s = frame.scale or 1
    for px, t in zip(decoded, frame.tiles):
        tw, th = max(1, round(t.dimension[0] * k)), max(1, round(t.dimension[1] * k))  # type: ignore[index]
        if (px.shape[1], px.shape[0]) != (tw, th):
            px = np.asarray(Image.fromarray(px).resize((tw, th), Image.Resampling.BILINEAR))
        ox = round((t.subframe[0] - frame.subframe[0]) / s * k)  # type: ignore[index]
        oy = round((t.subframe[1] - frame.subframe[1]) / s * k)  # type: ignore[index]
        ph, pw = min(th, out_h - oy), min(tw, out_w - ox)
        canvas[oy: oy + ph, ox: ox + pw] = px[:ph, :pw]
    return canvas, frame.model.for_size(W, H, out_w, out_h)
