"""NASA's end-of-drive Navcam mosaic, made to fit a Discord post and labelled with compass points.

The mosaic is cylindrical (camera-models.md §6): its columns span azimuth azmin -> azmax,
clockwise from north, so azimuth grows to the right as in any panorama seen from inside; when
azmin > azmax the span wraps through north. Column c is centred on azmin + (c + 0.5) * span / columns.

The JPEGs are large (9292 x 2144 at sol 1840, up to 18585 x 5466), larger than the bot's usual
decode cap, so they are decoded straight to a reduced size with the JPEG decoder's own scaling
(Pillow's draft mode) and never held at full size.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from bot.imagery.pictures import BadImage
from bot.sources.mmgis import MosaicRef

MAX_SOURCE_PIXELS = 120_000_000  # the largest NASA mosaic seen is ~102 Mpx; refuse a header claiming more
STRIP = 26  # the band under the picture that carries the compass labels
POINTS = {0: "N", 45: "NE", 90: "E", 135: "SE", 180: "S", 225: "SW", 270: "W", 315: "NW"}


def compass_ticks(azmin: float, azmax: float, width: int) -> list[tuple[float, str]]:
    """(x, label) for each compass point inside the mosaic, for a picture `width` pixels wide.
    azmin == azmax (as in 0/360) is a full circle; azmin > azmax wraps through north."""
    span = (azmax - azmin) % 360.0 or 360.0
    out = []
    for az, label in POINTS.items():
        offset = (az - azmin) % 360.0
        if offset <= span:
            out.append((offset / span * width, label))
            if offset == 0 and span == 360.0:
                out.append((float(width), label))  # a full circle shows north at both ends
    return sorted(out)


def _open_reduced(data: bytes, box: tuple[int, int]) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size check below is ours
            im = Image.open(io.BytesIO(data))
            if im.width * im.height > MAX_SOURCE_PIXELS:
                raise BadImage(f"{im.width}x{im.height} mosaic is larger than {MAX_SOURCE_PIXELS:,} pixels")
            if im.format == "JPEG":
                im.draft("RGB", box)  # decode at 1/2, 1/4 or 1/8 scale, never below `box`
            elif im.width * im.height > 40_000_000:
                raise BadImage("a non-JPEG mosaic this large would be decoded at full size")
            im.load()
            return im.convert("RGB")
    except BadImage:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise BadImage(f"not a readable mosaic ({type(e).__name__})") from None


def label_mosaic(data: bytes, mosaic: MosaicRef, *, max_bytes: int, max_pixels: int, title: str = "") -> bytes:
    """The mosaic downscaled to at most max_pixels (labels included) and max_bytes of JPEG, with
    N/E/S/W ticks along the bottom. Raises BadImage for bytes that are not a usable mosaic."""
    aspect = mosaic.columns / mosaic.rows if mosaic.rows else 4.0
    height = int((max_pixels / aspect) ** 0.5)
    while True:  # fit picture + label strip into max_pixels
        width = int(height * aspect)
        if width * (height + STRIP) <= max_pixels or height < 16:
            break
        height -= 1
    im = _open_reduced(data, (width, height))
    aspect = im.width / im.height  # trust the real pixels over the declared rows/columns
    width = min(width, im.width)
    height = max(1, round(width / aspect))
    if im.size != (width, height):
        im = im.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=2.0)
    canvas = Image.new("RGB", (width, height + STRIP), (12, 12, 14))
    canvas.paste(im, (0, 0))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=max(10, min(16, STRIP - 10)))
    for x, label in compass_ticks(mosaic.azmin, mosaic.azmax, width):
        major = len(label) == 1
        xi = min(width - 1, max(0, round(x)))
        draw.line([(xi, height - (10 if major else 5)), (xi, height + 5)], fill=(255, 220, 90) if major else (200, 200, 200),
                  width=2 if major else 1)
        if major:
            anchor = "lt" if xi < 8 else "rt" if xi > width - 8 else "mt"
            draw.text((xi, height + 6), label, fill=(255, 255, 255), font=font, anchor=anchor)
    if title:
        draw.text((6, 6), title, fill=(255, 255, 255), font=font, stroke_width=2, stroke_fill=(0, 0, 0))
    for quality in (85, 75, 65, 55, 45):
        out = io.BytesIO()
        canvas.save(out, "JPEG", quality=quality, optimize=True)
        if out.tell() <= max_bytes:
            return out.getvalue()
    canvas.thumbnail((width // 2, (height + STRIP) // 2))  # still too big: halve once more at low quality
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=45, optimize=True)
    if out.tell() > max_bytes:
        raise BadImage(f"could not fit the mosaic into {max_bytes:,} bytes")
    return out.getvalue()


async def fetch_labelled(http, mosaic: MosaicRef, *, allowed_hosts: tuple[str, ...], max_download_bytes: int,
                         max_bytes: int, max_pixels: int, title: str = "") -> bytes:
    """Download a drive's mosaic (allowed hosts only, capped) and label it off the event loop.
    Raises NasaError (download) or BadImage (content)."""
    import asyncio

    from bot.sources.mmgis import get_capped

    data = await get_capped(http, mosaic.url, allowed_hosts=allowed_hosts, max_bytes=max_download_bytes)
    return await asyncio.to_thread(label_mosaic, data, mosaic, max_bytes=max_bytes, max_pixels=max_pixels, title=title)
