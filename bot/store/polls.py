"""Every poll of a source: when it ran, what it found, whether its posts were queued."""

from __future__ import annotations

import time

from bot.store.database import Database


class Polls:
    def __init__(self, db: Database):
        self.db = db

    # ------------------------------------------------------------ polls and small state

    def start_poll(self, source: str, at: float | None = None) -> int:
        cur = self.db.execute("INSERT INTO polls (source, started_at) VALUES (?, ?) RETURNING id", (source, at or time.time()))
        return int(cur.fetchone()[0])

    def finish_poll(self, poll_id: int, new_count: int, error: str | None = None, at: float | None = None) -> None:
        self.db.execute(
            "UPDATE polls SET finished_at = ?, new_count = ?, error = ? WHERE id = ?",
            (at or time.time(), new_count, error, poll_id),
        )

    def last_poll(self, source: str, *, ok: bool = True) -> tuple[float, int] | None:
        """(finished_at, new_count) of the newest finished poll of a source."""
        cond = "error IS NULL" if ok else "error IS NOT NULL"
        return self.db.execute(
            f"SELECT finished_at, new_count FROM polls WHERE source = ? AND finished_at IS NOT NULL AND {cond}"
            " ORDER BY id DESC LIMIT 1",
            (source,),
        ).fetchone()

    def undispatched_polls(self, source: str) -> list[int]:
        """Finished polls whose posts were not queued yet. A poll still running is never among
        them (its finds are not complete); a killed one is finished by interrupted_polls()."""
        rows = self.db.execute("SELECT id FROM polls WHERE source = ? AND dispatched_at IS NULL AND finished_at IS NOT NULL"
                                 " ORDER BY id", (source,))
        return [r[0] for r in rows]

    def interrupted_polls(self, at: float) -> int:
        """At start (the database lock held): polls a stopped or killed process left running are
        finished as interrupted, so what they stored is dispatched and status sees them."""
        cur = self.db.execute("UPDATE polls SET finished_at = ?, new_count = 0, error = 'interrupted: the bot stopped"
                                " during this cycle' WHERE finished_at IS NULL", (at,))
        return cur.rowcount

    def mark_dispatched(self, poll_id: int, at: float) -> None:
        self.db.execute("UPDATE polls SET dispatched_at = ? WHERE id = ?", (at, poll_id))

    def last_attempt(self, source: str) -> float | None:
        row = self.db.execute("SELECT MAX(started_at) FROM polls WHERE source = ?", (source,)).fetchone()
        return row[0]

    def last_error(self, source: str) -> str | None:
        row = self.db.execute("SELECT error FROM polls WHERE source = ? AND error IS NOT NULL ORDER BY id DESC LIMIT 1",
                                (source,)).fetchone()
        return row[0] if row else None

    def poll_failures(self, source: str) -> tuple[int, float | None]:
        """(failed cycles in a row, when the first of them started) for a source."""
        rows = self.db.execute(
            "SELECT error, started_at FROM polls WHERE source = ? AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1000",
            (source,),
        ).fetchall()
        count, since = 0, None
        for error, started in rows:
            if error is None:
                break
            count, since = count + 1, started
        return count, since
