"""Red-cyan anaglyphs from a left/right pair of one exposure.

The right picture is resampled onto the left picture's pixel grid through both camera models:
each left pixel's ray is sent to infinity and projected through the right model. Far-away things
then sit on exactly the same pixel in both eyes (no vertical disparity anywhere, whatever the
cameras' toe-in, roll or lens distortion), and nearer things are displaced along the baseline, which
is the depth the viewer sees. Red carries the left eye, green and blue the right.
"""

from __future__ import annotations

import io
from typing import Mapping

import numpy as np
from PIL import Image

from bot.imagery.errors import ProductError, one_error
from bot.imagery.frames import Frame, frame_pixels
from bot.imagery.mosaic import MAP_STRIDE, planar, sample_bilinear, upsample_map

MIN_OVERLAP = 0.3  # a "pair" whose views share less than this is not a stereo pair
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _pixels(frame: Frame, data: bytes | Mapping[str, bytes]) -> tuple[np.ndarray, object]:
    images = data if isinstance(data, Mapping) else {frame.image_id: data}
    return frame_pixels(frame, images)


def rectified_right(left_frame: Frame, left: bytes | Mapping[str, bytes], right_frame: Frame,
                    right: bytes | Mapping[str, bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left RGB, right RGB resampled onto the left grid, mask of left pixels the right camera saw)."""
    lpx, lmodel = _pixels(left_frame, left)
    rpx, rmodel = _pixels(right_frame, right)
    h, w = lpx.shape[:2]
    rh, rw = rpx.shape[:2]
    cy = np.arange(0, h - 1 + MAP_STRIDE, MAP_STRIDE, dtype=float)
    cx = np.arange(0, w - 1 + MAP_STRIDE, MAP_STRIDE, dtype=float)
    gx, gy = np.meshgrid(cx, cy)
    rays = lmodel.rays(gx, gy)[1]  # type: ignore[attr-defined]
    xc, yc, vis = rmodel.project(rays)  # type: ignore[attr-defined]
    xm = upsample_map(np.where(vis, xc, -1e6), h, w)
    ym = upsample_map(np.where(vis, yc, -1e6), h, w)
    seen = (xm >= 0) & (xm <= rw - 1) & (ym >= 0) & (ym <= rh - 1)
    if seen.mean() < MIN_OVERLAP:
        raise ProductError(f"the right camera sees only {seen.mean():.0%} of the left view: not a stereo pair")
    out = np.zeros_like(lpx)
    ri, ci = np.nonzero(seen)
    out[ri, ci] = np.clip(sample_bilinear(planar(rpx), rw, rh, xm[ri, ci], ym[ri, ci]) + 0.5, 0, 255).astype(np.uint8)
    return lpx, out, seen


@one_error("anaglyph")
def anaglyph_array(left_frame: Frame, left: bytes | Mapping[str, bytes], right_frame: Frame,
                   right: bytes | Mapping[str, bytes]) -> np.ndarray:
    """(h, w, 3) uint8 on the left picture's grid: red = left luminance, green = blue = right luminance.
    Where the right camera saw nothing the left luminance fills all three (grey, no false depth)."""
    if left_frame.model is None or right_frame.model is None:
        raise ProductError("a stereo pair needs both camera models")
    lpx, rpx, seen = rectified_right(left_frame, left, right_frame, right)
    lum_l = lpx.astype(np.float32) @ _LUMA
    lum_r = np.where(seen, rpx.astype(np.float32) @ _LUMA, lum_l)
    # match the right eye's exposure to the left's so neither colour dominates
    sel = seen & (lum_l > 8) & (lum_r > 8)
    if sel.sum() > 100:
        gain = float(np.clip(np.median(lum_l[sel] / lum_r[sel]), 0.33, 3.0))
        lum_r = np.where(seen, lum_r * gain, lum_r)
    out = np.empty(lpx.shape, np.uint8)
    out[..., 0] = np.clip(lum_l + 0.5, 0, 255)
    out[..., 1] = out[..., 2] = np.clip(lum_r + 0.5, 0, 255)
    return out


@one_error("anaglyph")
def anaglyph(left_frame: Frame, left_bytes: bytes | Mapping[str, bytes], right_frame: Frame,
             right_bytes: bytes | Mapping[str, bytes], *, quality: int = 90) -> bytes:
    """JPEG bytes of the red-cyan anaglyph. Chroma is kept at full resolution: subsampled chroma
    would smear red into cyan at every edge. Blocking; raises ProductError only."""
    arr = anaglyph_array(left_frame, left_bytes, right_frame, right_bytes)
    out = io.BytesIO()
    Image.fromarray(arr).save(out, "JPEG", quality=quality, subsampling=0)
    return out.getvalue()

