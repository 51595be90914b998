"""/latest, /sol and /now, and their paging buttons: thin handlers over bot.answers.gallery."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

import discord
from discord import app_commands
from discord.ext import commands

from bot import compose
from bot.answers.gallery import Gallery
from bot.answers.rover_choice import RoverChoice
from bot.chat import render
from bot.mars import marstime, rovers
from bot.mars.rovers import Rover
from cogs.help import READ_ONLY_CONTEXTS, READ_ONLY_INSTALLS
from cogs.replies import answer
from cogs.rover import ROVER_HELP, RoverName

MAX_SOL = 100_000  # Discord needs a static bound; the real one (today's sol) is checked per call


class GalleryCog(commands.Cog, name="gallery"):
    def __init__(self, galleries: Callable[[Rover], Gallery], choice: RoverChoice, clock: Callable[[], datetime]):
        self.galleries = galleries
        self.choice = choice
        self.clock = clock
        # Paging buttons carry everything in their custom id ("rbg:<mission>:<sol>:<camera>:<page>"),
        # so a button keeps working after a restart; RoverBot routes by prefix (bot/chat/app.py).
        self.pages = {compose.GALLERY_PREFIX: self.turn}

    def gallery(self, interaction: discord.Interaction, rover: str | None) -> Gallery:
        """The gallery of the rover asked for (or the server's choice)."""
        return self.galleries(self.choice.chosen(interaction.guild_id, rover))

    @app_commands.command(name="latest")
    @READ_ONLY_INSTALLS
    @READ_ONLY_CONTEXTS
    @app_commands.describe(camera="A camera or family, e.g. navcam, mastcam, NAVCAM_LEFT (default: all)", rover=ROVER_HELP)
    async def latest(self, interaction: discord.Interaction, camera: str | None = None, rover: RoverName | None = None) -> None:
        """The newest raw images from a Mars rover, newest first, optionally from one camera."""
        gallery = self.gallery(interaction, rover)
        await answer(interaction, lambda: gallery.latest(camera), check=lambda: gallery.select(camera))

    @app_commands.command(name="sol")
    @READ_ONLY_INSTALLS
    @READ_ONLY_CONTEXTS
    @app_commands.describe(sol="The Mars day, counted from landing (sol 0 = the landing day)",
                           camera="A camera or family, e.g. navcam, mastcam, NAVCAM_LEFT (default: all)", rover=ROVER_HELP)
    async def sol(self, interaction: discord.Interaction, sol: app_commands.Range[int, 0, MAX_SOL],
                  camera: str | None = None, rover: RoverName | None = None) -> None:
        """The raw images a rover took on one sol, e.g. /sol 3 navcam."""
        gallery = self.gallery(interaction, rover)

        def check() -> None:
            gallery.select(camera)
            gallery.check_sol(sol)

        await answer(interaction, lambda: gallery.sol(sol, camera), check=check)

    @latest.autocomplete("camera")
    @sol.autocomplete("camera")
    async def camera_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        rover = (interaction.namespace.rover if "rover" in interaction.namespace else None) or None
        catalogue = self.choice.chosen(interaction.guild_id, rover).catalogue
        return [app_commands.Choice(name=n, value=v) for n, v in catalogue.choices(current)]

    @app_commands.command(name="now")
    @READ_ONLY_INSTALLS
    @READ_ONLY_CONTEXTS
    @app_commands.describe(rover=ROVER_HELP)
    async def now(self, interaction: discord.Interaction, rover: RoverName | None = None) -> None:
        """The current sol and local mean solar time at a rover, and the Earth time."""
        picked = self.choice.chosen(interaction.guild_id, rover)
        post = compose.now(marstime.clock(self.clock(), picked.mission))
        await interaction.response.send_message(**render.message(post))

    async def turn(self, interaction: discord.Interaction, custom_id: str) -> None:
        """A gallery page button or menu: the custom id names the rover's mission, sol, camera and page."""
        if custom_id.endswith(":noop"):
            await interaction.response.defer()
            return
        mission = custom_id.split(":")[1]
        gallery = self.galleries(rovers.BY_MISSION[mission])  # KeyError: an unreadable id, answered as such
        await interaction.response.defer()  # a page may need NASA
        post = await gallery.turn(custom_id)
        await interaction.edit_original_response(**render.edit(post))
