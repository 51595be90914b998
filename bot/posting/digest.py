"""The daily digest: when it is due in a channel's own time zone, and what it holds.

Due-ness is computed from the wall clock in the subscription's IANA zone (zoneinfo), so 09:00
Europe/Berlin stays 09:00 across daylight-saving changes. A digest is keyed by its local date, so
there is never more than one per channel per day, and after downtime only the most recent missed
day gets one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, Sequence
from zoneinfo import ZoneInfo

from bot.mars import conjunction, marstime
from bot.imagery import pictures as images
from bot.posting import interest
from bot.mars.cameras import Catalogue
from bot.models import NewsItem, Payload, RoverImage
from bot.sources.nasa import NasaClient, NasaError

log = logging.getLogger("roverbot.digest")

SHEET_FRAMES = 12
SPARE_FRAMES = 6  # fetched in case some turn out blank or broken
SHEET_CACHE = 8  # contact sheets kept for reuse


def local_moment(day: date, hhmm: str, tz: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time on a local date. A time skipped by a DST change (e.g.
    02:30 on the spring-forward night) happens at the first valid moment after it."""
    h, m = map(int, hhmm.split(":"))
    # zoneinfo resolves a skipped wall time with the offset before the change (02:30 -> 03:30 on
    # the spring-forward night) and a repeated one (fold=0) as its first occurrence: both once.
    return datetime.combine(day, time(h, m), tzinfo=tz).astimezone(timezone.utc)


def last_due(now: datetime, tz_name: str, hhmm: str) -> tuple[date, datetime]:
    """The most recent (local date, UTC moment) at which this digest was due, at or before now."""
    tz = ZoneInfo(tz_name)
    today = now.astimezone(tz).date()
    moment = local_moment(today, hhmm, tz)
    if moment > now:
        today -= timedelta(days=1)
        moment = local_moment(today, hhmm, tz)
    return today, moment


def next_due(now: datetime, tz_name: str, hhmm: str) -> datetime:
    tz = ZoneInfo(tz_name)
    day, moment = last_due(now, tz_name, hhmm)
    return local_moment(day + timedelta(days=1), hhmm, tz)


@dataclass
class RoverDay:
    """One rover's part of a digest."""

    rover: str  # "Perseverance"
    catalogue: Catalogue
    images: list[RoverImage]
    picture: bytes | None = None
    picture_frames: int = 0
    quiet_reason: str = ""
    driven_m: float | None = None  # metres it drove in the window; None when NASA's map could not say
    drive_map: bytes | None = None  # a small map, when it moved


@dataclass
class DigestContent:
    """Everything a digest shows, before it becomes a Post: one part per rover it covers, and what
    they share (news, what this channel's hourly budget held back)."""

    title: str
    start: datetime
    end: datetime
    days: list[RoverDay]
    news: list[NewsItem]
    held: list[Payload] = field(default_factory=list)  # posts the budget held back

    @property
    def images(self) -> list[RoverImage]:
        return [i for d in self.days for i in d.images]


class DigestMaker:
    """Builds digest content; the contact sheet for a given set of frames is composed once and reused."""

    def __init__(self, nasa: NasaClient, *, image_hosts: Sequence[str], max_image_bytes: int,
                 clock: Callable[[], datetime]):
        self.nasa = nasa
        self.image_hosts = tuple(image_hosts)
        self.max_image_bytes = max_image_bytes
        self.clock = clock
        self._sheets: dict[str, tuple[bytes, int]] = {}  # recent sheets: channels due together share one
        # One worker for Pillow: decoding is memory-heavy, and every extra thread gets its own malloc
        # arena, which the soak showed as slowly rising memory.
        self._pillow = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pillow")
        self._locks: dict[str, asyncio.Lock] = {}
        self.bytes_downloaded = 0
        self.sheets_composed = 0

    async def picture(self, found: Sequence[RoverImage], catalogue: Catalogue) -> tuple[bytes | None, int]:
        """A contact sheet of the best frames from NASA's small renditions (never full resolution)."""
        # The day's best frames by the same interest as posts (descent and sky-crane frames on landing day).
        candidates = interest.pick_frames(found, SHEET_FRAMES + SPARE_FRAMES,
                                          interest.Context(now=self.clock(), catalogue=catalogue))
        if not candidates:
            return None, 0
        key = hashlib.sha256("|".join(i.exposure_id for i in candidates).encode()).hexdigest()
        if key in self._sheets:
            return self._sheets[key]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # many channels due at once share one composition
            if key in self._sheets:
                return self._sheets[key]
            frames = await self._download(candidates, catalogue)
            try:
                sheet = await asyncio.get_running_loop().run_in_executor(
                    self._pillow, functools.partial(images.contact_sheet, frames, limit=SHEET_FRAMES))
            except images.BadImage as e:
                log.warning("no digest picture: %s", e)
                sheet = (b"", 0)
            self.sheets_composed += 1
            result = (sheet[0] or None, sheet[1])
            self._sheets[key] = result
            if len(self._sheets) > SHEET_CACHE:
                self._sheets.pop(next(iter(self._sheets)))
            return result

    async def _download(self, candidates: Sequence[RoverImage], catalogue: Catalogue) -> list[images.Frame]:
        async def one(img: RoverImage) -> images.Frame | None:
            url = img.small or img.medium  # small renditions: a sheet cell is 256 px wide anyway
            try:
                data = await self.nasa.image(url, allowed_hosts=self.image_hosts, max_bytes=self.max_image_bytes)
            except NasaError as e:
                log.warning("digest frame %s skipped: %s", img.exposure_id, e)
                return None
            self.bytes_downloaded += len(data)
            return images.Frame(data, f"{catalogue.camera(img.instrument).short} · {img.sol}")

        got = await asyncio.gather(*(one(i) for i in candidates))
        return [f for f in got if f is not None]

    def quiet_reason(self, start: datetime, end: datetime, mission: marstime.Mission) -> str:
        for sol in marstime.sols_overlapping(start, end, mission):
            gap = conjunction.during(sol, mission)
            if gap:
                return conjunction.explain(gap)
        return "NASA's feed brought no new pictures in this time; the rover may be driving, or the next downlink is still to come."
