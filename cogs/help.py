"""/help: what each command does, with examples, only for the caller."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import compose
from bot.chat import render

READ_ONLY_INSTALLS = app_commands.allowed_installs(guilds=True, users=True)
READ_ONLY_CONTEXTS = app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)


class HelpCog(commands.Cog, name="help"):
    @app_commands.command(name="help")
    @READ_ONLY_INSTALLS
    @READ_ONLY_CONTEXTS
    async def help(self, interaction: discord.Interaction) -> None:
        """What each command does, with examples (only you see it)."""
        await interaction.response.send_message(**render.message(compose.help_post()), ephemeral=True)
