"""One polling cycle of the raw-image feed: what NASA received since we last looked.

Reads the feed newest-received first and stops at the first page that reaches something already
stored, so a quiet cycle costs one request. The very first cycle is a baseline: it records what is
there and reports nothing as new, so a fresh start never floods a channel with old pictures.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Sequence

from bot import crashpoints
from bot.mars import marstime
from bot.sources import parse
from bot.models import FeedPage, RoverImage
from bot.sources.feeds import Feed
from bot.sources.nasa import NasaError
from bot.store import Frames, Images, Polls, State

log = logging.getLogger("roverbot.poll")



def source_of(mission: marstime.Mission) -> str:
    """A rover's image source, as polls and state name it. Perseverance's names predate Curiosity
    and are kept, so an upgraded database goes on from its watermark."""
    return "images" if mission.key == "mars2020" else f"images:{mission.key}"

MAX_PAGES = 20  # a cycle reads at most 2,000 records; a longer backlog goes on in the next cycles
# Re-read this many records before where a backlog stopped: records received in the same second
# can trade places, and reading a few twice costs nothing (known exposures are not written again).
BACKLOG_OVERLAP = 20
# When most of a page's records cannot be read, NASA changed its schema: that is a failing source.
DRIFT_SHARE = 0.5
DRIFT_MIN_RECORDS = 5


@dataclass
class PollResult:
    new: list[RoverImage] = field(default_factory=list)
    baseline: bool = False
    pages: int = 0
    seen: int = 0
    skipped: int = 0
    malformed: int = 0
    error: str | None = None
    poll_id: int = 0
    backlog: bool = False  # the cycle stopped at its page limit; the next one goes on from there


@dataclass
class _Backlog:
    """Where a cycle cut short stopped: `offset` records below the record received at `top`.

    The feed is newest-received first and new records only arrive at the top, so next time the
    same place is `offset` + (records received after `top`) from the top.
    """

    upper: datetime  # the newest record seen when the backlog began: the watermark once it is read
    top: datetime
    offset: int

    def dump(self) -> str:
        return json.dumps({"upper": self.upper.isoformat(), "top": self.top.isoformat(), "offset": self.offset})

    @staticmethod
    def load(text: str | None) -> "_Backlog | None":
        if not text:
            return None
        try:
            d = json.loads(text)
            return _Backlog(datetime.fromisoformat(d["upper"]), datetime.fromisoformat(d["top"]), int(d["offset"]))
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable backlog marker %r ignored; reading from the top", text[:80])
            return None


class ImagePoller:
    """Polls one rover's feed (a Feed adapter: Perseverance's and Curiosity's differ)."""

    def __init__(self, feed: Feed, images: Images, frames: Frames | None, polls: Polls, state: State, *,
                 mission: marstime.Mission, clock: Callable[[], datetime], hosts: Sequence[str] = parse.IMAGE_HOSTS,
                 max_pages: int = MAX_PAGES):
        self.feed = feed
        self.images = images
        self.frames = frames  # None: this rover's records carry no geometry for products
        self.polls = polls
        self.state = state
        self.clock = clock
        self.hosts = tuple(hosts)
        self.max_pages = max_pages
        self.mission = mission
        self.source = source_of(mission)
        self.baseline_key = f"{self.source}.baseline_at"
        self.watermark_key = f"{self.source}.received_watermark"
        self.backlog_key = f"{self.source}.backlog"

    async def poll(self) -> PollResult:
        now = self.clock().timestamp()
        baseline = self.state.get(self.baseline_key) is None
        poll_id = self.polls.start_poll(self.source, now)
        if baseline:
            self.polls.mark_dispatched(poll_id, now)  # a baseline never posts, even if killed midway
        result = PollResult(baseline=baseline, poll_id=poll_id)
        try:
            await self._read(result, baseline, now)
        except (NasaError, parse.Malformed) as e:
            result.error = str(e)
            log.warning("%s image poll failed after %d page(s): %s", self.mission.rover, result.pages, e)
        except Exception as e:  # whatever it was, the cycle ends as failed: backoff and status see it
            result.error = f"{type(e).__name__}: {e}"
            log.error("image poll failed after %d page(s): %s", result.pages, result.error, exc_info=True)
        # What was stored before a failure stays and is reported below, and the next cycle reads
        # down to the old watermark again: nothing fetched is lost, nothing is reported twice.
        new = self.images.first_seen_by(poll_id)
        if baseline and result.error is None:
            self.state.put(self.baseline_key, str(now))
            log.info("image baseline recorded: %d pictures already in the feed, none posted", len(new))
        result.new = [] if baseline else new
        self.polls.finish_poll(poll_id, len(result.new), result.error, self.clock().timestamp())
        log.info("image poll: %d page(s), %d record(s), %d new%s%s", result.pages, result.seen, len(result.new),
                 " (backlog continues next cycle)" if result.backlog else "",
                 f", error: {result.error}" if result.error else "")
        return result

    async def _read(self, result: PollResult, baseline: bool, now: float) -> None:
        # Everything received up to the watermark was read completely by an earlier cycle. It only
        # moves after a cycle that read down to it, so a cycle cut short is never a gap.
        mark = self.state.get(self.watermark_key)
        watermark = datetime.fromisoformat(mark) if mark else None
        backlog = _Backlog.load(self.state.get(self.backlog_key))
        max_sol = marstime.sol_at(self.clock(), self.mission) + 1  # +1: the feed's sol can lead our clock by hours
        budget = 1 if baseline else self.max_pages
        size = self.feed.page_size
        newest: datetime | None = None
        above_top = 0  # records received after the backlog's top: how far its place moved down
        page = 0
        stop_at = backlog.top if backlog else watermark
        resumed = False
        while budget > 0:
            payload = await self.feed.received_page(page, size)
            budget -= 1
            cut, reached = _newer_than(payload, stop_at, self.feed.records_key)
            got = parse.page(cut, page_size=None if reached else size, hosts=self.hosts, max_sol=max_sol)
            self._drift(got)
            result.pages += 1
            result.seen += len(got.images)
            result.skipped += got.skipped
            result.malformed += got.malformed
            known = self.images.versions((img.exposure_id for img in got.images), polled_only=True)
            # Only unknown exposures and newer versions are written: an idle cycle writes nothing.
            fresh = [img for img in got.images if known.get(img.exposure_id, 0) < img.version]
            # A baseline's pictures were there before the bot: "seen" at the epoch, so no digest counts them as new.
            # Seen when written (not when the cycle began), so a digest composed meanwhile either
            # has these pictures or leaves them to the next one: never neither.
            seen = 0.0 if baseline else self.clock().timestamp()
            self.images.record(fresh, poll_id=result.poll_id, seen_at=seen)
            if fresh and not baseline and self.frames is not None:  # their geometry, for panoramas, stereo pairs and movies
                records = cut.get(self.feed.records_key) if isinstance(cut, dict) else None
                self.frames.record_frames(records or [], {img.exposure_id for img in fresh}, seen, polled=True)
            crashpoints.reached("poll:stored")
            received = [img.received_utc for img in got.images if img.received_utc]
            if received and (newest is None or max(received) > newest):
                newest = max(received)
            if backlog and not resumed:
                above_top += _count(cut, self.feed.records_key)
            if got.end or (watermark is None and known and not backlog):
                break
            if reached:
                if backlog and not resumed:
                    # Caught up with the top of the backlog: jump to where it stopped, and read on
                    # down to the watermark.
                    resumed = True
                    page = max(0, backlog.offset + above_top - BACKLOG_OVERLAP) // size
                    stop_at = watermark
                    continue
                break
            page += 1
        else:
            if not baseline:
                top = newest or (backlog.top if backlog else None)
                if top is not None:
                    # Stopped at the page limit: `page` pages from this cycle's top were read. Next
                    # time, on from there (if it never reached an older backlog's place, it reads
                    # through it again: known pictures cost a request, never a loss).
                    upper = max(top, backlog.upper) if backlog else top
                    offset = page * size
                    self.state.put(self.backlog_key, _Backlog(upper, top, offset).dump())
                    result.backlog = True
                    log.warning("image poll read %d pages without reaching what it knew; the next cycle goes on "
                                "from record %d", result.pages, offset)
                    return
        # Read completely down to the watermark (or the feed's end): everything up to the newest is known.
        final = max(x for x in (newest, backlog.upper if backlog else None, watermark) if x is not None) \
            if (newest or backlog or watermark) else None
        if final is not None:
            self.state.put(self.watermark_key, final.isoformat())
        if backlog:
            self.state.delete(self.backlog_key)

    def _drift(self, got: FeedPage) -> None:
        """Most records unreadable: NASA renamed something. Fail loudly rather than say 'no images'."""
        if got.raw_count >= DRIFT_MIN_RECORDS and got.malformed > DRIFT_SHARE * got.raw_count:
            raise parse.Malformed(f"{got.malformed} of {got.raw_count} records could not be read (NASA may have"
                                  f" changed the feed's format): {got.first_problem}")


def _newer_than(payload: object, watermark: datetime | None, key: str) -> tuple[object, bool]:
    """Cut a newest-first page where it reaches records older than the watermark.

    Those were read completely before, so an idle cycle parses a handful of records, not 100.
    Returns the (possibly shortened) page and whether the watermark was reached.
    """
    if watermark is None or not isinstance(payload, dict) or not isinstance(payload.get(key), list):
        return payload, False
    records = payload[key]
    for i, rec in enumerate(records):
        received = parse.utc(rec.get("date_received")) if isinstance(rec, dict) else None
        if received is not None and received < watermark:
            return {**payload, key: records[:i]}, True
    return payload, False


def _count(payload: object, key: str) -> int:
    records = payload.get(key) if isinstance(payload, dict) else None
    return len(records) if isinstance(records, list) else 0
