"""Drive posts of one rover: a new end-of-drive localization on NASA's map is one post per `drives`
subscription of that rover. The first read is a baseline; an unchanged, older or empty read posts
nothing. The new position is stored in the transaction that queues its posts, each keyed by
(channel, rover, site, drive): a crash anywhere re-detects the same drive and queues nothing twice."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Callable, ContextManager

from bot import compose
from bot.answers import where
from bot.answers.drives import RoverMaps, position_from_json, position_to_json
from bot.mars.rovers import Rover
from bot.models import PostKey
from bot.posting.delivery import Courier
from bot.posting.outbound import Backoff, CycleReport, by_channel, payload_of, with_delivery, with_roles
from bot.sources.nasa import NasaError
from bot.store import Outbox, Polls, State, Subscriptions

log = logging.getLogger("roverbot.automation")


def source_of(rover: Rover) -> str:
    """Polls of a rover's position. Perseverance's name predates Curiosity and is kept."""
    return "drives" if rover.mission.key == "mars2020" else f"drives:{rover.mission.key}"


class DrivePosts:
    def __init__(self, rover: Rover, rovermaps: RoverMaps, polls: Polls, state: State, subscriptions: Subscriptions,
                 outbox: Outbox, transaction: Callable[[], ContextManager], courier: Courier, *,
                 clock: Callable[[], datetime], interval: float):
        self.rover = rover
        self.rovermaps = rovermaps
        self.polls = polls
        self.state = state
        self.subscriptions = subscriptions
        self.outbox = outbox
        self.transaction = transaction
        self.courier = courier
        self.clock = clock
        self.interval = interval
        self.source = source_of(rover)
        self.backoff = Backoff(polls, clock)
        self._running = asyncio.Lock()  # this rover's position poll guard

    def now(self) -> float:
        return self.clock().timestamp()

    async def cycle(self) -> CycleReport:
        async with self._running:
            report = await self._read()
        await self.courier.pump()
        return report

    async def _read(self) -> CycleReport:
        code = self.rover.map_code
        if self.backoff.waiting(self.source, self.interval):
            return CycleReport(error="backing off")
        poll_id = self.polls.start_poll(self.source, self.now())
        try:
            _, loc = await self.rovermaps.current(code)
        except NasaError as e:
            self.polls.finish_poll(poll_id, 0, str(e), self.now())
            self.polls.mark_dispatched(poll_id, self.now())
            log.warning("%s's position unavailable: %s", self.rover.name, e)
            return CycleReport(error=str(e))
        previous = position_from_json(self.state.rover_position(code))
        await self.rovermaps.refresh_places(code, loc, force=loc is not None and (previous is None or loc.key != previous.key))
        drive = where.drive_from(previous, loc)
        pictures = await self.rovermaps.drive_pictures(self.rover, drive, loc) if drive is not None else (None, None)
        queued = 0
        with self.transaction():
            if drive is not None:
                queued = self._queue(drive, *pictures)
            if loc is not None and (previous is None or loc.key > previous.key):
                self.state.put_rover_position(code, position_to_json(loc))  # a baseline, a drive, or a move in place
            self.polls.finish_poll(poll_id, 1 if drive else 0, None, self.now())
            self.polls.mark_dispatched(poll_id, self.now())
        if previous is None and loc is not None:
            log.info("%s position baseline: sol %d, site %d, drive %d (nothing posted)", self.rover.name, loc.sol,
                     loc.site, loc.drive)
        return CycleReport(new=1 if drive else 0, queued=queued)

    def _queue(self, drive: "where.Drive", picture: bytes | None, mosaic: bytes | None) -> int:
        """Inside the caller's transaction: the posts and the new position are one commit."""
        queued = 0
        for subs in by_channel(self.subscriptions.find(kind="drives", mission=self.rover.mission.key)):
            sub = subs[0]  # one post per drive and channel, pinging every subscription's role
            post = compose.drive_post(self.rover.name, drive, picture, mosaic, None)
            payload = payload_of(post, self.outbox, summary_label="drive", count=1)
            payload = with_delivery(with_roles(payload, [s.role_id for s in subs if s.role_id]), sub, drive.sol,
                                    self.rover.mission)
            if self.outbox.enqueue(PostKey.drive(sub.channel_id, self.rover.mission.key, drive.site, drive.drive),
                                   sub.guild_id, payload, self.now()):
                queued += 1
        return queued
