"""Several `roverbot run` processes on one PostgreSQL database (issue 13), measured at the Discord
stand-in, which enforces Discord's global limit (50 requests/s per bot, across every process):

- a daily digest to 3,000 channels (3 shards x 10 servers x 100 channels): three processes, one
  shard each, against the same fan-out from one process running every shard (the simple way);
  the bound is 3,000 / 50 = 60 s, the target within 1.15x of it, never over the limit;
- leader fail-over with the default settings (beat 30 s, lease 90 s): SIGKILL the leader, time
  until another process holds the lease (target: within two poll intervals, 20 min).
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bot.store import Store
from tests.discord_standin import DiscordStandIn
from tests.nasa_standin import NasaStandIn
from tests.pgserver import PgServer
from tests.test_cluster import digest_servers, start

Row = tuple[str, str, str, bool]
SHARDS, GUILDS, CHANNELS, LIMIT = 3, 10, 100, 50


def _config(tmp: Path, dsn: str, nasa: str, beat: int, lease: int) -> Path:
    path = tmp / f"config-{beat}-{lease}.toml"
    path.write_text(f'[nasa]\nbase_url = "{nasa}"\nretries = 0\nimage_hosts = ["127.0.0.1"]\n[news]\nfeeds = []\n'
                    f'[maps]\nbase_url = "{nasa}"\ntile_hosts = ["127.0.0.1"]\n[storage]\nurl = "{dsn}"\n'
                    f'[cluster]\nbeat_seconds = {beat}\nlease_seconds = {lease}\n[posting]\nsends_per_second = 48\n')
    return path


def _stop(procs) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def _fanout(tmp: Path, pg: PgServer, nasa: NasaStandIn, layout: list[str], label: str) -> tuple[float, int, int]:
    """(seconds from the first digest message to the last, messages over the limit, channels served twice)."""
    ds = DiscordStandIn(shards=SHARDS, rate_limit_per_second=LIMIT).start()
    name = f"fanout_{label}"
    dsn = pg.create_database(name)
    try:
        channels = digest_servers(ds, dsn, SHARDS, GUILDS, CHANNELS)
        config = _config(tmp, dsn, nasa.url, 30, 90)
        procs = [start(tmp, ds, config, shards, f"{label}{i}", SHARDS) for i, shards in enumerate(layout)]
        try:
            deadline = time.monotonic() + 600
            while sum(len(ds.channels[c].messages) for c in channels) < len(channels):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{label}: the fan-out did not finish")
                time.sleep(0.5)
        finally:
            _stop(procs)
        sends = [r for r in ds.requests if r["method"] == "POST" and r["path"].endswith("/messages")]
        delivered = [r["at"] for r in sends if not r.get("limited")]
        doubled = sum(1 for c in channels if len(ds.channels[c].messages) > 1)
        return max(delivered) - min(delivered), sum(1 for r in ds.requests if r.get("limited")), doubled
    finally:
        ds.stop()
        pg.drop_database(name)


def _failover(tmp: Path, pg: PgServer, nasa: NasaStandIn) -> float:
    ds = DiscordStandIn(shards=SHARDS).start()
    dsn = pg.create_database("failover")
    try:
        config = _config(tmp, dsn, nasa.url, 30, 90)
        procs = [start(tmp, ds, config, str(s), f"failover{s}", SHARDS) for s in range(SHARDS)]
        try:
            store = Store.open(dsn)
            deadline = time.monotonic() + 120
            while store.cluster.leader(time.time()) is None or len(store.cluster.processes()) < SHARDS:
                if time.monotonic() > deadline:
                    raise TimeoutError("no leader")
                time.sleep(0.5)
            leader = store.cluster.leader(time.time())
            [victim] = [p for p in procs if p.pid == int(leader.rsplit(":", 1)[1])]
            victim.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            while True:
                holder = store.cluster.leader(time.time())
                if holder is not None and holder != leader:
                    break
                if time.monotonic() - killed > 600:
                    raise TimeoutError("nobody took over")
                time.sleep(0.2)
            took = time.monotonic() - killed
            store.close()
        finally:
            _stop(procs)
        return took
    finally:
        ds.stop()
        pg.drop_database("failover")


def bench_cluster(tmp: Path) -> list[Row]:
    nasa = NasaStandIn(records=[]).start()
    try:
        with PgServer() as pg, tempfile.TemporaryDirectory() as work:
            work_dir = Path(work)
            bound = SHARDS * GUILDS * CHANNELS / LIMIT
            three, over3, dup3 = _fanout(work_dir, pg, nasa, ["0", "1", "2"], "three")
            one, over1, dup1 = _fanout(work_dir, pg, nasa, ["0-2"], "one")
            failover = _failover(work_dir, pg, nasa)
    finally:
        nasa.stop()
    return [
        ("digest to 3,000 channels, 3 processes: seconds / x the global-limit bound", f"{three:.1f} s / {three / bound:.2f}x",
         "<= 1.15x", three / bound <= 1.15),
        ("  the same from 1 process running every shard (the simple way)", f"{one:.1f} s / {one / bound:.2f}x", "", True),
        ("  requests over Discord's global limit (3 processes / 1 process)", f"{over3} / {over1}", "0", over3 == 0),
        ("  channels that got a second digest (3 processes / 1 process)", f"{dup3} / {dup1}", "0", dup3 == dup1 == 0),
        ("leader fail-over after SIGKILL (beat 30 s, lease 90 s)", f"{failover:.0f} s", "< 2 poll intervals (1,200 s)",
         failover < 1200),
    ]
