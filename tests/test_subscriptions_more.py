"""Subscriptions the way servers want them (issue 10): several per channel, forum posts and threads
per sol, webhook delivery under a custom name.

End to end like tests/test_automation.py: real interactions through discord.py, the NASA stand-in
feeding the poller, the courier sending to the Discord stand-in, and every outcome counted AT the
stand-in (messages, threads, webhooks, requests).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.mars import marstime
from tests.conftest import dispatch, settle
from tests.discord_standin import (ALL_TEXT, ALL_THREADS, CREATE_PUBLIC_THREADS, MANAGE_WEBHOOKS, PUBLIC_THREAD,
                                   SEND_MESSAGES_IN_THREADS, VIEW_CHANNEL, Fault, DiscordStandIn, Rejection)
from tests.test_automation import burst

ADMIN = ALL_TEXT | (1 << 5)
PAST_NONCE_WINDOW = 301.0
AVATAR = "https://example.org/perseverance.png"


def reply(ds: DiscordStandIn) -> dict:
    return ds.calls("POST", "/callback")[-1]["json"]["data"]


async def new_channel(bot, ds: DiscordStandIn, name: str, permissions: int = ALL_TEXT, *, forum: bool = False):
    ch = ds.add_forum(name, permissions) if forum else ds.add_channel(name, permissions)
    ds.call(ds.send_dispatch("CHANNEL_CREATE", ds.channel_object(ch)))
    await settle()
    return ch


async def subscribe(bot, ds: DiscordStandIn, ch, kind: str = "images", *, role: int | None = None, **options) -> dict:
    """/subscribe as a server admin would send it (resolved channel and role included)."""
    opts = {"kind": kind, "channel": str(ch.id), **options}
    types = {"channel": 7, "role": 8, "thread_per_sol": 5}
    if role is not None:
        opts["role"] = str(role)
    payload = ds.command("subscribe", opts, types=types, permissions=ADMIN)
    resolved = {"channels": {str(ch.id): ds.channel_object(ch) | {"permissions": str(ds.perms(ch))}}}
    if role is not None:
        resolved["roles"] = {str(role): {"id": str(role), "name": f"fans-{role % 1000}", "permissions": "0",
                                         "position": 1, "color": 0, "hoist": False, "managed": False,
                                         "mentionable": True, "flags": 0}}
    payload["data"]["resolved"] = resolved
    await dispatch(bot, payload)
    return reply(ds)


def pictures(nasa_standin, clock, per_family: dict[str, int], sol: int = 1995):
    recs = burst(sol, clock.now + timedelta(seconds=30), nasa_standin.url, per_family)
    nasa_standin.records += recs
    clock.now += timedelta(minutes=10)
    return recs


def image_posts(messages: list[dict]) -> list[dict]:
    return [m for m in messages if "New from Perseverance" in (m.get("content") or "")]


def roles(message: dict) -> list[str]:
    """The roles a message may ping (discord.py sends them as numbers, webhooks as strings)."""
    return sorted(str(r) for r in message["allowed_mentions"]["roles"])


def thread_creations(ds: DiscordStandIn) -> list[dict]:
    return ds.calls("POST", r"/channels/\d+/threads$")


# ---------------------------------------------------------------- several subscriptions per channel


async def test_two_subscriptions_in_one_channel_list_and_unsubscribe_one(connected_bot, discord_standin, nasa_standin,
                                                                          store, clock):
    ds, auto = discord_standin, connected_bot.automation
    await auto.images_cycle()  # baseline
    colour_fans, everyone_pics = 7001, 7002
    assert (await subscribe(connected_bot, ds, ds.general, camera="mastcam", role=colour_fans))["content"].startswith("✅")
    assert (await subscribe(connected_bot, ds, ds.general, camera="navcam"))["content"].startswith("✅")
    await subscribe(connected_bot, ds, ds.general, role=everyone_pics)  # every camera, another role
    mastcam, navcam, every = store.subscriptions.find(channel_id=ds.general.id)
    assert (mastcam.camera, mastcam.role_id, navcam.camera, navcam.role_id, every.role_id) == \
        ("mastcam", colour_fans, "navcam", None, everyone_pics)
    # The same (channel, kind, camera, role) again is an update, not a fourth subscription.
    await subscribe(connected_bot, ds, ds.general, camera="navcam", post_as="Perseverance")
    assert len(store.subscriptions.find(channel_id=ds.general.id)) == 3
    await subscribe(connected_bot, ds, ds.general, camera="navcam")
    assert store.subscriptions.subscription_by_id(navcam.id).webhook_name is None

    pictures(nasa_standin, clock, {"MCZ_LEFT": 3, "NAVCAM_LEFT": 2, "FRONT_HAZCAM_LEFT_A": 1})
    await auto.images_cycle()
    posts = image_posts(ds.general.messages)
    # One post per group: a picture two subscriptions want is posted once, pinging both roles.
    by_camera = {("Mastcam" if "Mastcam" in m["content"] else "Navcam" if "Navcam" in m["content"] else "Hazcam"): m
                 for m in posts}
    assert len(posts) == 3 and set(by_camera) == {"Mastcam", "Navcam", "Hazcam"}
    mcz = by_camera["Mastcam"]
    assert mcz["content"].startswith(f"<@&{colour_fans}> <@&{everyone_pics}> ")
    assert roles(mcz) == sorted([str(colour_fans), str(everyone_pics)])
    assert roles(by_camera["Navcam"]) == [str(everyone_pics)]  # navcam's own has no ping
    assert roles(by_camera["Hazcam"]) == [str(everyone_pics)]
    keys = [e.key for e in store.outbox.entries(kind="images")]
    assert len(keys) == len(set(keys)) == 3

    await dispatch(connected_bot, ds.command("subscriptions", permissions=ADMIN))
    listing = reply(ds)["content"]
    assert all(f"`#{s.id}`" in listing for s in (mastcam, navcam, every))
    assert f"from Mastcam-Z pinging <@&{colour_fans}>" in listing and "/unsubscribe subscription:#id" in listing

    # autocomplete offers this server's subscriptions by id
    await dispatch(connected_bot, ds.command("unsubscribe", {"subscription": "mast"}, focused="subscription",
                                             permissions=ADMIN))
    choices = reply(ds)["choices"]
    assert [c["value"] for c in choices] == [f"#{mastcam.id}"] and choices[0]["name"].startswith(f"#{mastcam.id} · #general")

    # by kind, with several of that kind in the channel: it asks which, and removes nothing
    await dispatch(connected_bot, ds.command("unsubscribe", {"kind": "images"}, permissions=ADMIN))
    assert "has 3 images subscriptions" in reply(ds)["content"] and len(store.subscriptions.find()) == 3
    await dispatch(connected_bot, ds.command("unsubscribe", {"subscription": f"#{mastcam.id}"}, permissions=ADMIN))
    assert reply(ds)["content"].startswith(f"Done: removed #{mastcam.id}")
    assert [s.id for s in store.subscriptions.find()] == [navcam.id, every.id]
    # another server's id is not this server's to remove
    other = store.subscriptions.subscribe(ds.add_guild(), 1234, "news", mission="mars2020", at=clock().timestamp())
    await dispatch(connected_bot, ds.command("unsubscribe", {"subscription": str(other.id)}, permissions=ADMIN))
    assert "has no subscription" in reply(ds)["content"] and store.subscriptions.subscription_by_id(other.id) is not None

    pictures(nasa_standin, clock, {"MCZ_LEFT": 2}, sol=1996)
    await auto.images_cycle()
    newest = image_posts(ds.general.messages)[-1]
    assert "Mastcam" in newest["content"] and roles(newest) == [str(everyone_pics)]


# ---------------------------------------------------------------- forums and threads


async def test_forum_gets_one_post_per_sol_and_later_groups_join_it(connected_bot, discord_standin, nasa_standin,
                                                                      store, clock):
    ds, auto = discord_standin, connected_bot.automation
    forum = await new_channel(connected_bot, ds, "mars-pictures", ALL_THREADS, forum=True)
    await auto.images_cycle()
    assert (await subscribe(connected_bot, ds, forum))["content"].startswith("✅")
    assert "one forum post per sol" in reply(ds)["content"]
    news = await subscribe(connected_bot, ds, forum, kind="news")
    assert "forum channel" in news["content"] and len(store.subscriptions.find()) == 1

    pictures(nasa_standin, clock, {"MCZ_LEFT": 3})
    await auto.images_cycle()
    [thread] = ds.threads(forum)
    start = marstime.sol_interval(1995, marstime.PERSEVERANCE)[0]
    assert thread.name == f"Sol 1995 · {start.day} {start.strftime('%b %Y')}" and thread.type == PUBLIC_THREAD
    assert len(image_posts(thread.messages)) == 1 and "sol 1995" in thread.messages[0]["content"]  # the starter

    pictures(nasa_standin, clock, {"NAVCAM_LEFT": 2})  # later the same sol: into the same post
    await auto.images_cycle()
    assert ds.threads(forum) == [thread] and len(image_posts(thread.messages)) == 2

    pictures(nasa_standin, clock, {"NAVCAM_LEFT": 2}, sol=1996)  # a new sol: a new post
    await auto.images_cycle()
    assert len(ds.threads(forum)) == 2 and len(thread_creations(ds)) == 2
    assert store.channels.sol_thread(forum.id, "mars2020", 1995) == thread.id and store.channels.sol_thread(forum.id, "mars2020", 1996) not in (None, thread.id)


async def test_text_channel_thread_per_sol_and_restart_midday_makes_no_second_thread(
        connected_bot, discord_standin, nasa_standin, store, clock):
    ds, auto = discord_standin, connected_bot.automation
    photos = await new_channel(connected_bot, ds, "photos", ALL_THREADS)
    await auto.images_cycle()
    assert (await subscribe(connected_bot, ds, photos, thread_per_sol=True))["content"].startswith("✅")
    pictures(nasa_standin, clock, {"MCZ_LEFT": 3})
    await auto.images_cycle()
    [thread] = ds.threads(photos)
    assert photos.messages == [] and len(image_posts(thread.messages)) == 1  # in the thread, not the channel

    # A restart in the middle of the sol's day: new process objects over the same database file.
    from bot.store import Store

    reopened = Store.open(connected_bot.services.config.storage)
    assert reopened.channels.sol_thread(photos.id, "mars2020", 1995) == thread.id  # recorded durably
    reopened.close()
    fresh = connected_bot.services.automation(auto.courier.sender)
    fresh.recover()
    pictures(nasa_standin, clock, {"NAVCAM_LEFT": 2})
    await fresh.images_cycle()
    assert ds.threads(photos) == [thread] and len(thread_creations(ds)) == 1
    assert len(image_posts(thread.messages)) == 2 and photos.messages == []


async def test_crash_after_discord_made_the_thread_finds_it_again(connected_bot, discord_standin, nasa_standin,
                                                                     store, clock, monkeypatch):
    ds, auto = discord_standin, connected_bot.automation
    forum = await new_channel(connected_bot, ds, "sols", ALL_THREADS, forum=True)
    await auto.images_cycle()
    await subscribe(connected_bot, ds, forum)
    pictures(nasa_standin, clock, {"MCZ_LEFT": 3})

    def die(*a, **k):
        raise KeyboardInterrupt  # Discord made the thread; the store never hears of it

    monkeypatch.setattr(store.channels, "record_sol_thread", die)
    with pytest.raises(KeyboardInterrupt):
        await auto.images_cycle()
    monkeypatch.undo()
    [thread] = ds.threads(forum)
    assert image_posts(thread.messages) == [] and store.channels.sol_thread(forum.id, "mars2020", 1995) is None
    fresh = connected_bot.services.automation(auto.courier.sender)
    fresh.recover()
    clock.now += timedelta(minutes=1)
    await fresh.delivery_cycle()
    assert ds.threads(forum) == [thread] and len(thread_creations(ds)) == 1  # found by name, not made twice
    assert len(image_posts(thread.messages)) == 1 and store.channels.sol_thread(forum.id, "mars2020", 1995) == thread.id


@pytest.mark.fault("Discord", "403 on a sol's thread (Send Messages in Threads taken away)",
                   "paused, never deleted; resumed when fixed, nothing lost")
async def test_403_in_a_thread_pauses_not_deletes(connected_bot, discord_standin, nasa_standin, store, clock):
    ds, auto = discord_standin, connected_bot.automation
    photos = await new_channel(connected_bot, ds, "photos", ALL_THREADS)
    await auto.images_cycle()
    await subscribe(connected_bot, ds, photos, thread_per_sol=True)
    pictures(nasa_standin, clock, {"MCZ_LEFT": 3})
    await auto.images_cycle()
    [thread] = ds.threads(photos)
    ds.set_permissions(photos, ALL_THREADS & ~SEND_MESSAGES_IN_THREADS)
    await settle()
    pictures(nasa_standin, clock, {"NAVCAM_LEFT": 2})
    await auto.images_cycle()
    [sub] = store.subscriptions.find(channel_id=photos.id)
    assert sub.paused and "Send Messages in Threads" in sub.paused_reason
    await auto.delivery_cycle()  # the re-check knows threads need that right: it stays paused
    assert store.subscriptions.find(channel_id=photos.id)[0].paused
    assert len([m for m in ds.general.messages if "paused" in m["content"]]) == 1
    ds.set_permissions(photos, ALL_THREADS)
    await settle()
    await auto.delivery_cycle()
    assert not store.subscriptions.find(channel_id=photos.id)[0].paused and len(image_posts(thread.messages)) == 2


# ---------------------------------------------------------------- webhooks


async def test_webhook_posts_under_a_custom_name_and_avatar(connected_bot, discord_standin, nasa_standin, store, clock):
    ds, auto = discord_standin, connected_bot.automation
    photos = await new_channel(connected_bot, ds, "photos", ALL_TEXT | MANAGE_WEBHOOKS)
    await auto.images_cycle()
    bad = await subscribe(connected_bot, ds, photos, post_as="Discord rover")
    assert "discord" in bad["content"] and store.subscriptions.find() == []
    ok = await subscribe(connected_bot, ds, photos, post_as="Perseverance", avatar=AVATAR, role=7003)
    assert ok["content"].startswith("✅") and "posted as **Perseverance**" in ok["content"]
    pictures(nasa_standin, clock, {"MCZ_LEFT": 3})
    await auto.images_cycle()
    [msg] = image_posts(photos.messages)
    [hook] = ds.webhooks.values()
    assert msg["webhook_id"] == hook["id"] and msg["author"]["username"] == "Perseverance"
    assert ds.webhook_avatars[msg["id"]] == AVATAR
    assert roles(msg) == ["7003"] and msg["content"].startswith("<@&7003>")
    [execution] = ds.calls("POST", r"/webhooks/\d+/[^/]+$")
    assert execution["query"].get("wait") == "true"
    [entry] = store.outbox.entries(kind="images")
    assert entry.status == "sent" and entry.message_id == int(msg["id"])


async def test_webhook_in_a_forum_thread(connected_bot, discord_standin, nasa_standin, store, clock):
    ds, auto = discord_standin, connected_bot.automation
    forum = await new_channel(connected_bot, ds, "sols", ALL_THREADS | MANAGE_WEBHOOKS, forum=True)
    await auto.images_cycle()
    await subscribe(connected_bot, ds, forum, post_as="Perseverance")
    pictures(nasa_standin, clock, {"MCZ_LEFT": 3})
    await auto.images_cycle()
    [thread] = ds.threads(forum)
    [msg] = image_posts(thread.messages)
    assert msg["webhook_id"] and msg["author"]["username"] == "Perseverance"


@pytest.mark.fault("Discord", "the webhook was deleted (404/10015)", "a new one is made; the post goes out once")
async def test_deleted_webhook_is_repaired(connected_bot, discord_standin, nasa_standin, store, clock):
    ds, auto = discord_standin, connected_bot.automation
    photos = await new_channel(connected_bot, ds, "photos", ALL_TEXT | MANAGE_WEBHOOKS)
    await auto.images_cycle()
    await subscribe(connected_bot, ds, photos, post_as="Perseverance")
    pictures(nasa_standin, clock, {"MCZ_LEFT": 3})
    await auto.images_cycle()
    [first_hook] = list(ds.webhooks)
    del ds.webhooks[first_hook]  # a member deleted it in the channel's integrations
    pictures(nasa_standin, clock, {"NAVCAM_LEFT": 2})
    await auto.images_cycle()
    posts = image_posts(photos.messages)
    [second_hook] = list(ds.webhooks)
    assert len(posts) == 2 and second_hook != first_hook and posts[1]["webhook_id"] == str(second_hook)
    assert [r.get("rejected") for r in ds.calls("POST", r"/webhooks/\d+/[^/]+$")] == [None, 10015, None]
    assert not store.subscriptions.find()[0].paused


@pytest.mark.fault("Discord", "no Manage Webhooks for a post_as subscription",
                   "posted as the bot; the server is told once; no refused requests")
async def test_without_manage_webhooks_posts_as_the_bot_and_says_so_once(connected_bot, discord_standin, nasa_standin,
                                                                         store, clock):
    ds, auto = discord_standin, connected_bot.automation
    photos = await new_channel(connected_bot, ds, "photos", ALL_TEXT)
    await auto.images_cycle()
    answer = await subscribe(connected_bot, ds, photos, post_as="Perseverance")
    assert answer["content"].startswith("✅") and "Manage Webhooks" in answer["content"]
    for family in ("MCZ_LEFT", "NAVCAM_LEFT"):
        pictures(nasa_standin, clock, {family: 2})
        await auto.images_cycle()
    posts = image_posts(photos.messages)
    assert len(posts) == 2 and not any(m.get("webhook_id") for m in posts)
    assert all(m["author"]["id"] == str(ds.app_id) for m in posts)
    notes = [m for m in ds.general.messages if "Manage Webhooks" in m["content"]]
    assert len(notes) == 1 and f"<#{photos.id}>" in notes[0]["content"] and "Perseverance" in notes[0]["content"]
    assert ds.calls("POST", r"/channels/\d+/webhooks") == []  # known from the cache: nothing refused asked
    # Manage Webhooks granted: the next posts come as Perseverance
    ds.set_permissions(photos, ALL_TEXT | MANAGE_WEBHOOKS)
    await settle()
    clock.now += timedelta(hours=1, minutes=1)
    pictures(nasa_standin, clock, {"MCZ_LEFT": 2}, sol=1996)
    await auto.images_cycle()
    assert image_posts(photos.messages)[-1]["author"]["username"] == "Perseverance"


@pytest.mark.fault("Discord", "webhook post kept but its answer lost (502); re-sent after the nonce window",
                   "found in history by its reference (authored by the webhook): one message")
async def test_webhook_answer_lost_is_found_not_doubled(connected_bot, discord_standin, nasa_standin, store, clock,
                                                        monkeypatch):
    ds, auto = discord_standin, connected_bot.automation
    photos = await new_channel(connected_bot, ds, "photos", ALL_TEXT | MANAGE_WEBHOOKS)
    await auto.images_cycle()
    await subscribe(connected_bot, ds, photos, post_as="Perseverance")
    real_route = ds._route
    lost = {"left": 1}

    def route(method, path, query, body, files):
        status, result = real_route(method, path, query, body, files)
        if method == "POST" and path.startswith("/webhooks/") and path.count("/") == 3 and lost["left"]:
            lost["left"] -= 1
            raise Rejection(502, 0, "502 Bad Gateway (the message was kept)")
        return status, result

    monkeypatch.setattr(ds, "_route", route)
    pictures(nasa_standin, clock, {"MCZ_LEFT": 3})
    await auto.images_cycle()
    assert len(image_posts(photos.messages)) == 1  # Discord has it...
    [entry] = store.outbox.entries(kind="images")
    assert entry.status == "pending" and entry.message_id is None  # ...the bot does not know
    assert len(ds.calls("POST", r"/webhooks/\d+/[^/]+$")) == 1  # one try: no blind automatic retry
    ds.advance(PAST_NONCE_WINDOW)
    clock.now += timedelta(minutes=10)
    fresh = connected_bot.services.automation(auto.courier.sender)
    fresh.recover()
    await fresh.delivery_cycle()
    [msg] = image_posts(photos.messages)
    [entry] = store.outbox.entries(kind="images")
    assert entry.status == "sent" and entry.message_id == int(msg["id"]) and msg["webhook_id"]
    assert len(ds.calls("POST", r"/webhooks/\d+/[^/]+$")) == 1 and ds.calls("GET", rf"/channels/{photos.id}/messages")


@pytest.mark.fault("Discord", "403 on a webhook post", "paused, never deleted; resumed when fixed")
async def test_403_on_a_webhook_pauses_not_deletes(connected_bot, discord_standin, nasa_standin, store, clock):
    ds, auto = discord_standin, connected_bot.automation
    photos = await new_channel(connected_bot, ds, "photos", ALL_TEXT | MANAGE_WEBHOOKS)
    await auto.images_cycle()
    await subscribe(connected_bot, ds, photos, post_as="Perseverance")
    ds.faults.append(Fault("POST", r"^/webhooks/\d+/[^/]+$", 403, {"code": 50013, "message": "Missing Permissions"}))
    pictures(nasa_standin, clock, {"MCZ_LEFT": 3})
    await auto.images_cycle()
    [sub] = store.subscriptions.find(channel_id=photos.id)
    assert sub.paused and photos.messages == []
    assert [e.status for e in store.outbox.entries(kind="images")] == ["pending"]  # kept for later
    await auto.delivery_cycle()  # permissions look fine: resumed, and the post goes out once
    assert not store.subscriptions.find(channel_id=photos.id)[0].paused
    assert len(image_posts(photos.messages)) == 1


def test_migration_keeps_every_subscription_and_allows_several_per_channel(tmp_path, monkeypatch, catalogue):
    from bot.store import MIGRATIONS, Store

    path = tmp_path / "old.sqlite3"
    monkeypatch.setattr("bot.store.database.MIGRATIONS", MIGRATIONS[:-1])
    old = Store.open(path)
    old.db.execute("INSERT INTO subscriptions (id, guild_id, channel_id, kind, camera, codes, role_id, created_at,"
                     " paused_at, paused_reason) VALUES (7, 1, 10, 'images', 'navcam', 'NAVCAM_LEFT', 5, 2.0, 3.0, 'why')")
    old.db.execute("INSERT INTO subscriptions (id, guild_id, channel_id, kind, digest_time, timezone, created_at)"
                     " VALUES (9, 1, 10, 'digest', '07:30', 'Europe/Berlin', 1.0)")
    old.close()
    monkeypatch.undo()
    new = Store.open(path)
    assert new.db.schema_version == len(MIGRATIONS)
    navcam, digest = new.subscriptions.find(channel_id=10)
    assert (navcam.id, navcam.codes, navcam.role_id, navcam.paused_reason, navcam.threads, navcam.webhook_name) == \
        (7, ("NAVCAM_LEFT",), 5, "why", "", None)
    assert (digest.id, digest.digest_time, digest.timezone) == (9, "07:30", "Europe/Berlin")
    mastcam = new.subscriptions.subscribe(1, 10, "images", mission="mars2020", camera="mastcam", codes=("MCZ_LEFT",), role_id=6, at=4.0)
    assert mastcam.id not in (7, 9) and len(new.subscriptions.find(channel_id=10, kind="images")) == 2
    assert new.subscriptions.subscribe(1, 10, "digest", mission="mars2020", digest_time="08:00", at=5.0).id == 9  # one digest per channel
    assert new.subscriptions.subscribe(1, 10, "images", mission="mars2020", camera="navcam", codes=("NAVCAM_LEFT",), role_id=5, at=6.0).id == 7
    new.close()
