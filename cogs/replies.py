"""How every command answers: quick checks first, defer before anything slow, errors only to the caller."""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

import discord

from bot.chat import render
from bot.models import Post, UserFacingError

log = logging.getLogger("roverbot.commands")

APOLOGY = "Sorry, something went wrong on my side while answering that. It has been logged; please try again in a moment."


async def tell(interaction: discord.Interaction, text: str) -> None:
    """A short message only the caller sees, whatever state the interaction is in."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException as e:
        log.warning("could not tell the caller (%s): %s", text[:60], e)


async def answer(
    interaction: discord.Interaction,
    work: Callable[[], Awaitable[Post]],
    *,
    check: Callable[[], object] | None = None,
    ephemeral: bool = False,
) -> None:
    """Run `check` (fast, no I/O), defer, then send what `work` composes.

    NASA can take 15 s and Discord allows 3 s, so the interaction is deferred before any I/O.
    A deferred reply is public; if the work then fails, the "thinking…" message is removed and
    the explanation goes to the caller alone.
    """
    if check is not None:
        try:
            check()
        except UserFacingError as e:
            await tell(interaction, str(e))
            return
    await interaction.response.defer(thinking=True, ephemeral=ephemeral)
    try:
        post = await work()
    except UserFacingError as e:
        await _replace_with_private(interaction, str(e), ephemeral)
        return
    except Exception:
        log.exception("/%s failed for user %s in guild %s", _name(interaction), interaction.user.id, interaction.guild_id)
        await _replace_with_private(interaction, APOLOGY, ephemeral)
        return
    await interaction.edit_original_response(**render.edit(post))


async def _replace_with_private(interaction: discord.Interaction, text: str, already_private: bool = False) -> None:
    if already_private:
        await interaction.edit_original_response(content=text, embeds=[], attachments=[], view=None)
        return
    try:
        await interaction.delete_original_response()
    except discord.HTTPException as e:
        log.warning("could not remove the pending reply of /%s: %s", _name(interaction), e)
    await interaction.followup.send(text, ephemeral=True)


def _name(interaction: discord.Interaction) -> str:
    return interaction.command.qualified_name if interaction.command else "?"
