"""Soak: one simulated mission month against the stand-ins, with faults injected at a steady rate.

30 sols of about 200 pictures each (one 600-picture burst), arriving in four downlinks a sol; a news
item every three sols; 100 subscribed channels (all images, a third news, half a daily digest in four
time zones); NASA failing one poll in seven, Discord answering 1 send in 50 with a 503 and 1 in 100
with a 429; one channel losing its permission for two sols. The clock is simulated (a tick is ten
minutes), so a month runs in minutes. Nothing reaches the internet.

Checked independently of the bot's own bookkeeping: every picture reaches every channel exactly once
(in a post, or counted in a digest when the hourly budget held it back), every news item once per
news channel, one digest per channel per local day.
"""

from __future__ import annotations

import asyncio
import random
import re
import resource
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

from bot import app, digest, marstime, services
from bot.config import Config
from bot.delivery import Pacer
from tests.discord_standin import ALL_TEXT, VIEW_CHANNEL, DiscordStandIn
from tests.nasa_standin import Fault, NasaStandIn, jpeg, make_record

SOLS = 30
CHANNELS = 100
TICK = timedelta(minutes=10)
ZONES = ("UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Tokyo")
FAMILIES = ("NAVCAM_LEFT", "NAVCAM_RIGHT", "MCZ_LEFT", "FRONT_HAZCAM_LEFT_A", "SHERLOC_WATSON")
PICTURES = re.compile(r"\*\*: (\d+) pictures?")

Row = tuple[str, str, str, bool]


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def mission_month(first_sol: int, host: str) -> list[dict]:
    """Every record of the month, each with the time NASA receives it."""
    rng = random.Random(2050)
    out, n = [], 0
    for s in range(first_sol, first_sol + SOLS):
        start, _ = marstime.sol_interval(s)
        count = 600 if s == first_sol + 15 else 200
        for i in range(count):
            code = FAMILIES[i % len(FAMILIES)]
            downlink = start + timedelta(hours=2 + 6 * (i * 4 // count), minutes=rng.randint(0, 50))
            out.append(make_record(s, code, n=n, sequence=f"{code.replace('_', '')[:4]}{s % 100:02d}{i // 40:03d}",
                                   received=downlink, host=host))
            n += 1
    return sorted(out, key=lambda r: r["date_received"])


def news_feed(items: list[tuple[int, datetime]]) -> bytes:
    body = "".join(
        f"<item><title>Perseverance update {k}</title><link>https://www.nasa.gov/update-{k}/</link>"
        f"<guid isPermaLink=\"false\">https://www.nasa.gov/?p={9000 + k}</guid>"
        f"<pubDate>{at.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate><description>Update {k}.</description></item>"
        for k, at in items)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>NASA</title>{body}</channel></rss>'.encode()


async def bench_soak(tmp: Path) -> list[Row]:
    import logging

    logging.getLogger("roverbot").setLevel(logging.ERROR)  # the injected faults are expected; keep the table readable
    nasa = NasaStandIn().start()
    ds = DiscordStandIn(lean=True).start()
    rng = random.Random(7)

    def discord_faults(method: str, path: str):
        if method == "POST" and path.startswith("/channels/"):
            roll = rng.random()
            if roll < 0.02:
                return 503, {"message": "503: Service Unavailable", "code": 0}
            if roll < 0.03:
                return 429, {"message": "You are being rate limited.", "retry_after": 0.001, "global": False}
        return None

    ds.fault_hook = discord_faults
    # What reached each channel, tallied as it arrives (the stand-in keeps no message log here).
    tally: dict[int, dict] = {}

    def on_message(ch, msg) -> None:
        t = tally.setdefault(ch.id, {"pictures": 0, "news": 0, "digests": 0, "nonces": set(), "duplicates": 0})
        if msg.get("nonce") in t["nonces"]:
            t["duplicates"] += 1
        t["nonces"].add(msg.get("nonce"))
        found = PICTURES.search(msg["content"] or "")
        if found:
            t["pictures"] += int(found.group(1))
        elif (msg["content"] or "").startswith("📰"):
            t["news"] += 1
        elif msg["embeds"] and "daily digest" in msg["embeds"][0].get("title", ""):
            t["digests"] += 1

    ds.on_message = on_message
    first_sol = 2100
    start, _ = marstime.sol_interval(first_sol)
    clock = Clock(start - timedelta(hours=1))
    frames = [jpeg(320, 240, (60 + 12 * i, 80, 50)) for i in range(12)]
    pending = mission_month(first_sol, nasa.url)
    for i, r in enumerate(pending):
        nasa.files[urlsplit(r["image_files"]["small"]).path] = frames[i % len(frames)]
    feed_path = "/missions/mars-2020-perseverance/feed/"
    news_items: list[tuple[int, datetime]] = [(0, clock.now - timedelta(days=2))]
    nasa.files[feed_path] = news_feed(news_items)
    config = Config(nasa_base_url=nasa.url, database=tmp / "soak.sqlite3", retries=1, image_hosts=("127.0.0.1",),
                    news_feeds=(nasa.url + feed_path,), messages_per_hour=6)
    app.apply_endpoints({"DISCORD_API_BASE": ds.api_base, "DISCORD_GATEWAY_URL": ds.gateway_url})
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    try:
        async with services.build(config, clock) as svc:
            svc.nasa.backoff_seconds = 0.001
            channels = [ds.add_channel(f"mars-{i}") for i in range(CHANNELS)]
            rover = app.RoverBot(svc, guild_ready_timeout=0.1)
            runner = asyncio.create_task(rover.start("soak-token"))
            await asyncio.wait_for(rover.wait_until_ready(), 20)
            auto = rover.automation
            # Sends are paced in real time in production; a simulated month cannot wait for that.
            auto.courier.pacer = Pacer(rate=1e6, burst=1000)
            await auto.images_cycle()
            await auto.news_cycle()  # baselines
            at = clock.now.timestamp()
            for i, ch in enumerate(channels):
                svc.store.subscribe(ds.guild_id, ch.id, "images", at=at)
                if i % 3 == 0:
                    svc.store.subscribe(ds.guild_id, ch.id, "news", at=at)
                if i % 2 == 0:
                    svc.store.subscribe(ds.guild_id, ch.id, "digest", timezone=ZONES[i // 2 % len(ZONES)], at=at)
            flaky = channels[5]
            end = start + timedelta(seconds=marstime.SOL_SECONDS * SOLS)
            tick = 0
            released = 0
            last_sol = -1
            rss_by_sol: list[float] = []
            while clock.now < end + timedelta(days=1):
                clock.now += TICK
                tick += 1
                while released < len(pending) and pending[released]["date_received"] <= clock.now.strftime("%Y-%m-%dT%H:%M:%SZ"):
                    nasa.records.append(pending[released])
                    released += 1
                sol_index = int((clock.now - start).total_seconds() // marstime.SOL_SECONDS)
                if sol_index != last_sol:
                    last_sol = sol_index
                    rss_by_sol.append(_rss_mb())
                if tick % 7 == 0:
                    nasa.faults.extend([Fault(status=503)] * 2)  # this poll fails, retry included
                if sol_index >= 0 and sol_index % 3 == 0 and len(news_items) <= sol_index // 3 + 1 and clock.now < end:
                    news_items.append((len(news_items), clock.now))
                    nasa.files[feed_path] = news_feed(news_items)
                if sol_index == 10 and flaky.bot_permissions == ALL_TEXT:
                    ds.set_permissions(flaky, VIEW_CHANNEL)
                if sol_index == 12 and flaky.bot_permissions != ALL_TEXT:
                    ds.set_permissions(flaky, ALL_TEXT)
                await asyncio.sleep(0)
                await auto.images_cycle()
                if tick % 3 == 0:
                    await auto.news_cycle()
                await auto.digest_cycle()
                await auto.delivery_cycle()
                if len(nasa.requests) > 1000:
                    del nasa.requests[:-100]
            last_tick = clock.now
            for _ in range(40):  # drain: retries due later, the flaky channel resumed
                clock.now += TICK
                await auto.delivery_cycle()
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # MB; taken before the checks below load anything
            cpu = time.process_time() - cpu0
            wall = time.perf_counter() - wall0
            db = svc.store.conn
            due = db.execute("SELECT COUNT(*) FROM outbox WHERE status NOT IN ('cancelled', 'failed') AND kind != 'alert'").fetchone()[0]
            delivered = db.execute("SELECT COUNT(*) FROM outbox WHERE status IN ('sent', 'digested') AND kind != 'alert'").fetchone()[0]
            held_pictures = dict(db.execute("SELECT channel_id, SUM(json_extract(payload, '$.count')) FROM outbox"
                                            " WHERE status = 'digested' AND kind = 'images' GROUP BY channel_id").fetchall())
            held_news = dict(db.execute("SELECT channel_id, COUNT(*) FROM outbox WHERE status = 'digested' AND kind = 'news'"
                                        " GROUP BY channel_id").fetchall())
            subs = svc.store.subscriptions()
            await rover.close()
            runner.cancel()
    finally:
        app.apply_endpoints({})
        ds.stop()
        nasa.stop()
    # ---------------- independent checks, from what reached the Discord stand-in
    total_pictures = len(pending)
    duplicates = 0
    coverage_ok = 0
    news_ok = 0
    digest_ok = 0
    news_count = len(news_items) - 1
    for i, ch in enumerate(channels):
        t = tally.get(ch.id, {"pictures": 0, "news": 0, "digests": 0, "duplicates": 0})
        duplicates += t["duplicates"]
        if t["pictures"] + (held_pictures.get(ch.id) or 0) == total_pictures:
            coverage_ok += 1
        if i % 3 == 0 and t["news"] + held_news.get(ch.id, 0) == news_count:
            news_ok += 1
        if i % 2 == 0:
            sub = next(s for s in subs if s.channel_id == ch.id and s.kind == "digest")
            if t["digests"] == len(_due_dates(sub, last_tick)):
                digest_ok += 1
    digest_channels = (CHANNELS + 1) // 2
    news_channels = (CHANNELS + 2) // 3
    return [
        ("soak: posts due vs delivered", f"{due:,} / {delivered:,}", "equal", due == delivered),
        ("soak: duplicate messages", f"{duplicates}", "0", duplicates == 0),
        ("soak: channels with every picture exactly once", f"{coverage_ok}/{CHANNELS}", f"{CHANNELS}", coverage_ok == CHANNELS),
        ("soak: news channels with every item once", f"{news_ok}/{news_channels}", f"{news_channels}", news_ok == news_channels),
        ("soak: digest channels with one digest per local day", f"{digest_ok}/{digest_channels}", f"{digest_channels}",
         digest_ok == digest_channels),
        ("soak: messages to Discord / pictures / sols", f"{sum(len(t['nonces']) for t in tally.values()):,} / {total_pictures:,} / {SOLS}", "", True),
        ("soak: peak memory (one process: bot + both stand-ins)", f"{peak_mb:.0f} MB", "< 150 MB", peak_mb < 150),
        ("soak: memory at sol 1 / 10 / 20 / last", " / ".join(f"{rss_by_sol[min(i, len(rss_by_sol) - 1)]:.0f}" for i in (1, 10, 20, len(rss_by_sol) - 1)) + " MB", "flat", True),
        ("soak: CPU per sol (process, incl. stand-ins)", f"{cpu / SOLS:.2f} s", "", True),
        ("soak: wall time for the month", f"{wall:.0f} s", "minutes", wall < 900),
    ]


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1e6


def _due_dates(sub, until: datetime) -> set:
    """Local dates whose digest moment falls between the subscription and the end of the run."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(sub.timezone)
    day = datetime.fromtimestamp(sub.created_at, tz=timezone.utc).astimezone(tz).date()
    dates = set()
    while True:
        moment = digest.local_moment(day, sub.digest_time, tz)
        if moment > until:
            return dates
        if moment.timestamp() >= sub.created_at:
            dates.add(day)
        day += timedelta(days=1)
