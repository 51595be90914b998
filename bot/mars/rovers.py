"""The rovers roverbot serves, each a plain value passed to whatever depends on the rover.

A rover is its mission clock (sol 0, longitude), its camera catalogue and milestones (data files),
and which feed shape it has. Adding one is a data file or two and an entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from bot.mars import cameras, marstime, milestones
from bot.mars.cameras import Catalogue
from bot.mars.milestones import Timeline


@dataclass(frozen=True)
class Rover:
    key: str  # what people type: perseverance, curiosity
    mission: marstime.Mission
    feed: str  # "m2020" or "msl": which raw-image feed adapter (bot/sources/feeds.py)
    cameras_file: str
    milestones_file: str
    panoramas: bool  # its records carry camera models and attitude for assembling products
    map_code: str  # its mission on NASA's map (MMGIS): M20, MSL
    landing: tuple[float, float]  # published landing coordinates (planetocentric latitude, east longitude)

    @property
    def name(self) -> str:
        return self.mission.rover

    @property
    def catalogue(self) -> Catalogue:
        return _catalogue(self.cameras_file)

    @property
    def timeline(self) -> Timeline:
        return _timeline(self.milestones_file)


@cache
def _catalogue(name: str) -> Catalogue:
    return cameras.load(name)


@cache
def _timeline(name: str) -> Timeline:
    return milestones.load(name)


PERSEVERANCE = Rover("perseverance", marstime.PERSEVERANCE, "m2020", "cameras.toml", "milestones.toml", True,
                     "M20", (18.4447, 77.4508))  # Octavia E. Butler Landing, Jezero
CURIOSITY = Rover("curiosity", marstime.CURIOSITY, "msl", "curiosity_cameras.toml", "curiosity_milestones.toml", False,
                  "MSL", (-4.5895, 137.4417))  # Bradbury Landing, Gale
ROVERS = {r.key: r for r in (PERSEVERANCE, CURIOSITY)}
BY_MISSION = {r.mission.key: r for r in ROVERS.values()}
# The rover a server sees until an admin picks another with /rover (the product's choice, made
# once here; library code takes the rover it is given).
SERVER_DEFAULT = PERSEVERANCE


def find(name: str | None) -> Rover:
    """A rover by what a user typed (perseverance, percy, m2020, curiosity, msl); ValueError if none."""
    key = (name or "").strip().lower()
    aliases = {"percy": "perseverance", "m2020": "perseverance", "mars2020": "perseverance", "msl": "curiosity"}
    key = aliases.get(key, key)
    if key not in ROVERS:
        raise ValueError(name)
    return ROVERS[key]
