"""Pictures seen (one row per exposure, newest version) and which sols were fetched when."""

from __future__ import annotations

import functools
from typing import Iterable, Sequence

from bot.store.database import Database, _dt, _iso
from bot.mars import rovers
from bot.models import RoverImage

_IMAGE_COLUMNS = (
    "exposure_id, image_id, mission, sol, instrument, family, sequence, version, tiles, taken_utc, lmst,"
    " received_utc, title, caption, credit, small, medium, large, full_res, link"
)

@functools.cache
def _family_of(mission: str, instrument: str) -> str:
    rover = rovers.BY_MISSION.get(mission)
    return rover.catalogue.family_of(instrument) if rover is not None else instrument


def _family(image: RoverImage) -> str:
    """A picture's camera family, by its own rover's catalogue (stored with it for grouping);
    a few dozen (rover, camera) pairs exist, so each is looked up once."""
    return _family_of(image.mission, image.instrument)


class Images:
    def __init__(self, db: Database):
        self.db = db

    def versions(self, exposure_ids: Iterable[str], *, polled_only: bool = False) -> dict[str, int]:
        """exposure id -> stored version, for the ids already known (to a poll, with polled_only)."""
        ids = list(exposure_ids)
        out: dict[str, int] = {}
        extra = " AND first_poll IS NOT NULL" if polled_only else ""
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            q = f"SELECT exposure_id, version FROM images WHERE exposure_id IN ({','.join('?' * len(chunk))}){extra}"
            out.update(self.db.execute(q, chunk).fetchall())
        return out

    def record(self, images: Sequence[RoverImage], poll_id: int | None = None, seen_at: float | None = None) -> int:
        """Insert new exposures and upgrade stored ones to newer versions; returns rows written.

        A poll id marks what a poll saw first: an image fetched earlier by a command is still new
        to the poller, so commands never swallow an automatic post.
        """
        rows = [
            (i.exposure_id, i.image_id, i.mission, i.sol, i.instrument, _family(i),
             i.sequence, i.version, i.tiles, _iso(i.taken_utc), i.lmst, _iso(i.received_utc), i.title, i.caption,
             i.credit, i.small, i.medium, i.large, i.full_res, i.link, poll_id, seen_at if poll_id else None)
            for i in images
        ]
        if not rows:
            return 0
        with self.db.transaction():
            self.db.executemany(
                f"""INSERT INTO images ({_IMAGE_COLUMNS}, first_poll, seen_at) VALUES ({','.join('?' * 22)})
                ON CONFLICT (exposure_id) DO UPDATE SET
                    first_poll = COALESCE(images.first_poll, excluded.first_poll),
                    seen_at = COALESCE(images.seen_at, excluded.seen_at),
                    tiles = CASE WHEN excluded.tiles > images.tiles THEN excluded.tiles ELSE images.tiles END,
                    version = CASE WHEN excluded.version > images.version THEN excluded.version ELSE images.version END,
                    image_id = CASE WHEN excluded.version > images.version THEN excluded.image_id ELSE images.image_id END,
                    small = CASE WHEN excluded.version > images.version THEN excluded.small ELSE images.small END,
                    medium = CASE WHEN excluded.version > images.version THEN excluded.medium ELSE images.medium END,
                    large = CASE WHEN excluded.version > images.version THEN excluded.large ELSE images.large END,
                    full_res = CASE WHEN excluded.version > images.version THEN excluded.full_res ELSE images.full_res END
                """,
                rows,
            )
        return len(rows)

    def of_sol(self, mission: str, sol: int, codes: Sequence[str] = (), *, offset: int = 0,
               limit: int = -1, newest_first: bool = False) -> list[RoverImage]:
        """A sol's pictures in the order they were taken, or newest first (a slice, for one gallery page)."""
        where, args = self._sol_filter(mission, sol, codes)
        order = "taken_utc DESC, exposure_id DESC" if newest_first else "taken_utc, exposure_id"
        q = f"SELECT {_IMAGE_COLUMNS} FROM images WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
        # no limit: the largest a 64-bit LIMIT takes (SQLite reads -1 as none, PostgreSQL refuses it)
        return [self._image(r) for r in self.db.execute(q, [*args, limit if limit >= 0 else 2**62, offset])]

    def count(self, mission: str, sol: int, codes: Sequence[str] = ()) -> int:
        where, args = self._sol_filter(mission, sol, codes)
        return self.db.execute(f"SELECT COUNT(*) FROM images WHERE {where}", args).fetchone()[0]

    @staticmethod
    def _sol_filter(mission: str, sol: int, codes: Sequence[str]) -> tuple[str, list]:
        where = "mission = ? AND sol = ?"
        if codes:
            where += f" AND instrument IN ({','.join('?' * len(codes))})"
        return where, [mission, sol, *codes]

    def first_seen_by(self, poll_id: int) -> list[RoverImage]:
        q = f"SELECT {_IMAGE_COLUMNS} FROM images WHERE first_poll = ? ORDER BY sol, taken_utc, exposure_id"
        return [self._image(r) for r in self.db.execute(q, (poll_id,))]

    def seen_between(self, mission: str, start: float, end: float, codes: Sequence[str] = ()) -> list[RoverImage]:
        """A rover's pictures a poll first saw in [start, end): what a digest covers."""
        q = f"SELECT {_IMAGE_COLUMNS} FROM images WHERE mission = ? AND seen_at >= ? AND seen_at < ?"
        args: list = [mission, start, end]
        if codes:
            q += f" AND instrument IN ({','.join('?' * len(codes))})"
            args += list(codes)
        return [self._image(r) for r in self.db.execute(q + " ORDER BY sol, taken_utc, exposure_id", args)]

    def image_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM images").fetchone()[0]

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
        row = self.db.execute(
            "SELECT MAX(fetched_at) FROM sol_fetches WHERE mission = ? AND sol = ? AND cameras IN (?, '')",
            (mission, sol, cameras),
        ).fetchone()
        return row[0]

    def mark_sol_fetched(self, mission: str, sol: int, cameras: str, at: float) -> None:
        self.db.execute(
            "INSERT INTO sol_fetches VALUES (?, ?, ?, ?) ON CONFLICT (mission, sol, cameras) DO UPDATE SET fetched_at = excluded.fetched_at",
            (mission, sol, cameras, at),
        )

    def images_by_exposure(self, exposure_ids: Sequence[str]) -> list[RoverImage]:
        out: list[RoverImage] = []
        ids = list(exposure_ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            q = f"SELECT {_IMAGE_COLUMNS} FROM images WHERE exposure_id IN ({','.join('?' * len(chunk))})"
            out += [self._image(r) for r in self.db.execute(q, chunk)]
        return out
