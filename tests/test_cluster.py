"""Three `roverbot run` processes on one PostgreSQL database and one sharded Discord stand-in
(issue 13): a digest fan-out to 3,000 channels with the leader SIGKILLed mid-way. Every channel
gets its digest exactly once, another process takes the lead, nobody exceeds Discord's global
limit, and `roverbot status` shows every process. Real processes, a real PostgreSQL server, real
HTTP and gateway sockets; counted at the Discord stand-in."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.store import Store
from tests.discord_standin import DiscordStandIn

SHARDS = 3
GUILDS_PER_SHARD = 10
CHANNELS_PER_GUILD = 100  # 3 x 10 x 100 = 3,000 channels, each with a daily digest
GLOBAL_LIMIT = 50  # Discord's global limit per bot, enforced by the stand-in across every process


def start(tmp_path: Path, ds: DiscordStandIn, config: Path, shards: str, name: str, count: int = SHARDS) -> subprocess.Popen:
    """`roverbot run --shards … --shard-count …` as its own process (bench/cluster.py uses it too)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "ROVERBOT_", "PG"))}
    env.update(DISCORD_TOKEN="cluster-test-token", DISCORD_API_BASE=ds.api_base, DISCORD_GATEWAY_URL=ds.gateway_url)
    log = open(tmp_path / f"{name}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "run", "--shards", shards,
                             "--shard-count", str(count)], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)


def digest_servers(ds: DiscordStandIn, dsn: str, shards: int = SHARDS, guilds: int = GUILDS_PER_SHARD,
                   channels: int = CHANNELS_PER_GUILD) -> list[int]:
    """Servers on every shard, each channel with a daily digest due since midnight UTC: every
    process starts with all of them owed. Returns the channel ids."""
    now = datetime.now(timezone.utc)
    out: list[int] = []
    store = Store.open(dsn)
    try:
        for shard in range(shards):
            for g in range(guilds):
                guild = ds.add_guild(f"server {shard}.{g}", shard=(shard, shards))
                for c in range(channels):
                    ch = ds.add_channel(f"mars-{c}", guild_id=guild)
                    out.append(ch.id)
                    store.subscriptions.subscribe(guild, ch.id, "digest", mission="mars2020", digest_time="00:00",
                                                  timezone="UTC", at=(now - timedelta(days=2)).timestamp())
    finally:
        store.close()
    return out


def wait(predicate, timeout: float, what: str, logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(logs.glob("p*.log")))
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def write_config(tmp_path: Path, dsn: str, nasa_url: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[nasa]\nbase_url = "{nasa_url}"\nretries = 0\nimage_hosts = ["127.0.0.1"]\n[news]\nfeeds = []\n'
        f'[maps]\nbase_url = "{nasa_url}"\ntile_hosts = ["127.0.0.1"]\n'
        f'[storage]\nurl = "{dsn}"\n[cluster]\nbeat_seconds = 2\nlease_seconds = 6\n'
        f'[posting]\ngroup_wait_minutes = 0\nsends_per_second = 48\n')
    return config


@pytest.fixture
def cluster_discord():
    ds = DiscordStandIn(shards=SHARDS, rate_limit_per_second=GLOBAL_LIMIT).start()
    yield ds
    ds.stop()


@pytest.mark.fault("Process", "three processes on PostgreSQL; the leader SIGKILLed mid-way through a 3,000-channel digest",
                   "every channel gets its digest once; another process leads; never over the global limit")
def test_three_processes_deliver_every_digest_once_when_the_leader_dies(tmp_path, pg_server, cluster_discord,
                                                                         nasa_standin):
    ds = cluster_discord
    dsn = pg_server.create_database(f"cluster_{os.getpid()}")
    channels = digest_servers(ds, dsn)
    config = write_config(tmp_path, dsn, nasa_standin.url)
    procs = {shard: start(tmp_path, ds, config, str(shard), f"p{shard}") for shard in range(SHARDS)}
    digests = lambda: [m for ch in channels for m in ds.channels[ch].messages]  # noqa: E731
    try:
        wait(lambda: len(digests()) >= 1000, 180, "a third of the digests", tmp_path)
        store = Store.open(dsn)
        leader = store.cluster.leader()
        assert leader is not None
        pid = int(leader.rsplit(":", 1)[1])
        [killed] = [s for s, p in procs.items() if p.pid == pid]
        procs[killed].send_signal(signal.SIGKILL)
        kill_at = time.monotonic()
        procs[killed].wait(timeout=10)
        at_kill = len(digests())
        assert at_kill < len(channels), "the fan-out finished before the leader could be killed"
        wait(lambda: len(digests()) >= len(channels), 240, "every channel's digest", tmp_path)
        time.sleep(6)  # a duplicate, if any, has time to show itself
        new_leader = store.cluster.leader(time.time())
        report = subprocess.run([sys.executable, "-m", "bot", "--config", str(config), "status", "--json"],
                                capture_output=True, text=True, timeout=60, cwd=tmp_path,
                                env={k: v for k, v in os.environ.items() if not k.startswith(("ROVERBOT_", "PG"))})
        store.close()
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        pg_server.drop_database(f"cluster_{os.getpid()}")
    per_channel = Counter(m["channel_id"] for m in digests())
    assert len(per_channel) == len(channels), f"{len(channels) - len(per_channel)} channels got no digest"
    assert max(per_channel.values()) == 1, f"doubled: {[c for c, n in per_channel.items() if n > 1][:5]}"
    assert all(m["embeds"][0]["title"].startswith("Perseverance daily digest") for m in digests()[:50])
    assert new_leader is not None and new_leader != leader
    limited = [r for r in ds.requests if r.get("limited")]
    assert not limited, f"{len(limited)} requests over Discord's global limit, the first {limited[0]['at'] - kill_at:+.1f} s from the kill"
    status = json.loads(report.stdout)
    live = [p for p in status["processes"] if p["seconds_since_heartbeat"] < 10]
    assert len(live) == 2 and sum(p["leader"] for p in status["processes"]) == 1
    assert {p["shards"] for p in live} == {f"{s} of {SHARDS}" for s in range(SHARDS) if s != killed}
