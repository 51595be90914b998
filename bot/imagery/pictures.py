"""Pure Pillow: image bytes in, image bytes out. Blocking: call it off the event loop (to_thread).

Images come from the internet, so decoding is defensive: a size cap before decoding, Pillow's
decompression-bomb guard, and corrupt or truncated files rejected rather than half-drawn.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont, ImageStat, UnidentifiedImageError

log = logging.getLogger("roverbot.images")

MAX_PIXELS = 4096 * 4096  # a NASA 'medium' rendition is 800 px wide; anything this big is not one
BLANK_STDDEV = 6.0  # below this a frame is a flat field, a dark frame or a calibration target
# The sheet is 648 px wide: Discord previews it at about 400 px, where the 24 px labels' ink
# (17 px) is 10.5 px tall and still legible, and the JPEG is about 0.6x the bytes of the old
# 1,024 px sheet. It is uploaded once per channel, so its size is multiplied by every channel.
SHEET_COLUMNS = 3
CELL = (216, 162)
LABEL_FONT = 24
LABEL_HEIGHT = 30
TITLE_FONT = 26
JPEG_QUALITY = 70
BACKGROUND = (18, 18, 20)


class BadImage(ValueError):
    """Bytes that are not a picture the bot will decode (corrupt, truncated, too large, a bomb)."""


@dataclass(frozen=True)
class Frame:
    data: bytes
    label: str


def decode(data: bytes, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Bytes -> a fully loaded RGB image, or BadImage (corrupt, truncated, too large, a bomb)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            if im.width * im.height > max_pixels:
                raise BadImage(f"{im.width}x{im.height} is larger than {max_pixels:,} pixels")
            im.load()
            return im.convert("RGB")
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise BadImage(f"decompression bomb refused: {e}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise BadImage(f"not a readable image ({type(e).__name__})") from None


def is_blank(im: Image.Image) -> bool:
    """A near-uniform frame: nothing for a person to look at."""
    small = im.convert("L").resize((64, 48))
    return ImageStat.Stat(small).stddev[0] < BLANK_STDDEV


def _fit(im: Image.Image, box: tuple[int, int]) -> Image.Image:
    im = im.copy()
    im.thumbnail(box, Image.Resampling.LANCZOS)
    return im


def _fit_label(draw: ImageDraw.ImageDraw, label: str, font, width: int) -> str:
    while label and draw.textlength(label, font=font) > width:
        label = label[:-2] + "…" if len(label) > 2 else ""
    return label


def contact_sheet(frames: list[Frame], columns: int = SHEET_COLUMNS, title: str = "", limit: int = 12) -> tuple[bytes, int]:
    """A grid of up to `limit` frames with their labels -> (JPEG bytes, frames used). Blank or
    unreadable frames are left out, so the sheet shows only pictures worth looking at."""
    usable: list[tuple[Image.Image, str]] = []
    for f in frames:
        if len(usable) >= limit:
            break
        try:
            im = decode(f.data)
        except BadImage as e:
            log.warning("left a frame out of the contact sheet (%s): %s", f.label, e)
            continue
        if is_blank(im):
            continue
        usable.append((im, f.label))
    if not usable:
        raise BadImage("no usable frames")
    columns = min(columns, len(usable))
    rows = -(-len(usable) // columns)
    header = TITLE_FONT + 12 if title else 0
    cw, ch = CELL
    sheet = Image.new("RGB", (SHEET_COLUMNS * cw, header + rows * (ch + LABEL_HEIGHT)), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=LABEL_FONT)
    if title:
        draw.text((8, 6), title, fill=(240, 200, 170), font=ImageFont.load_default(size=TITLE_FONT))
    for i, (im, label) in enumerate(usable):
        x, y = (i % columns) * cw, header + (i // columns) * (ch + LABEL_HEIGHT)
        thumb = _fit(im, (cw - 4, ch - 4))
        sheet.paste(thumb, (x + (cw - thumb.width) // 2, y + (ch - thumb.height) // 2))
        draw.text((x + 6, y + ch + 3), _fit_label(draw, label, font, cw - 10), fill=(230, 230, 230), font=font)
    out = io.BytesIO()
    sheet.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return out.getvalue(), len(usable)
