"""What is kept, and for how long: the file stays small."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.store.database import Database
from bot.store.frames import FRAME_DAYS
from bot.store.outbox import UNSENT


class Retention:
    def __init__(self, db: Database):
        self.db = db

    # ------------------------------------------------------------ retention: the file stays small

    def prune(self, now: float, *, sent_days: float, poll_days: float, image_days: float) -> dict[str, int]:
        """Forget what no post, digest, command or exactly-once rule still needs; returns rows removed.

        - finished posts (sent, digested, cancelled, failed) after sent_days: their keys only guard
          against re-queueing, and a poll or news item is dispatched once, so old keys are dead;
        - files (blobs) no unsent post refers to: a digest picture is needed until it is sent;
        - finished, dispatched polls after poll_days (the newest 50 per source stay for status);
        - pictures received more than image_days ago, with the record that their sol was fetched,
          so a later /sol reads NASA again instead of showing half a sol.
        """
        removed: dict[str, int] = {}
        with self.db.transaction():
            # A delivered post is on Discord: after the hour its budget looks back on, only its key,
            # status and whether it carried a product matter; its text and picture list go (most of
            # the file's size at 100 channels). The row stays until sent_days, guarding its key.
            removed["payloads"] = self.db.execute(
                f"""UPDATE outbox SET payload = {self.db.trimmed_payload('payload')}
                WHERE status IN ('sent', 'digested', 'cancelled', 'failed') AND COALESCE(sent_at, created_at) < ?
                AND length(payload) > 40""", (now - 3600,)).rowcount
            removed["outbox"] = self.db.execute(
                "DELETE FROM outbox WHERE status IN ('sent', 'digested', 'cancelled', 'failed')"
                " AND COALESCE(sent_at, created_at) < ?", (now - sent_days * 86400,)).rowcount
            removed["blobs"] = self.db.execute(
                f"""DELETE FROM blobs WHERE hash NOT IN (
                    SELECT {self.db.payload_file_hashes('payload', 'outbox')}
                    WHERE outbox.status IN ({','.join('?' * len(UNSENT))}))""", UNSENT).rowcount
            removed["polls"] = self.db.execute(
                """DELETE FROM polls WHERE finished_at IS NOT NULL AND dispatched_at IS NOT NULL AND finished_at < ?
                AND id NOT IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY source ORDER BY id DESC) AS n
                                               FROM polls) AS ranked WHERE n <= 50)""", (now - poll_days * 86400,)).rowcount
            cutoff = datetime.fromtimestamp(now - image_days * 86400, tz=timezone.utc).isoformat()
            old = "received_utc IS NOT NULL AND received_utc < ? AND COALESCE(seen_at, 0) < ?"
            self.db.execute(f"DELETE FROM sol_fetches WHERE (mission, sol) IN (SELECT mission, sol FROM images WHERE {old})",
                              (cutoff, now - image_days * 86400))
            removed["images"] = self.db.execute(f"DELETE FROM images WHERE {old}", (cutoff, now - image_days * 86400)).rowcount
            # Frame geometry is a cache for assembling products: a week covers every sequence still
            # arriving and the recent sols people ask /panorama about. A sol whose frames go is
            # marked unfetched, so a later /panorama or /sol reads NASA again.
            frames_before = now - min(image_days, FRAME_DAYS) * 86400
            self.db.execute("DELETE FROM sol_fetches WHERE (sol) IN (SELECT DISTINCT sol FROM frames WHERE seen_at < ?)",
                              (frames_before,))
            removed["frames"] = self.db.execute("DELETE FROM frames WHERE seen_at < ?", (frames_before,)).rowcount
        self.db.reclaim()  # the freed space goes back to the disk
        return removed
