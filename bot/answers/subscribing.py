"""Checking what an admin asks for in /subscribe, before anything is stored. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.mars.cameras import Selection
from bot.mars.rovers import Rover
from bot.models import UserFacingError, shown

KINDS = ("images", "news", "digest", "drives")


class BadSubscription(UserFacingError):
    """A /subscribe argument that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Request:
    kind: str
    camera: Selection | None
    digest_time: str
    timezone: str
    mission: str  # whose posts: "mars2020", "msl"; '' for news (every rover's) or a digest of every rover


def clock_time(text: str) -> str:
    m = re.fullmatch(r"\s*(\d{1,2})(?::(\d{2}))?\s*(am|pm)?\s*", text.lower())
    if not m:
        raise BadSubscription(f"`{shown(text)}` isn't a time of day; use 24-hour HH:MM, e.g. `09:00` or `18:30`.")
    h, mi, ampm = int(m[1]), int(m[2] or 0), m[3]
    if ampm:
        if not 1 <= h <= 12:
            raise BadSubscription(f"`{shown(text)}` isn't a time of day.")
        h = h % 12 + (12 if ampm == "pm" else 0)
    if h > 23 or mi > 59:
        raise BadSubscription(f"`{shown(text)}` isn't a time of day; use 24-hour HH:MM, e.g. `09:00`.")
    return f"{h:02d}:{mi:02d}"


@cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/", "posix/", "right/"))))


def zone(text: str) -> str:
    name = text.strip()
    for candidate in (name, name.replace(" ", "_")):
        try:
            ZoneInfo(candidate)
            return candidate
        except (ZoneInfoNotFoundError, ValueError):
            continue
    lowered = {z.lower(): z for z in _zones()}
    if name.lower().replace(" ", "_") in lowered:
        return lowered[name.lower().replace(" ", "_")]
    hints = [z for z in _zones() if name.lower().replace(" ", "_") in z.lower()][:3]
    hint = f" Did you mean {', '.join(f'`{h}`' for h in hints)}?" if hints else ""
    raise BadSubscription(f"`{shown(name)}` isn't a time zone I know; use an IANA name such as `Europe/Berlin` or `America/Los_Angeles`.{hint}")


def zone_choices(typed: str, limit: int = 25) -> list[str]:
    key = typed.strip().lower().replace(" ", "_")
    return [z for z in _zones() if key in z.lower()][:limit]


def check(kind: str, camera: str | None, time: str | None, tz: str | None, *, rover: Rover | None,
          default_time: str, default_tz: str) -> Request:
    """rover: whose posts (None: every rover, which only a digest can follow)."""
    if kind not in KINDS:
        raise BadSubscription(f"`{shown(kind)}` isn't something I post; choose images, news, digest or drives.")
    if rover is None and kind in ("images", "drives"):
        raise BadSubscription(f"{kind.title()} posts follow one rover; pick `rover:perseverance` or `rover:curiosity`"
                              " (only a digest can cover both).")
    if rover is None and camera:
        raise BadSubscription("A digest of both rovers covers every camera; pick one rover to choose a camera.")
    if kind in ("news", "drives") and camera:
        raise BadSubscription(f"{kind.title()} posts have no camera; leave `camera` empty for a {kind} subscription.")
    if kind != "digest" and (time or tz):
        raise BadSubscription("`time` and `timezone` set when the daily digest arrives; they only apply to `kind:digest`.")
    selection = rover.catalogue.resolve(camera) if camera and rover is not None else None
    mission = "" if kind == "news" or rover is None else rover.mission.key
    return Request(kind, selection, clock_time(time) if time else default_time, zone(tz) if tz else default_tz, mission)


@dataclass(frozen=True)
class Delivery:
    threads: str  # '', 'text' (a thread per sol in a text channel) or 'forum' (a forum post per sol)
    webhook_name: str | None
    webhook_avatar: str | None


def delivery(kind: str, *, forum: bool, thread_per_sol: bool, webhook_name: str | None,
             webhook_avatar: str | None) -> Delivery:
    """Where and as whom posts appear. Only pictures and drives belong to a sol, so only they can
    go into a thread per sol (a forum channel takes nothing else)."""
    if forum and kind not in ("images", "drives"):
        raise BadSubscription(f"A forum channel gets one post per sol, so it takes `images` or `drives`; put {kind} in a "
                              "text channel.")
    if thread_per_sol and kind not in ("images", "drives"):
        raise BadSubscription("`thread_per_sol` groups pictures and drives by sol; it doesn't apply to "
                              f"`kind:{kind}`.")
    name = webhook_name.strip() if webhook_name else None
    if name is not None:
        # Discord's rules for a webhook's name: 1-80 characters, never "discord" or "clyde".
        if not 1 <= len(name) <= 80:
            raise BadSubscription("`post_as` must be 1 to 80 characters, e.g. `Perseverance`.")
        if "discord" in name.lower() or "clyde" in name.lower():
            raise BadSubscription("Discord doesn't allow \"discord\" or \"clyde\" in a webhook's name; pick another `post_as`.")
    avatar = webhook_avatar.strip() if webhook_avatar else None
    if avatar is not None:
        if name is None:
            raise BadSubscription("`avatar` is the picture for `post_as`; set `post_as` too (e.g. `Perseverance`).")
        if not re.fullmatch(r"https://\S+", avatar):
            raise BadSubscription(f"`{shown(avatar)}` isn't a picture address; use an https:// link to an image.")
    return Delivery("forum" if forum else "text" if thread_per_sol else "", name, avatar)
