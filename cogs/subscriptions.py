"""/subscribe, /unsubscribe, /subscriptions (Manage Server) and /digest: thin handlers."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Awaitable, Callable, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot import compose
from bot.answers import subscribing
from bot.answers.rover_choice import RoverChoice
from bot.config import Config
from bot.mars import rovers
from bot.models import Post, Subscription, UserFacingError, shown
from bot.posting import delivery
from bot.store import Subscriptions
from cogs.replies import answer, tell

Kind = Literal["images", "news", "digest", "drives"]
Rovers = Literal[(*rovers.ROVERS, "both")]  # type: ignore[valid-type]
MissingPermissions = Callable[[int, tuple[str, ...]], Awaitable[list[str]]]


def catalogue_of(sub: Subscription):
    """The camera catalogue of a subscription's rover (a digest of every rover has no camera)."""
    return rovers.BY_MISSION.get(sub.mission, rovers.PERSEVERANCE).catalogue


class SubscriptionCog(commands.Cog, name="subscriptions"):
    def __init__(self, subscriptions: Subscriptions, choice: RoverChoice, config: Config, clock: Callable[[], datetime],
                 preview_digest: Callable[[Subscription], Awaitable[Post]], missing_permissions: MissingPermissions):
        self.subscriptions = subscriptions
        self.choice = choice
        self.config = config
        self.clock = clock
        self.preview_digest = preview_digest
        self.missing_permissions = missing_permissions  # asks Discord about a channel the cache doesn't hold

    async def _missing(self, interaction: discord.Interaction, channel: discord.abc.GuildChannel,
                       extra: tuple[str, ...] = ()) -> list[str]:
        """What the bot lacks in the target channel, from Discord's own view of its permissions."""
        needed = delivery.NEEDED_PERMISSIONS + extra
        guild = interaction.guild
        me = guild.me if guild is not None else None
        if me is not None and hasattr(channel, "permissions_for"):
            perms = channel.permissions_for(me)
        elif channel.id == interaction.channel_id:
            perms = interaction.app_permissions
        else:
            try:
                return await self.missing_permissions(channel.id, needed)
            except delivery.DeliveryError:
                return ["View Channel"]
        return delivery.missing({n: getattr(perms, n) for n in needed}, needed)

    @app_commands.command(name="subscribe")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(
        kind="What to post: new raw images, mission news, a daily digest, or the rover's drives",
        rover="Whose posts (default: this server's choice); a digest can cover both",
        channel="Where to post: a text channel, or a forum for one post per sol (default: this channel)",
        camera="Only this camera or family, e.g. navcam, mastcam (images and digest)",
        time="Digest time of day, 24-hour HH:MM (default from the bot's config)",
        timezone="Digest time zone, an IANA name such as Europe/Berlin",
        role="A role to ping with each post (never @everyone)",
        thread_per_sol="Text channels: put each sol's posts in a thread of their own (images and drives)",
        post_as="Post under this name through a webhook, e.g. Perseverance (needs Manage Webhooks)",
        avatar="With post_as: an https:// link to the picture shown with the name",
    )
    async def subscribe(self, interaction: discord.Interaction, kind: Kind, rover: Rovers | None = None,
                        channel: discord.TextChannel | discord.ForumChannel | None = None,
                        camera: str | None = None, time: str | None = None, timezone: str | None = None,
                        role: discord.Role | None = None, thread_per_sol: bool = False, post_as: str | None = None,
                        avatar: str | None = None) -> None:
        """Post new images, mission news, drives or a daily digest in a channel automatically."""
        cfg = self.config
        target = channel or interaction.channel
        forum = isinstance(target, discord.ForumChannel)
        try:
            whose = None if rover == "both" else self.choice.chosen(interaction.guild_id, rover)
            req = subscribing.check(kind, camera, time, timezone, rover=whose,
                                    default_time=cfg.digest_time, default_tz=cfg.default_timezone)
            if role is not None and role.is_default():
                raise subscribing.BadSubscription("I never ping @everyone; pick a role, or leave `role` empty.")
            how = subscribing.delivery(kind, forum=forum, thread_per_sol=thread_per_sol, webhook_name=post_as,
                                       webhook_avatar=avatar)
        except UserFacingError as e:
            await tell(interaction, str(e))
            return
        if target is None or interaction.guild_id is None:
            await tell(interaction, "Subscriptions are for server channels.")
            return
        missing = await self._missing(interaction, target, delivery.needed_for([how]))  # type: ignore[arg-type]
        if missing:
            await tell(interaction, f"I can't post in <#{target.id}> yet: I'm missing **{', '.join(missing)}** there. "
                                    "Give me that permission and run /subscribe again.")
            return
        now = self.clock().timestamp()
        sub = self.subscriptions.subscribe(interaction.guild_id, target.id, kind, mission=req.mission,
                                   camera=req.camera.key if req.camera else "",
                                   codes=req.camera.codes if req.camera else (), digest_time=req.digest_time,
                                   timezone=req.timezone, role_id=role.id if role else None, at=now,
                                   threads=how.threads, webhook_name=how.webhook_name, webhook_avatar=how.webhook_avatar)
        line = describe(sub, cfg.messages_per_hour, confirm=True)
        if how.webhook_name and hasattr(target, "permissions_for") and interaction.guild is not None \
                and interaction.guild.me is not None and not target.permissions_for(interaction.guild.me).manage_webhooks:
            line += (f"\nℹ️ I'm missing **Manage Webhooks** in <#{target.id}>, so until I have it I post as myself, "
                     f"not as {how.webhook_name}.")
        await tell(interaction, line)

    @subscribe.autocomplete("camera")
    async def camera_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        rover = (interaction.namespace.rover if "rover" in interaction.namespace else None) or None
        if rover == "both":
            return []
        catalogue = self.choice.chosen(interaction.guild_id, rover).catalogue
        return [app_commands.Choice(name=n, value=v) for n, v in catalogue.choices(current)]

    @subscribe.autocomplete("timezone")
    async def zone_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=z, value=z) for z in subscribing.zone_choices(current)]

    @app_commands.command(name="unsubscribe")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(subscription="Which one, by its id from /subscriptions (e.g. #12)",
                           kind="Or: which automatic posts to stop in a channel", channel="With kind: which channel (default: this one)")
    async def unsubscribe(self, interaction: discord.Interaction, subscription: str | None = None, kind: Kind | None = None,
                          channel: discord.TextChannel | discord.ForumChannel | None = None) -> None:
        """Stop one subscription (by its id), or a channel's images, news, drives or digest posts."""
        if subscription:
            m = re.fullmatch(r"\s*#?(\d+)\s*", subscription)
            gone = self.subscriptions.unsubscribe_id(int(m[1]), interaction.guild_id) if m else None
            if gone is None:
                await tell(interaction, f"This server has no subscription `{shown(subscription)}`. `/subscriptions` lists "
                                        "them with their ids.")
                return
            await tell(interaction, f"Done: removed #{gone.id}, {describe(gone, 0)}.")
            return
        if kind is None:
            await tell(interaction, "Say which: `subscription:` (an id from `/subscriptions`), or `kind:` for a channel.")
            return
        target_id = channel.id if channel else interaction.channel_id
        subs = self.subscriptions.find(channel_id=target_id, kind=kind) if target_id is not None else []
        if not subs:
            await tell(interaction, f"<#{target_id}> has no {kind} subscription. `/subscriptions` lists what this server has.")
        elif len(subs) > 1:
            listing = "\n".join(f"- {describe(s, 0)}" for s in subs)
            await tell(interaction, compose.clip(f"<#{target_id}> has {len(subs)} {kind} subscriptions; say which with "
                                                 f"`/unsubscribe subscription:#id`:\n{listing}", compose.MAX_CONTENT))
        else:
            self.subscriptions.unsubscribe_id(subs[0].id)
            await tell(interaction, f"Done: no more {kind} posts in <#{target_id}>.")

    @unsubscribe.autocomplete("subscription")
    async def subscription_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """This server's subscriptions, as plain text (a choice's name can't show mentions)."""
        guild = interaction.guild
        typed = current.strip().lstrip("#").lower()
        out = []
        for sub in self.subscriptions.find(guild_id=interaction.guild_id):
            where = guild.get_channel(sub.channel_id) if guild else None
            role = guild.get_role(sub.role_id) if guild and sub.role_id else None
            name = plain(sub, f"#{where.name}" if where else f"channel {sub.channel_id}",
                         f"@{role.name}" if role else (f"role {sub.role_id}" if sub.role_id else ""))
            if typed in name.lower():
                out.append(app_commands.Choice(name=name[:100], value=f"#{sub.id}"))
        return out[:25]

    @app_commands.command(name="subscriptions")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def subscriptions(self, interaction: discord.Interaction) -> None:
        """List this server's automatic posts with their ids, and any that are paused and why."""
        subs = self.subscriptions.find(guild_id=interaction.guild_id)
        if not subs:
            await tell(interaction, "This server has no automatic posts yet. Start with `/subscribe kind:images`.")
            return
        lines = [describe(s, self.config.messages_per_hour) for s in subs]
        lines.append("-# Remove one with `/unsubscribe subscription:#id`.")
        await tell(interaction, compose.clip("\n".join(lines), compose.MAX_CONTENT))

    @app_commands.command(name="digest")
    @app_commands.guild_only()
    async def digest(self, interaction: discord.Interaction) -> None:
        """Preview, only for you, what the next daily digest in this channel will contain."""
        sub = self.subscriptions.subscription(interaction.channel_id or 0, "digest")
        if sub is None:
            await tell(interaction, "This channel has no daily digest. Someone with Manage Server can add one with "
                                    "`/subscribe kind:digest`.")
            return
        await answer(interaction, lambda: self.preview_digest(sub), ephemeral=True)


def whose(sub: Subscription) -> str:
    """ "Perseverance", "Curiosity", or both for a digest of every rover."""
    rover = rovers.BY_MISSION.get(sub.mission)
    return rover.name if rover is not None else " & ".join(r.name for r in rovers.ROVERS.values())


def what_of(sub: Subscription) -> str:
    return {"images": f"{whose(sub)}'s new raw images", "news": "mission news",
            "digest": f"a daily digest of {whose(sub)}", "drives": f"{whose(sub)}'s drives"}[sub.kind]


def plain(sub, where: str, role: str) -> str:
    """One subscription in plain words, for an autocomplete choice: "#12 · #photos: Mastcam-Z images @fans"."""
    what = {"images": f"{whose(sub)} images", "news": "news", "digest": f"digest at {sub.digest_time}",
            "drives": f"{whose(sub)} drives"}[sub.kind]
    if sub.camera:
        what = f"{catalogue_of(sub).resolve(sub.camera).label} {what}"
    return " ".join(p for p in (f"#{sub.id} · {where}: {what}", role) if p)


def describe(sub, per_hour: int, confirm: bool = False) -> str:
    parts = [f"`#{sub.id}` <#{sub.channel_id}> gets {what_of(sub)}"]
    if sub.camera:
        parts.append(f"from {catalogue_of(sub).resolve(sub.camera).label}")
    if sub.kind == "digest":
        parts.append(f"at {sub.digest_time} {sub.timezone}")
    if sub.role_id:
        parts.append(f"pinging <@&{sub.role_id}>")
    if sub.threads == "forum":
        parts.append("as one forum post per sol")
    elif sub.threads == "text":
        parts.append("in a thread per sol")
    if sub.webhook_name:
        parts.append(f"posted as **{shown(sub.webhook_name)}**")
    line = " ".join(parts)
    if sub.paused:
        line += f" — ⏸️ paused since {compose.timestamp(datetime.fromtimestamp(sub.paused_at, tz=timezone.utc))}: {sub.paused_reason}"
    if confirm:
        if sub.kind == "images":
            line += (f". Pictures are grouped one message per sol, camera and sequence, at most {per_hour} an hour "
                     "(the rest go into the digest). Nothing older than now will be posted.")
        elif sub.kind == "news":
            line += ". Each new article is posted once; nothing older than now."
        elif sub.kind == "drives":
            line += (". Each new end-of-drive position is posted once, with a map and, when NASA has one, the 360° view "
                     "from the new stop; nothing older than now.")
        else:
            line += ". Preview it any time with `/digest`."
        line = "✅ " + line
    return line
