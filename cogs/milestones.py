"""/milestone: one milestone's card, or the whole timeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from cogs.help import READ_ONLY_CONTEXTS, READ_ONLY_INSTALLS
from cogs.replies import answer

if TYPE_CHECKING:
    from bot.app import RoverBot


class MilestoneCog(commands.Cog, name="milestones"):
    def __init__(self, bot: "RoverBot"):
        self.bot = bot

    @app_commands.command(name="milestone")
    @READ_ONLY_INSTALLS
    @READ_ONLY_CONTEXTS
    @app_commands.describe(name="A milestone, e.g. landing, first-flight, watson-selfie (empty: the timeline)")
    async def milestone(self, interaction: discord.Interaction, name: str | None = None) -> None:
        """A moment of Perseverance's mission with its pictures, or the whole timeline."""
        gallery = self.bot.services.gallery
        if not name:
            await interaction.response.send_message(**render.message(gallery.timeline_page(0)))
            return
        await answer(interaction, lambda: gallery.milestone(name), check=lambda: gallery.timeline.find(name))

    @milestone.autocomplete("name")
    async def name_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=v) for n, v in self.bot.services.gallery.timeline.choices(current)]
