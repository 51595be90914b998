"""Processes sharing one database: who is alive, which shards each runs, and who leads.

The leader lease is a row, not an engine feature, so SQLite and PostgreSQL behave alike: the
holder renews it; anyone takes it once it has expired. Taking and renewing are one statement
(an upsert whose UPDATE applies only to its holder or to an expired lease), so two processes
can never both hold it. A process is alive while its heartbeat is recent; the work of a dead
one (its shards' posts, its claims) is picked up by the living.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.models import Shards
from bot.store.database import Database

LEADER = "leader"


@dataclass(frozen=True)
class Process:
    name: str
    shards: str
    shard_ids: tuple[int, ...]  # () = every shard
    shard_count: int
    started_at: float
    heartbeat_at: float
    send_rate: float


class Cluster:
    def __init__(self, db: Database):
        self.db = db

    def beat(self, name: str, shards: Shards | None, at: float, *, send_rate: float = 0.0) -> None:
        ids = "|".join(map(str, shards.ids)) if shards and not shards.everything else ""
        label = str(shards) if shards and not shards.everything else "all"
        self.db.execute(
            "INSERT INTO processes (name, shards, shard_ids, shard_count, started_at, heartbeat_at, send_rate)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET heartbeat_at = excluded.heartbeat_at,"
            " shards = excluded.shards, shard_ids = excluded.shard_ids, shard_count = excluded.shard_count,"
            " send_rate = excluded.send_rate",
            (name, label, ids, shards.count if shards else 1, at, at, send_rate))

    def leave(self, name: str) -> None:
        """A clean stop: gone from the list at once, and its lease free for the next leader."""
        self.db.execute("DELETE FROM processes WHERE name = ?", (name,))
        self.db.execute("DELETE FROM leases WHERE holder = ?", (name,))

    def processes(self) -> list[Process]:
        return [Process(r[0], r[1], tuple(int(x) for x in r[2].split("|") if x), int(r[3]), r[4], r[5], r[6])
                for r in self.db.execute("SELECT name, shards, shard_ids, shard_count, started_at, heartbeat_at,"
                                         " send_rate FROM processes ORDER BY name")]

    def alive(self, at: float, within: float) -> list[Process]:
        return [p for p in self.processes() if at - p.heartbeat_at <= within]

    def forget_dead(self, at: float, older_than: float) -> int:
        """Processes silent for long (killed, machine gone): off the list."""
        return self.db.execute("DELETE FROM processes WHERE heartbeat_at < ?", (at - older_than,)).rowcount

    def hold(self, name: str, holder: str, at: float, ttl: float, *, force: bool = False) -> bool:
        """Take or renew a lease; True if `holder` has it until at + ttl. `force`: take it whoever
        holds it (a process that knows it is alone: SQLite's file lock)."""
        row = self.db.execute(
            "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE"
            " SET holder = excluded.holder, expires_at = excluded.expires_at"
            " WHERE leases.holder = excluded.holder OR leases.expires_at < ? OR ? = 1 RETURNING holder",
            (name, holder, at + ttl, at, int(force))).fetchone()
        return row is not None and row[0] == holder

    def leader(self, at: float | None = None) -> str | None:
        row = self.db.execute("SELECT holder, expires_at FROM leases WHERE name = ?", (LEADER,)).fetchone()
        if row is None or (at is not None and row[1] < at):
            return None
        return row[0]
