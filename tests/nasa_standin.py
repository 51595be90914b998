"""A loopback stand-in for NASA's raw-image feed, serving real recordings and pages built in the
same schema, over real HTTP on 127.0.0.1.

It implements the feed's documented query semantics (nasa-data-sources.md §1.2): `num` silently
capped at 100, 0-based `page`, `order`, `search` OR-ed with '|', `condition_N` sol ranges,
`extended=sample_type::full`, `sol=` with its empty-sol fallback, `latest=true`, `id=`, the
past-the-end answer, string `per_page` and the CRLF trailer. Faults are queued per request.

It runs on its own thread and event loop, so synchronous tests, asyncio tests and subprocesses
can all talk to it.
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from aiohttp import web

from tests import msl_feed
from tests.loopback import LoopbackServer

FIXTURES = Path(__file__).parent / "fixtures"
CRLF_TRAILER = b"\r\n\r\n\r\n\r\n"

_DIRS = {"NAVCAM": "ncam", "FRONT": "fcam", "REAR": "rcam", "MCZ": "zcam", "SHERLOC": "shrlc", "SUPERCAM": "scam",
         "PIXL": "pixl", "SKYCAM": "skycam", "CACHECAM": "cachecam", "EDL": "edl", "LCAM": "edl", "HELI": "heli"}
_PREFIX = {"NAVCAM_LEFT": "NL", "NAVCAM_RIGHT": "NR", "FRONT_HAZCAM_LEFT_A": "FL", "FRONT_HAZCAM_RIGHT_A": "FR",
           "REAR_HAZCAM_LEFT": "RL", "REAR_HAZCAM_RIGHT": "RR", "MCZ_LEFT": "ZL", "MCZ_RIGHT": "ZR",
           "SHERLOC_WATSON": "SI", "SUPERCAM_RMI": "LR", "SKYCAM": "WS", "CACHECAM": "CC", "PIXL_MCC": "PC"}
_NAMES = {"NAVCAM_LEFT": "Left Navigation Camera (Navcam)", "NAVCAM_RIGHT": "Right Navigation Camera (Navcam)",
          "MCZ_LEFT": "Left Mastcam-Z Camera", "MCZ_RIGHT": "Right Mastcam-Z Camera",
          "FRONT_HAZCAM_LEFT_A": "Front Left Hazard Avoidance Camera (Hazcam)",
          "SHERLOC_WATSON": "SHERLOC WATSON Camera"}
LANDING = datetime(2021, 2, 18, 4, 24, 15, tzinfo=timezone.utc)
SOL = timedelta(seconds=88775.244)


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_bytes())


def fixture_records() -> list[dict]:
    """Every real Mars 2020 record we hold (sol 1994 Navcam left, sol 1965 Navcam right tiles)."""
    out = []
    for name in ("m2020_raw_latest_sol1994_navcam_left_page0_num12.json", "m2020_raw_sol1965_navcam_right_num3_tiles.json"):
        out += load_fixture(name)["images"]
    return out


def make_record(
    sol: int,
    instrument: str = "NAVCAM_LEFT",
    *,
    n: int = 0,
    sequence: str = "NCAM00100",
    tile: int = 0,
    version: int = 1,
    sample_type: str = "Full",
    received: datetime | None = None,
    host: str = "https://mars.nasa.gov",
    lmst_seconds: int = 13 * 3600,
) -> dict:
    """A record in the real schema (keys, string numbers, no-Z times, CRLF'd captions)."""
    taken = LANDING + SOL * sol + timedelta(seconds=lmst_seconds * 1.0275 + n)
    received = received or taken + timedelta(hours=10)
    sclk = 667000000 + sol * 88775 + n
    prefix = _PREFIX.get(instrument, "XX")
    thumb = "T" if sample_type == "Thumbnail" else "N"
    image_id = f"{prefix}F_{sol:04d}_{sclk:010d}_{n % 1000:03d}ECM_{thumb}0{sol // 20 % 100:02d}{sol % 10000:04d}{sequence}_{tile:02d}_295J"
    d = _DIRS.get(instrument.split("_")[0], "misc")
    base = f"{host}/mars2020-raw-images/pub/ods/surface/sol/{sol:05d}/ids/edr/browse/{d}/{image_id}{version:02d}"
    name = _NAMES.get(instrument, instrument.replace("_", " ").title())
    lm = f"{lmst_seconds // 3600:02d}:{lmst_seconds % 3600 // 60:02d}:{lmst_seconds % 60:02d}"
    return {
        "extended": {"mastAz": "UNK", "mastEl": "UNK", "sclk": f"{sclk}.5", "scaleFactor": "1", "xyz": "(0.0,0.0,0.0)",
                     "subframeRect": f"({1 + tile * 1280},1,1280,960)", "dimension": "(1280,960)"},
        "sol": sol,
        "attitude": "(0.1,0.2,0.3,0.9)",
        "image_files": {"medium": base + "_800.jpg", "small": base + "_320.jpg", "full_res": base + ".png", "large": base + "_1200.jpg"},
        "imageid": image_id,
        "camera": {"filter_name": "UNK", "camera_vector": "(1,0,0)", "camera_model_component_list": "UNK",
                   "camera_position": "(0,0,0)", "instrument": instrument, "camera_model_type": "CAHVORE"},
        "caption": f"NASA's Mars Perseverance rover acquired this image using its {name}. \n\nThis image was acquired on sol {sol} at the local mean solar time of {lm}.",
        "sample_type": sample_type,
        "date_taken_mars": f"Sol-{sol:05d}M{lm}.000",
        "credit": "NASA/JPL-Caltech/ASU" if instrument.startswith("MCZ") else "NASA/JPL-Caltech",
        "date_taken_utc": taken.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
        "json_link": f"{host}/rss/api/?feed=raw_images&category=mars2020&feedtype=json&id={image_id}",
        "link": f"{host}/mars2020/multimedia/raw-images/{image_id}",
        "drive": str(100 + sol),
        "title": f"Mars Perseverance Sol {sol}: {name}",
        "site": sol // 20,
        "date_received": received.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def jpeg(width: int = 320, height: int = 240, color: tuple[int, int, int] = (180, 90, 40), noise: bool = True) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), color)
    if noise:
        draw = ImageDraw.Draw(img)
        for k, i in enumerate(range(0, width, 16)):  # high-contrast strokes: a frame with something in it
            draw.line([(i, 0), (width - i, height)], fill=(240, 235, 220) if k % 2 else (15, 10, 5), width=3)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def serve_images(standin: "NasaStandIn", records: list[dict], data: bytes | None = None) -> None:
    """Make the stand-in serve a picture at each record's small and medium URL."""
    from urllib.parse import urlsplit

    for i, rec in enumerate(records):
        body = data if data is not None else jpeg(color=(100 + i * 7 % 150, 60 + i * 13 % 150, 40))
        for k in ("small", "medium"):
            standin.files[urlsplit(rec["image_files"][k]).path] = body


@dataclass
class Fault:
    """What the next matching request gets instead of a normal answer."""

    status: int = 200
    body: bytes | None = None
    delay: float = 0.0
    content_type: str = "application/json"
    path: str = "/rss/api/"  # which requests it applies to (prefix)
    headers: dict = field(default_factory=dict)  # e.g. Retry-After on a 429


@dataclass
class NasaStandIn(LoopbackServer):
    records: list[dict] = field(default_factory=list)
    msl_records: list[dict] = field(default_factory=list)  # Curiosity's raw_image_items (tests/msl_feed.py)
    faults: list[Fault] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # path -> bytes for image downloads
    empty_sol_fallback: bool = True
    url: str = ""

    # -------------------------------------------------------- lifecycle

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/{tail:.*}", self._handle)

    def start(self) -> "NasaStandIn":  # type: ignore[override]
        return LoopbackServer.start(self, "nasa-standin")

    @property
    def feed_requests(self) -> list[dict]:
        return [r for r in self.requests if r["path"] == "/rss/api/"]

    # -------------------------------------------------------- the feed

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        params = list(request.query.items())
        self.requests.append({"path": request.path, "params": params, "headers": dict(request.headers)})
        for i, fault in enumerate(self.faults):
            if request.path.startswith(fault.path):
                self.faults.pop(i)
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.body is not None or fault.status != 200:
                    return web.Response(status=fault.status, body=fault.body or b"", content_type=fault.content_type,
                                        headers=fault.headers)
                break
        if request.path in self.files:
            return web.Response(body=self.files[request.path], content_type="image/jpeg")
        if request.path == msl_feed.FEED_PATH:  # Curiosity's feed, in its own shape (tests/msl_feed.py)
            return web.json_response(msl_feed.answer(self.msl_records, dict(params)))
        if request.path == msl_feed.LATEST_PATH:
            return web.json_response(msl_feed.latest(self.msl_records))
        if request.path != "/rss/api/":
            return web.Response(status=404, text="Not Found")
        body = self.answer(dict(params))
        return web.Response(body=json.dumps(body).encode() + CRLF_TRAILER, content_type="application/json",
                            headers={"Cache-Control": "max-age=60", "Access-Control-Allow-Origin": "*"})

    def answer(self, q: dict[str, str]) -> dict:
        cats = q.get("category", "mars2020").split(",")
        pool = [r for r in self.records
                if ("ingenuity" in cats if r["camera"]["instrument"].startswith("HELI_") else "mars2020" in cats)]
        if q.get("latest") == "true":
            sols = sorted({r["sol"] for r in pool}, reverse=True)
            return {"latest": max((r["date_received"] for r in pool), default=None), "new_count": len(pool),
                    "sol_count": 0, "latest_sols": sols[:2], "total": len(pool),
                    "type": "mars2020-latest-images-1.1", "latest_sol": sols[0] if sols else 0}
        if "id" in q:
            return {"image": [r for r in pool if r["imageid"] == q["id"]]}
        if q.get("search"):
            codes = {c for c in q["search"].split("|") if c}
            pool = [r for r in pool if r["camera"]["instrument"] in codes]
        for key, value in q.items():
            if key.startswith("condition_") and key != "condition_1":
                val, _, rest = value.partition(":")
                fld, _, op = rest.partition(":")
                if fld == "sol":
                    if op == "gte":
                        pool = [r for r in pool if r["sol"] >= int(val)]
                    elif op == "lte":
                        pool = [r for r in pool if r["sol"] <= int(val)]
                    elif op == "in":
                        wanted = {int(v) for v in val.split(",")}
                        pool = [r for r in pool if r["sol"] in wanted]
        if "sample_type::full" in q.get("extended", ""):
            pool = [r for r in pool if r["sample_type"] == "Full"]
        if "sol" in q:
            matching = [r for r in pool if r["sol"] == int(q["sol"])]
            if not matching and self.empty_sol_fallback and pool:
                newest = max(r["sol"] for r in pool)  # NASA's quirk: another sol instead of nothing
                matching = [r for r in pool if r["sol"] == newest]
            pool = matching
        order = q.get("order", "sol desc").split()[0]
        keyname = {"sol": "sol", "date_taken": "date_taken_utc", "date_received": "date_received"}.get(order, "sol")
        pool = sorted(pool, key=lambda r: (r[keyname], r["date_received"], r["imageid"]), reverse="asc" not in q.get("order", "desc"))
        num = min(int(q.get("num", 25)), 100)  # silently capped
        page = int(q.get("page", 0))
        chunk = pool[page * num : (page + 1) * num]
        body: dict[str, Any] = {"images": copy.deepcopy(chunk), "per_page": str(num), "total_results": len(pool),
                                "type": "mars2020-images-list-1.1", "page": page, "mission": "mars2020",
                                "total_images": len(pool) * 4}
        if not chunk:
            body["error_message"] = "No more images."
        return body
