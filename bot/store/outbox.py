"""Posts recorded before they are sent, claimed while sending, and marked once sent; files by content hash."""

from __future__ import annotations

import hashlib
from typing import Sequence

from bot.models import GroupKey, OutboxEntry, Payload, PostKey, Shards
from bot.store.database import Database

_ENTRY_COLUMNS = "id, key, guild_id, channel_id, kind, payload, nonce, status, attempts, message_id, first_attempt_at"
# Posts that may still go out: their files must be kept.
UNSENT = ("pending", "held", "sending")


class Outbox:
    def __init__(self, db: Database):
        self.db = db

    # ------------------------------------------------------------ outbox: recorded before sent

    def put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.db.execute("INSERT INTO blobs VALUES (?, ?) ON CONFLICT DO NOTHING", (digest, data))
        return digest

    def blob(self, digest: str) -> bytes:
        row = self.db.execute("SELECT data FROM blobs WHERE hash = ?", (digest,)).fetchone()
        if row is None:
            raise KeyError(digest)
        return row[0]

    def enqueue(self, post_key: PostKey, guild_id: int, payload: Payload, at: float, status: str = "pending", *,
                not_before: float = 0.0, group: GroupKey | None = None) -> int | None:
        """Record a post to be sent; None if a post with this key exists (it is never made twice)."""
        key, channel_id, kind = str(post_key), post_key.channel_id, post_key.kind
        nonce = hashlib.sha256(key.encode()).hexdigest()[:25]  # Discord's nonce: at most 25 characters
        cur = self.db.execute(
            "INSERT INTO outbox (key, guild_id, channel_id, kind, payload, nonce, status, created_at, next_try_at, grp)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            (key, guild_id, channel_id, kind, payload.to_json(), nonce, status, at, not_before,
             None if group is None else str(group)),
        )
        row = cur.fetchone()
        return row[0] if row else None

    def open_group(self, channel_id: int, group: GroupKey) -> tuple[int, Payload, float] | None:
        """An unsent post of this group that may still change: (id, payload, created_at).

        Only a post never claimed for sending: once a send was attempted it may be on Discord,
        and changing it would lose pictures (inside the nonce window Discord returns the old
        message) or double them (after it).
        """
        row = self.db.execute(
            "SELECT id, payload, created_at FROM outbox WHERE channel_id = ? AND grp = ? AND status IN ('pending', 'held')"
            " AND first_attempt_at IS NULL ORDER BY id DESC LIMIT 1", (channel_id, str(group))).fetchone()
        return (row[0], Payload.from_json(row[1]), row[2]) if row else None

    def update_payload(self, entry_id: int, payload: Payload, not_before: float | None = None) -> bool:
        """Change a post that was never claimed for sending; False if it was claimed meanwhile."""
        cur = self.db.execute(
            "UPDATE outbox SET payload = ?, next_try_at = COALESCE(?, next_try_at) WHERE id = ?"
            " AND status IN ('pending', 'held') AND first_attempt_at IS NULL",
            (payload.to_json(), not_before, entry_id))
        return cur.rowcount == 1

    def settled_image_posts(self, at: float) -> list[tuple[int, int, GroupKey, Payload]]:
        """Image posts due to go out, never attempted, not yet looked at for a product:
        (id, channel, group, payload)."""
        rows = self.db.execute(
            f"""SELECT id, channel_id, grp, payload FROM outbox WHERE kind = 'images' AND status = 'pending'
            AND first_attempt_at IS NULL AND next_try_at <= ? AND grp IS NOT NULL
            AND {self.db.json_field('payload', 'product')} IS NULL ORDER BY id""", (at,)).fetchall()
        return [(r[0], r[1], GroupKey.parse(r[2]), Payload.from_json(r[3])) for r in rows]

    def products_posted(self, channel_id: int, group: GroupKey) -> int:
        """How many posts of this group in this channel carry (or will carry) a product."""
        return self.db.execute(
            f"""SELECT COUNT(*) FROM outbox WHERE channel_id = ? AND grp = ? AND status NOT IN ('cancelled', 'failed')
            AND COALESCE({self.db.json_field('payload', 'product')}, '') != ''""", (channel_id, str(group))).fetchone()[0]

    def due(self, at: float, limit: int = 100, shards: Shards | None = None) -> list[OutboxEntry]:
        """Pending posts whose time has come, oldest first, skipping channels that are paused; with
        `shards`, only those of servers on them (Discord's formula: (guild_id >> 22) % count)."""
        only, args = "", [at]
        if shards is not None and not shards.everything:
            only = f" AND (guild_id / 4194304) % ? IN ({','.join('?' * len(shards.ids))})"
            args += [shards.count, *shards.ids]
        rows = self.db.execute(
            f"""SELECT {_ENTRY_COLUMNS} FROM outbox
            WHERE status = 'pending' AND next_try_at <= ?{only}
              AND channel_id NOT IN (SELECT channel_id FROM subscriptions WHERE paused_at IS NOT NULL)
            ORDER BY id LIMIT ?""",
            (*args, limit),
        )
        return [self._entry(r) for r in rows]

    def entries(self, *, channel_id: int | None = None, status: str | None = None, kind: str | None = None) -> list[OutboxEntry]:
        q = f"SELECT {_ENTRY_COLUMNS} FROM outbox WHERE 1=1"
        args: list = []
        for col, val in (("channel_id", channel_id), ("status", status), ("kind", kind)):
            if val is not None:
                q += f" AND {col} = ?"
                args.append(val)
        return [self._entry(r) for r in self.db.execute(q + " ORDER BY id", args)]

    def entry(self, entry_id: int) -> OutboxEntry | None:
        row = self.db.execute(f"SELECT {_ENTRY_COLUMNS} FROM outbox WHERE id = ?", (entry_id,)).fetchone()
        return self._entry(row) if row else None

    def claim(self, entry_id: int, owner: str, at: float) -> OutboxEntry | None:
        """Take a due post for sending, atomically: two couriers can never both have it. None if
        it is not pending any more, or its channel was paused since the batch was read. Durable
        before the send: after a power loss the post is still known to be possibly on Discord."""
        cur = self.db.durable(
            """UPDATE outbox SET status = 'sending', claimed_by = ?, claimed_at = ?, attempts = attempts + 1,
                first_attempt_at = COALESCE(first_attempt_at, ?)
            WHERE id = ? AND status = 'pending'
              AND channel_id NOT IN (SELECT channel_id FROM subscriptions WHERE paused_at IS NOT NULL)""",
            (owner, at, at, entry_id))
        return self.entry(entry_id) if cur.rowcount == 1 else None

    def unclaim(self, entry_id: int) -> None:
        """A claimed post that was certainly not posted (refused, or its channel paused) waits again."""
        self.db.execute("UPDATE outbox SET status = 'pending', claimed_by = NULL WHERE id = ? AND status = 'sending'",
                          (entry_id,))

    def abandoned_claims(self, owner: str | None = None, *, alive: Sequence[str] | None = None) -> int:
        """Claims of a process that died (or of `owner`, stopping; or of everyone not `alive`): they
        may be on Discord, so they go back to pending with their first attempt kept, and the
        courier checks the channel before re-sending."""
        q, args = "UPDATE outbox SET status = 'pending', claimed_by = NULL WHERE status = 'sending'", []
        if owner:
            q, args = q + " AND claimed_by = ?", [owner]
        elif alive:
            q, args = q + f" AND COALESCE(claimed_by, '') NOT IN ({','.join('?' * len(alive))})", list(alive)
        return self.db.execute(q, args).rowcount

    def held_without_digest(self) -> list[tuple[int, int]]:
        """(entry id, channel id) of held posts in channels that have no digest to carry them."""
        return self.db.execute(
            """SELECT id, channel_id FROM outbox WHERE status = 'held'
            AND channel_id NOT IN (SELECT channel_id FROM subscriptions WHERE kind = 'digest') ORDER BY id""").fetchall()

    def mark_sent(self, entry_id: int, message_id: int, at: float) -> None:
        """Durable: an acknowledged delivery survives a power loss."""
        self.db.durable("UPDATE outbox SET status = 'sent', message_id = ?, sent_at = ?, error = NULL WHERE id = ?",
                      (message_id, at, entry_id))

    def update_status(self, entry_id: int, old: str, new: str) -> bool:
        return self.db.execute("UPDATE outbox SET status = ? WHERE id = ? AND status = ?", (new, entry_id, old)).rowcount == 1

    def mark(self, entry_id: int, status: str, error: str | None = None) -> None:
        self.db.execute("UPDATE outbox SET status = ?, error = ? WHERE id = ?", (status, error, entry_id))

    def retry_later(self, entry_id: int, at: float, error: str) -> None:
        self.db.execute("UPDATE outbox SET status = 'pending', claimed_by = NULL, next_try_at = ?, error = ? WHERE id = ?",
                          (at, error, entry_id))

    def sent_since(self, channel_id: int, since: float, kinds: Sequence[str] = ("images", "news")) -> int:
        q = (f"SELECT COUNT(*) FROM outbox WHERE channel_id = ? AND sent_at >= ? AND status = 'sent'"
             f" AND kind IN ({','.join('?' * len(kinds))})")
        return self.db.execute(q, (channel_id, since, *kinds)).fetchone()[0]

    def sent_groups(self, channel_id: int, since: float) -> list[tuple[str, float]]:
        """(group key, last sent_at) of the image posts sent to a channel since then."""
        return self.db.execute(
            "SELECT grp, MAX(sent_at) FROM outbox WHERE channel_id = ? AND kind = 'images' AND status = 'sent'"
            " AND grp IS NOT NULL AND sent_at >= ? GROUP BY grp", (channel_id, since)).fetchall()

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall())

    @staticmethod
    def _entry(r: tuple) -> OutboxEntry:
        return OutboxEntry(id=r[0], key=r[1], guild_id=r[2], channel_id=r[3], kind=r[4], payload=Payload.from_json(r[5]),
                           nonce=r[6], status=r[7], attempts=r[8], message_id=r[9], first_attempt_at=r[10])
