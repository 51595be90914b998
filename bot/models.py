"""Plain values shared by the whole bot: no I/O, no discord."""

from __future__ import annotations

import json
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
    kind: str  # images, news, digest, drives
    mission: str = "mars2020"  # whose pictures or drives ("mars2020", "msl"); '' for a digest of every rover
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
class ThreadRoute:
    """A post goes into the thread of its sol (a forum post, or a thread in a text channel)."""
    sol: int
    name: str
    forum: bool
    mission: str  # whose sol: "mars2020", "msl" (threads are kept per channel, rover and sol)


@dataclass(frozen=True, slots=True)
class WebhookRoute:
    """A post goes out through the channel's webhook, under this name and avatar."""
    name: str
    avatar: str | None = None


@dataclass(frozen=True, slots=True)
class Payload:
    """What the outbox keeps of a post: Discord's JSON for it, its files by content hash, who it
    pings, how it is delivered, and what the digest and the product step need to know of it.
    Stored as JSON (to_json/from_json); "files" and "product" keep those names because the
    retention SQL reads them."""
    content: str = ""
    embeds: tuple[dict, ...] = ()
    files: tuple[tuple[str, str], ...] = ()  # (filename, blob hash)
    role_ids: tuple[int, ...] = ()
    summary_label: str = ""  # "Navcam", "news": what the digest calls it when the budget held it
    count: int = 0  # pictures (or items) it carries
    exposures: tuple[str, ...] = ()  # image posts: the exposures shown, so a late frame can join
    rolled_up: int = 0  # image posts: how many groups a roll-up absorbed
    product: str | None = None  # image posts: None = not looked at yet; "" = none; else its filename
    thread: ThreadRoute | None = None
    webhook: WebhookRoute | None = None

    @property
    def role_id(self) -> int | None:
        return self.role_ids[0] if self.role_ids else None

    def to_json(self) -> str:
        out: dict = {"content": self.content, "embeds": list(self.embeds), "files": [list(f) for f in self.files]}
        if self.role_ids:
            out["role_ids"] = list(self.role_ids)
        for name in ("summary_label", "count", "rolled_up"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        if self.exposures:
            out["exposures"] = list(self.exposures)
        if self.product is not None:
            out["product"] = self.product
        delivery = {}
        if self.thread is not None:
            delivery["thread"] = {"sol": self.thread.sol, "name": self.thread.name, "forum": self.thread.forum,
                                  "mission": self.thread.mission}
        if self.webhook is not None:
            delivery["webhook"] = {"name": self.webhook.name, "avatar": self.webhook.avatar}
        if delivery:
            out["delivery"] = delivery
        return json.dumps(out)

    @classmethod
    def from_json(cls, text: str) -> "Payload":
        d = json.loads(text)
        delivery = d.get("delivery") or {}
        thread, hook = delivery.get("thread"), delivery.get("webhook")
        roles = d.get("role_ids") or ([d["role_id"]] if d.get("role_id") else [])  # rows written before role_ids
        return cls(content=d.get("content") or "", embeds=tuple(d.get("embeds") or ()),
                   files=tuple((str(n), str(h)) for n, h in d.get("files") or ()), role_ids=tuple(int(r) for r in roles),
                   summary_label=d.get("summary_label") or "", count=int(d.get("count") or 0),
                   exposures=tuple(d.get("exposures") or ()), rolled_up=int(d.get("rolled_up") or 0),
                   product=d.get("product"),
                   # rows queued before Curiosity had threads were all Perseverance's
                   thread=ThreadRoute(int(thread["sol"]), str(thread["name"]), bool(thread.get("forum")),
                                      str(thread.get("mission") or "mars2020")) if thread else None,
                   webhook=WebhookRoute(str(hook.get("name") or "roverbot"), hook.get("avatar")) if hook else None)


@dataclass(frozen=True, slots=True)
class PostKey:
    """What makes a post the same post (the outbox never holds two of one key): its kind, its
    channel, and what it is about. Written once as text; never parsed back."""
    kind: str
    channel_id: int
    about: tuple[str, ...]

    def __str__(self) -> str:
        return ":".join((self.kind, str(self.channel_id), *self.about))

    @classmethod
    def images(cls, channel_id: int, poll_id: int, group: "GroupKey") -> "PostKey":
        # Keyed by channel, not subscription: two subscriptions of one channel share the post.
        return cls("images", channel_id, (str(poll_id), str(group)))

    @classmethod
    def news(cls, channel_id: int, item_key: str) -> "PostKey":
        return cls("news", channel_id, (item_key,))

    @classmethod
    def digest(cls, channel_id: int, local_date: str) -> "PostKey":
        return cls("digest", channel_id, (local_date,))

    @classmethod
    def drive(cls, channel_id: int, mission: str, site: int, drive: int) -> "PostKey":
        return cls("drives", channel_id, (mission, str(site), str(drive)))

    @classmethod
    def alert(cls, channel_id: int, *about: object) -> "PostKey":
        return cls("alert", channel_id, tuple(str(a) for a in about))


@dataclass(frozen=True, slots=True)
class GroupKey:
    """A group of pictures as posts see it: a sol, a camera family and a sequence (or a roll-up).
    Kept with image posts so the rest of a sequence arriving later joins the unsent post."""
    sol: int
    family: str
    sequence: str

    def __str__(self) -> str:
        return f"{self.sol}:{self.family}:{self.sequence}"

    @classmethod
    def parse(cls, text: str) -> "GroupKey":
        sol, family, sequence = text.split(":", 2)
        return cls(int(sol), family, sequence)


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int
    key: str
    guild_id: int
    channel_id: int
    kind: str
    payload: Payload
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


@dataclass(frozen=True, slots=True)
class Shards:
    """The gateway shards one process runs: which ids of how many. Discord puts a server on shard
    (guild_id >> 22) % count; a process delivers only to the servers on its own shards."""
    ids: tuple[int, ...]
    count: int

    def owns(self, guild_id: int) -> bool:
        return (guild_id >> 22) % self.count in self.ids

    @property
    def everything(self) -> bool:
        return len(self.ids) == self.count

    def __str__(self) -> str:
        return f"{','.join(map(str, self.ids))} of {self.count}"

    @classmethod
    def parse(cls, spec: str, count: int) -> "Shards":
        """"0-3,6" of 16 -> ids (0, 1, 2, 3, 6); ValueError with a reason for anything else."""
        if count < 1:
            raise ValueError(f"the shard count must be at least 1, not {count}")
        ids: set[int] = set()
        for part in spec.replace(" ", "").split(","):
            if not part:
                continue
            lo, _, hi = part.partition("-")
            if not lo.isdigit() or (hi and not hi.isdigit()):
                raise ValueError(f"{part!r} is not a shard id or a range like 0-3")
            first, last = int(lo), int(hi or lo)
            if first > last or last >= count:
                raise ValueError(f"shards {part} are outside 0-{count - 1}")
            ids.update(range(first, last + 1))
        if not ids:
            raise ValueError("no shards given")
        return cls(tuple(sorted(ids)), count)
