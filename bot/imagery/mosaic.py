"""Cylindrical azimuth × elevation panoramas from raw frames (camera-models.md §5).

Every output pixel is a ray in the local-level frame (x north, y east, z down). For each frame the
ray is turned into the rover frame with the frame's attitude, projected through the frame's own
camera model (rescaled to the rendition actually decoded) and sampled bilinearly. Frames are
feathered towards their edges and exposure-matched to what is already laid down, so auto-exposure
and vignetting do not show as seams. Pure and blocking: run it off the event loop.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bot.imagery.cameramodel import attitude_matrix, az_el, direction
from bot.imagery.errors import ProductError, one_error
from bot.imagery.frames import Frame, frame_pixels

DEG_PER_PX = 0.12  # a medium Navcam rendition is 96° over 800 px: finer would only interpolate
MAX_PIXELS = 8_000_000  # the mosaic itself; ~16 bytes per pixel are held while assembling
MAX_FRAMES = 72
MAX_OFF_CENTRE_DEG = 70.0  # rays further from a frame's centre ray are not taken from it (§5.3)
EL_LIMITS = (-80.0, 80.0)  # azimuth means little near the zenith and nadir
FEATHER = 0.12  # fraction of the frame's short side over which weights ramp up from its edges
BAND_HEIGHT = 30
_CHUNK_ROWS = 128
MAP_STRIDE = 4  # the camera projection is smooth: compute it every 4th output pixel, interpolate between


@dataclass(frozen=True)
class Mosaic:
    pixels: np.ndarray  # (rows, columns, 3) uint8
    covered: np.ndarray  # (rows, columns) bool: some frame saw this direction
    az0: float  # azimuth (° clockwise from north) of the left edge of column 0
    el_top: float  # elevation (°) of the top edge of row 0
    deg_per_px: float
    gains: tuple[float, ...]  # the exposure gain applied to each frame, in the order given

    def azimuths(self) -> np.ndarray:
        """Azimuth of each column's centre, in [0, 360)."""
        return (self.az0 + (np.arange(self.pixels.shape[1]) + 0.5) * self.deg_per_px) % 360.0

    def elevations(self) -> np.ndarray:
        return self.el_top - (np.arange(self.pixels.shape[0]) + 0.5) * self.deg_per_px


@dataclass(frozen=True)
class _Footprint:
    centre_az: float
    az_lo: float  # relative to centre_az, may be negative
    az_hi: float
    el_lo: float
    el_hi: float
    all_round: bool  # the frame sees a pole: every azimuth


def _footprint(frame: Frame, R: np.ndarray) -> _Footprint:
    W, H = frame.dimension  # type: ignore[misc]
    m = frame.model
    t = np.linspace(0, 1, 33)
    xs = np.concatenate([t * (W - 1), np.full_like(t, W - 1), t[::-1] * (W - 1), np.zeros_like(t), [(W - 1) / 2]])
    ys = np.concatenate([np.zeros_like(t), t * (H - 1), np.full_like(t, H - 1), t[::-1] * (H - 1), [(H - 1) / 2]])
    d = m.rays(xs, ys)[1] @ R.T  # type: ignore[union-attr]
    centre = d[-1]
    # rays past the off-centre limit are never sampled, so they must not widen the footprint
    cosang = np.clip(d @ centre, -1, 1)
    limit = math.radians(MAX_OFF_CENTRE_DEG)
    far = np.arccos(cosang) > limit
    if far.any():
        # pull those rays back onto the limit cone around the centre ray
        perp = d[far] - cosang[far, None] * centre
        perp /= np.linalg.norm(perp, axis=-1, keepdims=True)
        d[far] = math.cos(limit) * centre + math.sin(limit) * perp
    az, el = az_el(d)
    caz = float(az[-1])
    rel = (az - caz + 180.0) % 360.0 - 180.0
    all_round = bool(el.max() > 85 or el.min() < -85)
    return _Footprint(caz, float(rel.min()), float(rel.max()), float(el.min()), float(el.max()), all_round)


def _check(frames: list[Frame], max_frames: int) -> None:
    if not frames:
        raise ProductError("a panorama needs at least one frame")
    if len(frames) > max_frames:
        raise ProductError(f"{len(frames)} frames is over the {max_frames}-frame cap")
    for f in frames:
        if f.model is None:
            raise ProductError(f"{f.image_id} has no usable camera model")
        if f.attitude is None:
            raise ProductError(f"{f.image_id} has no rover attitude: its azimuths would be off by the rover's yaw")
        if f.dimension is None:
            raise ProductError(f"{f.image_id} has no dimension")


def _grid(prints: list[_Footprint], deg: float, max_pixels: int) -> tuple[float, float, float, int, int, bool]:
    """(az0, el_top, deg_per_px, columns, rows, full circle) covering every footprint."""
    bins = np.zeros(720, bool)  # half-degree bins of azimuth
    for p in prints:
        if p.all_round:
            bins[:] = True
            break
        lo = int(math.floor((p.centre_az + p.az_lo) * 2))
        hi = int(math.ceil((p.centre_az + p.az_hi) * 2))
        bins[np.arange(lo, hi + 1) % 720] = True
    if bins.all():
        az0, span, full = 0.0, 360.0, True
    else:
        # start just after the largest uncovered gap, so the mosaic never splits a covered run
        empty = ~bins
        doubled = np.concatenate([empty, empty])
        best_len, best_end, run = 0, 0, 0
        for i, e in enumerate(doubled):
            run = run + 1 if e else 0
            if run > best_len and run <= 720:
                best_len, best_end = run, i
        az0 = ((best_end + 1) % 720) / 2.0
        span, full = (720 - best_len) / 2.0, False
    el_lo = max(EL_LIMITS[0], min(p.el_lo for p in prints))
    el_hi = min(EL_LIMITS[1], max(p.el_hi for p in prints))
    if el_hi <= el_lo:
        raise ProductError("the frames cover no elevation range")
    cols, rows = math.ceil(span / deg), math.ceil((el_hi - el_lo) / deg)
    if cols * rows > max_pixels:
        # coarser rather than refused: a smaller panorama is still the product asked for
        deg *= math.sqrt(cols * rows / max_pixels) * 1.001
        cols, rows = math.ceil(span / deg), math.ceil((el_hi - el_lo) / deg)
    if full:
        deg = 360.0 / cols  # columns tile the circle exactly
    return az0, el_hi, deg, cols, rows, full


def upsample_map(coarse: np.ndarray, rows: int | np.ndarray, cols: int | np.ndarray) -> np.ndarray:
    """Bilinear interpolation of a map computed every MAP_STRIDE pixels, at the given output rows
    and columns (a count means 0…n−1): separably, along the coarse rows first, then down."""
    cr, cc = coarse.shape
    rows = np.arange(rows) if np.isscalar(rows) else np.asarray(rows)
    cols = np.arange(cols) if np.isscalar(cols) else np.asarray(cols)
    rx = np.minimum(cols.astype(np.float32) / MAP_STRIDE, cc - 1.0001)
    ry = np.minimum(rows.astype(np.float32) / MAP_STRIDE, cr - 1.0001)
    x0, y0 = rx.astype(int), ry.astype(int)
    fx, fy = rx - x0, (ry - y0)[:, None]
    first = int(y0.min()) if len(y0) else 0
    c = coarse[first: int(y0.max(initial=0)) + 2].astype(np.float32)  # only the coarse rows these rows need
    y0 -= first
    across = c[:, x0] * (1 - fx) + c[:, x0 + 1] * fx
    return across[y0] * (1 - fy) + across[y0 + 1] * fy


def planar(px: np.ndarray) -> np.ndarray:
    """(h, w, c) uint8 -> (c, h·w) float32 planes, the layout sample_bilinear gathers from fastest."""
    return np.ascontiguousarray(px.transpose(2, 0, 1).reshape(px.shape[2], -1), dtype=np.float32)


def sample_bilinear(planes: np.ndarray, width: int, height: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Planes from `planar` of a width×height image, sampled at float pixel coordinates x, y (same
    shape) -> x.shape + (c,) float32. Coordinates outside are clamped to the border."""
    xf = np.clip(x, 0, width - 1.0001).astype(np.float32)
    yf = np.clip(y, 0, height - 1.0001).astype(np.float32)
    x0, y0 = xf.astype(np.int32), yf.astype(np.int32)
    fx, fy = (xf - x0).ravel(), (yf - y0).ravel()
    i = (y0 * width + x0).ravel()
    w00, w01 = (1 - fx) * (1 - fy), fx * (1 - fy)
    w10, w11 = (1 - fx) * fy, fx * fy
    out = np.empty(x.shape + (planes.shape[0],), np.float32)
    for k, plane in enumerate(planes):
        v = np.take(plane, i) * w00
        v += np.take(plane, i + 1) * w01
        v += np.take(plane, i + width) * w10
        v += np.take(plane, i + width + 1) * w11
        out[..., k] = v.reshape(x.shape)
    return out


@one_error("panorama")
def mosaic_array(frames: list[Frame], images: Mapping[str, bytes], *, deg_per_px: float = DEG_PER_PX,
                 max_pixels: int = MAX_PIXELS, max_frames: int = MAX_FRAMES) -> Mosaic:
    """Frames (tiles joined) and their rendition bytes by image id -> Mosaic. ProductError on any
    missing picture, bad model or missing attitude, or more frames than max_frames. The output size
    is fixed before anything is allocated: over max_pixels, the mosaic is made coarser instead."""
    frames = list(frames)
    _check(frames, max_frames)
    Rs = [attitude_matrix(f.attitude) for f in frames]
    prints = [_footprint(f, R) for f, R in zip(frames, Rs)]
    az0, el_top, deg, cols, rows, full = _grid(prints, deg_per_px, max_pixels)
    acc = np.zeros((rows, cols, 3), np.float32)
    wsum = np.zeros((rows, cols), np.float32)
    gains: list[float] = []
    for f, R, fp in zip(frames, Rs, prints):
        px, model = frame_pixels(f, images)
        h, w = px.shape[:2]
        if h < 2 or w < 2:
            raise ProductError(f"{f.image_id} decodes to a {w}x{h} picture")
        planes = planar(px)
        # the frame's window in the output grid
        c_lo = math.floor(((fp.centre_az + fp.az_lo - az0) % 360.0) / deg) - 1
        c_n = cols if fp.all_round else min(cols, math.ceil((fp.az_hi - fp.az_lo) / deg) + 3)
        if fp.all_round:
            c_lo = 0
        r_lo = max(0, math.floor((el_top - fp.el_hi) / deg) - 1)
        r_hi = min(rows, math.ceil((el_top - fp.el_lo) / deg) + 1)
        if r_hi <= r_lo:
            gains.append(1.0)
            continue
        if not full:
            c_lo, c_n = max(0, c_lo), min(cols, c_lo + c_n) - max(0, c_lo)
        if c_n <= 0:
            gains.append(1.0)
            continue
        n_r = r_hi - r_lo
        # the projection on a coarse lattice of the window, then interpolated to every pixel
        cr = np.arange(0, n_r - 1 + MAP_STRIDE, MAP_STRIDE)
        cc = np.arange(0, c_n - 1 + MAP_STRIDE, MAP_STRIDE)
        az = az0 + (c_lo + cc + 0.5) * deg
        el = el_top - (r_lo + cr + 0.5) * deg
        d_rov = direction(az[None, :], el[:, None]) @ R  # R^T·d, for row vectors
        centre = model.centre_direction(w, h)
        ok_c = (d_rov @ centre) > math.cos(math.radians(MAX_OFF_CENTRE_DEG))
        xc, yc, vis = model.project(d_rov)
        good = ok_c & vis
        xc, yc = np.where(good, xc, -1e6), np.where(good, yc, -1e6)
        # exposure gain from every 3rd pixel each way: plenty for a median, 9× cheaper
        rs, cs = np.arange(0, n_r, 3), np.arange(0, c_n, 3)
        sample, wt = _sampled(planes, w, h, xc, yc, rs, cs)
        out_cols = (c_lo + cs) % cols if full else c_lo + cs
        gain = _gain(acc[r_lo + rs][:, out_cols], wsum[r_lo + rs][:, out_cols], sample, wt)
        gains.append(gain)
        # the window is at most one turn wide: in a full circle it wraps into at most two slices
        slices = [(c_lo % cols, min(cols, c_lo % cols + c_n), 0)]
        if slices[0][1] - slices[0][0] < c_n:
            slices.append((0, c_n - (slices[0][1] - slices[0][0]), slices[0][1] - slices[0][0]))
        # coarse cells next to a lattice point inside the frame: only those columns are worth sampling
        cin = (xc >= 0) & (xc <= w - 1) & (yc >= 0) & (yc <= h - 1)
        near = cin.copy()
        near[1:] |= cin[:-1]
        near[:-1] |= cin[1:]
        near[:, 1:] |= near[:, :-1].copy()
        near[:, :-1] |= near[:, 1:].copy()
        # a band of rows at a time: the temporaries stay a few MB whatever the window's size
        for a0 in range(0, n_r, _CHUNK_ROWS):
            a1 = min(n_r, a0 + _CHUNK_ROWS)
            hit = np.nonzero(near[a0 // MAP_STRIDE: (a1 - 1) // MAP_STRIDE + 2].any(axis=0))[0]
            if not len(hit):
                continue
            k0, k1 = int(hit[0]) * MAP_STRIDE, min(c_n, (int(hit[-1]) + 1) * MAP_STRIDE)
            sample, wt = _sampled(planes, w, h, xc, yc, np.arange(a0, a1), np.arange(k0, k1))
            sample *= (gain * wt)[..., None]
            for a, b, o in slices:
                # window columns o … o+(b−a) land on output columns a … b; this band holds k0 … k1
                lo, hi = max(o, k0), min(o + b - a, k1)
                if lo < hi:
                    wsum[r_lo + a0:r_lo + a1, a + lo - o:a + hi - o] += wt[:, lo - k0:hi - k0]
                    acc[r_lo + a0:r_lo + a1, a + lo - o:a + hi - o] += sample[:, lo - k0:hi - k0]
    covered = wsum > 0
    # rows at the very top and bottom only catch the corners of a few frames: ragged, so trimmed
    per_row = covered.mean(axis=1)
    keep = np.nonzero(per_row >= 0.5 * per_row.max())[0]
    if not len(keep):
        raise ProductError("no frame could be projected into the panorama")
    top, bottom = int(keep[0]), int(keep[-1]) + 1
    out = np.zeros((bottom - top, cols, 3), np.uint8)
    for a in range(top, bottom, _CHUNK_ROWS):  # in bands: whole-mosaic temporaries would double the peak
        b = min(bottom, a + _CHUNK_ROWS)
        band = acc[a:b] / np.maximum(wsum[a:b], 1e-12)[..., None]
        out[a - top:b - top] = np.clip(band + 0.5, 0, 255).astype(np.uint8)
    return Mosaic(out, covered[top:bottom], az0, el_top - top * deg, deg, tuple(gains))


def _sampled(planes: np.ndarray, w: int, h: int, xc: np.ndarray, yc: np.ndarray, rows: np.ndarray,
             cols: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(colours, feather weights) at window pixels rows × cols from the coarse maps xc, yc; weight 0
    and colour 0 where the frame does not reach (only the pixels it reaches are sampled)."""
    xm = upsample_map(xc, rows, cols)
    ym = upsample_map(yc, rows, cols)
    inside = (xm >= 0) & (xm <= w - 1) & (ym >= 0) & (ym <= h - 1)
    sample = np.zeros(xm.shape + (planes.shape[0],), np.float32)
    wt = np.zeros(xm.shape, np.float32)
    if inside.any():
        x, y = xm[inside], ym[inside]
        edge = np.minimum(np.minimum(x, w - 1 - x), np.minimum(y, h - 1 - y))
        wt[inside] = np.clip(edge / (FEATHER * min(w, h)), 1e-3, 1.0) ** 2
        sample[inside] = sample_bilinear(planes, w, h, x, y)
    return sample, wt


def _gain(acc: np.ndarray, wsum: np.ndarray, sample: np.ndarray, wt: np.ndarray) -> float:
    """median(mosaic / frame) over the well-exposed overlap with what is already laid down."""
    sel = (wsum > 0.05) & (wt > 0.05)
    if sel.sum() < 50:
        return 1.0
    mosaic_lum = acc[sel].sum(axis=-1) / wsum[sel]
    frame_lum = sample[sel].sum(axis=-1)
    ok = (frame_lum > 30) & (frame_lum < 720) & (mosaic_lum > 30)
    if ok.sum() < 50:
        return 1.0
    return float(np.clip(np.median(mosaic_lum[ok] / frame_lum[ok]), 0.33, 3.0))


# ------------------------------------------------------------ the picture


_CARDINALS = {0: "N", 45: "NE", 90: "E", 135: "SE", 180: "S", 225: "SW", 270: "W", 315: "NW"}


def with_compass(m: Mosaic) -> Image.Image:
    """The mosaic with a band below it: ticks every 10°, degrees every 30°, N/NE/E/… at their azimuths."""
    rows, cols = m.pixels.shape[:2]
    band = BAND_HEIGHT
    im = Image.new("RGB", (cols, rows + band), (16, 16, 18))
    im.paste(Image.fromarray(m.pixels), (0, 0))
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=13)
    bold = ImageFont.load_default(size=16)
    span = cols * m.deg_per_px
    for k in range(0, 360, 5):
        rel = (k - m.az0) % 360.0
        if rel > span:
            continue
        x = rel / m.deg_per_px
        tx = min(max(x, 12), cols - 12)  # a label on the very edge would be cut in half
        if k in _CARDINALS:
            draw.line([(x, rows), (x, rows + 10)], fill=(255, 210, 120), width=2)
            draw.text((tx, rows + 10), _CARDINALS[k], fill=(255, 210, 120), font=bold, anchor="mt")
        elif k % 30 == 0:
            draw.line([(x, rows), (x, rows + 8)], fill=(220, 220, 220), width=1)
            draw.text((tx, rows + 10), f"{k}°", fill=(200, 200, 200), font=font, anchor="mt")
        elif k % 10 == 0:
            draw.line([(x, rows), (x, rows + 5)], fill=(160, 160, 160), width=1)
    return im


@one_error("panorama")
def assemble_panorama(frames: list[Frame], images: Mapping[str, bytes], *, deg_per_px: float = DEG_PER_PX,
                      max_pixels: int = MAX_PIXELS, max_frames: int = MAX_FRAMES, quality: int = 85) -> bytes:
    """Frames + rendition bytes by image id -> JPEG bytes of the cylindrical mosaic with its compass
    band. Blocking; raises ProductError only."""
    m = mosaic_array(frames, images, deg_per_px=deg_per_px, max_pixels=max_pixels, max_frames=max_frames)
    im = with_compass(m)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()
