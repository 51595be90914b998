"""What each channel asked for: images, news, drives or a daily digest."""

from __future__ import annotations

from typing import Sequence

from bot.store.database import Database
from bot.models import Subscription


class Subscriptions:
    def __init__(self, db: Database):
        self.db = db

    # ------------------------------------------------------------ subscriptions

    _SUB_COLUMNS = ("id, guild_id, channel_id, kind, camera, codes, digest_time, timezone, role_id, created_at,"
                    " paused_at, paused_reason, threads, webhook_name, webhook_avatar, mission")

    def subscribe(self, guild_id: int, channel_id: int, kind: str, *, mission: str, camera: str = "", codes: Sequence[str] = (),
                  digest_time: str = "09:00", timezone: str = "UTC", role_id: int | None = None, at: float,
                  threads: str = "", webhook_name: str | None = None, webhook_avatar: str | None = None) -> Subscription:
        """A new subscription, unless the same one exists: same channel, kind, rover, camera and role
        (a channel has one digest, of one rover or, with mission '', of every rover). Then its
        settings change and its history (created_at) stays."""
        with self.db.transaction():
            if kind == "digest":
                row = self.db.execute("SELECT id FROM subscriptions WHERE channel_id = ? AND kind = 'digest'",
                                        (channel_id,)).fetchone()
            else:
                row = self.db.execute(
                    "SELECT id FROM subscriptions WHERE channel_id = ? AND kind = ? AND mission = ? AND camera = ?"
                    " AND COALESCE(role_id, 0) = ?", (channel_id, kind, mission, camera, role_id or 0)).fetchone()
            values = (camera, "|".join(codes), digest_time, timezone, role_id, threads, webhook_name, webhook_avatar, mission)
            if row is None:
                sub_id = self.db.execute(
                    """INSERT INTO subscriptions (camera, codes, digest_time, timezone, role_id, threads, webhook_name,
                    webhook_avatar, mission, guild_id, channel_id, kind, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    RETURNING id""", (*values, guild_id, channel_id, kind, at)).fetchone()[0]
            else:
                sub_id = row[0]
                self.db.execute(
                    """UPDATE subscriptions SET camera = ?, codes = ?, digest_time = ?, timezone = ?, role_id = ?,
                    threads = ?, webhook_name = ?, webhook_avatar = ?, mission = ?, paused_at = NULL, paused_reason = NULL
                    WHERE id = ?""", (*values, sub_id))
        sub = self.subscription_by_id(sub_id)
        assert sub is not None
        return sub

    def unsubscribe(self, channel_id: int, kind: str) -> bool:
        """Every subscription of this kind in the channel (what /unsubscribe kind: did before ids)."""
        subs = self.find(channel_id=channel_id, kind=kind)
        return bool([s for s in subs if self.unsubscribe_id(s.id)])

    def unsubscribe_id(self, sub_id: int, guild_id: int | None = None) -> Subscription | None:
        """Remove one subscription (of this server, when given); returns what was removed."""
        sub = self.subscription_by_id(sub_id)
        if sub is None or (guild_id is not None and sub.guild_id != guild_id):
            return None
        with self.db.transaction():
            self.db.execute("DELETE FROM subscriptions WHERE id = ?", (sub_id,))
            # Posts not yet sent for it are unwanted now, unless another subscription of the
            # channel still wants that kind (its posts are shared, one per picture per channel).
            if not self.db.execute("SELECT 1 FROM subscriptions WHERE channel_id = ? AND kind = ?",
                                     (sub.channel_id, sub.kind)).fetchone():
                self.db.execute("UPDATE outbox SET status = 'cancelled' WHERE channel_id = ? AND kind = ?"
                                  " AND status IN ('pending', 'held')", (sub.channel_id, sub.kind))
        return sub

    def subscription_by_id(self, sub_id: int) -> Subscription | None:
        row = self.db.execute(f"SELECT {self._SUB_COLUMNS} FROM subscriptions WHERE id = ?", (sub_id,)).fetchone()
        return self._sub(row) if row else None

    def subscription(self, channel_id: int, kind: str) -> Subscription | None:
        """The channel's (oldest) subscription of a kind."""
        row = self.db.execute(f"SELECT {self._SUB_COLUMNS} FROM subscriptions WHERE channel_id = ? AND kind = ?"
                                " ORDER BY id LIMIT 1", (channel_id, kind)).fetchone()
        return self._sub(row) if row else None

    def find(self, *, kind: str | None = None, guild_id: int | None = None, channel_id: int | None = None,
             active: bool | None = None, mission: str | None = None) -> list[Subscription]:
        q = f"SELECT {self._SUB_COLUMNS} FROM subscriptions WHERE 1=1"
        args: list = []
        for col, val in (("kind", kind), ("guild_id", guild_id), ("channel_id", channel_id), ("mission", mission)):
            if val is not None:
                q += f" AND {col} = ?"
                args.append(val)
        if active is not None:
            q += " AND paused_at IS NULL" if active else " AND paused_at IS NOT NULL"
        return [self._sub(r) for r in self.db.execute(q + " ORDER BY id", args)]

    def pause(self, channel_id: int, reason: str, at: float) -> list[Subscription]:
        """Pause every subscription of a channel (never delete); returns those newly paused."""
        newly = [s for s in self.find(channel_id=channel_id, active=True)]
        self.db.execute("UPDATE subscriptions SET paused_at = ?, paused_reason = ? WHERE channel_id = ? AND paused_at IS NULL",
                          (at, reason, channel_id))
        return newly

    def resume(self, channel_id: int) -> None:
        self.db.execute("UPDATE subscriptions SET paused_at = NULL, paused_reason = NULL WHERE channel_id = ?", (channel_id,))

    @staticmethod
    def _sub(r: tuple) -> Subscription:
        return Subscription(id=r[0], guild_id=r[1], channel_id=r[2], kind=r[3], camera=r[4],
                            codes=tuple(c for c in r[5].split("|") if c), digest_time=r[6], timezone=r[7], role_id=r[8],
                            created_at=r[9], paused_at=r[10], paused_reason=r[11], threads=r[12], webhook_name=r[13],
                            webhook_avatar=r[14], mission=r[15])
