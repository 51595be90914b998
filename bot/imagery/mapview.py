"""The /where map: NASA's basemap tiles around the rover with the drive path, the rover as a dot,
sample sites, the landing site, a north arrow and a scale bar. Blocking Pillow work: run it off
the event loop.

North is up because the tiles are Mercator (projection.py): meridians are vertical.
Missing tiles leave a plain background; every overlay is drawn either way.
"""

from __future__ import annotations

import io
import math
import warnings
from typing import Protocol, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from bot.imagery.projection import MARS_RADIUS_M, TILE_SIZE, MapView
from bot.imagery.tiles import Tile, placement
from bot.sources.mmgis import EMPTY_TRAVERSE, Sample, Traverse


BACKGROUND = (92, 64, 48)  # a dusty tone, so a map without tiles still reads as Mars, not an error
PATH_COLOUR = (235, 235, 235)  # MMGIS draws the drive path #DDD
PATH_EDGE = (25, 25, 25)
ROVER_COLOUR = (38, 168, 255)  # MMGIS's rover-position fill, #26a8ff
SAMPLE_COLOUR = (220, 40, 40)
LANDING_COLOUR = (255, 214, 64)
TEXT = (250, 250, 250)
SHADOW = (0, 0, 0)
_NICE = [1, 2, 5]


class Position(Protocol):
    lat: float
    lon: float


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _decode_tile(data: bytes) -> Image.Image | None:
    """A tile from the internet: small, a real image, or nothing."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            if im.width > 2 * TILE_SIZE or im.height > 2 * TILE_SIZE:
                return None
            im.load()
            return im.convert("RGBA")  # HiRISE tiles are transparent beyond the mosaic's edge
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):
        return None


def _paste_tiles(canvas: Image.Image, view: MapView, tiles: Sequence[Tile]) -> int:
    drawn = 0
    for tile in tiles:
        im = _decode_tile(tile.data)
        if im is None:
            continue
        left, top, size = placement(view, tile)
        # Only the part of the tile inside the picture is resampled (an enlarged tile can be 8x).
        x0, y0 = max(0, left), max(0, top)
        x1, y1 = min(view.width, left + size), min(view.height, top + size)
        if x1 <= x0 or y1 <= y0:
            continue
        k = im.width / size
        part = im.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR,
                         box=((x0 - left) * k, (y0 - top) * k, (x1 - left) * k, (y1 - top) * k))
        canvas.alpha_composite(part, (x0, y0))
        drawn += 1
    return drawn


def _outlined_text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, font, anchor: str = "la") -> None:
    draw.text(xy, text, fill=TEXT, font=font, anchor=anchor, stroke_width=2, stroke_fill=SHADOW)


def _draw_path(draw: ImageDraw.ImageDraw, view: MapView, traverse: Traverse, extra: Sequence[tuple[float, float]]) -> None:
    lines: list[list[tuple[float, float]]] = []
    if len(traverse.points):
        xs, ys = view.px_array(traverse.points[:, 0], traverse.points[:, 1])
        margin = 50
        ends = list(traverse.starts[1:]) + [len(traverse.points)]
        for start, end in zip(traverse.starts, ends):
            sx, sy = xs[start:end], ys[start:end]
            if sx.max() < -margin or sx.min() > view.width + margin or sy.max() < -margin or sy.min() > view.height + margin:
                continue
            lines.append(list(zip(sx.tolist(), sy.tolist())))
    if len(extra) >= 2:
        lines.append([view.px(lat, lon) for lat, lon in extra])
    for width, colour in ((6, PATH_EDGE), (3, PATH_COLOUR)):
        for line in lines:
            draw.line(line, fill=colour, width=width, joint="curve")


def _scale_bar(draw: ImageDraw.ImageDraw, view: MapView, radius_m: float, font) -> None:
    mpp = view.metres_per_pixel(radius_m)
    target = view.width * 0.22 * mpp
    exp = 10 ** math.floor(math.log10(target))
    length = max(n * exp for n in _NICE if n * exp <= target)
    px = length / mpp
    x0, y = 14, view.height - 16
    draw.rectangle((x0 - 2, y - 5, x0 + px + 2, y + 5), fill=SHADOW)
    draw.rectangle((x0, y - 3, x0 + px, y + 3), fill=TEXT)
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    _outlined_text(draw, (x0, y - 9), label, font, anchor="ld")


def _north_arrow(draw: ImageDraw.ImageDraw, view: MapView, font) -> None:
    cx, top = view.width - 24, 12
    draw.polygon([(cx, top), (cx - 9, top + 24), (cx, top + 18), (cx + 9, top + 24)], fill=TEXT, outline=SHADOW)
    _outlined_text(draw, (cx, top + 28), "N", font, anchor="mt")


def _marker(draw: ImageDraw.ImageDraw, xy: tuple[float, float], r: float, fill, outline=SHADOW, width: int = 2) -> None:
    x, y = xy
    draw.ellipse((x - r, y - r, x + r, y + r), fill=fill, outline=outline, width=width)


def render_map(
    position: Position,
    traverse: Traverse | None,
    samples: Sequence[Sample],
    landing: tuple[float, float] | None,
    tiles: Sequence[Tile],
    *,
    size: tuple[int, int] = (640, 480),
    zoom: int = 15,
    title: str = "",
    extra_path: Sequence[tuple[float, float]] = (),
    radius_m: float = MARS_RADIUS_M,
    fmt: str = "auto",
) -> bytes:
    """The map as image bytes, centred on `position` at `zoom` (use the same view the tiles were
    planned for). `extra_path` continues the drawn path past the traverse file, which lags the
    current position by days (e.g. through newer localisations). fmt: "PNG", "JPEG" or "auto"
    (JPEG over photographic tiles, PNG on the plain background, where it is smaller)."""
    view = MapView(position.lat, position.lon, zoom, *size)
    canvas = Image.new("RGBA", size, BACKGROUND + (255,))
    drawn = _paste_tiles(canvas, view, tiles)
    draw = ImageDraw.Draw(canvas)
    small, label_font = _font(12), _font(14)
    _draw_path(draw, view, traverse if traverse is not None else EMPTY_TRAVERSE, extra_path)
    for s in samples:
        if view.contains(s.lat, s.lon, margin=-4):
            xy = view.px(s.lat, s.lon)
            _marker(draw, xy, 5, SAMPLE_COLOUR, outline=TEXT)
            if s.name:
                _outlined_text(draw, (xy[0] + 8, xy[1]), s.name, small, anchor="lm")
    if landing is not None and view.contains(*landing, margin=-6):
        x, y = view.px(*landing)
        draw.polygon([(x, y - 9), (x + 9, y), (x, y + 9), (x - 9, y)], fill=LANDING_COLOUR, outline=SHADOW)
        _outlined_text(draw, (x + 12, y), "Landing site", small, anchor="lm")
    _marker(draw, view.px(position.lat, position.lon), 7, ROVER_COLOUR, width=3)
    _north_arrow(draw, view, label_font)
    _scale_bar(draw, view, radius_m, small)
    if title:
        _outlined_text(draw, (10, 8), title, label_font)
    out = io.BytesIO()
    rgb = canvas.convert("RGB")
    if fmt == "JPEG" or (fmt == "auto" and drawn):
        rgb.save(out, "JPEG", quality=80, optimize=True)
    else:
        rgb.save(out, "PNG", optimize=True)
    return out.getvalue()


def traverse_in_view(view: MapView, traverse: Traverse) -> int:
    """How many path vertices fall inside a view (for tests and for picking a zoom)."""
    if not len(traverse.points):
        return 0
    xs, ys = view.px_array(traverse.points[:, 0], traverse.points[:, 1])
    return int(np.count_nonzero((xs >= 0) & (xs < view.width) & (ys >= 0) & (ys < view.height)))
