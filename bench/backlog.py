"""A 5,000-record backlog after downtime: the bot is SIGKILLed, NASA receives 5,000 pictures over the
next 12 hours, and a new bot process starts on the same database (recover(), then its cycles every
ten simulated minutes). Measured: cycles until every record is in the store, cycles and wall time
until every picture has reached every subscribed channel (in a post, or counted in the digest as held
back by the hourly budget), counted at the Discord stand-in; and the bytes each channel's digest
uploads (the multipart body as it arrives at the stand-in).

    python -c 'from bench.backlog import main; main()'        # or: python -m bench.run backlog
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from bench.botproc import BotProcess
from bench.soak import FAMILIES, FIRST_SOL, TICK, Row, SimClock
from bench.standins import CountingDiscord, sim_snowflakes
from bot.mars import marstime
from urllib.parse import urlsplit

from tests.nasa_standin import NasaStandIn, jpeg, make_record

RECORDS = 5000
CHANNELS = 10
DOWNTIME = timedelta(hours=12)
MAX_CYCLES = 200


def bench_backlog(tmp: Path, *, records: int = RECORDS, channels: int = CHANNELS) -> list[Row]:
    start, _ = marstime.sol_interval(FIRST_SOL, marstime.PERSEVERANCE)
    clock = SimClock(start + timedelta(hours=1))
    with sim_snowflakes(clock.ts):
        nasa = NasaStandIn().start()
        ds = CountingDiscord(rate_limit_per_second=50, clock=clock.ts).start()
        try:
            return _run(tmp, clock, nasa, ds, records, channels)
        finally:
            ds.stop()
            nasa.stop()


def _run(tmp: Path, clock: SimClock, nasa, ds: CountingDiscord, records: int, channels: int) -> list[Row]:
    old = [make_record(FIRST_SOL - 1, FAMILIES[i % 5], n=i, host=nasa.url, received=clock.now - timedelta(hours=3))
           for i in range(100)]
    nasa.records.extend(old)
    chans = [ds.add_channel(f"mars-{i}") for i in range(channels)]
    restart_at = clock.now + DOWNTIME + TICK
    digest_at = restart_at + timedelta(hours=1)
    settings = {"now": clock.ts(), "api_base": ds.api_base, "gateway_url": ds.gateway_url,
                "config": {"nasa_base_url": nasa.url, "maps_base_url": nasa.url, "database": str(tmp / "backlog.sqlite3"), "retries": 1,
                           "image_hosts": ["127.0.0.1"], "news_feeds": [], "messages_per_hour": 6}}
    bot = BotProcess(settings).start()
    bot.call("step", now=clock.ts(), images=True, delivery=False)  # baseline
    bot.call("subscribe", now=clock.ts(), guild_id=ds.guild_id, subs=[
        [ch.id, kind, extra] for ch in chans
        for kind, extra in (("images", {}), ("digest", {"timezone": "UTC", "digest_time": digest_at.strftime("%H:%M")}))])
    clock.now += TICK
    bot.call("step", now=clock.ts(), images=True, digest=True)
    baseline_images = bot.call("stats", now=clock.ts())["images"]
    bot.kill()
    # ---- downtime: NASA receives the backlog
    backlog = []
    for i in range(records):
        sol = FIRST_SOL - 1 + i * 2 // records  # taken on the last two sols, received while the bot was down
        code = FAMILIES[i % 5]
        backlog.append(make_record(sol, code, n=1000 + i, sequence=f"{code.replace('_', '')[:4]}{sol % 100:02d}{i // 200:03d}",
                                   received=clock.now + timedelta(seconds=(i + 1) * DOWNTIME.total_seconds() / (records + 1)),
                                   host=nasa.url))
    frames = [jpeg(320, 240, (60 + 12 * k, 80, 50)) for k in range(12)]
    for i, r in enumerate(backlog + old):
        nasa.files[urlsplit(r["image_files"]["small"]).path] = frames[i % len(frames)]
    nasa.records.extend(backlog)
    clock.now = restart_at
    wall0 = time.perf_counter()
    bot = BotProcess(dict(settings, now=clock.ts())).start()
    cycles = ingested_at = done_at = 0
    done_wall = ingest_wall = 0.0
    while cycles < MAX_CYCLES:
        cycles += 1
        bot.call("step", now=clock.ts(), images=True, digest=True, delivery=True)
        if not ingested_at:
            st = bot.call("stats", now=clock.ts())
            if st["images"] - baseline_images >= records and not st["backlog"]:
                ingested_at, ingest_wall = cycles, time.perf_counter() - wall0
        reached = [ds.tally[ch.id].pictures + ds.tally[ch.id].held_pictures for ch in chans]
        if all(n == records for n in reached):
            done_at, done_wall = cycles, time.perf_counter() - wall0
            break
        clock.now += TICK
    sim = clock.now - restart_at
    st = bot.call("stats", now=clock.ts())
    bot.close()
    reached = [ds.tally[ch.id].pictures + ds.tally[ch.id].held_pictures for ch in chans]
    dups = sum(ds.tally[ch.id].duplicates for ch in chans)
    posted = sum(ds.tally[ch.id].pictures for ch in chans)
    uploads = [b for ch in chans for b in ds.tally[ch.id].digest_upload_bytes]
    per_digest = sum(uploads) / len(uploads) / 1e3 if uploads else 0.0
    return [
        (f"backlog {records:,} after {DOWNTIME.total_seconds() / 3600:.0f} h down: pictures reached, all {channels} channels",
         f"{sum(reached):,}/{records * channels:,}", "all", sum(reached) == records * channels),
        ("backlog: duplicates", f"{dups}", "0", dups == 0),
        ("backlog: cycles until all records stored", f"{ingested_at}", "", bool(ingested_at)),
        ("backlog: cycles / wall until every channel has every picture", f"{done_at} / {done_wall:.1f} s"
         f" (sim {sim.total_seconds() / 3600:.1f} h)", "", bool(done_at)),
        ("backlog: wall until stored (incl. bot start)", f"{ingest_wall:.1f} s", "", True),
        ("backlog: pictures in posts vs in the digest", f"{posted:,} / {sum(reached) - posted:,}", "", True),
        ("backlog: digest upload per channel (multipart body)", f"{per_digest:.1f} KB ({len(uploads)} digests)",
         "< 192 KB (before)", 0 < per_digest < 192),
        ("backlog: posts left pending/sending", f"{sum(st['status'].get(s, 0) for s in ('pending', 'sending'))}", "0",
         not any(st["status"].get(s, 0) for s in ("pending", "sending"))),
    ]


def main() -> None:
    import tempfile

    from bench.run import print_table

    with tempfile.TemporaryDirectory() as tmp:
        rows = bench_backlog(Path(tmp))
    print_table(rows)
