"""Plain values shared by the whole bot: no I/O, no discord."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple


class RoverImage(NamedTuple):
    """One picture as the bot shows it: a single exposure (all its tiles), newest version.

    A NamedTuple rather than a frozen dataclass: just as immutable, and several times cheaper to
    build, which matters when a poll or a sol brings thousands of records.
    """

    image_id: str  # NASA's imageid, which carries no version suffix
    exposure_id: str  # image_id with the tile number dropped: the tiles of one exposure share it
    sol: int
    instrument: str  # NASA's camera.instrument code, e.g. NAVCAM_LEFT
    title: str
    caption: str  # first paragraph of NASA's caption
    credit: str
    taken_utc: datetime | None
    lmst: str | None  # local mean solar time "HH:MM:SS" from date_taken_mars
    received_utc: datetime | None
    sequence: str  # NASA's sequence id (e.g. NCAM00518); "" when the id does not follow the pattern
    version: int = 1
    tiles: int = 1
    small: str = ""
    medium: str = ""
    large: str = ""
    full_res: str = ""
    link: str = ""
    mission: str = "mars2020"


@dataclass(frozen=True, slots=True)
class NewsItem:
    key: str  # the feed's guid, else the link: what makes two items the same item
    feed: str
    title: str
    link: str
    summary: str
    image: str  # the article's first picture, '' if none
    published: datetime | None


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    guild_id: int
    channel_id: int
    kind: str  # images, news, digest
    camera: str = ""  # Selection.key; '' = every camera
    codes: tuple[str, ...] = ()
    digest_time: str = "09:00"
    timezone: str = "UTC"
    role_id: int | None = None
    created_at: float = 0.0
    paused_at: float | None = None
    paused_reason: str | None = None
    threads: str = ""  # '' posts in the channel; 'text': a thread per sol; 'forum': a forum post per sol
    webhook_name: str | None = None  # post through a webhook under this name (None: as the bot)
    webhook_avatar: str | None = None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int
    key: str
    guild_id: int
    channel_id: int
    kind: str
    payload: dict
    nonce: str
    status: str
    attempts: int = 0
    message_id: int | None = None
    first_attempt_at: float | None = None  # set when first claimed for sending: from then on it may be on Discord


@dataclass(frozen=True, slots=True)
class FeedPage:
    """What one page of a raw-image feed held, after parsing."""

    images: list[RoverImage]
    total_results: int | None = None
    end: bool = False  # NASA said "No more images." or the page was short
    skipped: int = 0  # malformed records, thumbnails and duplicates left out
    raw_count: int = 0  # records on the page before filtering
    malformed: int = 0  # records that could not be read at all (schema drift shows here first)
    first_problem: str = ""  # why the first malformed record was refused


@dataclass(frozen=True, slots=True)
class MarsClock:
    """The time at the rover: sol and local mean solar time."""

    mission: str
    sol: int
    lmst_seconds: float
    utc: datetime

    @property
    def lmst(self) -> str:
        s = int(self.lmst_seconds)
        return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


# ---------------------------------------------------------------- what gets sent


@dataclass(frozen=True, slots=True)
class EmbedField:
    name: str
    value: str
    inline: bool = True


@dataclass(frozen=True, slots=True)
class Embed:
    title: str
    description: str = ""
    url: str | None = None
    image_url: str | None = None
    thumbnail_url: str | None = None
    footer: str | None = None
    timestamp: datetime | None = None
    color: int | None = None
    fields: tuple[EmbedField, ...] = ()


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    custom_id: str | None = None  # None for link buttons
    url: str | None = None
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Menu:
    """A select menu that jumps to one of several pages; each value is the page's button custom id."""

    custom_id: str
    placeholder: str
    options: tuple[tuple[str, str], ...]  # (label, value)


@dataclass(frozen=True, slots=True)
class Post:
    """A message, as plain values; bot/render.py turns it into discord objects."""

    content: str = ""
    embeds: tuple[Embed, ...] = ()
    buttons: tuple[Button, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    ping_role_id: int | None = None  # the only mention a post may ever make
    ephemeral: bool = False
    text: str = field(default="", compare=False)  # the plain-text rendering for the CLI
    menu: Menu | None = None


# ---------------------------------------------------------------- answers to bad input


def shown(text: str, limit: int = 40) -> str:
    """User input echoed back in a reply: one line, no backticks (it sits inside a code span), short."""
    flat = " ".join(str(text).replace("`", "'").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class UserFacingError(Exception):
    """Bad input or an unavailable source: the message is shown to the caller as it is."""


class UnknownCamera(UserFacingError):
    def __init__(self, name: str, suggestions: list[str]):
        self.name = name
        self.suggestions = suggestions
        hint = f" Did you mean {', '.join(f'`{s}`' for s in suggestions)}?" if suggestions else ""
        super().__init__(f"I don't know a camera called `{shown(name)}`.{hint}")


class SolOutOfRange(UserFacingError):
    """A sol before landing or after today."""


class NoImages(UserFacingError):
    """NASA has no pictures for what was asked (and, when known, why)."""


class NasaUnavailable(UserFacingError):
    """NASA's feed did not answer usefully; try again later."""
