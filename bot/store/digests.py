"""One digest per channel and local day: what window it covered."""

from __future__ import annotations

from typing import Sequence

from bot.store.database import Database


class Digests:
    def __init__(self, db: Database):
        self.db = db

    # ------------------------------------------------------------ digests: one per channel per local day

    def last_digest(self, channel_id: int) -> tuple[str, float] | None:
        """(local date, covered up to) of the channel's newest digest."""
        return self.db.execute(
            "SELECT local_date, covered_to FROM digests WHERE channel_id = ? ORDER BY covered_to DESC LIMIT 1",
            (channel_id,)).fetchone()

    def has_digest(self, channel_id: int, local_date: str) -> bool:
        return self.db.execute("SELECT 1 FROM digests WHERE channel_id = ? AND local_date = ?",
                                 (channel_id, local_date)).fetchone() is not None

    def record_digest(self, channel_id: int, local_date: str, covered_from: float, covered_to: float, outbox_id: int,
                      held_ids: Sequence[int]) -> None:
        self.db.execute("INSERT INTO digests VALUES (?, ?, ?, ?, ?)", (channel_id, local_date, covered_from, covered_to, outbox_id))
        if held_ids:
            q = f"UPDATE outbox SET status = 'digested' WHERE id IN ({','.join('?' * len(held_ids))})"
            self.db.execute(q, list(held_ids))
