"""News articles seen, keyed by guid (else link)."""

from __future__ import annotations

from typing import Iterable, Sequence

from bot.store.database import Database, _dt, _iso
from bot.models import NewsItem


class News:
    def __init__(self, db: Database):
        self.db = db

    # ------------------------------------------------------------ news

    def news_keys(self, keys: Iterable[str]) -> set[str]:
        ks = list(keys)
        if not ks:
            return set()
        q = f"SELECT key FROM news WHERE key IN ({','.join('?' * len(ks))})"
        return {r[0] for r in self.db.execute(q, ks)}

    def record_news(self, items: Sequence[NewsItem], poll_id: int, at: float, *, seen_at: float | None = None) -> None:
        """Insert unseen items; an edited item (same key) updates its text but stays the same item.

        seen_at=0 for a baseline: those articles were there before the bot, so no digest lists them.
        """
        with self.db.transaction():
            self.db.executemany(
                """INSERT INTO news VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (key) DO UPDATE SET title = excluded.title, summary = excluded.summary,
                    image = CASE WHEN excluded.image != '' THEN excluded.image ELSE news.image END""",
                [(n.key, n.feed, n.title, n.link, n.summary, n.image, _iso(n.published), at if seen_at is None else seen_at, poll_id)
                 for n in items],
            )

    def news_first_seen_by(self, poll_id: int) -> list[NewsItem]:
        return [self._news(r) for r in self.db.execute(
            "SELECT key, feed, title, link, summary, image, published FROM news WHERE first_poll = ? ORDER BY published, key",
            (poll_id,))]

    def news_seen_between(self, start: float, end: float) -> list[NewsItem]:
        return [self._news(r) for r in self.db.execute(
            "SELECT key, feed, title, link, summary, image, published FROM news WHERE seen_at >= ? AND seen_at < ?"
            " AND first_poll IS NOT NULL ORDER BY published, key", (start, end))]

    @staticmethod
    def _news(r: tuple) -> NewsItem:
        return NewsItem(key=r[0], feed=r[1], title=r[2], link=r[3], summary=r[4], image=r[5], published=_dt(r[6]))
