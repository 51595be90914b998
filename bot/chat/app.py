"""The Discord application: the Bot subclass, and the `run` and `sync` entry points.

This is where objects are wired: services (plain, Discord-free) are built from the config and
handed to the bot; cogs only translate interactions into calls on them.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
from datetime import datetime, timezone
from typing import Any, Mapping

import aiohttp

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot import compose, logs, services
from bot.posting import delivery, schedule
from bot.chat import render
from bot.config import Config
from bot.models import Shards, UserFacingError, shown
from cogs import replies

log = logging.getLogger("roverbot.app")

DEFAULT_API_BASE = discord.http.Route.BASE


class StartupError(Exception):
    """The bot cannot start or register its commands; the message says why in one line."""


class TokenMissing(StartupError):
    """DISCORD_TOKEN is not set."""


class DiscordUnreachable(StartupError):
    """Discord's API or gateway could not be reached, or did not answer in time."""


# How long a start may wait for Discord before saying so: well inside the 30 s an operator (or an
# orchestrator's health check) waits before assuming the process is stuck.
STARTUP_SECONDS = 25.0
# discord.py waits 5 s before every IDENTIFY but a connect's first (Client.before_identify_hook), so
# a process's shards become ready one after another: its last one 5 s x (shards - 1) after its first.
IDENTIFY_SPACING = 5.0
STOP_SECONDS = 8.0  # a SIGTERM finishes within 10 s: running cycles are cancelled and recovered next start


async def _within(coro, what: str, where: object, seconds: float = STARTUP_SECONDS):
    try:
        return await asyncio.wait_for(coro, seconds)
    except asyncio.TimeoutError:
        raise DiscordUnreachable(f"{what} at {where} did not answer within {seconds:.0f} s") from None
    except (aiohttp.ClientConnectionError, OSError) as e:
        raise DiscordUnreachable(f"could not reach {what} at {where} ({type(e).__name__})") from None


def intents() -> discord.Intents:
    """Slash commands need no privileged intents; guilds gives channels, roles and permissions."""
    it = discord.Intents.none()
    it.guilds = True
    return it


def apply_endpoints(env: Mapping[str, str]) -> None:
    """Point discord.py at another Discord (a proxy, or the test stand-in)."""
    api = env.get("DISCORD_API_BASE")
    discord.http.Route.BASE = api.rstrip("/") if api else DEFAULT_API_BASE
    gateway = env.get("DISCORD_GATEWAY_URL")
    if gateway:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)


def token_from(env: Mapping[str, str]) -> str:
    token = env.get("DISCORD_TOKEN", "").strip()
    if not token:
        raise TokenMissing("DISCORD_TOKEN is not set: put the bot's token in the environment (never in a file in the repo)")
    return token


# How far the check before a late re-send reads (100 messages a page). It stops early at the
# channel's newest message; in a channel busier than this the post waits and is checked again.
FIND_SENT_PAGES = 50


class DiscordSender:
    """The courier's view of Discord: send a message, check a channel, find where to raise an alert."""

    def __init__(self, bot: "RoverBot"):
        self.bot = bot

    async def send(self, m: delivery.Outgoing) -> int:
        role_ids = m.role_ids or ((m.role_id,) if m.role_id else ())
        roles: Any = [discord.Object(id=r) for r in role_ids] if role_ids else False
        content, embeds = with_reference(m.content, m.embeds, m.reference)
        mentions = discord.AllowedMentions(everyone=False, users=False, roles=roles, replied_user=False)
        try:
            if m.webhook is not None:
                return await self._execute_webhook(m, content, embeds, [str(r) for r in role_ids])
            else:
                msg = await self.bot.get_partial_messageable(m.thread_id or m.channel_id).send(
                    content=content or None,
                    embeds=[discord.Embed.from_dict(e) for e in embeds],
                    files=[discord.File(io.BytesIO(data), filename=name) for name, data in m.files],
                    allowed_mentions=mentions,
                    nonce=m.nonce,  # with enforce_nonce: a re-send after a crash returns the first message
                )
        except discord.Forbidden as e:
            needed = delivery.NEEDED_PERMISSIONS + (("send_messages_in_threads",) if m.thread_id else ())
            missing = await self._missing_or_none(m.channel_id, needed)
            raise delivery.Forbidden(f"I'm missing {', '.join(missing)}" if missing else f"Discord refused ({e.code}: {e.text})") from None
        except discord.NotFound as e:
            if e.code == 10015:
                raise delivery.WebhookGone(f"the webhook was deleted ({e.code})") from None
            if m.thread_id:
                raise delivery.ChannelGone(f"the thread no longer exists ({e.code})") from None
            raise delivery.ChannelGone(f"the channel no longer exists ({e.code})") from None
        except discord.DiscordServerError as e:
            raise delivery.Transient(f"Discord answered {e.status}") from None
        except discord.HTTPException as e:
            if e.status == 429:
                raise delivery.Transient("rate limited for longer than discord.py waits") from None
            raise delivery.Rejected(f"{e.status} {e.code}: {e.text}") from None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            raise delivery.Transient(f"{type(e).__name__}: {e}") from None
        return msg.id

    async def _execute_webhook(self, m: delivery.Outgoing, content: str, embeds: list[dict], roles: list[str]) -> int:
        """One execution of the channel's webhook, with wait=true so Discord answers with the message
        (its id is recorded). Exactly one try: a webhook takes no nonce, so an automatic retry after a
        lost answer would post a second copy (discord.py's webhook client retries 5xx five times).
        The courier retries instead, after looking in the channel for the post's reference."""
        assert m.webhook is not None
        body: dict[str, Any] = {"content": content, "embeds": embeds,
                                "allowed_mentions": {"parse": [], "roles": roles}}
        if m.username:
            body["username"] = m.username
        if m.avatar_url:
            body["avatar_url"] = m.avatar_url
        form = aiohttp.FormData(quote_fields=False)
        if m.files:
            body["attachments"] = [{"id": i, "filename": name} for i, (name, _) in enumerate(m.files)]
        form.add_field("payload_json", discord.utils._to_json(body), content_type="application/json")
        for i, (name, data) in enumerate(m.files):
            form.add_field(f"files[{i}]", data, filename=name, content_type="application/octet-stream")
        params = {"wait": "true", **({"thread_id": str(m.thread_id)} if m.thread_id else {})}
        url = f"{discord.http.Route.BASE}/webhooks/{m.webhook[0]}/{m.webhook[1]}"
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
                async with session.post(url, data=form, params=params) as response:
                    text = await response.text()
                    status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            raise delivery.Transient(f"{type(e).__name__}: {e}") from None
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            answer = {}
        code = answer.get("code", 0) if isinstance(answer, dict) else 0
        if status == 200:
            return int(answer["id"])
        if status == 404 and code == 10015:
            raise delivery.WebhookGone(f"the webhook was deleted ({code})")
        if status == 404:
            raise delivery.ChannelGone(f"the {'thread' if m.thread_id else 'channel'} no longer exists ({code})")
        if status == 403:
            raise delivery.Forbidden(f"Discord refused the webhook post ({code}: {answer.get('message', '')})")
        if status == 429 or status >= 500:
            raise delivery.Transient(f"Discord answered {status} to the webhook post")
        raise delivery.Rejected(f"{status} {code}: {answer.get('message', text[:200]) if isinstance(answer, dict) else text[:200]}")

    async def find_sent(self, channel_id: int, reference: str, since: float, authors=()) -> int | None:
        """Our message carrying `reference` among the channel's (or thread's) messages after `since`
        (at most 500 read), by the bot or by one of our webhooks (`authors`): a webhook's post is
        authored by the webhook, so the reference decides, among messages we could have made."""
        # Without Read Message History Discord answers an empty list, not 403 (its docs): we would
        # conclude "never sent" and post a second copy. So check the permission first.
        channel = self.bot.get_channel(channel_id)
        guild = getattr(channel, "guild", None)
        if channel is not None and guild is not None and guild.me is not None \
                and not channel.permissions_for(guild.me).read_message_history:  # type: ignore[union-attr]
            raise delivery.Forbidden("I'm missing Read Message History (needed to make sure a post is never doubled)")
        me = self.bot.user.id if self.bot.user else self.bot.application_id
        after = discord.utils.time_snowflake(datetime.fromtimestamp(max(since, 1_420_070_400), tz=timezone.utc))
        for _ in range(FIND_SENT_PAGES):
            try:
                batch = await self.bot.http.logs_from(channel_id, 100, after=after)
            except discord.Forbidden:
                raise delivery.Forbidden("I'm missing Read Message History (needed to make sure a post is never doubled)") from None
            except discord.NotFound as e:
                raise delivery.ChannelGone(f"the channel no longer exists ({e.code})") from None
            except discord.HTTPException as e:
                raise delivery.Transient(f"reading the channel failed: {e.status}") from None
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                raise delivery.Transient(f"{type(e).__name__}: {e}") from None
            for msg in batch:
                ours = int((msg.get("author") or {}).get("id", 0)) == me or int(msg.get("webhook_id") or 0) in set(authors)
                if ours and carries(msg, reference):
                    return int(msg["id"])
            if len(batch) < 100:
                return None
            after = max(int(msg["id"]) for msg in batch)
        # Not read to the end: whether it was sent is unknown, and guessing "no" would post a second copy.
        raise delivery.Transient(f"more than {FIND_SENT_PAGES * 100} messages in the channel since the first attempt;"
                                 " checking again later")

    async def _missing_or_none(self, channel_id: int, needed=delivery.NEEDED_PERMISSIONS) -> list[str]:
        try:
            return await self.missing_permissions(channel_id, needed)
        except delivery.DeliveryError:
            return []

    async def find_thread(self, guild_id: int, channel_id: int, name: str) -> int | None:
        """An active thread of the channel, started by the bot, with this name (Discord's list of a
        server's active threads: one request, made once per sol and channel at most)."""
        me = self.bot.user.id if self.bot.user else self.bot.application_id
        try:
            listing = await self.bot.http.get_active_threads(guild_id)
        except discord.Forbidden as e:
            raise delivery.Forbidden(f"Discord refused to list threads ({e.code}: {e.text})") from None
        except discord.HTTPException as e:
            raise delivery.Transient(f"listing threads failed: {e.status}") from None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            raise delivery.Transient(f"{type(e).__name__}: {e}") from None
        for th in listing.get("threads") or []:
            if int(th.get("parent_id") or 0) == channel_id and th.get("name") == name and int(th.get("owner_id") or 0) == me:
                return int(th["id"])
        return None

    async def create_thread(self, channel_id: int, name: str, *, forum: bool, starter: str) -> int:
        """A forum post (its first message is `starter`), or a public thread in a text channel."""
        body: dict[str, Any] = {"name": name[:100], "auto_archive_duration": 4320}
        if forum:
            body["message"] = {"content": starter, "allowed_mentions": {"parse": []}}
        else:
            body["type"] = 11  # public: everyone in the channel sees the sol's pictures
        route = discord.http.Route("POST", "/channels/{channel_id}/threads", channel_id=channel_id)
        try:
            made = await self.bot.http.request(route, json=body)
        except discord.Forbidden as e:
            needed = delivery.NEEDED_PERMISSIONS + (() if forum else ("create_public_threads",))
            missing = await self._missing_or_none(channel_id, needed)
            raise delivery.Forbidden(f"I'm missing {', '.join(missing)}" if missing else f"Discord refused ({e.code}: {e.text})") from None
        except discord.NotFound as e:
            raise delivery.ChannelGone(f"the channel no longer exists ({e.code})") from None
        except discord.DiscordServerError as e:
            raise delivery.Transient(f"Discord answered {e.status}") from None
        except discord.HTTPException as e:
            if e.status == 429:
                raise delivery.Transient("rate limited for longer than discord.py waits") from None
            raise delivery.Rejected(f"{e.status} {e.code}: {e.text}") from None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            raise delivery.Transient(f"{type(e).__name__}: {e}") from None
        return int(made["id"])

    async def create_webhook(self, channel_id: int, name: str) -> tuple[int, str]:
        """A webhook in the channel for posts under a custom name. Without Manage Webhooks (from the
        cached permissions) nothing is asked: a refused request counts towards Discord's invalid-request limit."""
        channel = self.bot.get_channel(channel_id)
        guild = getattr(channel, "guild", None)
        if channel is not None and guild is not None and guild.me is not None \
                and not channel.permissions_for(guild.me).manage_webhooks:  # type: ignore[union-attr]
            raise delivery.Forbidden("I'm missing Manage Webhooks")
        try:
            made = await self.bot.http.create_webhook(channel_id, name=name[:80])
        except discord.Forbidden:
            raise delivery.Forbidden("I'm missing Manage Webhooks") from None
        except discord.NotFound as e:
            raise delivery.ChannelGone(f"the channel no longer exists ({e.code})") from None
        except discord.HTTPException as e:
            if e.status >= 500 or e.status == 429:
                raise delivery.Transient(f"making a webhook failed: {e.status}") from None
            raise delivery.Rejected(f"{e.status} {e.code}: {e.text}") from None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            raise delivery.Transient(f"{type(e).__name__}: {e}") from None
        return int(made["id"]), str(made["token"])

    async def missing_permissions(self, channel_id: int, needed=delivery.NEEDED_PERMISSIONS) -> list[str]:
        """What the bot lacks to post in a channel; raises ChannelGone when it no longer exists."""
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except discord.NotFound:
                raise delivery.ChannelGone("the channel no longer exists") from None
            except discord.Forbidden:
                return ["View Channel"]
            except discord.HTTPException as e:
                raise delivery.Transient(str(e)) from None
        guild = getattr(channel, "guild", None)
        if guild is None or guild.me is None:
            raise delivery.Transient("the server is not in my cache yet")
        perms = channel.permissions_for(guild.me)  # type: ignore[union-attr]
        return delivery.missing({n: getattr(perms, n) for n in needed}, needed)

    def alert_channel(self, guild_id: int) -> int | None:
        guild = self.bot.get_guild(guild_id)
        return guild.system_channel.id if guild and guild.system_channel else None


def with_reference(content: str, embeds: list[dict], reference: str) -> tuple[str, list[dict]]:
    """Put the post's reference where a reader barely sees it: the last embed's footer, else a
    small last line. Discord does not return nonces in history; this is how a post is found again."""
    if not reference:
        return content, embeds
    if embeds:
        last = dict(embeds[-1])
        footer = dict(last.get("footer") or {})
        text = footer.get("text") or ""
        footer["text"] = f"{text[: 2048 - len(reference) - 3]} · {reference}" if text else reference
        last["footer"] = footer
        return content, [*embeds[:-1], last]
    line = f"\n-# {reference}"
    return content[: 2000 - len(line)] + line, embeds


def carries(message: dict, reference: str) -> bool:
    if reference in (message.get("content") or ""):
        return True
    return any(reference in ((e.get("footer") or {}).get("text") or "") for e in message.get("embeds") or [])


class RoverTree(app_commands.CommandTree):
    """The one place a command's failure is answered: exactly one reply, only to the caller.

    (A cog's error handler would run before this one, and both would answer.)"""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        original = getattr(error, "original", error)
        if isinstance(original, UserFacingError):
            await replies.tell(interaction, str(original))
            return
        if isinstance(original, discord.HTTPException) and original.code == 40060:
            # Answered already (a duplicate delivery, or a retry that raced): nothing is lost.
            log.warning("interaction %s was already acknowledged (40060); duplicate ignored", interaction.id)
            return
        if isinstance(error, app_commands.MissingPermissions):
            await replies.tell(interaction, "Only members with **Manage Server** can change this server's automatic posts.")
            return
        if isinstance(error, app_commands.NoPrivateMessage):
            await replies.tell(interaction, "That works in a server channel, not in direct messages.")
            return
        if isinstance(error, app_commands.CheckFailure):
            await replies.tell(interaction, "You can't use that command here.")
            return
        if isinstance(error, app_commands.TransformerError):
            await replies.tell(interaction, f"`{shown(str(error.value))}` isn't a valid value for that option; check its"
                                            " description and try again.")
            return
        options = {o.get("name"): o.get("value") for o in (interaction.data or {}).get("options", [])}
        log.error("/%s failed (user %s, guild %s, options %s): %s: %s",
                  interaction.command.qualified_name if interaction.command else "?", interaction.user.id,
                  interaction.guild_id, options, type(original).__name__, original, exc_info=original)
        await replies.tell(interaction, replies.APOLOGY)


class RoverBot(commands.AutoShardedBot):
    """Always discord.py's sharded client: it runs the shards the config names (discord.shards of
    discord.shard_count, or `run --shards`), else as many as Discord recommends, all in this process."""

    def __init__(self, svc: services.Services, *, automate: bool = False, **options):
        # roverbot never joins voice: the warnings about voice libraries are noise in its log.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        options.setdefault("intents", intents())
        plan = svc.config.shard_plan
        if plan is not None:
            options.setdefault("shard_count", plan.count)
            options.setdefault("shard_ids", list(plan.ids))
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=RoverTree,
            **options,
        )
        self.services = svc
        self.sender = DiscordSender(self)
        # the servers this process delivers to: those on its shards (None: every server)
        self.automation = svc.automation(self.sender, self.shards_spec())
        self.automate = automate
        self.scheduler = None
        self.first_connection = asyncio.Event()  # set when the first of this process's shards is READY
        self.shards_ready: set[int] = set()
        self._shards_announced = False

    def shards_spec(self) -> Shards | None:
        """The gateway shards this process runs: known at once when configured, else once connecting
        has asked Discord for its recommended count (None until then)."""
        if not self.shard_count:
            return None
        ids = tuple(self.shard_ids) if self.shard_ids is not None else tuple(range(self.shard_count))
        return Shards(ids, self.shard_count)

    async def launch_shards(self) -> None:
        """Ask Discord (GET /gateway/bot) for its recommended shard count and the session starts left
        today, then let discord.py connect this process's shards. With the count set here, discord.py
        connects to DiscordWebSocket.DEFAULT_GATEWAY (DISCORD_GATEWAY_URL when given), as a plain
        client does, rather than to the URL /gateway/bot names."""
        if self.is_closed():
            return
        recommended, _, limits = await self.http.get_bot_gateway()
        configured = self.shard_count is not None
        if not configured:
            self.shard_count = recommended
        elif recommended > self.shard_count:  # type: ignore[operator]
            log.warning("Discord recommends %d shards and this bot runs %d in all: Discord closes a shard with "
                        "more than 2,500 servers (4011); raise discord.shard_count in every process", recommended,
                        self.shard_count)
        spec = self.shards_spec()
        assert spec is not None
        remaining = limits.get("remaining") if isinstance(limits, dict) else None
        if isinstance(remaining, int) and remaining < len(spec.ids):
            hours = float(limits.get("reset_after") or 0) / 3_600_000
            raise StartupError(f"Discord allows {remaining} more gateway session start(s) until its daily limit resets "
                               f"in {hours:.1f} h; these {len(spec.ids)} shard(s) need {len(spec.ids)}")
        if not self._shards_announced:
            self._shards_announced = True
            log.info("running shards %s%s", spec, "" if configured else " (the count Discord recommends)")
        await super().launch_shards()

    async def on_shard_connect(self, shard_id: int) -> None:
        self.first_connection.set()

    async def on_shard_ready(self, shard_id: int) -> None:
        self.shards_ready.add(shard_id)

    async def setup_hook(self) -> None:
        from cogs.gallery import GalleryCog
        from cogs.help import HelpCog
        from cogs.milestones import MilestoneCog
        from cogs.panorama import PanoramaCog
        from cogs.rover import RoverCog
        from cogs.subscriptions import SubscriptionCog

        svc = self.services
        self.add_dynamic_items(render.PagerButton, render.PageMenu)
        await self.add_cog(GalleryCog(svc.gallery_for, svc.choice, svc.clock))
        await self.add_cog(MilestoneCog(svc.gallery_for, svc.choice))
        await self.add_cog(SubscriptionCog(svc.store.subscriptions, svc.choice, svc.config, svc.clock,
                                           self.automation.digests.preview, self.sender.missing_permissions))
        if svc.panoramas is not None:
            await self.add_cog(PanoramaCog(svc.panoramas))
        if svc.rovermaps is not None:
            from cogs.where import WhereCog

            await self.add_cog(WhereCog(svc.rovermaps, svc.choice))
        await self.add_cog(HelpCog())
        await self.add_cog(RoverCog(svc.choice))
        if self.automate:
            self.automation.recover()
            self.scheduler = schedule.build(self.automation, self.services.config)
            self.scheduler.start()
            log.info("automatic posts: images every %d min, news every %d min, digests checked every minute",
                     self.services.config.poll_interval_minutes, self.services.config.news_interval_minutes)

    async def close(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
            await schedule.stop_running(self.scheduler, STOP_SECONDS)
            try:
                self.automation.membership.leave()  # at once off the list, and the lease free for another
            except Exception as e:  # noqa: BLE001 - a database gone at shutdown must not hide the stop
                log.warning("could not sign off from the database: %s", e)
        await super().close()

    async def on_guild_join(self, guild: discord.Guild) -> None:
        """Say hello once, where the server lets bots speak (its system channel), with how to start."""
        store = self.services.store
        if store.state.get(f"hello:{guild.id}") is not None:
            return  # rejoined: it heard this already
        channel = guild.system_channel
        if channel is None or guild.me is None or not channel.permissions_for(guild.me).send_messages:
            log.info("joined guild %s; no system channel I may post in, so no hello", guild.id)
            return
        store.state.put(f"hello:{guild.id}", "said")
        try:
            await channel.send(**render.message(compose.hello_post()))
        except discord.HTTPException as e:
            log.warning("could not say hello in guild %s: %s", guild.id, e)

    async def on_ready(self) -> None:
        log.info("connected as %s (id %s) to %d guild(s) on shards %s", self.user, self.user.id if self.user else "?",
                 len(self.guilds), self.shards_spec())

    # ------------------------------------------------------------ paging buttons

    async def turn_page(self, interaction: discord.Interaction, custom_id: str) -> None:
        """A paging button or menu: the cog whose command made the message handles it, chosen by the
        custom id's prefix (each cog lists its prefixes in `pages`); the message is edited in place."""
        prefix = custom_id.split(":", 1)[0]
        handler = next((cog.pages[prefix] for cog in self.cogs.values() if prefix in getattr(cog, "pages", {})), None)
        try:
            if handler is None:
                raise ValueError(prefix)
            await handler(interaction, custom_id)
        except UserFacingError as e:
            await replies.tell(interaction, str(e))
        except (ValueError, IndexError, KeyError):
            log.warning("unreadable button id %r", custom_id)
            await replies.tell(interaction, "That button is from an older version of me; run the command again.")


# ------------------------------------------------------------------ entry points


async def run(config: Config, env: Mapping[str, str] = os.environ) -> None:
    """Connect, serve until SIGINT/SIGTERM, then close Discord, HTTP and the database."""
    token = token_from(env)
    logs.redact(token)
    apply_endpoints(env)
    async with services.build(config) as svc:
        bot = RoverBot(svc, automate=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        tasks: list[asyncio.Task] = []
        try:
            stopper = asyncio.create_task(stop.wait(), name="signals")
            tasks.append(stopper)
            login = asyncio.create_task(_within(bot.login(token), "Discord's API", discord.http.Route.BASE))
            await asyncio.wait({login, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not login.done():
                login.cancel()
                log.info("stopped before connecting")
                return
            if login.exception() is not None:
                raise _startup_error(login.exception())  # type: ignore[arg-type]
            runner = asyncio.create_task(bot.connect(reconnect=True), name="discord")
            connected = asyncio.create_task(bot.first_connection.wait(), name="connected")
            ready = asyncio.create_task(bot.wait_until_ready(), name="ready")
            tasks += [runner, connected, ready]
            # First the gateway must answer at all (the first shard's READY) ...
            done, _ = await asyncio.wait({runner, connected, stopper}, timeout=STARTUP_SECONDS,
                                         return_when=asyncio.FIRST_COMPLETED)
            gateway = env.get("DISCORD_GATEWAY_URL") or "the gateway Discord announced"
            if not done:
                raise DiscordUnreachable(f"Discord's gateway ({gateway}) did not answer within {STARTUP_SECONDS:.0f} s")
            if runner not in done and stopper not in done:
                # ... then every shard of this process, each IDENTIFY_SPACING after the one before.
                shards = bot.shards_spec()
                count = len(shards.ids) if shards else 1
                budget = STARTUP_SECONDS + IDENTIFY_SPACING * (count - 1)
                done, _ = await asyncio.wait({runner, ready, stopper}, timeout=budget, return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    raise DiscordUnreachable(f"Discord's gateway ({gateway}) readied {len(bot.shards_ready)} of this "
                                             f"process's {count} shards within {budget:.0f} s")
            if runner not in done and stopper not in done:
                done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stopper in done:
                log.info("shutting down")
            elif runner.exception() is not None:
                raise _startup_error(runner.exception())  # type: ignore[arg-type]
        finally:
            for t in tasks:
                t.cancel()
            await bot.close()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        log.info("stopped cleanly")


async def sync(config: Config, env: Mapping[str, str] = os.environ) -> list[app_commands.AppCommand]:
    """Register the slash commands globally, or to the development guild in the config."""
    token = token_from(env)
    apply_endpoints(env)
    async with services.build(config, database=":memory:") as svc:  # registering commands needs no database
        bot = RoverBot(svc)
        try:
            await _within(bot.login(token), "Discord's API", discord.http.Route.BASE)  # runs setup_hook: cogs loaded
            if config.dev_guild_id:
                guild = discord.Object(id=config.dev_guild_id)
                bot.tree.copy_global_to(guild=guild)
                return await bot.tree.sync(guild=guild)
            return await bot.tree.sync()
        except (discord.LoginFailure, discord.HTTPException) as e:
            raise _startup_error(e) from None
        finally:
            await bot.close()


def _startup_error(e: BaseException) -> BaseException:
    """discord.py's startup failures, as one line an operator can act on (never with the token)."""
    if isinstance(e, StartupError):
        return e
    if isinstance(e, discord.ConnectionClosed) and e.code == 4011:
        return StartupError("Discord requires more shards (gateway close code 4011: a shard may hold at most 2,500 "
                            "servers); raise discord.shard_count (--shard-count) in every process")
    if isinstance(e, discord.ConnectionClosed) and e.code == 4010:
        return StartupError(f"Discord refused shard {e.shard_id} (gateway close code 4010: invalid shard); "
                            "check discord.shards against discord.shard_count")
    if isinstance(e, (discord.GatewayNotFound, discord.ConnectionClosed, aiohttp.ClientConnectionError, OSError)):
        return DiscordUnreachable(f"could not keep a connection to Discord's gateway ({type(e).__name__}: {e})")
    if isinstance(e, discord.LoginFailure):
        return StartupError("Discord refused the token in DISCORD_TOKEN (401); check it in the Developer Portal")
    if isinstance(e, discord.PrivilegedIntentsRequired):
        return StartupError("Discord refused the requested intents")
    if isinstance(e, discord.HTTPException):
        return StartupError(f"Discord refused the request: {e.status} {e.text}")
    return e
