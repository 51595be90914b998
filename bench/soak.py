"""Soak: one simulated mission month against the stand-ins, with faults injected at a steady rate.

30 sols of about 200 pictures each (one 600-picture burst), arriving in four downlinks a sol; a news
item every three sols; 100 subscribed channels (all images, a third news, half a daily digest in four
time zones); NASA failing one poll in seven, Discord answering 1 send in 50 with a 503 and 1 in 100
with a 429; one channel losing its permission for two sols. The clock is simulated (a tick is ten
minutes); sends are NOT: the bot paces at its own rate (Config.sends_per_second) and the Discord
stand-in enforces Discord's 50 requests/s global limit in real time.

Honest by construction:
- the bot runs in a process of its own (bench/botproc.py): its RSS is the bot's alone, read from
  /proc/<pid>/status by the harness, which holds the stand-ins;
- what reached Discord is counted AT the Discord stand-in (bench/standins.py): every picture in
  every channel exactly once (in a post, or counted as held back in a digest), every news item once
  per news channel, one digest per channel per local day, no post reference twice in a channel;
- "memory flat" is the least-squares slope of the bot's RSS over the second half, per sol;
- retention runs once per simulated day, as the bot's scheduler runs it (Store.prune with the
  config's retention days); the database size is the file plus its WAL, sampled every sol.

`mission(...)` is shared with bench/downtime.py, which adds restarts with an hour of downtime.
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from bot.posting import digest
from bot.mars import marstime
from bench.botproc import BotProcess
from bench.standins import CountingDiscord, file_size, sim_snowflakes, slope
from tests.discord_standin import ALL_TEXT, VIEW_CHANNEL
from tests.nasa_standin import Fault, NasaStandIn, jpeg, make_record

SOLS = 30
CHANNELS = 100
TICK = timedelta(minutes=10)
ZONES = ("UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Tokyo")
FAMILIES = ("NAVCAM_LEFT", "NAVCAM_RIGHT", "MCZ_LEFT", "FRONT_HAZCAM_LEFT_A", "SHERLOC_WATSON")
FIRST_SOL = 2100

Row = tuple[str, str, str, bool]


class SimClock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def ts(self) -> float:
        return self.now.timestamp()


def mission_month(first_sol: int, host: str, sols: int = SOLS) -> list[dict]:
    """Every record of the month, each with the time NASA receives it."""
    rng = random.Random(2050)
    out, n = [], 0
    for s in range(first_sol, first_sol + sols):
        start, _ = marstime.sol_interval(s, marstime.PERSEVERANCE)
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


@dataclass
class Outcome:
    """What one run measured; the checks are made from the stand-in's counts."""

    sols: int
    channels: int
    total_pictures: int = 0
    news_count: int = 0
    coverage_ok: int = 0
    news_ok: int = 0
    digest_ok: int = 0
    digest_channels: int = 0
    news_channels: int = 0
    duplicates: int = 0
    duplicate_detail: list = field(default_factory=list)
    unreferenced: int = 0
    pictures_due: int = 0
    pictures_delivered: int = 0
    messages: int = 0
    outbox: dict = field(default_factory=dict)
    rss_by_sol: list[float] = field(default_factory=list)
    db_by_sol: list[int] = field(default_factory=list)
    peak_rss: float = 0.0
    rss_end: float = 0.0
    db_end: int = 0
    wall: float = 0.0
    steps: int = 0
    restarts: list[dict] = field(default_factory=list)
    digest_upload_bytes: list[int] = field(default_factory=list)
    short_channels: list = field(default_factory=list)
    digest_detail: list = field(default_factory=list)


def mission(tmp: Path, *, sols: int = SOLS, channels: int = CHANNELS, restarts: int = 0, downtime: timedelta = timedelta(hours=1),
            faults: bool = True, seed: int = 7, progress: Callable[[str], None] | None = None,
            config: dict | None = None) -> Outcome:
    """config: settings on top of the soak's (e.g. {"retention_sent_days": 1}); the defaults are the bot's."""
    out = Outcome(sols=sols, channels=channels)
    rng = random.Random(seed)
    start, _ = marstime.sol_interval(FIRST_SOL, marstime.PERSEVERANCE)
    clock = SimClock(start - timedelta(hours=1))
    with sim_snowflakes(clock.ts):
        nasa = NasaStandIn().start()
        ds = CountingDiscord(rate_limit_per_second=50, clock=clock.ts).start()
        try:
            return _run(tmp, out, nasa, ds, clock, start, rng, restarts, downtime, faults, progress, config or {})
        finally:
            ds.stop()
            nasa.stop()


def _run(tmp, out: Outcome, nasa, ds, clock: SimClock, start: datetime, rng: random.Random, restarts: int,
         downtime: timedelta, faults: bool, progress, overrides: dict) -> Outcome:
    frng = random.Random(rng.random())

    def discord_faults(method: str, path: str):
        if method == "POST" and path.startswith("/channels/") and path.endswith("/messages"):
            roll = frng.random()
            if roll < 0.02:
                return 503, {"message": "503: Service Unavailable", "code": 0}
            if roll < 0.03:
                return 429, {"message": "You are being rate limited.", "retry_after": 0.001, "global": False}
        return None

    if faults:
        ds.fault_hook = discord_faults
    frames = [jpeg(320, 240, (60 + 12 * i, 80, 50)) for i in range(12)]
    pending = mission_month(FIRST_SOL, nasa.url, out.sols)
    for i, r in enumerate(pending):
        nasa.files[urlsplit(r["image_files"]["small"]).path] = frames[i % len(frames)]
    feed_path = "/missions/mars-2020-perseverance/feed/"
    news_items: list[tuple[int, datetime]] = [(0, clock.now - timedelta(days=2))]
    nasa.files[feed_path] = news_feed(news_items)
    channels = [ds.add_channel(f"mars-{i}") for i in range(out.channels)]  # before the bot connects: in GUILD_CREATE
    db_path = tmp / ("downtime.sqlite3" if restarts else "soak.sqlite3")
    settings = {"now": clock.ts(), "api_base": ds.api_base, "gateway_url": ds.gateway_url,
                "config": {"nasa_base_url": nasa.url, "maps_base_url": nasa.url, "database": str(db_path), "retries": 1, "image_hosts": ["127.0.0.1"],
                           "news_feeds": [nasa.url + feed_path], "messages_per_hour": 6, **overrides}}
    wall0 = time.perf_counter()
    bot = BotProcess(settings).start()
    bot.call("step", now=clock.ts(), images=True, news=True, delivery=False)  # baselines
    bot.call("subscribe", now=clock.ts(), guild_id=ds.guild_id, subs=[
        [ch.id, kind, extra] for i, ch in enumerate(channels) for kind, extra in
        ([("images", {})] + ([("news", {})] if i % 3 == 0 else [])
         + ([("digest", {"timezone": ZONES[i // 2 % len(ZONES)]})] if i % 2 == 0 else []))])
    subscribed_at = clock.ts()
    flaky = channels[5] if len(channels) > 5 else None
    end = start + timedelta(seconds=marstime.SOL_SECONDS * out.sols)
    total_ticks = int((end + timedelta(days=1) - clock.now) / TICK)
    span = int((end - timedelta(hours=6) - clock.now) / TICK) - 20  # kills while pictures still arrive
    restart_at = sorted(clock.now + TICK * (20 + rng.randrange(span)) for _ in range(restarts))
    tick = released = 0
    last_sol = -1
    last_day = clock.now.date()

    def release() -> None:
        nonlocal released
        stamp = clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        while released < len(pending) and pending[released]["date_received"] <= stamp:
            nasa.records.append(pending[released])
            released += 1

    def world(sol_index: int) -> None:
        """What happens outside the bot at this moment: NASA faults, news, a channel's permission."""
        if faults and tick % 7 == 0:
            nasa.faults.extend([Fault(status=503)] * 2)  # this poll fails, retry included
        if sol_index >= 0 and sol_index % 3 == 0 and len(news_items) <= sol_index // 3 + 1 and clock.now < end:
            news_items.append((len(news_items), clock.now))
            nasa.files[feed_path] = news_feed(news_items)
        if flaky is not None and sol_index == 10 and flaky.bot_permissions == ALL_TEXT:
            ds.set_permissions(flaky, VIEW_CHANNEL)
        if flaky is not None and sol_index == 12 and flaky.bot_permissions != ALL_TEXT:
            ds.set_permissions(flaky, ALL_TEXT)

    while clock.now < end + timedelta(days=1):
        clock.now += TICK
        tick += 1
        release()
        sol_index = int((clock.now - start).total_seconds() // marstime.SOL_SECONDS)
        if sol_index != last_sol:
            last_sol = sol_index
            out.rss_by_sol.append(bot.status()["VmRSS"])
            out.db_by_sol.append(file_size(db_path))
            if progress:
                progress(f"sol {sol_index}: rss {out.rss_by_sol[-1]:.0f} MB, db {out.db_by_sol[-1] / 1e6:.1f} MB,"
                         f" {sum(t.messages for t in ds.tally.values())} messages, {time.perf_counter() - wall0:.0f} s")
        world(sol_index)
        prune = clock.now.date() != last_day  # once per simulated day, as the scheduler will
        last_day = clock.now.date()
        step = {"now": clock.ts(), "images": True, "news": tick % 3 == 0, "digest": True, "delivery": True, "prune": prune}
        if restart_at and clock.now >= restart_at[0]:
            restart_at.pop(0)
            bot = _crash_and_restart(bot, ds, clock, rng, dict(step, end=(end - timedelta(hours=3)).timestamp()), downtime,
                                     out, release, settings)
        else:
            bot.call("step", **step)
        out.steps += 1
        if len(nasa.requests) > 1000:
            del nasa.requests[:-100]
    for _ in range(40):  # drain: retries due later, the flaky channel resumed (the scheduler keeps checking digests)
        clock.now += TICK
        bot.call("step", now=clock.ts(), digest=True, delivery=True)
    last_tick = clock.now
    st = bot.status()
    out.peak_rss, out.rss_end = st["VmHWM"], st["VmRSS"]
    out.outbox = bot.call("stats", now=clock.ts())
    bot.close()
    out.wall = time.perf_counter() - wall0
    out.db_end = file_size(db_path)
    # ---------------- independent checks, from what reached the Discord stand-in
    out.total_pictures = len(pending)
    out.news_count = len(news_items) - 1
    out.digest_channels = (out.channels + 1) // 2
    out.news_channels = (out.channels + 2) // 3
    for i, ch in enumerate(channels):
        t = ds.tally[ch.id]
        out.duplicates += t.duplicates
        out.duplicate_detail += [(ch.id, ref, n) for ref, n in t.refs.items() if n > 1]
        out.unreferenced += t.unreferenced
        out.pictures_due += out.total_pictures
        out.pictures_delivered += t.pictures + t.held_pictures
        if t.pictures + t.held_pictures == out.total_pictures:
            out.coverage_ok += 1
        else:
            out.short_channels.append((i, t.pictures, t.held_pictures))
        if i % 3 == 0 and t.news + t.held_news == out.news_count:
            out.news_ok += 1
        if i % 2 == 0:
            due = _due_dates(ZONES[i // 2 % len(ZONES)], "09:00", subscribed_at, last_tick)
            if set(t.digests) == {d.isoformat() for d in due} and all(n == 1 for n in t.digests.values()):
                out.digest_ok += 1
            else:
                out.digest_detail.append((i, ZONES[i // 2 % len(ZONES)], dict(t.digests), sorted(d.isoformat() for d in due)))
            out.digest_upload_bytes += t.digest_upload_bytes
    general = ds.tally.get(ds.general.id)
    if general is not None:
        out.duplicates += general.duplicates
    out.messages = sum(t.messages for t in ds.tally.values())
    return out


def _crash_and_restart(bot: BotProcess, ds: CountingDiscord, clock: SimClock, rng: random.Random, step: dict,
                       downtime: timedelta, out: Outcome, release, settings: dict) -> BotProcess:
    """SIGKILL the bot mid-cycle, an hour passes (NASA keeps receiving, Discord forgets nonces), and a
    new bot starts on the same database (it calls recover())."""
    mode = rng.choice(("accepted", "timer"))
    kill_at = rng.randint(1, 4)
    seen = [0]
    record = {"at": clock.now.isoformat(timespec="minutes"), "mode": mode, "mid_cycle": False}

    def on_accept(ch, msg) -> None:  # Discord has the message; the bot will never hear the answer
        seen[0] += 1
        if seen[0] == kill_at and not record["mid_cycle"]:
            record["mid_cycle"] = True  # first: the harness may see the pipe close before this thread returns
            os.kill(bot.proc.pid, signal.SIGKILL)

    if mode == "accepted":
        ds.on_accept = on_accept
    limit = step.get("end")
    # Until a cycle is actually interrupted (or the mission is nearly over). These few ticks skip the
    # world's events (NASA faults, news, the flaky channel): they only move the clock and release pictures.
    for _ in range(200):
        if limit is not None and clock.ts() >= limit:
            break
        bot.send("step", **step)
        if mode == "accepted":
            while not record["mid_cycle"] and not bot.answered(0.01):
                pass
            if record["mid_cycle"]:
                break
        else:
            delay = rng.uniform(0.005, 0.4)
            if not bot.answered(delay):
                os.kill(bot.proc.pid, signal.SIGKILL)
                record["mid_cycle"] = True
                break
        bot.result()  # finished before the kill: another cycle
        clock.now += TICK
        release()
        step = dict(step, now=clock.ts(), prune=False)
        out.steps += 1
    ds.on_accept = None
    bot.kill()
    clock.now += downtime  # the Discord stand-in's clock is this one: its nonce window passes too
    release()
    record["sent_before_kill"] = seen[0]
    t0 = time.perf_counter()
    new = BotProcess(dict(settings, now=clock.ts())).start()
    record["restart_s"] = time.perf_counter() - t0
    out.restarts.append(record)
    return new


def _due_dates(tz_name: str, hhmm: str, created_at: float, until: datetime) -> set:
    """Local dates whose digest moment falls between the subscription and the end of the run."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(tz_name)
    day = datetime.fromtimestamp(created_at, tz=timezone.utc).astimezone(tz).date()
    dates = set()
    while True:
        moment = digest.local_moment(day, hhmm, tz)
        if moment > until:
            return dates
        if moment.timestamp() >= created_at:
            dates.add(day)
        day += timedelta(days=1)


def delivery_rows(prefix: str, o: Outcome) -> list[Row]:
    return [
        (f"{prefix}: pictures due vs delivered (at Discord)", f"{o.pictures_due:,} / {o.pictures_delivered:,}", "equal",
         o.pictures_due == o.pictures_delivered),
        (f"{prefix}: duplicate messages (same ref, same channel)", f"{o.duplicates}", "0", o.duplicates == 0),
        (f"{prefix}: channels with every picture exactly once", f"{o.coverage_ok}/{o.channels}", f"{o.channels}",
         o.coverage_ok == o.channels),
        (f"{prefix}: news channels with every item once", f"{o.news_ok}/{o.news_channels}", f"{o.news_channels}",
         o.news_ok == o.news_channels),
        (f"{prefix}: digest channels with one digest per local day", f"{o.digest_ok}/{o.digest_channels}",
         f"{o.digest_channels}", o.digest_ok == o.digest_channels),
        (f"{prefix}: messages without a post reference", f"{o.unreferenced}", "0", o.unreferenced == 0),
        (f"{prefix}: posts left unsent at the end", f"{sum(o.outbox['status'].get(s, 0) for s in ('pending', 'sending'))}",
         "0", not any(o.outbox["status"].get(s, 0) for s in ("pending", "sending"))),
    ]


MEMORY_SLOPE_MB_PER_SOL = 0.5
DB_TARGET_MB = 50


def bench_soak(tmp: Path, *, sols: int = SOLS, channels: int = CHANNELS, progress=None, config: dict | None = None) -> list[Row]:
    o = mission(tmp, sols=sols, channels=channels, progress=progress, config=config)
    half = len(o.rss_by_sol) // 2
    xs = list(range(half, len(o.rss_by_sol)))
    mem_slope = slope(xs, o.rss_by_sol[half:])
    db_slope = slope(xs, [b / 1e6 for b in o.db_by_sol[half:]])
    db_all = (o.db_end / 1e6) / max(1, o.sols)
    uploads = o.digest_upload_bytes
    per_digest = sum(uploads) / len(uploads) / 1e3 if uploads else 0.0
    picks = [i for i in (1, len(o.rss_by_sol) // 3, 2 * len(o.rss_by_sol) // 3, len(o.rss_by_sol) - 1)]
    return delivery_rows("soak", o) + [
        ("soak: messages to Discord / pictures / sols", f"{o.messages:,} / {o.total_pictures:,} / {o.sols}", "", True),
        ("soak: database at the end (file + WAL)", f"{o.db_end / 1e6:.1f} MB", f"< {DB_TARGET_MB} MB",
         o.db_end / 1e6 < DB_TARGET_MB),
        ("soak: database growth per sol (2nd half slope / mean)", f"{db_slope:.2f} / {db_all:.2f} MB", "", True),
        ("soak: bot peak RSS (its own process)", f"{o.peak_rss:.0f} MB", "< 150 MB", o.peak_rss < 150),
        ("soak: bot RSS at sol " + " / ".join(str(i) for i in picks), " / ".join(f"{o.rss_by_sol[i]:.0f}" for i in picks) + " MB",
         "", True),
        ("soak: bot RSS slope over the 2nd half", f"{mem_slope:+.2f} MB/sol", f"< {MEMORY_SLOPE_MB_PER_SOL} MB/sol",
         mem_slope < MEMORY_SLOPE_MB_PER_SOL),
        ("soak: digest upload per channel (multipart body)", f"{per_digest:.1f} KB", "< 192 KB (before)", per_digest < 192),
        ("soak: wall time (sends paced at the real rate)", f"{o.wall:.0f} s", "", True),
    ]
