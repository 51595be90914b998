"""/latest, /sol and /now: thin handlers over bot.gallery."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import compose, marstime, render
from cogs.help import READ_ONLY_CONTEXTS, READ_ONLY_INSTALLS
from cogs.replies import answer

if TYPE_CHECKING:
    from bot.app import RoverBot

MAX_SOL = 100_000  # Discord needs a static bound; the real one (today's sol) is checked per call


class GalleryCog(commands.Cog, name="gallery"):
    def __init__(self, bot: "RoverBot"):
        self.bot = bot

    @property
    def gallery(self):
        return self.bot.services.gallery

    @app_commands.command(name="latest")
    @READ_ONLY_INSTALLS
    @READ_ONLY_CONTEXTS
    @app_commands.describe(camera="A camera or family, e.g. navcam, mastcam, NAVCAM_LEFT (default: all)")
    async def latest(self, interaction: discord.Interaction, camera: str | None = None) -> None:
        """The newest raw images from Perseverance, optionally from one camera."""
        await answer(interaction, lambda: self.gallery.latest(camera), check=lambda: self.gallery.select(camera))

    @app_commands.command(name="sol")
    @READ_ONLY_INSTALLS
    @READ_ONLY_CONTEXTS
    @app_commands.describe(sol="The Mars day, counted from landing (sol 0 = 18 Feb 2021)",
                           camera="A camera or family, e.g. navcam, mastcam, NAVCAM_LEFT (default: all)")
    async def sol(self, interaction: discord.Interaction, sol: app_commands.Range[int, 0, MAX_SOL],
                  camera: str | None = None) -> None:
        """The raw images Perseverance took on one sol, e.g. /sol 3 navcam."""

        def check() -> None:
            self.gallery.select(camera)
            self.gallery.check_sol(sol)

        await answer(interaction, lambda: self.gallery.sol(sol, camera), check=check)

    @latest.autocomplete("camera")
    @sol.autocomplete("camera")
    async def camera_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=n, value=v) for n, v in self.bot.services.catalogue.choices(current)]

    @app_commands.command(name="now")
    @READ_ONLY_INSTALLS
    @READ_ONLY_CONTEXTS
    async def now(self, interaction: discord.Interaction) -> None:
        """The current sol and local mean solar time at the rover, and the Earth time."""
        post = compose.now(marstime.clock(self.bot.services.clock()))
        await interaction.response.send_message(**render.message(post))
