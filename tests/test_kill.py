"""SIGKILL at each step of a polling cycle and of a digest, on the real `roverbot run` process:
after a restart every post that was due is delivered exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from bot.mars import cameras
BASELINE_KEY, WATERMARK_KEY = "images.baseline_at", "images.received_watermark"  # Perseverance's poll state
from bot.store import Store
from tests.nasa_standin import make_record, serve_images

STEPS = ["poll:stored", "poll:queued", "send:images", "digest:queued", "send:digest"]


def _start(tmp_path, discord_standin, config, crashpoint: str | None, log_name: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "ROVERBOT_"))}
    env.update(DISCORD_TOKEN="kill-test-token", DISCORD_API_BASE=discord_standin.api_base,
               DISCORD_GATEWAY_URL=discord_standin.gateway_url)
    if crashpoint:
        env["ROVERBOT_CRASHPOINT"] = crashpoint
    log = open(tmp_path / log_name, "w")
    return subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "run"], env=env, cwd=tmp_path,
                            stdout=log, stderr=subprocess.STDOUT)


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.fault("Process", "SIGKILL at each step of a poll and of a digest (stored, queued, sent-but-unrecorded)",
                   "after restart every due post is delivered exactly once")
@pytest.mark.parametrize("step", STEPS)
def test_sigkill_then_restart_delivers_exactly_once(tmp_path, discord_standin, nasa_standin, step):
    now = datetime.now(timezone.utc)
    db = tmp_path / "roverbot.sqlite3"
    store = Store.open(db)
    store.state.put(BASELINE_KEY, str((now - timedelta(days=1)).timestamp()))
    store.state.put(WATERMARK_KEY, (now - timedelta(hours=1)).isoformat())
    general = discord_standin.general.id
    store.subscriptions.subscribe(discord_standin.guild_id, general, "images", mission="mars2020", at=(now - timedelta(hours=2)).timestamp())
    due = (now - timedelta(minutes=2)).strftime("%H:%M")
    store.subscriptions.subscribe(discord_standin.guild_id, general, "digest", mission="mars2020", digest_time=due, timezone="UTC",
                    at=(now - timedelta(days=2)).timestamp())
    store.close()
    recs = [make_record(2050, "MCZ_LEFT", n=i, sequence="ZCAM09000", host=nasa_standin.url,
                        received=now - timedelta(minutes=10) + timedelta(seconds=i)) for i in range(3)]
    serve_images(nasa_standin, recs)
    nasa_standin.records += recs
    config = tmp_path / "config.toml"
    config.write_text(f'[maps]\nbase_url = "{nasa_standin.url}"\ntile_hosts = ["127.0.0.1"]\n[nasa]\nbase_url = "{nasa_standin.url}"\nretries = 0\nimage_hosts = ["127.0.0.1"]\n'
                      f'[news]\nfeeds = []\n[storage]\ndatabase = "{db}"\n[posting]\ngroup_wait_minutes = 0\n')

    first = _start(tmp_path, discord_standin, config, step, "first.log")
    try:
        first.wait(timeout=60)
    except subprocess.TimeoutExpired:
        first.kill()
        raise AssertionError(f"the crashpoint {step} was never reached:\n{(tmp_path / 'first.log').read_text()[-3000:]}")
    assert first.returncode == -signal.SIGKILL

    second = _start(tmp_path, discord_standin, config, None, "second.log")
    try:
        messages = discord_standin.general.messages
        image_posts = lambda: [m for m in messages if "New from Perseverance" in (m["content"] or "")]  # noqa: E731
        digests = lambda: [m for m in messages if m["embeds"] and "digest" in m["embeds"][0].get("title", "")]  # noqa: E731
        _wait(lambda: image_posts() and digests(), 60, "the image post and the digest after the restart")
        time.sleep(4)  # let any duplicate show itself
    finally:
        second.send_signal(signal.SIGINT)
        second.wait(timeout=30)
    assert len(image_posts()) == 1 and len(digests()) == 1, [m["content"] for m in messages]
    assert "3 pictures" in image_posts()[0]["content"]
    store = Store.open(db)
    try:
        assert {e.status for e in store.outbox.entries()} == {"sent"}
        assert len(store.outbox.entries()) == 2
    finally:
        store.close()
    assert second.returncode == 0
