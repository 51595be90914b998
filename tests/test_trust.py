"""Trust under real conditions (issue 8): exactly once past Discord's nonce window, pollers that
never stall or skip, NASA's text treated as data, durable and bounded storage.

Every test drives the real pieces end to end: a real SQLite file, discord.py's client against the
Discord stand-in, the poller against the NASA stand-in (or a small loopback server of its own), and
counts outcomes where they land, in the stand-ins. Clocks are driven, never slept on for minutes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from bot.sources import parse
from bot.models import Payload, PostKey
from bot.mars import rovers
from tests.conftest import rover_gallery, rover_poller, settle
from tests.discord_standin import ALL_TEXT, READ_MESSAGE_HISTORY, VIEW_CHANNEL
from tests.nasa_standin import Fault, make_record
from tests.test_automation import ITEM, NEWS, burst
from tests.test_faults import new_pictures, subscribed
from tests.trust_servers import AcceptThenFail, Recorder, Redirector, Trickle

fault = pytest.mark.fault
PAST_NONCE_WINDOW = 301.0  # the stand-in's window is 300 s (Discord: "a few minutes")
MESSAGES = r"/channels/\d+/messages$"


# ---------------------------------------------------------------- helpers


def image_posts(ch) -> list[dict]:
    return [m for m in ch.messages if "New from Perseverance" in (m.get("content") or "")]


def recover(auto) -> None:
    """What a start does first (Automation.recover); a build without it has nothing to call."""
    getattr(auto, "recover", lambda: None)()


_restarts = itertools.count(1)


def restart(bot, auto):
    """A restarted process: new automation objects over the same database and Discord client, under
    a new process name (a new pid)."""
    fresh = bot.services.automation(auto.courier.sender, name=f"restarted:{next(_restarts)}")
    recover(fresh)
    return fresh


@pytest.fixture
def no_discord_backoff(monkeypatch):
    """discord.py waits 1, 3, 5, 7 s between its own 5xx retries: not in a test."""
    import discord

    real_sleep = asyncio.sleep
    monkeypatch.setattr(discord.http.asyncio, "sleep", lambda s, *a, **k: real_sleep(0))
    return monkeypatch


def all_text(message: dict) -> str:
    parts = [message.get("content") or ""]
    for e in message.get("embeds") or []:
        parts += [e.get("title") or "", e.get("description") or "", e.get("url") or "",
                  (e.get("footer") or {}).get("text") or "", (e.get("author") or {}).get("name") or "",
                  (e.get("image") or {}).get("url") or "", (e.get("thumbnail") or {}).get("url") or ""]
        parts += [f.get("name", "") + "\n" + f.get("value", "") for f in e.get("fields") or []]
    return "\n".join(parts)


def picture_urls(messages: list[dict]) -> list[str]:
    return [(e.get("image") or {}).get("url") for m in messages for e in m.get("embeds") or [] if e.get("image")]


def large(rec: dict) -> str:
    return rec["image_files"]["large"]


# ---------------------------------------------------------------- 1. exactly once past the nonce window


@fault("Discord", "answer lost (502 after Discord kept the post), re-sent after Discord forgot the nonce",
       "found in the channel by its reference and recorded: one message")
async def test_lost_answer_resent_past_nonce_window_is_found_not_doubled(
        connected_bot, discord_standin, nasa_standin, store, clock, no_discord_backoff):
    auto = connected_bot.automation
    await subscribed(connected_bot, discord_standin, store, clock)
    new_pictures(nasa_standin, clock)
    lost = AcceptThenFail(discord_standin, times=5).install(no_discord_backoff)
    await auto.images_cycle()
    assert lost.left == 0 and len(image_posts(discord_standin.general)) == 1  # Discord has it
    [entry] = store.outbox.entries(kind="images")
    assert entry.status == "pending" and entry.message_id is None  # ...the bot does not know
    no_discord_backoff.undo()
    # Long after: Discord forgot the nonce, and the bot's retry is well past its trust window.
    discord_standin.advance(PAST_NONCE_WINDOW)
    clock.now += timedelta(minutes=10)
    posts_before = len(discord_standin.calls("POST", MESSAGES))
    await restart(connected_bot, auto).delivery_cycle()
    posted = image_posts(discord_standin.general)
    assert len(posted) == 1, f"{len(posted)} copies of one post"
    [entry] = store.outbox.entries(kind="images")
    assert entry.status == "sent" and entry.message_id == int(posted[0]["id"])
    assert len(discord_standin.calls("POST", MESSAGES)) == posts_before  # recorded, not sent again
    assert discord_standin.calls("GET", MESSAGES)  # it read the channel to find it


@fault("Process", "killed between Discord's answer and the record, restarted after Discord forgot the nonce",
       "found in the channel by its reference and recorded: one message")
async def test_kill_after_send_restart_past_nonce_window_is_found_not_doubled(
        connected_bot, discord_standin, nasa_standin, store, clock, monkeypatch):
    auto = connected_bot.automation
    await subscribed(connected_bot, discord_standin, store, clock)
    new_pictures(nasa_standin, clock)

    def die(*a, **k):
        raise KeyboardInterrupt  # Discord has the message; the store never hears of it

    monkeypatch.setattr(store.outbox, "mark_sent", die)
    with pytest.raises(KeyboardInterrupt):
        await auto.images_cycle()
    monkeypatch.undo()
    assert len(image_posts(discord_standin.general)) == 1
    discord_standin.advance(PAST_NONCE_WINDOW)
    clock.now += timedelta(minutes=6)
    await restart(connected_bot, auto).delivery_cycle()
    posted = image_posts(discord_standin.general)
    assert len(posted) == 1, f"{len(posted)} copies of one post"
    [entry] = store.outbox.entries(kind="images")
    assert entry.status == "sent" and entry.message_id == int(posted[0]["id"])


@fault("Process", "power loss rolled back the 'sent' commit; restart after Discord forgot the nonce",
       "found in the channel by its reference and recorded: one message")
async def test_power_loss_rolled_back_mark_sent_is_found_not_doubled(connected_bot, discord_standin, nasa_standin, store, clock):
    auto = connected_bot.automation
    await subscribed(connected_bot, discord_standin, store, clock)
    new_pictures(nasa_standin, clock)
    await auto.images_cycle()
    [sent] = image_posts(discord_standin.general)
    [entry] = store.outbox.entries(kind="images")
    assert entry.status == "sent"
    # The last commit (mark_sent) is lost; the claim before the send is on disk, made by the process
    # that lost power (the restarted one has another name).
    store.db.execute("UPDATE outbox SET status = 'sending', claimed_by = 'lost-power:1', message_id = NULL, sent_at = NULL"
                     " WHERE id = ?", (entry.id,))
    discord_standin.advance(PAST_NONCE_WINDOW)
    clock.now += timedelta(minutes=6)
    await restart(connected_bot, auto).delivery_cycle()
    posted = image_posts(discord_standin.general)
    assert len(posted) == 1, f"{len(posted)} copies of one post"
    [entry] = store.outbox.entries(kind="images")
    assert entry.status == "sent" and entry.message_id == int(sent["id"])


# ---------------------------------------------------------------- 2. no Read Message History


@fault("Discord", "re-send past the nonce window without Read Message History",
       "not posted again: the subscription pauses and says why; recorded once the right is back")
async def test_no_read_history_never_resends_blind(connected_bot, discord_standin, nasa_standin, store, clock, no_discord_backoff):
    auto = connected_bot.automation
    ch = discord_standin.general
    await subscribed(connected_bot, discord_standin, store, clock)
    new_pictures(nasa_standin, clock)
    AcceptThenFail(discord_standin, times=5).install(no_discord_backoff)
    await auto.images_cycle()
    no_discord_backoff.undo()
    assert len(image_posts(ch)) == 1 and store.outbox.entries(kind="images")[0].status == "pending"
    discord_standin.set_permissions(ch, ALL_TEXT & ~READ_MESSAGE_HISTORY)  # history reads now answer []
    await settle()
    discord_standin.advance(PAST_NONCE_WINDOW)
    clock.now += timedelta(minutes=10)
    await auto.delivery_cycle()
    await auto.delivery_cycle()
    assert len(image_posts(ch)) == 1, "posted a second copy without being able to look for the first"
    [sub] = store.subscriptions.find(kind="images")
    assert sub.paused and "Read Message History" in (sub.paused_reason or "")
    # The right given back: the post is found where it is and recorded, still one message.
    discord_standin.set_permissions(ch, ALL_TEXT)
    await settle()
    await auto.delivery_cycle()
    [entry] = store.outbox.entries(kind="images")
    assert not store.subscriptions.find(kind="images")[0].paused
    assert len(image_posts(ch)) == 1 and entry.status == "sent" and entry.message_id == int(image_posts(ch)[0]["id"])


# ---------------------------------------------------------------- 3. late pictures of an attempted post


@fault("Discord", "late pictures of a sequence whose post was already attempted (answer lost)",
       "a new post for the late pictures; the first unchanged; every picture exactly once")
async def test_late_pictures_of_an_attempted_post_make_a_new_post(
        connected_bot, discord_standin, nasa_standin, store, clock, no_discord_backoff):
    auto = connected_bot.automation
    await subscribed(connected_bot, discord_standin, store, clock)
    first = [make_record(1995, "MCZ_LEFT", n=i, sequence="ZCAM07777", received=clock.now + timedelta(seconds=30 + i))
             for i in range(3)]
    nasa_standin.records += first
    clock.now += timedelta(minutes=10)
    AcceptThenFail(discord_standin, times=5).install(no_discord_backoff)
    await auto.images_cycle()  # Discord keeps the post; the bot hears 502
    no_discord_backoff.undo()
    [kept] = image_posts(discord_standin.general)
    first_content, first_embeds = kept["content"], kept["embeds"]
    assert "3 pictures · sequence ZCAM07777" in first_content
    # The same sequence goes on arriving, ten minutes later (inside Discord's nonce window).
    late = [make_record(1995, "MCZ_LEFT", n=10 + i, sequence="ZCAM07777", received=clock.now + timedelta(seconds=30 + i))
            for i in range(2)]
    nasa_standin.records += late
    clock.now += timedelta(minutes=10)
    await auto.images_cycle()
    clock.now += timedelta(minutes=10)
    await auto.delivery_cycle()
    posts = image_posts(discord_standin.general)
    assert posts[0]["content"] == first_content and posts[0]["embeds"] == first_embeds
    urls = picture_urls(posts)
    missing = [large(r) for r in first + late if large(r) not in urls]
    assert not missing, f"{len(missing)} picture(s) never reached the channel"
    assert sorted(urls) == sorted(large(r) for r in first + late), "a picture appears more than once"
    assert len(posts) == 2 and "2 pictures · sequence ZCAM07777" in posts[1]["content"]
    assert {e.status for e in store.outbox.entries(kind="images")} == {"sent"}


# ---------------------------------------------------------------- 4. two couriers


@fault("Process", "two couriers pumping the same database at once", "each post sent exactly once")
async def test_two_couriers_never_send_the_same_row(connected_bot, discord_standin, nasa_standin, store, clock):
    auto = connected_bot.automation
    await subscribed(connected_bot, discord_standin, store, clock)
    nasa_standin.records += burst(1995, clock.now + timedelta(seconds=30), nasa_standin.url,
                                  {"MCZ_LEFT": 1, "NAVCAM_LEFT": 1, "FRONT_HAZCAM_LEFT_A": 1, "SHERLOC_WATSON": 1,
                                   "SUPERCAM_RMI": 1})
    clock.now += timedelta(minutes=10)
    await auto.images[0].poller.poll()
    auto.images[0].dispatch()
    rows = store.outbox.entries(kind="images")
    assert len(rows) == 5
    one = connected_bot.services.automation(auto.courier.sender)
    two = connected_bot.services.automation(auto.courier.sender)
    await asyncio.gather(one.courier.pump(), two.courier.pump(), auto.courier.pump())
    sends = [c["json"].get("nonce") for c in discord_standin.calls("POST", MESSAGES) if isinstance(c["json"], dict)]
    doubled = {n: sends.count(n) for n in set(sends) if sends.count(n) > 1}
    assert not doubled, f"rows sent more than once: {doubled}"
    assert len(image_posts(discord_standin.general)) == 5 == len(sends)
    assert {e.status for e in store.outbox.entries(kind="images")} == {"sent"}


# ---------------------------------------------------------------- 5. one 403 per batch


@fault("Discord", "403 on the first post of a batch of several to one channel",
       "one rejected request; the rest held and delivered once the permission is back")
async def test_403_on_first_of_a_batch_costs_one_request(connected_bot, discord_standin, nasa_standin, store, clock):
    auto = connected_bot.automation
    photos = discord_standin.add_channel("photos")
    discord_standin.call(discord_standin.send_dispatch("CHANNEL_CREATE", discord_standin.channel_object(photos)))
    await settle()
    await auto.images_cycle()  # baseline
    store.subscriptions.subscribe(discord_standin.guild_id, photos.id, "images", mission="mars2020", at=clock().timestamp())
    discord_standin.set_permissions(photos, VIEW_CHANNEL)
    await settle()
    nasa_standin.records += burst(1995, clock.now + timedelta(seconds=30), nasa_standin.url,
                                  {"MCZ_LEFT": 1, "NAVCAM_LEFT": 1, "FRONT_HAZCAM_LEFT_A": 1, "SHERLOC_WATSON": 1})
    clock.now += timedelta(minutes=10)
    await auto.images_cycle()
    to_photos = discord_standin.calls("POST", rf"/channels/{photos.id}/messages$")
    assert len(to_photos) == 1, f"{len(to_photos)} refused requests for one refusal"
    assert store.subscriptions.find(channel_id=photos.id)[0].paused
    assert len(store.outbox.entries(channel_id=photos.id, status="pending")) == 4
    assert discord_standin.invalid_requests <= 1
    discord_standin.set_permissions(photos, ALL_TEXT)
    await settle()
    await auto.delivery_cycle()
    assert len(image_posts(photos)) == 4
    assert len(discord_standin.calls("POST", rf"/channels/{photos.id}/messages$")) == 5
    assert discord_standin.invalid_requests <= 1


# ---------------------------------------------------------------- 6, 7. news


def news_automation(bot, config, feed_url):
    svc = bot.services
    svc.config = replace(config, news_feeds=(feed_url,))
    auto = svc.automation(bot.automation.courier.sender)
    auto.news.reader.feeds = [feed_url]
    return auto


FEED = "/missions/mars-2020-perseverance/feed/"


@fault("NASA", "a news feed read for the first time", "its old articles are a baseline for digests too")
async def test_news_baseline_never_reaches_a_digest(connected_bot, discord_standin, nasa_standin, store, clock, config):
    auto = news_automation(connected_bot, config, nasa_standin.url + FEED)
    clock.now = datetime(2026, 10, 1, 6, 0, tzinfo=timezone.utc)
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "digest", mission="mars2020", timezone="UTC", at=clock().timestamp())
    clock.now += timedelta(minutes=30)
    old = ITEM.format(title="Old story from last year", slug="old", guid=1)
    nasa_standin.files[FEED] = NEWS.format(items=old).encode()
    await auto.news_cycle()  # the first read of this feed: a baseline
    clock.now += timedelta(hours=1)
    fresh = ITEM.format(title="Perseverance finds a rock", slug="rock", guid=2)
    nasa_standin.files[FEED] = NEWS.format(items=fresh + old).encode()
    await auto.news_cycle()
    clock.now = datetime(2026, 10, 1, 9, 1, tzinfo=timezone.utc)
    assert await auto.digest_cycle() == 1
    [digest] = [m for m in discord_standin.general.messages if m["embeds"] and "digest" in m["embeds"][0].get("title", "")]
    news = [f["value"] for f in digest["embeds"][0].get("fields") or [] if f["name"] == "Mission news"]
    assert news and "Perseverance finds a rock" in news[0]
    assert "Old story" not in all_text(digest), "an article from before the bot's first read is in the digest"


@fault("NASA", "a news fetch slower than the delivery cycle", "the new article is posted once, not dropped")
async def test_slow_news_fetch_is_not_dispatched_half_done(connected_bot, discord_standin, nasa_standin, store, clock, config):
    auto = news_automation(connected_bot, config, nasa_standin.url + FEED)
    nasa_standin.files[FEED] = NEWS.format(items=ITEM.format(title="Old story", slug="old", guid=1)).encode()
    await auto.news_cycle()  # baseline
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "news", mission="mars2020", at=clock().timestamp())
    clock.now += timedelta(minutes=30)
    items = ITEM.format(title="Perseverance finds a rock", slug="rock", guid=2) + ITEM.format(title="Old story", slug="old", guid=1)
    nasa_standin.files[FEED] = NEWS.format(items=items).encode()
    nasa_standin.faults.append(Fault(delay=1.5, path=FEED))  # the feed stalls, then answers
    asked = len([r for r in nasa_standin.requests if r["path"] == FEED])
    reading = asyncio.create_task(auto.news_cycle())
    for _ in range(200):
        if len([r for r in nasa_standin.requests if r["path"] == FEED]) > asked:
            break
        await asyncio.sleep(0.01)
    assert not reading.done()
    await auto.delivery_cycle()  # runs meanwhile, as the scheduler does every minute
    await reading
    await auto.delivery_cycle()
    news = [m for m in discord_standin.general.messages if "Mission news" in (m.get("content") or "")]
    assert len(news) == 1, f"{len(news)} news posts for one new article"
    assert news[0]["embeds"][0]["title"] == "Perseverance finds a rock"


# ---------------------------------------------------------------- 8, 9, 10. NASA's text is data


def _nested(depth: int) -> dict:
    d: dict = {"deep": "end"}
    for _ in range(depth):
        d = {"a": d}
    return d


HOSTILE = {
    "absurd sol": lambda r: r.update(sol=10**9),
    "unholdable date": lambda r: r.update(date_taken_utc="9999-12-31T23:59:59-05:00"),
    "2 MB caption": lambda r: r.update(caption="A" * 2_000_000),
    "record nested 50 deep in a field": lambda r: r.update(image_files=_nested(50)),
    "picture on evil.example": lambda r: r.update(image_files={k: f"https://evil.example/{k}.jpg"
                                                              for k in ("small", "medium", "large", "full_res")}),
    "link to evil.example": lambda r: r.update(link="https://evil.example/mars2020/raw"),
}




@fault("NASA", "a record the parser can't handle", "that record skipped or made safe, the rest posted, the poll finished")
@pytest.mark.parametrize("kind", HOSTILE)
async def test_hostile_record_is_skipped_and_the_rest_posted(connected_bot, discord_standin, nasa_standin, store, clock, kind):
    auto = connected_bot.automation
    await subscribed(connected_bot, discord_standin, store, clock)
    good = [make_record(1995, "MCZ_LEFT", n=i, sequence=f"ZCAM0{i:04d}", received=clock.now + timedelta(seconds=30 + i))
            for i in range(3)]
    bad = make_record(1995, "NAVCAM_LEFT", n=50, sequence="NCAM04242", received=clock.now + timedelta(seconds=40))
    HOSTILE[kind](bad)
    nasa_standin.records += [*good, bad]
    clock.now += timedelta(minutes=10)
    report = await auto.images_cycle()
    assert report.error is None
    assert store.db.execute("SELECT COUNT(*) FROM polls WHERE finished_at IS NULL").fetchone()[0] == 0
    last = store.polls.last_poll("images")
    assert last is not None and last[0] >= clock().timestamp() - 1
    posts = image_posts(discord_standin.general)
    urls = picture_urls(posts)
    assert all(large(r) in urls for r in good), "the good records of the page were not posted"
    everything = "\n".join(all_text(m) for m in discord_standin.general.messages)
    assert "evil.example" not in everything
    assert "1000000000" not in everything and "9999-12-31" not in everything
    longest = store.db.execute("SELECT MAX(LENGTH(caption)), MAX(LENGTH(title)) FROM images").fetchone()
    assert max(v or 0 for v in longest) <= 10_000, f"stored {longest} characters of one record's text"
    stored = {r[0] for r in store.db.execute("SELECT sol FROM images")}
    assert 10**9 not in stored


@fault("NASA", "a feed page nested deeper than any JSON reader goes", "the cycle ends as failed with a reason; the poll row is finished")
async def test_json_nested_past_the_readers_depth_fails_the_cycle_cleanly(connected_bot, discord_standin, nasa_standin, store, clock):
    auto = connected_bot.automation
    await subscribed(connected_bot, discord_standin, store, clock)
    rec = make_record(1995, "MCZ_LEFT", n=1, sequence="ZCAM01234", received=clock.now + timedelta(seconds=30))
    body = json.dumps({"images": [rec], "per_page": "100", "total_results": 1}).encode()
    body = body.replace(b'"attitude": "(0.1,0.2,0.3,0.9)"', b'"attitude": ' + b"[" * 100_000 + b"]" * 100_000)
    nasa_standin.faults.extend([Fault(body=body)] * 3)
    clock.now += timedelta(minutes=10)
    report = await auto.images_cycle()
    nasa_standin.faults.clear()
    assert report.error and "nested" in report.error
    assert store.db.execute("SELECT COUNT(*) FROM polls WHERE finished_at IS NULL").fetchone()[0] == 0
    assert store.polls.last_poll("images", ok=False) is not None
    nasa_standin.records.append(rec)  # NASA fixed its answer
    clock.now += timedelta(minutes=10)
    assert (await auto.images_cycle()).error is None  # the next cycle reads normally
    assert len(image_posts(discord_standin.general)) == 1




@fault("NASA", "a lone surrogate and invalid UTF-8 in one caption", "the page is read; U+FFFD shown; the other records post")
@pytest.mark.parametrize("bad", [
    pytest.param(b"\\ud800 and \xff\xfe\xc3", id="lone surrogate and invalid UTF-8"),
    pytest.param(b"\xff\xfe and \xc3", id="invalid UTF-8"),
])
async def test_bad_unicode_in_a_caption(connected_bot, discord_standin, nasa_standin, store, clock, bad):
    auto = connected_bot.automation
    await subscribed(connected_bot, discord_standin, store, clock)
    recs = [make_record(1995, "MCZ_LEFT", n=i, sequence=f"ZCAM0{i:04d}", received=clock.now + timedelta(seconds=30 + i))
            for i in range(3)]
    recs[1]["caption"] = "Rock BAD here."
    clock.now += timedelta(minutes=10)
    body = json.dumps({"images": recs[::-1], "per_page": "100", "total_results": 3, "page": 0}).encode()
    body = body.replace(b"BAD", bad)
    nasa_standin.faults.extend([Fault(body=body)] * 3)  # the same answer to every retry
    report = await auto.images_cycle()
    nasa_standin.faults.clear()
    assert report.error is None, report.error
    posts = image_posts(discord_standin.general)
    assert sorted(picture_urls(posts)) == sorted(large(r) for r in recs)
    [odd] = [m for m in posts if large(recs[1]) in picture_urls([m])]
    text = all_text(odd)
    assert "Rock \ufffd" in text and "here." in text and "\ud800" not in text
    [caption] = store.db.execute("SELECT caption FROM images WHERE image_id = ?", (recs[1]["imageid"],)).fetchone()
    assert "\ufffd" in caption


UNSAFE = ["\u202e", "\u202d", "\u2066", "\x07", "\x1b", "\x00", "\x7f"]
HOSTILE_TEXT = "Sol 1995 \u202egnp.exe\u202c \x1b[31mred\x1b[0m \x07bell \u2066iso\u2069 \x00nul\x7f"


@fault("NASA", "control characters and bidi overrides in a record's text", "stripped from what reaches Discord")
@pytest.mark.parametrize("field", ["title", "caption"])
async def test_control_and_bidi_characters_never_reach_discord(connected_bot, discord_standin, nasa_standin, store, clock, field):
    auto = connected_bot.automation
    await subscribed(connected_bot, discord_standin, store, clock)
    rec = make_record(1995, "MCZ_LEFT", n=1, sequence="ZCAM01234", received=clock.now + timedelta(seconds=30))
    rec[field] = HOSTILE_TEXT
    nasa_standin.records.append(rec)
    clock.now += timedelta(minutes=10)
    await auto.images_cycle()
    [post] = image_posts(discord_standin.general)
    text = all_text(post)
    assert "gnp.exe" in text and "bell" in text  # the text is there...
    found = [repr(c) for c in UNSAFE if c in text]
    assert not found, f"{found} reached Discord"  # ...without what reorders or controls it


@fault("NASA", "a crafted `link` in a record", "never a link (masked or embed URL) to another host")
@pytest.mark.parametrize("link", ["https://evil.example/mars2020/raw", "https://mars.nasa.gov.evil.example/raw",
                                  "https://mars.nasa.gov@evil.example/raw", "javascript:alert(1)",
                                  "https://evil.example/x) [NASA page](https://evil.example/y"])
async def test_crafted_link_never_points_elsewhere(connected_bot, discord_standin, nasa_standin, store, clock, link):
    auto = connected_bot.automation
    await subscribed(connected_bot, discord_standin, store, clock)
    rec = make_record(1995, "MCZ_LEFT", n=1, sequence="ZCAM01234", received=clock.now + timedelta(seconds=30))
    rec["link"] = link
    nasa_standin.records.append(rec)
    clock.now += timedelta(minutes=10)
    await auto.images_cycle()
    [post] = image_posts(discord_standin.general)
    text = all_text(post)
    assert "evil.example" not in text and "javascript:" not in text
    assert all((e.get("url") or "").startswith(("https://mars.nasa.gov/", nasa_standin.url)) for e in post["embeds"])


# ---------------------------------------------------------------- 11. backlog


@fault("NASA", "a backlog of 2,600 records after downtime while new ones keep arriving",
       "every record stored exactly once over the next cycles, none skipped")
async def test_backlog_longer_than_a_cycle_is_read_completely(nasa_standin, store, clock, poller):
    assert (await poller.poll()).baseline
    start = clock.now
    backlog = burst(1995, start + timedelta(seconds=1), "https://mars.nasa.gov", {"MCZ_LEFT": 2600})
    nasa_standin.records += backlog
    arrivals: list[dict] = []
    n = 3000
    for cycle in range(8):
        clock.now += timedelta(minutes=10)
        # New pictures keep arriving at the top of the newest-first feed between cycles.
        more = [make_record(1995, "NAVCAM_LEFT", n=n + i, sequence=f"NCAM{cycle:05d}", host="https://mars.nasa.gov",
                            received=start + timedelta(hours=2, minutes=10 * cycle, seconds=i)) for i in range(30)]
        n += 30
        arrivals += more
        nasa_standin.records += more
        result = await poller.poll()
        assert result.error is None, result.error
    expected = [parse.exposure_of(r["imageid"])[0] for r in backlog + arrivals]
    assert len(set(expected)) == len(expected)
    stored = [r[0] for r in store.db.execute("SELECT exposure_id FROM images")]
    assert len(stored) == len(set(stored))
    missing = set(expected) - set(stored)
    assert not missing, f"{len(missing)} of {len(expected)} records were never read (skipped past)"


# ---------------------------------------------------------------- 12. schema drift


@fault("NASA", "schema drift: most records have a renamed key", "status shows the images source failing over the format")
async def test_schema_drift_is_a_failing_source(connected_bot, discord_standin, nasa_standin, store, clock, config, caplog):
    from bot import cli

    auto = connected_bot.automation
    await subscribed(connected_bot, discord_standin, store, clock)
    recs = [make_record(1995, "MCZ_LEFT", n=i, sequence=f"ZCAM0{i:04d}", received=clock.now + timedelta(seconds=30 + i))
            for i in range(10)]
    for r in recs[:8]:
        r["image_id"] = r.pop("imageid")  # NASA renamed the key
    page = {"images": recs[::-1], "per_page": "100", "total_results": len(recs), "page": 0}
    nasa_standin.faults.extend([Fault(body=json.dumps(page).encode())] * 3)
    clock.now += timedelta(minutes=10)
    caplog.set_level(logging.WARNING)
    await auto.images_cycle()
    nasa_standin.faults.clear()
    report = json.loads(json.dumps(cli.status_report(store, config)))  # what `roverbot status --json` prints
    [images] = [s for s in report["sources"] if s["source"] == "images"]
    assert images["failing"], "the images source reads as healthy while most records are unreadable"
    assert "format" in (images["last_error"] or "")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING and "format" in r.getMessage()]


# ---------------------------------------------------------------- 13. redirects, caps and deadlines


@pytest.fixture
def evil():
    server = Recorder().start()
    server.url = server.url.replace("127.0.0.1", "localhost")  # another host name: not allowed
    yield server
    server.stop()


@pytest.fixture
def redirector(evil):
    server = Redirector(evil.url).start()
    yield server
    server.stop()


@fault("NASA", "the feed redirects (301) to a host that is not allowed", "refused at that hop; nothing fetched there")
async def test_feed_redirect_to_another_host_is_refused(redirector, evil, config, clock, tmp_path):
    from bot import services

    cfg = replace(config, nasa_base_url=redirector.url, database=tmp_path / "redirect.sqlite3")
    async with services.build(cfg, clock) as svc:
        result = await svc.pollers["perseverance"].poll()
    assert redirector.requests, "the allowed host was never asked"
    assert evil.requests == [], f"followed the redirect to {evil.url}: {evil.requests}"
    assert result.error


@fault("NASA", "an image URL redirects (301) to a host that is not allowed", "refused at that hop; nothing fetched there")
async def test_image_redirect_to_another_host_is_refused(redirector, evil, config, clock, tmp_path):
    from bot import services
    from bot.sources.nasa import NasaError

    cfg = replace(config, database=tmp_path / "redirect.sqlite3")
    async with services.build(cfg, clock) as svc:
        with pytest.raises(NasaError):
            await svc.nasa.image(redirector.url + "/pub/pic_1200.jpg", allowed_hosts=cfg.image_hosts, max_bytes=10**6)
    assert redirector.requests and evil.requests == []


@fault("NASA", "a feed body larger than the cap", "the cycle ends as failed; nothing posted from it")
async def test_feed_body_over_the_cap_fails_the_cycle(connected_bot, discord_standin, nasa_standin, store, clock):
    auto = connected_bot.automation
    await subscribed(connected_bot, discord_standin, store, clock)
    recs = [make_record(1995, "MCZ_LEFT", n=i, sequence=f"ZCAM0{i:04d}", received=clock.now + timedelta(seconds=30 + i))
            for i in range(3)]
    huge = {"images": recs, "per_page": "100", "total_results": 3, "padding": "x" * 21_000_000}
    nasa_standin.faults.extend([Fault(body=json.dumps(huge).encode())] * 3)
    clock.now += timedelta(minutes=10)
    report = await auto.images_cycle()
    nasa_standin.faults.clear()
    assert report.error, "a 21 MB feed page was read as a normal answer"
    assert image_posts(discord_standin.general) == []
    assert store.polls.last_poll("images", ok=False) is not None


@fault("NASA", "a feed body trickling in past the deadline", "the cycle ends as failed at the deadline")
async def test_feed_trickling_past_the_deadline_fails_the_cycle(nasa, store, clock):
    from bot.sources.nasa import NasaClient
    from bot.posting.poller import ImagePoller

    page = {"images": [make_record(1995, "MCZ_LEFT", n=i) for i in range(3)], "per_page": "100", "total_results": 3}
    slow = Trickle(page, seconds=4.0, chunks=16).start()
    try:
        client = NasaClient(nasa.http, slow.url, retries=0, backoff_seconds=0.01)
        client.request_seconds = 1.0  # the whole body's deadline (a plain attribute: harmless where unknown)
        poller = rover_poller(rovers.PERSEVERANCE, client, store, clock)
        started = asyncio.get_running_loop().time()
        result = await poller.poll()
        took = asyncio.get_running_loop().time() - started
    finally:
        slow.stop()
    assert result.error and took < 3.0, f"read for {took:.1f} s: {result.error!r}"
    assert store.polls.last_poll("images", ok=False) is not None


# ---------------------------------------------------------------- 14. durability and retention


@fault("Process", "power loss right after a claim or a delivery is recorded",
       "both committed with synchronous=FULL under WAL; the file can shrink (incremental auto_vacuum)")
@pytest.mark.sqlite_only("synchronous=FULL and the file's own shrinking")
async def test_promises_to_the_outside_are_durable(connected_bot, discord_standin, nasa_standin, store, clock):
    """A claim (before a send) and a delivery (after it) must be on the disk before the bot goes on:
    a rolled-back 'sent' is re-sent after Discord forgot the nonce. Watched on the real connection
    during a real delivery: which synchronous level each of those commits ran under."""
    await subscribed(connected_bot, discord_standin, store, clock)
    new_pictures(nasa_standin, clock)
    level = {"now": store.db.execute("PRAGMA synchronous").fetchone()[0]}
    seen: list[tuple[str, int]] = []

    def trace(sql: str) -> None:
        low = " ".join(sql.lower().split())
        if low.startswith("pragma synchronous="):
            level["now"] = {"off": 0, "normal": 1, "full": 2, "extra": 3}.get(low.split("=", 1)[1].strip(" ;"), -1)
        elif low.startswith("update outbox set status = 'sending'"):
            seen.append(("claim", level["now"]))
        elif low.startswith("update outbox set status = 'sent'"):
            seen.append(("sent", level["now"]))

    store.db.conn.set_trace_callback(trace)
    try:
        await connected_bot.automation.images_cycle()
    finally:
        store.db.conn.set_trace_callback(None)
    assert len(image_posts(discord_standin.general)) == 1
    assert ("sent", 2) in seen, f"the delivery was recorded under {seen} (2 = FULL)"
    assert all(lvl >= 2 for _, lvl in seen), seen
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2, "auto_vacuum is not INCREMENTAL"


@fault("Process", "months of posts", "prune removes old sent posts and unreferenced files; the file shrinks")
@pytest.mark.sqlite_only("the file's size on disk")
def test_prune_shrinks_the_file(store, clock):
    path = store.db.execute("PRAGMA database_list").fetchone()[2]
    now = clock().timestamp()
    old = now - 40 * 86400
    kept_blob = store.outbox.put_blob(os.urandom(300_000))
    for i in range(40):
        blob = store.outbox.put_blob(os.urandom(300_000))
        entry = store.outbox.enqueue(PostKey.digest(1, str(i)), 1, Payload(content="d", files=(("d.jpg", blob),)), old)
        store.outbox.mark_sent(entry, 1000 + i, old + 60)
    recent = store.outbox.enqueue(PostKey.digest(1, "recent"), 1, Payload(content="r", files=(("r.jpg", kept_blob),)), now)
    store.outbox.mark_sent(recent, 999, now - 3600)
    waiting = store.outbox.enqueue(PostKey.digest(2, "pending"), 1, Payload(content="p", files=(("p.jpg", kept_blob),)), now)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def size() -> int:
        return os.path.getsize(path) + (os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0)

    before = size()
    assert before > 10_000_000
    prune = getattr(store.retention, "prune", None)
    assert prune is not None, "the store has no retention: it only grows"
    prune(now, sent_days=30, poll_days=30, image_days=30)
    keys = {e.key for e in store.outbox.entries()}
    assert keys == {"digest:1:recent", "digest:2:pending"}
    assert store.outbox.blob(kept_blob) is not None and store.outbox.entry(waiting).status == "pending"
    assert store.db.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 1
    after = size()
    assert after < before / 4, f"{before:,} -> {after:,} bytes"
