"""Models -> Post: captions, grouping and Discord's limits. Pure: plain values in, plain values out.

This is the one place a message's content is decided. bot/render.py only translates a Post into
discord.py objects, and `payload()` gives the exact JSON Discord receives (for `preview --json`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from itertools import groupby
from typing import TYPE_CHECKING, Iterable, Sequence

from bot.mars import marstime, rovers
from bot.mars.cameras import Catalogue
from bot.models import Attachment, Button, Menu, Embed, EmbedField, MarsClock, NewsItem, Payload, Post, RoverImage

if TYPE_CHECKING:
    from bot.mars.milestones import Milestone

# Discord's documented message limits.
MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FOOTER = 2048
MAX_EMBED_TOTAL = 6000
REFERENCE_ROOM = 24  # the courier adds the post's reference to the last footer (bot/delivery.py)
MAX_CUSTOM_ID = 100

GALLERY_PAGE_SIZE = 5  # five large images fit well inside 6,000 characters and read well on a phone
GROUP_PREVIEW = 4  # Discord shows up to four images of embeds sharing a URL as one grid
MARS_RED = 0xC1440E

GALLERY_PREFIX = "rbg"  # custom-id prefix of gallery paging buttons, e.g. rbg:mars2020:3:navcam:1


def clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]])")
_MASS_MENTION = re.compile(r"@(everyone|here)", re.IGNORECASE)


def safe(text: str) -> str:
    """Feed text shown verbatim: Markdown neutralised, mass mentions defused (allowed_mentions is the
    real guard; this keeps the text itself from *looking* like a ping)."""
    return _MASS_MENTION.sub("@\u200b\\1", _MARKDOWN.sub(r"\\\1", text))


def timestamp(moment: datetime, style: str = "f") -> str:
    """A Discord timestamp, shown in each reader's own time zone."""
    return f"<t:{int(moment.timestamp())}:{style}>"


def _plain_time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "unknown"


# ------------------------------------------------------------------ galleries (/latest, /sol)


@dataclass(frozen=True)
class GalleryQuery:
    """What a gallery shows; it round-trips through a button's custom id, so paging survives restarts."""

    mission: str
    sol: int
    camera: str  # Selection.key, '' for every camera
    page: int = 0
    newest_first: bool = False  # /latest: the newest picture leads

    def custom_id(self, page: int) -> str:
        return f"{GALLERY_PREFIX}:{self.mission}:{self.sol}:{self.camera}:{page}" + (":n" if self.newest_first else "")

    @classmethod
    def from_custom_id(cls, custom_id: str) -> "GalleryQuery":
        prefix, mission, sol, camera, page, *order = custom_id.split(":")
        if prefix != GALLERY_PREFIX or order not in ([], ["n"]):
            raise ValueError(custom_id)
        return cls(mission, int(sol), camera, int(page), newest_first=order == ["n"])


def image_embed(img: RoverImage, catalogue: Catalogue, *, index: int | None = None, total: int | None = None) -> Embed:
    cam = catalogue.camera(img.instrument)
    lines = [safe(clip(img.caption, 600))] if img.caption else []
    links = [f"[Full resolution]({img.full_res})"]
    if img.link:
        links.append(f"[NASA page]({img.link})")
    lines.append(" · ".join(links))
    fields = [EmbedField("Sol", str(img.sol)), EmbedField("Local time", f"{img.lmst} LMST" if img.lmst else "unknown")]
    if img.taken_utc:
        fields.append(EmbedField("Earth time", timestamp(img.taken_utc)))
    if img.tiles > 1:
        fields.append(EmbedField("Tiles", f"1 of {img.tiles} (one exposure)"))
    footer = f"{img.credit} · {cam.short}"
    if index is not None and total is not None:
        footer += f" · {index} of {total}"
    return Embed(
        title=clip(safe(img.title), MAX_TITLE),
        description=clip("\n\n".join(lines), MAX_DESCRIPTION),
        url=img.link or img.full_res,
        image_url=img.large,  # no thumbnail: the same frame twice in one card is noise
        footer=clip(footer, MAX_FOOTER),
        timestamp=img.taken_utc,
        color=MARS_RED,
        fields=tuple(fields),
    )


def page_count(total: int) -> int:
    return max(1, math.ceil(total / GALLERY_PAGE_SIZE))


def gallery(shown: Sequence[RoverImage], total: int, query: GalleryQuery, label: str, catalogue: Catalogue,
            products: int = 0) -> Post:
    """One message: one page of a set of images as embeds, buttons to page through the rest.

    `shown` is the page's slice (query.page, already within range) of `total` images.
    """
    pages = page_count(total)
    page = query.page
    start = page * GALLERY_PAGE_SIZE
    embeds = [image_embed(img, catalogue, index=start + i + 1, total=total) for i, img in enumerate(shown)]
    begin, end = marstime.sol_interval(query.sol, marstime.MISSIONS[query.mission])
    noun = "picture" if total == 1 else "pictures"
    content = (
        f"**Sol {query.sol} · {label}** — {total} {noun}"
        + (f", {start + 1}–{start + len(shown)} shown" if pages > 1 else "")
        + f"\nOn Earth, sol {query.sol} ran from {timestamp(begin)} to {timestamp(end)}."
    )
    buttons: tuple[Button, ...] = ()
    if pages > 1:
        buttons = (
            Button("◀ Previous", query.custom_id(page - 1), disabled=page == 0),
            Button(f"Page {page + 1}/{pages}", f"{GALLERY_PREFIX}:noop", disabled=True),
            Button("Next ▶", query.custom_id(page + 1), disabled=page >= pages - 1),
        )
    if products:
        # The sol's sequences make panoramas, 3D views or movies: one click away.
        buttons += (Button(f"🌄 Panoramas & more ({products})", product_custom_id(query.sol, query.camera, 0)),)
    menu = page_menu(query, page, pages)
    embeds = fit(embeds)
    text_lines = [_strip_markup(content), ""]
    for i, img in enumerate(shown):
        text_lines += _image_text(img, start + i + 1, catalogue)
    if pages > 1:
        text_lines.append(f"page {page + 1} of {pages} (--page N for another)")
    return Post(content=clip(content, MAX_CONTENT), embeds=tuple(embeds), buttons=buttons, text="\n".join(text_lines),
                menu=menu)


PAGE_MENU_PREFIX = "rbs"  # the jump-to-page select of a gallery: rbs:<the query's first-page custom id>
MENU_MAX = 25  # Discord's limit of options in a select menu


def page_menu(query: GalleryQuery, page: int, pages: int) -> Menu | None:
    """Long galleries can jump, not only step: up to 25 pages around the current one."""
    if pages <= 3:
        return None
    first = max(0, min(page - MENU_MAX // 2, pages - MENU_MAX))
    options = tuple((f"Page {p + 1} of {pages}" + (" (this one)" if p == page else ""), query.custom_id(p))
                    for p in range(first, min(pages, first + MENU_MAX)))
    return Menu(custom_id=f"{PAGE_MENU_PREFIX}:{query.custom_id(0)}"[:100], placeholder="Jump to a page…", options=options)


def _image_text(img: RoverImage, n: int, catalogue: Catalogue) -> list[str]:
    lines = [
        f"[{n}] {img.title}",
        f"    sol {img.sol} · {img.lmst or '?'} LMST · {_plain_time(img.taken_utc)} · {catalogue.camera(img.instrument).short}"
        + (f" · {img.tiles} tiles" if img.tiles > 1 else ""),
    ]
    if img.caption:
        lines.append(f"    {img.caption}")
    lines += [f"    image: {img.large}", f"    full resolution: {img.full_res}", f"    credit: {img.credit}", ""]
    return lines


def _strip_markup(text: str) -> str:
    text = re.sub(r"<t:(\d+):\w>", lambda m: datetime.fromtimestamp(int(m[1]), tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), text)
    return text.replace("**", "")


def embed_size(e: Embed) -> int:
    return len(e.title) + len(e.description) + len(e.footer or "") + sum(len(f.name) + len(f.value) for f in e.fields)


def fit(embeds: list[Embed]) -> list[Embed]:
    """Trim descriptions, longest first, until the message is within Discord's 6,000 characters."""
    embeds = embeds[:MAX_EMBEDS]
    while sum(map(embed_size, embeds)) > MAX_EMBED_TOTAL - REFERENCE_ROOM:
        i = max(range(len(embeds)), key=lambda k: len(embeds[k].description))
        excess = sum(map(embed_size, embeds)) - (MAX_EMBED_TOTAL - REFERENCE_ROOM)
        cur = embeds[i].description
        if not cur:
            break
        embeds[i] = replace(embeds[i], description=clip(cur, max(0, len(cur) - excess - 1)))
    return embeds


# ------------------------------------------------------------------ automatic posts (poll output)


def group_key(img: RoverImage, catalogue: Catalogue) -> tuple[int, str, str]:
    return (img.sol, catalogue.family_of(img.instrument), img.sequence)


def groups(images: Iterable[RoverImage], catalogue: Catalogue) -> list[list[RoverImage]]:
    """New images -> one list per (sol, camera family, sequence): a burst becomes a few posts."""
    key = lambda img: group_key(img, catalogue)  # noqa: E731
    ordered = sorted(images, key=lambda i: (key(i), i.taken_utc.isoformat() if i.taken_utc else "", i.exposure_id))
    return [list(g) for _, g in groupby(ordered, key=key)]


def rover_name(mission: str) -> str:
    """ "Perseverance" for "mars2020": whose a picture is, as posts say it."""
    rover = rovers.BY_MISSION.get(mission)
    return rover.name if rover is not None else mission


def image_group(images: Sequence[RoverImage], catalogue: Catalogue, role_id: int | None = None, *,
                rolled_up: int = 0) -> Post:
    """One automatic post for one group of new images (or a roll-up of `rolled_up` small groups)."""
    first = images[0]
    family = catalogue.family_of(first.instrument)
    label = catalogue.family_label(family)
    n = len(images)
    seq = f" · sequence {first.sequence}" if first.sequence else ""
    content = f"📷 **New from {rover_name(first.mission)} — sol {first.sol}, {label}**: {n} {'picture' if n == 1 else 'pictures'}{seq}"
    if rolled_up:
        content = (f"📷 **Also on sol {first.sol} — {label}**: {n} {'picture' if n == 1 else 'pictures'}"
                   f" from {rolled_up} short sequences")
    if n > GROUP_PREVIEW:
        content += f" (showing {GROUP_PREVIEW}; `/sol {first.sol} {family}` for all)"
    if role_id:
        content = f"<@&{role_id}> " + content
    # Embeds that share a URL are shown by Discord as one card with an image grid.
    shared_url = first.link or first.full_res
    lead = image_embed(first, catalogue)
    embeds = [Embed(title=lead.title, description=lead.description, url=shared_url, image_url=lead.image_url,
                    footer=lead.footer, timestamp=lead.timestamp, color=lead.color, fields=lead.fields)]
    embeds += [Embed(title="", url=shared_url, image_url=img.large) for img in images[1:GROUP_PREVIEW]]
    text = [_strip_markup(content)] + [f"  - {img.title} ({img.lmst or '?'} LMST): {img.large}" for img in images]
    return Post(content=clip(content, MAX_CONTENT), embeds=tuple(fit(embeds)), ping_role_id=role_id, text="\n".join(text))


def with_product(payload: Payload, filename: str, title: str, frames_hint: str, file_ref: tuple[str, str]) -> Payload:
    """An image post's outbox payload carrying a product picture (panorama, 3D view, movie): the
    product leads, the frames stay linked in the grid below it."""
    embeds = [dict(e) for e in payload.embeds]
    still = filename.endswith(".jpg")
    if embeds and still:
        embeds[0]["image"] = {"url": f"attachment://{filename}"}
    line = f"\n🌄 **{title}**, assembled by roverbot from NASA's raw frames ({frames_hint})"
    return replace(payload, embeds=tuple(embeds), files=(*payload.files, file_ref),
                   content=clip(payload.content + line, MAX_CONTENT), product=filename)


# ------------------------------------------------------------------ /panorama

PRODUCT_PREFIX = "rbp"  # product paging: rbp:<sol>:<camera key>:<index>


def product_custom_id(sol: int, camera: str, index: int) -> str:
    return f"{PRODUCT_PREFIX}:{sol}:{camera}:{index}"


def parse_product_id(custom_id: str) -> tuple[int, str, int]:
    prefix, sol, camera, index = custom_id.split(":")
    if prefix != PRODUCT_PREFIX:
        raise ValueError(custom_id)
    return int(sol), camera, int(index)


def products_post(sol: int, label: str, camera_key: str, plans: Sequence, index: int, product, catalogue: Catalogue) -> Post:
    """One product of a sol, with the list of the others and buttons to step through them."""
    from bot.imagery.maker import LABEL

    lines = []
    for i, plan in enumerate(plans):
        name = f"{catalogue.camera(plan.camera).short} {LABEL[plan.kind]}, {len(plan.frame_ids)} frames"
        lines.append(("▶ " if i == index else "• ") + name + (f" · {plan.sequence}" if plan.sequence else ""))
    noun = "product" if len(plans) == 1 else "products"
    content = (f"**Sol {sol} · {label}** — {len(plans)} {noun} assembled by roverbot from NASA's raw frames"
               f" (camera models and rover attitude; a quick look, not NASA's processing)")
    plan = plans[index]
    embed = Embed(title=clip(f"{product.title} · {catalogue.camera(plan.camera).short} · sol {sol}", MAX_TITLE),
                  description=clip("\n".join(lines), MAX_DESCRIPTION),
                  image_url=f"attachment://{product.filename}" if product.filename.endswith(".jpg") else None,
                  footer=clip(f"NASA/JPL-Caltech raw images · sequence {plan.sequence}", MAX_FOOTER), color=MARS_RED)
    buttons: tuple[Button, ...] = ()
    if len(plans) > 1:
        buttons = (
            Button("◀ Previous", product_custom_id(sol, camera_key, index - 1), disabled=index == 0),
            Button(f"{index + 1}/{len(plans)}", f"{PRODUCT_PREFIX}:noop", disabled=True),
            Button("Next ▶", product_custom_id(sol, camera_key, index + 1), disabled=index >= len(plans) - 1),
        )
    text = "\n".join([_strip_markup(content), *lines, f"attachment: {product.filename} ({len(product.data):,} bytes)"])
    return Post(content=clip(content, MAX_CONTENT), embeds=tuple(fit([embed])), buttons=buttons,
                attachments=(Attachment(product.filename, product.data),), text=text)


# ------------------------------------------------------------------ /help and hello

HELP = (
    ("/latest [camera]", "The newest raw pictures, newest first.", "`/latest` · `/latest mastcam` · `/latest selfie`"),
    ("/sol <sol> [camera]", "Every picture of one Mars day, paged, with a jump-to-page menu.", "`/sol 3 navcam` · `/sol 1994`"),
    ("/panorama [sol] [camera]", "Panoramas, red-cyan 3D views and movies roverbot assembles from a sol's frames.",
     "`/panorama` · `/panorama 1994 navcam`"),
    ("/milestone [name]", "A moment of the mission with its pictures, or the whole timeline.",
     "`/milestone landing` · `/milestone first-flight` · `/milestone`"),
    ("/now", "The sol and local solar time at the rover, and when this sol runs on Earth.", "`/now`"),
    ("/subscribe kind:… [channel] [camera] [time] [timezone] [role]",
     "Automatic posts (Manage Server): new images, mission news, or a daily digest.",
     "`/subscribe kind:images camera:mastcam role:@colour-fans` · `/subscribe kind:digest time:08:30 timezone:Europe/Berlin`"),
    ("/subscriptions · /unsubscribe", "See and remove this server's automatic posts (Manage Server).", "`/subscriptions`"),
    ("/digest", "A private preview of the next daily digest in this channel.", "`/digest`"),
    ("/rover [rover]", "Which rover this server's commands show when none is named (Manage Server). Every read-only "
                       "command also takes `rover:curiosity` or `rover:perseverance`.",
     "`/rover rover:curiosity` · `/sol 4000 navcam rover:curiosity`"),
    ("/help", "This list (only you see it).", "`/help`"),
)


def help_post() -> Post:
    """What each command does, with examples; sent only to the one who asked."""
    fields = tuple(EmbedField(name, f"{what}\n{examples}", inline=False) for name, what, examples in HELP)
    embed = Embed(title="roverbot: NASA's Mars rovers in Discord",
                  description="Raw pictures straight from NASA's feed, minutes after they reach Earth. Camera names can be "
                              "families (`navcam`, `hazcam`, `mastcam`, `watson`, `supercam`…), codes (`NAVCAM_LEFT`) or "
                              "everyday names (`selfie`, `ingenuity`); autocomplete helps.",
                  color=MARS_RED, fields=fields, footer="Pictures: NASA/JPL-Caltech and partners")
    text = "\n".join(f"{name}: {what} e.g. {examples.replace('`', '')}" for name, what, examples in HELP)
    return Post(embeds=tuple(fit([embed])), ephemeral=True, text=text)


def hello_post() -> Post:
    """The one message roverbot says when it joins a server."""
    embed = Embed(title="Hello from roverbot 👋",
                  description="I bring NASA's Mars rovers Perseverance and Curiosity here: try `/latest`, `/sol 3 navcam`, `/latest rover:curiosity` or `/panorama`.\n\n"
                              "Someone with **Manage Server** can have me post automatically: `/subscribe kind:images` for "
                              "new pictures (grouped, never a flood), `kind:news` for mission news, `kind:digest` for one "
                              "daily summary at your local time. `/help` lists everything.",
                  color=MARS_RED)
    return Post(embeds=(embed,), text="Hello from roverbot")


# ------------------------------------------------------------------ /milestone

MILESTONE_PREFIX = "rbm"  # timeline paging: rbm:timeline:2
TIMELINE_PAGE_SIZE = 10


def milestone_card(m: "Milestone", images: Sequence[RoverImage], catalogue: Catalogue, sol_family: str | None) -> Post:
    """One milestone: what happened, when (Earth and Mars), which camera, and pictures from that sol."""
    when = timestamp(m.moment, "f" if m.time else "D")
    fields = [EmbedField("Date", when)]
    if m.sol is not None:
        fields.append(EmbedField("Sol", str(m.sol) if m.sol_exact else f"≈ {m.sol} (worked out from the date)"))
    if m.cameras:
        names = sorted({catalogue.camera(c).short for c in m.cameras})
        fields.append(EmbedField("Camera" if len(names) == 1 else "Cameras", clip(", ".join(names), MAX_FIELD_VALUE)))
    if not m.certain or m.caveat:
        fields.append(EmbedField("Not confirmed" if not m.certain else "Note", clip(m.caveat or "Part of this entry is our inference.", MAX_FIELD_VALUE), inline=False))
    link = images[0].link or images[0].full_res if images else None
    lead = Embed(title=clip(m.title, MAX_TITLE), description=clip(m.about, MAX_DESCRIPTION), url=link,
                 image_url=images[0].large if images else None, color=MARS_RED, fields=tuple(fields),
                 footer=f"/milestone {m.slug}" + (f" · pictures from sol {m.sol}" if images else ""))
    embeds = [lead] + [Embed(title="", url=link, image_url=img.large) for img in images[1:GROUP_PREVIEW]]
    buttons: tuple[Button, ...] = ()
    if images and m.sol is not None:
        buttons = (Button(f"All pictures from sol {m.sol}", GalleryQuery("mars2020", m.sol, sol_family or "").custom_id(0)),)
    text = [f"{m.title}", f"  {m.day.isoformat()}" + (f" · sol {m.sol}{'' if m.sol_exact else ' (approx.)'}" if m.sol is not None else ""),
            f"  {m.about}"]
    if m.caveat:
        text.append(f"  Not confirmed: {m.caveat}" if not m.certain else f"  Note: {m.caveat}")
    text += [f"  picture: {img.large}" for img in images[:GROUP_PREVIEW]]
    return Post(embeds=tuple(fit(embeds)), buttons=buttons, text="\n".join(text))


def timeline(milestones: Sequence["Milestone"], page: int, rover: str) -> Post:
    pages = max(1, math.ceil(len(milestones) / TIMELINE_PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = milestones[page * TIMELINE_PAGE_SIZE : (page + 1) * TIMELINE_PAGE_SIZE]
    lines = []
    for m in shown:
        sol = "" if m.sol is None else f" · sol {'' if m.sol_exact else '≈'}{m.sol}"
        mark = "" if m.certain else " *"
        lines.append(f"{timestamp(m.moment, 'D')}{sol} — **{m.title}**{mark} · `{m.slug}`")
    embed = Embed(title=f"{rover}: the story so far", description="\n".join(lines), color=MARS_RED,
                  footer=f"Page {page + 1}/{pages} · /milestone <name> for the full card · * = partly unconfirmed")
    # "timeline" is Perseverance's (ids of buttons already on Discord); other rovers name themselves.
    which = "timeline" if rover == "Perseverance" else rover.lower()
    buttons = (
        Button("◀ Earlier", f"{MILESTONE_PREFIX}:{which}:{page - 1}", disabled=page == 0),
        Button("Later ▶", f"{MILESTONE_PREFIX}:{which}:{page + 1}", disabled=page >= pages - 1),
    ) if pages > 1 else ()
    text = "\n".join(f"{m.day.isoformat()}  {m.title}{' (partly unconfirmed)' if not m.certain else ''}  [{m.slug}]" for m in shown)
    return Post(embeds=(embed,), buttons=buttons, text=text + f"\npage {page + 1} of {pages}")


# ------------------------------------------------------------------ automatic news and digests


def news_post(item: "NewsItem", role_id: int | None = None) -> Post:
    content = "📰 **Mission news**" + (f" <@&{role_id}>" if role_id else "")
    fields = (EmbedField("Published", timestamp(item.published)),) if item.published else ()
    embed = Embed(title=clip(safe(item.title), MAX_TITLE), description=clip(safe(item.summary), 700), url=item.link or None,
                  thumbnail_url=item.image or None, color=0x0B3D91, fields=fields,
                  footer=clip(item.feed.split("//", 1)[-1], MAX_FOOTER), timestamp=item.published)
    text = f"{item.title}\n  {item.link}\n  {clip(item.summary, 200)}"
    return Post(content=content, embeds=(embed,), ping_role_id=role_id, text=text)


def held_summary(held: Sequence[Payload]) -> list[str]:
    """Posts the hourly budget held back, summed per camera: "+37 more Navcam frames"."""
    per_label: dict[str, int] = {}
    for h in held:
        label = h.summary_label or "other"
        per_label[label] = per_label.get(label, 0) + (h.count or 1)
    return [f"+{n} more {label} {'frame' if n == 1 else 'frames'}" if label != "news" else f"+{n} more news {'item' if n == 1 else 'items'}"
            for label, n in sorted(per_label.items(), key=lambda kv: -kv[1])]


DIGEST_PICTURE = "digest.jpg"


def _rover_part(day, named: bool) -> tuple[list[str], list[EmbedField]]:
    """One rover's lines and fields in a digest; `named` when the digest covers several rovers."""
    imgs = day.images
    sols = sorted({i.sol for i in imgs})
    who = f"{day.rover}: " if named else ""
    lines = []
    if imgs:
        span = f"sol {sols[0]}" if len(sols) == 1 else f"sols {sols[0]}–{sols[-1]}"
        lines.append(f"**{who}{len(imgs):,} new {'picture' if len(imgs) == 1 else 'pictures'}** from {span}.")
    else:
        lines.append(f"**{who}No new pictures since the last digest.** " + day.quiet_reason)
    fields: list[EmbedField] = []
    if imgs:
        counts = Counter(day.catalogue.camera(i.instrument).short for i in imgs).most_common()
        shown = [f"{name}: {n:,}" for name, n in counts[:12]]
        if len(counts) > 12:
            shown.append(f"others: {sum(n for _, n in counts[12:]):,}")
        fields.append(EmbedField(f"{day.rover}'s pictures per camera" if named else "Pictures per camera",
                                 clip("\n".join(shown), MAX_FIELD_VALUE), inline=True))
        flag = f" rover:{day.rover.lower()}" if named else ""
        sol_links = " · ".join(f"`/sol {s}{flag}`" for s in sols[-6:])
        fields.append(EmbedField("See them", clip(sol_links, MAX_FIELD_VALUE), inline=True))
    if day.driven_m is not None:
        lines.append(who + drive_line(day.driven_m))
    return lines, fields


def digest(content, role_id: int | None = None) -> Post:
    """The daily digest: per rover the sols covered, counts per camera, a contact sheet and how far it
    drove; then headlines and what was held back. A digest of several rovers has an embed for each."""
    named = len(content.days) > 1
    parts = [_rover_part(day, named) for day in content.days]
    held = held_summary(content.held)
    shared: list[EmbedField] = []
    if content.news:
        heads = [f"• [{clip(safe(n.title), 120)}]({n.link})" if n.link else f"• {clip(safe(n.title), 120)}" for n in content.news[:6]]
        if len(content.news) > 6:
            heads.append(f"…and {len(content.news) - 6} more")
        shared.append(EmbedField("Mission news", clip("\n".join(heads), MAX_FIELD_VALUE), inline=False))
    footer = f"Covers {content.start:%Y-%m-%d %H:%M} – {content.end:%Y-%m-%d %H:%M} UTC"
    embeds: list[Embed] = []
    maps: list[Embed] = []
    attachments: tuple[Attachment, ...] = ()
    text = [content.title]
    for n, (day, (lines, fields)) in enumerate(zip(content.days, parts)):
        first = n == 0
        drive = [lines.pop()] if day.driven_m is not None else []  # the drive line closes the first embed's text
        if first and held:
            lines.append("Held back by this channel's hourly limit: " + ", ".join(held) + ".")
        lines += drive
        name = DIGEST_PICTURE if first else f"digest-{day.rover.lower()}.jpg"
        if day.picture:
            attachments += (Attachment(name, day.picture),)
        last = n == len(content.days) - 1
        embeds.append(Embed(title=clip(content.title if first else f"{day.rover} · {content.title}", MAX_TITLE),
                            description=clip("\n".join(lines), MAX_DESCRIPTION),
                            image_url=f"attachment://{name}" if day.picture else None, color=MARS_RED,
                            fields=tuple(fields + (shared if last else [])), footer=footer if last else None,
                            timestamp=content.end if last else None))
        if day.drive_map:  # a small map when the rover moved that day
            map_name = picture_name(f"digest-map-{day.rover.lower()}" if named else "digest-map", day.drive_map)
            attachments += (Attachment(map_name, day.drive_map),)
            maps.append(Embed(title=f"Where {day.rover} drove" if named else "Where the rover drove",
                              image_url=f"attachment://{map_name}", color=WHERE_BLUE))
        text += [_strip_markup(line) for line in lines]
        text += [f"  {f.name}: {_strip_markup(f.value).replace(chr(10), '; ')}" for f in fields]
        if day.picture:
            text.append(f"  picture: {name} ({day.picture_frames} frames, {len(day.picture):,} bytes)")
    text += [f"  {f.name}: {_strip_markup(f.value).replace(chr(10), '; ')}" for f in shared]
    ping = f"<@&{role_id}>" if role_id else ""
    return Post(content=ping, embeds=tuple(fit(embeds + maps)), attachments=attachments, ping_role_id=role_id,
                text="\n".join(text))


# ------------------------------------------------------------------ /where, drives, places

WHERE_BLUE = 0x26A8FF  # MMGIS's rover-position colour


def picture_name(stem: str, data: bytes) -> str:
    """A map is PNG on a plain background and JPEG over tiles: the name must say which."""
    return f"{stem}.png" if data.startswith(b"\x89PNG") else f"{stem}.jpg"


def where_post(answer, picture: bytes) -> Post:
    """/where: the rover's position in words, and the map (bot/where.py Where, map bytes)."""
    name = picture_name("where", picture)
    lines = answer.lines()
    ns, ew = ("N" if answer.lat >= 0 else "S"), ("E" if answer.lon >= 0 else "W")
    fields = [EmbedField("Sol", str(answer.sol)), EmbedField("Site / drive", f"{answer.site} / {answer.drive}"),
              EmbedField("Position", f"{abs(answer.lat):.5f}°{ns}, {abs(answer.lon):.5f}°{ew}"),
              EmbedField("Elevation", f"{answer.elevation_m:,.0f} m" if answer.elevation_m is not None else "not published")]
    if answer.last_drive_m is not None:
        fields.append(EmbedField("Last drive", f"{answer.last_drive_m:,.1f} m ({answer.last_drive_ft:,.0f} ft)"))
    if answer.total_m is not None:
        fields.append(EmbedField("Driven since landing", f"{answer.total_km:,.2f} km ({answer.total_mi:,.2f} mi)"))
    fields.append(EmbedField("Localized", f"{timestamp(answer.localized_utc, 'R')} (sol {answer.sol}, estimated time)", inline=False))
    embed = Embed(title=f"Where is {answer.rover}?", description=f"Localized on sol {answer.sol}, {answer.ago}.",
                  image_url=f"attachment://{name}", color=WHERE_BLUE, fields=tuple(fields),
                  footer="NASA/JPL-Caltech MMGIS · HiRISE basemap (NASA/JPL/UArizona) · north up")
    text = "\n".join([*lines, f"attachment: {name} ({len(picture):,} bytes)"])
    return Post(embeds=(embed,), attachments=(Attachment(name, picture),), text=text)


def drive_post(rover: str, drive, picture: bytes | None, mosaic: bytes | None, role_id: int | None = None) -> Post:
    """A `drives` subscription's post: "drove 49.9 m on sol 1840 (41.74 km since landing)", the map,
    and NASA's end-of-drive 360° view from the new stop when it has one."""
    head = f"🚙 **{rover} {drive.text()}**"
    content = (f"<@&{role_id}> " if role_id else "") + head
    attachments, embeds = [], []
    if picture:
        name = picture_name("drive-map", picture)
        attachments.append(Attachment(name, picture))
        embeds.append(Embed(title=f"Sol {drive.sol}: site {drive.site}, drive {drive.drive}", image_url=f"attachment://{name}",
                            description=f"{abs(drive.lat):.5f}°{'N' if drive.lat >= 0 else 'S'}, "
                                        f"{abs(drive.lon):.5f}°{'E' if drive.lon >= 0 else 'W'} · `/where` for more",
                            color=WHERE_BLUE, footer="NASA/JPL-Caltech MMGIS · HiRISE basemap · north up"))
    if mosaic:
        attachments.append(Attachment("drive-360.jpg", mosaic))
        embeds.append(Embed(title="The view from the new stop (360°)", image_url="attachment://drive-360.jpg",
                            description="NASA's automatic end-of-drive Navcam mosaic; compass points along the bottom.",
                            color=WHERE_BLUE, footer="NASA/JPL-Caltech"))
    text = [_strip_markup(head)] + [f"attachment: {a.filename} ({len(a.data):,} bytes)" for a in attachments]
    return Post(content=clip(content, MAX_CONTENT), embeds=tuple(embeds), attachments=tuple(attachments),
                ping_role_id=role_id, text="\n".join(text))


def with_places(post: Post, place_of) -> Post:
    """Each picture embed says where it was taken, when `place_of(image URL)` knows (a site/drive
    matching a localization); unknown places are left out silently."""
    embeds, changed = [], False
    for e in post.embeds:
        place = place_of(e.image_url) if e.image_url and e.description else None
        if place:
            e = replace(e, description=clip(f"{e.description}\n📍 Taken {place}.", MAX_DESCRIPTION))
            changed = True
        embeds.append(e)
    return replace(post, embeds=tuple(fit(embeds))) if changed else post


def drive_line(metres: float) -> str:
    """The digest's drive sentence."""
    if metres <= 0:
        return "The rover did not drive."
    km = f" ({metres / 1000:,.2f} km)" if metres >= 1000 else ""
    return f"🚙 The rover drove **{metres:,.1f} m**{km} ({metres / 0.3048:,.0f} ft)."


# ------------------------------------------------------------------ /now


def now(clock: MarsClock) -> Post:
    mission = marstime.MISSIONS[clock.mission]
    if clock.utc < mission.landing_utc:
        # Before landing there is no sol yet: say when the rover lands instead of a negative sol.
        embed = Embed(title=f"{mission.rover} hasn't landed yet",
                      description=f"It lands {timestamp(mission.landing_utc, 'R')}, on {timestamp(mission.landing_utc, 'F')}. "
                                  "Sol 0 is its landing day.", color=MARS_RED,
                      footer="Mars24 algorithm (Allison & McEwen 2000)")
        days = (mission.landing_utc - clock.utc).total_seconds() / 86400
        return Post(embeds=(embed,), text=f"{mission.rover} lands in {days:.1f} days ({_plain_time(mission.landing_utc)})")
    begin, end = marstime.sol_interval(clock.sol, mission)
    fields = (
        EmbedField("Sol", str(clock.sol)),
        EmbedField("Local mean solar time", f"{clock.lmst} LMST"),
        EmbedField("Earth time", timestamp(clock.utc, "F"), inline=False),
        EmbedField("This sol on Earth", f"{timestamp(begin)} → {timestamp(end)}", inline=False),
        EmbedField("Sols since landing", f"{clock.sol:,}"),
    )
    embed = Embed(title=f"It is sol {clock.sol} for {mission.rover}", description=f"At the rover it is **{clock.lmst}** local mean solar time.",
                  color=MARS_RED, fields=fields, footer="Mars24 algorithm (Allison & McEwen 2000)")
    text = (
        f"{mission.rover}: sol {clock.sol}, {clock.lmst} LMST\n"
        f"Earth time: {_plain_time(clock.utc)}\n"
        f"Sol {clock.sol} runs {_plain_time(begin)} → {_plain_time(end)}\n"
        f"Sols since landing: {clock.sol}"
    )
    return Post(embeds=(embed,), text=text)


# ------------------------------------------------------------------ the JSON Discord receives


def embed_payload(e: Embed) -> dict:
    d: dict = {"type": "rich"}
    if e.title:
        d["title"] = e.title
    if e.description:
        d["description"] = e.description
    if e.url:
        d["url"] = e.url
    if e.color is not None:
        d["color"] = e.color
    if e.timestamp:
        d["timestamp"] = e.timestamp.isoformat()
    if e.image_url:
        d["image"] = {"url": e.image_url}
    if e.thumbnail_url:
        d["thumbnail"] = {"url": e.thumbnail_url}
    if e.footer:
        d["footer"] = {"text": e.footer}
    if e.fields:
        d["fields"] = [{"name": f.name, "value": f.value, "inline": f.inline} for f in e.fields]
    return d


def payload(post: Post) -> dict:
    """The message body as Discord receives it (attachments by name and size)."""
    body: dict = {
        "content": post.content,
        "embeds": [embed_payload(e) for e in post.embeds],
        "components": [],
        # Only the subscription's role may ever be pinged, whatever the feed's text says.
        "allowed_mentions": {"parse": [], "roles": [str(post.ping_role_id)] if post.ping_role_id else []},
        "attachments": [{"id": i, "filename": a.filename, "size": len(a.data)} for i, a in enumerate(post.attachments)],
    }
    if post.buttons:
        body["components"] = [{"type": 1, "components": [_button_payload(b) for b in post.buttons]}]
    if post.menu:
        body["components"].append({"type": 1, "components": [{
            "type": 3, "custom_id": post.menu.custom_id, "placeholder": post.menu.placeholder, "min_values": 1,
            "max_values": 1, "options": [{"label": label, "value": value} for label, value in post.menu.options]}]})
    if post.ephemeral:
        body["flags"] = 64
    return body


def _button_payload(b: Button) -> dict:
    if b.url:
        return {"type": 2, "style": 5, "label": b.label, "url": b.url, "disabled": b.disabled}
    return {"type": 2, "style": 2, "label": b.label, "custom_id": b.custom_id, "disabled": b.disabled}
