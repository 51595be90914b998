"""The real roverbot in a process of its own, driven step by step over a pipe by a benchmark.

Why a process: its memory (RSS, peak RSS) is then the bot's alone, measured from outside in
/proc/<pid>/status, not mixed with the stand-ins or the harness; and it can be SIGKILLed mid-cycle
like a crashed host, with no cleanup code running.

The bot runs on a simulated clock: each step carries `now` (epoch seconds) and the cycles to run,
the way bot/schedule.py would call them. Sends are paced at the bot's own rate
(Config.sends_per_second) against a Discord stand-in enforcing Discord's global limit in real time.
At start it calls Automation.recover(), as RoverBot.setup_hook does with automate=True.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


class Clock:
    def __init__(self, ts: float):
        self.now = datetime.fromtimestamp(ts, tz=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def set(self, ts: float) -> None:
        self.now = datetime.fromtimestamp(ts, tz=timezone.utc)


async def retention(auto) -> dict[str, int]:
    """The scheduled retention, exactly the bot's job (Automation.retention_cycle: prune, and the
    daily compaction); the soak calls it once a simulated day."""
    return await auto.retention_cycle()


def _serve(conn, settings: dict) -> None:
    asyncio.run(_main(conn, settings))


async def _main(conn, s: dict) -> None:
    import logging

    logging.basicConfig(level=logging.CRITICAL)
    logging.getLogger("roverbot").setLevel(logging.CRITICAL)  # injected faults are expected
    logging.getLogger("discord").setLevel(logging.CRITICAL)
    from bot.chat import app
    from bot import services
    from bot.config import Config

    clock = Clock(s["now"])
    cfg = dict(s["config"])
    cfg["database"] = Path(cfg["database"])
    for k in ("news_feeds", "image_hosts", "tile_hosts"):
        if k in cfg:
            cfg[k] = tuple(cfg[k])
    config = Config(**cfg)
    app.apply_endpoints({"DISCORD_API_BASE": s["api_base"], "DISCORD_GATEWAY_URL": s["gateway_url"]})
    loop = asyncio.get_running_loop()
    async with services.build(config, clock) as svc:
        svc.nasa.backoff_seconds = 0.001
        rover = app.RoverBot(svc, guild_ready_timeout=0.1)
        runner = asyncio.create_task(rover.start("bench-token"))
        await asyncio.wait_for(rover.wait_until_ready(), 60)
        auto = rover.automation
        auto.recover()  # what setup_hook does at every start (automate=True)
        conn.send(("ok", {"pid": os.getpid()}))
        while True:
            op, args = await loop.run_in_executor(None, conn.recv)
            try:
                if "now" in args:
                    clock.set(args["now"])
                out: Any = None
                if op == "subscribe":
                    for ch, kind, extra in args["subs"]:
                        svc.store.subscriptions.subscribe(args["guild_id"], ch, kind, mission="mars2020", at=clock.now.timestamp(), **extra)
                elif op == "step":
                    t0 = time.perf_counter()
                    out = {}
                    if args.get("images"):
                        r = await auto.images_cycle()
                        out["images"] = (r.new, r.queued, r.error)
                    if args.get("news"):
                        await auto.news_cycle()
                    if args.get("digest"):
                        out["digests"] = await auto.digest_cycle()
                    if args.get("delivery", True):
                        out["sent"] = await auto.delivery_cycle()
                    if args.get("prune"):
                        out["pruned"] = await retention(auto)
                    out["wall"] = time.perf_counter() - t0
                elif op == "stats":
                    db = svc.store.db
                    out = {"status": dict(db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall()),
                           "images": svc.store.images.image_count(),
                           "backlog": svc.store.state.get("images.backlog") is not None,
                           "size_bytes": svc.store.db.size_bytes()}
                elif op == "close":
                    await rover.close()
                    runner.cancel()
                    conn.send(("ok", None))
                    return
                else:
                    raise ValueError(op)
                conn.send(("ok", out))
            except Exception:
                conn.send(("error", traceback.format_exc()))


@dataclass
class BotProcess:
    """The harness's handle on a bot process."""

    settings: dict
    proc: Any = None
    conn: Any = None
    busy: bool = False
    starts: list[float] = field(default_factory=list)

    def start(self, timeout: float = 90) -> "BotProcess":
        """A fresh interpreter (`python -m bench.botproc`), connected back over a Unix socket: nothing
        of the harness is inherited, whatever the harness's main module is."""
        import json
        import subprocess
        import sys
        import tempfile
        from multiprocessing.connection import Listener

        root = Path(__file__).resolve().parent.parent
        folder = tempfile.mkdtemp(prefix="roverbot-bot-")
        address = os.path.join(folder, "pipe")
        settings = os.path.join(folder, "settings.json")
        Path(settings).write_text(json.dumps(self.settings))
        t0 = time.perf_counter()
        with Listener(address, family="AF_UNIX") as listener:
            listener._listener._socket.settimeout(timeout)  # type: ignore[attr-defined]
            self.proc = subprocess.Popen([sys.executable, "-m", "bench.botproc", address, settings], cwd=root)
            self.conn = listener.accept()
        self._wait(timeout)
        self.starts.append(time.perf_counter() - t0)
        return self

    def _wait(self, timeout: float) -> Any:
        if not self.conn.poll(timeout):
            raise TimeoutError("the bot process did not answer")
        status, out = self.conn.recv()
        self.busy = False
        if status != "ok":
            raise RuntimeError(f"bot process failed:\n{out}")
        return out

    def call(self, op: str, timeout: float = 600, **args) -> Any:
        self.send(op, **args)
        return self._wait(timeout)

    def send(self, op: str, **args) -> None:
        self.busy = True
        self.conn.send((op, args))

    def result(self, timeout: float = 600) -> Any:
        return self._wait(timeout)

    def answered(self, timeout: float = 0.0) -> bool:
        return self.conn.poll(timeout)

    def kill(self) -> None:
        """SIGKILL: no finally, no atexit, no cleanup of claims; like a power cut of the host."""
        try:
            os.kill(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        self.conn.close()
        self.busy = False

    def close(self) -> None:
        try:
            self.call("close", timeout=30)
        finally:
            try:
                self.proc.wait(10)
            except Exception:
                self.kill()

    def status(self) -> dict[str, float]:
        """VmRSS and VmHWM (peak RSS) of the bot process, in MB."""
        out = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0]) * 1024 / 1e6
        return out


if __name__ == "__main__":
    import json
    import sys
    from multiprocessing.connection import Client

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    _serve(Client(sys.argv[1], family="AF_UNIX"), json.loads(Path(sys.argv[2]).read_text()))
