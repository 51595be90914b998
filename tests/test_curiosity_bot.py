"""Curiosity beside Perseverance: every read-only command takes a `rover`, a server can choose its
default, and the command line previews it — against a stand-in serving Curiosity's own feed shape."""

from __future__ import annotations

import json

from tests import msl_feed
from tests.conftest import dispatch
from tests.discord_standin import ALL_TEXT
from tests.test_cli import AT, roverbot


def _curiosity_sol(nasa_standin, sol: int = 4000) -> None:
    nasa_standin.msl_records += msl_feed.sol_items(sol, ("NAV_LEFT_B", "NAV_RIGHT_B", "MAST_LEFT", "FHAZ_LEFT_B"), per_camera=3)
    nasa_standin.msl_records += msl_feed.sol_items(sol - 1, ("MAHLI",), per_camera=2)


async def test_sol_navcam_for_curiosity_reads_its_own_feed(bot, discord_standin, nasa_standin):
    _curiosity_sol(nasa_standin)
    await dispatch(bot, discord_standin.command("sol", {"sol": 4000, "camera": "navcam", "rover": "curiosity"}))
    body = discord_standin.calls("PATCH", "/messages/@original")[-1]["json"]
    assert body["content"].startswith("**Sol 4000 · Navcam** — 6 pictures")
    assert all("Curiosity" in e["title"] or "Navigation" in e["title"] for e in body["embeds"] if e.get("title"))
    asked = [r for r in nasa_standin.requests if r["path"] == msl_feed.FEED_PATH]
    assert asked and ("condition_1", "msl:mission") in asked[0]["params"]
    assert not [r for r in nasa_standin.requests if r["path"] == "/rss/api/"]  # Perseverance's feed untouched
    # paging stays on Curiosity: the button names its mission
    assert "rbg:msl:4000:navcam:1" in json.dumps(body["components"])


async def test_latest_now_and_milestones_for_curiosity(bot, discord_standin, nasa_standin):
    _curiosity_sol(nasa_standin)
    await dispatch(bot, discord_standin.command("latest", {"rover": "curiosity"}))
    latest = discord_standin.calls("PATCH", "/messages/@original")[-1]["json"]
    assert latest["content"].startswith("**Sol 4000 ·")
    await dispatch(bot, discord_standin.command("now", {"rover": "curiosity"}))
    now = discord_standin.calls("POST", "/callback")[-1]["json"]["data"]
    assert "for Curiosity" in now["embeds"][0]["title"] and int(now["embeds"][0]["title"].split()[3]) > 4700
    await dispatch(bot, discord_standin.command("milestone", {"name": "first-drill", "rover": "curiosity"}))
    card = discord_standin.calls("PATCH", "/messages/@original")[-1]["json"]["embeds"][0]
    assert "John Klein" in card["title"] + card["description"]


async def test_a_server_chooses_curiosity_as_its_default(connected_bot, discord_standin, nasa_standin, store):
    _curiosity_sol(nasa_standin)
    payload = discord_standin.command("rover", {"rover": "curiosity"}, permissions=ALL_TEXT | (1 << 5))
    await dispatch(connected_bot, payload)
    reply = discord_standin.calls("POST", "/callback")[-1]["json"]["data"]
    assert "Curiosity" in reply["content"] and reply["flags"] & 64
    await dispatch(connected_bot, discord_standin.command("sol", {"sol": 4000}))
    body = discord_standin.calls("PATCH", "/messages/@original")[-1]["json"]
    assert body["content"].startswith("**Sol 4000")
    # someone without Manage Server can't change it
    other = discord_standin.command("rover", {"rover": "perseverance"})
    await dispatch(connected_bot, other)
    assert "Manage Server" in discord_standin.calls("POST", "/callback")[-1]["json"]["data"]["content"]
    assert store.state.get(f"rover:{discord_standin.guild_id}") == "curiosity"


def test_preview_sol_navcam_rover_curiosity(tmp_path, nasa_standin):
    _curiosity_sol(nasa_standin)
    r = roverbot(tmp_path, nasa_standin.url, "preview", "/sol 4000 navcam rover:curiosity", "--at", AT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Sol 4000 · Navcam — 6 pictures")
    bad = roverbot(tmp_path, nasa_standin.url, "preview", "/sol 3 rover:opportunity", "--at", AT)
    assert bad.returncode == 2 and "unknown rover" in bad.stderr
