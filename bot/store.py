"""SQLite: what the bot has seen and what it has done, in one embedded file.

The images table is keyed by exposure (the image id without its tile number), so a re-fetch, a newer
version or another tile of the same exposure updates one row instead of adding a second. The schema
carries a version (PRAGMA user_version) and moves forward through numbered migrations, so an
upgrade never loses an operator's data.

Calls are synchronous and short; the bot runs them on the event loop (each is well under a
millisecond for the sizes involved, see bench/).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

from .cameras import Catalogue
from .models import NewsItem, OutboxEntry, RoverImage, Subscription

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
    # 2: automatic posts. Images learn when they were first seen (digests cover "since the last
    # one"); polls learn whether their posts were queued (a kill in between is recovered).
    """
    ALTER TABLE images ADD COLUMN seen_at REAL;
    UPDATE images SET seen_at = COALESCE((SELECT finished_at FROM polls WHERE polls.id = images.first_poll), 0);
    CREATE INDEX images_by_seen ON images (seen_at);
    ALTER TABLE polls ADD COLUMN dispatched_at REAL;
    UPDATE polls SET dispatched_at = finished_at;
    CREATE TABLE subscriptions (
        id           INTEGER PRIMARY KEY,
        guild_id     INTEGER NOT NULL,
        channel_id   INTEGER NOT NULL,
        kind         TEXT NOT NULL CHECK (kind IN ('images', 'news', 'digest')),
        camera       TEXT NOT NULL DEFAULT '',   -- Selection.key; '' = every camera
        codes        TEXT NOT NULL DEFAULT '',   -- '|'-joined instrument codes
        digest_time  TEXT NOT NULL DEFAULT '09:00',
        timezone     TEXT NOT NULL DEFAULT 'UTC',
        role_id      INTEGER,
        created_at   REAL NOT NULL,              -- nothing received before this is posted to it
        paused_at    REAL,
        paused_reason TEXT,
        UNIQUE (channel_id, kind)
    );
    CREATE TABLE news (
        key        TEXT PRIMARY KEY,             -- guid, else link
        feed       TEXT NOT NULL,
        title      TEXT NOT NULL,
        link       TEXT NOT NULL,
        summary    TEXT NOT NULL,
        image      TEXT NOT NULL,
        published  TEXT,
        seen_at    REAL NOT NULL,
        first_poll INTEGER
    );
    CREATE INDEX news_by_poll ON news (first_poll);
    CREATE TABLE blobs (hash TEXT PRIMARY KEY, data BLOB NOT NULL);
    CREATE TABLE outbox (
        id          INTEGER PRIMARY KEY,
        key         TEXT NOT NULL UNIQUE,        -- what makes a post the same post: never two of it
        guild_id    INTEGER NOT NULL,
        channel_id  INTEGER NOT NULL,
        kind        TEXT NOT NULL,               -- images, news, digest, alert
        payload     TEXT NOT NULL,               -- JSON: content, embeds, role_id, files, summary, count
        nonce       TEXT NOT NULL,
        status      TEXT NOT NULL DEFAULT 'pending',  -- pending, held, sent, digested, failed
        message_id  INTEGER,
        attempts    INTEGER NOT NULL DEFAULT 0,
        next_try_at REAL NOT NULL DEFAULT 0,
        created_at  REAL NOT NULL,
        sent_at     REAL,
        error       TEXT
    );
    CREATE INDEX outbox_by_status ON outbox (status, next_try_at, id);
    CREATE INDEX outbox_by_channel ON outbox (channel_id, status, sent_at);
    CREATE TABLE digests (
        channel_id  INTEGER NOT NULL,
        local_date  TEXT NOT NULL,
        covered_from REAL NOT NULL,
        covered_to  REAL NOT NULL,
        outbox_id   INTEGER NOT NULL,
        PRIMARY KEY (channel_id, local_date)
    );
    """,
    # 3: a sequence trickling in over several polls becomes one post: an unsent post of the same
    # (sol, family, sequence) group absorbs the newcomers while it waits.
    """
    ALTER TABLE outbox ADD COLUMN grp TEXT;
    CREATE INDEX outbox_by_group ON outbox (channel_id, grp, status);
    """,
    # 4: exactly once past Discord's nonce window. A row is claimed ('sending') before it is sent;
    # from its first claim on it may be on Discord, so it is never changed again, and a re-send
    # long after first_attempt_at looks in the channel before sending.
    """
    ALTER TABLE outbox ADD COLUMN first_attempt_at REAL;
    ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
    ALTER TABLE outbox ADD COLUMN claimed_at REAL;
    CREATE INDEX outbox_by_sent_at ON outbox (status, sent_at);
    CREATE INDEX polls_by_dispatch ON polls (source, dispatched_at, finished_at);
    CREATE INDEX images_by_received ON images (received_utc);
    """,
    # frames: each picture's geometry (camera model, pointing, attitude) as NASA's record gave it, so
    # panoramas, stereo pairs and movies can be recognised and assembled across polls.
    """
    CREATE TABLE frames (
        image_id    TEXT PRIMARY KEY,            -- one row per tile: tiles are joined at assembly
        exposure_id TEXT NOT NULL,
        sol         INTEGER NOT NULL,
        instrument  TEXT NOT NULL,
        sequence    TEXT NOT NULL,
        record      TEXT NOT NULL,               -- the feed record's geometry fields, JSON
        seen_at     REAL NOT NULL,
        polled      INTEGER NOT NULL             -- 1: a poll saw it (digests); 0: a command fetched it
    );
    CREATE INDEX frames_by_sequence ON frames (sol, sequence);
    CREATE INDEX frames_by_seen ON frames (seen_at);
    """,
    # drives: a subscription kind for new end-of-drive positions. SQLite cannot ALTER a CHECK, so
    # the table is rebuilt with the wider one and every row copied (ids kept). The rover's last
    # position lives in `state` (drives.position:<mission>).
    """
    CREATE TABLE subscriptions_new (
        id           INTEGER PRIMARY KEY,
        guild_id     INTEGER NOT NULL,
        channel_id   INTEGER NOT NULL,
        kind         TEXT NOT NULL CHECK (kind IN ('images', 'news', 'digest', 'drives')),
        camera       TEXT NOT NULL DEFAULT '',
        codes        TEXT NOT NULL DEFAULT '',
        digest_time  TEXT NOT NULL DEFAULT '09:00',
        timezone     TEXT NOT NULL DEFAULT 'UTC',
        role_id      INTEGER,
        created_at   REAL NOT NULL,
        paused_at    REAL,
        paused_reason TEXT,
        UNIQUE (channel_id, kind)
    );
    INSERT INTO subscriptions_new (id, guild_id, channel_id, kind, camera, codes, digest_time, timezone, role_id,
                                   created_at, paused_at, paused_reason)
        SELECT id, guild_id, channel_id, kind, camera, codes, digest_time, timezone, role_id, created_at, paused_at,
               paused_reason FROM subscriptions;
    DROP TABLE subscriptions;
    ALTER TABLE subscriptions_new RENAME TO subscriptions;
    """,
    # several subscriptions per channel (Mastcam-Z pinging one role, Navcam no ping), forum posts or
    # threads per sol, and webhook delivery. The table is rebuilt without UNIQUE (channel_id, kind),
    # every row and id kept; "the same subscription" is now (channel, kind, camera, role), and a
    # channel has one digest (digests are recorded per channel and local day). Threads made per
    # (channel, sol) are recorded so a restart never makes a second one; the webhooks the bot made
    # are kept (with when they vanished) so a re-send recognises posts made through an old one.
    """
    CREATE TABLE subscriptions_new (
        id           INTEGER PRIMARY KEY,
        guild_id     INTEGER NOT NULL,
        channel_id   INTEGER NOT NULL,
        kind         TEXT NOT NULL CHECK (kind IN ('images', 'news', 'digest', 'drives')),
        camera       TEXT NOT NULL DEFAULT '',
        codes        TEXT NOT NULL DEFAULT '',
        digest_time  TEXT NOT NULL DEFAULT '09:00',
        timezone     TEXT NOT NULL DEFAULT 'UTC',
        role_id      INTEGER,
        created_at   REAL NOT NULL,
        paused_at    REAL,
        paused_reason TEXT,
        threads      TEXT NOT NULL DEFAULT '' CHECK (threads IN ('', 'text', 'forum')),
        webhook_name TEXT,
        webhook_avatar TEXT
    );
    INSERT INTO subscriptions_new (id, guild_id, channel_id, kind, camera, codes, digest_time, timezone, role_id,
                                   created_at, paused_at, paused_reason)
        SELECT id, guild_id, channel_id, kind, camera, codes, digest_time, timezone, role_id, created_at, paused_at,
               paused_reason FROM subscriptions;
    DROP TABLE subscriptions;
    ALTER TABLE subscriptions_new RENAME TO subscriptions;
    CREATE UNIQUE INDEX subscriptions_same ON subscriptions (channel_id, kind, camera, COALESCE(role_id, 0))
        WHERE kind != 'digest';
    CREATE UNIQUE INDEX subscriptions_one_digest ON subscriptions (channel_id) WHERE kind = 'digest';
    CREATE INDEX subscriptions_by_channel ON subscriptions (channel_id, kind);
    CREATE TABLE sol_threads (
        channel_id  INTEGER NOT NULL,            -- the text or forum channel the thread is in
        sol         INTEGER NOT NULL,
        thread_id   INTEGER NOT NULL,
        name        TEXT NOT NULL,
        created_at  REAL NOT NULL,
        PRIMARY KEY (channel_id, sol)
    );
    CREATE TABLE webhooks (
        id          INTEGER PRIMARY KEY,         -- Discord's webhook id
        channel_id  INTEGER NOT NULL,
        token       TEXT NOT NULL,
        created_at  REAL NOT NULL,
        gone_at     REAL                         -- Discord answered Unknown Webhook (deleted)
    );
    CREATE INDEX webhooks_by_channel ON webhooks (channel_id, gone_at);
    """,
]

FRAME_DAYS = 7  # how long frame geometry is kept (see prune)
# What of a feed record assembly needs (bot/imagery/frames.py): geometry and rendition URLs, not text.
FRAME_FIELDS = ("imageid", "sol", "camera", "extended", "image_files", "sample_type", "date_taken_utc", "date_received",
                "attitude", "site", "drive")

_ENTRY_COLUMNS = "id, key, guild_id, channel_id, kind, payload, nonce, status, attempts, message_id, first_attempt_at"
# Posts that may still go out: their files must be kept.
UNSENT = ("pending", "held", "sending")

_IMAGE_COLUMNS = (
    "exposure_id, image_id, mission, sol, instrument, family, sequence, version, tiles, taken_utc, lmst,"
    " received_utc, title, caption, credit, small, medium, large, full_res, link"
)


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


class StorageError(Exception):
    """The database cannot be opened or used; the message names the file and why."""


class Store:
    def __init__(self, conn: sqlite3.Connection, catalogue: Catalogue):
        self.conn = conn
        self.catalogue = catalogue

    @classmethod
    def open(cls, path: Path | str, catalogue: Catalogue) -> "Store":
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
            # a send, a delivery after it — are committed with FULL (see _durable), which also makes
            # every commit before them durable.
            conn.execute("PRAGMA synchronous=NORMAL")
            # A checkpoint reuses the WAL but leaves the file at its high-water mark (13 MB of a
            # 20 MB soak database was WAL); past a checkpoint it is cut back to this.
            conn.execute("PRAGMA journal_size_limit=4194304")
            conn.execute("PRAGMA foreign_keys=ON")
            store = cls(conn, catalogue)
            store.migrate()
            return store
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

    # ------------------------------------------------------------ images

    def versions(self, exposure_ids: Iterable[str], *, polled_only: bool = False) -> dict[str, int]:
        """exposure id -> stored version, for the ids already known (to a poll, with polled_only)."""
        ids = list(exposure_ids)
        out: dict[str, int] = {}
        extra = " AND first_poll IS NOT NULL" if polled_only else ""
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            q = f"SELECT exposure_id, version FROM images WHERE exposure_id IN ({','.join('?' * len(chunk))}){extra}"
            out.update(self.conn.execute(q, chunk).fetchall())
        return out

    def record(self, images: Sequence[RoverImage], poll_id: int | None = None, seen_at: float | None = None) -> int:
        """Insert new exposures and upgrade stored ones to newer versions; returns rows written.

        A poll id marks what a poll saw first: an image fetched earlier by a command is still new
        to the poller, so commands never swallow an automatic post.
        """
        rows = [
            (i.exposure_id, i.image_id, i.mission, i.sol, i.instrument, self.catalogue.family_of(i.instrument),
             i.sequence, i.version, i.tiles, _iso(i.taken_utc), i.lmst, _iso(i.received_utc), i.title, i.caption,
             i.credit, i.small, i.medium, i.large, i.full_res, i.link, poll_id, seen_at if poll_id else None)
            for i in images
        ]
        if not rows:
            return 0
        with self.transaction():
            self.conn.executemany(
                f"""INSERT INTO images ({_IMAGE_COLUMNS}, first_poll, seen_at) VALUES ({','.join('?' * 22)})
                ON CONFLICT (exposure_id) DO UPDATE SET
                    first_poll = COALESCE(images.first_poll, excluded.first_poll),
                    seen_at = COALESCE(images.seen_at, excluded.seen_at),
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
               limit: int = -1, newest_first: bool = False) -> list[RoverImage]:
        """A sol's pictures in the order they were taken, or newest first (a slice, for one gallery page)."""
        where, args = self._sol_filter(mission, sol, codes)
        order = "taken_utc DESC, exposure_id DESC" if newest_first else "taken_utc, exposure_id"
        q = f"SELECT {_IMAGE_COLUMNS} FROM images WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
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

    def seen_between(self, start: float, end: float, codes: Sequence[str] = ()) -> list[RoverImage]:
        """Pictures a poll first saw in [start, end): what a digest covers."""
        q = f"SELECT {_IMAGE_COLUMNS} FROM images WHERE seen_at >= ? AND seen_at < ?"
        args: list = [start, end]
        if codes:
            q += f" AND instrument IN ({','.join('?' * len(codes))})"
            args += list(codes)
        return [self._image(r) for r in self.conn.execute(q + " ORDER BY sol, taken_utc, exposure_id", args)]

    def image_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]

    @staticmethod
    def _image(r: tuple) -> RoverImage:
        return RoverImage(
            exposure_id=r[0], image_id=r[1], mission=r[2], sol=r[3], instrument=r[4], sequence=r[6],
            version=r[7], tiles=r[8], taken_utc=_dt(r[9]), lmst=r[10], received_utc=_dt(r[11]), title=r[12],
            caption=r[13], credit=r[14], small=r[15], medium=r[16], large=r[17], full_res=r[18], link=r[19],
        )

    # ------------------------------------------------------------ frames: geometry for products

    def record_frames(self, records: Sequence[dict], exposures: set[str] | None, seen_at: float, *, polled: bool) -> int:
        """Keep the geometry of these feed records (only those of `exposures`, when given)."""
        from .parse import exposure_of

        rows = []
        for rec in records:
            if not isinstance(rec, dict) or not isinstance(rec.get("imageid"), str):
                continue
            image_id = rec["imageid"]
            exposure, _, sequence = exposure_of(image_id)
            if exposures is not None and exposure not in exposures:
                continue
            camera = rec.get("camera") if isinstance(rec.get("camera"), dict) else {}
            try:
                sol = int(rec.get("sol"))
                body = json.dumps({k: rec[k] for k in FRAME_FIELDS if k in rec})  # ASCII: a lone surrogate can't break it
            except (TypeError, ValueError):
                continue
            rows.append((image_id, exposure, sol, str(camera.get("instrument") or ""), sequence, body, seen_at, int(polled)))
        if rows:
            # A frame a poll saw stays "polled" when a command fetches it again.
            self.conn.executemany("""INSERT INTO frames VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (image_id) DO UPDATE
                SET record = excluded.record, polled = MAX(frames.polled, excluded.polled)""", rows)
        return len(rows)

    def frame_records(self, sol: int, sequence: str | None = None, codes: Sequence[str] = ()) -> list[dict]:
        q, args = "SELECT record FROM frames WHERE sol = ?", [sol]
        if sequence is not None:
            q += " AND sequence = ?"
            args.append(sequence)
        if codes:
            q += f" AND instrument IN ({','.join('?' * len(codes))})"
            args += list(codes)
        return [json.loads(r[0]) for r in self.conn.execute(q + " ORDER BY image_id", args)]

    def frame_count(self, sol: int, codes: Sequence[str] = ()) -> int:
        q, args = "SELECT COUNT(*) FROM frames WHERE sol = ?", [sol]
        if codes:
            q += f" AND instrument IN ({','.join('?' * len(codes))})"
            args += list(codes)
        return self.conn.execute(q, args).fetchone()[0]

    def frame_sequences_seen_between(self, start: float, end: float) -> list[tuple[int, str]]:
        return self.conn.execute("SELECT DISTINCT sol, sequence FROM frames WHERE seen_at >= ? AND seen_at < ? AND polled = 1"
                                 " AND sequence != ''"
                                 " ORDER BY sol, sequence", (start, end)).fetchall()

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

    def undispatched_polls(self, source: str) -> list[int]:
        """Finished polls whose posts were not queued yet. A poll still running is never among
        them (its finds are not complete); a killed one is finished by interrupted_polls()."""
        rows = self.conn.execute("SELECT id FROM polls WHERE source = ? AND dispatched_at IS NULL AND finished_at IS NOT NULL"
                                 " ORDER BY id", (source,))
        return [r[0] for r in rows]

    def interrupted_polls(self, at: float) -> int:
        """At start (the database lock held): polls a stopped or killed process left running are
        finished as interrupted, so what they stored is dispatched and status sees them."""
        cur = self.conn.execute("UPDATE polls SET finished_at = ?, new_count = 0, error = 'interrupted: the bot stopped"
                                " during this cycle' WHERE finished_at IS NULL", (at,))
        return cur.rowcount

    def mark_dispatched(self, poll_id: int, at: float) -> None:
        self.conn.execute("UPDATE polls SET dispatched_at = ? WHERE id = ?", (at, poll_id))

    def last_attempt(self, source: str) -> float | None:
        row = self.conn.execute("SELECT MAX(started_at) FROM polls WHERE source = ?", (source,)).fetchone()
        return row[0]

    def last_error(self, source: str) -> str | None:
        row = self.conn.execute("SELECT error FROM polls WHERE source = ? AND error IS NOT NULL ORDER BY id DESC LIMIT 1",
                                (source,)).fetchone()
        return row[0] if row else None

    def poll_failures(self, source: str) -> tuple[int, float | None]:
        """(failed cycles in a row, when the first of them started) for a source."""
        rows = self.conn.execute(
            "SELECT error, started_at FROM polls WHERE source = ? AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1000",
            (source,),
        ).fetchall()
        count, since = 0, None
        for error, started in rows:
            if error is None:
                break
            count, since = count + 1, started
        return count, since

    # ------------------------------------------------------------ news

    def news_keys(self, keys: Iterable[str]) -> set[str]:
        ks = list(keys)
        if not ks:
            return set()
        q = f"SELECT key FROM news WHERE key IN ({','.join('?' * len(ks))})"
        return {r[0] for r in self.conn.execute(q, ks)}

    def record_news(self, items: Sequence[NewsItem], poll_id: int, at: float, *, seen_at: float | None = None) -> None:
        """Insert unseen items; an edited item (same key) updates its text but stays the same item.

        seen_at=0 for a baseline: those articles were there before the bot, so no digest lists them.
        """
        with self.transaction():
            self.conn.executemany(
                """INSERT INTO news VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (key) DO UPDATE SET title = excluded.title, summary = excluded.summary,
                    image = CASE WHEN excluded.image != '' THEN excluded.image ELSE news.image END""",
                [(n.key, n.feed, n.title, n.link, n.summary, n.image, _iso(n.published), at if seen_at is None else seen_at, poll_id)
                 for n in items],
            )

    def news_first_seen_by(self, poll_id: int) -> list[NewsItem]:
        return [self._news(r) for r in self.conn.execute(
            "SELECT key, feed, title, link, summary, image, published FROM news WHERE first_poll = ? ORDER BY published, key",
            (poll_id,))]

    def news_seen_between(self, start: float, end: float) -> list[NewsItem]:
        return [self._news(r) for r in self.conn.execute(
            "SELECT key, feed, title, link, summary, image, published FROM news WHERE seen_at >= ? AND seen_at < ?"
            " AND first_poll IS NOT NULL ORDER BY published, key", (start, end))]

    @staticmethod
    def _news(r: tuple) -> NewsItem:
        return NewsItem(key=r[0], feed=r[1], title=r[2], link=r[3], summary=r[4], image=r[5], published=_dt(r[6]))

    # ------------------------------------------------------------ subscriptions

    _SUB_COLUMNS = ("id, guild_id, channel_id, kind, camera, codes, digest_time, timezone, role_id, created_at,"
                    " paused_at, paused_reason, threads, webhook_name, webhook_avatar")

    def subscribe(self, guild_id: int, channel_id: int, kind: str, *, camera: str = "", codes: Sequence[str] = (),
                  digest_time: str = "09:00", timezone: str = "UTC", role_id: int | None = None, at: float,
                  threads: str = "", webhook_name: str | None = None, webhook_avatar: str | None = None) -> Subscription:
        """A new subscription, unless the same one exists: same channel, kind, camera and role (a
        channel has one digest). Then its settings change and its history (created_at) stays."""
        with self.transaction():
            if kind == "digest":
                row = self.conn.execute("SELECT id FROM subscriptions WHERE channel_id = ? AND kind = 'digest'",
                                        (channel_id,)).fetchone()
            else:
                row = self.conn.execute(
                    "SELECT id FROM subscriptions WHERE channel_id = ? AND kind = ? AND camera = ?"
                    " AND COALESCE(role_id, 0) = ?", (channel_id, kind, camera, role_id or 0)).fetchone()
            values = (camera, "|".join(codes), digest_time, timezone, role_id, threads, webhook_name, webhook_avatar)
            if row is None:
                sub_id = self.conn.execute(
                    """INSERT INTO subscriptions (camera, codes, digest_time, timezone, role_id, threads, webhook_name,
                    webhook_avatar, guild_id, channel_id, kind, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (*values, guild_id, channel_id, kind, at)).lastrowid
            else:
                sub_id = row[0]
                self.conn.execute(
                    """UPDATE subscriptions SET camera = ?, codes = ?, digest_time = ?, timezone = ?, role_id = ?,
                    threads = ?, webhook_name = ?, webhook_avatar = ?, paused_at = NULL, paused_reason = NULL
                    WHERE id = ?""", (*values, sub_id))
        sub = self.subscription_by_id(sub_id)
        assert sub is not None
        return sub

    def unsubscribe(self, channel_id: int, kind: str) -> bool:
        """Every subscription of this kind in the channel (what /unsubscribe kind: did before ids)."""
        subs = self.subscriptions(channel_id=channel_id, kind=kind)
        return bool([s for s in subs if self.unsubscribe_id(s.id)])

    def unsubscribe_id(self, sub_id: int, guild_id: int | None = None) -> Subscription | None:
        """Remove one subscription (of this server, when given); returns what was removed."""
        sub = self.subscription_by_id(sub_id)
        if sub is None or (guild_id is not None and sub.guild_id != guild_id):
            return None
        with self.transaction():
            self.conn.execute("DELETE FROM subscriptions WHERE id = ?", (sub_id,))
            # Posts not yet sent for it are unwanted now, unless another subscription of the
            # channel still wants that kind (its posts are shared, one per picture per channel).
            if not self.conn.execute("SELECT 1 FROM subscriptions WHERE channel_id = ? AND kind = ?",
                                     (sub.channel_id, sub.kind)).fetchone():
                self.conn.execute("UPDATE outbox SET status = 'cancelled' WHERE channel_id = ? AND kind = ?"
                                  " AND status IN ('pending', 'held')", (sub.channel_id, sub.kind))
        return sub

    def subscription_by_id(self, sub_id: int) -> Subscription | None:
        row = self.conn.execute(f"SELECT {self._SUB_COLUMNS} FROM subscriptions WHERE id = ?", (sub_id,)).fetchone()
        return self._sub(row) if row else None

    def subscription(self, channel_id: int, kind: str) -> Subscription | None:
        """The channel's (oldest) subscription of a kind."""
        row = self.conn.execute(f"SELECT {self._SUB_COLUMNS} FROM subscriptions WHERE channel_id = ? AND kind = ?"
                                " ORDER BY id LIMIT 1", (channel_id, kind)).fetchone()
        return self._sub(row) if row else None

    def subscriptions(self, *, kind: str | None = None, guild_id: int | None = None, channel_id: int | None = None,
                      active: bool | None = None) -> list[Subscription]:
        q = f"SELECT {self._SUB_COLUMNS} FROM subscriptions WHERE 1=1"
        args: list = []
        for col, val in (("kind", kind), ("guild_id", guild_id), ("channel_id", channel_id)):
            if val is not None:
                q += f" AND {col} = ?"
                args.append(val)
        if active is not None:
            q += " AND paused_at IS NULL" if active else " AND paused_at IS NOT NULL"
        return [self._sub(r) for r in self.conn.execute(q + " ORDER BY id", args)]

    def pause(self, channel_id: int, reason: str, at: float) -> list[Subscription]:
        """Pause every subscription of a channel (never delete); returns those newly paused."""
        newly = [s for s in self.subscriptions(channel_id=channel_id, active=True)]
        self.conn.execute("UPDATE subscriptions SET paused_at = ?, paused_reason = ? WHERE channel_id = ? AND paused_at IS NULL",
                          (at, reason, channel_id))
        return newly

    def resume(self, channel_id: int) -> None:
        self.conn.execute("UPDATE subscriptions SET paused_at = NULL, paused_reason = NULL WHERE channel_id = ?", (channel_id,))

    @staticmethod
    def _sub(r: tuple) -> Subscription:
        return Subscription(id=r[0], guild_id=r[1], channel_id=r[2], kind=r[3], camera=r[4],
                            codes=tuple(c for c in r[5].split("|") if c), digest_time=r[6], timezone=r[7], role_id=r[8],
                            created_at=r[9], paused_at=r[10], paused_reason=r[11], threads=r[12], webhook_name=r[13],
                            webhook_avatar=r[14])

    # ------------------------------------------------------------ threads per sol, webhooks

    def sol_thread(self, channel_id: int, sol: int) -> int | None:
        row = self.conn.execute("SELECT thread_id FROM sol_threads WHERE channel_id = ? AND sol = ?",
                                (channel_id, sol)).fetchone()
        return row[0] if row else None

    def record_sol_thread(self, channel_id: int, sol: int, thread_id: int, name: str, at: float) -> None:
        """Durable: once Discord made the thread, a restart must find it here."""
        self._durable("INSERT INTO sol_threads VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
                      " thread_id = excluded.thread_id, name = excluded.name", (channel_id, sol, thread_id, name, at))

    def forget_sol_thread(self, channel_id: int, sol: int) -> None:
        self.conn.execute("DELETE FROM sol_threads WHERE channel_id = ? AND sol = ?", (channel_id, sol))

    def webhook(self, channel_id: int) -> tuple[int, str] | None:
        """(id, token) of the webhook the bot made in this channel and still uses."""
        return self.conn.execute("SELECT id, token FROM webhooks WHERE channel_id = ? AND gone_at IS NULL"
                                 " ORDER BY created_at DESC LIMIT 1", (channel_id,)).fetchone()

    def record_webhook(self, channel_id: int, webhook_id: int, token: str, at: float) -> None:
        self._durable("INSERT OR REPLACE INTO webhooks (id, channel_id, token, created_at) VALUES (?, ?, ?, ?)",
                      (webhook_id, channel_id, token, at))

    def webhook_gone(self, webhook_id: int, at: float) -> None:
        self.conn.execute("UPDATE webhooks SET gone_at = ? WHERE id = ?", (at, webhook_id))

    def webhook_ids(self, channel_id: int) -> list[int]:
        """Every webhook the bot made in the channel, gone or not: their posts are still ours."""
        return [r[0] for r in self.conn.execute("SELECT id FROM webhooks WHERE channel_id = ?", (channel_id,))]

    # ------------------------------------------------------------ outbox: recorded before sent

    def put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.conn.execute("INSERT OR IGNORE INTO blobs VALUES (?, ?)", (digest, data))
        return digest

    def blob(self, digest: str) -> bytes:
        row = self.conn.execute("SELECT data FROM blobs WHERE hash = ?", (digest,)).fetchone()
        if row is None:
            raise KeyError(digest)
        return row[0]

    def enqueue(self, key: str, guild_id: int, channel_id: int, kind: str, payload: dict, at: float,
                status: str = "pending", *, not_before: float = 0.0, group: str | None = None) -> int | None:
        """Record a post to be sent; None if a post with this key exists (it is never made twice)."""
        nonce = hashlib.sha256(key.encode()).hexdigest()[:25]  # Discord's nonce: at most 25 characters
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO outbox (key, guild_id, channel_id, kind, payload, nonce, status, created_at, next_try_at, grp)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, guild_id, channel_id, kind, json.dumps(payload), nonce, status, at, not_before, group),
        )
        return cur.lastrowid if cur.rowcount else None

    def open_group(self, channel_id: int, group: str) -> tuple[int, dict, float] | None:
        """An unsent post of this group that may still change: (id, payload, created_at).

        Only a post never claimed for sending: once a send was attempted it may be on Discord,
        and changing it would lose pictures (inside the nonce window Discord returns the old
        message) or double them (after it).
        """
        row = self.conn.execute(
            "SELECT id, payload, created_at FROM outbox WHERE channel_id = ? AND grp = ? AND status IN ('pending', 'held')"
            " AND first_attempt_at IS NULL ORDER BY id DESC LIMIT 1", (channel_id, group)).fetchone()
        return (row[0], json.loads(row[1]), row[2]) if row else None

    def update_payload(self, entry_id: int, payload: dict, not_before: float | None = None) -> bool:
        """Change a post that was never claimed for sending; False if it was claimed meanwhile."""
        cur = self.conn.execute(
            "UPDATE outbox SET payload = ?, next_try_at = COALESCE(?, next_try_at) WHERE id = ?"
            " AND status IN ('pending', 'held') AND first_attempt_at IS NULL",
            (json.dumps(payload), not_before, entry_id))
        return cur.rowcount == 1

    def settled_image_posts(self, at: float) -> list[tuple[int, int, str, dict]]:
        """Image posts due to go out, never attempted, not yet looked at for a product:
        (id, channel, group, payload)."""
        rows = self.conn.execute(
            """SELECT id, channel_id, grp, payload FROM outbox WHERE kind = 'images' AND status = 'pending'
            AND first_attempt_at IS NULL AND next_try_at <= ? AND grp IS NOT NULL
            AND json_extract(payload, '$.product') IS NULL ORDER BY id""", (at,)).fetchall()
        return [(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def products_posted(self, channel_id: int, group: str) -> int:
        """How many posts of this group in this channel carry (or will carry) a product."""
        return self.conn.execute(
            """SELECT COUNT(*) FROM outbox WHERE channel_id = ? AND grp = ? AND status NOT IN ('cancelled', 'failed')
            AND COALESCE(json_extract(payload, '$.product'), '') != ''""", (channel_id, group)).fetchone()[0]

    def images_by_exposure(self, exposure_ids: Sequence[str]) -> list[RoverImage]:
        out: list[RoverImage] = []
        ids = list(exposure_ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            q = f"SELECT {_IMAGE_COLUMNS} FROM images WHERE exposure_id IN ({','.join('?' * len(chunk))})"
            out += [self._image(r) for r in self.conn.execute(q, chunk)]
        return out

    def due(self, at: float, limit: int = 100) -> list[OutboxEntry]:
        """Pending posts whose time has come, oldest first, skipping channels that are paused."""
        rows = self.conn.execute(
            f"""SELECT {_ENTRY_COLUMNS} FROM outbox
            WHERE status = 'pending' AND next_try_at <= ?
              AND channel_id NOT IN (SELECT channel_id FROM subscriptions WHERE paused_at IS NOT NULL)
            ORDER BY id LIMIT ?""",
            (at, limit),
        )
        return [self._entry(r) for r in rows]

    def entries(self, *, channel_id: int | None = None, status: str | None = None, kind: str | None = None) -> list[OutboxEntry]:
        q = f"SELECT {_ENTRY_COLUMNS} FROM outbox WHERE 1=1"
        args: list = []
        for col, val in (("channel_id", channel_id), ("status", status), ("kind", kind)):
            if val is not None:
                q += f" AND {col} = ?"
                args.append(val)
        return [self._entry(r) for r in self.conn.execute(q + " ORDER BY id", args)]

    def entry(self, entry_id: int) -> OutboxEntry | None:
        row = self.conn.execute(f"SELECT {_ENTRY_COLUMNS} FROM outbox WHERE id = ?", (entry_id,)).fetchone()
        return self._entry(row) if row else None

    def _durable(self, sql: str, args: Sequence = ()) -> sqlite3.Cursor:
        """One statement committed with synchronous=FULL: on the disk before this returns."""
        self.conn.execute("PRAGMA synchronous=FULL")
        try:
            return self.conn.execute(sql, args)
        finally:
            self.conn.execute("PRAGMA synchronous=NORMAL")

    def claim(self, entry_id: int, owner: str, at: float) -> OutboxEntry | None:
        """Take a due post for sending, atomically: two couriers can never both have it. None if
        it is not pending any more, or its channel was paused since the batch was read. Durable
        before the send: after a power loss the post is still known to be possibly on Discord."""
        cur = self._durable(
            """UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_at = ?, attempts = attempts + 1,
                first_attempt_at = COALESCE(first_attempt_at, ?)
            WHERE id = ? AND status = 'pending'
              AND channel_id NOT IN (SELECT channel_id FROM subscriptions WHERE paused_at IS NOT NULL)""",
            (owner, at, at, entry_id))
        return self.entry(entry_id) if cur.rowcount == 1 else None

    def unclaim(self, entry_id: int) -> None:
        """A claimed post that was certainly not posted (refused, or its channel paused) waits again."""
        self.conn.execute("UPDATE outbox SET status = 'pending', claimed_by = NULL WHERE id = ? AND status = 'sending'",
                          (entry_id,))

    def abandoned_claims(self, owner: str | None = None) -> int:
        """Claims of a process that died (or of `owner`, stopping): they may be on Discord, so they
        go back to pending with their first attempt kept, and the courier checks before re-sending."""
        q = "UPDATE outbox SET status = 'pending', claimed_by = NULL WHERE status = 'sending'"
        cur = self.conn.execute(q + (" AND claimed_by = ?" if owner else ""), (owner,) if owner else ())
        return cur.rowcount

    def held_without_digest(self) -> list[tuple[int, int]]:
        """(entry id, channel id) of held posts in channels that have no digest to carry them."""
        return self.conn.execute(
            """SELECT id, channel_id FROM outbox WHERE status = 'held'
            AND channel_id NOT IN (SELECT channel_id FROM subscriptions WHERE kind = 'digest') ORDER BY id""").fetchall()

    def mark_sent(self, entry_id: int, message_id: int, at: float) -> None:
        """Durable: an acknowledged delivery survives a power loss."""
        self._durable("UPDATE outbox SET status = 'sent', message_id = ?, sent_at = ?, error = NULL WHERE id = ?",
                      (message_id, at, entry_id))

    def update_status(self, entry_id: int, old: str, new: str) -> bool:
        return self.conn.execute("UPDATE outbox SET status = ? WHERE id = ? AND status = ?", (new, entry_id, old)).rowcount == 1

    def mark(self, entry_id: int, status: str, error: str | None = None) -> None:
        self.conn.execute("UPDATE outbox SET status = ?, error = ? WHERE id = ?", (status, error, entry_id))

    def retry_later(self, entry_id: int, at: float, error: str) -> None:
        self.conn.execute("UPDATE outbox SET status = 'pending', claimed_by = NULL, next_try_at = ?, error = ? WHERE id = ?",
                          (at, error, entry_id))

    def sent_since(self, channel_id: int, since: float, kinds: Sequence[str] = ("images", "news")) -> int:
        q = (f"SELECT COUNT(*) FROM outbox WHERE channel_id = ? AND sent_at >= ? AND status = 'sent'"
             f" AND kind IN ({','.join('?' * len(kinds))})")
        return self.conn.execute(q, (channel_id, since, *kinds)).fetchone()[0]

    def sent_groups(self, channel_id: int, since: float) -> list[tuple[str, float]]:
        """(group key, last sent_at) of the image posts sent to a channel since then."""
        return self.conn.execute(
            "SELECT grp, MAX(sent_at) FROM outbox WHERE channel_id = ? AND kind = 'images' AND status = 'sent'"
            " AND grp IS NOT NULL AND sent_at >= ? GROUP BY grp", (channel_id, since)).fetchall()

    def counts(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall())

    @staticmethod
    def _entry(r: tuple) -> OutboxEntry:
        return OutboxEntry(id=r[0], key=r[1], guild_id=r[2], channel_id=r[3], kind=r[4], payload=json.loads(r[5]),
                           nonce=r[6], status=r[7], attempts=r[8], message_id=r[9], first_attempt_at=r[10])

    # ------------------------------------------------------------ digests: one per channel per local day

    def last_digest(self, channel_id: int) -> tuple[str, float] | None:
        """(local date, covered up to) of the channel's newest digest."""
        return self.conn.execute(
            "SELECT local_date, covered_to FROM digests WHERE channel_id = ? ORDER BY covered_to DESC LIMIT 1",
            (channel_id,)).fetchone()

    def has_digest(self, channel_id: int, local_date: str) -> bool:
        return self.conn.execute("SELECT 1 FROM digests WHERE channel_id = ? AND local_date = ?",
                                 (channel_id, local_date)).fetchone() is not None

    def record_digest(self, channel_id: int, local_date: str, covered_from: float, covered_to: float, outbox_id: int,
                      held_ids: Sequence[int]) -> None:
        self.conn.execute("INSERT INTO digests VALUES (?, ?, ?, ?, ?)", (channel_id, local_date, covered_from, covered_to, outbox_id))
        if held_ids:
            q = f"UPDATE outbox SET status = 'digested' WHERE id IN ({','.join('?' * len(held_ids))})"
            self.conn.execute(q, list(held_ids))

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
        with self.transaction():
            # A delivered post is on Discord: after the hour its budget looks back on, only its key,
            # status and whether it carried a product matter; its text and picture list go (most of
            # the file's size at 100 channels). The row stays until sent_days, guarding its key.
            removed["payloads"] = self.conn.execute(
                """UPDATE outbox SET payload = json_object('product', json_extract(payload, '$.product'))
                WHERE status IN ('sent', 'digested', 'cancelled', 'failed') AND COALESCE(sent_at, created_at) < ?
                AND length(payload) > 40""", (now - 3600,)).rowcount
            removed["outbox"] = self.conn.execute(
                "DELETE FROM outbox WHERE status IN ('sent', 'digested', 'cancelled', 'failed')"
                " AND COALESCE(sent_at, created_at) < ?", (now - sent_days * 86400,)).rowcount
            removed["blobs"] = self.conn.execute(
                f"""DELETE FROM blobs WHERE hash NOT IN (
                    SELECT json_extract(f.value, '$[1]') FROM outbox, json_each(outbox.payload, '$.files') AS f
                    WHERE outbox.status IN ({','.join('?' * len(UNSENT))}))""", UNSENT).rowcount
            removed["polls"] = self.conn.execute(
                """DELETE FROM polls WHERE finished_at IS NOT NULL AND dispatched_at IS NOT NULL AND finished_at < ?
                AND id NOT IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY source ORDER BY id DESC) AS n
                                               FROM polls) WHERE n <= 50)""", (now - poll_days * 86400,)).rowcount
            cutoff = datetime.fromtimestamp(now - image_days * 86400, tz=timezone.utc).isoformat()
            old = "received_utc IS NOT NULL AND received_utc < ? AND COALESCE(seen_at, 0) < ?"
            self.conn.execute(f"DELETE FROM sol_fetches WHERE (mission, sol) IN (SELECT mission, sol FROM images WHERE {old})",
                              (cutoff, now - image_days * 86400))
            removed["images"] = self.conn.execute(f"DELETE FROM images WHERE {old}", (cutoff, now - image_days * 86400)).rowcount
            # Frame geometry is a cache for assembling products: a week covers every sequence still
            # arriving and the recent sols people ask /panorama about. A sol whose frames go is
            # marked unfetched, so a later /panorama or /sol reads NASA again.
            frames_before = now - min(image_days, FRAME_DAYS) * 86400
            self.conn.execute("DELETE FROM sol_fetches WHERE (sol) IN (SELECT DISTINCT sol FROM frames WHERE seen_at < ?)",
                              (frames_before,))
            removed["frames"] = self.conn.execute("DELETE FROM frames WHERE seen_at < ?", (frames_before,)).rowcount
        # hand the freed pages back: the file shrinks (executescript steps the pragma to completion;
        # execute() would free a single page)
        self.conn.executescript("PRAGMA incremental_vacuum;")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed

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

    def get(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO state VALUES (?, ?) ON CONFLICT DO UPDATE SET value = excluded.value", (key, value)
        )

    def delete(self, key: str) -> None:
        self.conn.execute("DELETE FROM state WHERE key = ?", (key,))

    def rover_position(self, mission: str) -> str | None:
        """The last end-of-drive position the drives cycle saw (JSON; bot/drives.py reads it)."""
        return self.get(f"drives.position:{mission}")

    def put_rover_position(self, mission: str, position_json: str) -> None:
        self.put(f"drives.position:{mission}", position_json)

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
