"""/where: a thin handler over bot.answers.drives.RoverMaps."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.answers.drives import RoverMaps
from cogs.replies import answer


class WhereCog(commands.Cog, name="where"):
    def __init__(self, rovermaps: RoverMaps):
        self.rovermaps = rovermaps

    @app_commands.command(name="where")
    @app_commands.describe(rover="Which rover (default: Perseverance)")
    async def where(self, interaction: discord.Interaction,
                    rover: Literal["perseverance", "curiosity"] = "perseverance") -> None:
        """Where the rover is now: sol, position, distance driven, and a map of its path."""
        # NASA's map answering slowly or not at all becomes a short message only the caller sees.
        await answer(interaction, lambda: self.rovermaps.where(rover))
