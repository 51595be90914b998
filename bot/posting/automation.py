"""Automatic posts, all kinds together: what the scheduler (bot/posting/schedule.py) runs.

Each kind is its own class with its own poll guard, handed only the repositories it uses:
- image_posts.ImagePosts, one per rover: poll its feed, queue ranked groups, attach products;
- news_posts.NewsPosts: read the news feeds, one post per article and channel;
- drive_posts.DrivePosts, one per rover: its position on NASA's map, one post per drive;
- digest_posts.DigestPosts: a daily digest per channel, of one rover or every rover;
- upkeep.Upkeep: recovering what a killed process left, and retention.
They share only the Courier, which sends whatever any of them queued. Nothing here reads another
object's live state: every hand-over goes through the store (a finished poll, an outbox row).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Sequence

from bot.posting.delivery import Courier
from bot.posting.digest_posts import DigestPosts
from bot.posting.drive_posts import DrivePosts
from bot.posting.image_posts import ImagePosts
from bot.posting.membership import Membership
from bot.posting.news_posts import NewsPosts
from bot.posting.outbound import CycleReport
from bot.posting.upkeep import Upkeep
from bot.store import State


class Automation:
    def __init__(self, images: Sequence[ImagePosts], news: NewsPosts, digests: DigestPosts,
                 drives: Sequence[DrivePosts], upkeep: Upkeep, courier: Courier, state: State, membership: Membership,
                 *, alone: bool = True):
        self.images = list(images)
        self.news = news
        self.digests = digests
        self.drives = list(drives)
        self.upkeep = upkeep
        self.courier = courier
        self.state = state
        self.membership = membership  # one process of several: only the leader polls and composes
        self.alone = alone  # SQLite: the database lock makes this the only process

    def recover(self) -> None:
        self.membership.beat()
        self.upkeep.recover(alone=self.alone)

    async def _per_rover(self, kinds: Sequence[ImagePosts | DrivePosts]) -> CycleReport:
        """Each rover's cycle, one after the other (each keeps its own watermark), summed; only the
        leader polls."""
        total = CycleReport()
        if not self.membership.leading():
            return total
        for kind in kinds:
            report = await kind.cycle()
            total.new += report.new
            total.queued += report.queued
            total.error = total.error or report.error
        return total

    async def images_cycle(self) -> CycleReport:
        return await self._per_rover(self.images)

    async def news_cycle(self) -> CycleReport:
        if not self.membership.leading():
            return CycleReport()
        return await self.news.cycle()

    async def digest_cycle(self) -> int:
        if not self.membership.leading():
            return 0  # the leader queues; every process's pump job delivers its servers' digests
        return await self.digests.cycle()

    async def drives_cycle(self) -> CycleReport:
        return await self._per_rover(self.drives)

    async def retention_cycle(self) -> dict[str, int]:
        if not self.membership.leading():
            return {}
        return await self.upkeep.retention_cycle()

    async def beat_cycle(self) -> None:
        """Alive, leading or not, which shards to serve, at what rate: its own short job, so a long
        delivery (a paced fan-out takes minutes) never makes this process look dead."""
        self.membership.beat()

    async def delivery_cycle(self) -> int:
        self.state.put("heartbeat", str(datetime.now(timezone.utc).timestamp()))  # for `status --check`
        if self.membership.leading():
            for kind in self.images:
                kind.dispatch()  # polls a killed process left undispatched
            self.news.dispatch()
        await self.courier.recheck_paused()
        return await self.courier.pump()
