"""Mission milestones: the timeline in data/milestones.toml, lookup and autocomplete."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import cache
from importlib import resources

from bot.mars.cameras import normalize
from bot.models import UserFacingError, shown


@dataclass(frozen=True, slots=True)
class Milestone:
    slug: str
    title: str
    day: date
    about: str
    cameras: tuple[str, ...] = ()
    sol: int | None = None
    sol_exact: bool = True
    time: datetime | None = None
    certain: bool = True
    caveat: str = ""

    @property
    def moment(self) -> datetime:
        """When to show it happened: the exact time if known, else midday UTC of the day."""
        return self.time or datetime(self.day.year, self.day.month, self.day.day, 12, tzinfo=timezone.utc)


class UnknownMilestone(UserFacingError):
    def __init__(self, name: str, suggestions: list[str]):
        self.suggestions = suggestions
        hint = f" Did you mean {', '.join(f'`{s}`' for s in suggestions)}?" if suggestions else ""
        super().__init__(f"I don't know a milestone called `{shown(name)}`.{hint} Try `/milestone` for the whole timeline.")


class Timeline:
    def __init__(self, milestones: list[Milestone]):
        # Same day: events with a known time first, in time order; the rest after them.
        self.milestones = sorted(milestones, key=lambda m: (m.day, m.time is None, m.time or m.moment, m.slug))
        self.by_slug = {m.slug: m for m in self.milestones}

    def find(self, name: str) -> Milestone:
        key = normalize(name).replace(" ", "-")
        if key in self.by_slug:
            return self.by_slug[key]
        for m in self.milestones:
            if normalize(m.title) == normalize(name):
                return m
        close = difflib.get_close_matches(key, list(self.by_slug), n=3, cutoff=0.5)
        close += [m.slug for m in self.milestones if key and key in m.slug and m.slug not in close]
        raise UnknownMilestone(name.strip(), close[:3])

    def choices(self, typed: str, limit: int = 25) -> list[tuple[str, str]]:
        """(shown name, slug) for autocomplete: matches on slug or title, in timeline order."""
        key = normalize(typed)
        out = []
        for m in self.milestones:
            if not key or key in normalize(m.slug) or key in normalize(m.title):
                out.append((f"{m.day.isoformat()} · {m.title}"[:100], m.slug))
        return out[:limit]


def _milestone(d: dict) -> Milestone:
    t = d.get("time")
    return Milestone(
        slug=d["slug"], title=d["title"], day=date.fromisoformat(d["date"]), about=d["about"],
        cameras=tuple(d.get("cameras", ())), sol=d.get("sol"), sol_exact=d.get("sol_exact", True),
        time=datetime.fromisoformat(t) if t else None, certain=d["certain"], caveat=d.get("caveat", ""),
    )


@cache
def load(name: str = "milestones.toml") -> Timeline:
    """A timeline from bot/data: milestones.toml (Perseverance) or curiosity_milestones.toml."""
    text = resources.files("bot.mars").joinpath(f"data/{name}").read_text(encoding="utf-8")
    return Timeline([_milestone(d) for d in tomllib.loads(text)["milestone"]])


def default() -> Timeline:
    return load("milestones.toml")
