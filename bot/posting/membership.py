"""This process among the others sharing the database (PostgreSQL; with SQLite it is alone).

Every beat (its own job, every cluster.beat_seconds, so a long delivery never silences it) it says it is alive and which shards it runs, takes or
renews the leader lease, releases the claims of processes that stopped beating (a successor
re-sends them after looking in the channel, so nothing is sent twice), and sets its share of
Discord's global send limit: the shards it delivers for, as a fraction of all shards, of the
limit less every process's burst, announced in the log whenever it changes. The shares of the
processes add up to at most the limit; a new process starts with the share of its own shards,
so joining never pushes the sum over it.

Only the leader polls NASA and composes digests. Each process delivers the posts of servers on
its own shards, plus its share of the shards no live process runs (a dead process's work).
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime
from typing import Callable

from bot.models import Shards
from bot.store import Cluster, Outbox
from bot.store.cluster import LEADER

log = logging.getLogger("roverbot.cluster")

BEAT_SECONDS = 30.0  # the delivery cycle's interval
LEASE_SECONDS = 90.0  # a leader silent this long is replaced: well inside two poll intervals (10 min each)
ALIVE_WITHIN = 90.0
BURST = 1  # a clustered process's token-bucket burst (posting/delivery.py Pacer)
DISCORD_GLOBAL_LIMIT = 50.0  # requests per second per bot, across every process (Discord's documented limit)
FORGET_AFTER = 86400.0  # a process silent for a day leaves the status list


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Membership:
    def __init__(self, cluster: Cluster, outbox: Outbox, *, clock: Callable[[], datetime], shards: Shards | None,
                 global_rate: float, name: str | None = None, on_rate: Callable[[float], None] | None = None,
                 lease_seconds: float = LEASE_SECONDS, alive_within: float = ALIVE_WITHIN,
                 on_lead: Callable[[], None] | None = None, alone: bool = False):
        self.cluster = cluster
        self.outbox = outbox
        self.clock = clock
        self.shards = shards  # None: every shard (one process, or Discord's own count)
        self.global_rate = global_rate
        self.name = name or process_name()
        self.on_rate = on_rate  # tells the courier's pacer its share
        self.lease_seconds = lease_seconds
        self.alive_within = alive_within
        self.on_lead = on_lead  # taking over: finish what a dead leader left (its unfinished polls)
        self.alone = alone  # SQLite: the file lock makes this the only process; older rows are dead ones
        self.rate = self._share(shards.count // max(1, len(shards.ids)) if shards else 1,
                                len(shards.ids) / shards.count if shards else 1.0)
        self._leading = False
        self._serving: Shards | None = shards
        self._since = self.now()  # shards nobody runs are adopted only once the others had time to say so
        self._orphans: list[int] = []

    def now(self) -> float:
        return self.clock().timestamp()

    def beat(self) -> None:
        now = self.now()
        self.cluster.beat(self.name, self.shards, now, send_rate=self.rate)
        self.leading()
        alive = [p for p in self.cluster.alive(now, self.alive_within) if not self.alone or p.name == self.name]
        released = 0 if self.alone else self.outbox.abandoned_claims(alive=[p.name for p in alive] or [self.name])
        if released:
            log.warning("%d post(s) claimed by a process that stopped are pending again (each is looked for in "
                        "its channel before any re-send)", released)
        self.cluster.forget_dead(now, FORGET_AFTER)
        self._serving = self._shards_to_serve(alive)
        served = self._serving
        share = self._share(len(alive), len(served.ids) / served.count if served else 1.0)
        if abs(share - self.rate) > 1e-9:
            log.info("sending at %.1f/s: %s of the shards, with %d live process(es) under Discord's %.0f/s global"
                     " limit", share, str(served) if served else "all", len(alive), self.global_rate)
            self.rate = share
        if self.on_rate is not None:
            self.on_rate(self.rate)

    def _share(self, processes: int, fraction: float) -> float:
        """This process's sends per second: its fraction of the configured rate, less what the
        processes' token-bucket bursts (each can send BURST at once on top of its rate) could add
        beyond the headroom the configured rate leaves under Discord's limit. Alone: all of it."""
        if self.alone:
            return self.global_rate
        headroom = max(0.0, DISCORD_GLOBAL_LIMIT - self.global_rate)
        reserve = max(0.0, max(1, processes) * BURST - headroom)
        return max(0.5, (self.global_rate - reserve) * fraction)

    def leading(self) -> bool:
        """Whether this process polls and composes now: the lease is renewed on the way."""
        was = self._leading
        now = self.now()
        self._leading = self.cluster.hold(LEADER, self.name, now, self.lease_seconds, force=self.alone)
        if self._leading and not was:
            log.info("%s leads: it polls NASA and composes digests", self.name)
            if self.on_lead is not None:
                self.on_lead()
        elif was and not self._leading:
            log.warning("%s lost the leader lease to %s", self.name, self.cluster.leader(now))
        return self._leading

    def serving(self) -> Shards | None:
        """The shards whose servers' posts this process delivers (None: all)."""
        return self._serving

    def _shards_to_serve(self, alive) -> Shards | None:
        if self.shards is None or self.shards.everything:
            return None
        count = self.shards.count
        if self.now() - self._since < self.alive_within:
            return self.shards  # just started: a process that has not beaten yet is not dead
        covered = {i for p in alive if p.shard_count == count for i in (p.shard_ids or range(count))}
        orphans = sorted(set(range(count)) - covered)
        names = sorted(p.name for p in alive) or [self.name]
        mine = [s for k, s in enumerate(orphans) if names[k % len(names)] == self.name]
        if mine != self._orphans:
            self._orphans = mine
            if mine:
                log.info("delivering for shard(s) %s too: no live process runs them", ",".join(map(str, mine)))
        return Shards(tuple(sorted({*self.shards.ids, *mine})), count)

    def leave(self) -> None:
        """A clean stop: off the list, and the lease free for the next leader at once."""
        self.cluster.leave(self.name)
