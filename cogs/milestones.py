"""/milestone: one milestone's card, or the whole timeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat import render
from cogs.help import READ_ONLY_CONTEXTS, READ_ONLY_INSTALLS
from cogs.replies import answer
from cogs.rover import ROVER_HELP, RoverName, chosen

if TYPE_CHECKING:
    from bot.chat.app import RoverBot


class MilestoneCog(commands.Cog, name="milestones"):
    def __init__(self, bot: "RoverBot"):
        self.bot = bot

    @app_commands.command(name="milestone")
    @READ_ONLY_INSTALLS
    @READ_ONLY_CONTEXTS
    @app_commands.describe(name="A milestone, e.g. landing, first-flight, watson-selfie (empty: the timeline)",
                           rover=ROVER_HELP)
    async def milestone(self, interaction: discord.Interaction, name: str | None = None, rover: RoverName | None = None) -> None:
        """A moment of a rover's mission with its pictures, or the whole timeline."""
        services = self.bot.services
        gallery = services.gallery_for(chosen(services.store, interaction.guild_id, rover))
        if not name:
            await interaction.response.send_message(**render.message(gallery.timeline_page(0)))
            return
        await answer(interaction, lambda: gallery.milestone(name), check=lambda: gallery.timeline.find(name))

    @milestone.autocomplete("name")
    async def name_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        rover = (interaction.namespace.rover if "rover" in interaction.namespace else None) or None
        timeline = chosen(self.bot.services.store, interaction.guild_id, rover).timeline
        return [app_commands.Choice(name=n, value=v) for n, v in timeline.choices(current)]
