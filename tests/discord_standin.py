"""A loopback stand-in for Discord: the REST API and the gateway, enough of both for discord.py's
real client, command tree, views and rate limiter to run against it.

It enforces Discord's documented message limits and answers with Discord's real error codes
(50035 invalid form body, 40060 interaction already acknowledged, 10062 unknown interaction,
50013 missing permissions, 10003 unknown channel), so tests fail when the bot would fail on the
real service. Facts it relies on are in shared/docs/discord-offline-testing.md.

It runs on its own thread and event loop: tests in any loop, and subprocesses, can use it.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from aiohttp import WSMsgType, web

from tests.loopback import LoopbackServer

DISCORD_EPOCH_MS = 1420070400000
_counter = itertools.count(1)


def snowflake() -> int:
    """A snowflake carrying a real timestamp, unique within the test run."""
    return ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (next(_counter) & 0x3FFFFF)


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
ALL_TEXT = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES


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
    def __init__(self, *, rate_limit_per_second: float | None = None, lean: bool = False):
        # lean (long soak runs): no request log, no message log; each new message goes to
        # on_message instead, and only recent nonces are remembered (Discord's window is minutes).
        self.lean = lean
        self.on_message = None
        self.app_id = snowflake()
        self.bot_user = {"id": str(self.app_id), "username": "roverbot", "discriminator": "0", "global_name": "roverbot",
                         "avatar": None, "bot": True, "flags": 0, "public_flags": 0}
        self.guild_id = snowflake()
        self.owner_id = snowflake()
        self.bot_role_id = snowflake()
        self.channels: dict[int, Channel] = {}
        self.general = self.add_channel("general")
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

    def add_channel(self, name: str, permissions: int = ALL_TEXT) -> Channel:
        ch = Channel(snowflake(), self.guild_id, name, permissions)
        self.channels[ch.id] = ch
        return ch

    @property
    def api_base(self) -> str:
        return f"{self.url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"{self.url.replace('http://', 'ws://')}/gateway"

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("GET", "/gateway", self._gateway)
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
        # The bot's rights in a channel are a member overwrite on top of its role (all text rights).
        overwrite = {"id": str(self.app_id), "type": 1, "allow": str(ch.bot_permissions),
                     "deny": str(ALL_TEXT & ~ch.bot_permissions)}
        return {"id": str(ch.id), "type": 0, "guild_id": str(ch.guild_id), "name": ch.name, "position": 0,
                "permission_overwrites": [overwrite], "nsfw": False, "topic": None, "last_message_id": None,
                "rate_limit_per_user": 0, "parent_id": None, "flags": 0}

    def set_permissions(self, ch: Channel, bits: int) -> None:
        """Change what the bot may do in a channel, and tell connected clients (CHANNEL_UPDATE)."""
        ch.bot_permissions = bits
        if self.sockets:
            self.call(self.send_dispatch("CHANNEL_UPDATE", self.channel_object(ch)))

    def delete_channel(self, ch: Channel) -> None:
        ch.deleted = True
        if self.sockets:
            self.call(self.send_dispatch("CHANNEL_DELETE", self.channel_object(ch)))

    def guild_object(self) -> dict:
        return {
            "id": str(self.guild_id), "name": "Mars fans", "icon": None, "splash": None, "discovery_splash": None,
            "owner_id": str(self.owner_id), "afk_channel_id": None, "afk_timeout": 300, "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0, "features": [], "mfa_level": 0,
            "system_channel_id": str(self.general.id), "system_channel_flags": 0, "rules_channel_id": None,
            "vanity_url_code": None, "description": None, "banner": None, "premium_tier": 0, "preferred_locale": "en-US",
            "public_updates_channel_id": None, "nsfw_level": 0, "premium_progress_bar_enabled": False,
            "roles": [{"id": str(self.guild_id), "name": "@everyone", "permissions": str(VIEW_CHANNEL | SEND_MESSAGES),
                       "position": 0, "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0},
                      {"id": str(self.bot_role_id), "name": "roverbot", "permissions": str(ALL_TEXT),
                       "position": 1, "color": 0, "hoist": False, "managed": True, "mentionable": False, "flags": 0}],
            "emojis": [], "stickers": [], "joined_at": now_iso(), "large": False, "unavailable": False,
            "member_count": 2, "voice_states": [], "threads": [], "presences": [], "stage_instances": [],
            "guild_scheduled_events": [], "soundboard_sounds": [],
            "members": [self.member(self.app_id) | {"user": self.bot_user, "roles": [str(self.bot_role_id)]}],
            "channels": [self.channel_object(c) for c in self.channels.values() if not c.deleted],
        }

    def message_object(self, channel_id: int, body: dict, *, flags: int = 0, files: list[dict] | None = None,
                       interaction: bool = False) -> dict:
        msg = {
            "id": str(snowflake()), "channel_id": str(channel_id), "author": self.bot_user,
            "content": body.get("content") or "", "timestamp": now_iso(), "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": files or [],
            "embeds": body.get("embeds") or [], "pinned": False, "type": 20 if interaction else 0,
            "flags": flags | (body.get("flags") or 0), "components": body.get("components") or [],
            "nonce": body.get("nonce"), "allowed_mentions": body.get("allowed_mentions"),
        }
        if interaction:
            msg["webhook_id"] = str(self.app_id)
            msg["application_id"] = str(self.app_id)
        return msg

    # -------------------------------------------------------- payloads a test dispatches

    def interaction(self, type_: int, data: dict, *, permissions: int = VIEW_CHANNEL | SEND_MESSAGES,
                    channel: Channel | None = None, user_id: int | None = None, message: dict | None = None) -> dict:
        ch = channel or self.general
        i = Interaction(snowflake(), f"tok-{snowflake()}")
        self.interactions[i.token] = i
        payload = {
            "id": str(i.id), "application_id": str(self.app_id), "type": type_, "data": data, "token": i.token,
            "version": 1, "guild_id": str(self.guild_id), "channel_id": str(ch.id), "channel": self.channel_object(ch),
            "member": self.member(user_id, permissions), "locale": "en-US", "guild_locale": "en-US",
            "app_permissions": str(ch.bot_permissions), "entitlements": [], "attachment_size_limit": 10 * 1024 * 1024,
            "authorizing_integration_owners": {"0": str(self.guild_id)}, "context": 0,
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
        self.seq += 1
        for ws in list(self.sockets):
            if not ws.closed:
                await ws.send_str(json.dumps({"op": 0, "t": event, "s": self.seq, "d": data}))

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
                    self.seq = 0
                    ready = {"v": 10, "user": self.bot_user, "guilds": [{"id": str(self.guild_id), "unavailable": True}],
                             "session_id": f"session-{snowflake()}", "resume_gateway_url": self.gateway_url,
                             "application": {"id": str(self.app_id), "flags": 0}, "private_channels": [],
                             "relationships": [], "user_settings": {}, "geo_ordered_rtc_regions": [], "shard": [0, 1]}
                    for event, d in (("READY", ready), ("GUILD_CREATE", self.guild_object())):
                        self.seq += 1
                        await ws.send_str(json.dumps({"op": 0, "t": event, "s": self.seq, "d": d}))
                elif op == 6:
                    self.resumes.append(data["d"])
                    self.seq += 1
                    await ws.send_str(json.dumps({"op": 0, "t": "RESUMED", "s": self.seq, "d": {}}))
        finally:
            if ws in self.sockets:
                self.sockets.remove(ws)
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
            limited = self._global_limit()
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

    def _global_limit(self) -> web.Response | None:
        now = time.monotonic()
        self._window = [t for t in self._window if now - t < 1.0]
        if len(self._window) >= self.rate_limit_per_second:  # type: ignore[operator]
            retry = max(0.001, 1.0 - (now - self._window[0]))
            self.requests[-1]["limited"] = True
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
            return 200, {"url": self.gateway_url, "shards": 1,
                         "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}}
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
            body = body or {}
            check_message(body, len(files))
            nonce = body.get("nonce")
            if nonce is not None and len(str(nonce)) > 25:
                raise Rejection(400, 50035, "Invalid Form Body", {"nonce": "Must be 25 or fewer in length."})
            if body.get("enforce_nonce") and nonce in ch.nonces:
                first = ch.nonces[nonce]  # Discord: the same nonce within minutes returns the first message
                return 200, first if isinstance(first, dict) else self.message_object(ch.id, body) | {"id": first}
            if files and not ch.bot_permissions & ATTACH_FILES:
                raise Rejection(403, 50013, "Missing Permissions")
            msg = self.message_object(ch.id, body, files=self._attachments(files))
            if self.lean:
                if self.on_message is not None:
                    self.on_message(ch, msg)
                if nonce is not None:
                    ch.nonces[nonce] = msg["id"]  # just the id: the message is rebuilt if the nonce comes back
                    if len(ch.nonces) > 500:
                        ch.nonces.pop(next(iter(ch.nonces)))
            else:
                ch.messages.append(msg)
                if nonce is not None:
                    ch.nonces[nonce] = msg
            return 200, msg
        m = re.fullmatch(r"/channels/(\d+)", path)
        if m and method == "GET":
            return 200, self.channel_object(self._channel(int(m[1])))
        return 404, {"message": "404: Not Found", "code": 0}

    def _channel(self, channel_id: int) -> Channel:
        ch = self.channels.get(channel_id)
        if ch is None or ch.deleted:
            raise Rejection(404, 10003, "Unknown Channel")
        if not ch.bot_permissions & VIEW_CHANNEL or not ch.bot_permissions & SEND_MESSAGES:
            raise Rejection(403, 50013, "Missing Permissions")
        return ch

    @staticmethod
    def _attachments(files: list[dict]) -> list[dict]:
        return [{"id": str(snowflake()), "filename": f["filename"], "size": f["size"],
                 "url": f"https://cdn.example/{f['filename']}", "proxy_url": f"https://cdn.example/{f['filename']}"} for f in files]

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
