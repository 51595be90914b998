"""Which rover a command is about: the `rover` option, else the server's choice, else Perseverance;
and /rover, where someone with Manage Server sets that choice."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.mars import rovers
from bot.store import Store
from cogs.replies import tell

RoverName = Literal["perseverance", "curiosity"]
ROVER_HELP = "Which rover (default: this server's choice, else Perseverance)"


def chosen(store: Store, guild_id: int | None, name: str | None) -> rovers.Rover:
    if name:
        return rovers.find(name)
    saved = store.state.get(f"rover:{guild_id}") if guild_id else None
    return rovers.find(saved) if saved in rovers.ROVERS else rovers.DEFAULT


class RoverCog(commands.Cog, name="rover"):
    def __init__(self, store: Store):
        self.store = store

    @app_commands.command(name="rover")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(rover="The rover commands show here when none is named (empty: show the current choice)")
    async def rover(self, interaction: discord.Interaction, rover: RoverName | None = None) -> None:
        """Choose the rover this server's commands show by default."""
        current = chosen(self.store, interaction.guild_id, None)
        if rover is None:
            await tell(interaction, f"Commands here show **{current.name}** unless a `rover` is named. "
                                    f"`/rover rover:…` changes it.")
            return
        picked = rovers.find(rover)
        self.store.state.put(f"rover:{interaction.guild_id}", picked.key)
        await tell(interaction, f"✅ Commands here now show **{picked.name}** unless another `rover` is named.")
