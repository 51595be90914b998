"""/where: a thin handler over bot.answers.drives.RoverMaps."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.answers.drives import RoverMaps
from bot.answers.rover_choice import RoverChoice
from cogs.replies import answer
from cogs.rover import ROVER_HELP, RoverName


class WhereCog(commands.Cog, name="where"):
    def __init__(self, rovermaps: RoverMaps, choice: RoverChoice):
        self.rovermaps = rovermaps
        self.choice = choice

    @app_commands.command(name="where")
    @app_commands.describe(rover=ROVER_HELP)
    async def where(self, interaction: discord.Interaction, rover: RoverName | None = None) -> None:
        """Where the rover is now: sol, position, distance driven, and a map of its path."""
        picked = self.choice.chosen(interaction.guild_id, rover)
        # NASA's map answering slowly or not at all becomes a short message only the caller sees.
        await answer(interaction, lambda: self.rovermaps.where(picked))
