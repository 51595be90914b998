"""Keeping the bot's own house: finishing what a stopped process left half done, and retention."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Callable

from bot.store import Database, Outbox, Polls, Retention, State

log = logging.getLogger("roverbot.automation")


class Upkeep:
    def __init__(self, polls: Polls, outbox: Outbox, state: State, retention: Retention, db: Database, *,
                 clock: Callable[[], datetime], keep: tuple[float, float, float] = (7, 14, 30)):
        self.polls = polls
        self.outbox = outbox
        self.state = state
        self.retention = retention
        self.db = db
        self.clock = clock
        self.keep = keep  # days: sent posts, finished polls, stored pictures

    def now(self) -> float:
        return self.clock().timestamp()

    def recover(self, *, alone: bool) -> None:
        """At start: what a stopped or killed process left half done. Its unfinished polls are
        finished (their finds get dispatched); its claimed posts wait again, marked as possibly on
        Discord, so the courier checks the channel before re-sending. `alone`: this process holds
        the database lock (SQLite), so every claim is a dead process's; on a shared database only
        the claims of processes that stopped beating are (Membership releases those as it beats)."""
        polls = self.polls.interrupted_polls(self.now()) if alone else 0
        claims = self.outbox.abandoned_claims() if alone else 0
        if polls or claims:
            log.warning("recovered after an interrupted run: %d unfinished poll(s), %d post(s) that may already be"
                        " on Discord (checked before any re-send)", polls, claims)

    def take_over(self) -> None:
        """Becoming the leader on a shared database: the previous leader's unfinished polls are
        finished now (it stopped beating), so their finds get dispatched."""
        polls = self.polls.interrupted_polls(self.now())
        if polls:
            log.warning("took over %d unfinished poll(s) from the previous leader", polls)

    async def retention_cycle(self) -> dict[str, int]:
        removed = self.retention.prune(self.now(), sent_days=self.keep[0], poll_days=self.keep[1], image_days=self.keep[2])
        last = float(self.state.get("retention.compacted_at") or 0)
        if self.now() - last >= 86400:  # once a day: give the trimmed payloads' space back to the disk
            self.state.put("retention.compacted_at", str(self.now()))
            await asyncio.to_thread(self.db.compact)
        if any(removed.values()):
            log.info("retention: removed %s; database now %.1f MB", ", ".join(f"{v} {k}" for k, v in removed.items() if v),
                     self.db.size_bytes() / 1e6)
        return removed
