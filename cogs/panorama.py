"""/panorama: a thin handler over bot.answers.panoramas."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import compose
from bot.answers.panoramas import Panoramas
from bot.chat import render
from cogs.help import READ_ONLY_CONTEXTS, READ_ONLY_INSTALLS
from cogs.replies import answer

MAX_SOL = 100_000  # Discord needs a static bound; the real one (today's sol) is checked per call


class PanoramaCog(commands.Cog, name="panorama"):
    def __init__(self, panoramas: Panoramas):
        self.panoramas = panoramas
        self.pages = {compose.PRODUCT_PREFIX: self.turn}  # "rbp:<sol>:<camera>:<index>"

    @app_commands.command(name="panorama")
    @READ_ONLY_INSTALLS
    @READ_ONLY_CONTEXTS
    @app_commands.describe(sol="The Mars day (default: the newest with pictures)",
                           camera="A camera or family, e.g. navcam, mastcam (default: all)")
    async def panorama(self, interaction: discord.Interaction, sol: app_commands.Range[int, 0, MAX_SOL] | None = None,
                       camera: str | None = None) -> None:
        """Panoramas, 3D views and movies roverbot assembles from Perseverance's raw frames of a sol."""
        await answer(interaction, lambda: self.panoramas.sol(sol, camera), check=lambda: self.panoramas.check(sol, camera))

    @panorama.autocomplete("camera")
    async def camera_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=v) for n, v in self.panoramas.catalogue.choices(current)]

    async def turn(self, interaction: discord.Interaction, custom_id: str) -> None:
        await interaction.response.defer()  # assembling may take seconds
        post = await self.panoramas.turn(custom_id)
        await interaction.edit_original_response(**render.edit(post))
