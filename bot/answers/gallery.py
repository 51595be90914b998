"""The query -> compose path behind `/latest`, `/sol` and their paging buttons (and `roverbot preview`).

Reads a sol from the store when it was fetched recently, otherwise from NASA (all pages), keeps what
it learns, and composes the gallery Post. Bad input and NASA failures surface as UserFacingError
subclasses whose messages are fit to show the caller as they are.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime
from typing import Callable, Sequence

from bot import compose
from bot.mars import conjunction, marstime
from bot.mars.cameras import Selection
from bot.mars.rovers import Rover
from bot.sources import parse
from bot.compose import GalleryQuery
from bot.sources.feeds import Feed
from bot.models import NasaUnavailable, NoImages, Post, SolOutOfRange
from bot.sources.nasa import NasaError
from bot.store import Frames, Images, State

log = logging.getLogger("roverbot.gallery")

ALL_CAMERAS = Selection("", "all cameras", ())
RECENT_SOLS = 3  # images of the last few sols keep arriving for days: re-read them more often
RECENT_TTL = 10 * 60
OLD_TTL = 7 * 24 * 3600
LATEST_TTL = 5 * 60
MAX_PAGES = 30  # 3,000 images: more than any real sol, a bound against a runaway feed


class Gallery:
    """One rover's gallery: its feed, its pictures and frames as stored, its clock and milestones."""

    def __init__(self, rover: Rover, feed: Feed, images: Images, frames: Frames, state: State, *,
                 clock: Callable[[], datetime], hosts: Sequence[str] = parse.IMAGE_HOSTS,
                 budget_seconds: float | None = None, place_of: Callable[[str], str | None] | None = None):
        self.rover = rover
        # where each picture was taken ("at the end of the sol-1840 drive, …"), when the held
        # localizations of NASA's map know its site and drive (bot/answers/drives.py)
        self.place_of = place_of
        # The rover's feed (Perseverance's or Curiosity's shape); pages are read only through it.
        self.feed = feed
        self.images = images
        self.frames = frames
        self.state = state
        self.hosts = tuple(hosts)
        self._products: dict[tuple, int] = {}
        # All the NASA reading one answer may do (several pages of a sol): past it, say so.
        self.budget_seconds = budget_seconds
        self.timeline = rover.timeline
        self.catalogue = rover.catalogue
        self.clock = clock
        self.mission = rover.mission

    # ------------------------------------------------------------ answers

    async def sol(self, sol: int, camera: str | None = None, page: int = 0) -> Post:
        selection = self.select(camera)
        self.check_sol(sol)
        await self.ensure(sol, selection)
        return self.compose(GalleryQuery(self.mission.key, sol, selection.key, page), selection)

    async def latest(self, camera: str | None = None, page: int = 0) -> Post:
        selection = self.select(camera)
        sol = await self.latest_sol(selection)
        await self.ensure(sol, selection)
        return self.compose(GalleryQuery(self.mission.key, sol, selection.key, page, newest_first=True), selection)

    async def turn(self, custom_id: str) -> Post:
        """A paging button was pressed: everything needed is in its custom id."""
        query = GalleryQuery.from_custom_id(custom_id)
        selection = self.select(query.camera or None)
        await self.ensure(query.sol, selection)
        return self.compose(query, selection)

    async def milestone(self, name: str) -> Post:
        """A milestone's card, with pictures from its sol and cameras when the feed has them."""
        m = self.timeline.find(name)
        images = []
        if m.sol is not None and m.cameras:
            selection = Selection(f"milestone:{m.slug}", m.title, m.cameras)
            try:
                await self.ensure(m.sol, selection)
                images = self.images.of_sol(self.mission.key, m.sol, m.cameras, limit=compose.GROUP_PREVIEW)
            except NasaUnavailable:
                log.warning("milestone %s: NASA unavailable, card sent without pictures", m.slug)
        families = {self.catalogue.family_of(c) for c in m.cameras}
        family = families.pop() if len(families) == 1 else None
        return compose.milestone_card(m, images, self.catalogue, family)

    def timeline_page(self, page: int = 0) -> Post:
        return compose.timeline(self.timeline.milestones, page, self.mission.rover)

    def compose(self, query: GalleryQuery, selection: Selection) -> Post:
        """Only the requested page is read from the store: a 600-image sol costs five rows."""
        total = self.images.count(self.mission.key, query.sol, selection.codes)
        if not total:
            raise NoImages(self.why_empty(query.sol, selection))
        page = min(max(query.page, 0), compose.page_count(total) - 1)
        shown = self.images.of_sol(self.mission.key, query.sol, selection.codes,
                                  offset=page * compose.GALLERY_PAGE_SIZE, limit=compose.GALLERY_PAGE_SIZE,
                                  newest_first=query.newest_first)
        post = compose.gallery(shown, total, replace(query, page=page), selection.label, self.catalogue,
                               products=self.products_of(query.sol, selection))
        return compose.with_places(post, self.place_of) if self.place_of is not None else post

    def products_of(self, sol: int, selection: Selection) -> int:
        """How many panoramas, 3D views and movies this sol's frames make (the gallery offers them).
        Recognition reads every frame of the sol, so it is remembered until the sol's frames change."""
        from bot.imagery import maker as products

        if not self.rover.panoramas:
            return 0  # its records carry no camera models: nothing to assemble (and frames are Perseverance's)
        count = self.frames.frame_count(sol, selection.codes)
        key = (sol, selection.codes, count)
        if key not in self._products:
            self._products[key] = len(products.plans(self.frames.frame_records(sol, None, selection.codes))) if count else 0
            while len(self._products) > 64:
                self._products.pop(next(iter(self._products)))
        return self._products[key]

    # ------------------------------------------------------------ checks

    def select(self, camera: str | None) -> Selection:
        if camera is None or not camera.strip():
            return ALL_CAMERAS
        return self.catalogue.resolve(camera)

    def current_sol(self) -> int:
        return marstime.sol_at(self.clock(), self.mission)

    def check_sol(self, sol: int) -> None:
        if sol < 0:
            landed = self.mission.landing_utc.strftime("%-d %b %Y")
            raise SolOutOfRange(f"Sols count from 0, {self.mission.rover}'s landing day ({landed}); {sol} is before it.")
        today = self.current_sol()
        if sol > today:
            raise SolOutOfRange(f"Sol {sol} hasn't happened yet: it is sol {today} at the rover right now.")

    def why_empty(self, sol: int, selection: Selection) -> str:
        cams = "" if selection is ALL_CAMERAS else f"{selection.label} "
        msg = f"NASA has no {cams}images for sol {sol}."
        gap = conjunction.during(sol, self.mission)
        if gap:
            return f"{msg} {conjunction.explain(gap)}"
        if sol >= self.current_sol() - 1:
            return f"{msg} Pictures usually reach Earth within a day or two, so try again later."
        if selection is not ALL_CAMERAS:
            return f"{msg} Try `/sol {sol}` without a camera to see what the rover did take."
        return msg

    # ------------------------------------------------------------ data

    async def latest_sol(self, selection: Selection) -> int:
        key = f"latest_sol:{self.mission.key}:{'|'.join(selection.codes)}"
        now = self.clock().timestamp()
        cached = self.state.get(key)
        if cached:
            sol, at = cached.split("@")
            if now - float(at) < LATEST_TTL:
                return int(sol)
        try:
            async with asyncio.timeout(self.budget_seconds):
                payload = await self.feed.newest(selection.codes, 25)
            found = parse.page(payload, hosts=self.hosts, max_sol=self.current_sol() + 1).images
        except (NasaError, parse.Malformed, TimeoutError) as e:
            log.warning("latest sol for %s: %s", selection.key or "all cameras", e)
            if cached:
                return int(cached.split("@")[0])
            raise NasaUnavailable(self._unavailable()) from None
        if not found:
            cams = "" if selection is ALL_CAMERAS else f"{selection.label} "
            raise NoImages(f"NASA's feed has no {cams}images at all right now.")
        sol = max(img.sol for img in found)
        self.state.put(key, f"{sol}@{now}")
        return sol

    async def ensure(self, sol: int, selection: Selection) -> None:
        """Make the store hold this sol: read it from NASA unless a recent enough copy is there."""
        cameras = "|".join(selection.codes)
        now = self.clock().timestamp()
        fetched = self.images.sol_fetched_at(self.mission.key, sol, cameras)
        ttl = RECENT_TTL if sol >= self.current_sol() - RECENT_SOLS else OLD_TTL
        if fetched is None or now - fetched > ttl:
            try:
                async with asyncio.timeout(self.budget_seconds):
                    await self.fetch_sol(sol, selection.codes)
                self.images.mark_sol_fetched(self.mission.key, sol, cameras, now)
            except (NasaError, parse.Malformed, TimeoutError) as e:
                log.warning("sol %d (%s) from NASA: %s", sol, selection.key or "all cameras", e)
                if self.images.count(self.mission.key, sol, selection.codes):
                    return  # an older copy beats no answer
                raise NasaUnavailable(self._unavailable()) from None

    async def fetch_sol(self, sol: int, codes: tuple[str, ...]) -> int:
        """Read every page of one sol from NASA into the store; returns how many pictures came."""
        count = 0
        for page in range(MAX_PAGES):
            payload = await self.feed.sol_page(sol, page, codes)
            result = parse.page(payload, expect_sol=sol, page_size=self.feed.page_size, hosts=self.hosts,
                                max_sol=self.current_sol() + 1)
            self.images.record(result.images)
            if self.rover.panoramas and isinstance(payload, dict) and isinstance(payload.get("images"), list):
                # geometry too, so /panorama can assemble what this sol holds
                self.frames.record_frames(payload["images"], {i.exposure_id for i in result.images},
                                         self.clock().timestamp(), polled=False)
            count += len(result.images)
            # An empty or foreign page (NASA's fallback for an empty sol) also ends the sol.
            if result.end or not result.images:
                break
        return count

    def _unavailable(self) -> str:
        return "NASA's raw-image feed isn't answering right now. Please try again in a few minutes."
