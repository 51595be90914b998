"""A loopback stand-in for Discord: the REST API and the gateway, enough of both for discord.py's
real client, command tree, views and rate limiter to run against it.

It enforces Discord's documented message limits and answers with Discord's real error codes
(50035 invalid form body, 40060 interaction already acknowledged, 10062 unknown interaction,
50013 missing permissions, 10003 unknown channel), so tests fail when the bot would fail on the
real service. Facts it relies on are in shared/docs/discord-offline-testing.md.

It also models what bites a bot only in production: nonces deduplicated for a window only
(`nonce_window_s`, on the stand-in's clock: `advance()`), history without nonces, signed CDN attachment
URLs that expire after 24 h, the invalid-request limit (Cloudflare bans), forum channels and threads,
channel webhooks, and sharding (GET /gateway/bot, shard-filtered READY/GUILD_CREATE, close codes
4010/4011). Facts come from discord-api-docs; where Discord documents no detail, a comment says so.

It runs on its own thread and event loop: tests in any loop, and subprocesses, can use it.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import itertools
import json
import re
import time
from urllib.parse import parse_qs, urlsplit
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from aiohttp import WSMsgType, web

from tests.loopback import LoopbackServer

DISCORD_EPOCH_MS = 1420070400000
_counter = itertools.count(1)


def snowflake(at: float | None = None) -> int:
    """A snowflake carrying a timestamp (now, or `at` in Unix seconds), unique within the test run."""
    return ((int((time.time() if at is None else at) * 1000) - DISCORD_EPOCH_MS) << 22) | (next(_counter) & 0x3FFFFF)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


# Permission bits used by the bot.
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
MENTION_EVERYONE = 1 << 17
MANAGE_GUILD = 1 << 5
ADMINISTRATOR = 1 << 3
READ_MESSAGE_HISTORY = 1 << 16
ALL_TEXT = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY
MANAGE_MESSAGES = 1 << 13
MANAGE_CHANNELS = 1 << 4
MANAGE_WEBHOOKS = 1 << 29
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38
# What a bot role typically has in a forum: posting a thread needs SEND_MESSAGES there, talking in
# a thread SEND_MESSAGES_IN_THREADS (SEND_MESSAGES has no effect in threads).
ALL_THREADS = ALL_TEXT | CREATE_PUBLIC_THREADS | CREATE_PRIVATE_THREADS | SEND_MESSAGES_IN_THREADS

# Channel types (Discord's numbers).
GUILD_TEXT, PUBLIC_THREAD, PRIVATE_THREAD, GUILD_FORUM = 0, 11, 12, 15
THREAD_TYPES = (PUBLIC_THREAD, PRIVATE_THREAD)
ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)  # minutes; the only values Discord accepts

# Discord keeps a signed CDN attachment URL working for 24 hours (the `ex` parameter), then answers 404.
ATTACHMENT_TTL_S = 24 * 3600.0


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py compares Content-Type with ==: no "; charset=" suffix, or it gets a str back.
    return web.Response(body=json.dumps(obj).encode(), status=status, headers={"Content-Type": "application/json", **(headers or {})})


class Rejection(Exception):
    def __init__(self, status: int, code: int, message: str, errors: dict | None = None):
        self.status, self.code, self.message, self.errors = status, code, message, errors or {}


def check_message(body: dict, files: int = 0) -> None:
    """Discord's documented limits for a message body; raises Rejection(50035) like Discord."""
    errors: dict[str, str] = {}
    content = body.get("content") or ""
    if len(content) > 2000:
        errors["content"] = "Must be 2000 or fewer in length."
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        errors["embeds"] = "Must be 10 or fewer in length."
    total = 0
    for i, e in enumerate(embeds):
        title, desc = e.get("title") or "", e.get("description") or ""
        footer = (e.get("footer") or {}).get("text") or ""
        author = (e.get("author") or {}).get("name") or ""
        fields = e.get("fields") or []
        if len(title) > 256:
            errors[f"embeds.{i}.title"] = "Must be 256 or fewer in length."
        if len(desc) > 4096:
            errors[f"embeds.{i}.description"] = "Must be 4096 or fewer in length."
        if len(fields) > 25:
            errors[f"embeds.{i}.fields"] = "Must be 25 or fewer in length."
        if len(footer) > 2048:
            errors[f"embeds.{i}.footer.text"] = "Must be 2048 or fewer in length."
        for j, f in enumerate(fields):
            if not f.get("name") or len(f["name"]) > 256:
                errors[f"embeds.{i}.fields.{j}.name"] = "Must be between 1 and 256 in length."
            if not f.get("value") or len(f["value"]) > 1024:
                errors[f"embeds.{i}.fields.{j}.value"] = "Must be between 1 and 1024 in length."
        for k in ("image", "thumbnail"):
            url = (e.get(k) or {}).get("url")
            if url is not None and not re.match(r"^(https?|attachment)://", url):
                errors[f"embeds.{i}.{k}.url"] = "Scheme must be one of ('http', 'https', 'attachment')."
        total += len(title) + len(desc) + len(footer) + len(author) + sum(len(f.get("name", "")) + len(f.get("value", "")) for f in fields)
    if total > 6000:
        errors["embeds"] = "Embed size exceeds maximum size of 6000"
    if files + len([a for a in body.get("attachments") or [] if "id" in a and files == 0]) > 10:
        errors["attachments"] = "Must be 10 or fewer in length."
    rows = body.get("components") or []
    if len(rows) > 5:
        errors["components"] = "Must be 5 or fewer in length."
    ids: set[str] = set()
    for r, row in enumerate(rows):
        buttons = row.get("components") or []
        if len(buttons) > 5:
            errors[f"components.{r}.components"] = "Must be 5 or fewer in length."
        for b, btn in enumerate(buttons):
            cid = btn.get("custom_id")
            if cid is not None:
                if len(cid) > 100:
                    errors[f"components.{r}.components.{b}.custom_id"] = "Must be 100 or fewer in length."
                if cid in ids:
                    errors[f"components.{r}.components.{b}.custom_id"] = "Component custom id cannot be duplicated"
                ids.add(cid)
            if len(btn.get("label") or "") > 80:
                errors[f"components.{r}.components.{b}.label"] = "Must be 80 or fewer in length."
    if not content and not embeds and not files and not rows and "attachments" not in body:
        errors["content"] = "Cannot send an empty message"
    if errors:
        raise Rejection(400, 50035, "Invalid Form Body", errors)


@dataclass
class Channel:
    id: int
    guild_id: int
    name: str
    bot_permissions: int = ALL_TEXT
    deleted: bool = False
    messages: list[dict] = field(default_factory=list)
    nonces: dict[str, dict] = field(default_factory=dict)
    # What GET /channels/{id}/messages serves: all of `messages` normally; in lean mode only the
    # newest `history_limit` (a deque), so soaks can read history without unbounded memory.
    recent: collections.deque | None = None
    deleted_ids: set[str] = field(default_factory=set)
    type: int = GUILD_TEXT
    parent_id: int | None = None  # a thread's forum or text channel
    owner_id: int | None = None  # who started the thread
    archived: bool = False
    locked: bool = False
    auto_archive_duration: int = 4320
    archive_timestamp: str = ""
    message_count: int = 0
    total_message_sent: int = 0
    flags: int = 0  # forums: REQUIRE_TAG (1 << 4)
    available_tags: list[dict] = field(default_factory=list)
    applied_tags: list[str] = field(default_factory=list)
    members: set[int] = field(default_factory=set)  # a thread's members (user ids)

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES

    def history(self) -> list[dict]:
        """Messages still in the channel, oldest first."""
        msgs = self.messages if self.recent is None else list(self.recent)
        return [m for m in msgs if m["id"] not in self.deleted_ids] if self.deleted_ids else list(msgs)


@dataclass
class Interaction:
    id: int
    token: str
    acknowledged: bool = False
    response_type: int | None = None
    original: dict | None = None
    deleted: bool = False
    followups: list[dict] = field(default_factory=list)
    acked_at: float | None = None
    created_at: float = field(default_factory=time.monotonic)


@dataclass
class Fault:
    """The next request matching method and path (a regex) gets this answer instead."""

    method: str
    path: str
    status: int
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


class DiscordStandIn(LoopbackServer):
    def __init__(self, *, rate_limit_per_second: float | None = None, lean: bool = False,
                 nonce_window_s: float = 300.0, clock: Callable[[], float] = time.monotonic,
                 attachment_ttl_s: float = ATTACHMENT_TTL_S, history_limit: int = 200,
                 invalid_request_limit: int = 10_000, ban_s: float = 3600.0, shards: int = 1,
                 session_starts: int = 1000, max_concurrency: int = 1, max_guilds_per_shard: int = 2500):
        # lean (long soak runs): no request log, no message log; each new message goes to
        # on_message instead, and only recent nonces are remembered (Discord's window is minutes).
        # history_limit: in lean mode, how many recent messages each channel keeps for history reads.
        # invalid_request_limit / ban_s: Discord's documented 10,000 invalid requests per 10 minutes;
        # the ban's length is not documented ("temporarily"; reports say about an hour).
        self.lean = lean
        self.history_limit = history_limit
        self.on_message = None
        # The stand-in's own clock (seconds): nonce windows and attachment expiry are measured on it.
        # Tests inject one, or jump it forward with advance() instead of sleeping.
        self._clock = clock
        self._skew = 0.0
        self._unix_offset = time.time() - clock()  # for the unix times in signed CDN URLs
        # Discord dedupes `nonce` + `enforce_nonce` only "in the past few minutes" (docs, Create Message).
        self.nonce_window_s = nonce_window_s
        self._nonce_index: collections.OrderedDict[tuple[str, str], tuple[float, Channel, Any]] = collections.OrderedDict()
        self.attachment_ttl_s = attachment_ttl_s
        self._cdn_key = hashlib.sha256(str(snowflake()).encode()).digest()
        self.attachment_data: dict[str, bytes] = {}  # attachment id -> bytes (not kept in lean mode)
        self.attachment_owner: dict[str, str] = {}  # attachment id -> message id (not kept in lean mode)
        self._foreign: list[str] = []  # ids of messages whose embeds use another message's attachment URL
        self.invalid_request_limit = invalid_request_limit
        self.ban_s = ban_s
        self._invalid: collections.deque[float] = collections.deque()  # when each invalid answer was given
        self._banned_until: float | None = None
        self.webhooks: dict[int, dict] = {}  # id -> webhook object (with its token); deleted ones are removed
        self.webhook_avatars: dict[str, str | None] = {}  # message id -> avatar_url override of its execution
        self.app_id = snowflake()
        self.bot_user = {"id": str(self.app_id), "username": "roverbot", "discriminator": "0", "global_name": "roverbot",
                         "avatar": None, "bot": True, "flags": 0, "public_flags": 0}
        self.guild_id = snowflake()
        # Sharding: GET /gateway/bot recommends `shards`; each IDENTIFY spends one session start.
        # A session over more than max_guilds_per_shard guilds is refused with 4011 (Discord: 2,500).
        self.shard_count = shards
        self.session_start_total = session_starts
        self.session_starts_left = session_starts
        self.max_concurrency = max_concurrency
        self.max_guilds_per_shard = max_guilds_per_shard
        self.socket_shards: dict[web.WebSocketResponse, tuple[int, int]] = {}
        self.guilds: dict[int, dict] = {self.guild_id: {"name": "Mars fans", "system_channel": None}}
        self.owner_id = snowflake()
        self.bot_role_id = snowflake()
        self.channels: dict[int, Channel] = {}
        self.general = self.add_channel("general")
        self.guilds[self.guild_id]["system_channel"] = self.general
        self.requests: list[dict] = []
        self.faults: list[Fault] = []
        self.interactions: dict[str, Interaction] = {}
        self.commands: dict[str, list[dict]] = {}  # "global" or guild id -> registered commands
        self.identifies: list[dict] = []
        self.resumes: list[dict] = []
        self.sockets: list[web.WebSocketResponse] = []
        self.seq = 0
        self.rate_limit_per_second = rate_limit_per_second
        self._window: list[float] = []
        self.url = ""
        self.fault_hook = None  # (method, path) -> (status, body) | None: faults at a steady rate

    # -------------------------------------------------------- setup

    def add_channel(self, name: str, permissions: int = ALL_TEXT, *, guild_id: int | None = None) -> Channel:
        ch = Channel(snowflake(), guild_id or self.guild_id, name, permissions)
        if self.lean:
            ch.recent = collections.deque(maxlen=self.history_limit)
        self.channels[ch.id] = ch
        return ch

    def add_message(self, ch: Channel, content: str = "", *, embeds: list[dict] | None = None,
                    user_id: int | None = None) -> dict:
        """A message already in the channel (the bot's own, or a member's with `user_id`), as if it
        had been posted earlier: history for tests to read."""
        msg = self.message_object(ch.id, {"content": content, "embeds": embeds or []})
        if user_id is not None:
            msg["author"] = self.member(user_id)["user"]
        self._store(ch, msg)
        return msg

    def add_guild(self, name: str = "Another server", *, shard: tuple[int, int] | None = None) -> int:
        """Another guild the bot is in, with its own #general; `shard=(id, count)` picks an id that
        Discord's formula, (guild_id >> 22) % count, puts on that shard."""
        gid = snowflake()
        if shard is not None:
            sid, count = shard
            ms = gid >> 22
            ms += (sid - ms % count) % count
            gid = (ms << 22) | (gid & 0x3FFFFF)
        self.guilds[gid] = {"name": name, "system_channel": None}
        self.guilds[gid]["system_channel"] = self.add_channel("general", guild_id=gid)
        return gid

    @staticmethod
    def shard_of(guild_id: int, count: int) -> int:
        return (guild_id >> 22) % count

    # -------------------------------------------------------- the stand-in's clock

    def now(self) -> float:
        """The stand-in's clock in seconds: the injected clock plus every advance()."""
        return self._clock() + self._skew

    def advance(self, seconds: float) -> None:
        """Move the stand-in's clock forward (past a nonce window, past an attachment's expiry)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._skew += seconds

    def unix_now(self) -> float:
        return self.now() + self._unix_offset

    @property
    def api_base(self) -> str:
        return f"{self.url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"{self.url.replace('http://', 'ws://')}/gateway"

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/gateway", self._gateway)
        app.router.add_route("GET", "/attachments/{ch:\\d+}/{att:\\d+}/{name}", self._cdn)
        app.router.add_route("GET", "/media/attachments/{ch:\\d+}/{att:\\d+}/{name}", self._cdn)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)

    def start(self) -> "DiscordStandIn":  # type: ignore[override]
        return LoopbackServer.start(self, "discord-standin")

    async def _before_cleanup(self) -> None:
        for ws in list(self.sockets):
            await ws.close()

    # -------------------------------------------------------- objects

    def member(self, user_id: int | None = None, permissions: int = VIEW_CHANNEL | SEND_MESSAGES) -> dict:
        uid = user_id or self.owner_id
        return {"user": {"id": str(uid), "username": f"user{uid % 1000}", "discriminator": "0", "global_name": None,
                         "avatar": None, "flags": 0, "public_flags": 0},
                "roles": [], "joined_at": now_iso(), "deaf": False, "mute": False, "flags": 0,
                "permissions": str(permissions), "nick": None, "pending": False, "avatar": None}

    def channel_object(self, ch: Channel) -> dict:
        if ch.is_thread:
            return self.thread_object(ch)
        # The bot's rights in a channel are a member overwrite on top of its role (all text rights).
        overwrite = {"id": str(self.app_id), "type": 1, "allow": str(ch.bot_permissions),
                     "deny": str(ALL_THREADS & ~ch.bot_permissions)}
        obj = {"id": str(ch.id), "type": ch.type, "guild_id": str(ch.guild_id), "name": ch.name, "position": 0,
               "permission_overwrites": [overwrite], "nsfw": False, "topic": None, "last_message_id": None,
               "rate_limit_per_user": 0, "parent_id": None, "flags": ch.flags}
        if ch.type == GUILD_FORUM:
            obj |= {"available_tags": ch.available_tags, "default_reaction_emoji": None, "default_sort_order": None,
                    "default_forum_layout": 0, "default_thread_rate_limit_per_user": 0,
                    "default_auto_archive_duration": 4320}
        return obj

    def thread_object(self, th: Channel, *, member: bool = False) -> dict:
        obj = {"id": str(th.id), "type": th.type, "guild_id": str(th.guild_id), "name": th.name,
               "parent_id": str(th.parent_id), "owner_id": str(th.owner_id), "last_message_id": None,
               "rate_limit_per_user": 0, "flags": th.flags, "member_count": len(th.members),
               "message_count": th.message_count, "total_message_sent": th.total_message_sent,
               "applied_tags": th.applied_tags,
               "thread_metadata": {"archived": th.archived, "auto_archive_duration": th.auto_archive_duration,
                                   "archive_timestamp": th.archive_timestamp, "locked": th.locked,
                                   "create_timestamp": th.archive_timestamp}}
        if member and self.app_id in th.members:
            # Get Channel: "If the channel is a thread, a thread member object is included"
            obj["member"] = {"id": str(th.id), "user_id": str(self.app_id), "join_timestamp": th.archive_timestamp,
                             "flags": 1}
        return obj

    def perms(self, ch: Channel) -> int:
        """The bot's rights in a channel; a thread has its parent's."""
        if ch.is_thread and ch.parent_id in self.channels:
            return self.channels[ch.parent_id].bot_permissions
        return ch.bot_permissions

    def add_forum(self, name: str, permissions: int = ALL_THREADS, *, tags: tuple[str, ...] = (),
                  require_tag: bool = False) -> Channel:
        """A forum channel (type 15): only threads ("posts") can be created in it."""
        ch = self.add_channel(name, permissions)
        ch.type = GUILD_FORUM
        ch.available_tags = [{"id": str(snowflake()), "name": t, "moderated": False, "emoji_id": None,
                              "emoji_name": None} for t in tags]
        ch.flags = (1 << 4) if require_tag else 0  # REQUIRE_TAG
        return ch

    def add_thread(self, parent: Channel, name: str, *, archived: bool = False, locked: bool = False,
                   type_: int = PUBLIC_THREAD) -> Channel:
        """A thread that already exists (started by someone else; the bot is not a member)."""
        th = self._new_thread(parent, name, type_, owner=self.owner_id, thread_id=snowflake())
        th.archived, th.locked = archived, locked
        return th

    def _new_thread(self, parent: Channel, name: str, type_: int, *, owner: int, thread_id: int,
                    auto_archive_duration: int = 4320) -> Channel:
        th = Channel(thread_id, parent.guild_id, name, parent.bot_permissions, type=type_, parent_id=parent.id,
                     owner_id=owner, auto_archive_duration=auto_archive_duration, archive_timestamp=now_iso())
        if self.lean:
            th.recent = collections.deque(maxlen=self.history_limit)
        th.members.add(owner)
        self.channels[th.id] = th
        return th

    def threads(self, parent: Channel | None = None) -> list[Channel]:
        return [c for c in self.channels.values() if c.is_thread and (parent is None or c.parent_id == parent.id)]

    def _dispatch_soon(self, event: str, data: dict) -> None:
        """Send a gateway event from inside a request handler (we are on the server's loop)."""
        if self.sockets:
            asyncio.get_running_loop().create_task(self.send_dispatch(event, data))

    def set_permissions(self, ch: Channel, bits: int) -> None:
        """Change what the bot may do in a channel, and tell connected clients (CHANNEL_UPDATE)."""
        ch.bot_permissions = bits
        if self.sockets:
            self.call(self.send_dispatch("CHANNEL_UPDATE", self.channel_object(ch)))

    def delete_channel(self, ch: Channel) -> None:
        ch.deleted = True
        if self.sockets:
            self.call(self.send_dispatch("CHANNEL_DELETE", self.channel_object(ch)))

    def guild_object(self, guild_id: int | None = None) -> dict:
        gid = guild_id or self.guild_id
        g = self.guilds[gid]
        return {
            "id": str(gid), "name": g["name"], "icon": None, "splash": None, "discovery_splash": None,
            "owner_id": str(self.owner_id), "afk_channel_id": None, "afk_timeout": 300, "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0, "features": [], "mfa_level": 0,
            "system_channel_id": str(g["system_channel"].id), "system_channel_flags": 0, "rules_channel_id": None,
            "vanity_url_code": None, "description": None, "banner": None, "premium_tier": 0, "preferred_locale": "en-US",
            "public_updates_channel_id": None, "nsfw_level": 0, "premium_progress_bar_enabled": False,
            "roles": [{"id": str(gid), "name": "@everyone", "permissions": str(VIEW_CHANNEL | SEND_MESSAGES),
                       "position": 0, "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0},
                      {"id": str(self.bot_role_id), "name": "roverbot", "permissions": str(ALL_TEXT),
                       "position": 1, "color": 0, "hoist": False, "managed": True, "mentionable": False, "flags": 0}],
            "emojis": [], "stickers": [], "joined_at": now_iso(), "large": False, "unavailable": False,
            "member_count": 2, "voice_states": [], "presences": [], "stage_instances": [],
            # Discord's GUILD_CREATE `threads`: "all active threads in the guild that the current user
            # is able to view"; archived ones are not synced up front.
            "threads": [self.thread_object(t, member=True) for t in self.threads()
                        if t.guild_id == gid and self._visible(t) and not t.archived],
            "guild_scheduled_events": [], "soundboard_sounds": [],
            "members": [self.member(self.app_id) | {"user": self.bot_user, "roles": [str(self.bot_role_id)]}],
            "channels": [self.channel_object(c) for c in self.channels.values()
                         if c.guild_id == gid and not c.deleted and not c.is_thread],
        }

    def message_object(self, channel_id: int, body: dict, *, flags: int = 0, files: list[dict] | None = None,
                       interaction: bool = False) -> dict:
        attachments = files or []
        msg = {
            # the id carries the stand-in's own time, as Discord's carry Discord's: history reads by
            # time ("after my first attempt") then agree with the clock the tests move
            "id": str(snowflake(self.unix_now())), "channel_id": str(channel_id), "author": self.bot_user,
            "content": body.get("content") or "", "timestamp": now_iso(), "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": attachments,
            "embeds": self._resolve_embeds(body.get("embeds") or [], attachments), "pinned": False,
            "type": 20 if interaction else 0,
            "flags": flags | (body.get("flags") or 0), "components": body.get("components") or [],
            "nonce": body.get("nonce"), "allowed_mentions": body.get("allowed_mentions"),
        }
        if interaction:
            msg["webhook_id"] = str(self.app_id)
            msg["application_id"] = str(self.app_id)
        self._note_attachments(msg)
        return msg

    # -------------------------------------------------------- attachments: signed, expiring CDN URLs

    @property
    def cdn_base(self) -> str:
        # The stand-in serves its own CDN on loopback (GET /attachments/...), so a test can fetch an
        # attachment and see it expire; no URL it hands out leads off this machine.
        return self.url

    def _sign(self, path: str, issued: int) -> str:
        expires = issued + int(self.attachment_ttl_s)
        hm = hmac.new(self._cdn_key, f"{path}:{expires:x}:{issued:x}".encode(), hashlib.sha256).hexdigest()
        # Discord's shape: ?ex=<hex unix expiry>&is=<hex unix issue time>&hm=<64 hex>& (trailing &)
        return f"{path}?ex={expires:08x}&is={issued:08x}&hm={hm}&"

    def _attachments(self, files: list[dict], channel_id: int | None = None) -> list[dict]:
        ch = channel_id or self.general.id
        issued = int(self.unix_now())
        out = []
        for f in files:
            att_id = str(snowflake())
            path = f"/attachments/{ch}/{att_id}/{f['filename']}"
            out.append({"id": att_id, "filename": f["filename"], "size": f["size"],
                        "url": f"{self.cdn_base}{self._sign(path, issued)}",
                        "proxy_url": f"{self.cdn_base}/media{self._sign(path, issued)}"})
            if not self.lean and "data" in f:
                self.attachment_data[att_id] = f["data"]
        return out

    @staticmethod
    def _resolve_embeds(embeds: list[dict], attachments: list[dict]) -> list[dict]:
        """What Discord returns for an embed: `attachment://name` becomes that attachment's CDN URL.
        A copy: the request body logged in `requests` keeps what the bot sent."""
        by_name = {a["filename"]: a for a in attachments}
        out = []
        for e in embeds:
            e = json.loads(json.dumps(e))
            for k in ("image", "thumbnail"):
                url = (e.get(k) or {}).get("url") or ""
                if url.startswith("attachment://") and url[len("attachment://"):] in by_name:
                    a = by_name[url[len("attachment://"):]]
                    e[k] |= {"url": a["url"], "proxy_url": a["proxy_url"]}
            out.append(e)
        return out

    _ATTACHMENT_PATH = re.compile(r"/attachments/\d+/(\d+)/")

    def _note_attachments(self, msg: dict) -> None:
        """Own the message's attachments; remember it if its embeds point at another message's."""
        own = {a["id"] for a in msg["attachments"]}
        if not self.lean:
            for a in own:
                self.attachment_owner[a] = msg["id"]
        for e in msg["embeds"]:
            urls = [e.get("url")] + [(e.get(k) or {}).get(u) for k in ("image", "thumbnail", "video", "author", "footer")
                                     for u in ("url", "proxy_url", "icon_url", "proxy_icon_url")]
            for url in filter(None, urls):
                m = self._ATTACHMENT_PATH.search(urlsplit(url).path)
                if m and m[1] not in own:
                    if msg["id"] not in self._foreign:
                        self._foreign.append(msg["id"])
                    return

    def embeds_referencing_foreign_attachments(self) -> list[str]:
        """Ids of messages whose embeds use an attachment URL of a different message. Such a URL is
        signed for 24 hours: the embed shows a broken picture once it expires, and again whenever the
        other message is deleted. A bot should re-upload the file (attachment://) instead."""
        return list(self._foreign)

    def attachment_url_valid(self, url: str) -> bool:
        """Whether Discord's CDN would still serve this URL now (signature intact, not expired)."""
        parts = urlsplit(url)
        path = parts.path.removeprefix("/media")
        q = parse_qs(parts.query)
        try:
            expires, issued, hm = int(q["ex"][0], 16), int(q["is"][0], 16), q["hm"][0]
        except (KeyError, ValueError):
            return False  # unsigned attachment URLs no longer work on Discord's CDN
        good = hmac.new(self._cdn_key, f"{path}:{expires:x}:{issued:x}".encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(good, hm) and self.unix_now() < expires

    async def _cdn(self, request: web.Request) -> web.Response:
        att_id = request.match_info["att"]
        if not self.attachment_url_valid(str(request.rel_url)) or att_id not in self.attachment_data:
            # What Discord's CDN answers for an expired or tampered signed URL.
            return web.Response(status=404, text="This content is no longer available.")
        return web.Response(body=self.attachment_data[att_id], content_type="application/octet-stream")

    # -------------------------------------------------------- payloads a test dispatches

    def interaction(self, type_: int, data: dict, *, permissions: int = VIEW_CHANNEL | SEND_MESSAGES,
                    channel: Channel | None = None, user_id: int | None = None, message: dict | None = None) -> dict:
        ch = channel or self.general
        i = Interaction(snowflake(), f"tok-{snowflake()}")
        self.interactions[i.token] = i
        payload = {
            "id": str(i.id), "application_id": str(self.app_id), "type": type_, "data": data, "token": i.token,
            "version": 1, "guild_id": str(ch.guild_id), "channel_id": str(ch.id), "channel": self.channel_object(ch),
            "member": self.member(user_id, permissions), "locale": "en-US", "guild_locale": "en-US",
            "app_permissions": str(self.perms(ch)), "entitlements": [], "attachment_size_limit": 10 * 1024 * 1024,
            "authorizing_integration_owners": {"0": str(ch.guild_id)}, "context": 0,
        }
        if message is not None:
            payload["message"] = message
        return payload

    def command(self, name: str, options: dict[str, Any] | None = None, *, focused: str | None = None,
                types: dict[str, int] | None = None, **kw) -> dict:
        """An application command (type 2) or, with `focused`, an autocomplete request (type 4)."""
        opts = []
        for k, v in (options or {}).items():
            t = (types or {}).get(k) or (4 if isinstance(v, int) and not isinstance(v, bool) else 3)
            o = {"name": k, "type": t, "value": v}
            if k == focused:
                o["focused"] = True
            opts.append(o)
        data = {"id": str(snowflake()), "name": name, "type": 1, "options": opts}
        return self.interaction(4 if focused else 2, data, **kw)

    def click(self, message: dict, custom_id: str, **kw) -> dict:
        return self.interaction(3, {"custom_id": custom_id, "component_type": 2}, message=message, **kw)

    async def send_dispatch(self, event: str, data: dict) -> None:
        """Send a gateway event. An event of a guild goes only to the socket of that guild's shard,
        as Discord does; with one shard that is every socket."""
        self.seq += 1
        gid = data.get("guild_id") if isinstance(data, dict) else None
        for ws in list(self.sockets):
            if ws.closed:
                continue
            sid, count = self.socket_shards.get(ws, (0, 1))
            if gid is not None and self.shard_of(int(gid), count) != sid:
                continue
            await ws.send_str(json.dumps({"op": 0, "t": event, "s": self.seq, "d": data}))

    async def send_interaction(self, payload: dict) -> None:
        """Deliver an INTERACTION_CREATE over the gateway, on the socket of its guild's shard only."""
        await self.send_dispatch("INTERACTION_CREATE", payload)

    async def send_op(self, op: int, d: Any = None) -> None:
        for ws in list(self.sockets):
            if not ws.closed:
                await ws.send_str(json.dumps({"op": op, "d": d}))

    async def drop_connections(self, code: int = 4000) -> None:
        for ws in list(self.sockets):
            await ws.close(code=code)

    # -------------------------------------------------------- what tests look at

    def calls(self, method: str | None = None, path: str = "") -> list[dict]:
        return [r for r in self.requests if (method is None or r["method"] == method) and re.search(path, r["path"])]

    # -------------------------------------------------------- gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                op = data.get("op")
                if op == 1:
                    await ws.send_str(json.dumps({"op": 11}))
                elif op == 2:
                    self.identifies.append(data["d"])
                    shard = data["d"].get("shard") or [0, 1]
                    sid, count = int(shard[0]), int(shard[1])
                    if count < 1 or not 0 <= sid < count:
                        await ws.close(code=4010, message=b"Invalid shard.")
                        break
                    guilds = [g for g in self.guilds if self.shard_of(g, count) == sid]
                    if len(guilds) > self.max_guilds_per_shard:
                        await ws.close(code=4011, message=b"Sharding required.")
                        break
                    self.session_starts_left = max(0, self.session_starts_left - 1)
                    self.socket_shards[ws] = (sid, count)
                    self.seq = 0
                    ready = {"v": 10, "user": self.bot_user, "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
                             "session_id": f"session-{snowflake()}", "resume_gateway_url": self.gateway_url,
                             "application": {"id": str(self.app_id), "flags": 0}, "private_channels": [],
                             "relationships": [], "user_settings": {}, "geo_ordered_rtc_regions": [], "shard": [sid, count]}
                    for event, d in [("READY", ready)] + [("GUILD_CREATE", self.guild_object(g)) for g in guilds]:
                        self.seq += 1
                        await ws.send_str(json.dumps({"op": 0, "t": event, "s": self.seq, "d": d}))
                elif op == 6:
                    self.resumes.append(data["d"])
                    self.seq += 1
                    await ws.send_str(json.dumps({"op": 0, "t": "RESUMED", "s": self.seq, "d": {}}))
        finally:
            if ws in self.sockets:
                self.sockets.remove(ws)
            self.socket_shards.pop(ws, None)
        return ws

    # -------------------------------------------------------- REST

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body, files = await self._read_body(request)
        entry = {"method": request.method, "path": path, "query": dict(request.query), "json": body, "files": files,
                 "headers": dict(request.headers), "at": time.monotonic()}
        if not self.lean:
            self.requests.append(entry)
        self.request_count = getattr(self, "request_count", 0) + 1
        if self._banned_until is not None:
            if self.now() < self._banned_until:
                entry["banned"] = True
                return self._cloudflare_ban()
            self._banned_until = None
        response = self._answer(request, path, body, files, entry)
        self._count_invalid(response)
        return response

    # Discord's invalid request limit ("Cloudflare bans", Rate Limits docs): an IP making 10,000
    # requests answered 401, 403 or 429 within 10 minutes is restricted for a while; 429s carrying
    # X-RateLimit-Scope: shared are not counted.
    INVALID_WINDOW_S = 600.0

    @property
    def invalid_requests(self) -> int:
        """401/403/429 answers (shared-scope 429s excepted) within the last 10 minutes."""
        self._prune_invalid()
        return len(self._invalid)

    def _prune_invalid(self) -> None:
        now = self.now()
        while self._invalid and now - self._invalid[0] >= self.INVALID_WINDOW_S:
            self._invalid.popleft()

    def _count_invalid(self, response: web.StreamResponse) -> None:
        if response.status not in (401, 403, 429) or response.headers.get("X-RateLimit-Scope") == "shared":
            return
        self._invalid.append(self.now())
        self._prune_invalid()
        if len(self._invalid) > self.invalid_request_limit:
            self._banned_until = self.now() + self.ban_s
            self._invalid.clear()

    @property
    def banned(self) -> bool:
        return self._banned_until is not None and self.now() < self._banned_until

    def _cloudflare_ban(self) -> web.Response:
        # Cloudflare answers, not Discord's API: an HTML page, no `Via` header, no JSON body. discord.py
        # takes exactly this (a 429 without Via) for a ban and raises at once instead of retrying.
        left = max(1, int(self._banned_until - self.now()))  # type: ignore[operator]
        page = ("<!DOCTYPE html><html><head><title>Access denied | discord.com used Cloudflare to restrict access"
                "</title></head><body><h1>Error 1015</h1><h2>You are being rate limited</h2></body></html>")
        return web.Response(text=page, status=429, content_type="text/html", headers={"Retry-After": str(left)})

    def _answer(self, request: web.Request, path: str, body: Any, files: list[dict], entry: dict) -> web.Response:
        if self.fault_hook is not None:
            injected = self.fault_hook(request.method, path)
            if injected is not None:
                status, body = injected
                return _json(body, status=status, headers={"Via": "1.1 google"})
        for f in self.faults:
            if f.method == request.method and re.search(f.path, path):
                f.times -= 1
                if f.times <= 0:
                    self.faults.remove(f)
                headers = {"Via": "1.1 google"} | f.headers
                return _json(f.body or {"message": "fault", "code": 0}, status=f.status, headers=headers)
        if self.rate_limit_per_second:
            limited = self._global_limit(entry)
            if limited:
                return limited
        try:
            status, result = self._route(request.method, path, dict(request.query), body, files)
        except Rejection as r:
            entry["rejected"] = r.code
            return _json({"code": r.code, "message": r.message, "errors": r.errors}, status=r.status)
        if status == 204:
            return web.Response(status=204)
        return _json(result, status=status, headers={
            "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4", "X-RateLimit-Reset-After": "1.0",
            "X-RateLimit-Bucket": re.sub(r"\d+", "N", path)[:40]})

    def _global_limit(self, entry: dict) -> web.Response | None:
        now = time.monotonic()
        self._window = [t for t in self._window if now - t < 1.0]
        if len(self._window) >= self.rate_limit_per_second:  # type: ignore[operator]
            retry = max(0.001, 1.0 - (now - self._window[0]))
            entry["limited"] = True
            return _json({"message": "You are being rate limited.", "retry_after": retry, "global": True},
                                     status=429, headers={"Via": "1.1 google", "X-RateLimit-Global": "true",
                                                          "X-RateLimit-Scope": "global", "Retry-After": f"{retry:.3f}"})
        self._window.append(now)
        return None

    async def _read_body(self, request: web.Request) -> tuple[Any, list[dict]]:
        if request.content_type.startswith("multipart/"):
            body: Any = None
            files: list[dict] = []
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()  # type: ignore[union-attr]
                if part.name == "payload_json":  # type: ignore[union-attr]
                    body = json.loads(data)
                else:
                    files.append({"field": part.name, "filename": part.filename, "size": len(data), "data": bytes(data)})  # type: ignore[union-attr]
            return body, files
        raw = await request.read()
        return (json.loads(raw) if raw else None), []

    def _route(self, method: str, path: str, query: dict, body: Any, files: list[dict]) -> tuple[int, Any]:
        app = str(self.app_id)
        if method == "GET" and path == "/users/@me":
            return 200, self.bot_user
        if method == "GET" and path == "/oauth2/applications/@me":
            return 200, {"id": app, "name": "roverbot", "description": "", "icon": None, "bot_public": True,
                         "bot_require_code_grant": False, "owner": self.member()["user"], "verify_key": "0" * 64,
                         "flags": 0, "team": None, "summary": "", "rpc_origins": []}
        if method == "GET" and path in ("/gateway", "/gateway/bot"):
            # Get Gateway Bot: the recommended shard count and what is left of the daily session starts
            return 200, {"url": self.gateway_url, "shards": self.shard_count,
                         "session_start_limit": {"total": self.session_start_total, "remaining": self.session_starts_left,
                                                 "reset_after": 86_400_000, "max_concurrency": self.max_concurrency}}
        m = re.fullmatch(rf"/applications/{app}(?:/guilds/(\d+))?/commands", path)
        if m and method == "PUT":
            scope = m[1] or "global"
            registered = [self._command_object(c, m[1]) for c in body]
            self.commands[scope] = registered
            return 200, registered
        if m and method == "GET":
            return 200, self.commands.get(m[1] or "global", [])
        m = re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", path)
        if m and method == "POST":
            return self._callback(m[2], body, files, query)
        m = re.fullmatch(rf"/webhooks/{app}/([^/]+)(/messages/@original)?", path)
        if m:
            return self._webhook(method, m[1], bool(m[2]), body, files)
        m = re.fullmatch(r"/channels/(\d+)/messages", path)
        if m and method == "POST":
            ch = self._channel(int(m[1]))
            if ch.type == GUILD_FORUM:
                raise Rejection(400, 40058, "Cannot send a message in a forum channel")
            if ch.is_thread:
                # "The SEND_MESSAGES permission has no effect in threads" (Threads topic)
                self._channel(ch.id, SEND_MESSAGES_IN_THREADS)
                self._wake_thread(ch)
            else:
                self._channel(ch.id, SEND_MESSAGES)
            return self._create_message(ch, body or {}, files)
        if m and method == "GET":
            return self._history(int(m[1]), query)
        m = re.fullmatch(r"/channels/(\d+)/messages/(\d+)", path)
        if m and method == "DELETE":
            ch = self._channel(int(m[1]))
            msg = next((x for x in ch.history() if x["id"] == m[2]), None)
            if msg is None:
                raise Rejection(404, 10008, "Unknown Message")
            if msg["author"]["id"] != self.bot_user["id"] and not self.perms(ch) & MANAGE_MESSAGES:
                raise Rejection(403, 50013, "Missing Permissions")
            ch.deleted_ids.add(m[2])
            return 204, None
        m = re.fullmatch(r"/channels/(\d+)", path)
        if m and method == "GET":
            ch = self._channel(int(m[1]))
            return 200, self.thread_object(ch, member=True) if ch.is_thread else self.channel_object(ch)
        if m and method == "PATCH":
            return self._modify_channel(self._channel(int(m[1])), body or {})
        m = re.fullmatch(r"/channels/(\d+)/webhooks", path)
        if m:
            return self._channel_webhooks(method, self._channel(int(m[1]), MANAGE_WEBHOOKS), body or {})
        m = re.fullmatch(r"/webhooks/(\d+)(?:/([^/]+))?", path)
        if m and int(m[1]) != self.app_id:
            return self._own_webhook(method, int(m[1]), m[2], query, body or {}, files)
        m = re.fullmatch(r"/channels/(\d+)/threads", path)
        if m and method == "POST":
            ch = self._channel(int(m[1]))
            if ch.type == GUILD_FORUM:
                return self._forum_post(ch, body or {}, files)
            return self._start_thread(ch, body or {}, None)
        m = re.fullmatch(r"/channels/(\d+)/messages/(\d+)/threads", path)
        if m and method == "POST":
            ch = self._channel(int(m[1]))
            return self._start_thread(ch, body or {}, m[2])
        m = re.fullmatch(r"/guilds/(\d+)/threads/active", path)
        if m and method == "GET":
            # List Active Guild Threads: "all active threads in the guild, including public and
            # private threads", with the current user's thread members; archived ones are not listed.
            active = [t for t in self.threads() if t.guild_id == int(m[1]) and self._visible(t) and not t.archived]
            return 200, {"threads": [self.thread_object(t) for t in active],
                         "members": [self.thread_object(t, member=True)["member"] for t in active if self.app_id in t.members]}
        return 404, {"message": "404: Not Found", "code": 0}

    def _exists(self, ch: Channel | None) -> bool:
        if ch is None or ch.deleted:
            return False
        return not ch.is_thread or self._exists(self.channels.get(ch.parent_id))  # type: ignore[arg-type]

    def _visible(self, ch: Channel) -> bool:
        if not self._exists(ch) or not self.perms(ch) & VIEW_CHANNEL:
            return False
        # a private thread: only its members (or moderators) see it
        return ch.type != PRIVATE_THREAD or self.app_id in ch.members or bool(self.perms(ch) & MANAGE_THREADS)

    def _channel(self, channel_id: int, needs: int = 0) -> Channel:
        ch = self.channels.get(channel_id)
        if not self._exists(ch):
            raise Rejection(404, 10003, "Unknown Channel")
        if not self._visible(ch):  # type: ignore[arg-type]
            raise Rejection(403, 50001, "Missing Access")  # Discord's answer for a channel the bot cannot see
        if needs & ~self.perms(ch):  # type: ignore[arg-type]
            raise Rejection(403, 50013, "Missing Permissions")
        return ch  # type: ignore[return-value]

    # -------------------------------------------------------- threads and forums

    @staticmethod
    def _thread_params(body: dict) -> dict:
        errors = {}
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            errors["name"] = "Must be between 1 and 100 in length." if name else "This field is required"
        duration = body.get("auto_archive_duration")
        if duration is not None and duration not in ARCHIVE_DURATIONS:
            errors["auto_archive_duration"] = f"Value must be one of {set(ARCHIVE_DURATIONS)}."
        return errors

    def _forum_post(self, forum: Channel, body: dict, files: list[dict]) -> tuple[int, dict]:
        """Start Thread in Forum Channel: the thread and its first message. Needs SEND_MESSAGES in
        the forum ("CREATE_PUBLIC_THREADS is ignored")."""
        self._channel(forum.id, SEND_MESSAGES)
        errors = self._thread_params(body)
        message = body.get("message")
        if not isinstance(message, dict):
            errors["message"] = "This field is required"
        if errors:
            raise Rejection(400, 50035, "Invalid Form Body", errors)
        check_message(message, len(files))  # type: ignore[arg-type]
        tag_ids = {t["id"] for t in forum.available_tags}
        applied = [str(t) for t in body.get("applied_tags") or []]
        if any(t not in tag_ids for t in applied) or len(applied) > 5:
            raise Rejection(400, 50035, "Invalid Form Body", {"applied_tags": "Unknown or too many tags."})
        if forum.flags & (1 << 4) and not applied:
            raise Rejection(400, 40067, "A tag is required to create a forum post in this channel")
        # A forum post's id is its first message's id.
        first_id = snowflake()
        th = self._new_thread(forum, body["name"], PUBLIC_THREAD, owner=self.app_id, thread_id=first_id,
                              auto_archive_duration=body.get("auto_archive_duration") or 4320)
        th.applied_tags = applied
        _, msg = self._create_message(th, message, files, extra={"id": str(first_id)}, dedupe=False)  # type: ignore[arg-type]
        th.message_count = th.total_message_sent = 0  # the starter message is not counted
        obj = self.thread_object(th, member=True) | {"message": msg}
        self._dispatch_soon("THREAD_CREATE", self.thread_object(th) | {"newly_created": True})
        return 200, obj

    def _start_thread(self, ch: Channel, body: dict, message_id: str | None) -> tuple[int, dict]:
        if ch.is_thread:
            raise Rejection(400, 50024, "Cannot execute action on this channel type")
        if ch.type == GUILD_FORUM:  # from a message: "Does not work on a GUILD_FORUM"
            raise Rejection(400, 50024, "Cannot execute action on this channel type")
        errors = self._thread_params(body)
        # Start Thread without Message: `type` "currently defaults to PRIVATE_THREAD".
        type_ = PUBLIC_THREAD if message_id else body.get("type", PRIVATE_THREAD)
        if type_ not in THREAD_TYPES:
            errors["type"] = "Value must be one of {11, 12}."
        if errors:
            raise Rejection(400, 50035, "Invalid Form Body", errors)
        self._channel(ch.id, CREATE_PUBLIC_THREADS if type_ == PUBLIC_THREAD else CREATE_PRIVATE_THREADS)
        thread_id = snowflake()
        if message_id is not None:
            msg = next((x for x in ch.history() if x["id"] == message_id), None)
            if msg is None:
                raise Rejection(404, 10008, "Unknown Message")
            if int(message_id) in self.channels:
                raise Rejection(400, 160004, "A thread has already been created for this message")
            thread_id = int(message_id)  # "The id of the created thread will be the same as the id of the source message"
        th = self._new_thread(ch, body["name"], type_, owner=self.app_id, thread_id=thread_id,
                              auto_archive_duration=body.get("auto_archive_duration") or 4320)
        if message_id is not None:
            msg["flags"] = (msg.get("flags") or 0) | (1 << 5)  # HAS_THREAD
            msg["thread"] = self.thread_object(th)
        self._dispatch_soon("THREAD_CREATE", self.thread_object(th) | {"newly_created": True})
        return 200, self.thread_object(th, member=True)

    def _wake_thread(self, th: Channel) -> None:
        """Posting in an archived thread: "Sending a message will automatically unarchive the thread,
        unless the thread has been locked by a moderator" (Threads topic)."""
        if not th.archived:
            return
        if th.locked and not self.perms(th) & MANAGE_THREADS:
            raise Rejection(403, 160005, "Thread is locked")
        self._set_archived(th, False)

    def _set_archived(self, th: Channel, archived: bool) -> None:
        th.archived = archived
        th.archive_timestamp = now_iso()
        self._dispatch_soon("THREAD_UPDATE", self.thread_object(th))

    def archive_thread(self, th: Channel, *, locked: bool = False) -> None:
        """Archive a thread as Discord does after inactivity (or a moderator, with `locked`)."""
        th.archived, th.locked, th.archive_timestamp = True, locked, now_iso()
        if self.sockets:
            self.call(self.send_dispatch("THREAD_UPDATE", self.thread_object(th)))

    def _modify_channel(self, ch: Channel, body: dict) -> tuple[int, dict]:
        if not ch.is_thread:
            self._channel(ch.id, MANAGE_CHANNELS)
            if "name" in body:
                if not isinstance(body["name"], str) or not 1 <= len(body["name"]) <= 100:
                    raise Rejection(400, 50035, "Invalid Form Body", {"name": "Must be between 1 and 100 in length."})
                ch.name = body["name"]
            self._dispatch_soon("CHANNEL_UPDATE", self.channel_object(ch))
            return 200, self.channel_object(ch)
        perms = self.perms(ch)
        moderator = bool(perms & MANAGE_THREADS)
        creator = ch.owner_id == self.app_id
        errors = {}
        if "name" in body and (not isinstance(body["name"], str) or not 1 <= len(body["name"]) <= 100):
            errors["name"] = "Must be between 1 and 100 in length."
        if body.get("auto_archive_duration") is not None and body["auto_archive_duration"] not in ARCHIVE_DURATIONS:
            errors["auto_archive_duration"] = f"Value must be one of {set(ARCHIVE_DURATIONS)}."
        if errors:
            raise Rejection(400, 50035, "Invalid Form Body", errors)
        # Threads topic: locking needs MANAGE_THREADS; a locked thread is unarchived only by its
        # creator or a moderator; renaming needs MANAGE_THREADS or being the creator.
        if "locked" in body and not moderator:
            raise Rejection(403, 50013, "Missing Permissions")
        if body.get("archived") is False and ch.archived:
            if ch.locked and not (moderator or creator):
                raise Rejection(403, 50013, "Missing Permissions")
            if not ch.locked and not (self.app_id in ch.members or perms & SEND_MESSAGES):
                raise Rejection(403, 50013, "Missing Permissions")
        if ({"name", "auto_archive_duration"} & body.keys() or body.get("archived") is True) and not (moderator or creator):
            raise Rejection(403, 50013, "Missing Permissions")
        # Editing a thread "requires the thread to have archived set to false or be set to false in the request"
        if ch.archived and body.get("archived") is not False:
            raise Rejection(400, 50083, "Thread is archived")
        for k in ("name", "auto_archive_duration", "locked"):
            if k in body:
                setattr(ch, k, body[k])
        if "archived" in body and body["archived"] != ch.archived:
            ch.archived = bool(body["archived"])
            ch.archive_timestamp = now_iso()
        self._dispatch_soon("THREAD_UPDATE", self.thread_object(ch))
        return 200, self.thread_object(ch, member=True)

    # -------------------------------------------------------- webhooks

    def _channel_webhooks(self, method: str, ch: Channel, body: dict) -> tuple[int, Any]:
        """Create / list a channel's webhooks (both need MANAGE_WEBHOOKS)."""
        mine = [w for w in self.webhooks.values() if w["channel_id"] == str(ch.id)]
        if method == "GET":
            return 200, mine
        if method != "POST":
            return 405, {"message": "405: Method Not Allowed", "code": 0}
        name = body.get("name")
        # Create Webhook: 1-80 characters, and no "clyde" or "discord" in it (any case)
        if not isinstance(name, str) or not 1 <= len(name) <= 80:
            raise Rejection(400, 50035, "Invalid Form Body", {"name": "Must be between 1 and 80 in length."})
        if "clyde" in name.lower() or "discord" in name.lower():
            raise Rejection(400, 50035, "Invalid Form Body", {"name": 'Username cannot contain "discord" or "clyde"'})
        if len(mine) >= 15:
            raise Rejection(400, 30007, "Maximum number of webhooks reached (15)")
        wid = snowflake()
        hook = {"id": str(wid), "type": 1, "guild_id": str(ch.guild_id), "channel_id": str(ch.id), "user": self.bot_user,
                "name": name, "avatar": None, "token": hashlib.sha256(str(snowflake()).encode()).hexdigest(),
                "application_id": str(self.app_id)}
        self.webhooks[wid] = hook
        self._dispatch_soon("WEBHOOKS_UPDATE", {"guild_id": str(ch.guild_id), "channel_id": str(ch.id)})
        return 200, hook

    def _own_webhook(self, method: str, wid: int, token: str | None, query: dict, body: dict,
                     files: list[dict]) -> tuple[int, Any]:
        hook = self.webhooks.get(wid)
        if hook is None or (token is not None and token != hook["token"]):
            # after deletion (or with a wrong token) Discord answers Unknown Webhook; a bot must stop
            # using it: repeated 404s from webhooks also count towards a temporary restriction
            raise Rejection(404, 10015, "Unknown Webhook")
        ch = self.channels[int(hook["channel_id"])]
        if method == "DELETE":
            if token is None:
                self._channel(ch.id, MANAGE_WEBHOOKS)
            del self.webhooks[wid]
            return 204, None
        if method == "GET":
            return 200, hook if token is None else {k: v for k, v in hook.items() if k not in ("user", "token")}
        if method != "POST" or token is None:
            return 405, {"message": "405: Method Not Allowed", "code": 0}
        target = ch
        thread_id = query.get("thread_id")
        if ch.type == GUILD_FORUM and not thread_id and not body.get("thread_name"):
            raise Rejection(400, 220001, "Webhooks posted to forum channels must have a thread_name or thread_id")
        if thread_id:
            target = self.channels.get(int(thread_id))  # type: ignore[assignment]
            if not self._exists(target) or target.parent_id != ch.id:
                raise Rejection(404, 10003, "Unknown Channel")
            if target.archived:  # "The thread will automatically be unarchived."
                self._set_archived(target, False)
        elif body.get("thread_name"):
            if ch.type != GUILD_FORUM:
                raise Rejection(400, 220003, "Webhooks can only create threads in forum channels")
            target = self._new_thread(ch, body["thread_name"], PUBLIC_THREAD, owner=wid, thread_id=snowflake())
        author = {"id": str(wid), "username": body.get("username") or hook["name"], "avatar": None,
                  "discriminator": "0000", "bot": True, "global_name": None, "flags": 0, "public_flags": 0}
        if body.get("username") and ("clyde" in body["username"].lower() or "discord" in body["username"].lower()):
            raise Rejection(400, 50035, "Invalid Form Body", {"username": 'Username cannot contain "discord" or "clyde"'})
        extra = {"webhook_id": str(wid)}
        # Execute Webhook takes no nonce/enforce_nonce: Discord staff on enforce_nonce, "webhooks and
        # interaction webhooks are a bit more intricate" -- a repeated execution posts again.
        _, msg = self._create_message(target, body, files, author=author, extra=extra, dedupe=False)
        # Discord turns avatar_url into an avatar hash; the URL the bot asked for is kept here for tests.
        self.webhook_avatars[msg["id"]] = body.get("avatar_url")
        wait = str(query.get("wait", "false")).lower() in ("1", "true")
        return (200, msg) if wait else (204, None)

    # -------------------------------------------------------- messages

    def _remember_nonce(self, author_id: str, nonce: str, ch: Channel, msg: dict) -> None:
        key = (author_id, nonce)
        self._nonce_index.pop(key, None)
        # lean: just the id (the message is rebuilt if the nonce comes back), to keep soaks small
        self._nonce_index[key] = (self.now(), ch, msg["id"] if self.lean else msg)
        if self.lean:
            ch.nonces[nonce] = msg["id"]  # type: ignore[assignment]
            if len(ch.nonces) > 500:
                ch.nonces.pop(next(iter(ch.nonces)))
        else:
            ch.nonces[nonce] = msg

    def _recent_nonce(self, author_id: str, nonce: str) -> tuple[Channel, Any] | None:
        """The message this author created with this nonce within the window, if any. Entries are in
        time order, so the expired ones are at the front."""
        now = self.now()
        while self._nonce_index:
            at = next(iter(self._nonce_index.values()))[0]
            if now - at < self.nonce_window_s:
                break
            self._nonce_index.popitem(last=False)
        hit = self._nonce_index.get((author_id, nonce))
        return (hit[1], hit[2]) if hit else None

    def _create_message(self, ch: Channel, body: dict, files: list[dict], *, author: dict | None = None,
                        extra: dict | None = None, dedupe: bool = True) -> tuple[int, dict]:
        check_message(body, len(files))
        nonce = body.get("nonce")
        if nonce is not None and len(str(nonce)) > 25:
            raise Rejection(400, 50035, "Invalid Form Body", {"nonce": "Must be 25 or fewer in length."})
        author = author or self.bot_user
        if dedupe and body.get("enforce_nonce") and nonce is not None:
            # Discord (Create Message, enforce_nonce): "If another message was created by the same
            # author with the same nonce, that message will be returned and no new message will be
            # created" -- for a few minutes. The docs scope it to the author, not the channel.
            hit = self._recent_nonce(author["id"], str(nonce))
            if hit is not None:
                first_ch, first = hit
                first_id = first if isinstance(first, str) else first["id"]
                if first_id in first_ch.deleted_ids:
                    # Discord's staff (discord-api-docs#6647): a deleted original is not re-created.
                    raise Rejection(404, 10008, "Unknown Message")
                if isinstance(first, dict):
                    return 200, first
                kept = next((x for x in first_ch.history() if x["id"] == first_id), None)
                return 200, kept or self.message_object(first_ch.id, body) | {"id": first_id}
        if files and not self.perms(ch) & ATTACH_FILES:
            raise Rejection(403, 50013, "Missing Permissions")
        msg = self.message_object(ch.id, body, files=self._attachments(files, ch.id))
        msg["author"] = author
        msg.update(extra or {})
        self._store(ch, msg)
        if nonce is not None and dedupe:
            self._remember_nonce(author["id"], str(nonce), ch, msg)
        return 200, msg

    def _store(self, ch: Channel, msg: dict) -> None:
        if ch.is_thread:
            ch.message_count += 1
            ch.total_message_sent += 1
        if self.lean:
            ch.recent.append(msg)  # type: ignore[union-attr]
            if self.on_message is not None:
                self.on_message(ch, msg)
        else:
            ch.messages.append(msg)

    @staticmethod
    def _history_object(msg: dict) -> dict:
        # Discord sends `nonce` in the Create Message response and the MESSAGE_CREATE event only;
        # a message read back from history has none, so a bot must recognise its posts otherwise.
        return {k: v for k, v in msg.items() if k not in ("nonce", "allowed_mentions")}

    def _history(self, channel_id: int, query: dict) -> tuple[int, list[dict]]:
        """GET /channels/{id}/messages: newest first; `limit` 1-100 (default 50); one of `before`,
        `after`, `around`."""
        ch = self._channel(channel_id)
        errors = {}
        try:
            limit = int(query.get("limit", 50))
        except ValueError:
            limit, errors["limit"] = 50, "Value is not int."
        if not 1 <= limit <= 100:
            errors["limit"] = "int value should be between 1 and 100." if "limit" not in errors else errors["limit"]
        anchors = [k for k in ("around", "before", "after") if k in query]
        if len(anchors) > 1:  # the docs: "mutually exclusive, only one may be passed at a time"
            errors[anchors[1]] = "Only one of around, before, after may be passed."
        anchor = None
        if anchors:
            try:
                anchor = int(query[anchors[0]])
            except ValueError:
                errors[anchors[0]] = "Value is not snowflake."
        if errors:
            raise Rejection(400, 50035, "Invalid Form Body", errors)
        if not self.perms(ch) & READ_MESSAGE_HISTORY:
            # The docs: "If the current user is missing the READ_MESSAGE_HISTORY permission in the
            # channel, then no messages will be returned" -- an empty list, not an error.
            return 200, []
        msgs = ch.history()  # oldest first (snowflakes grow)
        if not anchors:
            page = msgs[-limit:]
        elif anchors[0] == "before":
            page = [x for x in msgs if int(x["id"]) < anchor][-limit:]
        elif anchors[0] == "after":
            # the `limit` messages right after the anchor (discord.py pages on with the newest of them)
            page = [x for x in msgs if int(x["id"]) > anchor][:limit]
        else:
            older = [x for x in msgs if int(x["id"]) < anchor]
            rest = [x for x in msgs if int(x["id"]) >= anchor]
            n_older = min(len(older), limit // 2)
            take_rest = rest[: limit - n_older]
            older = older[len(older) - min(len(older), limit - len(take_rest)):] if older else []
            page = older + take_rest
        return 200, [self._history_object(x) for x in reversed(page)]


    def _command_object(self, c: dict, guild: str | None) -> dict:
        out = {"id": str(snowflake()), "application_id": str(self.app_id), "version": str(snowflake()), "type": c.get("type", 1),
               "name": c["name"], "description": c.get("description", ""), "options": c.get("options", []),
               "default_member_permissions": c.get("default_member_permissions"), "dm_permission": c.get("dm_permission", True),
               "nsfw": c.get("nsfw", False), "contexts": c.get("contexts"), "integration_types": c.get("integration_types", [0]),
               "name_localizations": None, "description_localizations": None}
        if guild:
            out["guild_id"] = guild
        if len(out["description"]) > 100 or (c.get("type", 1) == 1 and not out["description"]):
            raise Rejection(400, 50035, "Invalid Form Body", {"description": "Must be between 1 and 100 in length."})
        return out

    def _callback(self, token: str, body: dict, files: list[dict], query: dict) -> tuple[int, Any]:
        inter = self.interactions.get(token)
        if inter is None:
            raise Rejection(404, 10062, "Unknown interaction")
        if inter.acknowledged:
            raise Rejection(400, 40060, "Interaction has already been acknowledged.")
        kind = body["type"]
        data = body.get("data") or {}
        if kind in (4, 7):
            check_message(data, len(files))
        inter.acknowledged = True
        inter.acked_at = time.monotonic()
        inter.response_type = kind
        if kind == 8:  # autocomplete result
            choices = data.get("choices", [])
            if len(choices) > 25 or any(len(c["name"]) > 100 for c in choices):
                raise Rejection(400, 50035, "Invalid Form Body", {"choices": "Must be 25 or fewer in length."})
        message = None
        if kind in (4, 5):
            message = self.message_object(self.general.id, data, files=self._attachments(files), interaction=True,
                                          flags=(128 if kind == 5 else 0) | (data.get("flags") or 0))
            inter.original = message
        elif kind == 7:
            inter.original = message = self.message_object(self.general.id, data, interaction=True)
        result = {"interaction": {"id": str(inter.id), "type": 2, "response_message_id": message["id"] if message else None,
                                  "response_message_loading": kind == 5,
                                  "response_message_ephemeral": bool((data.get("flags") or 0) & 64)},
                  "resource": {"type": kind, **({"message": message} if message else {})}}
        if query.get("with_response") in ("1", "true", "True"):
            return 200, result
        return 204, None

    def _webhook(self, method: str, token: str, original: bool, body: Any, files: list[dict]) -> tuple[int, Any]:
        inter = self.interactions.get(token)
        if inter is None or not inter.acknowledged:
            raise Rejection(404, 10015, "Unknown Webhook")
        if original:
            if method == "DELETE":
                if inter.original is None or inter.deleted:
                    raise Rejection(404, 10008, "Unknown Message")
                inter.deleted = True
                return 204, None
            if method == "PATCH":
                check_message(body or {}, len(files))
                base = inter.original or self.message_object(self.general.id, {}, interaction=True)
                base = dict(base)
                for k in ("content", "embeds", "components", "flags"):
                    if k in (body or {}):
                        base[k] = body[k] if body[k] is not None else ([] if k != "content" else "")
                base["flags"] = (base.get("flags") or 0) & ~128  # no longer "thinking"
                base["edited_timestamp"] = now_iso()
                if files:
                    base["attachments"] = self._attachments(files)
                base["embeds"] = self._resolve_embeds(base.get("embeds") or [], base.get("attachments") or [])
                self._note_attachments(base)
                inter.original = base
                return 200, base
            if method == "GET":
                return 200, inter.original
        if method == "POST":
            check_message(body or {}, len(files))
            msg = self.message_object(self.general.id, body or {}, files=self._attachments(files), interaction=True)
            inter.followups.append(msg)
            return 200, msg
        return 405, {"message": "405: Method Not Allowed", "code": 0}
