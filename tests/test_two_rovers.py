"""Both rovers posting automatically (issue 9): Curiosity's feed polled in its own shape, its pictures
only in channels that follow it, a digest that covers both rovers, subscriptions per rover with a
clear answer when a choice can't be made, threads per rover and sol, and the migration that adds
the rover to every existing subscription. Counted at the Discord stand-in."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from bot.mars import marstime, rovers
from bot.posting.outbound import thread_name
from bot.store import MIGRATIONS, Store
from tests import msl_feed
from tests.conftest import dispatch, settle
from tests.discord_standin import ALL_TEXT
from tests.test_automation import burst, subscribe


def _curiosity_news(nasa_standin, received, sol: int, count: int = 3, instrument: str = "NAV_LEFT_B") -> list[dict]:
    """New Curiosity frames, received at `received` (one second apart)."""
    items = [msl_feed.item(sol, instrument, n=i, received=received + timedelta(seconds=i)) for i in range(count)]
    nasa_standin.msl_records += items
    return items


def _reply(ds) -> str:
    return ds.calls("POST", "/callback")[-1]["json"]["data"]["content"]


async def test_curiosity_pictures_reach_only_the_channels_that_follow_it(connected_bot, discord_standin, nasa_standin,
                                                                           store, clock):
    auto = connected_bot.automation
    first = await auto.images_cycle()  # both rovers' baselines: nothing old is posted
    assert first.new == 0 and first.error is None
    asked = [r for r in nasa_standin.requests if r["path"] == msl_feed.FEED_PATH]
    assert asked and ("order", "date_received desc") in asked[0]["params"]  # Curiosity's poll, newest received first
    curio = discord_standin.add_channel("curiosity-pics")
    discord_standin.call(discord_standin.send_dispatch("CHANNEL_CREATE", discord_standin.channel_object(curio)))
    await settle()
    await dispatch(connected_bot, subscribe(connected_bot, discord_standin, "images", curio, rover="curiosity"))
    assert "Curiosity's new raw images" in _reply(discord_standin)
    await dispatch(connected_bot, subscribe(connected_bot, discord_standin, "images", rover="perseverance"))
    clock.now += timedelta(minutes=10)
    sol = marstime.sol_at(clock.now, marstime.CURIOSITY)
    _curiosity_news(nasa_standin, clock.now - timedelta(minutes=5), sol, count=4)
    nasa_standin.records += burst(1995, clock.now - timedelta(minutes=5), nasa_standin.url, {"MCZ_LEFT": 3})
    report = await auto.images_cycle()
    assert report.new == 7 and report.error is None
    curio_posts = [m for m in curio.messages if "New from" in m["content"]]
    percy_posts = [m for m in discord_standin.general.messages if "New from" in m["content"]]
    assert len(curio_posts) == 1 and curio_posts[0]["content"].startswith(f"📷 **New from Curiosity — sol {sol}")
    assert len(percy_posts) == 1 and percy_posts[0]["content"].startswith("📷 **New from Perseverance — sol 1995")
    assert "msl-raw-images" in str(curio_posts[0]["embeds"]) and "msl-raw-images" not in str(percy_posts[0]["embeds"])
    # each rover keeps its own watermark: a quiet cycle posts nothing more for either
    assert (await auto.images_cycle()).new == 0
    assert store.state.get("images:msl.received_watermark") and store.state.get("images.received_watermark")


async def test_a_digest_of_both_rovers(connected_bot, discord_standin, nasa_standin, store, clock):
    auto = connected_bot.automation
    await auto.images_cycle()
    await dispatch(connected_bot, subscribe(connected_bot, discord_standin, "digest", rover="both", time="09:00",
                                            timezone="UTC"))
    assert "a daily digest of Perseverance & Curiosity" in _reply(discord_standin)
    [sub] = store.subscriptions.find(kind="digest")
    assert sub.mission == ""
    clock.now += timedelta(minutes=10)
    sol = marstime.sol_at(clock.now, marstime.CURIOSITY)
    _curiosity_news(nasa_standin, clock.now - timedelta(minutes=5), sol, count=5, instrument="MAST_LEFT")
    nasa_standin.records += burst(1995, clock.now - timedelta(minutes=5), nasa_standin.url, {"NAVCAM_LEFT": 2})
    await auto.images_cycle()
    clock.now = (clock.now + timedelta(days=1)).replace(hour=9, minute=1)
    assert await auto.digest_cycle() == 1
    [digest] = [m for m in discord_standin.general.messages if m["embeds"] and "digest" in m["embeds"][0]["title"]]
    first, second = digest["embeds"][0], digest["embeds"][1]
    assert first["title"].startswith("Perseverance & Curiosity daily digest")
    assert "Perseverance: 2 new pictures" in first["description"]
    assert second["title"].startswith("Curiosity ·") and "Curiosity: 5 new pictures" in second["description"]
    fields = {f["name"]: f["value"] for f in second["fields"]}
    assert "Mastcam" in fields["Curiosity's pictures per camera"] and f"/sol {sol} rover:curiosity" in fields["See them"]


@pytest.mark.parametrize("options, says", [
    ({"rover": "both"}, "Images posts follow one rover"),
    ({"kind": "drives", "rover": "both"}, "Drives posts follow one rover"),
    ({"kind": "digest", "rover": "both", "camera": "navcam"}, "A digest of both rovers covers every camera"),
    ({"rover": "curiosity", "camera": "navkam"}, "I don't know a camera called `navkam`"),
])
async def test_rover_choices_that_cannot_be_made_get_a_private_answer(connected_bot, discord_standin, store, options, says):
    options = dict(options)  # the parameters are shared by both backends' runs
    kind = options.pop("kind", "images")
    await dispatch(connected_bot, subscribe(connected_bot, discord_standin, kind, **options))
    reply = discord_standin.calls("POST", "/callback")[-1]["json"]["data"]
    assert says in reply["content"] and reply["flags"] & 64
    assert store.subscriptions.find() == []


async def test_subscriptions_follow_the_servers_rover_and_one_channel_can_follow_both(connected_bot, discord_standin,
                                                                                      store):
    await dispatch(connected_bot, discord_standin.command("rover", {"rover": "curiosity"}, permissions=ALL_TEXT | (1 << 5)))
    await dispatch(connected_bot, subscribe(connected_bot, discord_standin, "images", camera="mahli"))
    await dispatch(connected_bot, subscribe(connected_bot, discord_standin, "images", rover="perseverance", camera="navcam"))
    await dispatch(connected_bot, subscribe(connected_bot, discord_standin, "news"))
    subs = {(s.kind, s.mission, s.codes) for s in store.subscriptions.find()}
    assert subs == {("images", "msl", ("MAHLI",)), ("images", "mars2020", ("NAVCAM_LEFT", "NAVCAM_RIGHT")), ("news", "", ())}
    await dispatch(connected_bot, discord_standin.command("subscriptions", {}, permissions=ALL_TEXT | (1 << 5)))
    listing = _reply(discord_standin)
    assert "Curiosity's new raw images from Mars Hand Lens Imager" in listing and "Perseverance's new raw images from Navcam" in listing


def test_threads_are_named_and_kept_per_rover_and_sol(tmp_path):
    assert thread_name(1994, marstime.PERSEVERANCE) == "Sol 1994 · 29 Sep 2026"  # the UTC date the sol began
    assert thread_name(5030, marstime.CURIOSITY).startswith("Curiosity sol 5030 · ")
    store = Store.open(tmp_path / "db.sqlite3")
    store.channels.record_sol_thread(10, "mars2020", 1994, 111, "Sol 1994", 1.0)
    store.channels.record_sol_thread(10, "msl", 1994, 222, "Curiosity sol 1994", 1.0)
    assert store.channels.sol_thread(10, "mars2020", 1994) == 111 and store.channels.sol_thread(10, "msl", 1994) == 222
    store.close()


def test_migration_gives_every_subscription_its_rover(tmp_path, monkeypatch):
    path = tmp_path / "v7.sqlite3"
    before_rovers = MIGRATIONS[:7]
    monkeypatch.setattr("bot.store.database.MIGRATIONS", before_rovers)
    old = Store.open(path)
    for kind in ("images", "news", "digest", "drives"):
        old.db.execute("INSERT INTO subscriptions (guild_id, channel_id, kind, created_at) VALUES (1, 10, ?, 1.0)", (kind,))
    old.db.execute("INSERT INTO sol_threads VALUES (10, 1994, 555, 'Sol 1994', 1.0)")
    old.close()
    monkeypatch.undo()
    new = Store.open(path)
    assert new.db.schema_version == len(MIGRATIONS)
    assert {(s.kind, s.mission) for s in new.subscriptions.find()} == {
        ("images", "mars2020"), ("news", ""), ("digest", "mars2020"), ("drives", "mars2020")}
    assert new.channels.sol_thread(10, "mars2020", 1994) == 555  # kept, as Perseverance's
    # the same camera of the other rover is another subscription
    new.subscriptions.subscribe(1, 10, "images", mission="msl", at=2.0)
    assert len(new.subscriptions.find(kind="images")) == 2
    with pytest.raises(sqlite3.IntegrityError):
        new.db.execute("INSERT INTO subscriptions (guild_id, channel_id, kind, mission, created_at) VALUES (1, 10, 'images', 'msl', 3.0)")
    new.close()


def test_every_rover_is_one_value_with_everything_it_needs():
    for rover in rovers.ROVERS.values():
        assert rovers.BY_MISSION[rover.mission.key] is rover and rovers.find(rover.key) is rover
        assert rover.catalogue.resolve("navcam").codes and rover.timeline.milestones
        assert rover.map_code in ("M20", "MSL") and -90 <= rover.landing[0] <= 90
