"""The sol clock: UTC <-> sol and local mean solar time (Mars24, Allison & McEwen 2000).

Pure functions of a UTC instant. For an image, NASA's own sol and LMST are authoritative; this
module answers "what sol is it now", "when was sol N on Earth" and scheduling questions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from bot.models import MarsClock

SOL_SECONDS = 88_775.244
_MSD_RATIO = 1.0274912517
_J2000_MSD = 44796.0 - 0.0009626

# (first UTC day it applies, TAI-UTC seconds). Leap seconds are announced six months ahead;
# none has been scheduled since 2017.
_LEAP_SECONDS = (
    (datetime(1999, 1, 1, tzinfo=timezone.utc), 32),
    (datetime(2006, 1, 1, tzinfo=timezone.utc), 33),
    (datetime(2009, 1, 1, tzinfo=timezone.utc), 34),
    (datetime(2012, 7, 1, tzinfo=timezone.utc), 35),
    (datetime(2015, 7, 1, tzinfo=timezone.utc), 36),
    (datetime(2017, 1, 1, tzinfo=timezone.utc), 37),
)


@dataclass(frozen=True)
class Mission:
    key: str
    rover: str
    longitude_east: float  # the mission clock's longitude, not the exact landing site
    sol_offset: int
    landing_utc: datetime


PERSEVERANCE = Mission("mars2020", "Perseverance", 77.43, 52304, datetime(2021, 2, 18, 20, 44, tzinfo=timezone.utc))
CURIOSITY = Mission("msl", "Curiosity", 137.42, 49269, datetime(2012, 8, 6, 5, 17, 57, tzinfo=timezone.utc))
# InSight's clock longitude is the planned site, fitted to its own LMST records (within a second).
INSIGHT = Mission("insight", "InSight", 135.97, 51511, datetime(2018, 11, 26, 19, 52, 59, tzinfo=timezone.utc))
MISSIONS = {m.key: m for m in (PERSEVERANCE, CURIOSITY, INSIGHT)} | {"m2020": PERSEVERANCE, "perseverance": PERSEVERANCE, "curiosity": CURIOSITY}


def _tai_minus_utc(utc: datetime) -> int:
    offset = 32
    for start, seconds in _LEAP_SECONDS:
        if utc >= start:
            offset = seconds
    return offset


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def mars_sol_date(utc: datetime) -> float:
    utc = _as_utc(utc)
    jd_ut = 2440587.5 + utc.timestamp() / 86400
    jd_tt = jd_ut + (32.184 + _tai_minus_utc(utc)) / 86400
    return (jd_tt - 2451549.5) / _MSD_RATIO + _J2000_MSD


def clock(utc: datetime, mission: Mission) -> MarsClock:
    """The sol and LMST at the rover at this UTC instant."""
    local = mars_sol_date(utc) + mission.longitude_east / 360
    sol = math.floor(local) - mission.sol_offset
    lmst = (local - math.floor(local)) * 86400
    return MarsClock(mission=mission.key, sol=sol, lmst_seconds=lmst, utc=_as_utc(utc))


def sol_at(utc: datetime, mission: Mission) -> int:
    return clock(utc, mission).sol


def utc_of(sol: int, lmst_seconds: float, mission: Mission) -> datetime:
    """The UTC instant of a given sol and local mean solar time at the rover."""
    msd = sol + mission.sol_offset + lmst_seconds / 86400 - mission.longitude_east / 360
    jd_tt = (msd - _J2000_MSD) * _MSD_RATIO + 2451549.5
    # TT-UTC depends on the UTC date; one refinement settles it (leap seconds are whole seconds).
    guess = datetime.fromtimestamp((jd_tt - 2440587.5) * 86400 - 69.184, tz=timezone.utc)
    tt_minus_utc = 32.184 + _tai_minus_utc(guess)
    return datetime.fromtimestamp((jd_tt - 2440587.5) * 86400 - tt_minus_utc, tz=timezone.utc)


def sol_interval(sol: int, mission: Mission) -> tuple[datetime, datetime]:
    """[start, end) in UTC: LMST midnight of this sol to LMST midnight of the next."""
    return utc_of(sol, 0.0, mission), utc_of(sol + 1, 0.0, mission)


def sols_overlapping(start: datetime, end: datetime, mission: Mission) -> range:
    """Every sol that overlaps the UTC interval [start, end)."""
    first = sol_at(start, mission)
    last = sol_at(_as_utc(end) - timedelta(microseconds=1), mission)
    return range(first, last + 1)
