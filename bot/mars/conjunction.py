"""Solar conjunctions: the known reason a run of sols has few or no images.

About every 26 months Mars passes behind the Sun as seen from Earth; the team stops commanding the
rover for about two weeks and little or nothing is sent home. A quiet feed then is expected, not an
error, and users should be told why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from bot.mars import marstime


@dataclass(frozen=True)
class Conjunction:
    name: str
    start: datetime
    end: datetime
    approximate: bool  # dates not confirmed by a mission source


def _utc(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=timezone.utc)


# The 2021 and 2023 windows match the sols missing from NASA's own image manifest; the 2026 one is
# centred on the date of conjunction (9 Jan 2026) with the usual two-week moratorium.
PERSEVERANCE_CONJUNCTIONS = (
    Conjunction("October 2021", _utc(2021, 9, 29), _utc(2021, 10, 19), False),
    Conjunction("November 2023", _utc(2023, 11, 9), _utc(2023, 11, 28), False),
    Conjunction("January 2026", _utc(2026, 1, 1), _utc(2026, 1, 20), True),
)


def during(sol: int, mission: marstime.Mission = marstime.PERSEVERANCE) -> Conjunction | None:
    """The conjunction a sol falls in, if any (Perseverance only)."""
    if mission is not marstime.PERSEVERANCE:
        return None
    begin, end = marstime.sol_interval(sol, mission)
    for c in PERSEVERANCE_CONJUNCTIONS:
        if begin < c.end and end > c.start:
            return c
    return None


def explain(c: Conjunction) -> str:
    about = "around " if c.approximate else ""
    return (f"This sol falls {about}the solar conjunction of {c.name}, when Mars was behind the Sun as seen from "
            "Earth and the rover sent few or no images home.")
