"""Automatic posts: polling results -> per-subscription posts in the outbox -> the courier.

Each step is idempotent and recorded, so the process can be killed anywhere:
- a poll stores what it saw; its posts are queued in one transaction with marking it dispatched,
  and undispatched polls are dispatched again on the next cycle;
- every queued post has a key that makes a second copy impossible;
- a digest is queued and recorded for its local date in one transaction.
The scheduler (bot/schedule.py) calls the *_cycle methods; tests call them with a driven clock.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Sequence

from bot import compose, crashpoints
from bot.posting import digest, interest
from bot.mars import marstime
from bot.sources import parse
from bot.imagery import maker as products
from bot.imagery.maker import ProductMaker
from bot.mars.cameras import Catalogue
from bot.posting.delivery import Courier
from bot.posting.digest import DigestContent, DigestMaker
from bot.answers.gallery import Gallery
from bot.models import NewsItem, Post, RoverImage, Subscription
from bot.sources.news import NewsError, NewsReader
from bot.posting.poller import ImagePoller
from bot.store import Store
from bot.answers import where
from bot.answers.drives import RoverMaps, position_from_json, position_to_json
from bot.sources.nasa import NasaError

log = logging.getLogger("roverbot.automation")

NEWS_BASELINE = "news.baseline:"
MAX_BACKOFF = 3600.0  # a failing source is retried at least hourly, however long it has been down


def payload_of(post: Post, store: Store, **extra) -> dict:
    """What the outbox keeps of a post: the Discord JSON, files by content hash (stored once)."""
    body = compose.payload(post)
    return {"content": body["content"], "embeds": body["embeds"], "role_id": post.ping_role_id,
            "files": [[a.filename, store.outbox.put_blob(a.data)] for a in post.attachments], **extra}


def by_channel(subs: Sequence[Subscription]) -> list[list[Subscription]]:
    """Subscriptions grouped by channel, oldest first in each."""
    out: dict[int, list[Subscription]] = {}
    for sub in sorted(subs, key=lambda s: s.id):
        out.setdefault(sub.channel_id, []).append(sub)
    return list(out.values())


def wants(sub: Subscription, image: RoverImage) -> bool:
    """A picture of this subscription's cameras, received after it was made."""
    return (not sub.codes or image.instrument in sub.codes) and \
        (image.received_utc is None or image.received_utc.timestamp() >= sub.created_at)


def roles_for(subs: Sequence[Subscription], images: Sequence[RoverImage]) -> list[int]:
    """The roles of the subscriptions that want at least one of these pictures (each once)."""
    return list(dict.fromkeys(s.role_id for s in subs if s.role_id and any(wants(s, i) for i in images)))


def with_roles(payload: dict, roles: Sequence[int]) -> dict:
    """A post pinging these roles (and only them: allowed_mentions is built from role_ids)."""
    roles = list(roles)
    content = payload.get("content") or ""
    if roles:
        content = " ".join(f"<@&{r}>" for r in roles) + " " + content
    return {**payload, "content": content[:2000], "role_id": roles[0] if roles else None, "role_ids": roles}


def thread_name(sol: int) -> str:
    """A sol's thread: "Sol 1994 · 30 Sep 2026" (the Earth date the sol began, UTC)."""
    start, _ = marstime.sol_interval(sol)
    return f"Sol {sol} · {start.day} {start.strftime('%b %Y')}"


def with_delivery(payload: dict, sub: Subscription, sol: int | None) -> dict:
    """How the post goes out, fixed when it is queued: into the sol's thread (forum post or text
    channel thread) and/or through the channel's webhook under the subscription's name."""
    delivery: dict = {}
    if sub.threads and sol is not None:
        delivery["thread"] = {"sol": sol, "name": thread_name(sol), "forum": sub.threads == "forum"}
    if sub.webhook_name:
        delivery["webhook"] = {"name": sub.webhook_name, "avatar": sub.webhook_avatar}
    return {**payload, "delivery": delivery} if delivery else payload


@dataclass
class CycleReport:
    new: int = 0
    queued: int = 0
    error: str | None = None
    items: list = field(default_factory=list)  # the new news items, for the command line


class Automation:
    def __init__(self, store: Store, poller: ImagePoller, news: NewsReader, maker: DigestMaker, courier: Courier,
                 gallery: Gallery, catalogue: Catalogue, *, clock: Callable[[], datetime],
                 poll_interval: float = 600.0, news_interval: float = 1800.0, group_wait: float = 0.0,
                 retention: tuple[float, float, float] = (7, 14, 30), products: "ProductMaker | None" = None,
                 rovermaps: "RoverMaps | None" = None, drives_interval: float = 1800.0):
        self.products = products  # panoramas, 3D views and movies for image posts and digests
        self.rovermaps = rovermaps  # NASA's rover map: drive posts, places of pictures, the digest's drive line
        self.drives_interval = drives_interval
        self._drive_days: dict[tuple, tuple[float | None, bytes | None]] = {}  # digest window -> drive line, map
        self.retention = retention  # days: sent posts, finished polls, stored pictures
        self._days: dict[tuple, tuple] = {}  # digest window -> its pictures, news and contact sheet
        self.days_computed = 0
        self.poll_interval = poll_interval
        self.group_wait = group_wait  # how long a new group waits for the rest of its sequence
        self.news_interval = news_interval
        self.store = store
        self.poller = poller
        self.news = news
        self.maker = maker
        self.courier = courier
        self.gallery = gallery
        self.catalogue = catalogue
        self.clock = clock

    def now(self) -> float:
        return self.clock().timestamp()

    def recover(self) -> None:
        """At start, holding the database lock: what a stopped or killed process left half done.
        Its unfinished polls are finished (their finds get dispatched); its claimed posts wait again,
        marked as possibly on Discord, so the courier checks the channel before re-sending."""
        polls = self.store.polls.interrupted_polls(self.now())
        claims = self.store.outbox.abandoned_claims()
        if polls or claims:
            log.warning("recovered after an interrupted run: %d unfinished poll(s), %d post(s) that may already be"
                        " on Discord (checked before any re-send)", polls, claims)

    # ------------------------------------------------------------ images

    def backing_off(self, source: str, interval: float) -> bool:
        """After repeated failures a source is asked less often: 2, 4, 8... intervals, at most an hour."""
        failures, since = self.store.polls.poll_failures(source)
        if failures < 2:
            return False
        wait = min(MAX_BACKOFF, interval * 2 ** (failures - 1))
        last = self.store.polls.last_attempt(source) or 0.0
        if self.now() - last < wait:
            log.info("%s has failed %d cycles in a row since %s; next try in %.0f min", source, failures,
                     datetime.fromtimestamp(since or 0, tz=timezone.utc).isoformat(timespec="minutes"),
                     (wait - (self.now() - last)) / 60)
            return True
        return False

    async def images_cycle(self) -> CycleReport:
        if self.backing_off("images", self.poll_interval):
            self.dispatch_images()
            await self.attach_products()
            await self.courier.pump()
            return CycleReport(error="backing off")
        result = await self.poller.poll()
        queued = self.dispatch_images()
        await self.attach_products()
        await self.courier.pump()
        return CycleReport(new=len(result.new), queued=queued, error=result.error)

    def dispatch_images(self) -> int:
        queued = 0
        for poll_id in self.store.polls.undispatched_polls("images"):
            found = self.store.images.first_seen_by(poll_id)
            with self.store.transaction():
                for subs in by_channel(self.store.subscriptions.find(kind="images")):
                    queued += self._queue_images(subs, found, poll_id)
                self.store.polls.mark_dispatched(poll_id, self.now())
            crashpoints.reached("poll:queued")
        return queued

    def _queue_images(self, subs: Sequence[Subscription], found: Sequence[RoverImage], poll_id: int) -> int:
        """One channel's image posts for a poll. A channel with several subscriptions (Mastcam-Z
        pinging one role, Navcam another) gets one post per group of pictures, pinging the role of
        every subscription that wants a picture of it: never the same picture twice in a channel."""
        sub = subs[0]  # the oldest: how the channel's shared posts are delivered (thread, webhook)
        wanted_by = {s.id: {i.exposure_id for i in found if wants(s, i)} for s in subs}
        every = set().union(*wanted_by.values())
        wanted = [i for i in found if i.exposure_id in every]
        queued = 0
        now = self.now()
        # Most interesting first: the outbox sends in id order, so the hour's budget goes to the best
        # groups (panoramas, long sequences, science cameras, colour, cameras back after a while) and
        # the rest is held for the digest. Engineering singles of a sol become one "also on" post.
        sent = self.store.outbox.sent_groups(sub.channel_id, now - interest.A_WHILE.total_seconds())
        context = interest.Context(now=self.clock(), catalogue=self.catalogue, extents=self._extents(wanted),
                                   last_posted=interest.last_posted_by_family(sent))
        groups = interest.roll_up(interest.as_groups(compose.groups(wanted, self.catalogue), self.catalogue), self.catalogue)
        for ranked in interest.rank(groups, context):
            group, family, grp = list(ranked.group.images), ranked.group.family, ranked.group.key
            waiting = self.store.outbox.open_group(sub.channel_id, grp)
            if waiting is not None:
                # The same sequence is still coming in: one post for all of it, sent when it settles.
                entry_id, old, created = waiting
                exposures = list(dict.fromkeys(old.get("exposures", []) + [i.exposure_id for i in group]))
                merged = sorted(self.store.images.images_by_exposure(exposures),
                                key=lambda i: (i.taken_utc.isoformat() if i.taken_utc else "", i.exposure_id))
                roles = roles_for(subs, merged)
                payload = self._group_payload(merged, family, sub, old.get("rolled_up", 0), roles)
                # Each newcomer extends the wait, but never past three waits from the first. A post
                # claimed for sending meanwhile is never changed: the newcomers make a post of their own.
                if self.store.outbox.update_payload(entry_id, payload, min(created + 3 * self.group_wait, now + self.group_wait)):
                    continue
            # Keyed by channel, not subscription: two subscriptions of one channel share the post.
            key = f"images:{sub.channel_id}:{poll_id}:{grp}"
            payload = self._group_payload(group, family, sub, ranked.group.rolled_up, roles_for(subs, group))
            if self.store.outbox.enqueue(key, sub.guild_id, sub.channel_id, "images", payload, now,
                                  not_before=now + self.group_wait, group=grp):
                queued += 1
        return queued

    async def attach_products(self) -> int:
        """A settled image post whose sequence makes a panorama, 3D view or movie carries it.

        Runs when the group's wait is over (the sequence has arrived), before the post can be sent;
        a post already attempted is never changed, so frames arriving later make a new post, which
        gets the re-assembled product — at most twice per sequence and channel."""
        if self.products is None:
            return 0
        attached = 0
        for entry_id, channel_id, grp, payload in self.store.outbox.settled_image_posts(self.now()):
            sol_text, _, sequence = grp.split(":", 2)
            found = products.plans(self.store.frames.frame_records(int(sol_text), sequence)) if sequence else []
            product = None
            if found and self.store.outbox.products_posted(channel_id, grp) < 2:
                product = await self.products.make(found[0])
            if product is None:
                self.store.outbox.update_payload(entry_id, {**payload, "product": ""})  # looked at: plain post
                continue
            ref = [product.filename, self.store.outbox.put_blob(product.data)]
            hint = f"{product.frames} frames, sequence {product.sequence}" if product.sequence else f"{product.frames} frames"
            if self.store.outbox.update_payload(entry_id, compose.with_product(payload, product.filename, product.title, hint, ref)):
                attached += 1
        return attached

    def _group_payload(self, images: Sequence[RoverImage], family: str, sub: Subscription, rolled_up: int = 0,
                       roles: Sequence[int] | None = None) -> dict:
        post = compose.image_group(images, self.catalogue, None, rolled_up=rolled_up)
        if self.rovermaps is not None:  # held localizations only: nothing is fetched per picture
            post = compose.with_places(post, self.rovermaps.place_of)
        payload = payload_of(post, self.store, summary_label=self.catalogue.family_label(family), count=len(images),
                             exposures=[i.exposure_id for i in images], rolled_up=rolled_up)
        roles = [sub.role_id] if roles is None and sub.role_id else list(roles or [])
        return with_delivery(with_roles(payload, roles), sub, images[0].sol)

    def _extents(self, images: Sequence[RoverImage]) -> dict[str, "interest.Extent"]:
        """Size and aim of each picture, from the geometry the poll kept (panoramas score as such)."""
        out: dict[str, interest.Extent] = {}
        for sol, sequence in {(i.sol, i.sequence) for i in images if i.sequence}:
            for rec in self.store.frames.frame_records(sol, sequence):
                exposure = parse.exposure_of(str(rec.get("imageid", "")))[0]
                out.setdefault(exposure, interest.extent_of(rec))
        return out

    # ------------------------------------------------------------ news

    async def news_cycle(self) -> CycleReport:
        report = await self.read_news()
        report.queued = self.dispatch_news()
        await self.courier.pump()
        return report

    async def read_news(self) -> CycleReport:
        """Read every feed once and record what is new (the first read of a feed is its baseline);
        posting it is dispatch_news's job. `roverbot poll --once` runs just this."""
        report = CycleReport()
        for feed in self.news.feeds:
            if self.backing_off(f"news:{feed}", self.news_interval):
                continue
            poll_id = self.store.polls.start_poll(f"news:{feed}", self.now())
            try:
                items = await self.news.read(feed)
            except NewsError as e:
                self.store.polls.finish_poll(poll_id, 0, str(e), self.now())
                log.warning("news feed failed: %s", e)
                report.error = str(e)
                continue
            baseline = self.store.state.get(NEWS_BASELINE + feed) is None
            known = self.store.news.news_keys(i.key for i in items)
            fresh = [i for i in items if i.key not in known]
            # An edited item keeps its key: its text is updated, it is not posted again.
            # A baseline's articles were there before the bot: "seen" at the epoch, so no digest lists them.
            self.store.news.record_news(items, poll_id, self.now(), seen_at=0.0 if baseline else None)
            self.store.polls.finish_poll(poll_id, 0 if baseline else len(fresh), None, self.now())
            if baseline:
                self.store.state.put(NEWS_BASELINE + feed, str(self.now()))
                self.store.polls.mark_dispatched(poll_id, self.now())
                log.info("news baseline for %s: %d items, none posted", feed, len(items))
            else:
                report.new += len(fresh)
                report.items += fresh
        return report

    def dispatch_news(self) -> int:
        queued = 0
        polls = [p for feed in self.news.feeds for p in self.store.polls.undispatched_polls(f"news:{feed}")]
        for poll_id in sorted(polls):
            items = self.store.news.news_first_seen_by(poll_id)
            with self.store.transaction():
                for subs in by_channel(self.store.subscriptions.find(kind="news")):
                    sub = subs[0]  # one post per article and channel, pinging every subscription's role
                    for item in items:
                        post = compose.news_post(item, None)
                        payload = payload_of(post, self.store, summary_label="news", count=1)
                        payload = with_delivery(with_roles(payload, [s.role_id for s in subs if s.role_id]), sub, None)
                        if self.store.outbox.enqueue(f"news:{sub.channel_id}:{item.key}", sub.guild_id, sub.channel_id, "news",
                                              payload, self.now()):
                            queued += 1
                self.store.polls.mark_dispatched(poll_id, self.now())
        return queued

    # ------------------------------------------------------------ digests

    async def digest_cycle(self) -> int:
        """Queue every digest that is due; returns how many. Sending starts with the first one, so
        composing the rest overlaps with the paced sends."""
        now = self.clock()
        queued = 0
        sending: asyncio.Task | None = None
        for sub in self.store.subscriptions.find(kind="digest", active=True):
            local_date, due_at = digest.last_due(now, sub.timezone, sub.digest_time)
            if self.store.digests.has_digest(sub.channel_id, local_date.isoformat()):
                continue
            if due_at.timestamp() < sub.created_at:
                continue  # subscribed after today's time: the first digest is the next one
            if await self.queue_digest(sub, local_date.isoformat(), now):
                queued += 1
                if sending is None or sending.done():
                    sending = asyncio.create_task(self.courier.pump())
                await asyncio.sleep(0)  # let the courier take what is ready
        if sending is not None:
            await sending
        if queued:
            await self.courier.pump()  # whatever was queued after the courier last looked
        return queued

    def digest_window(self, sub: Subscription, end: datetime) -> tuple[datetime, datetime]:
        """From where the channel's last digest stopped (else a day before `end`, or its subscription)
        to `end`: the due time, not the moment of sending, so every channel due at the same time
        shares one window and one computed content."""
        last = self.store.digests.last_digest(sub.channel_id)
        start = last[1] if last else max(sub.created_at, end.timestamp() - 86400)
        return datetime.fromtimestamp(start, tz=timezone.utc), end

    async def _day(self, start: datetime, end: datetime, codes: Sequence[str]) -> tuple:
        """What a digest window holds, computed once per (window, cameras) however many channels share it."""
        key = (start.timestamp(), end.timestamp(), tuple(codes))
        if key not in self._days:
            found = self.store.images.seen_between(start.timestamp(), end.timestamp(), codes)
            news = self.store.news.news_seen_between(start.timestamp(), end.timestamp())
            picture, frames = await self._best_product(start, end, codes) or await self.maker.picture(found)
            self._days[key] = (found, news, picture, frames)
            self.days_computed += 1
            while len(self._days) > 16:
                self._days.pop(next(iter(self._days)))
        return self._days[key]

    async def _best_product(self, start: datetime, end: datetime, codes: Sequence[str]) -> tuple[bytes, int] | None:
        """The day's best panorama as the digest's picture, when the day brought one."""
        if self.products is None:
            return None
        best = None
        for sol, sequence in self.store.frames.frame_sequences_seen_between(start.timestamp(), end.timestamp()):
            for plan in products.plans(self.store.frames.frame_records(sol, sequence, codes)):
                if plan.kind == "panorama" and (best is None or len(plan.frame_ids) > len(best.frame_ids)):
                    best = plan
        if best is None:
            return None
        made = await self.products.make(best)
        return (made.data, made.frames) if made else None

    async def content_for(self, sub: Subscription, end: datetime, local_date: str | None = None) -> tuple[DigestContent, list[int]]:
        start, end = self.digest_window(sub, end)
        found, news, picture, frames = await self._day(start, end, sub.codes)
        held = self.store.outbox.entries(channel_id=sub.channel_id, status="held")
        title = f"Perseverance daily digest · {local_date or end.date().isoformat()}"
        content = DigestContent(title=title, start=start, end=end, images=found, news=news,
                                held=[h.payload for h in held], picture=picture, picture_frames=frames,
                                quiet_reason="" if found else self.maker.quiet_reason(start, end))
        content.driven_m, content.drive_map = await self._drive_day(start, end)
        return content, [h.id for h in held]

    async def queue_digest(self, sub: Subscription, local_date: str, now: datetime) -> bool:
        _, due_at = digest.last_due(now, sub.timezone, sub.digest_time)
        content, held_ids = await self.content_for(sub, min(due_at, now), local_date)
        post = compose.digest(content, self.catalogue, sub.role_id)
        with self.store.transaction():
            if self.store.digests.has_digest(sub.channel_id, local_date):
                return False  # another cycle got there first
            entry = self.store.outbox.enqueue(f"digest:{sub.channel_id}:{local_date}", sub.guild_id, sub.channel_id, "digest",
                                       with_delivery(payload_of(post, self.store), sub, None), now.timestamp())
            if entry is None:
                return False
            self.store.digests.record_digest(sub.channel_id, local_date, content.start.timestamp(), content.end.timestamp(),
                                     entry, held_ids)
        crashpoints.reached("digest:queued")
        log.info("digest for channel %s (%s): %d pictures, %d news, %d held posts", sub.channel_id, local_date,
                 len(content.images), len(content.news), len(held_ids))
        return True

    async def preview_digest(self, sub: Subscription) -> Post:
        """What the next digest in this channel would hold, if it were due now (nothing is recorded)."""
        now = self.clock()
        content, _ = await self.content_for(sub, now)
        day, due_at = digest.last_due(now, sub.timezone, sub.digest_time)
        # Today's is still owed (the next cycle sends it) unless it went out already.
        owed = due_at.timestamp() >= sub.created_at and not self.store.digests.has_digest(sub.channel_id, day.isoformat())
        nxt = now if owed else digest.next_due(now, sub.timezone, sub.digest_time)
        content.title = f"Next digest here: {compose.timestamp(nxt, 'f')} (so far)"
        return compose.digest(content, self.catalogue, None)

    async def digest_for_date(self, day: datetime, tz_name: str) -> Post:
        """`roverbot digest --date`: the pictures of the sols that overlap a local day, read from NASA."""
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(tz_name)
        start = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(timezone.utc)
        end = datetime.fromtimestamp(start.timestamp() + 86400, tz=timezone.utc)
        found: list[RoverImage] = []
        for sol in marstime.sols_overlapping(start, end):
            if sol < 0 or sol > self.gallery.current_sol():
                continue
            await self.gallery.ensure(sol, self.gallery.select(None))
            found += self.store.images.of_sol(marstime.PERSEVERANCE.key, sol)
        news: list[NewsItem] = []
        for feed in self.news.feeds:
            try:
                news += [n for n in await self.news.read(feed) if n.published and start <= n.published < end]
            except NewsError as e:
                log.warning("digest news: %s", e)
        picture, frames = await self.maker.picture(found)
        content = DigestContent(title=f"Perseverance digest · {day.date().isoformat()} ({tz_name})", start=start, end=end,
                                images=found, news=news, picture=picture, picture_frames=frames,
                                quiet_reason="" if found else self.maker.quiet_reason(start, end))
        return compose.digest(content, self.catalogue)

    # ------------------------------------------------------------ drives

    async def drives_cycle(self) -> CycleReport:
        """Read Perseverance's current position; a new end-of-drive localization is one post per
        `drives` subscription. The first read is a baseline; an unchanged, older or empty read
        posts nothing. The new position is stored in the transaction that queues its posts, each
        keyed by (channel, site, drive): a crash anywhere re-detects the same drive and queues
        nothing twice."""
        if self.rovermaps is None:
            return CycleReport()
        if self.backing_off("drives", self.drives_interval):
            await self.courier.pump()
            return CycleReport(error="backing off")
        poll_id = self.store.polls.start_poll("drives", self.now())
        try:
            _, loc = await self.rovermaps.current("M20")
        except NasaError as e:
            self.store.polls.finish_poll(poll_id, 0, str(e), self.now())
            self.store.polls.mark_dispatched(poll_id, self.now())
            log.warning("rover position unavailable: %s", e)
            return CycleReport(error=str(e))
        previous = position_from_json(self.store.state.rover_position("M20"))
        await self.rovermaps.refresh_places("M20", loc, force=loc is not None and (previous is None or loc.key != previous.key))
        drive = where.drive_from(previous, loc)
        pictures = await self.rovermaps.drive_pictures(drive, loc) if drive is not None else (None, None)
        queued = 0
        with self.store.transaction():
            if drive is not None:
                queued = self._queue_drive(drive, *pictures)
            if loc is not None and (previous is None or loc.key > previous.key):
                self.store.state.put_rover_position("M20", position_to_json(loc))  # a baseline, a drive, or a move in place
            self.store.polls.finish_poll(poll_id, 1 if drive else 0, None, self.now())
            self.store.polls.mark_dispatched(poll_id, self.now())
        if previous is None and loc is not None:
            log.info("rover position baseline: sol %d, site %d, drive %d (nothing posted)", loc.sol, loc.site, loc.drive)
        await self.courier.pump()
        return CycleReport(new=1 if drive else 0, queued=queued)

    def _queue_drive(self, drive: "where.Drive", picture: bytes | None, mosaic: bytes | None) -> int:
        """Inside the caller's transaction: the posts and the new position are one commit."""
        queued = 0
        for subs in by_channel(self.store.subscriptions.find(kind="drives")):
            sub = subs[0]  # one post per drive and channel, pinging every subscription's role
            post = compose.drive_post("Perseverance", drive, picture, mosaic, None)
            payload = payload_of(post, self.store, summary_label="drive", count=1)
            payload = with_delivery(with_roles(payload, [s.role_id for s in subs if s.role_id]), sub, drive.sol)
            if self.store.outbox.enqueue(f"drives:{sub.channel_id}:{drive.site}:{drive.drive}", sub.guild_id, sub.channel_id,
                                  "drives", payload, self.now()):
                queued += 1
        return queued

    async def _drive_day(self, start: datetime, end: datetime) -> tuple[float | None, bytes | None]:
        """How far Perseverance drove in a digest window, and a small map when it moved: computed
        once per window, however many channels share it; (None, None) when NASA's map can't say."""
        if self.rovermaps is None:
            return None, None
        key = (start.timestamp(), end.timestamp())
        if key not in self._drive_days:
            found = await self.rovermaps.day(start, end)
            self._drive_days[key] = found if found is not None else (None, None)
            while len(self._drive_days) > 16:
                self._drive_days.pop(next(iter(self._drive_days)))
        return self._drive_days[key]

    # ------------------------------------------------------------ retention

    async def retention_cycle(self) -> dict[str, int]:
        removed = self.store.retention.prune(self.now(), sent_days=self.retention[0], poll_days=self.retention[1],
                                   image_days=self.retention[2])
        last = float(self.store.state.get("retention.compacted_at") or 0)
        if self.now() - last >= 86400:  # once a day: give the trimmed payloads' space back to the disk
            self.store.state.put("retention.compacted_at", str(self.now()))
            await asyncio.to_thread(self.store.compact)
        if any(removed.values()):
            log.info("retention: removed %s; database now %.1f MB", ", ".join(f"{v} {k}" for k, v in removed.items() if v),
                     self.store.db.size_bytes() / 1e6)
        return removed

    # ------------------------------------------------------------ delivery

    async def delivery_cycle(self) -> int:
        self.store.state.put("heartbeat", str(datetime.now(timezone.utc).timestamp()))  # for `status --check`
        self.dispatch_images()  # polls a killed process left undispatched
        self.dispatch_news()
        await self.courier.recheck_paused()
        return await self.courier.pump()
