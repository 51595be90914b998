"""Commands people expect from a well-made bot: /help, hello on joining, newest first, jump to a page,
/now before landing, user installs and DMs for the read-only commands, previews of everything."""

from __future__ import annotations

import json
import subprocess
import sys


from tests.conftest import dispatch, settle
from tests.nasa_standin import make_record
from tests.test_cli import AT, _config, roverbot

READ_ONLY = {"latest", "sol", "now", "milestone", "help", "panorama"}
ADMIN = {"subscribe", "unsubscribe", "subscriptions"}


async def test_help_lists_every_command_with_examples_only_to_the_caller(connected_bot, discord_standin):
    await dispatch(connected_bot, discord_standin.command("help"))
    [cb] = discord_standin.calls("POST", "/callback")
    data = cb["json"]["data"]
    assert cb["json"]["type"] == 4 and data["flags"] & 64
    fields = {f["name"].split()[0]: f["value"] for f in data["embeds"][0]["fields"]}
    registered = {c.name for c in connected_bot.tree.get_commands()}
    assert {"/" + n for n in registered} - {"/unsubscribe"} <= set(fields) | {"/subscriptions"}
    assert "`/sol 3 navcam`" in fields["/sol"] and "`/latest mastcam`" in fields["/latest"]


async def test_joining_a_server_says_hello_once_in_its_system_channel(connected_bot, discord_standin):
    gid = discord_standin.add_guild("Mars fans")
    hall = discord_standin.add_channel("hall", guild_id=gid)
    discord_standin.guilds[gid]["system_channel"] = hall
    joined = {k: v for k, v in discord_standin.guild_object(gid).items() if k != "unavailable"}  # a join, as Discord sends it
    discord_standin.call(discord_standin.send_dispatch("GUILD_CREATE", joined))
    await settle()
    assert len(hall.messages) == 1 and "Hello from roverbot" in hall.messages[0]["embeds"][0]["title"]
    assert "/subscribe" in hall.messages[0]["embeds"][0]["description"]
    # leaving and coming back: no second hello
    discord_standin.call(discord_standin.send_dispatch("GUILD_DELETE", {"id": str(gid), "unavailable": False}))
    await settle()
    discord_standin.call(discord_standin.send_dispatch("GUILD_CREATE", joined))
    await settle()
    assert len(hall.messages) == 1


async def test_latest_shows_the_newest_first(bot, discord_standin, nasa_standin):
    nasa_standin.records += [make_record(1994, "MCZ_LEFT", n=i, sequence="ZCAM00001") for i in range(7)]
    await dispatch(bot, discord_standin.command("latest", {"camera": "mastcam"}))
    body = discord_standin.calls("PATCH", "/messages/@original")[-1]["json"]
    times = [e["timestamp"] for e in body["embeds"]]
    assert len(times) == 5 and times == sorted(times, reverse=True)


async def test_a_long_gallery_can_jump_to_a_page(bot, discord_standin, nasa_standin):
    nasa_standin.records += [make_record(3, "NAVCAM_LEFT", n=i) for i in range(22)]  # 5 pages
    await dispatch(bot, discord_standin.command("sol", {"sol": 3, "camera": "navcam"}))
    edit = discord_standin.calls("PATCH", "/messages/@original")[-1]
    rows = edit["json"]["components"]
    [menu] = rows[1]["components"]
    assert menu["type"] == 3 and [o["label"] for o in menu["options"]][-1] == "Page 5 of 5"
    original = discord_standin.interactions[edit["path"].split("/")[3]].original
    target = menu["options"][3]["value"]
    await dispatch(bot, discord_standin.interaction(3, {"custom_id": menu["custom_id"], "component_type": 3, "values": [target]},
                                                   message=original))
    page4 = discord_standin.calls("PATCH", "/messages/@original")[-1]["json"]
    assert "16–20 shown" in page4["content"] and "Page 4/5" in str(page4["components"])


def test_now_before_landing_says_when_it_lands(tmp_path, nasa_standin):
    r = roverbot(tmp_path, nasa_standin.url, "preview", "/now", "--at", "2021-02-10T12:00:00Z")
    assert r.returncode == 0 and "Perseverance lands in 8.4 days" in r.stdout and "sol -" not in r.stdout.lower()


async def test_read_only_commands_work_installed_by_a_user_and_in_dms(discord_standin, config):
    from bot.chat import app
    from tests.test_discord_run import _env

    await app.sync(config, _env(discord_standin))
    [put] = discord_standin.calls("PUT", r"/applications/\d+/commands$")
    by_name = {c["name"]: c for c in put["json"]}
    for name in READ_ONLY:
        assert sorted(by_name[name]["integration_types"]) == [0, 1], name
        assert sorted(by_name[name]["contexts"]) == [0, 1, 2], name
    for name in ADMIN:
        assert by_name[name]["contexts"] == [0] and by_name[name].get("integration_types") in (None, [0]), name


def test_preview_covers_milestone_and_help_and_writes_the_pictures(tmp_path, nasa_standin):
    r = roverbot(tmp_path, nasa_standin.url, "preview", "/help")
    assert r.returncode == 0 and "/panorama" in r.stdout and "/sol" in r.stdout
    r = roverbot(tmp_path, nasa_standin.url, "preview", "/milestone")
    assert r.returncode == 0 and "landing" in r.stdout.lower()
    nasa_standin.records += [make_record(3, "NAVCAM_LEFT", n=i, host=nasa_standin.url) for i in range(3)]
    from urllib.parse import urlsplit

    from tests.nasa_standin import jpeg

    for rec in nasa_standin.records[-3:]:
        nasa_standin.files[urlsplit(rec["image_files"]["small"]).path] = jpeg(320, 240)
    cfg = tmp_path / "c2.toml"
    cfg.write_text(_config(tmp_path, nasa_standin.url).read_text().replace("[storage]", 'image_hosts = ["127.0.0.1"]\n[storage]'))
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), "preview", "/sol 3 navcam", "--out", str(out),
                        "--at", AT], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    pictures = sorted(p.name for p in out.glob("*.jpg"))
    assert len(pictures) == 3 and all(p.endswith("_320.jpg") for p in pictures)


def test_poll_once_reads_the_news_feeds_too(tmp_path, nasa_standin):
    from tests.test_automation import ITEM, NEWS

    feed = "/missions/mars-2020-perseverance/feed/"
    nasa_standin.files[feed] = NEWS.format(items=ITEM.format(title="Old story", slug="old", guid=1)).encode()
    cfg = _config(tmp_path, nasa_standin.url)
    cfg.write_text(cfg.read_text() + f'[news]\nfeeds = ["{nasa_standin.url}{feed}"]\n')
    run = lambda: subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), "poll", "--once", "--json", "--at", AT],  # noqa: E731
                                 capture_output=True, text=True, timeout=60, cwd=tmp_path)
    first = json.loads(run().stdout)
    assert first["news"]["new"] == 0  # the baseline
    items = ITEM.format(title="Perseverance finds a rock", slug="rock", guid=2) + ITEM.format(title="Old story", slug="old", guid=1)
    nasa_standin.files[feed] = NEWS.format(items=items).encode()
    second = json.loads(run().stdout)
    assert second["news"]["new"] == 1 and second["news"]["posts"][0]["embeds"][0]["title"] == "Perseverance finds a rock"
