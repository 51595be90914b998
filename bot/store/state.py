"""Small named values: watermarks, baselines, settings per server, the rover's last position."""

from __future__ import annotations

from bot.store.database import Database


class State:
    def __init__(self, db: Database):
        self.db = db

    def get(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO state VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value)
        )

    def delete(self, key: str) -> None:
        self.db.execute("DELETE FROM state WHERE key = ?", (key,))

    def rover_position(self, mission: str) -> str | None:
        """The last end-of-drive position the drives cycle saw (JSON; bot/drives.py reads it)."""
        return self.get(f"drives.position:{mission}")

    def put_rover_position(self, mission: str, position_json: str) -> None:
        self.put(f"drives.position:{mission}", position_json)
