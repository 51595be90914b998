"""Animations of repeated exposures at one pointing (dust-devil and cloud watches), sized for Discord.

Animated WebP first (much smaller than GIF for photographs), GIF where Pillow has no WebP
encoder. Over the byte limit, the movie gets a lower quality, then smaller frames, then every
other frame, until it fits; when even that does not fit, a still of the last frame is returned.
"""

from __future__ import annotations

import io
from typing import Mapping

import numpy as np
from PIL import Image, features

from bot.imagery.errors import ProductError, one_error
from bot.imagery.frames import Frame, decode_rgb, frame_pixels

DISCORD_BOT_UPLOAD = 10 * 1024 * 1024  # bytes; a boosted server allows more, so callers pass their own
MAX_FRAMES = 120
MAX_TOTAL_PIXELS = 60_000_000  # every frame is held decoded while encoding: ~3 bytes per pixel
FRAME_MS = 400
_LADDER = ((1.0, 80), (1.0, 60), (0.75, 60), (0.5, 55), (0.35, 50), (0.25, 45))


def _header_size(data: bytes) -> tuple[int, int]:
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Exception as e:  # noqa: BLE001 - any undecodable header is the same failure here
        raise ProductError(f"not a readable image ({type(e).__name__})") from None


def _frames(frames: list[Frame], images: Mapping[str, bytes], max_frames: int, max_total_pixels: int) -> list[Image.Image]:
    if not frames:
        raise ProductError("a movie needs frames")
    if len(frames) > max_frames:
        raise ProductError(f"{len(frames)} frames is over the {max_frames}-frame cap")
    total = 0
    for f in frames:
        for p in f.parts:
            if p.image_id not in images:
                raise ProductError(f"no picture for {p.image_id}")
            w, h = _header_size(images[p.image_id])
            total += w * h
    if total > max_total_pixels:
        raise ProductError(f"{total:,} pixels of frames is over the {max_total_pixels:,}-pixel cap")
    out = []
    for f in frames:
        if f.model is not None and f.dimension is not None:
            px = frame_pixels(f, images)[0]
        elif not f.tiles:  # a movie needs no camera model: just the pictures
            px = decode_rgb(images[f.image_id])
        else:
            raise ProductError(f"{f.image_id} has tiles but no model to join them")
        out.append(Image.fromarray(px))
    size = out[0].size
    return [im if im.size == size else im.resize(size, Image.Resampling.BILINEAR) for im in out]


def _encode(ims: list[Image.Image], fmt: str, quality: int, frame_ms: int) -> bytes:
    buf = io.BytesIO()
    if fmt == "WEBP":
        ims[0].save(buf, "WEBP", save_all=True, append_images=ims[1:], duration=frame_ms, loop=0, quality=quality, method=4)
    else:
        pal = [im.convert("P", palette=Image.Palette.ADAPTIVE, colors=256) for im in ims]
        pal[0].save(buf, "GIF", save_all=True, append_images=pal[1:], duration=frame_ms, loop=0, optimize=True)
    return buf.getvalue()


@one_error("movie")
def movie(frames: list[Frame], images: Mapping[str, bytes], *, max_bytes: int = DISCORD_BOT_UPLOAD,
          frame_ms: int = FRAME_MS, max_frames: int = MAX_FRAMES, max_total_pixels: int = MAX_TOTAL_PIXELS,
          fmt: str | None = None) -> tuple[bytes, str]:
    """Frames in playing order + their picture bytes by image id -> (bytes, mime type): an animated
    WebP ("image/webp") or GIF ("image/gif") under max_bytes, or, when no animation fits, a JPEG
    still ("image/jpeg"). Blocking; raises ProductError only."""
    ims = _frames(list(frames), images, max_frames, max_total_pixels)
    fmt = fmt or ("WEBP" if features.check("webp") else "GIF")
    mime = "image/webp" if fmt == "WEBP" else "image/gif"
    for every in (1, 2):
        chosen = ims[::every]
        if len(chosen) < 2:
            break
        for scale, quality in _LADDER:
            size = (max(1, round(chosen[0].width * scale)), max(1, round(chosen[0].height * scale)))
            scaled = chosen if scale == 1.0 else [im.resize(size, Image.Resampling.LANCZOS) for im in chosen]
            data = _encode(scaled, fmt, quality, frame_ms * every)
            if len(data) <= max_bytes:
                return data, mime
    return still_image(ims[-1], max_bytes=max_bytes)


@one_error("still")
def still(frames: list[Frame], images: Mapping[str, bytes], *, max_bytes: int = DISCORD_BOT_UPLOAD) -> tuple[bytes, str]:
    """The last frame as a JPEG under max_bytes: the fallback when a movie is not wanted or fails."""
    ims = _frames(list(frames)[-1:], images, 1, MAX_TOTAL_PIXELS)
    return still_image(ims[0], max_bytes=max_bytes)


def still_image(im: Image.Image, *, max_bytes: int) -> tuple[bytes, str]:
    for scale, quality in _LADDER:
        scaled = im if scale == 1.0 else im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))))
        buf = io.BytesIO()
        scaled.convert("RGB").save(buf, "JPEG", quality=quality)
        if buf.tell() <= max_bytes:
            return buf.getvalue(), "image/jpeg"
    raise ProductError(f"not even a small still fits in {max_bytes:,} bytes")


def frames_of(data: bytes) -> list[np.ndarray]:
    """An animation's frames as RGB arrays, in order (for checking what was made)."""
    out = []
    with Image.open(io.BytesIO(data)) as im:
        for i in range(getattr(im, "n_frames", 1)):
            im.seek(i)
            out.append(np.asarray(im.convert("RGB")))
    return out
