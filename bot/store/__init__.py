"""What the bot has seen and what it has done: small repositories over one database.

Each service is handed only the repositories it uses (see bot/services.py); a `Store` holds them
all so the process opens, migrates and closes one database, and so one transaction can span
several (queueing a poll's posts and marking it dispatched is one commit).
"""

from __future__ import annotations

from pathlib import Path

from bot.store.channels import Channels
from bot.store.cluster import Cluster
from bot.store.database import Database, StorageError
from bot.store.digests import Digests
from bot.store.frames import FRAME_DAYS, FRAME_FIELDS, Frames
from bot.store.images import Images
from bot.store.migrations import MIGRATIONS
from bot.store.news import News
from bot.store.outbox import UNSENT, Outbox
from bot.store.polls import Polls
from bot.store.retention import Retention
from bot.store.state import State
from bot.store.subscriptions import Subscriptions

__all__ = ["Store", "StorageError", "Database", "MIGRATIONS", "FRAME_DAYS", "FRAME_FIELDS", "UNSENT", "Images",
           "Frames", "Polls", "Cluster", "News", "Subscriptions", "Channels", "Outbox", "Digests", "State", "Retention"]


def is_postgres(where: Path | str) -> bool:
    return isinstance(where, str) and where.startswith(("postgresql://", "postgres://"))


class Store:
    """Every repository, over one database connection."""

    def __init__(self, db: Database):
        self.db = db
        self.images = Images(db)
        self.frames = Frames(db)
        self.polls = Polls(db)
        self.news = News(db)
        self.subscriptions = Subscriptions(db)
        self.channels = Channels(db)
        self.outbox = Outbox(db)
        self.digests = Digests(db)
        self.state = State(db)
        self.retention = Retention(db)
        self.cluster = Cluster(db)

    @classmethod
    def open(cls, where: Path | str) -> "Store":
        """A SQLite file (the embedded default), or a PostgreSQL database by URL (postgresql://…)."""
        if is_postgres(where):
            try:
                from bot.store.postgres import PgDatabase
            except ImportError:
                raise StorageError("storage.url is a PostgreSQL URL, but the PostgreSQL driver is not installed: "
                                   "pip install 'roverbot[postgresql]'") from None
            return cls(PgDatabase.open(str(where)))
        return cls(Database.open(where))

    def transaction(self):
        return self.db.transaction()

    def close(self) -> None:
        self.db.close()
