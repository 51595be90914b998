"""NASA's raw-image JSON -> RoverImage values.

The feeds are undocumented and drift (see shared/docs/nasa-data-sources.md §1 and §6), so this is
tolerant by design: unknown keys are ignored, numbers may be strings, times may lack a `Z`, and a
malformed record is skipped and logged rather than sinking the page. Pure: no I/O.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from typing import Any, Iterable

from bot.models import FeedPage, RoverImage

log = logging.getLogger("roverbot.parse")

NASA_SITE = "https://mars.nasa.gov"
# A post links only to NASA's own pages: a crafted `link` must not become a masked link elsewhere.
LINK_HOSTS = ("nasa.gov",)
# Picture URLs come from these hosts unless the caller says otherwise (config nasa.image_hosts).
# (mars.jpl.nasa.gov: Curiosity's older pictures are still served from there.)
IMAGE_HOSTS = ("mars.nasa.gov", "mars.jpl.nasa.gov", "www.nasa.gov", "science.nasa.gov", "images-assets.nasa.gov")
MAX_TEXT = 4000  # longer captions are cut: a record cannot make the bot hold megabytes of text
# Control characters (but newline and tab) and the bidi overrides/isolates that reorder what a reader sees.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s")
_DIRTY = re.compile(_UNSAFE.pattern[:-1] + "\ud800-\udfff]")
_FILE_VERSION = re.compile(r"(\d{2})(?:_\d+)?\.(?:jpe?g|png)$", re.IGNORECASE)
_LMST = re.compile(r"M(\d{2}:\d{2}:\d{2})")
_SITE_DRIVE_SEQ = re.compile(r"^[A-Z]\d{7}(\w+)$")
_PARAGRAPH = re.compile(r"\s*\n\s*\n")


class Malformed(ValueError):
    """A record the bot cannot show; the message says why."""


# ------------------------------------------------------------------ small tolerant readers


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise Malformed(f"{what} is not a number: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise Malformed(f"{what} is not a whole number: {value!r}") from None
    raise Malformed(f"{what} is not a whole number: {value!r}")


def clean(text: str) -> str:
    """NASA's text is data: no control characters or bidi overrides, and a lone surrogate (which
    no encoder accepts) becomes U+FFFD instead of making the record, or the page, unreadable."""
    if _DIRTY.search(text) is None:  # nearly always: one scan, no copies
        return text
    return _SURROGATE.sub("\ufffd", _UNSAFE.sub("", text))


def _text(value: Any) -> str:
    if isinstance(value, str):
        text = clean(value[:MAX_TEXT]).strip()
        return "" if text == "UNK" or text == "unk" else text
    return ""


def _url(value: Any) -> str:
    text = _text(value)
    if text.startswith("/"):
        return NASA_SITE + text
    return text if text.startswith(("https://", "http://")) else ""


def _on(host: str, allowed: Iterable[str]) -> bool:
    return any(host == h or host.endswith("." + h) for h in allowed)


# scheme://host[:port][/path...]: no credentials (an '@' can't be in the host), no spaces. One
# compiled match instead of urlsplit: this runs for five URLs of every record of every page.
# Printable ASCII only after the host: no spaces, control characters or bidi overrides can ride along.
_URL = re.compile(r"(https?)://([A-Za-z0-9.-]+)(:[0-9]{1,5})?(?:[/?#][!-~]*)?")


def safe_url(value: Any, hosts: Iterable[str], *, https_only: bool = True) -> str:
    """A URL we may put in a post: http(s) (https only, unless the operator allows http hosts), on an
    allowed host, no credentials, no spaces. Anything else is dropped ('')."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    if text.startswith("/"):
        text = NASA_SITE + text
    m = _URL.fullmatch(text)
    if m is None or (https_only and m[1] != "https"):
        return ""
    host = m[2].lower()
    netloc = host + (m[3] or "")
    return text if netloc in hosts or _on(host, hosts) else ""


def utc(value: Any) -> datetime | None:
    """NASA times come with and without `Z`, with and without milliseconds; all are UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)  # 3.11 reads "Z", offsets and any fraction
    except ValueError:
        try:
            moment = datetime.fromisoformat(value.strip().replace(" ", "T", 1).rstrip("Zz"))
        except ValueError:
            return None
    try:
        if moment.tzinfo is None:
            return moment.replace(tzinfo=timezone.utc)
        return moment if moment.tzinfo is timezone.utc else moment.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None  # e.g. year 9999 with a negative offset


def _date(rec: dict[str, Any], key: str) -> datetime | None:
    """A date field: absent is fine, present but unreadable or absurd makes the record malformed."""
    raw = rec.get(key)
    if raw is None or raw == "" or raw == "UNK":
        return None
    moment = utc(raw)
    if moment is None or not 1990 <= moment.year <= 2200:
        raise Malformed(f"{key} is not a date we can hold: {str(raw)[:40]!r}")
    return moment


def first_paragraph(caption: str) -> str:
    return _PARAGRAPH.split(caption.strip(), maxsplit=1)[0].strip() if caption else ""


def _lmst(value: Any) -> str | None:
    m = _LMST.search(_text(value))
    return m[1] if m else None


def exposure_of(image_id: str) -> tuple[str, int, str]:
    """(exposure id, tile number, sequence) from an M20 image id.

    `NRF_1965_0841393386_816ECM_N0910806NCAM03965_02_095J`: the 6th field is the tile, so the
    tiles of one exposure share everything else. Ids of other shapes are their own exposure.
    """
    parts = image_id.split("_")
    if len(parts) == 7 and parts[5].isdigit():
        seq = _SITE_DRIVE_SEQ.match(parts[4])
        tile = int(parts[5])
        return "_".join(parts[:5] + parts[6:]), tile, seq[1] if seq else ""
    return image_id, 0, ""


def _version(image_id: str, url: str) -> int:
    """The product version NASA appends to the id in file names: `<imageid>02_1200.jpg` -> 2."""
    at = url.rfind(image_id)
    if at >= 0:
        digits = url[at + len(image_id) : at + len(image_id) + 2]
        if digits.isdigit():
            return int(digits)
    m = _FILE_VERSION.search(url)
    return int(m[1]) if m else 1


# ------------------------------------------------------------------ one record per feed shape


def m2020_image(rec: dict[str, Any], mission: str = "mars2020", *, hosts: Iterable[str] = IMAGE_HOSTS,
                max_sol: int | None = None) -> RoverImage | None:
    """One Mars 2020 record, or None for a thumbnail. Raises Malformed.

    hosts: where picture URLs may point; max_sol: the rover's current sol by the clock (a later
    sol is not a real record)."""
    image_id = _text(rec.get("imageid"))
    if not image_id:
        raise Malformed("no imageid")
    if _text(rec.get("sample_type")).lower() == "thumbnail":
        return None
    sol = _check_sol(_int(rec.get("sol"), "sol"), max_sol)
    camera = rec.get("camera")
    instrument = _text(camera.get("instrument")) if isinstance(camera, dict) else ""
    files = rec.get("image_files")
    files = files if isinstance(files, dict) else {}
    small, medium, large, full = (safe_url(files.get(k), hosts, https_only=False) for k in ("small", "medium", "large", "full_res"))
    large = large or medium or full or small
    if not large:
        raise Malformed("no image file URL")
    exposure, tile, sequence = exposure_of(image_id)
    return RoverImage(
        image_id=image_id,
        exposure_id=exposure,
        sol=sol,
        instrument=instrument or "UNKNOWN",
        title=_text(rec.get("title")) or f"Sol {sol}: {instrument or 'unknown camera'}",
        caption=first_paragraph(_text(rec.get("caption"))),
        credit=_text(rec.get("credit")) or "NASA/JPL-Caltech",
        taken_utc=_date(rec, "date_taken_utc"),
        lmst=_lmst(rec.get("date_taken_mars")),
        received_utc=_date(rec, "date_received"),
        sequence=sequence,
        version=_version(image_id, large),
        tiles=1,
        small=small or medium or large,
        medium=medium or large,
        large=large,
        full_res=full or large,
        link=safe_url(rec.get("link"), LINK_HOSTS),
        mission=mission,
    )


def _check_sol(sol: int, max_sol: int | None) -> int:
    if sol < 0:
        raise Malformed(f"negative sol {sol}")
    if max_sol is not None and sol > max_sol:
        raise Malformed(f"sol {sol} is after the rover's current sol {max_sol}")
    return sol


def msl_image(rec: dict[str, Any], *, hosts: Iterable[str] = IMAGE_HOSTS, max_sol: int | None = None) -> RoverImage | None:
    """One Curiosity `raw_image_items` record (a different schema), or None for a thumbnail."""
    image_id = _text(rec.get("imageid"))
    if not image_id:
        raise Malformed("no imageid")
    ext = rec.get("extended") if isinstance(rec.get("extended"), dict) else {}
    if rec.get("is_thumbnail") is True or _text(ext.get("sample_type")).lower() == "thumbnail":
        return None
    sol = _check_sol(_int(rec.get("sol"), "sol"), max_sol)
    url = safe_url(rec.get("https_url"), hosts, https_only=False) or safe_url(rec.get("url"), hosts, https_only=False)
    if not url:
        raise Malformed("no image URL")
    instrument = _text(rec.get("instrument")) or "UNKNOWN"
    return RoverImage(
        image_id=image_id, exposure_id=image_id, sol=sol, instrument=instrument,
        title=_text(rec.get("title")) or f"Sol {sol}: {instrument}",
        caption=first_paragraph(_text(rec.get("description"))),
        credit=_text(rec.get("image_credit")) or "NASA/JPL-Caltech",
        taken_utc=_date(rec, "date_taken"), lmst=_lmst(ext.get("lmst")),
        received_utc=_date(rec, "date_received") or _date(rec, "created_at"),
        sequence="", small=url, medium=url, large=url, full_res=url,
        link=safe_url(rec.get("link"), LINK_HOSTS), mission="msl",
    )


def marsphotos_image(rec: dict[str, Any], *, hosts: Iterable[str] = IMAGE_HOSTS, max_sol: int | None = None) -> RoverImage:
    """One photo from the retired api.nasa.gov mars-photos API (old recordings, third-party clones)."""
    url = safe_url(rec.get("img_src"), (*hosts, "mars.jpl.nasa.gov"), https_only=False)
    if not url:
        raise Malformed("no img_src")
    sol = _check_sol(_int(rec.get("sol"), "sol"), max_sol)
    camera = rec.get("camera") if isinstance(rec.get("camera"), dict) else {}
    instrument = _text(camera.get("name")) or "UNKNOWN"
    stem = url.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    image_id = re.sub(r"\d{2}(_\d+)?$", "", stem) if "_" in stem else stem
    rover = rec.get("rover") if isinstance(rec.get("rover"), dict) else {}
    mission = "msl" if _text(rover.get("name")).lower() == "curiosity" else "mars2020"
    exposure, _, sequence = exposure_of(image_id)
    return RoverImage(
        image_id=image_id, exposure_id=exposure, sol=sol, instrument=instrument,
        title=f"Sol {sol}: {_text(camera.get('full_name')) or instrument}", caption="",
        credit="NASA/JPL-Caltech", taken_utc=None, lmst=None, received_utc=None, sequence=sequence,
        version=_version(image_id, url), small=url, medium=url, large=url, full_res=url, mission=mission,
    )


# ------------------------------------------------------------------ pages


def _records(payload: Any) -> tuple[list[Any], Any, str]:
    """(records, record reader, shape) for any of the raw-image feed shapes."""
    if not isinstance(payload, dict):
        raise Malformed(f"expected a JSON object, got {type(payload).__name__}")
    for key, reader in (("images", m2020_image), ("image", m2020_image), ("items", msl_image),
                        ("photos", marsphotos_image), ("latest_photos", marsphotos_image)):
        if key in payload:
            records = payload[key]
            if records is None:
                return [], reader, key
            if not isinstance(records, list):
                raise Malformed(f"'{key}' is not a list")
            return records, reader, key
    if "error_message" in payload:
        return [], m2020_image, "images"
    raise Malformed(f"no image list in the answer (keys: {', '.join(sorted(payload)[:8])})")


def merge(images: Iterable[RoverImage]) -> list[RoverImage]:
    """One RoverImage per exposure: the newest version, the first tile, and how many tiles."""
    best: dict[str, RoverImage] = {}
    tiles: dict[str, set[str]] = {}
    for img in images:
        tiles.setdefault(img.exposure_id, set()).add(img.image_id)
        cur = best.get(img.exposure_id)
        if cur is None or (img.version, -_tile(img)) > (cur.version, -_tile(cur)):
            best[img.exposure_id] = img
    out = []
    for key, img in best.items():
        n = len(tiles[key])
        out.append(img if n == img.tiles else _with_tiles(img, n))
    return out


def _tile(img: RoverImage) -> int:
    return exposure_of(img.image_id)[1]


def _with_tiles(img: RoverImage, n: int) -> RoverImage:
    return img._replace(tiles=n)


def page(payload: Any, *, expect_sol: int | None = None, page_size: int | None = None,
         hosts: Iterable[str] = IMAGE_HOSTS, max_sol: int | None = None) -> FeedPage:
    """A decoded feed answer -> FeedPage. Raises Malformed only when the page as a whole is unusable.

    expect_sol: NASA answers a sol with no images with some *other* sol's images; those are dropped
    so they are never passed off as the requested sol.
    """
    records, reader, shape = _records(payload)
    hosts = tuple(hosts)
    images: list[RoverImage] = []
    skipped = malformed = 0
    first_problem = ""
    for i, rec in enumerate(records):
        try:
            if not isinstance(rec, dict):
                raise Malformed("not an object")
            img = reader(rec, hosts=hosts, max_sol=max_sol)
        except Exception as e:  # one record never sinks the page, whatever is wrong with it
            skipped += 1
            malformed += 1
            why = str(e) if isinstance(e, Malformed) else f"{type(e).__name__}: {e}"
            first_problem = first_problem or why[:200]
            ident = rec.get("imageid", i) if isinstance(rec, dict) else i
            log.warning("skipped record %s: %s", clean(str(ident))[:80], why[:200])
            continue
        if img is None or (expect_sol is not None and img.sol != expect_sol):
            skipped += 1
            continue
        images.append(img)
    merged = merge(images)
    skipped += len(images) - len(merged)
    end = bool(payload.get("error_message")) or not records
    if shape == "items" and payload.get("more") is False:
        end = True
    if page_size is not None and len(records) < page_size:
        end = True
    total = payload.get("total_results", payload.get("total"))
    try:
        total = _int(total, "total") if total is not None else None
    except Malformed:
        total = None
    return FeedPage(merged, total_results=total, end=end, skipped=skipped, raw_count=len(records), malformed=malformed,
                    first_problem=first_problem)


def latest_sol(payload: Any) -> int:
    """The `latest=true` summary (M20) or `latest_data` (MSL) -> the newest sol with images."""
    if isinstance(payload, dict) and isinstance(payload.get("latest_data"), dict):
        payload = payload["latest_data"]
    if not isinstance(payload, dict) or "latest_sol" not in payload:
        raise Malformed("no latest_sol in the summary")
    return _int(payload["latest_sol"], "latest_sol")
