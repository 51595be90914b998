"""Answers about where a rover is and how far it drove, from MMGIS values (sources/mmgis.py).

Plain values in, plain values out: no network, no Discord. The caller fetches the layers, keeps
the previous position, and renders the text and the map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence

import numpy as np

from bot.mars import marstime, rovers
from bot.imagery.projection import METRES_PER_MILE, distance_m
from bot.sources.mmgis import Localization, MosaicRef, Traverse

METRES_PER_FOOT = 0.3048
# NASA's rover clocks (SCLK) count seconds from J2000 expressed in UTC; without the clock-drift
# kernel this is good to about a minute, which is plenty to put a drive in the right day.
SCLK_EPOCH = datetime(2000, 1, 1, 11, 58, 55, 816000, tzinfo=timezone.utc)
# When only the sol of a drive is known, place it at 14:00 local solar time: drives run in the
# Martian early afternoon (the sol-1840 one ran 11:39-12:21 LMST by its SCLK).
DRIVE_LMST_SECONDS = 14 * 3600
# A new site/drive counter with the rover within this many metres is not a move worth a post
# (a "site increment, no motion" record, or a re-localisation in place).
MOVED_M = 0.5

LANDING_SITES = {r.mission.key: r.landing for r in rovers.ROVERS.values()}


def _miles(metres: float) -> float:
    return metres / METRES_PER_MILE


def sclk_to_utc(sclk: float) -> datetime:
    return SCLK_EPOCH + timedelta(seconds=float(sclk))


def ago(then: datetime, now: datetime) -> str:
    """A rough, human 'how long ago'."""
    seconds = (now - then).total_seconds()
    if seconds < 0:
        return "just now"
    if seconds < 90 * 60:
        return f"about {max(1, round(seconds / 60))} minutes ago"
    if seconds < 36 * 3600:
        return f"about {round(seconds / 3600)} hours ago"
    days = round(seconds / 86400)
    return f"about {days} day{'s' if days != 1 else ''} ago"


def drive_instant(sol: int, mission: marstime.Mission) -> datetime:
    """When a drive on this sol most likely ended, if nothing more precise is known."""
    return marstime.utc_of(sol, DRIVE_LMST_SECONDS, mission)


@dataclass(frozen=True)
class Where:
    """The content of a /where answer."""

    rover: str
    sol: int
    site: int
    drive: int
    lat: float
    lon: float
    elevation_m: float | None
    last_drive_m: float | None
    total_m: float | None
    localized_utc: datetime  # an estimate: NASA publishes the sol, not the time
    ago: str

    @property
    def total_km(self) -> float | None:
        return None if self.total_m is None else self.total_m / 1000

    @property
    def total_mi(self) -> float | None:
        return None if self.total_m is None else _miles(self.total_m)

    @property
    def last_drive_ft(self) -> float | None:
        return None if self.last_drive_m is None else self.last_drive_m / METRES_PER_FOOT

    def lines(self) -> list[str]:
        ns = "N" if self.lat >= 0 else "S"
        ew = "E" if self.lon >= 0 else "W"
        out = [
            f"{self.rover} is at {abs(self.lat):.5f}°{ns}, {abs(self.lon):.5f}°{ew} (site {self.site}, drive {self.drive}).",
            f"Localized on sol {self.sol}, {self.ago}.",
            f"Elevation: {self.elevation_m:,.0f} m" if self.elevation_m is not None else "Elevation: not published",
        ]
        if self.last_drive_m is not None:
            out.append(f"Last drive: {self.last_drive_m:,.1f} m ({self.last_drive_ft:,.0f} ft)")
        if self.total_m is not None:
            out.append(f"Driven since landing: {self.total_km:,.2f} km ({self.total_mi:,.2f} mi)")
        return out


def where_from(loc: Localization, now: datetime, *, traverse: Traverse | None = None,
               mission: marstime.Mission) -> Where:
    """The /where answer for a localisation. The localisation time comes from the traverse's
    SCLK for that sol when the traverse reaches it, else from the sol."""
    when = drive_instant(loc.sol, mission)
    if traverse is not None and len(traverse.sols):
        hits = np.flatnonzero((traverse.sols == loc.sol) & ~np.isnan(traverse.sclk_end))
        if len(hits):
            when = sclk_to_utc(traverse.sclk_end[hits[-1]])
    return Where(mission.rover, loc.sol, loc.site, loc.drive, loc.lat, loc.lon, loc.elevation_m, loc.dist_m,
                 loc.dist_total_m, when, ago(when, now))


@dataclass(frozen=True)
class Drive:
    """A new end-of-drive localisation, worth a post."""

    sol: int
    site: int
    drive: int
    metres: float | None  # this drive, as NASA reports it
    total_m: float | None
    lat: float
    lon: float
    mosaic: MosaicRef | None

    @property
    def total_km(self) -> float | None:
        return None if self.total_m is None else self.total_m / 1000

    def text(self) -> str:
        """e.g. 'drove 49.9 m on sol 1840 (41.74 km since landing)'."""
        head = f"drove {self.metres:,.1f} m on sol {self.sol}" if self.metres is not None else f"moved on sol {self.sol}"
        return head + (f" ({self.total_km:,.2f} km since landing)" if self.total_km is not None else "")


def drive_from(previous: Localization | None, current: Localization | None) -> Drive | None:
    """A Drive when `current` is a newer end-of-drive position than `previous`, else None.

    None for: nothing known before (the first read is a baseline, not news); no current position
    (NASA's file can come back empty); the same or an older site/drive (a stale cache answering);
    and a new counter without motion. The caller keeps `current` as the next `previous`
    whenever it is not None."""
    if previous is None or current is None or current.key <= previous.key:
        return None
    moved = distance_m(previous.lat, previous.lon, current.lat, current.lon)
    if moved < MOVED_M and not (current.dist_m or 0) > MOVED_M:
        return None
    metres = current.dist_m
    if metres is None and current.dist_total_m is not None and previous.dist_total_m is not None:
        metres = current.dist_total_m - previous.dist_total_m
    return Drive(current.sol, current.site, current.drive, metres, current.dist_total_m, current.lat, current.lon,
                 current.mosaic)


def locate(site: int, drive: int, localizations: Sequence[Localization]) -> str | None:
    """Where a picture tagged with this site/drive was taken, in words; None when the waypoints do
    not say (an unknown site, or a drive newer than the last published localisation).

    A site/drive that is a localisation is the end of that drive; one between two localisations of
    the same site was taken on the way to the later one."""
    locs = sorted((loc for loc in localizations if loc.site == site), key=lambda loc: loc.drive)
    for i, loc in enumerate(locs):
        if loc.drive == drive:
            return f"at the end of the sol-{loc.sol} drive{_from_landing(loc.dist_total_m)}"
        if loc.drive > drive:
            if i == 0 and drive != 0:
                return f"on the way to the sol-{loc.sol} stop{_from_landing(loc.dist_total_m, about=True)}"
            if i == 0:
                return None
            return f"during the sol-{loc.sol} drive{_from_landing(loc.dist_total_m, about=True)}"
    return None


def _from_landing(total_m: float | None, about: bool = False) -> str:
    if total_m is None:
        return ""
    return f", {'about ' if about else ''}{total_m / 1000:,.1f} km driven from the landing site"


def driven_between(start: datetime, end: datetime, *, traverse: Traverse | None = None,
                   localizations: Iterable[Localization] = (),
                   mission: marstime.Mission) -> float:
    """Metres driven in the UTC interval [start, end): traverse segments by their SCLK end time
    (or their sol), then localisations for sols past the end of the traverse file, which lags."""
    total = 0.0
    last_sol = -1
    if traverse is not None and len(traverse.sols):
        last_sol = int(traverse.sols.max())
        for sol, length, sclk in zip(traverse.sols.tolist(), traverse.lengths_m.tolist(), traverse.sclk_end.tolist()):
            if math.isnan(length):
                continue
            when = sclk_to_utc(sclk) if not math.isnan(sclk) else drive_instant(sol, mission)
            if start <= when < end:
                total += length
    for loc in localizations:
        if loc.sol > last_sol and loc.dist_m is not None and start <= drive_instant(loc.sol, mission) < end:
            total += loc.dist_m
    return total


def driven_on_sols(first: int, last: int, *, traverse: Traverse | None = None,
                   localizations: Iterable[Localization] = ()) -> float:
    """Metres driven on sols first..last inclusive (same sources and precedence as driven_between)."""
    total = 0.0
    last_sol = -1
    if traverse is not None and len(traverse.sols):
        last_sol = int(traverse.sols.max())
        for sol, length in zip(traverse.sols.tolist(), traverse.lengths_m.tolist()):
            if first <= sol <= last and not math.isnan(length):
                total += length
    for loc in localizations:
        if loc.sol > last_sol and first <= loc.sol <= last and loc.dist_m is not None:
            total += loc.dist_m
    return total
