"""/subscribe, /unsubscribe, /subscriptions (Manage Server) and /digest: thin handlers."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot import compose, delivery, subscribing
from bot.models import UserFacingError
from cogs.replies import answer, tell

if TYPE_CHECKING:
    from bot.app import RoverBot

Kind = Literal["images", "news", "digest", "drives"]


class SubscriptionCog(commands.Cog, name="subscriptions"):
    def __init__(self, bot: "RoverBot"):
        self.bot = bot

    @property
    def store(self):
        return self.bot.services.store

    async def _missing(self, interaction: discord.Interaction, channel: discord.abc.GuildChannel) -> list[str]:
        """What the bot lacks in the target channel, from Discord's own view of its permissions."""
        guild = interaction.guild
        me = guild.me if guild is not None else None
        if me is not None and hasattr(channel, "permissions_for"):
            perms = channel.permissions_for(me)
        elif channel.id == interaction.channel_id:
            perms = interaction.app_permissions
        else:
            try:
                return await self.bot.automation.courier.sender.missing_permissions(channel.id)
            except delivery.DeliveryError:
                return ["View Channel"]
        return delivery.missing({n: getattr(perms, n) for n in delivery.NEEDED_PERMISSIONS})

    @app_commands.command(name="subscribe")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(
        kind="What to post: new raw images, mission news, a daily digest, or the rover's drives",
        channel="Where to post (default: this channel)",
        camera="Only this camera or family, e.g. navcam, mastcam (images and digest)",
        time="Digest time of day, 24-hour HH:MM (default from the bot's config)",
        timezone="Digest time zone, an IANA name such as Europe/Berlin",
        role="A role to ping with each post (never @everyone)",
    )
    async def subscribe(self, interaction: discord.Interaction, kind: Kind, channel: discord.TextChannel | None = None,
                        camera: str | None = None, time: str | None = None, timezone: str | None = None,
                        role: discord.Role | None = None) -> None:
        """Post new images, mission news or a daily digest in a channel automatically."""
        cfg = self.bot.services.config
        try:
            req = subscribing.check(kind, camera, time, timezone, catalogue=self.bot.services.catalogue,
                                    default_time=cfg.digest_time, default_tz=cfg.default_timezone)
            if role is not None and role.is_default():
                raise subscribing.BadSubscription("I never ping @everyone; pick a role, or leave `role` empty.")
        except UserFacingError as e:
            await tell(interaction, str(e))
            return
        target = channel or interaction.channel
        if target is None or interaction.guild_id is None:
            await tell(interaction, "Subscriptions are for server channels.")
            return
        missing = await self._missing(interaction, target)  # type: ignore[arg-type]
        if missing:
            await tell(interaction, f"I can't post in <#{target.id}> yet: I'm missing **{', '.join(missing)}** there. "
                                    "Give me that permission and run /subscribe again.")
            return
        now = self.bot.services.clock().timestamp()
        sub = self.store.subscribe(interaction.guild_id, target.id, kind, camera=req.camera.key if req.camera else "",
                                   codes=req.camera.codes if req.camera else (), digest_time=req.digest_time,
                                   timezone=req.timezone, role_id=role.id if role else None, at=now)
        await tell(interaction, describe(sub, self.bot.services.catalogue, cfg.messages_per_hour, confirm=True))

    @subscribe.autocomplete("camera")
    async def camera_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=v) for n, v in self.bot.services.catalogue.choices(current)]

    @subscribe.autocomplete("timezone")
    async def zone_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=z, value=z) for z in subscribing.zone_choices(current)]

    @app_commands.command(name="unsubscribe")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(kind="Which automatic posts to stop", channel="Which channel (default: this one)")
    async def unsubscribe(self, interaction: discord.Interaction, kind: Kind, channel: discord.TextChannel | None = None) -> None:
        """Stop automatic images, news or digest posts in a channel."""
        target_id = channel.id if channel else interaction.channel_id
        if target_id is not None and self.store.unsubscribe(target_id, kind):
            await tell(interaction, f"Done: no more {kind} posts in <#{target_id}>.")
        else:
            await tell(interaction, f"<#{target_id}> has no {kind} subscription. `/subscriptions` lists what this server has.")

    @app_commands.command(name="subscriptions")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def subscriptions(self, interaction: discord.Interaction) -> None:
        """List this server's automatic posts, and any that are paused and why."""
        subs = self.store.subscriptions(guild_id=interaction.guild_id)
        if not subs:
            await tell(interaction, "This server has no automatic posts yet. Start with `/subscribe kind:images`.")
            return
        cfg = self.bot.services.config
        lines = [describe(s, self.bot.services.catalogue, cfg.messages_per_hour) for s in subs]
        await tell(interaction, compose.clip("\n".join(lines), compose.MAX_CONTENT))

    @app_commands.command(name="digest")
    @app_commands.guild_only()
    async def digest(self, interaction: discord.Interaction) -> None:
        """Preview, only for you, what the next daily digest in this channel will contain."""
        sub = self.store.subscription(interaction.channel_id or 0, "digest")
        if sub is None:
            await tell(interaction, "This channel has no daily digest. Someone with Manage Server can add one with "
                                    "`/subscribe kind:digest`.")
            return
        await answer(interaction, lambda: self.bot.automation.preview_digest(sub), ephemeral=True)


def describe(sub, catalogue, per_hour: int, confirm: bool = False) -> str:
    what = {"images": "new raw images", "news": "mission news", "digest": "a daily digest",
            "drives": "Perseverance's drives"}[sub.kind]
    parts = [f"<#{sub.channel_id}> gets {what}"]
    if sub.camera:
        parts.append(f"from {catalogue.resolve(sub.camera).label}")
    if sub.kind == "digest":
        parts.append(f"at {sub.digest_time} {sub.timezone}")
    if sub.role_id:
        parts.append(f"pinging <@&{sub.role_id}>")
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
