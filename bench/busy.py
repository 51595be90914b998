"""Reproduction: a post re-sent after a kill in a BUSY channel is posted twice.

The courier's check before a late re-send (DiscordSender.find_sent) reads the channel forward from
the post's FIRST attempt, at most 500 messages. If the first attempt failed (a 503) and the channel
had more than 500 messages between that attempt and the one that reached Discord, the check never
reaches our message, concludes "not sent" and sends a second copy.

    python -c 'from bench.busy import main; main()'
"""

from __future__ import annotations

import os
import signal
import tempfile
from datetime import timedelta
from pathlib import Path

from bench.botproc import BotProcess
from bench.soak import FIRST_SOL, TICK, SimClock
from bench.standins import CountingDiscord, sim_snowflakes
from bot.mars import marstime
from tests.nasa_standin import NasaStandIn, make_record

Row = tuple[str, str, str, bool]


def bench_busy_channel(tmp: Path, chatter: int = 600) -> list[Row]:
    start, _ = marstime.sol_interval(FIRST_SOL, marstime.PERSEVERANCE)
    clock = SimClock(start + timedelta(hours=3))
    with sim_snowflakes(clock.ts):
        nasa = NasaStandIn().start()
        ds = CountingDiscord(rate_limit_per_second=50, clock=clock.ts, history_limit=5000).start()
        try:
            nasa.records += [make_record(FIRST_SOL, n=i, host=nasa.url, received=clock.now - timedelta(hours=2)) for i in range(5)]
            ch = ds.add_channel("busy")
            settings = {"now": clock.ts(), "api_base": ds.api_base, "gateway_url": ds.gateway_url,
                        "config": {"nasa_base_url": nasa.url, "maps_base_url": nasa.url, "database": str(tmp / "busy.sqlite3"), "retries": 0,
                                   "image_hosts": ["127.0.0.1"], "news_feeds": [], "group_wait_minutes": 0}}
            bot = BotProcess(settings).start()
            bot.call("step", now=clock.ts(), images=True, delivery=False)  # baseline
            bot.call("subscribe", now=clock.ts(), guild_id=ds.guild_id, subs=[[ch.id, "images", {}]])
            failing = {"on": True}
            ds.fault_hook = lambda method, path: ((503, {"message": "503: Service Unavailable", "code": 0})
                                                  if failing["on"] and method == "POST" and f"/channels/{ch.id}/messages" in path
                                                  else None)
            clock.now += TICK
            nasa.records += [make_record(FIRST_SOL, n=100 + i, sequence="NCAM00200", host=nasa.url,
                                         received=clock.now - timedelta(minutes=1)) for i in range(3)]
            bot.call("step", now=clock.ts(), images=True, delivery=True)  # queued; first attempt answered 503
            failing["on"] = False
            for k in range(chatter):  # people talk in the channel meanwhile
                clock.now += timedelta(seconds=0.5)
                ds.add_message(ch, f"chat {k}", user_id=4242)
            clock.now += TICK
            killed = {"done": False}

            def kill_on_accept(c, msg) -> None:  # Discord has our post; the bot never hears back
                if c.id == ch.id and msg["author"]["id"] == ds.bot_user["id"] and not killed["done"]:
                    killed["done"] = True
                    os.kill(bot.proc.pid, signal.SIGKILL)

            ds.on_accept = kill_on_accept
            bot.send("step", now=clock.ts(), delivery=True)  # the retry reaches Discord; killed before recording it
            while not killed["done"] and not bot.answered(0.05):
                pass
            bot.kill()
            ds.on_accept = None
            clock.now += timedelta(hours=1)  # Discord forgot the nonce
            bot = BotProcess(dict(settings, now=clock.ts())).start()  # recover()
            clock.now += TICK
            bot.call("step", now=clock.ts(), delivery=True)
            bot.close()
            copies = max(ds.tally[ch.id].refs.values(), default=0)
        finally:
            ds.stop()
            nasa.stop()
    return [(f"busy channel ({chatter} messages between attempts): copies of a post after a kill",
             f"{copies}", "1", copies == 1)]


def main() -> None:
    from bench.run import print_table

    with tempfile.TemporaryDirectory() as tmp:
        print_table(bench_busy_channel(Path(tmp)) + bench_busy_channel(Path(tmp) / "quiet", chatter=100))
