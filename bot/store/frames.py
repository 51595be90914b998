"""Each picture's geometry as NASA's record gave it: what panoramas, 3D views and movies are made from."""

from __future__ import annotations

import json
from typing import Sequence

from bot.store.database import Database

FRAME_DAYS = 7  # how long frame geometry is kept (see prune)
# What of a feed record assembly needs (bot/imagery/frames.py): geometry and rendition URLs, not text.
FRAME_FIELDS = ("imageid", "sol", "camera", "extended", "image_files", "sample_type", "date_taken_utc", "date_received",
                "attitude", "site", "drive")

class Frames:
    def __init__(self, db: Database):
        self.db = db

    # ------------------------------------------------------------ frames: geometry for products

    def record_frames(self, records: Sequence[dict], exposures: set[str] | None, seen_at: float, *, polled: bool) -> int:
        """Keep the geometry of these feed records (only those of `exposures`, when given)."""
        from bot.sources.parse import exposure_of

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
            self.db.executemany("""INSERT INTO frames VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (image_id) DO UPDATE
                SET record = excluded.record, polled = CASE WHEN excluded.polled > frames.polled THEN excluded.polled ELSE frames.polled END""", rows)
        return len(rows)

    def frame_records(self, sol: int, sequence: str | None = None, codes: Sequence[str] = ()) -> list[dict]:
        q, args = "SELECT record FROM frames WHERE sol = ?", [sol]
        if sequence is not None:
            q += " AND sequence = ?"
            args.append(sequence)
        if codes:
            q += f" AND instrument IN ({','.join('?' * len(codes))})"
            args += list(codes)
        return [json.loads(r[0]) for r in self.db.execute(q + " ORDER BY image_id", args)]

    def frame_count(self, sol: int, codes: Sequence[str] = ()) -> int:
        q, args = "SELECT COUNT(*) FROM frames WHERE sol = ?", [sol]
        if codes:
            q += f" AND instrument IN ({','.join('?' * len(codes))})"
            args += list(codes)
        return self.db.execute(q, args).fetchone()[0]

    def frame_sequences_seen_between(self, start: float, end: float) -> list[tuple[int, str]]:
        return self.db.execute("SELECT DISTINCT sol, sequence FROM frames WHERE seen_at >= ? AND seen_at < ? AND polled = 1"
                                 " AND sequence != ''"
                                 " ORDER BY sol, sequence", (start, end)).fetchall()
