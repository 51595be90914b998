"""What the bot made in channels and must find again: a thread per sol, its webhooks."""

from __future__ import annotations

from bot.store.database import Database


class Channels:
    def __init__(self, db: Database):
        self.db = db

    # ------------------------------------------------------------ threads per sol, webhooks

    def sol_thread(self, channel_id: int, mission: str, sol: int) -> int | None:
        row = self.db.execute("SELECT thread_id FROM sol_threads WHERE channel_id = ? AND mission = ? AND sol = ?",
                              (channel_id, mission, sol)).fetchone()
        return row[0] if row else None

    def record_sol_thread(self, channel_id: int, mission: str, sol: int, thread_id: int, name: str, at: float) -> None:
        """Durable: once Discord made the thread, a restart must find it here."""
        self.db.durable("INSERT INTO sol_threads (channel_id, mission, sol, thread_id, name, created_at)"
                        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel_id, mission, sol) DO UPDATE SET"
                        " thread_id = excluded.thread_id, name = excluded.name", (channel_id, mission, sol, thread_id, name, at))

    def forget_sol_thread(self, channel_id: int, mission: str, sol: int) -> None:
        self.db.execute("DELETE FROM sol_threads WHERE channel_id = ? AND mission = ? AND sol = ?", (channel_id, mission, sol))

    def webhook(self, channel_id: int) -> tuple[int, str] | None:
        """(id, token) of the webhook the bot made in this channel and still uses."""
        return self.db.execute("SELECT id, token FROM webhooks WHERE channel_id = ? AND gone_at IS NULL"
                                 " ORDER BY created_at DESC LIMIT 1", (channel_id,)).fetchone()

    def record_webhook(self, channel_id: int, webhook_id: int, token: str, at: float) -> None:
        self.db.durable("INSERT INTO webhooks (id, channel_id, token, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (id)"
                        " DO UPDATE SET channel_id = excluded.channel_id, token = excluded.token,"
                        " created_at = excluded.created_at, gone_at = NULL",
                      (webhook_id, channel_id, token, at))

    def webhook_gone(self, webhook_id: int, at: float) -> None:
        self.db.execute("UPDATE webhooks SET gone_at = ? WHERE id = ?", (at, webhook_id))

    def webhook_ids(self, channel_id: int) -> list[int]:
        """Every webhook the bot made in the channel, gone or not: their posts are still ours."""
        return [r[0] for r in self.db.execute("SELECT id FROM webhooks WHERE channel_id = ?", (channel_id,))]
