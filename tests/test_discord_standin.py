"""The Discord stand-in is only useful if it refuses what Discord refuses."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import discord
import httpx
import pytest
import yarl

from tests.discord_standin import (
    ALL_TEXT, ALL_THREADS, CREATE_PRIVATE_THREADS, CREATE_PUBLIC_THREADS, MANAGE_WEBHOOKS, READ_MESSAGE_HISTORY,
    SEND_MESSAGES, SEND_MESSAGES_IN_THREADS, VIEW_CHANNEL, DiscordStandIn, Fault, Rejection, check_message)


@pytest.mark.parametrize("body, field", [
    ({"content": "x" * 2001}, "content"),
    ({"embeds": [{"title": "t"}] * 11}, "embeds"),
    ({"embeds": [{"title": "x" * 257}]}, "embeds.0.title"),
    ({"embeds": [{"description": "x" * 4097}]}, "embeds.0.description"),
    ({"embeds": [{"description": "x" * 4000}, {"description": "x" * 2500}]}, "embeds"),
    ({"embeds": [{"title": "t", "fields": [{"name": "n", "value": "v" * 1025}]}]}, "embeds.0.fields.0.value"),
    ({"components": [{"type": 1, "components": [{"type": 2, "custom_id": "a"}, {"type": 2, "custom_id": "a"}]}], "content": "x"}, "components.0.components.1.custom_id"),
    ({"content": ""}, "content"),
])
def test_limits_are_enforced_with_50035(body, field):
    with pytest.raises(Rejection) as e:
        check_message(body)
    assert e.value.code == 50035 and field in e.value.errors


def test_a_valid_message_passes():
    check_message({"content": "hi", "embeds": [{"title": "t", "description": "d", "fields": [{"name": "n", "value": "v"}]}]})


# ---------------------------------------------------------------- over discord.py's real HTTP client


@pytest.fixture
def make_standin():
    started = []

    def make(**kw) -> DiscordStandIn:
        s = DiscordStandIn(**kw).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture
async def client_for(monkeypatch):
    """A logged-in discord.Client (REST only) against a stand-in: discord.py's own HTTP code runs."""
    clients = []

    async def login(standin: DiscordStandIn) -> discord.Client:
        monkeypatch.setattr(discord.http.Route, "BASE", standin.api_base)
        c = discord.Client(intents=discord.Intents(guilds=True))
        await c.login("test-token-not-a-secret")
        clients.append(c)
        return c

    yield login
    for c in clients:
        await c.close()


async def _send(client: discord.Client, ch, content: str, nonce: str | None = None) -> discord.Message:
    return await client.get_partial_messageable(ch.id).send(content, nonce=nonce)


# ---------------------------------------------------------------- 1. nonces are remembered only for a window

@pytest.mark.parametrize("lean", [False, True])
async def test_a_nonce_dedupes_only_within_the_window(make_standin, client_for, lean):
    ds = make_standin(lean=lean)
    client = await client_for(ds)
    first = await _send(client, ds.general, "one", nonce="n-1")
    again = await _send(client, ds.general, "one", nonce="n-1")
    assert again.id == first.id  # inside the window: Discord returns the first message
    ds.advance(299)
    assert (await _send(client, ds.general, "one", nonce="n-1")).id == first.id
    ds.advance(2)  # 301 s after the first: Discord has forgotten the nonce
    later = await _send(client, ds.general, "one", nonce="n-1")
    assert later.id != first.id
    assert [m["id"] for m in ds.general.history()] == [str(first.id), str(later.id)]


async def test_the_window_follows_an_injected_clock_and_its_length_is_configurable(make_standin, client_for):
    t = [1000.0]
    ds = make_standin(clock=lambda: t[0], nonce_window_s=60)
    client = await client_for(ds)
    first = await _send(client, ds.general, "x", nonce="n-2")
    t[0] += 59.5
    assert (await _send(client, ds.general, "x", nonce="n-2")).id == first.id
    t[0] += 1
    assert (await _send(client, ds.general, "x", nonce="n-2")).id != first.id
    with pytest.raises(ValueError):
        ds.advance(-1)


async def test_a_deleted_original_is_not_recreated_inside_the_window(make_standin, client_for):
    ds = make_standin()
    client = await client_for(ds)
    first = await _send(client, ds.general, "x", nonce="n-3")
    await first.delete()
    with pytest.raises(discord.NotFound) as e:
        await _send(client, ds.general, "x", nonce="n-3")
    assert e.value.code == 10008
    ds.advance(301)
    assert (await _send(client, ds.general, "x", nonce="n-3")).id != first.id


async def test_the_nonce_is_the_authors_not_the_channels(make_standin, client_for):
    # The docs scope enforce_nonce to "the same author": a nonce reused in another channel inside
    # the window gets the first channel's message back and posts nothing.
    ds = make_standin()
    other = ds.add_channel("other")
    client = await client_for(ds)
    first = await _send(client, ds.general, "x", nonce="n-4")
    back = await _send(client, other, "x", nonce="n-4")
    assert back.id == first.id and other.messages == []


# ---------------------------------------------------------------- 2. reading history

async def test_history_is_newest_first_with_discords_limits(make_standin, client_for):
    ds = make_standin()
    posted = [ds.add_message(ds.general, f"m{i}") for i in range(120)]
    ids = [int(m["id"]) for m in posted]
    client = await client_for(ds)
    default = await client.http.logs_from(ds.general.id, 50)
    assert [int(m["id"]) for m in default] == ids[::-1][:50]
    raw = httpx.get(f"{ds.api_base}/channels/{ds.general.id}/messages", headers={"Authorization": "Bot t"})
    assert raw.status_code == 200 and len(raw.json()) == 50  # no limit: Discord's default of 50
    assert len(await client.http.logs_from(ds.general.id, 100)) == 100
    for bad in (0, 101):
        with pytest.raises(discord.HTTPException) as e:
            await client.http.logs_from(ds.general.id, bad)
        assert e.value.status == 400 and e.value.code == 50035
    before = await client.http.logs_from(ds.general.id, 5, before=ids[10])
    assert [int(m["id"]) for m in before] == ids[5:10][::-1]
    after = await client.http.logs_from(ds.general.id, 5, after=ids[10])
    assert [int(m["id"]) for m in after] == ids[11:16][::-1]  # the 5 right after, newest first
    around = await client.http.logs_from(ds.general.id, 5, around=ids[50])
    assert sorted(int(m["id"]) for m in around) == ids[48:53]
    assert [int(m["id"]) for m in await client.http.logs_from(ds.general.id, 1, around=ids[50])] == [ids[50]]
    two = httpx.get(f"{ds.api_base}/channels/{ds.general.id}/messages", params={"before": ids[9], "after": ids[2]})
    assert two.status_code == 400 and two.json()["code"] == 50035
    # discord.py's own paginator walks all of it, both ways
    channel = client.get_partial_messageable(ds.general.id)
    assert [m.id async for m in channel.history(limit=None)] == ids[::-1]
    assert [m.id async for m in channel.history(limit=None, after=discord.Object(ids[0]), oldest_first=True)] == ids[1:]


async def test_history_messages_look_like_discords_and_carry_no_nonce(make_standin, client_for):
    ds = make_standin()
    client = await client_for(ds)
    sent = await client.http.send_message(ds.general.id, params=discord.http.handle_message_parameters(
        content="hello", nonce="n-5", embed=discord.Embed(title="t").set_footer(text="ref abc")))
    assert sent["nonce"] == "n-5"  # the create response echoes it...
    [read] = await client.http.logs_from(ds.general.id, 10)
    assert "nonce" not in read  # ...history does not: a bot finds its posts by author and a marker
    assert read["id"] == sent["id"] and read["author"]["id"] == str(client.user.id)
    assert read["embeds"][0]["footer"]["text"] == "ref abc"
    msg = discord.Message(state=client._connection, channel=client.get_partial_messageable(ds.general.id), data=read)
    assert msg.content == "hello" and msg.author.id == client.user.id


async def test_history_permissions_and_a_deleted_channel(make_standin, client_for):
    ds = make_standin()
    ds.add_message(ds.general, "x")
    client = await client_for(ds)
    ds.set_permissions(ds.general, ALL_TEXT & ~READ_MESSAGE_HISTORY)
    # Discord: without Read Message History "no messages will be returned" -- 200 and an empty list
    assert await client.http.logs_from(ds.general.id, 50) == []
    ds.set_permissions(ds.general, ALL_TEXT & ~VIEW_CHANNEL)
    with pytest.raises(discord.Forbidden) as e:
        await client.http.logs_from(ds.general.id, 50)
    assert e.value.code == 50001
    ds.set_permissions(ds.general, VIEW_CHANNEL | READ_MESSAGE_HISTORY)  # reading needs no Send Messages
    assert len(await client.http.logs_from(ds.general.id, 50)) == 1
    ds.delete_channel(ds.general)
    with pytest.raises(discord.NotFound) as e:
        await client.http.logs_from(ds.general.id, 50)
    assert e.value.code == 10003


async def test_lean_history_is_bounded(make_standin, client_for):
    ds = make_standin(lean=True, history_limit=200)
    seen = []
    ds.on_message = lambda ch, m: seen.append(m["id"])
    posted = [ds.add_message(ds.general, f"m{i}") for i in range(250)]
    client = await client_for(ds)
    assert len(seen) == 250 and ds.general.messages == []  # lean: no message log
    channel = client.get_partial_messageable(ds.general.id)
    got = [m.id async for m in channel.history(limit=None)]
    assert got == [int(m["id"]) for m in posted[50:]][::-1]


# ---------------------------------------------------------------- 3. attachment URLs are signed and expire

def _file(name="pic.png", data=b"\x89PNG-bytes"):
    return discord.File(io.BytesIO(data), filename=name)


async def test_attachment_urls_are_signed_resolved_in_embeds_and_expire(make_standin, client_for):
    ds = make_standin()
    client = await client_for(ds)
    embed = discord.Embed(title="t").set_image(url="attachment://pic.png")
    msg = await client.get_partial_messageable(ds.general.id).send(embed=embed, file=_file())
    [att] = msg.attachments
    query = dict(httpx.URL(att.url).params)
    assert set(query) >= {"ex", "is", "hm"} and len(query["hm"]) == 64
    assert int(query["ex"], 16) - int(query["is"], 16) == 24 * 3600
    assert msg.embeds[0].image.url == att.url  # attachment:// comes back as the CDN URL
    assert ds.calls("POST", "/messages$")[0]["json"]["embeds"][0]["image"]["url"] == "attachment://pic.png"
    assert ds.attachment_url_valid(att.url) and ds.attachment_url_valid(att.proxy_url)
    assert httpx.get(att.url).content == b"\x89PNG-bytes"
    tampered = att.url.replace(query["hm"], "0" * 64)
    assert not ds.attachment_url_valid(tampered) and httpx.get(tampered).status_code == 404
    assert not ds.attachment_url_valid(att.url.split("?")[0])  # unsigned URLs do not work
    ds.advance(24 * 3600 - 5)
    assert ds.attachment_url_valid(att.url)
    ds.advance(10)
    assert not ds.attachment_url_valid(att.url)
    r = httpx.get(att.url)
    assert r.status_code == 404 and "no longer available" in r.text
    assert ds.embeds_referencing_foreign_attachments() == []


async def test_embedding_another_messages_attachment_url_is_noticed(make_standin, client_for):
    ds = make_standin()
    client = await client_for(ds)
    channel = client.get_partial_messageable(ds.general.id)
    first = await channel.send(file=_file())
    own = await channel.send(embed=discord.Embed(title="own").set_image(url="attachment://pic.png"), file=_file())
    borrowed = await channel.send(embed=discord.Embed(title="borrowed").set_image(url=first.attachments[0].url))
    text_only = await channel.send(embed=discord.Embed(title="x", url="https://mars.nasa.gov/"))
    assert ds.embeds_referencing_foreign_attachments() == [str(borrowed.id)]
    assert str(own.id) not in ds.embeds_referencing_foreign_attachments() and text_only.id != borrowed.id


# ---------------------------------------------------------------- 4. the invalid request limit (Cloudflare bans)

async def test_invalid_requests_are_counted_in_a_rolling_ten_minutes(make_standin, client_for):
    ds = make_standin()
    assert ds.invalid_request_limit == 10_000  # Discord's documented limit per 10 minutes
    client = await client_for(ds)
    ds.set_permissions(ds.general, VIEW_CHANNEL)
    for _ in range(3):
        with pytest.raises(discord.Forbidden):
            await _send(client, ds.general, "x")
    ds.faults.append(Fault("GET", "/users/@me", 401, {"message": "401: Unauthorized", "code": 0}))
    assert httpx.get(f"{ds.api_base}/users/@me").status_code == 401
    # a shared-scope 429 is not counted against the bot; a user-scope one is
    for scope in ("shared", "user"):
        ds.faults.append(Fault("GET", "/users/@me", 429, {"message": "limited", "retry_after": 1, "global": False},
                               headers={"X-RateLimit-Scope": scope}))
        assert httpx.get(f"{ds.api_base}/users/@me").status_code == 429
    ds.faults.append(Fault("GET", "/users/@me", 404, {"message": "404: Not Found", "code": 0}))
    assert httpx.get(f"{ds.api_base}/users/@me").status_code == 404  # not one of 401/403/429
    assert ds.invalid_requests == 5
    ds.advance(599)
    assert ds.invalid_requests == 5
    ds.advance(2)
    assert ds.invalid_requests == 0  # the window rolls


async def test_past_the_limit_everything_gets_a_cloudflare_ban(make_standin, client_for):
    ds = make_standin(invalid_request_limit=20, ban_s=3600)
    client = await client_for(ds)
    ds.set_permissions(ds.general, VIEW_CHANNEL)
    for _ in range(20):
        assert httpx.post(f"{ds.api_base}/channels/{ds.general.id}/messages", json={"content": "x"}).status_code == 403
    assert not ds.banned
    assert httpx.post(f"{ds.api_base}/channels/{ds.general.id}/messages", json={"content": "x"}).status_code == 403
    assert ds.banned  # the 21st invalid answer in 10 minutes
    r = httpx.get(f"{ds.api_base}/users/@me")  # a valid request is refused too
    assert r.status_code == 429 and "Via" not in r.headers and r.headers["Content-Type"].startswith("text/html")
    with pytest.raises(discord.HTTPException) as e:  # discord.py gives up at once: no retry loop
        await client.http.logs_from(ds.general.id, 1)
    assert e.value.status == 429
    ds.advance(3601)
    assert httpx.get(f"{ds.api_base}/users/@me").status_code == 200 and not ds.banned


# ---------------------------------------------------------------- 5. forums and threads


async def test_a_forum_post_creates_the_thread_and_its_first_message(make_standin, client_for):
    ds = make_standin()
    forum_ch = ds.add_forum("sol-reports")
    client = await client_for(ds)
    forum = await client.fetch_channel(forum_ch.id)
    assert isinstance(forum, discord.ForumChannel)
    made = await forum.create_thread(name="Sol 100", content="first", file=_file(),
                                     embed=discord.Embed(title="t").set_image(url="attachment://pic.png"))
    assert made.thread.id == made.message.id and made.thread.parent_id == forum_ch.id
    assert made.thread.type == discord.ChannelType.public_thread and made.message.content == "first"
    assert made.message.embeds[0].image.url == made.message.attachments[0].url
    [th] = ds.threads(forum_ch)
    assert [m["content"] for m in th.history()] == ["first"] and forum_ch.messages == []
    reply = await client.get_partial_messageable(th.id).send("second")
    assert reply.channel.id == th.id and len(th.history()) == 2
    fetched = await client.fetch_channel(th.id)
    assert isinstance(fetched, discord.Thread) and fetched.name == "Sol 100" and not fetched.archived


async def test_a_forum_refuses_what_discord_refuses(make_standin, client_for):
    ds = make_standin()
    forum_ch = ds.add_forum("sol-reports", tags=("news", "pictures"), require_tag=True)
    client = await client_for(ds)
    forum = await client.fetch_channel(forum_ch.id)
    with pytest.raises(discord.HTTPException) as e:  # a forum takes threads only
        await client.http.send_message(forum_ch.id, params=discord.http.handle_message_parameters(content="x"))
    assert e.value.status == 400 and e.value.code == 40058
    for name in ("", "n" * 101):
        r = httpx.post(f"{ds.api_base}/channels/{forum_ch.id}/threads", json={"name": name, "message": {"content": "x"}})
        assert r.status_code == 400 and r.json()["code"] == 50035 and "name" in r.json()["errors"]
    r = httpx.post(f"{ds.api_base}/channels/{forum_ch.id}/threads", json={"name": "no message"})
    assert r.status_code == 400 and "message" in r.json()["errors"]
    with pytest.raises(discord.HTTPException) as e:
        await forum.create_thread(name="untagged", content="x")
    assert e.value.code == 40067
    pictures = next(t for t in forum.available_tags if t.name == "pictures")
    made = await forum.create_thread(name="tagged", content="x", applied_tags=[pictures])
    assert ds.channels[made.thread.id].applied_tags == [str(pictures.id)]
    # Posting in a forum needs SEND_MESSAGES there; CREATE_PUBLIC_THREADS is ignored
    ds.set_permissions(forum_ch, ALL_THREADS & ~SEND_MESSAGES)
    with pytest.raises(discord.Forbidden) as e:
        await forum.create_thread(name="no send", content="x", applied_tags=[pictures])
    assert e.value.code == 50013
    assert len(ds.threads(forum_ch)) == 1


async def test_threads_in_a_text_channel_need_the_thread_permissions(make_standin, client_for):
    ds = make_standin()
    client = await client_for(ds)
    text = await client.fetch_channel(ds.general.id)
    with pytest.raises(discord.Forbidden):  # ALL_TEXT has no CREATE_PUBLIC_THREADS
        await text.create_thread(name="talk", type=discord.ChannelType.public_thread)
    ds.set_permissions(ds.general, ALL_TEXT | CREATE_PUBLIC_THREADS)
    public = await text.create_thread(name="talk", type=discord.ChannelType.public_thread)
    assert public.type == discord.ChannelType.public_thread and public.parent_id == ds.general.id
    with pytest.raises(discord.Forbidden):  # Discord's default type is a private thread
        await text.create_thread(name="quiet")
    ds.set_permissions(ds.general, ALL_TEXT | CREATE_PUBLIC_THREADS | CREATE_PRIVATE_THREADS)
    assert (await text.create_thread(name="quiet")).type == discord.ChannelType.private_thread
    # talking in a thread needs SEND_MESSAGES_IN_THREADS; SEND_MESSAGES has no effect there
    with pytest.raises(discord.Forbidden):
        await client.get_partial_messageable(public.id).send("hi")
    ds.set_permissions(ds.general, ALL_THREADS)
    await client.get_partial_messageable(public.id).send("hi")
    ds.set_permissions(ds.general, ALL_THREADS & ~SEND_MESSAGES)
    await client.get_partial_messageable(public.id).send("still")
    assert [m["content"] for m in ds.channels[public.id].history()] == ["hi", "still"]


async def test_a_thread_from_a_message_shares_its_id_once(make_standin, client_for):
    ds = make_standin()
    ds.set_permissions(ds.general, ALL_THREADS)
    client = await client_for(ds)
    msg = await (await client.fetch_channel(ds.general.id)).send("start here")
    thread = await msg.create_thread(name="about this")
    assert thread.id == msg.id and thread.type == discord.ChannelType.public_thread
    with pytest.raises(discord.HTTPException) as e:
        await msg.create_thread(name="again")
    assert e.value.code == 160004
    [read] = await client.http.logs_from(ds.general.id, 1)
    assert read["thread"]["id"] == str(msg.id) and read["flags"] & (1 << 5)  # HAS_THREAD
    with pytest.raises(discord.NotFound):
        await client.http.start_thread_with_message(ds.general.id, 1234, name="x", auto_archive_duration=60)


async def test_archived_threads_wake_on_a_post_unless_locked(make_standin, client_for):
    ds = make_standin()
    forum_ch = ds.add_forum("posts")
    client = await client_for(ds)
    asleep = ds.add_thread(forum_ch, "asleep", archived=True)
    await client.get_partial_messageable(asleep.id).send("wake up")
    assert not asleep.archived  # "Sending a message will automatically unarchive the thread"
    locked = ds.add_thread(forum_ch, "locked", archived=True, locked=True)
    with pytest.raises(discord.Forbidden) as e:
        await client.get_partial_messageable(locked.id).send("x")
    assert e.value.code == 160005 and locked.history() == []
    # someone else's locked thread stays shut to a bot without MANAGE_THREADS
    r = httpx.patch(f"{ds.api_base}/channels/{locked.id}", json={"archived": False})
    assert r.status_code == 403 and locked.archived
    # the bot's own thread, archived: editing it needs archived=false in the same request
    made = await (await client.fetch_channel(forum_ch.id)).create_thread(name="mine", content="x")
    ds.archive_thread(ds.channels[made.thread.id])
    r = httpx.patch(f"{ds.api_base}/channels/{made.thread.id}", json={"name": "renamed"})
    assert r.status_code == 400 and r.json()["code"] == 50083
    edited = await made.thread.edit(archived=False, name="renamed")
    assert not edited.archived and edited.name == "renamed"
    got = httpx.get(f"{ds.api_base}/channels/{made.thread.id}").json()
    assert got["thread_metadata"]["archived"] is False and got["member"]["user_id"] == str(ds.app_id)
    r = httpx.patch(f"{ds.api_base}/channels/{made.thread.id}", json={"auto_archive_duration": 30})
    assert r.status_code == 400 and "auto_archive_duration" in r.json()["errors"]


async def test_guild_create_carries_the_forum_and_only_active_threads(make_standin, monkeypatch):
    ds = make_standin()
    forum_ch = ds.add_forum("posts")
    active = ds.add_thread(forum_ch, "active")
    ds.add_thread(forum_ch, "archived", archived=True)
    monkeypatch.setattr(discord.http.Route, "BASE", ds.api_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(ds.gateway_url))
    client = discord.Client(intents=discord.Intents(guilds=True), guild_ready_timeout=0.1)
    task = asyncio.create_task(client.start("test-token-not-a-secret"))
    try:
        await asyncio.wait_for(client.wait_until_ready(), 10)
        assert isinstance(client.get_channel(forum_ch.id), discord.ForumChannel)
        guild = client.get_guild(ds.guild_id)
        assert [t.id for t in guild.threads] == [active.id] and guild.threads[0].parent_id == forum_ch.id
    finally:
        await client.close()
        task.cancel()


# ---------------------------------------------------------------- 6. webhooks


async def test_webhooks_are_created_executed_and_deleted_as_on_discord(make_standin, client_for):
    ds = make_standin()
    client = await client_for(ds)
    text = await client.fetch_channel(ds.general.id)
    with pytest.raises(discord.Forbidden):  # needs MANAGE_WEBHOOKS
        await text.create_webhook(name="rovers")
    ds.set_permissions(ds.general, ALL_TEXT | MANAGE_WEBHOOKS)
    for bad in ("", "x" * 81, "My Discord hook", "clyde"):
        with pytest.raises(discord.HTTPException) as e:
            await text.create_webhook(name=bad)
        assert e.value.status == 400 and e.value.code == 50035
    hook = await text.create_webhook(name="rovers")
    assert [w.id for w in await text.webhooks()] == [hook.id]
    msg = await hook.send("from the hook", username="Perseverance", avatar_url="https://example.org/p.png", wait=True)
    assert msg.webhook_id == hook.id and msg.author.name == "Perseverance" and msg.author.id == hook.id
    assert ds.webhook_avatars[str(msg.id)] == "https://example.org/p.png"
    plain = await hook.send("default name", wait=True)
    assert plain.author.name == "rovers"
    # no nonce deduplication for webhook executions: the same body twice is two messages
    await hook.send("twice", wait=True)
    await hook.send("twice", wait=True)
    assert [m["content"] for m in ds.general.history()].count("twice") == 2
    assert await hook.send("no wait") is None  # wait=false: 204, nothing returned
    await hook.delete()
    with pytest.raises(discord.NotFound) as e:
        await hook.send("after deletion", wait=True)
    assert e.value.code == 10015
    assert await text.webhooks() == []


async def test_a_webhook_posts_into_threads_and_forums(make_standin, client_for):
    ds = make_standin()
    forum_ch = ds.add_forum("posts", ALL_THREADS | MANAGE_WEBHOOKS)
    client = await client_for(ds)
    forum = await client.fetch_channel(forum_ch.id)
    hook = await forum.create_webhook(name="rovers")
    with pytest.raises(discord.HTTPException) as e:  # a forum needs thread_name or thread_id
        await hook.send("x", wait=True)
    assert e.value.code == 220001
    made = await hook.send("new post", thread_name="Sol 7", wait=True)
    [th] = ds.threads(forum_ch)
    assert made.channel.id == th.id and th.name == "Sol 7"
    ds.archive_thread(th)
    again = await hook.send("more", thread=discord.Object(th.id), wait=True)
    assert again.channel.id == th.id and not th.archived  # "The thread will automatically be unarchived."
    ds.set_permissions(ds.general, ALL_TEXT | MANAGE_WEBHOOKS)
    text_hook = await (await client.fetch_channel(ds.general.id)).create_webhook(name="plain")
    with pytest.raises(discord.HTTPException) as e:
        await text_hook.send("x", thread_name="nope", wait=True)
    assert e.value.code == 220003


# ---------------------------------------------------------------- 7. sharding

async def _start(client, ds, monkeypatch):
    monkeypatch.setattr(discord.http.Route, "BASE", ds.api_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(ds.gateway_url))
    return asyncio.create_task(client.start("test-token-not-a-secret"))


async def test_an_auto_sharded_client_gets_only_its_shards_guilds(make_standin, monkeypatch):
    ds = make_standin(shards=4, session_starts=1000)
    on1 = ds.add_guild("shard one", shard=(1, 4))
    on3 = ds.add_guild("shard three", shard=(3, 4))
    home = ds.shard_of(ds.guild_id, 4)
    r = httpx.get(f"{ds.api_base}/gateway/bot").json()
    assert r["shards"] == 4 and r["session_start_limit"]["remaining"] == 1000
    client = discord.AutoShardedClient(intents=discord.Intents(guilds=True), shard_ids=[0, 1], shard_count=4,
                                       guild_ready_timeout=0.1)
    task = await _start(client, ds, monkeypatch)
    try:
        await asyncio.wait_for(client.wait_until_ready(), 15)
        assert sorted(i["shard"] for i in ds.identifies) == [[0, 4], [1, 4]]
        expected = {g for g in ds.guilds if ds.shard_of(g, 4) in (0, 1)}
        assert {g.id for g in client.guilds} == expected and on1 in expected and on3 not in expected
        assert (ds.guild_id in expected) == (home in (0, 1))
        assert httpx.get(f"{ds.api_base}/gateway/bot").json()["session_start_limit"]["remaining"] == 998
        # an interaction reaches the client on its guild's shard only
        seen = []
        client._connection.dispatch = lambda event, *a: seen.append((a[0].guild_id, "shard")) if event == "interaction" else None
        general1 = ds.guilds[on1]["system_channel"]
        await ds.acall(ds.send_interaction(ds.command("sol", {"sol": 3}, channel=general1)))
        await ds.acall(ds.send_interaction(ds.command("sol", {"sol": 3}, channel=ds.guilds[on3]["system_channel"])))
        for _ in range(50):
            if seen:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert seen == [(on1, "shard")]  # shard 3's guild is on no socket of this client
        per_socket = {ds.socket_shards[ws][0] for ws in ds.sockets}
        assert per_socket == {0, 1}
    finally:
        await client.close()
        task.cancel()


@pytest.mark.parametrize("shard, code", [([4, 4], 4010), ([0, 0], 4010)])
async def test_an_invalid_shard_is_closed_with_4010(make_standin, shard, code):
    ds = make_standin()
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ds.gateway_url) as ws:
            await ws.receive_json()  # HELLO
            await ws.send_json({"op": 2, "d": {"token": "t", "intents": 1, "properties": {}, "shard": shard}})
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == code


async def test_too_many_guilds_on_one_session_is_closed_with_4011(make_standin, monkeypatch):
    ds = make_standin(max_guilds_per_shard=1)
    ds.add_guild("second")
    client = discord.Client(intents=discord.Intents(guilds=True), guild_ready_timeout=0.1)
    task = await _start(client, ds, monkeypatch)
    with pytest.raises(discord.ConnectionClosed) as e:  # discord.py does not reconnect after 4011
        await asyncio.wait_for(task, 10)
    assert e.value.code == 4011
    await client.close()
