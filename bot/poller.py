"""One polling cycle of the raw-image feed: what NASA received since we last looked.

Reads the feed newest-received first and stops at the first page that reaches something already
stored, so a quiet cycle costs one request. The very first cycle is a baseline: it records what is
there and reports nothing as new, so a fresh start never floods a channel with old pictures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from . import crashpoints, parse
from .models import RoverImage
from .nasa import PAGE_SIZE_MAX, NasaClient, NasaError
from .store import Store

log = logging.getLogger("roverbot.poll")

SOURCE = "images"
BASELINE_KEY = "images.baseline_at"
WATERMARK_KEY = "images.received_watermark"
MAX_PAGES = 20  # a cycle after long downtime reads at most 2,000 records; the next cycle goes on


@dataclass
class PollResult:
    new: list[RoverImage] = field(default_factory=list)
    baseline: bool = False
    pages: int = 0
    seen: int = 0
    skipped: int = 0
    error: str | None = None
    poll_id: int = 0


class ImagePoller:
    def __init__(self, nasa: NasaClient, store: Store, *, clock: Callable[[], datetime]):
        self.nasa = nasa
        self.store = store
        self.clock = clock
        self.running: int | None = None  # the poll in progress: its finds are not complete yet

    async def poll(self) -> PollResult:
        try:
            return await self._poll()
        finally:
            self.running = None

    async def _poll(self) -> PollResult:
        now = self.clock().timestamp()
        baseline = self.store.get(BASELINE_KEY) is None
        # Everything received up to the watermark was read completely by an earlier cycle. It only
        # moves after a cycle that finished, so a cycle cut short is read again from the top.
        mark = self.store.get(WATERMARK_KEY)
        watermark = datetime.fromisoformat(mark) if mark else None
        poll_id = self.store.start_poll(SOURCE, now)
        if baseline:
            self.store.mark_dispatched(poll_id, now)  # a baseline never posts, even if killed midway
        self.running = poll_id
        result = PollResult(baseline=baseline)
        newest = watermark
        try:
            for page in range(1 if baseline else MAX_PAGES):
                payload = await self.nasa.raw_images(page=page, num=PAGE_SIZE_MAX, order="date_received desc")
                payload, reached = self._newer_than(payload, watermark)
                got = parse.page(payload, page_size=None if reached else PAGE_SIZE_MAX)
                result.pages += 1
                result.seen += len(got.images)
                result.skipped += got.skipped
                known = self.store.versions((img.exposure_id for img in got.images), polled_only=True)
                # Only unknown exposures and newer versions are written: an idle cycle writes nothing.
                fresh = [img for img in got.images if known.get(img.exposure_id, 0) < img.version]
                # A baseline's pictures were there before the bot: "seen" at the epoch, so no digest counts them as new.
                self.store.record(fresh, poll_id, seen_at=0.0 if baseline else now)
                crashpoints.reached("poll:stored")
                received = [img.received_utc for img in got.images if img.received_utc]
                if received and (newest is None or max(received) > newest):
                    newest = max(received)
                if got.end or reached or (watermark is None and known):
                    break
            else:
                if not baseline:
                    log.warning("image poll read %d pages without reaching the last one it knew; older gaps are skipped", MAX_PAGES)
        except (NasaError, parse.Malformed) as e:
            result.error = str(e)
            log.warning("image poll failed after %d page(s): %s", result.pages, e)
        if result.error is None and newest is not None:
            self.store.put(WATERMARK_KEY, newest.isoformat())
        # What was stored before a failure stays and is reported below, and the next cycle reads
        # down to the old watermark again: nothing fetched is lost, nothing is reported twice.
        new = self.store.first_seen_by(poll_id)
        if baseline and result.error is None:
            self.store.put(BASELINE_KEY, str(now))
            log.info("image baseline recorded: %d pictures already in the feed, none posted", len(new))
        if baseline:
            new = []
        result.poll_id = poll_id
        result.new = new
        self.store.finish_poll(poll_id, len(new), result.error, self.clock().timestamp())
        log.info("image poll: %d page(s), %d record(s), %d new%s", result.pages, result.seen, len(new),
                 f", error: {result.error}" if result.error else "")
        return result

    @staticmethod
    def _newer_than(payload: object, watermark: datetime | None) -> tuple[object, bool]:
        """Cut a newest-first page where it reaches records older than the watermark.

        Those were read completely before, so an idle cycle parses a handful of records, not 100.
        Returns the (possibly shortened) page and whether the watermark was reached.
        """
        if watermark is None or not isinstance(payload, dict) or not isinstance(payload.get("images"), list):
            return payload, False
        records = payload["images"]
        for i, rec in enumerate(records):
            received = parse.utc(rec.get("date_received")) if isinstance(rec, dict) else None
            if received is not None and received < watermark:
                return {**payload, "images": records[:i]}, True
        return payload, False
