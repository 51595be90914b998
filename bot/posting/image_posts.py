"""Image posts of one rover: a finished poll's new pictures -> per channel, ranked groups in the
outbox; a settled group gets its panorama, 3D view or movie before it can be sent.

Each step is idempotent and recorded, so the process can be killed anywhere: a poll's posts are
queued in the transaction that marks it dispatched (an undispatched poll is dispatched again), and
every post has a key that makes a second copy impossible.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from typing import Callable, ContextManager, Sequence

from bot import compose, crashpoints
from bot.imagery import maker as products
from bot.imagery.maker import ProductMaker
from bot.mars.rovers import Rover
from bot.models import GroupKey, Payload, PostKey, RoverImage, Subscription
from bot.posting import interest
from bot.posting.delivery import Courier
from bot.posting.outbound import Backoff, CycleReport, by_channel, payload_of, roles_for, wants, with_delivery, with_roles
from bot.posting.poller import ImagePoller
from bot.sources import parse
from bot.store import Frames, Images, Outbox, Polls, Subscriptions


class ImagePosts:
    def __init__(self, rover: Rover, poller: ImagePoller, images: Images, frames: Frames, polls: Polls,
                 subscriptions: Subscriptions, outbox: Outbox, transaction: Callable[[], ContextManager],
                 courier: Courier, *, clock: Callable[[], datetime], poll_interval: float, group_wait: float,
                 products: ProductMaker | None = None, place_of: Callable[[str], str | None] | None = None):
        self.rover = rover
        self.catalogue = rover.catalogue
        self.poller = poller
        self.images = images
        self.frames = frames
        self.polls = polls
        self.subscriptions = subscriptions
        self.outbox = outbox
        self.transaction = transaction
        self.courier = courier
        self.clock = clock
        self.poll_interval = poll_interval
        self.group_wait = group_wait  # how long a new group waits for the rest of its sequence
        self.products = products  # panoramas, 3D views and movies (rovers whose records carry geometry)
        self.place_of = place_of  # where a picture was taken, from held localizations (nothing fetched per picture)
        self.backoff = Backoff(polls, clock)
        self._running = asyncio.Lock()  # this rover's poll guard: one image cycle at a time

    def now(self) -> float:
        return self.clock().timestamp()

    async def cycle(self) -> CycleReport:
        async with self._running:
            if self.backoff.waiting(self.poller.source, self.poll_interval):
                self.dispatch()
                await self.attach_products()
                await self.courier.pump()
                return CycleReport(error="backing off")
            result = await self.poller.poll()
            queued = self.dispatch()
            await self.attach_products()
            await self.courier.pump()
            return CycleReport(new=len(result.new), queued=queued, error=result.error)

    def dispatch(self) -> int:
        """Queue the posts of every finished poll not yet dispatched (a killed process's too)."""
        queued = 0
        for poll_id in self.polls.undispatched_polls(self.poller.source):
            found = self.images.first_seen_by(poll_id)
            with self.transaction():
                for subs in by_channel(self.subscriptions.find(kind="images", mission=self.rover.mission.key)):
                    queued += self._queue(subs, found, poll_id)
                self.polls.mark_dispatched(poll_id, self.now())
            crashpoints.reached("poll:queued")
        return queued

    def _queue(self, subs: Sequence[Subscription], found: Sequence[RoverImage], poll_id: int) -> int:
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
        sent = self.outbox.sent_groups(sub.channel_id, now - interest.A_WHILE.total_seconds())
        context = interest.Context(now=self.clock(), catalogue=self.catalogue, extents=self._extents(wanted),
                                   last_posted=interest.last_posted_by_family(sent))
        groups = interest.roll_up(interest.as_groups(compose.groups(wanted, self.catalogue), self.catalogue), self.catalogue)
        for ranked in interest.rank(groups, context):
            group, family, grp = list(ranked.group.images), ranked.group.family, GroupKey.parse(ranked.group.key)
            waiting = self.outbox.open_group(sub.channel_id, grp)
            if waiting is not None:
                # The same sequence is still coming in: one post for all of it, sent when it settles.
                entry_id, old, created = waiting
                exposures = list(dict.fromkeys([*old.exposures, *(i.exposure_id for i in group)]))
                merged = sorted(self.images.images_by_exposure(exposures),
                                key=lambda i: (i.taken_utc.isoformat() if i.taken_utc else "", i.exposure_id))
                payload = self._payload(merged, family, sub, old.rolled_up, roles_for(subs, merged))
                # Each newcomer extends the wait, but never past three waits from the first. A post
                # claimed for sending meanwhile is never changed: the newcomers make a post of their own.
                if self.outbox.update_payload(entry_id, payload, min(created + 3 * self.group_wait, now + self.group_wait)):
                    continue
            payload = self._payload(group, family, sub, ranked.group.rolled_up, roles_for(subs, group))
            if self.outbox.enqueue(PostKey.images(sub.channel_id, poll_id, grp), sub.guild_id, payload, now,
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
        for entry_id, channel_id, grp, payload in self.outbox.settled_image_posts(self.now()):
            found = products.plans(self.frames.frame_records(grp.sol, grp.sequence)) if grp.sequence else []
            product = None
            if found and self.outbox.products_posted(channel_id, grp) < 2:
                product = await self.products.make(found[0])
            if product is None:
                self.outbox.update_payload(entry_id, dataclasses.replace(payload, product=""))  # looked at: plain post
                continue
            ref = (product.filename, self.outbox.put_blob(product.data))
            hint = f"{product.frames} frames, sequence {product.sequence}" if product.sequence else f"{product.frames} frames"
            if self.outbox.update_payload(entry_id, compose.with_product(payload, product.filename, product.title, hint, ref)):
                attached += 1
        return attached

    def _payload(self, images: Sequence[RoverImage], family: str, sub: Subscription, rolled_up: int,
                 roles: Sequence[int]) -> Payload:
        post = compose.image_group(images, self.catalogue, None, rolled_up=rolled_up)
        if self.place_of is not None:
            post = compose.with_places(post, self.place_of)
        payload = payload_of(post, self.outbox, summary_label=self.catalogue.family_label(family), count=len(images),
                             exposures=tuple(i.exposure_id for i in images), rolled_up=rolled_up)
        return with_delivery(with_roles(payload, roles), sub, images[0].sol, self.rover.mission)

    def _extents(self, images: Sequence[RoverImage]) -> dict[str, "interest.Extent"]:
        """Size and aim of each picture, from the geometry the poll kept (panoramas score as such)."""
        out: dict[str, interest.Extent] = {}
        if not self.rover.panoramas:
            return out
        for sol, sequence in {(i.sol, i.sequence) for i in images if i.sequence}:
            for rec in self.frames.frame_records(sol, sequence):
                exposure = parse.exposure_of(str(rec.get("imageid", "")))[0]
                out.setdefault(exposure, interest.extent_of(rec))
        return out
