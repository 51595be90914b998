"""SQLite: what the bot has seen and what it has done, in one embedded file.

The images table is keyed by exposure (the image id without its tile number), so a re-fetch, a newer
version or another tile of the same exposure updates one row instead of adding a second. The schema
carries a version (PRAGMA user_version) and moves forward through numbered migrations, so an
upgrade never loses an operator's data.

Calls are synchronous and short; the bot runs them on the event loop (each is well under a
millisecond for the sizes involved, see bench/).
"""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Iterable, Sequence

from .cameras import Catalogue
from .models import RoverImage

# Each migration moves the schema from version i to i+1. Append only; never edit a shipped one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE images (
        exposure_id  TEXT PRIMARY KEY,
        image_id     TEXT NOT NULL,
        mission      TEXT NOT NULL,
        sol          INTEGER NOT NULL,
        instrument   TEXT NOT NULL,
        family       TEXT NOT NULL,
        sequence     TEXT NOT NULL,
        version      INTEGER NOT NULL,
        tiles        INTEGER NOT NULL,
        taken_utc    TEXT,
        lmst         TEXT,
        received_utc TEXT,
        title        TEXT NOT NULL,
        caption      TEXT NOT NULL,
        credit       TEXT NOT NULL,
        small        TEXT NOT NULL,
        medium       TEXT NOT NULL,
        large        TEXT NOT NULL,
        full_res     TEXT NOT NULL,
        link         TEXT NOT NULL,
        first_poll   INTEGER          -- the poll that first saw it; NULL if only a command fetched it
    );
    CREATE INDEX images_by_sol ON images (mission, sol, taken_utc, exposure_id);
    CREATE INDEX images_by_poll ON images (first_poll);
    CREATE TABLE sol_fetches (
        mission    TEXT NOT NULL,
        sol        INTEGER NOT NULL,
        cameras    TEXT NOT NULL,     -- '|'-joined codes, '' for every camera
        fetched_at REAL NOT NULL,
        PRIMARY KEY (mission, sol, cameras)
    );
    CREATE TABLE polls (
        id          INTEGER PRIMARY KEY,
        source      TEXT NOT NULL,
        started_at  REAL NOT NULL,
        finished_at REAL,
        new_count   INTEGER,
        error       TEXT
    );
    CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
]

_IMAGE_COLUMNS = (
    "exposure_id, image_id, mission, sol, instrument, family, sequence, version, tiles, taken_utc, lmst,"
    " received_utc, title, caption, credit, small, medium, large, full_res, link"
)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class Store:
    def __init__(self, conn: sqlite3.Connection, catalogue: Catalogue):
        self.conn = conn
        self.catalogue = catalogue

    @classmethod
    def open(cls, path: Path | str, catalogue: Catalogue) -> "Store":
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for the poller's writes
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        store = cls(conn, catalogue)
        store.migrate()
        return store

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

    # ------------------------------------------------------------ images

    def versions(self, exposure_ids: Iterable[str]) -> dict[str, int]:
        """exposure id -> stored version, for the ids already known."""
        ids = list(exposure_ids)
        out: dict[str, int] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            q = f"SELECT exposure_id, version FROM images WHERE exposure_id IN ({','.join('?' * len(chunk))})"
            out.update(self.conn.execute(q, chunk).fetchall())
        return out

    def record(self, images: Sequence[RoverImage], poll_id: int | None = None) -> int:
        """Insert new exposures and upgrade stored ones to newer versions; returns rows written.

        A poll id marks what a poll saw first: an image fetched earlier by a command is still new
        to the poller, so commands never swallow an automatic post.
        """
        rows = [
            (i.exposure_id, i.image_id, i.mission, i.sol, i.instrument, self.catalogue.family_of(i.instrument),
             i.sequence, i.version, i.tiles, _iso(i.taken_utc), i.lmst, _iso(i.received_utc), i.title, i.caption,
             i.credit, i.small, i.medium, i.large, i.full_res, i.link, poll_id)
            for i in images
        ]
        if not rows:
            return 0
        with self.transaction():
            self.conn.executemany(
                f"""INSERT INTO images ({_IMAGE_COLUMNS}, first_poll) VALUES ({','.join('?' * 21)})
                ON CONFLICT (exposure_id) DO UPDATE SET
                    first_poll = COALESCE(images.first_poll, excluded.first_poll),
                    tiles = MAX(images.tiles, excluded.tiles),
                    version = MAX(images.version, excluded.version),
                    image_id = CASE WHEN excluded.version > images.version THEN excluded.image_id ELSE images.image_id END,
                    small = CASE WHEN excluded.version > images.version THEN excluded.small ELSE images.small END,
                    medium = CASE WHEN excluded.version > images.version THEN excluded.medium ELSE images.medium END,
                    large = CASE WHEN excluded.version > images.version THEN excluded.large ELSE images.large END,
                    full_res = CASE WHEN excluded.version > images.version THEN excluded.full_res ELSE images.full_res END
                """,
                rows,
            )
        return len(rows)

    def images(self, mission: str, sol: int, codes: Sequence[str] = (), *, offset: int = 0,
               limit: int = -1) -> list[RoverImage]:
        """A sol's pictures in the order they were taken (a slice of them, for one gallery page)."""
        where, args = self._sol_filter(mission, sol, codes)
        q = f"SELECT {_IMAGE_COLUMNS} FROM images WHERE {where} ORDER BY taken_utc, exposure_id LIMIT ? OFFSET ?"
        return [self._image(r) for r in self.conn.execute(q, [*args, limit, offset])]

    def count(self, mission: str, sol: int, codes: Sequence[str] = ()) -> int:
        where, args = self._sol_filter(mission, sol, codes)
        return self.conn.execute(f"SELECT COUNT(*) FROM images WHERE {where}", args).fetchone()[0]

    @staticmethod
    def _sol_filter(mission: str, sol: int, codes: Sequence[str]) -> tuple[str, list]:
        where = "mission = ? AND sol = ?"
        if codes:
            where += f" AND instrument IN ({','.join('?' * len(codes))})"
        return where, [mission, sol, *codes]

    def first_seen_by(self, poll_id: int) -> list[RoverImage]:
        q = f"SELECT {_IMAGE_COLUMNS} FROM images WHERE first_poll = ? ORDER BY sol, taken_utc, exposure_id"
        return [self._image(r) for r in self.conn.execute(q, (poll_id,))]

    def image_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]

    @staticmethod
    def _image(r: tuple) -> RoverImage:
        return RoverImage(
            exposure_id=r[0], image_id=r[1], mission=r[2], sol=r[3], instrument=r[4], sequence=r[6],
            version=r[7], tiles=r[8], taken_utc=_dt(r[9]), lmst=r[10], received_utc=_dt(r[11]), title=r[12],
            caption=r[13], credit=r[14], small=r[15], medium=r[16], large=r[17], full_res=r[18], link=r[19],
        )

    # ------------------------------------------------------------ what was fetched when

    def sol_fetched_at(self, mission: str, sol: int, cameras: str) -> float | None:
        """When this sol was last read in full for these cameras (or for every camera)."""
        row = self.conn.execute(
            "SELECT MAX(fetched_at) FROM sol_fetches WHERE mission = ? AND sol = ? AND cameras IN (?, '')",
            (mission, sol, cameras),
        ).fetchone()
        return row[0]

    def mark_sol_fetched(self, mission: str, sol: int, cameras: str, at: float) -> None:
        self.conn.execute(
            "INSERT INTO sol_fetches VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET fetched_at = excluded.fetched_at",
            (mission, sol, cameras, at),
        )

    # ------------------------------------------------------------ polls and small state

    def start_poll(self, source: str, at: float | None = None) -> int:
        cur = self.conn.execute("INSERT INTO polls (source, started_at) VALUES (?, ?)", (source, at or time.time()))
        return int(cur.lastrowid)

    def finish_poll(self, poll_id: int, new_count: int, error: str | None = None, at: float | None = None) -> None:
        self.conn.execute(
            "UPDATE polls SET finished_at = ?, new_count = ?, error = ? WHERE id = ?",
            (at or time.time(), new_count, error, poll_id),
        )

    def last_poll(self, source: str, *, ok: bool = True) -> tuple[float, int] | None:
        """(finished_at, new_count) of the newest finished poll of a source."""
        cond = "error IS NULL" if ok else "error IS NOT NULL"
        return self.conn.execute(
            f"SELECT finished_at, new_count FROM polls WHERE source = ? AND finished_at IS NOT NULL AND {cond}"
            " ORDER BY id DESC LIMIT 1",
            (source,),
        ).fetchone()

    def get(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO state VALUES (?, ?) ON CONFLICT DO UPDATE SET value = excluded.value", (key, value)
        )

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
