"""The bot as deployed: `roverbot sync` and `roverbot run` against the stand-ins, over the gateway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


from bot.chat import app
from tests.nasa_standin import make_record

SNAPSHOT = Path(__file__).parent / "snapshots" / "commands.json"
TOKEN = "MTIz.secret-token-for-tests.XYZ"


def _env(discord_standin, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISCORD_")}
    env.update(DISCORD_TOKEN=TOKEN, DISCORD_API_BASE=discord_standin.api_base,
               DISCORD_GATEWAY_URL=discord_standin.gateway_url, **extra)
    return env


def _shape(commands: list[dict]) -> list[dict]:
    """What a user sees of the commands: names, descriptions, options, ranges, autocomplete, permissions."""
    out = []
    for c in sorted(commands, key=lambda c: c["name"]):
        out.append({
            "name": c["name"], "description": c["description"],
            "default_member_permissions": c.get("default_member_permissions"),
            "contexts": c.get("contexts"),
            "options": [{k: o.get(k) for k in ("name", "description", "type", "required", "min_value", "max_value",
                                               "autocomplete", "choices", "channel_types")}
                        for o in c.get("options", [])],
        })
    return out


async def test_sync_registers_what_the_snapshot_says(discord_standin, config):
    registered = await app.sync(config, _env(discord_standin))
    [put] = discord_standin.calls("PUT", r"/applications/\d+/commands$")
    shape = _shape(put["json"])
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(shape, indent=2, ensure_ascii=False) + "\n")
    assert shape == json.loads(SNAPSHOT.read_text())
    assert {c.name for c in registered} == {c["name"] for c in shape}
    for c in put["json"]:
        assert 1 <= len(c["description"]) <= 100
        assert all(1 <= len(o["description"]) <= 100 for o in c.get("options", []))


async def test_sync_to_a_development_guild(discord_standin, config):
    from dataclasses import replace

    await app.sync(replace(config, dev_guild_id=discord_standin.guild_id), _env(discord_standin))
    assert discord_standin.calls("PUT", rf"/guilds/{discord_standin.guild_id}/commands$")
    assert not discord_standin.calls("PUT", r"/applications/\d+/commands$")


def test_missing_token_is_one_line_and_nonzero(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    r = subprocess.run([sys.executable, "-m", "bot", "run"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert r.returncode == 1 and r.stderr.strip() == (
        "roverbot: DISCORD_TOKEN is not set: put the bot's token in the environment (never in a file in the repo)")


def _wait(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_roverbot_run_answers_sol_3_navcam_over_the_gateway_and_stops_on_sigint(tmp_path, discord_standin, nasa_standin):
    nasa_standin.records += [make_record(3, "NAVCAM_LEFT", n=i) for i in range(6)]
    config = tmp_path / "config.toml"
    config.write_text(f'[maps]\nbase_url = "{nasa_standin.url}"\ntile_hosts = ["127.0.0.1"]\n[nasa]\nbase_url = "{nasa_standin.url}"\nretries = 0\n[storage]\ndatabase = "{tmp_path / "db.sqlite3"}"\n')
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "run"], env=_env(discord_standin),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        _wait(lambda: discord_standin.identifies, what="IDENTIFY")
        identify = discord_standin.identifies[0]
        assert identify["intents"] == 1  # GUILDS only: nothing privileged
        time.sleep(0.3)  # READY and GUILD_CREATE processed
        payload = discord_standin.command("sol", {"sol": 3, "camera": "navcam"})
        payload.pop("guild_id")  # a global command's data carries no guild id
        payload["guild_id"] = str(discord_standin.guild_id)
        discord_standin.call(discord_standin.send_dispatch("INTERACTION_CREATE", payload))
        _wait(lambda: discord_standin.calls("PATCH", "/messages/@original"), what="the gallery")
        body = discord_standin.calls("PATCH", "/messages/@original")[0]["json"]
        assert body["content"].startswith("**Sol 3 · Navcam** — 6 pictures")
        assert discord_standin.calls("POST", "/callback")[0]["json"]["type"] == 5
        assert not discord_standin.commands  # run does not re-sync
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert "stopped cleanly" in out and "Traceback" not in out
    status = subprocess.run([sys.executable, "-m", "bot", "--config", str(config), "status", "--json"], env=_env(discord_standin),
                            capture_output=True, text=True, cwd=tmp_path)
    written = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())  # the database, its WAL, the config
    for text in (out, status.stdout, status.stderr, written.decode("latin-1")):
        assert TOKEN not in text and "secret-token" not in text


def test_a_refused_token_is_one_line_and_never_echoed(tmp_path, discord_standin):
    from tests.discord_standin import Fault

    discord_standin.faults.append(Fault("GET", "/users/@me", 401, {"message": "401: Unauthorized", "code": 0}))
    r = subprocess.run([sys.executable, "-m", "bot", "--log-level", "debug", "run"], env=_env(discord_standin),
                       capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 1 and "Discord refused the token in DISCORD_TOKEN (401)" in r.stderr
    assert TOKEN not in r.stderr + r.stdout and "secret-token" not in r.stderr + r.stdout
