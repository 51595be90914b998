"""/milestone: one milestone's card, or the whole timeline (and its paging buttons)."""

from __future__ import annotations

from typing import Callable

import discord
from discord import app_commands
from discord.ext import commands

from bot import compose
from bot.answers.gallery import Gallery
from bot.answers.rover_choice import RoverChoice
from bot.chat import render
from bot.mars import rovers
from bot.mars.rovers import Rover
from cogs.help import READ_ONLY_CONTEXTS, READ_ONLY_INSTALLS
from cogs.replies import answer
from cogs.rover import ROVER_HELP, RoverName


class MilestoneCog(commands.Cog, name="milestones"):
    def __init__(self, galleries: Callable[[Rover], Gallery], choice: RoverChoice):
        self.galleries = galleries
        self.choice = choice
        self.pages = {compose.MILESTONE_PREFIX: self.turn}  # "rbm:<timeline|rover>:<page>"

    @app_commands.command(name="milestone")
    @READ_ONLY_INSTALLS
    @READ_ONLY_CONTEXTS
    @app_commands.describe(name="A milestone, e.g. landing, first-flight, watson-selfie (empty: the timeline)",
                           rover=ROVER_HELP)
    async def milestone(self, interaction: discord.Interaction, name: str | None = None, rover: RoverName | None = None) -> None:
        """A moment of a rover's mission with its pictures, or the whole timeline."""
        gallery = self.galleries(self.choice.chosen(interaction.guild_id, rover))
        if not name:
            await interaction.response.send_message(**render.message(gallery.timeline_page(0)))
            return
        await answer(interaction, lambda: gallery.milestone(name), check=lambda: gallery.timeline.find(name))

    @milestone.autocomplete("name")
    async def name_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        rover = (interaction.namespace.rover if "rover" in interaction.namespace else None) or None
        timeline = self.choice.chosen(interaction.guild_id, rover).timeline
        return [app_commands.Choice(name=n, value=v) for n, v in timeline.choices(current)]

    async def turn(self, interaction: discord.Interaction, custom_id: str) -> None:
        # "timeline" is Perseverance's (the ids of buttons already on Discord); other rovers name themselves.
        _, which, page_text = custom_id.split(":")
        rover = rovers.PERSEVERANCE if which == "timeline" else rovers.find(which)
        post = self.galleries(rover).timeline_page(int(page_text))
        await interaction.response.edit_message(**render.edit(post))
