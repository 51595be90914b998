"""Automatic posts end to end: NASA stand-in -> poller -> outbox -> discord.py -> Discord stand-in.

The clock and the cycles are driven by the tests; nothing sleeps for real minutes.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import dispatch, settle
from tests.discord_standin import ALL_TEXT, SEND_MESSAGES, VIEW_CHANNEL, DiscordStandIn
from tests.nasa_standin import make_record, serve_images


def subscribe(bot, ds: DiscordStandIn, kind: str, channel=None, **options):
    ch = channel or ds.general
    opts = {"kind": kind, "channel": str(ch.id), **options}
    payload = ds.command("subscribe", opts, types={"channel": 7, "role": 8}, permissions=ALL_TEXT | (1 << 5))
    payload["data"]["resolved"] = {"channels": {str(ch.id): ds.channel_object(ch) | {"permissions": str(ALL_TEXT)}}}
    return payload


def burst(sol: int, received: datetime, host: str, per_family: dict[str, int]) -> list[dict]:
    """New pictures of one sol: each camera's frames in sequences of 25."""
    out, n = [], 0
    for code, count in per_family.items():
        for i in range(count):
            out.append(make_record(sol, code, n=n, sequence=f"{code.replace('_', '')[:4]}{i // 25:05d}", received=received + timedelta(seconds=n), host=host))
            n += 1
    return out


@pytest.fixture
def automation(connected_bot):
    return connected_bot.automation


async def test_subscribe_checks_and_records(connected_bot, discord_standin, store):
    await dispatch(connected_bot, subscribe(connected_bot, discord_standin, "images", camera="navcam"))
    reply = discord_standin.calls("POST", "/callback")[-1]["json"]["data"]
    assert reply["flags"] & 64 and reply["content"].startswith("✅") and "Navcam" in reply["content"]
    [sub] = store.subscriptions.find(kind="images")
    assert sub.channel_id == discord_standin.general.id and set(sub.codes) == {"NAVCAM_LEFT", "NAVCAM_RIGHT"}


async def test_subscribe_names_the_missing_permission(connected_bot, discord_standin, store):
    quiet = discord_standin.add_channel("quiet", VIEW_CHANNEL | SEND_MESSAGES)  # no Embed Links, no Attach Files
    discord_standin.call(discord_standin.send_dispatch("CHANNEL_CREATE", discord_standin.channel_object(quiet)))
    await settle()
    await dispatch(connected_bot, subscribe(connected_bot, discord_standin, "digest", channel=quiet))
    reply = discord_standin.calls("POST", "/callback")[-1]["json"]["data"]
    assert "missing **Embed Links, Attach Files, Read Message History**" in reply["content"] and reply["flags"] & 64
    assert store.subscriptions.find() == []


@pytest.mark.parametrize("command", ["subscribe", "unsubscribe", "subscriptions"])
async def test_admin_commands_are_enforced_on_the_server_side(connected_bot, discord_standin, store, clock, command, caplog):
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "news", mission="mars2020", at=clock().timestamp())
    payload = {
        "subscribe": lambda: subscribe(connected_bot, discord_standin, "images"),
        "unsubscribe": lambda: discord_standin.command("unsubscribe", {"kind": "news"}),
        "subscriptions": lambda: discord_standin.command("subscriptions"),
    }[command]()
    payload["member"]["permissions"] = str(VIEW_CHANNEL | SEND_MESSAGES)  # no Manage Server: the UI would hide it
    await dispatch(connected_bot, payload)
    reply = discord_standin.calls("POST", "/callback")[-1]["json"]["data"]
    assert "Manage Server" in reply["content"] and reply["flags"] & 64
    # Exactly one answer: no second "something went wrong" as a follow-up, no ERROR in the log.
    assert len(discord_standin.calls("POST", "/callback")) == 1 and discord_standin.calls("POST", "/webhooks/") == []
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert [s.kind for s in store.subscriptions.find()] == ["news"]


@pytest.mark.parametrize("options, says", [
    ({"camera": "navkam"}, "navcam"),
    ({"time": "25:00"}, "isn't a time of day"),
    ({"time": "09:00", "timezone": "Mars/Jezero"}, "isn't a time zone"),
])
async def test_subscribe_bad_input(connected_bot, discord_standin, store, options, says):
    await dispatch(connected_bot, subscribe(connected_bot, discord_standin, "digest", **options))
    reply = discord_standin.calls("POST", "/callback")[-1]["json"]["data"]
    assert says in reply["content"] and reply["flags"] & 64 and store.subscriptions.find() == []


async def test_baseline_then_a_600_image_sol_in_grouped_posts(connected_bot, discord_standin, nasa_standin, store, clock, automation):
    first = await automation.images_cycle()  # fresh start: a baseline, nothing old posted
    assert first.new == 0 and store.outbox.counts() == {}
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "images", mission="mars2020", at=clock().timestamp())
    clock.now += timedelta(minutes=10)
    nasa_standin.records += burst(1995, clock.now, nasa_standin.url,
                                  {"NAVCAM_LEFT": 200, "NAVCAM_RIGHT": 200, "MCZ_LEFT": 150, "FRONT_HAZCAM_LEFT_A": 50})
    report = await automation.images_cycle()
    assert report.new == 600
    groups = len({(r["sol"], r["camera"]["instrument"][:4], r["imageid"].split("_")[4][8:]) for r in nasa_standin.records if r["sol"] == 1995})
    posted = discord_standin.general.messages
    assert len(posted) == min(6, report.queued) and report.queued < 30  # one message per group, not 600
    assert store.outbox.counts().get("held", 0) == report.queued - 6  # over the hourly budget: held, not dropped
    assert all(len(m["embeds"]) <= 4 for m in posted)
    assert "sol 1995" in posted[0]["content"] and posted[0]["allowed_mentions"]["parse"] == []
    assert groups >= report.queued


async def test_new_subscription_gets_nothing_received_before_it(connected_bot, discord_standin, nasa_standin, store, clock, automation):
    await automation.images_cycle()
    nasa_standin.records += burst(1995, clock.now - timedelta(hours=2), nasa_standin.url, {"NAVCAM_LEFT": 3})
    clock.now += timedelta(minutes=10)
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "images", mission="mars2020", at=clock().timestamp())
    await automation.images_cycle()
    assert discord_standin.general.messages == []


async def test_role_is_the_only_ping(connected_bot, discord_standin, nasa_standin, store, clock, automation):
    await automation.images_cycle()
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "images", mission="mars2020", role_id=4242, at=clock().timestamp())
    recs = burst(1995, clock.now + timedelta(minutes=1), nasa_standin.url, {"NAVCAM_LEFT": 2})
    recs[0]["caption"] = "@everyone look! <@123> @here **bold**\n\nrest"
    nasa_standin.records += recs
    clock.now += timedelta(minutes=10)
    await automation.images_cycle()
    [msg] = discord_standin.general.messages
    mentions = msg["allowed_mentions"]
    assert mentions["parse"] == [] and [str(r) for r in mentions["roles"]] == ["4242"] and not mentions.get("users")
    assert msg["content"].startswith("<@&4242>")
    assert "@\u200beveryone" in msg["embeds"][0]["description"] and "\\*\\*bold\\*\\*" in msg["embeds"][0]["description"]


async def test_budget_overflow_rolls_into_the_digest(connected_bot, discord_standin, nasa_standin, store, clock, automation):
    ch = discord_standin.general.id
    await automation.images_cycle()
    now = clock().timestamp()
    store.subscriptions.subscribe(discord_standin.guild_id, ch, "images", mission="mars2020", at=now)
    store.subscriptions.subscribe(discord_standin.guild_id, ch, "digest", mission="mars2020", digest_time="09:00", timezone="UTC", at=now)
    recs = burst(1995, clock.now + timedelta(minutes=1), nasa_standin.url, {"NAVCAM_LEFT": 200, "MCZ_LEFT": 50})
    serve_images(nasa_standin, recs)
    nasa_standin.records += recs
    clock.now += timedelta(minutes=10)
    report = await automation.images_cycle()
    assert len(discord_standin.general.messages) == 6 and report.queued == 10
    held = store.outbox.entries(status="held")
    assert len(held) == 4
    clock.now = datetime(2026, 10, 2, 9, 0, 30, tzinfo=timezone.utc)
    assert await automation.digest_cycle() == 1
    digest = discord_standin.general.messages[-1]
    text = digest["embeds"][0]["description"]
    assert "Held back by this channel's hourly limit: +" in text and "frames" in text
    held_count = sum(e.payload.count for e in held)
    assert f"+{held_count} more" in text or "more Navcam frames" in text
    assert store.outbox.entries(status="held") == [] and len(store.outbox.entries(status="digested")) == 4
    assert digest["attachments"][0]["filename"] == "digest.jpg"
    assert "250 new pictures" in text


def _digest_days(ds: DiscordStandIn):
    return [m for m in ds.general.messages if m["embeds"] and "digest" in m["embeds"][0].get("title", "")]


@pytest.mark.parametrize("days, change", [
    ((datetime(2026, 3, 27, tzinfo=timezone.utc), 4), "spring forward (29 March 2026)"),
    ((datetime(2026, 10, 23, tzinfo=timezone.utc), 4), "fall back (25 October 2026)"),
])
async def test_digest_at_nine_berlin_across_dst(connected_bot, discord_standin, store, clock, automation, days, change):
    start, n = days
    clock.now = start
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "digest", mission="mars2020", digest_time="09:00",
                    timezone="Europe/Berlin", at=start.timestamp())
    sent_at = []
    while clock.now < start + timedelta(days=n):
        before = len(_digest_days(discord_standin))
        await automation.digest_cycle()
        if len(_digest_days(discord_standin)) > before:
            sent_at.append(clock.now)
        clock.now += timedelta(minutes=5)
    from zoneinfo import ZoneInfo

    local = [t.astimezone(ZoneInfo("Europe/Berlin")) for t in sent_at]
    assert [t.date() for t in local] == [(start + timedelta(days=i)).date() for i in range(n)]  # one a day
    assert all(t.hour == 9 and t.minute < 5 for t in local), local  # at 09:00 local, summer or winter
    utc_hours = {t.hour for t in sent_at}
    assert utc_hours == {7, 8}  # the UTC hour moved with the clock change


async def test_downtime_catches_up_with_one_digest(connected_bot, discord_standin, store, clock, automation):
    t0 = datetime(2026, 10, 1, 6, 0, tzinfo=timezone.utc)
    clock.now = t0
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "digest", mission="mars2020", timezone="UTC", at=t0.timestamp())
    clock.now = t0 + timedelta(hours=4)
    await automation.digest_cycle()
    assert len(_digest_days(discord_standin)) == 1
    clock.now = t0 + timedelta(days=4, hours=4)  # down for three days
    await automation.digest_cycle()
    await automation.digest_cycle()
    assert len(_digest_days(discord_standin)) == 2
    quiet = _digest_days(discord_standin)[-1]["embeds"][0]["description"]
    assert "No new pictures since the last digest" in quiet


@pytest.mark.fault("Process", "restart before / during / after a digest", "exactly one digest that day")
async def test_restart_before_during_and_after_a_digest(connected_bot, discord_standin, store, clock, automation, monkeypatch):
    t0 = datetime(2026, 10, 1, 8, 0, tzinfo=timezone.utc)
    clock.now = t0
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "digest", mission="mars2020", timezone="UTC", at=t0.timestamp())
    # before: a restarted bot (new objects, same database) waits for 09:00
    fresh = connected_bot.services.automation(automation.courier.sender)
    assert await fresh.digest_cycle() == 0
    # during: killed after the digest was recorded, before it was sent
    clock.now = t0 + timedelta(hours=1, minutes=1)

    async def killed(*a, **k):
        return 0  # the process is gone before the courier runs: recorded, not sent

    monkeypatch.setattr(fresh.courier, "pump", killed)
    await fresh.digest_cycle()
    assert discord_standin.general.messages == [] and len(store.outbox.entries(kind="digest", status="pending")) == 1
    after_restart = connected_bot.services.automation(automation.courier.sender)
    await after_restart.delivery_cycle()
    assert len(_digest_days(discord_standin)) == 1
    # after: more cycles the same day, and another restart, add nothing
    again = connected_bot.services.automation(automation.courier.sender)
    for _ in range(3):
        clock.now += timedelta(minutes=20)
        await again.digest_cycle()
    assert len(_digest_days(discord_standin)) == 1


@pytest.mark.fault("Process", "killed after Discord accepted a post, before it was recorded (in-process)", "re-sent with the same nonce: one message")
async def test_kill_between_send_and_record_does_not_double(connected_bot, discord_standin, nasa_standin, store, clock, automation, monkeypatch):
    await automation.images_cycle()
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "images", mission="mars2020", at=clock().timestamp())
    nasa_standin.records += burst(1995, clock.now + timedelta(minutes=1), nasa_standin.url, {"MCZ_LEFT": 3})
    clock.now += timedelta(minutes=10)

    def die(*a, **k):
        raise KeyboardInterrupt  # Discord has the message; the store never hears of it

    monkeypatch.setattr(store.outbox, "mark_sent", die)
    with pytest.raises(KeyboardInterrupt):
        await automation.images_cycle()
    assert len(discord_standin.general.messages) == 1
    monkeypatch.undo()
    restarted = connected_bot.services.automation(automation.courier.sender, name="restarted:1")  # a new pid
    restarted.recover()  # what a start does first
    await restarted.delivery_cycle()
    assert len(discord_standin.general.messages) == 1  # the same nonce: Discord returned the first message
    [entry] = store.outbox.entries(kind="images")
    assert entry.status == "sent" and entry.message_id == int(discord_standin.general.messages[0]["id"])


async def test_kill_between_poll_and_queue_loses_nothing(connected_bot, discord_standin, nasa_standin, store, clock, automation, monkeypatch):
    await automation.images_cycle()
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "images", mission="mars2020", at=clock().timestamp())
    nasa_standin.records += burst(1995, clock.now + timedelta(minutes=1), nasa_standin.url, {"MCZ_LEFT": 3})
    clock.now += timedelta(minutes=10)

    def die():
        raise KeyboardInterrupt

    monkeypatch.setattr(automation.images[0], "dispatch", die)
    with pytest.raises(KeyboardInterrupt):
        await automation.images_cycle()
    monkeypatch.undo()
    assert discord_standin.general.messages == []
    restarted = connected_bot.services.automation(automation.courier.sender)
    restarted.recover()  # what a start does first
    await restarted.delivery_cycle()
    assert len(discord_standin.general.messages) == 1


@pytest.mark.fault("Discord", "403/50013: permission taken away", "paused, server told once, resumed when fixed, nothing lost")
async def test_403_pauses_tells_the_server_once_and_resumes(connected_bot, discord_standin, nasa_standin, store, clock, automation):
    photos = discord_standin.add_channel("photos")
    discord_standin.call(discord_standin.send_dispatch("CHANNEL_CREATE", discord_standin.channel_object(photos)))
    await settle()
    await automation.images_cycle()
    store.subscriptions.subscribe(discord_standin.guild_id, photos.id, "images", mission="mars2020", at=clock().timestamp())
    discord_standin.set_permissions(photos, VIEW_CHANNEL)  # someone took Send Messages away
    await settle()
    nasa_standin.records += burst(1995, clock.now + timedelta(minutes=1), nasa_standin.url, {"MCZ_LEFT": 3})
    clock.now += timedelta(minutes=10)
    await automation.images_cycle()
    [sub] = store.subscriptions.find(channel_id=photos.id)
    assert sub.paused and "Send Messages" in sub.paused_reason
    alerts = [m for m in discord_standin.general.messages if "paused" in m["content"]]
    assert len(alerts) == 1 and f"<#{photos.id}>" in alerts[0]["content"]  # the system channel was told
    # more cycles while paused: no more attempts, no more alerts, the post is kept
    nasa_standin.records += burst(1995, clock.now + timedelta(minutes=1), nasa_standin.url, {"NAVCAM_LEFT": 2})
    clock.now += timedelta(minutes=10)
    await automation.images_cycle()
    await automation.delivery_cycle()
    assert len([m for m in discord_standin.general.messages if "paused" in m["content"]]) == 1
    assert store.subscriptions.find(channel_id=photos.id)[0].paused and photos.messages == []
    # permission fixed: the next check resumes and everything held is delivered
    discord_standin.set_permissions(photos, ALL_TEXT)
    await settle()
    await automation.delivery_cycle()
    assert not store.subscriptions.find(channel_id=photos.id)[0].paused
    assert len(photos.messages) == 2


@pytest.mark.fault("Discord", "404/10003: the channel was deleted", "subscription paused, never deleted")
async def test_deleted_channel_pauses_never_deletes(connected_bot, discord_standin, nasa_standin, store, clock, automation):
    gone = discord_standin.add_channel("gone")
    await automation.images_cycle()
    store.subscriptions.subscribe(discord_standin.guild_id, gone.id, "images", mission="mars2020", at=clock().timestamp())
    discord_standin.delete_channel(gone)
    await settle()
    nasa_standin.records += burst(1995, clock.now + timedelta(minutes=1), nasa_standin.url, {"MCZ_LEFT": 2})
    clock.now += timedelta(minutes=10)
    await automation.images_cycle()
    [sub] = store.subscriptions.find(channel_id=gone.id)
    assert sub.paused and "no longer exists" in sub.paused_reason
    await automation.delivery_cycle()
    assert store.subscriptions.find(channel_id=gone.id)  # still there, paused


NEWS = """<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>NASA</title>
{items}</channel></rss>"""
ITEM = """<item><title>{title}</title><link>https://www.nasa.gov/{slug}/</link><guid isPermaLink="false">https://www.nasa.gov/?p={guid}</guid>
<pubDate>Thu, 01 Oct 2026 14:00:21 +0000</pubDate><description><![CDATA[Summary of {title} & more]]></description>
<content:encoded><![CDATA[<p><img src="https://www.nasa.gov/wp-content/uploads/{slug}.jpg?w=2048" /></p>]]></content:encoded></item>"""


async def test_news_posted_once_and_an_edited_item_is_not_reposted(connected_bot, discord_standin, nasa_standin, store, clock, config):
    feed = "/missions/mars-2020-perseverance/feed/"
    feed_url = nasa_standin.url + feed
    from dataclasses import replace

    svc = connected_bot.services
    svc.config = replace(config, news_feeds=(feed_url,))
    auto = svc.automation(connected_bot.automation.courier.sender)
    auto.news.reader.feeds = [feed_url]
    nasa_standin.files[feed] = NEWS.format(items=ITEM.format(title="Old story", slug="old", guid=1)).encode()
    await auto.news_cycle()  # baseline
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "news", mission="mars2020", at=clock().timestamp())
    items = ITEM.format(title="Perseverance finds a rock", slug="rock", guid=2) + ITEM.format(title="Old story", slug="old", guid=1)
    nasa_standin.files[feed] = NEWS.format(items=items).encode()
    await auto.news_cycle()
    [msg] = discord_standin.general.messages
    e = msg["embeds"][0]
    assert e["title"] == "Perseverance finds a rock" and e["url"] == "https://www.nasa.gov/rock/"
    assert e["thumbnail"]["url"].startswith("https://www.nasa.gov/wp-content/uploads/rock.jpg")
    assert "Summary of Perseverance finds a rock & more" in e["description"]
    edited = ITEM.format(title="Perseverance finds a remarkable rock", slug="rock", guid=2)
    nasa_standin.files[feed] = NEWS.format(items=edited).encode()
    await auto.news_cycle()
    await auto.news_cycle()
    assert len(discord_standin.general.messages) == 1  # same guid: not news again


async def test_subscriptions_list_unsubscribe_and_digest_preview(connected_bot, discord_standin, nasa_standin, store, clock):
    admin = ALL_TEXT | (1 << 5)
    ch = discord_standin.general
    recs = burst(1995, clock.now - timedelta(minutes=5), nasa_standin.url, {"MCZ_LEFT": 4})
    serve_images(nasa_standin, recs)
    from bot.sources import parse

    store.images.record(parse.page({"images": recs}, hosts=(*parse.IMAGE_HOSTS, "127.0.0.1")).images, store.polls.start_poll("images"), seen_at=clock().timestamp() - 60)
    store.subscriptions.subscribe(discord_standin.guild_id, ch.id, "digest", mission="mars2020", digest_time="18:30", timezone="Europe/Berlin",
                    at=clock().timestamp() - 3600)
    store.subscriptions.subscribe(discord_standin.guild_id, ch.id, "images", mission="mars2020", camera="mastcam", codes=("MCZ_LEFT", "MCZ_RIGHT"),
                    at=clock().timestamp())
    await dispatch(connected_bot, discord_standin.command("subscriptions", permissions=admin))
    listing = discord_standin.calls("POST", "/callback")[-1]["json"]["data"]
    assert listing["flags"] & 64 and "a daily digest of Perseverance at 18:30 Europe/Berlin" in listing["content"]
    assert "new raw images from Mastcam-Z" in listing["content"]
    # anyone may preview the digest, privately
    await dispatch(connected_bot, discord_standin.command("digest"))
    assert discord_standin.calls("POST", "/callback")[-1]["json"]["data"]["flags"] & 64  # deferred, ephemeral
    preview = discord_standin.calls("PATCH", "/messages/@original")[-1]
    embed = preview["json"]["embeds"][0]
    assert embed["title"].startswith("Next digest here: <t:") and "4 new pictures" in embed["description"]
    assert preview["files"] and preview["files"][0]["filename"] == "digest.jpg"
    assert ch.messages == []  # a preview posts nothing and records nothing
    assert store.digests.last_digest(ch.id) is None
    await dispatch(connected_bot, discord_standin.command("unsubscribe", {"kind": "images"}, permissions=admin))
    assert "no more images posts" in discord_standin.calls("POST", "/callback")[-1]["json"]["data"]["content"]
    assert [s.kind for s in store.subscriptions.find()] == ["digest"]
    await dispatch(connected_bot, discord_standin.command("unsubscribe", {"kind": "news"}, permissions=admin))
    assert "has no news subscription" in discord_standin.calls("POST", "/callback")[-1]["json"]["data"]["content"]


@pytest.mark.fault("NASA", "the feed quiet for days (solar conjunction)", "the digest still comes and says why")
async def test_digest_on_a_quiet_day_says_why(connected_bot, discord_standin, store, clock, automation):
    clock.now = datetime(2026, 1, 8, 6, 0, tzinfo=timezone.utc)  # solar conjunction, January 2026
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "digest", mission="mars2020", timezone="UTC", at=clock.now.timestamp())
    clock.now = datetime(2026, 1, 8, 9, 1, tzinfo=timezone.utc)
    await automation.digest_cycle()
    [msg] = discord_standin.general.messages
    assert "No new pictures" in msg["embeds"][0]["description"] and "solar conjunction" in msg["embeds"][0]["description"]
    assert msg["attachments"] == []


async def test_a_sequence_arriving_over_several_polls_is_one_post(connected_bot, discord_standin, nasa_standin, store, clock):
    from dataclasses import replace

    svc = connected_bot.services
    svc.config = replace(svc.config, group_wait_minutes=10)
    auto = svc.automation(connected_bot.automation.courier.sender)
    await auto.images_cycle()
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "images", mission="mars2020", at=clock().timestamp())
    for part in range(3):  # one Mastcam-Z sequence, downlinked in three pieces ten minutes apart
        nasa_standin.records += [make_record(1995, "MCZ_LEFT", n=part * 10 + i, sequence="ZCAM07777",
                                             received=clock.now + timedelta(seconds=30 + i)) for i in range(4)]
        clock.now += timedelta(minutes=10)
        await auto.images_cycle()
        assert discord_standin.general.messages == []  # still arriving: waiting
    clock.now += timedelta(minutes=11)
    await auto.images_cycle()
    [post] = discord_standin.general.messages
    assert "12 pictures · sequence ZCAM07777" in post["content"]
    [entry] = store.outbox.entries(kind="images")
    assert entry.status == "sent" and len(entry.payload.exposures) == 12


async def test_digest_content_is_computed_once_per_window_for_many_channels(connected_bot, discord_standin, nasa_standin, store, clock, automation):
    """Channels due at the same time share one window: one query, one picture, N messages."""
    await automation.images_cycle()
    channels = [discord_standin.add_channel(f"digest-{i}") for i in range(3)]
    for ch in channels:
        discord_standin.call(discord_standin.send_dispatch("CHANNEL_CREATE", discord_standin.channel_object(ch)))
    await settle()
    for ch in channels:
        store.subscriptions.subscribe(discord_standin.guild_id, ch.id, "digest", mission="mars2020", timezone="UTC", at=clock().timestamp() - 86400)
    recs = burst(1995, clock.now - timedelta(hours=1), nasa_standin.url, {"MCZ_LEFT": 3})
    serve_images(nasa_standin, recs)
    nasa_standin.records += recs
    await automation.images_cycle()
    clock.now = (clock.now + timedelta(days=1)).replace(hour=9, minute=1)
    before = automation.digests.days_computed
    assert await automation.digest_cycle() == 3
    assert [len(ch.messages) for ch in channels] == [1, 1, 1]
    assert automation.digests.days_computed - before == 1
    # each channel gets the picture as its own upload: never another message's (expiring) attachment URL
    assert all(len(ch.messages[0]["attachments"]) == 1 for ch in channels)
    assert discord_standin.embeds_referencing_foreign_attachments() == []
