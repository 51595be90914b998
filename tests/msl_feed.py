"""Curiosity's raw-image feed (`https://mars.nasa.gov/api/v1/raw_image_items/`) rebuilt as pure functions.

`item()` makes one record in the recorded schema (tests/fixtures/msl_raw_image_items_latest_sol5030_
page0_per12.json: the same keys in the same order), `sol_items()` a sol's worth, `answer()` answers a
query string the way the feed does (nasa-data-sources.md §2) and `latest()` the `msl/latest/` summary.
No server here: the NASA stand-in serves these.

The feed's quirks, kept on purpose because the parser has to live with them:
- `per_page` and `page` are ints (M20 sends `per_page` as a string); `drive` and `site` are ints.
- `link` is relative (`/raw_images/<id>`); `url` and `https_url` are absolute.
- `date_taken` has whole seconds written as `.000Z`; `created_at` can be *earlier* than
  `date_received` (the sol 5030 recording has both orders).
- `extended.sample_type` is lower case: full, subframe, downsampled, thumbnail, "chemcam prc".
  The product letter after `EDR_` in an engineering-camera id says the same (F, S, D, T).
- Geometry (`camera_vector` … `camera_model_type`) is null on MSSS products (Mastcam, MAHLI,
  MARDI) and on ChemCam RMI frames, and so are their `mast_az`/`mast_el`.
- Paging stops on `"more": false`; past the end the page is empty with `more` false.

Recorded: the Navcam titles, `instrument_sort` 1 (MAST_RIGHT), 4 (CHEMCAM_RMI), 7 (NAV_LEFT),
8 (NAV_RIGHT), `sample_type_sort` 1 full, 2 subframe, 3 downsampled, 999 chemcam prc, and the Mastcam
and ChemCam titles. The other titles and sort numbers are our own stand-ins in the same style.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from bot.mars import marstime

HOST = "https://mars.nasa.gov"
FEED_PATH = "/api/v1/raw_image_items/"
LATEST_PATH = "/api/v1/raw_image_items/msl/latest/"
DEFAULT_PER_PAGE = 25  # the feed's own default is unrecorded; clients always send per_page

# One real record to pin the spacecraft clock to UTC: SCLK drifts by over an hour from its nominal
# epoch, so an offset from a recent record is closer than any formula.
_SCLK_AT = (datetime(2026, 9, 30, 10, 14, 56, tzinfo=timezone.utc), 844030950.571)


@dataclass(frozen=True)
class _Cam:
    title: str
    prefix: str  # JPL ids: the first three letters (NRB_...); MSSS ids: the two after the sol
    folder: str
    sequence: str
    instrument_sort: int
    msss: bool = False  # Malin Space Science Systems products: different ids, URLs, nulls
    credit: str = "NASA/JPL-Caltech"


CAMERAS: dict[str, _Cam] = {
    "MAST_RIGHT": _Cam("Mast Camera (Mastcam)", "MR", "mcam", "", 1, True, "NASA/JPL-Caltech/MSSS"),
    "MAST_LEFT": _Cam("Mast Camera (Mastcam)", "ML", "mcam", "", 2, True, "NASA/JPL-Caltech/MSSS"),
    "MAHLI": _Cam("Mars Hand Lens Imager", "MH", "mhli", "", 3, True, "NASA/JPL-Caltech/MSSS"),
    "CHEMCAM_RMI": _Cam("Chemistry & Camera", "CR0", "ccam", "CCAM", 4, credit="NASA/JPL-Caltech/LANL"),
    "MARDI": _Cam("Mars Descent Imager", "MD", "mrdi", "", 5, True, "NASA/JPL-Caltech/MSSS"),
    "FHAZ_LEFT_A": _Cam("Front Hazard Avoidance Camera", "FLA", "fcam", "FHAZ", 9),
    "FHAZ_LEFT_B": _Cam("Front Hazard Avoidance Camera", "FLB", "fcam", "FHAZ", 9),
    "FHAZ_RIGHT_A": _Cam("Front Hazard Avoidance Camera", "FRA", "fcam", "FHAZ", 10),
    "FHAZ_RIGHT_B": _Cam("Front Hazard Avoidance Camera", "FRB", "fcam", "FHAZ", 10),
    "NAV_LEFT_A": _Cam("Left Navigation Camera", "NLA", "ncam", "NCAM", 7),
    "NAV_LEFT_B": _Cam("Left Navigation Camera", "NLB", "ncam", "NCAM", 7),
    "NAV_RIGHT_A": _Cam("Right Navigation Camera", "NRA", "ncam", "NCAM", 8),
    "NAV_RIGHT_B": _Cam("Right Navigation Camera", "NRB", "ncam", "NCAM", 8),
    "RHAZ_LEFT_A": _Cam("Rear Hazard Avoidance Camera", "RLA", "rcam", "RHAZ", 11),
    "RHAZ_LEFT_B": _Cam("Rear Hazard Avoidance Camera", "RLB", "rcam", "RHAZ", 11),
    "RHAZ_RIGHT_A": _Cam("Rear Hazard Avoidance Camera", "RRA", "rcam", "RHAZ", 12),
    "RHAZ_RIGHT_B": _Cam("Rear Hazard Avoidance Camera", "RRB", "rcam", "RHAZ", 12),
}

SAMPLE_TYPE_SORT = {"full": 1, "subframe": 2, "downsampled": 3, "thumbnail": 4, "chemcam prc": 999}
_PRODUCT_LETTER = {"full": "F", "subframe": "S", "downsampled": "D", "thumbnail": "T", "chemcam prc": "F"}


def _stamp(moment: datetime, millis: bool = True) -> str:
    """The feed's timestamp style: `2026-09-30T10:14:56.000Z`."""
    moment = moment.astimezone(timezone.utc)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _lmst_text(sol: int, seconds: float) -> str:
    whole = int(seconds)
    return f"Sol-{sol:05d}M{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}.{int(seconds % 1 * 1000):03d}"


def taken_utc(sol: int, lmst_seconds: float) -> datetime:
    """When a picture at this sol and local time was taken, to the whole second as the feed gives it."""
    moment = marstime.utc_of(sol, lmst_seconds, marstime.CURIOSITY)
    return moment.replace(microsecond=0)


def item(
    sol: int,
    instrument: str = "NAV_RIGHT_B",
    *,
    n: int = 0,
    lmst_seconds: float = 13 * 3600,
    sample_type: str = "full",
    received: datetime | None = None,
    sequence: int = 560,
    host: str = HOST,
    geometry: bool | None = None,
) -> dict[str, Any]:
    """One `raw_image_items` record. `n` separates frames of one sequence (13 s apart, like the
    recording); `geometry=None` follows the camera (null for MSSS cameras and ChemCam)."""
    cam = CAMERAS.get(instrument) or _Cam(instrument.replace("_", " ").title(), "XXX", "misc", "MISC", 99)
    taken = taken_utc(sol, (lmst_seconds + 13 * n) % 86400)  # stay inside the sol however large n is
    local = marstime.clock(taken, marstime.CURIOSITY).lmst_seconds
    sclk = round(_SCLK_AT[1] + (taken - _SCLK_AT[0]).total_seconds() + 0.571, 3)
    site, drive = 1 + sol // 40, (sol * 7) % 3000
    letter = _PRODUCT_LETTER[sample_type]
    if cam.msss:
        image_id = f"{sol:04d}{cam.prefix}{sequence:06d}{int(sclk) % 10**10:010d}C00_DXXX"
        url = f"{host}/msl-raw-images/msss/{sol:05d}/{cam.folder}/{image_id}.jpg"
        if sample_type == "thumbnail":
            image_id = image_id.replace("C00_", "I01_")
            url = f"{host}/msl-raw-images/msss/{sol:05d}/{cam.folder}/{image_id}.jpg"
    elif instrument == "CHEMCAM_RMI":
        image_id = f"CR0_{int(sclk)}PRC_F{site:03d}{drive:04d}{cam.sequence}{sequence:05d}L1"
        url = f"{host}/msl-raw-images/proj/msl/redops/ods/surface/sol/{sol:05d}/opgs/edr/{cam.folder}/{image_id}.JPG"
    else:
        image_id = f"{cam.prefix}_{int(sclk)}EDR_{letter}{site:03d}{drive:04d}{cam.sequence}{sequence:05d}M_"
        url = f"{host}/msl-raw-images/proj/msl/redops/ods/surface/sol/{sol:05d}/opgs/edr/{cam.folder}/{image_id}.JPG"
    with_geometry = geometry if geometry is not None else not (cam.msss or instrument == "CHEMCAM_RMI")
    received = received or taken + timedelta(hours=5, minutes=13)
    created = taken + timedelta(hours=3, minutes=20)  # may precede date_received, as recorded
    # Unique per (sol, camera, sample type, n < 1000), so thumbnails never share a full frame's id.
    camera_slot = list(CAMERAS).index(instrument) if instrument in CAMERAS else len(CAMERAS)
    record_id = 1_000_000 + sol * 100_000 + camera_slot * 5_000 + list(SAMPLE_TYPE_SORT).index(sample_type) * 1_000 + n
    thumb = sample_type == "thumbnail"
    size = 64 if thumb else (1024 if sample_type == "full" else 512)
    return {
        "id": record_id,
        "camera_vector": "(-0.7431006736297971,-0.5268317876820835,-0.4126132042708303)" if with_geometry else None,
        "site": site,
        "imageid": image_id,
        "subframe_rect": f"(1,1,{size},{size})",
        "sol": sol,
        "scale_factor": None if instrument == "CHEMCAM_RMI" else (1 if sample_type == "full" else 2),
        "camera_model_component_list": (
            "(0.851014,0.336345,-1.98461);(-0.746105,-0.525164,-0.409283);(324.957,-1263.52,-212.797);"
            "(-790.559,-562.92,901.666);(-0.747694,-0.525548,-0.405876);(1.4001e-05,0.00181597,-0.00565978)"
        ) if with_geometry else None,
        "instrument": instrument,
        "url": url,
        "spacecraft_clock": sclk,
        "attitude": "(0.289057,-0.0682921,0.0141617,0.954768)",
        "camera_position": "(0.851014,0.336345,-1.98461)" if with_geometry else None,
        "camera_model_type": "CAHVOR" if with_geometry else None,
        "drive": drive,
        "xyz": "(-29.6961,42.9809,-6.41053)",
        "created_at": _stamp(created),
        "updated_at": _stamp(created + timedelta(hours=2)),
        "mission": "msl",
        "extended": {
            "lmst": _lmst_text(sol, local),
            "bucket": "msl-raws",
            "mast_az": None if cam.msss or instrument == "CHEMCAM_RMI" else "215.258",
            "mast_el": None if cam.msss or instrument == "CHEMCAM_RMI" else "24.4393",
            "url_list": url,
            "contributor": "MSSS" if cam.msss else "Team MSLICE",
            "filter_name": None,
            "sample_type": sample_type,
        },
        "date_taken": _stamp(taken, millis=False),
        "date_received": _stamp(received.replace(microsecond=0), millis=False),
        "instrument_sort": cam.instrument_sort,
        "sample_type_sort": SAMPLE_TYPE_SORT[sample_type],
        "is_thumbnail": thumb,
        "title": f"Sol {sol}: {cam.title}",
        "description": (f"This image was taken by {cam.title} onboard NASA's Mars rover Curiosity on Sol {sol} "
                        f"({taken.strftime('%Y-%m-%d %H:%M:%S')} UTC)."),
        "link": f"/raw_images/{record_id}",
        "image_credit": cam.credit,
        "https_url": url,
    }


def sol_items(sol: int, instruments: Iterable[str] = ("NAV_LEFT_B", "NAV_RIGHT_B"), per_camera: int = 3,
              *, sample_type: str = "full", thumbnails: bool = False) -> list[dict[str, Any]]:
    """A sol's pictures: `per_camera` frames from each camera, plus a thumbnail of each if asked."""
    out = []
    for k, code in enumerate(instruments):
        for n in range(per_camera):
            out.append(item(sol, code, n=n + 40 * k, sample_type=sample_type))
            if thumbnails:
                out.append(item(sol, code, n=n + 40 * k, sample_type="thumbnail"))
    return out


# ------------------------------------------------------------------ the query side


def _condition(records: list[dict], value: str) -> list[dict]:
    """`value:field:op` filters; an unknown field or op filters nothing, as the server ignores it."""
    parts = value.rsplit(":", 2)
    if len(parts) == 2:  # `msl:mission` has no operator
        parts.append("eq")
    if len(parts) != 3:
        return records
    val, fld, op = parts
    if fld == "mission":
        return [r for r in records if r["mission"] == val]
    if fld in ("date_received", "created_at"):
        test = {"gte": val.__le__, "gt": val.__lt__, "lte": val.__ge__, "lt": val.__gt__}.get(op)
        return [r for r in records if test(r[fld])] if test else records
    if fld == "imageid" and op == "eq":
        return [r for r in records if r["imageid"] == val]
    if fld == "sol":
        if op == "in":
            wanted = {int(v) for v in val.split(",") if v.strip()}
            return [r for r in records if r["sol"] in wanted]
        bound = int(val)
        test = {"gte": bound.__le__, "gt": bound.__lt__, "lte": bound.__ge__, "lt": bound.__gt__,
                "eq": bound.__eq__}.get(op)
        return [r for r in records if test(r["sol"])] if test else records
    if fld == "instrument" and op == "in":
        wanted = set(val.split(","))
        return [r for r in records if r["instrument"] in wanted]
    if fld == "date_taken":
        test = {"gte": val.__le__, "gt": val.__lt__, "lte": val.__ge__, "lt": val.__gt__}.get(op)
        return [r for r in records if test(r["date_taken"][: len(val)])] if test else records
    return records


def _ordered(records: list[dict], order: str) -> list[dict]:
    """`sol desc,instrument_sort asc,sample_type_sort asc, date_taken desc`: stable sorts, last key first."""
    out = list(records)
    for clause in reversed([c.strip() for c in order.split(",") if c.strip()]):
        name, _, direction = clause.partition(" ")
        if name not in ("sol", "instrument_sort", "sample_type_sort", "date_taken", "date_received",
                        "created_at", "id"):
            continue
        out.sort(key=lambda r: r[name], reverse=direction.strip().lower() == "desc")
    return out


def answer(records: Iterable[dict], query: dict[str, str]) -> dict[str, Any]:
    """The page NASA would send for this (already URL-decoded) query."""
    pool = [r for r in records if r["mission"] == "msl"] if query.get("mission", "msl") == "msl" else []
    for key in sorted(k for k in query if k.startswith("condition_")):
        pool = _condition(pool, query[key])
    if query.get("search"):
        codes = {c for c in query["search"].split("|") if c}
        pool = [r for r in pool if r["instrument"] in codes]
    if "thumbnail::sample_type::noteq" in query.get("extended", ""):
        pool = [r for r in pool if r["extended"]["sample_type"] != "thumbnail"]
    pool = _ordered(pool, query.get("order", "sol desc,instrument_sort asc,sample_type_sort asc, date_taken desc"))
    per_page = int(query.get("per_page", DEFAULT_PER_PAGE))
    page = int(query.get("page", 0))
    return page_of(pool, page, per_page)


def page_of(pool: list[dict], page: int = 0, per_page: int = DEFAULT_PER_PAGE) -> dict[str, Any]:
    """One page of already-filtered, already-ordered records, in the recorded envelope."""
    chunk = pool[page * per_page : (page + 1) * per_page] if per_page > 0 else []
    more = (page + 1) * per_page < len(pool) if per_page > 0 else False
    return {"items": copy.deepcopy(chunk), "more": more, "total": len(pool), "page": page, "per_page": per_page}


def latest(records: Iterable[dict]) -> dict[str, Any]:
    """`/api/v1/raw_image_items/msl/latest/`: the newest sol and how much is new."""
    pool = [r for r in records if r["mission"] == "msl"]
    sols = sorted({r["sol"] for r in pool}, reverse=True)
    newest = max((r["date_received"] for r in pool), default=None)
    return {"success": True, "latest_data": {
        "latest": newest, "latest_sol": sols[0] if sols else 0, "latest_sols": sols[:2],
        "new_count": sum(1 for r in pool if sols and r["sol"] == sols[0]), "sol_count": len(sols), "total": len(pool),
    }}
