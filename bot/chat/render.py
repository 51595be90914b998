"""Post -> discord.py objects: the one place embeds, views and files are built.

The content itself is decided in compose.py; embeds are made from compose.embed_payload, so what
`roverbot preview --json` prints is exactly what reaches Discord.
"""

from __future__ import annotations

import io
import re
from typing import Any, Awaitable, Callable

import discord

from bot import compose
from bot.models import Post

# Paging buttons of galleries (rbg:...) and of the timeline (rbm:...). They are DynamicItems: the
# whole state is in the custom id, so buttons on old messages keep working after a restart.
PAGER_TEMPLATE = re.compile(rf"(?P<kind>{compose.GALLERY_PREFIX}|{compose.MILESTONE_PREFIX}|{compose.PRODUCT_PREFIX}):(?P<rest>[^\s]*)")

PagerHandler = Callable[[discord.Interaction, str], Awaitable[None]]


class PagerButton(discord.ui.DynamicItem[discord.ui.Button], template=PAGER_TEMPLATE):
    def __init__(self, custom_id: str, label: str = "…", disabled: bool = False):
        super().__init__(discord.ui.Button(label=label, custom_id=custom_id, disabled=disabled,
                                           style=discord.ButtonStyle.secondary))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /):
        return cls(match.string)

    async def callback(self, interaction: discord.Interaction) -> Any:
        # The bot decides what a page turn means; this item only carries the custom id.
        handler: PagerHandler = getattr(interaction.client, "turn_page")
        await handler(interaction, self.custom_id)


MENU_TEMPLATE = re.compile(rf"{compose.PAGE_MENU_PREFIX}:(?P<rest>[^\s]*)")


class PageMenu(discord.ui.DynamicItem[discord.ui.Select], template=MENU_TEMPLATE):
    """A gallery's jump-to-page menu; the chosen option's value is that page's button custom id."""

    def __init__(self, custom_id: str, placeholder: str = "Jump to a page…",
                 options: tuple[tuple[str, str], ...] = ()):
        select = discord.ui.Select(custom_id=custom_id, placeholder=placeholder, min_values=1, max_values=1,
                                   options=[discord.SelectOption(label=label, value=value) for label, value in options]
                                   or [discord.SelectOption(label="…", value="noop")])
        super().__init__(select)

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /):
        return cls(match.string)

    async def callback(self, interaction: discord.Interaction) -> Any:
        values = (interaction.data or {}).get("values") or []  # type: ignore[union-attr]
        handler: PagerHandler = getattr(interaction.client, "turn_page")
        await handler(interaction, values[0] if values else f"{compose.GALLERY_PREFIX}:noop")


def embeds(post: Post) -> list[discord.Embed]:
    return [discord.Embed.from_dict(compose.embed_payload(e)) for e in post.embeds]


def view(post: Post) -> discord.ui.View | None:
    if not post.buttons and post.menu is None:
        return None
    v = discord.ui.View(timeout=None)
    for b in post.buttons:
        if b.url:
            v.add_item(discord.ui.Button(label=b.label, url=b.url, disabled=b.disabled, row=0))
        else:
            item = PagerButton(b.custom_id or "", b.label, b.disabled)
            item.item.row = 0
            v.add_item(item)
    if post.menu is not None:
        menu = PageMenu(post.menu.custom_id, post.menu.placeholder, post.menu.options)
        menu.item.row = 1
        v.add_item(menu)
    return v


def files(post: Post) -> list[discord.File]:
    """New File objects on every call: discord.py consumes them on send."""
    return [discord.File(io.BytesIO(a.data), filename=a.filename) for a in post.attachments]


def allowed_mentions(post: Post) -> discord.AllowedMentions:
    """Never @everyone, @here, users or replied-to authors; at most the subscription's role."""
    roles: Any = [discord.Object(id=post.ping_role_id)] if post.ping_role_id else False
    return discord.AllowedMentions(everyone=False, users=False, roles=roles, replied_user=False)


def message(post: Post) -> dict[str, Any]:
    """Keyword arguments for send/edit calls (content, embeds, view, files, allowed_mentions)."""
    kwargs: dict[str, Any] = {
        "content": post.content or None,
        "embeds": embeds(post),
        "allowed_mentions": allowed_mentions(post),
    }
    v = view(post)
    if v is not None:
        kwargs["view"] = v
    if post.attachments:
        kwargs["files"] = files(post)
    return kwargs


def edit(post: Post) -> dict[str, Any]:
    """Keyword arguments to replace a message's whole content (missing parts are cleared)."""
    kwargs = message(post)
    kwargs.setdefault("view", None)
    if "files" in kwargs:
        kwargs["attachments"] = kwargs.pop("files")
    return kwargs
