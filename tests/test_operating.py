"""Operating roverbot as an operator would: real subprocesses, real files, real signals.

One `run` per database, a clean stop on SIGTERM in the middle of a poll, one clear line when Discord
or the database is not usable, options where the README puts them, no stray files.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.mars import rovers
from tests.conftest import rover_gallery
from tests.nasa_standin import Fault, make_record
from tests.test_cli import AT, _config, roverbot
from tests.test_discord_run import _env

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _start_run(tmp_path: Path, config: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot", "--config", str(config), "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)


def _wait(predicate, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.kill()
    out, _ = proc.communicate(timeout=30)
    return out


@pytest.mark.fault("Process", "a second `roverbot run` on the same database", "refused with one line; a SIGKILLed one leaves no stuck lock")
def test_one_run_per_database_and_a_killed_one_leaves_no_lock(tmp_path, discord_standin, nasa_standin):
    config = _config(tmp_path, nasa_standin.url)
    first = _start_run(tmp_path, config, _env(discord_standin))
    try:
        _wait(lambda: discord_standin.identifies, what="the first bot's IDENTIFY")
        second = subprocess.run([sys.executable, "-m", "bot", "--config", str(config), "run"], env=_env(discord_standin),
                                capture_output=True, text=True, cwd=tmp_path, timeout=60)
        assert second.returncode == 4
        assert second.stderr.count("\n") == 1 and "already using" in second.stderr and f"pid {first.pid}" in second.stderr
        # poll --once beside the running bot cannot take its cycles either
        poll = roverbot(tmp_path, nasa_standin.url, "poll", "--once", "--at", AT)
        assert poll.returncode == 4 and "already using" in poll.stderr
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        # the kernel dropped the lock with the process: the next start is not refused
        again = _start_run(tmp_path, config, _env(discord_standin))
        try:
            _wait(lambda: len(discord_standin.identifies) >= 2, what="the restarted bot's IDENTIFY")
            assert again.poll() is None
        finally:
            again.send_signal(signal.SIGTERM)
            out = again.communicate(timeout=30)[0]
        assert again.returncode == 0, out
    finally:
        _stop(first)


@pytest.mark.fault("Process", "SIGTERM while a NASA poll is in flight", "stopped within 10 s, exit 0, no traceback; the cycle is redone next start")
def test_sigterm_during_a_poll_stops_cleanly_and_the_cycle_is_redone(tmp_path, discord_standin, nasa_standin):
    config = _config(tmp_path, nasa_standin.url)
    db = tmp_path / "db.sqlite3"
    env = _env(discord_standin)
    run = _start_run(tmp_path, config, env)  # the first start records the baseline
    _wait(lambda: _polls(db, finished=True) >= 1, what="the baseline poll")
    run.send_signal(signal.SIGTERM)
    run.communicate(timeout=30)
    nasa_standin.records += [make_record(1994, "NAVCAM_LEFT", n=900 + i) for i in range(3)]
    nasa_standin.faults.append(Fault(delay=60.0))  # the next feed request hangs: a poll stays in flight
    run = _start_run(tmp_path, config, env)
    try:
        _wait(lambda: _polls(db, finished=False) >= 1, what="a poll in flight")
        t0 = time.monotonic()
        run.send_signal(signal.SIGTERM)
        out = run.communicate(timeout=30)[0]
        took = time.monotonic() - t0
    finally:
        _stop(run)
    assert run.returncode == 0 and took < 10, (took, out)
    assert "Traceback" not in out and "ERROR" not in out and "stopped cleanly" in out
    # the interrupted cycle is finished as interrupted on the next start, and polled again
    nasa_standin.faults.clear()
    run = _start_run(tmp_path, config, env)
    try:
        _wait(lambda: _polls(db, finished=True, ok=True) >= 2, what="the redone poll")
    finally:
        run.send_signal(signal.SIGTERM)
        run.communicate(timeout=30)
    with sqlite3.connect(db) as conn:
        errors = [r[0] for r in conn.execute("SELECT error FROM polls WHERE error IS NOT NULL")]
        stored = conn.execute("SELECT COUNT(*) FROM images WHERE first_poll IS NOT NULL AND sol = 1994 AND image_id LIKE '%'").fetchone()[0]
    assert any("interrupted" in e for e in errors) and stored >= 3


def _polls(db: Path, *, finished: bool, ok: bool = False) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            q = "SELECT COUNT(*) FROM polls WHERE source = 'images' AND finished_at IS " + ("NOT NULL" if finished else "NULL")
            if ok:
                q += " AND error IS NULL"
            return conn.execute(q).fetchone()[0]
    except sqlite3.Error:
        return 0


class _Silent:
    """A TCP server that accepts connections and never says a word (a hung proxy, a black hole)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.fault("Discord", "unreachable at start: refused, or accepting and never answering", "one line naming it within 30 s, its own exit code")
@pytest.mark.parametrize("how", ["refused", "silent REST", "silent gateway"])
def test_discord_unreachable_at_start_is_one_line(tmp_path, discord_standin, nasa_standin, how):
    silent = _Silent()
    try:
        env = _env(discord_standin)
        if how == "refused":
            env["DISCORD_API_BASE"] = f"http://127.0.0.1:{_free_port()}/api/v10"
        elif how == "silent REST":
            env["DISCORD_API_BASE"] = f"http://127.0.0.1:{silent.port}/api/v10"
        else:
            env["DISCORD_GATEWAY_URL"] = f"ws://127.0.0.1:{silent.port}/gateway"
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "bot", "--config", str(_config(tmp_path, nasa_standin.url)), "run"],
                           env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
        took = time.monotonic() - t0
    finally:
        silent.close()
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 5 and took < 30, (took, r.stderr[-500:])
    assert "Discord" in last and ("did not answer" in last or "could not reach" in last or "could not keep" in last)
    assert "unexpected error" not in r.stderr and "Traceback" not in r.stderr


@pytest.mark.fault("Storage", "an unusable database path", "one line naming storage.database and the path")
@pytest.mark.parametrize("trouble", ["a folder", "a corrupt file", "a read-only place", "a full disk"])
def test_database_trouble_is_one_line_naming_the_setting(tmp_path, nasa_standin, trouble):
    db = tmp_path / "data" / "db.sqlite3"
    mounted = None
    if trouble == "a folder":
        db.mkdir(parents=True)
    elif trouble == "a corrupt file":
        db.parent.mkdir()
        db.write_bytes(b"this is not a database" * 300)
    elif trouble == "a read-only place":
        if os.geteuid() == 0:
            db = Path("/sys/roverbot-test/db.sqlite3")  # sysfs: not even root may create files there
        else:
            db.parent.mkdir()
            db.parent.chmod(0o500)
    else:
        db.parent.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24k", "tmpfs", str(db.parent)], capture_output=True)
        if r.returncode != 0:
            pytest.skip("no tmpfs mount here to make a full disk")
        mounted = db.parent
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[maps]\nbase_url = "{nasa_standin.url}"\ntile_hosts = ["127.0.0.1"]\n[nasa]\nbase_url = "{nasa_standin.url}"\nretries = 0\n[storage]\ndatabase = "{db}"\n')
    try:
        r = subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), "poll", "--once", "--at", AT],
                           capture_output=True, text=True, cwd=tmp_path, timeout=60)
    finally:
        if mounted is not None:
            subprocess.run(["umount", str(mounted)], capture_output=True)
    assert r.returncode in (1, 4) and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("roverbot: ") and str(db.parent) in r.stderr and "Traceback" not in r.stderr
    if r.returncode == 1:
        assert r.stderr.startswith("roverbot: storage.database: ")
    if trouble == "a full disk":
        assert "full" in r.stderr


def test_global_options_work_before_or_after_the_subcommand(tmp_path, nasa_standin):
    cfg = _config(tmp_path, nasa_standin.url)
    nasa_standin.records += [make_record(3, "NAVCAM_LEFT", n=i) for i in range(2)]
    for args in (["--config", str(cfg), "--log-format", "json", "--log-level", "debug", "preview", "/sol 3", "--at", AT],
                 ["preview", "/sol 3", "--at", AT, "--config", str(cfg), "--log-format", "json", "--log-level", "debug"]):
        r = subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, cwd=tmp_path, timeout=60)
        assert r.returncode == 0 and "Sol 3" in r.stdout, r.stderr
        logged = [line for line in r.stderr.splitlines() if line.strip()]
        assert logged and all(line.startswith("{") for line in logged)  # --log-format json took effect


def test_commands_that_need_no_database_create_none(tmp_path, nasa_standin):
    nasa_standin.records += [make_record(3, "NAVCAM_LEFT", n=i) for i in range(2)]
    for args in (["preview", "/sol 3", "--at", AT], ["preview", "/now"], ["digest", "--date", "2026-09-30", "--at", AT],
                 ["status"]):
        roverbot(tmp_path, nasa_standin.url, *args)
    assert not list(tmp_path.glob("db.sqlite3*"))


def test_the_test_run_writes_no_tracked_file():
    """docs/reliability.md is rewritten only on request (pytest --write-reliability)."""
    from tests import conftest

    assert "--write-reliability" in Path(conftest.__file__).read_text()
    root = Path(__file__).parent.parent
    r = subprocess.run(["git", "status", "--porcelain", "--", "docs"], capture_output=True, text=True, cwd=root)
    assert r.returncode != 0 or r.stdout == ""


def test_healthcheck_fails_while_a_source_keeps_failing(tmp_path, nasa_standin):
    nasa_standin.faults.extend([Fault(status=503)] * 3)
    for _ in range(3):
        roverbot(tmp_path, nasa_standin.url, "poll", "--once", "--at", AT)
    with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
        conn.execute("INSERT OR REPLACE INTO state VALUES ('heartbeat', ?)", (str(time.time()),))
    r = roverbot(tmp_path, nasa_standin.url, "status", "--check")
    assert r.returncode == 1 and "unhealthy: images failing since" in r.stderr and "HTTP 503" in r.stderr


async def test_a_slash_command_has_its_own_nasa_budget_while_polls_keep_theirs(nasa_standin, store, catalogue, clock):
    """NASA hangs: /sol answers "NASA isn't answering" within its budget (18 s in the bot; 1.5 s
    here), although the client's own timeout and retries would wait minutes."""
    from bot import services
    from bot.config import Config
    from bot.answers.gallery import Gallery
    from bot.models import NasaUnavailable
    from bot.sources.nasa import NasaClient, make_http_client

    assert services.COMMAND_BUDGET_SECONDS <= 18  # + Discord's round trips: the user hears back within 20 s
    http = make_http_client("roverbot-tests (contact: tests@example.org)", 30)
    nasa = NasaClient(http, nasa_standin.url, retries=3, backoff_seconds=5)  # a poll's patience: minutes
    nasa_standin.faults.extend([Fault(delay=30.0)] * 4)
    gallery = rover_gallery(rovers.PERSEVERANCE, nasa.with_budget(1.5), store, clock, budget_seconds=1.5)
    t0 = time.monotonic()
    try:
        with pytest.raises(NasaUnavailable, match="isn't answering"):
            await gallery.sol(1994, "navcam")
    finally:
        await http.aclose()
    assert time.monotonic() - t0 < 3.0
    assert Config().timeout_seconds >= 30  # polls still wait for NASA's slow answers


async def test_nasa_retry_after_is_honoured(nasa_standin):
    from bot.sources.nasa import NasaClient, make_http_client

    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    nasa_standin.faults.append(Fault(status=429, headers={"Retry-After": "7"}))
    http = make_http_client("roverbot-tests (contact: tests@example.org)", 5)
    try:
        nasa = NasaClient(http, nasa_standin.url, retries=2, backoff_seconds=0.01, sleep=sleep)
        await nasa.raw_images(page=0)
    finally:
        await http.aclose()
    assert slept == [7.0]
