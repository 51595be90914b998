"""roverbot benchmarks: `python -m bench.run` prints a table of measured figures against targets.

Everything runs on this machine against loopback stand-ins; nothing reaches the internet.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import cameras, parse  # noqa: E402
from bot.gallery import Gallery  # noqa: E402
from bot.nasa import NasaClient, make_http_client  # noqa: E402
from bot.poller import ImagePoller  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.nasa_standin import NasaStandIn, make_record  # noqa: E402

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)
Row = tuple[str, str, str, bool]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def bench_ingest(tmp: Path) -> list[Row]:
    records = [make_record(100 + i // 600, ("NAVCAM_LEFT", "MCZ_LEFT", "FRONT_HAZCAM_LEFT_A")[i % 3], n=i) for i in range(10_000)]
    pages = [{"images": records[i : i + 100], "per_page": "100"} for i in range(0, len(records), 100)]
    store = Store.open(tmp / "ingest.sqlite3", cameras.default())
    start = time.perf_counter()
    for payload in pages:
        store.record(parse.page(payload).images)
    elapsed = time.perf_counter() - start
    assert store.image_count() == 10_000
    store.close()
    rate = 10_000 / elapsed
    return [("ingest: parse + store 10,000 records", f"{rate:,.0f} records/s", ">= 20,000 records/s", rate >= 20_000)]


async def bench_idle_poll(tmp: Path) -> list[Row]:
    standin = NasaStandIn(records=[make_record(1990 + i // 200, n=i) for i in range(1000)]).start()
    http = make_http_client("roverbot-bench (contact: bench@example.org)", 10)
    store = Store.open(tmp / "poll.sqlite3", cameras.default())
    try:
        poller = ImagePoller(NasaClient(http, standin.url), store, clock=lambda: NOW)
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


async def bench_sol_from_store(tmp: Path) -> list[Row]:
    store = Store.open(tmp / "sol.sqlite3", cameras.default())
    families = ("NAVCAM_LEFT", "NAVCAM_RIGHT", "MCZ_LEFT", "MCZ_RIGHT", "FRONT_HAZCAM_LEFT_A", "SHERLOC_WATSON")
    records = [make_record(1500, families[i % 6], n=i) for i in range(600)]
    store.record(parse.page({"images": records}).images)
    gallery = Gallery(NasaClient(None, "http://127.0.0.1:9"), store, cameras.default(), clock=lambda: NOW)  # type: ignore[arg-type]
    store.mark_sol_fetched("mars2020", 1500, "", NOW.timestamp())  # warm: no NASA call may happen
    times = []
    for i in range(1000):
        t0 = time.perf_counter()
        post = await gallery.sol(1500, None, page=i % 120)
        times.append((time.perf_counter() - t0) * 1000)
    assert "600 pictures" in post.content
    store.close()
    p50, p99 = percentile(times, 50), percentile(times, 99)
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
    from bot import app, services
    from bot.config import Config
    from tests.discord_standin import DiscordStandIn
    from tests.nasa_standin import Fault

    nasa_standin = NasaStandIn(records=[make_record(1500, "NAVCAM_LEFT", n=i) for i in range(600)]).start()
    discord_standin = DiscordStandIn().start()
    app.apply_endpoints({"DISCORD_API_BASE": discord_standin.api_base})
    config = Config(nasa_base_url=nasa_standin.url, database=tmp / "bot.sqlite3", retries=0, timeout_seconds=30)
    rows: list[Row] = []
    try:
        async with services.build(config, clock=lambda: NOW) as svc:
            rover = app.RoverBot(svc)
            await rover.login("bench")
            try:
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
            finally:
                await rover.close()
    finally:
        app.apply_endpoints({})
        discord_standin.stop()
        nasa_standin.stop()
    return rows


SUITES: dict[str, Callable] = {"ingest": bench_ingest, "idle_poll": bench_idle_poll, "sol": bench_sol_from_store,
                               "interactions": bench_interactions}


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
