"""The database under the repositories: one SQLite connection, its settings, its migrations.

The images table is keyed by exposure (the image id without its tile number), so a re-fetch, a newer
version or another tile of the same exposure updates one row instead of adding a second. The schema
carries a version (PRAGMA user_version) and moves forward through numbered migrations, so an
upgrade never loses an operator's data.

Calls are synchronous and short; the bot runs them on the event loop (each is well under a
millisecond for the sizes involved, see bench/).
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Iterable, Sequence

from bot.store.migrations import MIGRATIONS

def _why(e: BaseException, folder: Path | None = None) -> str:
    text = str(e) or type(e).__name__
    try:
        free = shutil.disk_usage(folder).free if folder is not None and folder.is_dir() else None
    except OSError:
        free = None
    if free is not None and free < 1_000_000:  # SQLite often says only "disk I/O error" when it is full
        return f"the disk is full ({free:,} bytes free; {text})"
    if "readonly" in text or "read-only" in text or isinstance(e, PermissionError):
        return f"cannot write there ({text})"
    if "not a database" in text or "malformed" in text:
        return f"the file is not a roverbot database or is damaged ({text})"
    if "disk is full" in text or "No space" in text:
        return f"the disk is full ({text})"
    return text


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def without_password(url: str) -> str:
    """A connection URL as messages and logs may show it."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class StorageError(Exception):
    """The database cannot be opened or used; the message names the file and why."""


class Database:
    """SQLite: one connection that every repository of a Store shares (so one transaction spans
    them). bot/store/postgres.py is the same interface over PostgreSQL. Repositories write SQL both
    engines run (upserts with ON CONFLICT, RETURNING, `?` parameters); the few engine-specific
    pieces are methods here (json_field, reclaim)."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    @staticmethod
    def json_field(column: str, key: str) -> str:
        """SQL for one top-level text field of a JSON column."""
        return f"json_extract({column}, '$.{key}')"

    @staticmethod
    def trimmed_payload(column: str) -> str:
        """SQL for a payload reduced to {"product": …} (what a delivered post still needs)."""
        return f"json_object('product', json_extract({column}, '$.product'))"

    @staticmethod
    def payload_file_hashes(column: str, table: str) -> str:
        """FROM-clause and expression listing the blob hashes a payload's "files" refer to."""
        return f"json_extract(f.value, '$[1]') FROM {table}, json_each({table}.{column}, '$.files') AS f"

    def reclaim(self) -> None:
        """Hand freed pages back to the file system (executescript steps the pragma to completion;
        execute() would free a single page), and cut the WAL back."""
        self.conn.executescript("PRAGMA incremental_vacuum;")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def execute(self, sql: str, args: Sequence = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, args)

    def executemany(self, sql: str, rows: Iterable[Sequence]) -> sqlite3.Cursor:
        return self.conn.executemany(sql, rows)

    def executescript(self, sql: str) -> None:
        self.conn.executescript(sql)

    @classmethod
    def open(cls, path: Path | str) -> "Database":
        try:
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                if Path(path).is_dir():
                    raise StorageError(f"{path} is a folder, not a database file")
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=5000")
            # Pages freed by retention go back to the file system, a little at a time (prune()).
            # The mode can only change before the first table exists, or with a VACUUM after.
            if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
                conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
                conn.execute("VACUUM")
            conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for the poller's writes
            # NORMAL under WAL: a power loss may roll back the last commits, but always a consistent
            # prefix of them, and everything those hold (pictures seen, the watermark after them) is
            # read again from NASA. The writes that promise something to the outside — a claim before
            # a send, a delivery after it — are committed with FULL (see Database.durable), which also makes
            # every commit before them durable.
            conn.execute("PRAGMA synchronous=NORMAL")
            # A checkpoint reuses the WAL but leaves the file at its high-water mark (13 MB of a
            # 20 MB soak database was WAL); past a checkpoint it is cut back to this.
            conn.execute("PRAGMA journal_size_limit=4194304")
            conn.execute("PRAGMA foreign_keys=ON")
            db = cls(conn)
            db.migrate()
            return db
        except StorageError:
            raise
        except (sqlite3.Error, OSError) as e:
            raise StorageError(f"{path}: {_why(e, Path(path).parent)}") from None

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------ schema

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        current = self.schema_version
        if current > len(MIGRATIONS):
            raise RuntimeError(
                f"the database is schema version {current}, newer than this roverbot knows ({len(MIGRATIONS)});"
                " upgrade roverbot rather than risk the data"
            )
        for version in range(current, len(MIGRATIONS)):
            # executescript commits first, so each migration runs in a transaction of its own.
            self.conn.executescript(f"BEGIN; {MIGRATIONS[version]}; PRAGMA user_version = {version + 1}; COMMIT;")

    def durable(self, sql: str, args: Sequence = ()) -> sqlite3.Cursor:
        """One statement committed with synchronous=FULL: on the disk before this returns."""
        self.conn.execute("PRAGMA synchronous=FULL")
        try:
            return self.conn.execute(sql, args)
        finally:
            self.conn.execute("PRAGMA synchronous=NORMAL")

    def compact(self) -> None:
        """Rewrite the file without the holes trimmed payloads leave in their pages (incremental
        vacuum only returns whole free pages). Its own connection, so it can run on a thread; it
        takes the write lock for a few seconds, so the bot runs it daily."""
        path = self.conn.execute("PRAGMA database_list").fetchone()[2]
        if not path:
            return  # in memory: nothing to shrink
        conn = sqlite3.connect(path, timeout=30)
        try:
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()

    def size_bytes(self) -> int:
        pages, size = (self.conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size"))
        return pages * size

    def transaction(self) -> "_Transaction":
        return _Transaction(self.conn)


class _Transaction:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
