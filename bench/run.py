"""roverbot benchmarks: `python -m bench.run` prints a table of measured figures against targets.

Everything runs on this machine against loopback stand-ins; nothing reaches the internet.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.mars import cameras, rovers  # noqa: E402
from bot.sources.feeds import M2020Feed  # noqa: E402
from bot.sources import parse  # noqa: E402
from bot.answers.gallery import Gallery  # noqa: E402
from bot.sources.nasa import NasaClient, make_http_client  # noqa: E402
from bot.posting.poller import ImagePoller  # noqa: E402
from bot.store import Store  # noqa: E402
from bench.backlog import bench_backlog  # noqa: E402
from bench.cluster import bench_cluster  # noqa: E402
from bench.busy import bench_busy_channel  # noqa: E402
from bench.downtime import bench_downtime  # noqa: E402
from bench.soak import bench_soak  # noqa: E402
from bench.burst import bench_burst  # noqa: E402
from bench.panorama import bench_panorama  # noqa: E402
from bench.where import bench_where  # noqa: E402
from tests.nasa_standin import NasaStandIn, make_record  # noqa: E402

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)
Row = tuple[str, str, str, bool]


@contextlib.asynccontextmanager
async def bot_on_standins(nasa_standin, discord_standin, config, clock):
    """The real RoverBot, logged in to the Discord stand-in (REST), wired to the NASA stand-in.
    Stops both stand-ins when done."""
    from bot.chat import app
    from bot import services

    app.apply_endpoints({"DISCORD_API_BASE": discord_standin.api_base})
    try:
        async with services.build(config, clock) as svc:
            rover = app.RoverBot(svc)
            await rover.login("bench")
            try:
                yield rover
            finally:
                await rover.close()
    finally:
        app.apply_endpoints({})
        discord_standin.stop()
        nasa_standin.stop()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _ingest(where) -> float:
    records = [make_record(100 + i // 600, ("NAVCAM_LEFT", "MCZ_LEFT", "FRONT_HAZCAM_LEFT_A")[i % 3], n=i) for i in range(10_000)]
    pages = [{"images": records[i : i + 100], "per_page": "100"} for i in range(0, len(records), 100)]
    store = Store.open(where)
    start = time.perf_counter()
    for payload in pages:
        store.images.record(parse.page(payload, hosts=("127.0.0.1", *parse.IMAGE_HOSTS)).images)
    elapsed = time.perf_counter() - start
    assert store.images.image_count() == 10_000
    store.close()
    return 10_000 / elapsed


def bench_ingest(tmp: Path) -> list[Row]:
    rate = _ingest(tmp / "ingest.sqlite3")
    return [("ingest: parse + store 10,000 records", f"{rate:,.0f} records/s", ">= 20,000 records/s", rate >= 20_000)]


def bench_storage(tmp: Path) -> list[Row]:
    """The same ingest and /sol on the embedded SQLite file and on a PostgreSQL server (loopback,
    started here from the server binaries, as the tests do)."""
    from tests.pgserver import PgServer

    rows: list[Row] = []
    with PgServer() as pg:
        for label, where in (("SQLite", tmp / "storage.sqlite3"), ("PostgreSQL", pg.create_database("ingest"))):
            rate = _ingest(where)
            rows.append((f"ingest on {label}: parse + store 10,000 records", f"{rate:,.0f} records/s", "", True))
        for label, where in (("SQLite", tmp / "sol.sqlite3"), ("PostgreSQL", pg.create_database("sol"))):
            p50, p99 = asyncio.run(_sol_times(where))
            rows.append((f"/sol 600-image sol from the store on {label}: p50 / p99", f"{p50:.2f} / {p99:.2f} ms",
                         "p99 < 50 ms", p99 < 50))
    return rows


async def bench_idle_poll(tmp: Path) -> list[Row]:
    standin = NasaStandIn(records=[make_record(1990 + i // 200, n=i) for i in range(1000)]).start()
    http = make_http_client("roverbot-bench (contact: bench@example.org)", 10)
    store = Store.open(tmp / "poll.sqlite3")
    try:
        poller = ImagePoller(M2020Feed(NasaClient(http, standin.url)), store.images, store.frames, store.polls, store.state,
                             mission=rovers.PERSEVERANCE.mission, clock=lambda: NOW)
        await poller.poll()  # baseline
        cpu, requests = [], []
        for _ in range(50):
            before = len(standin.feed_requests)
            # thread_time counts this thread only: our code and the HTTP client, not the stand-in's thread
            t0 = time.thread_time()
            result = await poller.poll()
            cpu.append((time.thread_time() - t0) * 1000)
            requests.append(len(standin.feed_requests) - before)
            assert result.new == []
    finally:
        await http.aclose()
        store.close()
        standin.stop()
    med = statistics.median(cpu)
    return [
        ("idle poll: HTTP requests", f"{max(requests)}", "1", max(requests) == 1),
        ("idle poll: CPU in our code (median of 50)", f"{med:.2f} ms", "< 5 ms", med < 5),
    ]


async def _sol_times(where) -> tuple[float, float]:
    store = Store.open(where)
    families = ("NAVCAM_LEFT", "NAVCAM_RIGHT", "MCZ_LEFT", "MCZ_RIGHT", "FRONT_HAZCAM_LEFT_A", "SHERLOC_WATSON")
    records = [make_record(1500, families[i % 6], n=i) for i in range(600)]
    store.images.record(parse.page({"images": records}, hosts=("127.0.0.1", *parse.IMAGE_HOSTS)).images)
    nasa = NasaClient(None, "http://127.0.0.1:9")  # type: ignore[arg-type]
    gallery = Gallery(rovers.PERSEVERANCE, M2020Feed(nasa), store.images, store.frames, store.state, clock=lambda: NOW)
    store.images.mark_sol_fetched("mars2020", 1500, "", NOW.timestamp())  # warm: no NASA call may happen
    times = []
    for i in range(1000):
        t0 = time.perf_counter()
        post = await gallery.sol(1500, None, page=i % 120)
        times.append((time.perf_counter() - t0) * 1000)
    assert "600 pictures" in post.content
    store.close()
    return percentile(times, 50), percentile(times, 99)


async def bench_sol_from_store(tmp: Path) -> list[Row]:
    p50, p99 = await _sol_times(tmp / "sol.sqlite3")
    return [
        ("/sol 600-image sol from the store: p50", f"{p50:.2f} ms", "", True),
        ("/sol 600-image sol from the store: p99", f"{p99:.2f} ms", "< 10 ms", p99 < 10),
    ]


async def _wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the stand-in never saw the answer")
        await asyncio.sleep(0.0005)


async def bench_interactions(tmp: Path) -> list[Row]:
    """INTERACTION_CREATE -> discord.py's parser -> our cog -> HTTP to the Discord stand-in."""
    from bot.config import Config
    from tests.discord_standin import DiscordStandIn
    from tests.nasa_standin import Fault

    nasa_standin = NasaStandIn(records=[make_record(1500, "NAVCAM_LEFT", n=i) for i in range(600)]).start()
    discord_standin = DiscordStandIn().start()
    config = Config(nasa_base_url=nasa_standin.url, maps_base_url=nasa_standin.url, tile_hosts=("127.0.0.1",), database=tmp / "bot.sqlite3", retries=0, timeout_seconds=30)
    rows: list[Row] = []
    async with bot_on_standins(nasa_standin, discord_standin, config, lambda: NOW) as rover:
        svc = rover.services
        await svc.gallery.sol(1500)  # warm the store
        first, full = [], []
        for i in range(1000):
            payload = discord_standin.command("sol", {"sol": 1500, "camera": "navcam"})
            token = payload["token"]
            t0 = time.monotonic()
            rover._connection.parse_interaction_create(payload)
            await _wait_for(lambda: discord_standin.interactions[token].original is not None
                            and discord_standin.interactions[token].original.get("edited_timestamp"), 10)
            mine = [r for r in discord_standin.requests[-4:] if token in r["path"]]
            first.append((mine[0]["at"] - t0) * 1000)
            full.append((mine[-1]["at"] - t0) * 1000)
        rows += [
            ("/sol from a warm store: to the callback, p50", f"{percentile(first, 50):.2f} ms", "", True),
            ("/sol from a warm store: to the callback, p99", f"{percentile(first, 99):.2f} ms", "< 50 ms", percentile(first, 99) < 50),
            ("/sol from a warm store: to the gallery, p50", f"{percentile(full, 50):.2f} ms", "", True),
            ("/sol from a warm store: to the gallery, p99", f"{percentile(full, 99):.2f} ms", "< 50 ms", percentile(full, 99) < 50),
        ]
        # NASA takes 15 s: Discord must still hear from us at once.
        nasa_standin.faults.append(Fault(delay=15.0))
        payload = discord_standin.command("sol", {"sol": 1400})
        token = payload["token"]
        t0 = time.monotonic()
        rover._connection.parse_interaction_create(payload)
        await _wait_for(lambda: discord_standin.interactions[token].acknowledged, 5)
        ack = (discord_standin.interactions[token].acked_at - t0) * 1000
        await _wait_for(lambda: any(token in r["path"] and r["method"] in ("PATCH", "POST") and "callback" not in r["path"]
                                    for r in discord_standin.requests), 30)
        done = max(r["at"] for r in discord_standin.requests if token in r["path"]) - t0
        rows += [
            ("NASA answering in 15 s: first response", f"{ack:.1f} ms", "< 1 s", ack < 1000),
            ("NASA answering in 15 s: final answer", f"{done:.1f} s", "", True),
        ]
    return rows


class _Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def bench_posting(tmp: Path) -> list[Row]:
    """A 600-image sol into one channel: grouped posts vs one message per image."""
    from bot.config import Config
    from tests.discord_standin import DiscordStandIn

    nasa_standin = NasaStandIn(records=[make_record(1990, n=i) for i in range(50)]).start()
    discord_standin = DiscordStandIn().start()
    clock = _Clock(NOW)
    config = Config(nasa_base_url=nasa_standin.url, maps_base_url=nasa_standin.url, tile_hosts=("127.0.0.1",), database=tmp / "posting.sqlite3", retries=0, messages_per_hour=6,
                    group_wait_minutes=0)  # post right after the poll: this measures grouping, not waiting
    async with bot_on_standins(nasa_standin, discord_standin, config, clock) as rover:
        svc = rover.services
        auto = rover.automation
        await auto.images_cycle()  # baseline
        ch = discord_standin.general
        svc.store.subscriptions.subscribe(discord_standin.guild_id, ch.id, "images", mission="mars2020", at=NOW.timestamp())
        families = {"NAVCAM_LEFT": 200, "NAVCAM_RIGHT": 200, "MCZ_LEFT": 120, "FRONT_HAZCAM_LEFT_A": 50, "SHERLOC_WATSON": 30}
        n = 0
        for code, count in families.items():
            for i in range(count):
                nasa_standin.records.append(make_record(1995, code, n=n, sequence=f"{code.replace('_', '')[:4]}{i // 40:05d}",
                                                        received=NOW + timedelta(minutes=1, seconds=n)))
                n += 1
        clock.now = NOW + timedelta(minutes=10)
        report = await auto.images_cycle()
        sent = len(ch.messages)
        held = svc.store.outbox.counts().get("held", 0)
    return [
        ("600-image sol: groups (sol, family, sequence)", f"{report.queued}", "one post per group", report.queued < 600),
        ("600-image sol: messages posted this hour", f"{sent} (+{held} held for digest)", "<= budget (6)", sent <= 6),
        ("600-image sol: messages vs one per image", f"{sent}/600 = {sent / 600:.3f}x", "", True),
    ]


async def bench_digest_picture(tmp: Path) -> list[Row]:
    """Bytes to build a 12-frame digest picture from small renditions vs full-resolution files, and its time."""
    import io
    import random

    from PIL import Image

    from bot.sources import parse
    from bot.posting.digest import DigestMaker
    from tests.nasa_standin import jpeg

    standin = NasaStandIn().start()
    recs = [make_record(1995, ("MCZ_LEFT", "NAVCAM_LEFT", "SHERLOC_WATSON", "FRONT_HAZCAM_LEFT_A")[i % 4], n=i,
                        sequence=f"SEQ{i:05d}", host=standin.url) for i in range(12)]
    rng = random.Random(7)
    from urllib.parse import urlsplit

    full_sizes = []
    for i, r in enumerate(recs):
        # NASA's renditions: small is a 320 px JPEG; full_res is the 1280x960 PNG (sensor noise makes it big).
        standin.files[urlsplit(r["image_files"]["small"]).path] = jpeg(320, 240, (90 + i * 9, 70, 50))
        full = Image.frombytes("RGB", (1280, 960), rng.randbytes(1280 * 960 * 3)).resize((1280, 960))
        buf = io.BytesIO()
        full.reduce(2).resize((1280, 960)).save(buf, "PNG")
        standin.files[urlsplit(r["image_files"]["full_res"]).path] = buf.getvalue()
        full_sizes.append(len(buf.getvalue()))
    http = make_http_client("roverbot-bench (contact: bench@example.org)", 30)
    try:
        nasa = NasaClient(http, standin.url)
        found = parse.page({"images": recs}, hosts=("127.0.0.1",)).images
        maker = DigestMaker(nasa, cameras.default(), image_hosts=("127.0.0.1",), max_image_bytes=20_000_000, clock=lambda: NOW)
        t0 = time.perf_counter()
        data, used = await maker.picture(found)
        elapsed = (time.perf_counter() - t0) * 1000
        ours = maker.bytes_downloaded
        naive = 0
        for img in found:
            naive += len(await nasa.image(img.full_res, allowed_hosts=("127.0.0.1",), max_bytes=50_000_000))
    finally:
        await http.aclose()
        standin.stop()
    return [
        ("digest picture: bytes downloaded (12 small renditions)", f"{ours / 1e6:.2f} MB", "< 1.5 MB", ours < 1.5e6),
        ("digest picture: bytes if full-resolution files", f"{naive / 1e6:.1f} MB", "", True),
        ("digest picture: ours vs full-resolution", f"{ours / naive:.3f}x", "", True),
        ("digest picture: fetch + compose 12 frames", f"{elapsed:.0f} ms", "< 300 ms", elapsed < 300 and used == 12),
        ("digest picture: uploaded to each channel", f"{len(data or b'') / 1e3:.0f} KB", "< 192 KB (before)",
         0 < len(data or b"") < 192_000),
    ]


async def bench_fanout(tmp: Path) -> list[Row]:
    """One digest to 1,000 channels through a stand-in allowing 50 requests/s."""
    from bot.config import Config
    from tests.discord_standin import DiscordStandIn

    nasa_standin = NasaStandIn().start()
    discord_standin = DiscordStandIn(rate_limit_per_second=50).start()
    recs = [make_record(1995, ("MCZ_LEFT", "NAVCAM_LEFT")[i % 2], n=i, sequence=f"SEQ{i:05d}", host=nasa_standin.url,
                        received=NOW - timedelta(hours=1)) for i in range(40)]
    from tests.nasa_standin import serve_images

    serve_images(nasa_standin, recs)
    clock = _Clock(datetime(2026, 10, 1, 8, 0, tzinfo=timezone.utc))
    config = Config(nasa_base_url=nasa_standin.url, maps_base_url=nasa_standin.url, tile_hosts=("127.0.0.1",), database=tmp / "fanout.sqlite3", retries=0, image_hosts=("127.0.0.1",),
                    news_feeds=())
    async with bot_on_standins(nasa_standin, discord_standin, config, clock) as rover:
        svc = rover.services
        auto = rover.automation
        svc.store.images.record(parse.page({"images": recs}, hosts=("127.0.0.1",)).images, svc.store.polls.start_poll("images"), seen_at=clock.now.timestamp() - 60)
        for _ in range(1000):
            ch = discord_standin.add_channel("c")
            svc.store.subscriptions.subscribe(discord_standin.guild_id, ch.id, "digest", mission="mars2020", timezone="UTC", at=clock.now.timestamp() - 3600)
        clock.now = datetime(2026, 10, 1, 9, 0, 5, tzinfo=timezone.utc)
        t0 = time.perf_counter()
        queued = await auto.digest_cycle()
        elapsed = time.perf_counter() - t0
        delivered = sum(len(c.messages) for c in discord_standin.channels.values())
        limited = sum(1 for r in discord_standin.requests if r.get("limited"))
        composed = auto.digests.maker.sheets_composed
    ratio = elapsed / 20.0
    return [
        ("digest to 1,000 channels at 50 req/s: delivered", f"{delivered}/{queued}", "1000", delivered == 1000),
        ("digest to 1,000 channels: total time", f"{elapsed:.1f} s", "", True),
        ("digest to 1,000 channels: vs the 20 s the limit allows", f"{ratio:.2f}x", "<= 1.15x", ratio <= 1.15),
        ("digest to 1,000 channels: 429s received / pictures composed", f"{limited} / {composed}", "composed once", composed == 1),
    ]


async def bench_where_command(tmp: Path) -> list[Row]:
    """/where as the bot answers it (bot/drives.py): configuration, current position, traverse,
    sample sites, tiles and the picture, with a cold and then a warm tile cache, over loopback."""
    from dataclasses import replace

    from bot.config import Config
    from bot.answers.drives import RoverMaps
    from tests.mmgis_standin import MmgisStandIn

    standin = MmgisStandIn(tile_texture=True).start()
    http = make_http_client("roverbot-bench (contact: bench@example.org)", 30)
    try:
        config = replace(Config(), maps_base_url=standin.url, tile_hosts=("127.0.0.1",), tile_cache_dir=tmp / "where-tiles")
        maps = RoverMaps(http, config, lambda: datetime(2026, 4, 26, 7, tzinfo=timezone.utc))
        t0 = time.perf_counter()
        post = await maps.where("perseverance")
        cold_ms, cold_bytes = (time.perf_counter() - t0) * 1000, maps.tiles.downloaded_bytes
        warm = []
        for _ in range(5):
            t0 = time.perf_counter()
            await maps.where("perseverance")
            warm.append((time.perf_counter() - t0) * 1000)
        warm_bytes = maps.tiles.downloaded_bytes - cold_bytes
    finally:
        await http.aclose()
        standin.stop()
    size = len(post.attachments[0].data)
    return [
        ("/where (RoverMaps.where): cold tile cache", f"{cold_ms:.0f} ms, {cold_bytes / 1e3:.0f} kB tiles", "< 3000 ms",
         cold_ms < 3000),
        ("/where: warm tile cache (median of 5)", f"{statistics.median(warm):.0f} ms, {warm_bytes} B tiles",
         "< 1000 ms, 0 B", statistics.median(warm) < 1000 and warm_bytes == 0),
        ("/where: traverse parses over 6 answers", f"{maps.client.parses}", "1", maps.client.parses == 1),
        ("/where: picture", f"{size / 1e3:.0f} kB", "< 200 kB", size < 200_000),
    ]


SUITES: dict[str, Callable] = {"ingest": bench_ingest, "idle_poll": bench_idle_poll, "sol": bench_sol_from_store,
                               "interactions": bench_interactions, "posting": bench_posting,
                               "digest_picture": bench_digest_picture, "fanout": bench_fanout, "soak": bench_soak,
                               "burst": bench_burst, "panorama": bench_panorama, "where": bench_where,
                               "where_command": bench_where_command, "downtime": bench_downtime,
                               "backlog": bench_backlog, "busy_channel": bench_busy_channel,
                               "storage": bench_storage, "cluster": bench_cluster}


def print_table(rows: list[Row]) -> None:
    w = [max(len(r[i]) for r in rows + [("benchmark", "measured", "target", True)]) for i in range(3)]
    print(f"{'benchmark':<{w[0]}}  {'measured':>{w[1]}}  {'target':<{w[2]}}  ok")
    print(f"{'-' * w[0]}  {'-' * w[1]}  {'-' * w[2]}  --")
    for name, measured, target, ok in rows:
        print(f"{name:<{w[0]}}  {measured:>{w[1]}}  {target:<{w[2]}}  {'yes' if ok else 'NO'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("only", nargs="*", choices=[*SUITES, []], help="run only these suites")
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, suite in SUITES.items():
            if args.only and name not in args.only:
                continue
            out = suite(Path(tmp))
            rows += asyncio.run(out) if asyncio.iscoroutine(out) else out
    print_table(rows)
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
