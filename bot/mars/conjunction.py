"""Solar conjunctions: the known reason a run of sols has few or no images.

About every 26 months Mars passes behind the Sun as seen from Earth; the teams stop commanding
every rover for about two weeks and little or nothing is sent home. A quiet feed then is expected,
not an error, and users should be told why. A conjunction is a Mars–Sun fact, so it applies to
whichever rover a sol belongs to.
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


# The 2021 and 2023 windows match the sols missing from Perseverance's own image manifest; the
# others are centred on the date of conjunction with the usual two-week moratorium, so they are
# marked approximate (Curiosity's earlier ones: April 2013, June 2015, July 2017, September 2019).
CONJUNCTIONS = (
    Conjunction("April 2013", _utc(2013, 4, 4), _utc(2013, 5, 1), True),
    Conjunction("June 2015", _utc(2015, 6, 7), _utc(2015, 6, 21), True),
    Conjunction("July 2017", _utc(2017, 7, 20), _utc(2017, 8, 4), True),
    Conjunction("September 2019", _utc(2019, 8, 26), _utc(2019, 9, 9), True),
    Conjunction("October 2021", _utc(2021, 9, 29), _utc(2021, 10, 19), False),
    Conjunction("November 2023", _utc(2023, 11, 9), _utc(2023, 11, 28), False),
    Conjunction("January 2026", _utc(2026, 1, 1), _utc(2026, 1, 20), True),
)


def during(sol: int, mission: marstime.Mission) -> Conjunction | None:
    """The conjunction a sol of this rover falls in, if any."""
    begin, end = marstime.sol_interval(sol, mission)
    for c in CONJUNCTIONS:
        if begin < c.end and end > c.start:
            return c
    return None


def explain(c: Conjunction) -> str:
    about = "around " if c.approximate else ""
    return (f"This sol falls {about}the solar conjunction of {c.name}, when Mars was behind the Sun as seen from "
            "Earth and the rover sent few or no images home.")
