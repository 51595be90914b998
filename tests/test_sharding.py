"""Gateway shards (issue 13): `roverbot run --shards 0-3 --shard-count 16` runs those shards in one
process, and several processes together cover every shard. Real `roverbot run` processes against
the Discord stand-in, which speaks sharding as Discord does (GET /gateway/bot, IDENTIFY's `shard`,
each server's events only on its shard's socket, close code 4011); counted at the stand-in."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from bot import cli
from bot.config import ConfigError, parse
from bot.models import Shards
from tests.discord_standin import DiscordStandIn


def _env(ds: DiscordStandIn | None, token: str = "shard-test-token") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "ROVERBOT_"))}
    if ds is not None:
        env.update(DISCORD_TOKEN=token, DISCORD_API_BASE=ds.api_base, DISCORD_GATEWAY_URL=ds.gateway_url)
    return env


def _config(tmp_path: Path, name: str, nasa_url: str, discord: str = "") -> Path:
    """A config of its own for one process, with its own SQLite file (one process per SQLite file)."""
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'[nasa]\nbase_url = "{nasa_url}"\nretries = 0\nimage_hosts = ["127.0.0.1"]\n[news]\nfeeds = []\n'
        f'[maps]\nbase_url = "{nasa_url}"\ntile_hosts = ["127.0.0.1"]\n'
        f'[storage]\ndatabase = "{tmp_path / f"{name}.sqlite3"}"\n' + (f"[discord]\n{discord}\n" if discord else ""))
    return path


def _start(tmp_path: Path, ds: DiscordStandIn, config: Path, name: str, *args: str, token: str) -> subprocess.Popen:
    log = open(tmp_path / f"{name}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "run", *args], env=_env(ds, token),
                            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)


def _log(tmp_path: Path, name: str) -> str:
    return (tmp_path / f"{name}.log").read_text()


def _wait(predicate, timeout: float, what: str, tmp_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(tmp_path.glob("*.log")))
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def _stop(procs) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@pytest.fixture
def sharded_discord():
    ds = DiscordStandIn(shards=2).start()
    yield ds
    ds.stop()


def _identified(ds: DiscordStandIn) -> dict[str, list[tuple[int, int]]]:
    """Which shards each token (so each process) identified, one IDENTIFY per socket."""
    out: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for d in list(ds.identifies):
        out[d["token"]].append(tuple(d.get("shard") or (0, 1)))
    return dict(out)


def test_two_processes_each_run_their_own_shard(tmp_path, sharded_discord, nasa_standin):
    ds = sharded_discord
    for shard in (0, 1, 0, 1):
        ds.add_guild(f"a server on shard {shard}", shard=(shard, 2))
    on_shard = {s: [g for g in ds.guilds if ds.shard_of(g, 2) == s] for s in (0, 1)}
    procs = {
        0: _start(tmp_path, ds, _config(tmp_path, "p0", nasa_standin.url), "p0", "--shards", "0", "--shard-count", "2",
                  token="token-of-p0"),
        1: _start(tmp_path, ds, _config(tmp_path, "p1", nasa_standin.url), "p1", "--shards", "1", "--shard-count", "2",
                  token="token-of-p1"),
    }
    try:
        for s in (0, 1):
            _wait(lambda: "connected as" in _log(tmp_path, f"p{s}"), 15, f"process {s} ready", tmp_path)
        # each process identified once, with its own shard only, and both sockets are live at once
        assert _identified(ds) == {"token-of-p0": [(0, 2)], "token-of-p1": [(1, 2)]}
        assert sorted(ds.socket_shards.values()) == [(0, 2), (1, 2)]
        for s in (0, 1):
            log = _log(tmp_path, f"p{s}")
            assert f"running shards {s} of 2" in log
            assert f"to {len(on_shard[s])} guild(s) on shards {s} of 2" in log  # only its shard's servers
        # a command in a server on shard 1 is answered by process 1: process 0 is frozen meanwhile
        guild = on_shard[1][0]
        payload = ds.command("help", channel=ds.guilds[guild]["system_channel"])
        procs[0].send_signal(signal.SIGSTOP)
        try:
            ds.call(ds.send_dispatch("INTERACTION_CREATE", payload))
            _wait(lambda: ds.calls("POST", f"/interactions/{payload['id']}/.*/callback"), 10, "the answer", tmp_path)
        finally:
            procs[0].send_signal(signal.SIGCONT)
        assert len(ds.calls("POST", f"/interactions/{payload['id']}/.*/callback")) == 1
    finally:
        _stop(procs.values())
    for s, p in procs.items():
        log = _log(tmp_path, f"p{s}")
        assert p.returncode == 0 and "stopped cleanly" in log and "Traceback" not in log, log[-2000:]


def test_without_shard_settings_one_process_runs_every_shard_discord_recommends(tmp_path, sharded_discord, nasa_standin):
    ds = sharded_discord
    ds.add_guild("on shard 1", shard=(1, 2))
    proc = _start(tmp_path, ds, _config(tmp_path, "all", nasa_standin.url), "all", token="token-of-all")
    try:
        # discord.py identifies a process's second shard 5 s after its first
        _wait(lambda: "connected as" in _log(tmp_path, "all"), 18, "every shard ready", tmp_path)
        assert ds.calls("GET", "/gateway/bot")
        assert sorted(_identified(ds)["token-of-all"]) == [(0, 2), (1, 2)]
        assert "running shards 0,1 of 2 (the count Discord recommends)" in _log(tmp_path, "all")
        assert f"to {len(ds.guilds)} guild(s)" in _log(tmp_path, "all")
    finally:
        _stop([proc])
    assert proc.returncode == 0, _log(tmp_path, "all")[-2000:]


def test_too_few_shards_for_discord_is_one_line(tmp_path, nasa_standin):
    """Discord closes a session over too many servers with 4011 (2,500; the stand-in here: 1)."""
    ds = DiscordStandIn(shards=2, max_guilds_per_shard=1).start()
    try:
        ds.add_guild("another server on shard 0", shard=(0, 1))
        r = subprocess.run([sys.executable, "-m", "bot", "--config", str(_config(tmp_path, "few", nasa_standin.url)),
                            "run", "--shard-count", "1"], env=_env(ds), capture_output=True, text=True, cwd=tmp_path,
                           timeout=60)
    finally:
        ds.stop()
    assert r.returncode == cli.EXIT_FAILED, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("roverbot: Discord requires more shards (gateway close code 4011") and "shard_count" in last
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args, says", [
    (["--shards", "5", "--shard-count", "4"], "roverbot: --shards '5': shards 5 are outside 0-3"),
    (["--shards", "0-1"], "roverbot: --shards '0-1' needs --shard-count (or discord.shard_count)"),
    (["--shards", "two", "--shard-count", "4"], "roverbot: --shards 'two': 'two' is not a shard id or a range like 0-3"),
    (["--shards", "0", "--shard-count", "many"], "roverbot: --shard-count wants a whole number of shards"),
    (["--shard-count", "-2"], "roverbot: --shard-count must be a whole number of shards from 0"),
])
def test_bad_shard_options_exit_with_one_line(tmp_path, args, says):
    r = subprocess.run([sys.executable, "-m", "bot", "run", *args], env=_env(None), capture_output=True, text=True,
                       cwd=tmp_path, timeout=60)
    assert r.returncode == cli.EXIT_FAILED
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith(says), r.stderr
    assert not list(tmp_path.iterdir())  # stopped before touching anything


def test_config_file_shards_parse():
    assert parse({"discord": {"shards": "0-3,6", "shard_count": 16}}).shard_plan == Shards((0, 1, 2, 3, 6), 16)
    assert parse({"discord": {"shards": 1, "shard_count": 2}}).shard_plan == Shards((1,), 2)
    assert parse({"discord": {"shard_count": 3}}).shard_plan == Shards((0, 1, 2), 3)  # every shard, here
    assert parse({"discord": {"shards": "", "shard_count": 0}}).shard_plan is None  # Discord decides


@pytest.mark.parametrize("discord, says", [
    ({"shards": "0-1"}, "discord.shards '0-1' needs discord.shard_count"),
    ({"shards": "4", "shard_count": 4}, "discord.shards '4': shards 4 are outside 0-3"),
    ({"shards": "1-0", "shard_count": 4}, "discord.shards '1-0': shards 1-0 are outside 0-3"),
    ({"shards": ["0"], "shard_count": 4}, "discord.shards must be shard ids as text"),
    ({"shard_count": -1}, "discord.shard_count must be a whole number from 0"),
    ({"shard_count": "16"}, "discord.shard_count must be a whole number from 0"),
])
def test_bad_config_file_shards_name_the_key(discord, says):
    with pytest.raises(ConfigError) as e:
        parse({"discord": discord})
    assert str(e.value).startswith(says)


def test_bad_config_file_shards_stop_run_with_one_line(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[discord]\nshards = "0-1"\n')
    r = subprocess.run([sys.executable, "-m", "bot", "--config", str(config), "run"], env=_env(None),
                       capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == cli.EXIT_FAILED
    assert r.stderr.strip().startswith("roverbot: config: discord.shards '0-1' needs discord.shard_count")
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, shards, count", [
    ([], "1", 2),                                           # the config file's
    (["--shards", "0"], "0", 2),                            # --shards over discord.shards, its count kept
    (["--shards", "2-3", "--shard-count", "4"], "2-3", 4),  # both over both
    (["--shard-count", "0", "--shards", ""], "", 0),        # back to Discord's recommendation
])
def test_run_options_override_the_config_file(argv, shards, count):
    config = parse({"discord": {"shards": "1", "shard_count": 2}})
    args = cli.build_parser().parse_args(["run", *argv])
    got = cli.with_shard_options(args, config)
    assert (got.shards, got.shard_count) == (shards, count)


def test_options_that_clash_with_the_config_file_say_which_setting(tmp_path):
    config = parse({"discord": {"shards": "3", "shard_count": 4}})
    with pytest.raises(cli.CliError) as e:
        cli.with_shard_options(cli.build_parser().parse_args(["run", "--shard-count", "2"]), config)
    assert str(e.value) == "discord.shards '3': shards 3 are outside 0-1" and e.value.code == cli.EXIT_FAILED
