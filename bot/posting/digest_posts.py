"""Daily digests: per channel, at its local time, one post covering everything since its last one
for the rover it follows (or every rover). A digest is queued and recorded for its local date in
one transaction, so there is never a second one that day, and after downtime only the most recent
missed day gets one."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Callable, ContextManager, Sequence

from bot import compose, crashpoints
from bot.answers.drives import RoverMaps
from bot.answers.gallery import Gallery
from bot.imagery import maker as products
from bot.imagery.maker import ProductMaker
from bot.mars import marstime, rovers
from bot.mars.rovers import Rover
from bot.models import NewsItem, Post, PostKey, RoverImage, Subscription
from bot.posting import digest
from bot.posting.delivery import Courier
from bot.posting.digest import DigestContent, DigestMaker, RoverDay
from bot.posting.outbound import payload_of, with_delivery
from bot.sources.news import NewsError, NewsReader
from bot.store import Digests, Frames, Images, News, Outbox, Subscriptions

log = logging.getLogger("roverbot.automation")


def covered(sub: Subscription) -> list[Rover]:
    """The rovers a digest subscription covers: its own, or every rover ('')."""
    return list(rovers.ROVERS.values()) if not sub.mission else [rovers.BY_MISSION[sub.mission]]


def title_of(rovers_: Sequence[Rover], what: str) -> str:
    return f"{' & '.join(r.name for r in rovers_)} {what}"


class DigestPosts:
    def __init__(self, maker: DigestMaker, images: Images, frames: Frames, news: News, subscriptions: Subscriptions,
                 outbox: Outbox, digests: Digests, transaction: Callable[[], ContextManager], courier: Courier, *,
                 clock: Callable[[], datetime], products: ProductMaker | None = None, rovermaps: RoverMaps | None = None):
        self.maker = maker
        self.images = images
        self.frames = frames
        self.news = news
        self.subscriptions = subscriptions
        self.outbox = outbox
        self.digests = digests
        self.transaction = transaction
        self.courier = courier
        self.clock = clock
        self.products = products  # the day's best panorama as the picture (rovers whose records carry geometry)
        self.rovermaps = rovermaps  # how far each rover drove, and a small map
        self._days: dict[tuple, RoverDay] = {}  # (window, rover, cameras) -> its part, shared by every channel due then
        self._drive_days: dict[tuple, tuple[float | None, bytes | None]] = {}
        self.days_computed = 0
        self._running = asyncio.Lock()  # one digest cycle at a time

    async def cycle(self) -> int:
        """Queue every digest that is due; returns how many. Sending starts with the first one, so
        composing the rest overlaps with the paced sends."""
        async with self._running:
            now = self.clock()
            queued = 0
            sending: asyncio.Task | None = None
            for sub in self.subscriptions.find(kind="digest", active=True):
                local_date, due_at = digest.last_due(now, sub.timezone, sub.digest_time)
                if self.digests.has_digest(sub.channel_id, local_date.isoformat()):
                    continue
                if due_at.timestamp() < sub.created_at:
                    continue  # subscribed after today's time: the first digest is the next one
                if await self.queue(sub, local_date.isoformat(), now):
                    queued += 1
                    if sending is None or sending.done():
                        sending = asyncio.create_task(self.courier.pump())
                    await asyncio.sleep(0)  # let the courier take what is ready
            if sending is not None:
                await sending
            if queued:
                await self.courier.pump()  # whatever was queued after the courier last looked
            return queued

    def window(self, sub: Subscription, end: datetime) -> tuple[datetime, datetime]:
        """From where the channel's last digest stopped (else a day before `end`, or its subscription)
        to `end`: the due time, not the moment of sending, so every channel due at the same time
        shares one window and one computed content."""
        last = self.digests.last_digest(sub.channel_id)
        start = last[1] if last else max(sub.created_at, end.timestamp() - 86400)
        return datetime.fromtimestamp(start, tz=timezone.utc), end

    async def _day(self, rover: Rover, start: datetime, end: datetime, codes: Sequence[str]) -> RoverDay:
        """A rover's part of a digest window, computed once per (window, rover, cameras) however many
        channels share it."""
        key = (start.timestamp(), end.timestamp(), rover.key, tuple(codes))
        if key not in self._days:
            found = self.images.seen_between(rover.mission.key, start.timestamp(), end.timestamp(), codes)
            picture, frames = await self._best_product(rover, start, end, codes) or \
                await self.maker.picture(found, rover.catalogue)
            day = RoverDay(rover.name, rover.catalogue, found, picture, frames,
                           "" if found else self.maker.quiet_reason(start, end, rover.mission))
            day.driven_m, day.drive_map = await self._drive_day(rover, start, end)
            self._days[key] = day
            self.days_computed += 1
            while len(self._days) > 16:
                self._days.pop(next(iter(self._days)))
        return self._days[key]

    async def _best_product(self, rover: Rover, start: datetime, end: datetime,
                            codes: Sequence[str]) -> tuple[bytes, int] | None:
        """The day's best panorama as the digest's picture, when the day brought one."""
        if self.products is None or not rover.panoramas:
            return None
        best = None
        for sol, sequence in self.frames.frame_sequences_seen_between(start.timestamp(), end.timestamp()):
            for plan in products.plans(self.frames.frame_records(sol, sequence, codes)):
                if plan.kind == "panorama" and (best is None or len(plan.frame_ids) > len(best.frame_ids)):
                    best = plan
        if best is None:
            return None
        made = await self.products.make(best)
        return (made.data, made.frames) if made else None

    async def _drive_day(self, rover: Rover, start: datetime, end: datetime) -> tuple[float | None, bytes | None]:
        """How far the rover drove in a digest window, and a small map when it moved: computed once
        per window, however many channels share it; (None, None) when NASA's map can't say."""
        if self.rovermaps is None:
            return None, None
        key = (start.timestamp(), end.timestamp(), rover.key)
        if key not in self._drive_days:
            found = await self.rovermaps.day(rover, start, end)
            self._drive_days[key] = found if found is not None else (None, None)
            while len(self._drive_days) > 16:
                self._drive_days.pop(next(iter(self._drive_days)))
        return self._drive_days[key]

    async def content_for(self, sub: Subscription, end: datetime, local_date: str | None = None) -> tuple[DigestContent, list[int]]:
        start, end = self.window(sub, end)
        which = covered(sub)
        days = [await self._day(r, start, end, sub.codes if len(which) == 1 else ()) for r in which]
        news = self.news.news_seen_between(start.timestamp(), end.timestamp())
        held = self.outbox.entries(channel_id=sub.channel_id, status="held")
        title = title_of(which, f"daily digest · {local_date or end.date().isoformat()}")
        return DigestContent(title=title, start=start, end=end, days=days, news=news,
                             held=[h.payload for h in held]), [h.id for h in held]

    async def queue(self, sub: Subscription, local_date: str, now: datetime) -> bool:
        _, due_at = digest.last_due(now, sub.timezone, sub.digest_time)
        content, held_ids = await self.content_for(sub, min(due_at, now), local_date)
        post = compose.digest(content, sub.role_id)
        with self.transaction():
            if self.digests.has_digest(sub.channel_id, local_date):
                return False  # another cycle got there first
            entry = self.outbox.enqueue(PostKey.digest(sub.channel_id, local_date), sub.guild_id,
                                        with_delivery(payload_of(post, self.outbox), sub, None, None), now.timestamp())
            if entry is None:
                return False
            self.digests.record_digest(sub.channel_id, local_date, content.start.timestamp(), content.end.timestamp(),
                                       entry, held_ids)
        crashpoints.reached("digest:queued")
        log.info("digest for channel %s (%s): %d pictures, %d news, %d held posts", sub.channel_id, local_date,
                 len(content.images), len(content.news), len(held_ids))
        return True

    async def preview(self, sub: Subscription) -> Post:
        """What the next digest in this channel would hold, if it were due now (nothing is recorded)."""
        now = self.clock()
        content, _ = await self.content_for(sub, now)
        day, due_at = digest.last_due(now, sub.timezone, sub.digest_time)
        # Today's is still owed (the next cycle sends it) unless it went out already.
        owed = due_at.timestamp() >= sub.created_at and not self.digests.has_digest(sub.channel_id, day.isoformat())
        nxt = now if owed else digest.next_due(now, sub.timezone, sub.digest_time)
        content.title = f"Next digest here: {compose.timestamp(nxt, 'f')} (so far)"
        return compose.digest(content, None)


async def digest_for_date(galleries: Sequence[Gallery], reader: NewsReader, maker: DigestMaker, day: datetime,
                          tz_name: str) -> Post:
    """`roverbot digest --date`: the pictures of the sols that overlap a local day, read from NASA,
    for each gallery's rover."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(tz_name)
    start = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(timezone.utc)
    end = datetime.fromtimestamp(start.timestamp() + 86400, tz=timezone.utc)
    days = []
    for gallery in galleries:
        found: list[RoverImage] = []
        for sol in marstime.sols_overlapping(start, end, gallery.mission):
            if sol < 0 or sol > gallery.current_sol():
                continue
            await gallery.ensure(sol, gallery.select(None))
            found += gallery.images.of_sol(gallery.mission.key, sol)
        picture, frames = await maker.picture(found, gallery.catalogue)
        days.append(RoverDay(gallery.rover.name, gallery.catalogue, found, picture, frames,
                             "" if found else maker.quiet_reason(start, end, gallery.mission)))
    news: list[NewsItem] = []
    for feed in reader.feeds:
        try:
            news += [n for n in await reader.read(feed) if n.published and start <= n.published < end]
        except NewsError as e:
            log.warning("digest news: %s", e)
    title = title_of([g.rover for g in galleries], f"digest · {day.date().isoformat()} ({tz_name})")
    return compose.digest(DigestContent(title=title, start=start, end=end, days=days, news=news))
