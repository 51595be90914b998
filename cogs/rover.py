"""/rover: someone with Manage Server sets which rover this server's commands show by default.
The `rover` option type every command shares lives here too."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.answers.rover_choice import RoverChoice
from bot.mars import rovers
from cogs.replies import tell

# Discord shows an option's choices from the command's definition; they follow rovers.ROVERS.
RoverName = Literal[tuple(rovers.ROVERS)]  # type: ignore[valid-type]
ROVER_HELP = "Which rover (default: this server's choice, else Perseverance)"


class RoverCog(commands.Cog, name="rover"):
    def __init__(self, choice: RoverChoice):
        self.choice = choice

    @app_commands.command(name="rover")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(rover="The rover commands show here when none is named (empty: show the current choice)")
    async def rover(self, interaction: discord.Interaction, rover: RoverName | None = None) -> None:
        """Choose the rover this server's commands show by default."""
        current = self.choice.chosen(interaction.guild_id, None)
        if rover is None:
            await tell(interaction, f"Commands here show **{current.name}** unless a `rover` is named. "
                                    f"`/rover rover:…` changes it.")
            return
        picked = rovers.find(rover)
        self.choice.choose(interaction.guild_id or 0, picked)
        await tell(interaction, f"✅ Commands here now show **{picked.name}** unless another `rover` is named.")
