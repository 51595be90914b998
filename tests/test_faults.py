"""The fault suite: each case asserts the bot keeps serving commands, loses no post and doubles none.

Outcomes are collected into docs/reliability.md by tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
import pytest

from tests.conftest import dispatch
from tests.discord_standin import Fault as DiscordFault
from tests.nasa_standin import Fault, jpeg, make_record, serve_images
from tests.test_automation import burst

fault = pytest.mark.fault


async def serves(bot, ds) -> None:
    """The bot still answers a command."""
    await dispatch(bot, ds.command("now"))
    last = ds.calls("POST", "/callback")[-1]
    assert last["json"]["type"] == 4 and last["json"]["data"]["embeds"][0]["title"].startswith("It is sol")


async def subscribed(bot, ds, store, clock, kind="images"):
    await bot.automation.images_cycle()  # baseline
    store.subscriptions.subscribe(ds.guild_id, ds.general.id, kind, mission="mars2020", at=clock().timestamp())


def new_pictures(nasa_standin, clock, n=3, code="MCZ_LEFT", sol=1995):
    recs = burst(sol, clock.now + timedelta(seconds=30), nasa_standin.url, {code: n})
    nasa_standin.records += recs
    clock.now += timedelta(minutes=10)
    return recs


def exactly_once(ds, store):
    posts = [m for m in ds.general.messages if "New from Perseverance" in (m["content"] or "")]
    keys = [e.key for e in store.outbox.entries(kind="images")]
    assert len(keys) == len(set(keys))
    assert len(posts) == len(store.outbox.entries(kind="images", status="sent")) == len(keys)
    return posts


# ---------------------------------------------------------------- NASA


@fault("NASA", "HTTP 500/502/503 on a poll", "cycle logged as failed; the next one posts the pictures once")
@pytest.mark.parametrize("status", [500, 502, 503])
async def test_nasa_5xx_during_a_poll(connected_bot, discord_standin, nasa_standin, store, clock, status):
    await subscribed(connected_bot, discord_standin, store, clock)
    new_pictures(nasa_standin, clock)
    # one try and two retries, all refused
    nasa_standin.faults.extend([Fault(status=status, body=b"<html>Bad gateway</html>", content_type="text/html")] * 3)
    report = await connected_bot.automation.images_cycle()
    assert report.error and f"HTTP {status}" in report.error
    await serves(connected_bot, discord_standin)
    clock.now += timedelta(minutes=10)
    await connected_bot.automation.images_cycle()
    assert len(exactly_once(discord_standin, store)) == 1



@fault("NASA", "a hang past the timeout", "the poll gives up at the timeout; commands answered meanwhile; next cycle posts")
async def test_nasa_hangs(connected_bot, discord_standin, nasa_standin, store, clock, nasa):
    await subscribed(connected_bot, discord_standin, store, clock)
    new_pictures(nasa_standin, clock)
    nasa.http.timeout = httpx.Timeout(0.3)
    nasa_standin.faults.extend([Fault(delay=2.0)] * 3)
    poll = asyncio.create_task(connected_bot.automation.images_cycle())
    await serves(connected_bot, discord_standin)  # while NASA hangs
    report = await poll
    assert report.error and "did not answer in time" in report.error
    clock.now += timedelta(minutes=10)
    await connected_bot.automation.images_cycle()
    assert len(exactly_once(discord_standin, store)) == 1


@fault("NASA", "answers that take 15 s", "/sol deferred within 1 s, other commands answered meanwhile, gallery delivered")
async def test_nasa_takes_fifteen_seconds(connected_bot, discord_standin, nasa_standin, nasa):
    nasa.http.timeout = httpx.Timeout(45.0, connect=10.0)  # the production default: slow answers are normal
    nasa_standin.records += [make_record(3, "NAVCAM_LEFT", n=i) for i in range(3)]
    nasa_standin.faults.append(Fault(delay=15.0))
    payload = discord_standin.command("sol", {"sol": 3})
    started = time.monotonic()
    slow = asyncio.create_task(dispatch(connected_bot, payload, timeout=40))
    while not discord_standin.interactions[payload["token"]].acknowledged:
        await asyncio.sleep(0.01)
    assert discord_standin.interactions[payload["token"]].acked_at - started < 1.0
    await serves(connected_bot, discord_standin)
    await slow
    edit = [c for c in discord_standin.calls("PATCH", "/messages/@original") if payload["token"] in c["path"]]
    assert edit and "Sol 3" in edit[0]["json"]["content"] and time.monotonic() - started >= 15


@fault("NASA", "malformed JSON / HTML page with 200 / truncated body / renamed key",
       "one error type, logged; the next cycle posts the pictures once")
@pytest.mark.parametrize("body, content_type, says, tries", [
    (b'{"images": [{"sol": 3,', "application/json", "not valid JSON", 3),
    (b"<!DOCTYPE html><html><body>Maintenance</body></html>", "text/html", "not valid JSON (text/html", 3),
    # Valid JSON of another shape is not retried at once: asking again would get the same answer.
    (b'{"imgs": [], "per_page": "100"}', "application/json", "no image list", 1),
], ids=["truncated body", "HTML page with status 200", "renamed key (schema drift)"])
async def test_nasa_bad_bodies(connected_bot, discord_standin, nasa_standin, store, clock, body, content_type, says, tries):
    await subscribed(connected_bot, discord_standin, store, clock)
    new_pictures(nasa_standin, clock)
    nasa_standin.faults.extend([Fault(body=body, content_type=content_type)] * tries)
    report = await connected_bot.automation.images_cycle()
    assert report.error and says in report.error
    await serves(connected_bot, discord_standin)
    clock.now += timedelta(minutes=10)
    await connected_bot.automation.images_cycle()
    assert len(exactly_once(discord_standin, store)) == 1



@fault("NASA", "repeated failures", "the source backs off (2, 4, 8... intervals, at most an hour) and status says since when")
async def test_nasa_backoff_is_bounded(connected_bot, discord_standin, nasa_standin, store, clock):
    auto = connected_bot.automation
    await auto.images_cycle()
    nasa_standin.faults.extend([Fault(status=503)] * 100)
    attempts = []
    for _ in range(80):  # 80 ten-minute ticks: about 13 hours
        before = len(nasa_standin.feed_requests)
        await auto.images_cycle()
        if len(nasa_standin.feed_requests) > before:
            attempts.append(clock.now)
        clock.now += timedelta(minutes=10)
    gaps = [(b - a).total_seconds() / 60 for a, b in zip(attempts, attempts[1:])]
    assert gaps[:4] == [10, 20, 40, 60] and max(gaps) == 60  # doubling, capped at an hour
    failures, since = store.polls.poll_failures("images")
    assert failures == len(attempts) and since is not None
    await serves(connected_bot, discord_standin)
    nasa_standin.faults.clear()
    clock.now += timedelta(hours=1)
    report = await auto.images_cycle()
    assert report.error is None and store.polls.poll_failures("images")[0] == 0


@fault("NASA", "image URL 404, corrupt JPEG, decompression bomb in a digest", "frames left out; the digest is still posted once")
async def test_digest_with_broken_images(connected_bot, discord_standin, nasa_standin, store, clock):
    from urllib.parse import urlsplit

    from bot.sources import parse

    recs = [make_record(1995, "MCZ_LEFT" if i < 6 else "NAVCAM_LEFT", n=i, sequence=f"SEQ{i:05d}", host=nasa_standin.url)
            for i in range(9)]  # nine sequences: nine candidate frames
    serve_images(nasa_standin, recs)
    import io

    from PIL import Image

    bomb = io.BytesIO()
    Image.new("L", (20000, 20000)).save(bomb, "PNG", optimize=True)
    small = lambda r: urlsplit(r["image_files"]["small"]).path  # noqa: E731
    del nasa_standin.files[small(recs[0])]  # 404
    nasa_standin.files[small(recs[1])] = jpeg()[:300]  # corrupt
    nasa_standin.files[small(recs[2])] = bomb.getvalue()  # decompression bomb
    clock.now = clock.now.replace(hour=9, minute=1)
    store.images.record(parse.page({"images": recs}, hosts=(*parse.IMAGE_HOSTS, "127.0.0.1")).images, store.polls.start_poll("images"), seen_at=clock().timestamp() - 120)
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "digest", mission="mars2020", timezone="UTC",
                    at=clock().timestamp() - 86400)
    await connected_bot.automation.digest_cycle()
    await connected_bot.automation.digest_cycle()
    [digest] = [m for m in discord_standin.general.messages if m["attachments"]]
    assert digest["attachments"][0]["filename"] == "digest.jpg" and "9 new pictures" in digest["embeds"][0]["description"]
    assert connected_bot.automation.digests.maker._sheets and list(connected_bot.automation.digests.maker._sheets.values())[0][1] == 6
    assert connected_bot.automation.digests.maker.sheets_composed == 1
    await serves(connected_bot, discord_standin)


# ---------------------------------------------------------------- Discord


@fault("Discord", "429 per route and global", "waited out by discord.py's limiter; posted once")
@pytest.mark.parametrize("is_global", [False, True], ids=["per route", "global"])
async def test_discord_429(connected_bot, discord_standin, nasa_standin, store, clock, is_global):
    await subscribed(connected_bot, discord_standin, store, clock)
    new_pictures(nasa_standin, clock)
    discord_standin.faults.append(DiscordFault("POST", r"/channels/\d+/messages", 429,
                                               {"message": "You are being rate limited.", "retry_after": 0.3, "global": is_global},
                                               headers={"X-RateLimit-Scope": "global" if is_global else "user"}))
    await connected_bot.automation.images_cycle()
    assert len(exactly_once(discord_standin, store)) == 1
    assert len(discord_standin.calls("POST", r"/channels/\d+/messages")) == 2  # refused once, then accepted
    await serves(connected_bot, discord_standin)



@fault("Discord", "5xx on a send", "retried; posted once")
async def test_discord_5xx(connected_bot, discord_standin, nasa_standin, store, clock):
    await subscribed(connected_bot, discord_standin, store, clock)
    new_pictures(nasa_standin, clock)
    discord_standin.faults.append(DiscordFault("POST", r"/channels/\d+/messages", 500, {"message": "500: Internal Server Error", "code": 0}))
    await connected_bot.automation.images_cycle()
    assert len(exactly_once(discord_standin, store)) == 1
    await serves(connected_bot, discord_standin)


@fault("Discord", "5xx that outlasts discord.py's retries", "kept pending and sent once on a later cycle")
async def test_discord_long_outage(connected_bot, discord_standin, nasa_standin, store, clock, monkeypatch):
    import discord

    await subscribed(connected_bot, discord_standin, store, clock)
    new_pictures(nasa_standin, clock)
    discord_standin.faults.append(DiscordFault("POST", r"/channels/\d+/messages", 502, {"message": "bad gateway", "code": 0}, times=5))
    real_sleep = asyncio.sleep
    monkeypatch.setattr(discord.http.asyncio, "sleep", lambda s, *a, **k: real_sleep(0))  # discord.py's 1, 3, 5, 7 s
    await connected_bot.automation.images_cycle()
    [entry] = store.outbox.entries(kind="images")
    assert entry.status == "pending" and entry.attempts == 1 and discord_standin.general.messages == []
    monkeypatch.undo()
    clock.now += timedelta(minutes=5)
    await connected_bot.automation.delivery_cycle()
    assert len(exactly_once(discord_standin, store)) == 1
    await serves(connected_bot, discord_standin)


@fault("Discord", "403/50013 and 404/10003 on a send", "subscription paused, server told once, resumed when fixed (see test_automation)")
async def test_discord_forbidden_then_fixed(connected_bot, discord_standin, nasa_standin, store, clock):
    from tests.discord_standin import ALL_TEXT, VIEW_CHANNEL
    from tests.conftest import settle

    await subscribed(connected_bot, discord_standin, store, clock)
    discord_standin.set_permissions(discord_standin.general, VIEW_CHANNEL)
    await settle()
    new_pictures(nasa_standin, clock)
    await connected_bot.automation.images_cycle()
    assert store.subscriptions.find()[0].paused
    await serves(connected_bot, discord_standin)
    discord_standin.set_permissions(discord_standin.general, ALL_TEXT)
    await settle()
    await connected_bot.automation.delivery_cycle()
    assert len(exactly_once(discord_standin, store)) == 1


@fault("Discord", "gateway disconnect, RESUME and a RECONNECT request", "session resumed; commands still answered (see test_discord_run)")
async def test_gateway_drop_and_reconnect(connected_bot, discord_standin):
    await discord_standin.acall(discord_standin.drop_connections(4000))
    for _ in range(200):
        if discord_standin.resumes:
            break
        await asyncio.sleep(0.05)
    assert discord_standin.resumes[0]["token"] == "test-token-not-a-secret"  # a RESUME, not a new IDENTIFY
    assert len(discord_standin.identifies) == 1
    await discord_standin.acall(discord_standin.send_op(7))
    for _ in range(200):
        if len(discord_standin.resumes) >= 2:
            break
        await asyncio.sleep(0.05)
    assert len(discord_standin.resumes) >= 2
    payload = discord_standin.command("now")
    await discord_standin.acall(discord_standin.send_dispatch("INTERACTION_CREATE", payload))
    for _ in range(100):
        if discord_standin.interactions[payload["token"]].acknowledged:
            break
        await asyncio.sleep(0.05)
    assert discord_standin.interactions[payload["token"]].acknowledged


@fault("Discord", "an interaction delivered twice (40060)", "answered once; the duplicate logged and ignored")
async def test_interaction_twice(connected_bot, discord_standin):
    payload = discord_standin.command("now")
    await dispatch(connected_bot, payload)
    await dispatch(connected_bot, payload)
    assert [c.get("rejected") for c in discord_standin.calls("POST", "/callback")] == [None, 40060]
    await serves(connected_bot, discord_standin)
