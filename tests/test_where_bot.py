"""Where is the rover, end to end (issue 11): /where over the Discord stand-in with the MMGIS
stand-in behind it, the `drives` subscription (baseline, one post per drive, a restart between two
drives), where a picture was taken in image posts and galleries, the digest's drive line and map,
`roverbot preview "/where" --out`, and the migration that allows the new kind."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from PIL import Image

from bot.chat import app
from bot.mars import cameras, rovers
from bot.sources import parse
from bot.answers.drives import RoverMaps, site_drive
from bot.imagery.mapview import BACKGROUND, ROVER_COLOUR
from bot.store import MIGRATIONS, Store
from tests.conftest import _services, dispatch, rover_gallery
from tests.mmgis_standin import CURRENT_1524, CURRENT_1840, CURRENT_OLD_SCHEMA, Fault, mmgis_standin  # noqa: F401
from tests.nasa_standin import make_record
from tests.test_automation import subscribe

# The sol-1840 drive ended 2026-04-24 07:06:38 UTC (its SCLK in the traverse).
AFTER_1840 = datetime(2026, 4, 26, 7, 0, tzinfo=timezone.utc)


@pytest.fixture
def maps_config(config, mmgis_standin, tmp_path):
    return dataclasses.replace(config, maps_base_url=mmgis_standin.url, tile_hosts=("127.0.0.1",),
                               tile_cache_dir=tmp_path / "tiles", tile_cache_max_mb=5)


def _build(maps_config, clock, catalogue, store, nasa, poller):
    rovermaps = RoverMaps(nasa.http, maps_config, clock)
    gallery = rover_gallery(rovers.PERSEVERANCE, nasa, store, clock, place_of=rovermaps.place_of)
    return _services(maps_config, clock, catalogue, store, nasa, gallery, poller, rovermaps)


@pytest.fixture
async def where_bot(discord_standin, maps_config, clock, catalogue, store, nasa, poller):
    """connected_bot (tests/conftest.py) with NASA's map wired in as services.build wires it."""
    app.apply_endpoints({"DISCORD_API_BASE": discord_standin.api_base, "DISCORD_GATEWAY_URL": discord_standin.gateway_url})
    rover = app.RoverBot(_build(maps_config, clock, catalogue, store, nasa, poller), guild_ready_timeout=0.1)
    task = asyncio.create_task(rover.start("test-token-not-a-secret"))
    await asyncio.wait_for(rover.wait_until_ready(), 10)
    yield rover
    await rover.close()
    task.cancel()
    app.apply_endpoints({})


def picture(discord_standin, call) -> tuple[str, np.ndarray]:
    [f] = call["files"]
    return f["filename"], np.asarray(Image.open(io.BytesIO(f["data"])).convert("RGB")).astype(int)


# ------------------------------------------------------------------ /where


async def test_where_answers_with_the_position_and_a_map_over_tiles(where_bot, discord_standin, mmgis_standin, clock):
    clock.now = AFTER_1840
    await dispatch(where_bot, discord_standin.command("where"))
    [edit] = discord_standin.calls("PATCH", "/messages/@original")
    [embed] = edit["json"]["embeds"]
    shown = json.dumps(embed, ensure_ascii=False)
    for part in ("Perseverance", "18.43252°N, 77.22015°E", "87 / 5154", "-1,970 m", "49.9 m (164 ft)",
                 "41.74 km (25.93 mi)", "about 2 days ago"):
        assert part in shown, part
    name, px = picture(discord_standin, edit)
    assert name == "where.jpg" and embed["image"]["url"].endswith("where.jpg")  # JPEG: drawn over tiles
    assert mmgis_standin.tile_requests  # tiles came from the (allowed) stand-in
    h, w, _ = px.shape
    assert np.abs(px[h // 2, w // 2] - ROVER_COLOUR).max() <= 40  # the rover's dot, in the middle
    # A second /where: the traverse is read again but parsed once, tiles come from the disk cache.
    tiles_before = len(mmgis_standin.tile_requests)
    await dispatch(where_bot, discord_standin.command("where"))
    assert where_bot.services.rovermaps.client.parses == 1
    assert len(mmgis_standin.tile_requests) == tiles_before


async def test_where_curiosity_uses_msl(where_bot, discord_standin, clock):
    clock.now = datetime(2026, 4, 25, tzinfo=timezone.utc)
    await dispatch(where_bot, discord_standin.command("where", {"rover": "curiosity"}))
    [edit] = discord_standin.calls("PATCH", "/messages/@original")
    shown = json.dumps(edit["json"]["embeds"][0], ensure_ascii=False)
    assert "Curiosity" in shown and "4.81427°S, 137.38171°E" in shown
    name, _ = picture(discord_standin, edit)
    assert name in ("where.png", "where.jpg")


async def test_where_refuses_other_tile_hosts_and_draws_a_plain_map(discord_standin, maps_config, clock, catalogue, store,
                                                                    nasa, poller, mmgis_standin):
    svc = _build(dataclasses.replace(maps_config, tile_hosts=("tiles.example.org",)), clock, catalogue, store, nasa, poller)
    clock.now = AFTER_1840
    post = await svc.rovermaps.where(rovers.PERSEVERANCE)
    [att] = post.attachments
    assert att.filename == "where.png" and mmgis_standin.tile_requests == []  # nothing asked of a host not listed
    px = np.asarray(Image.open(io.BytesIO(att.data)).convert("RGB")).astype(int)
    assert np.abs(px[5, 320] - BACKGROUND).max() <= 2  # plain background ...
    assert np.abs(px[240, 320] - ROVER_COLOUR).max() <= 40  # ... under the same overlays


async def test_where_when_nasas_map_is_down_is_a_short_private_message(where_bot, discord_standin, mmgis_standin, clock):
    mmgis_standin.faults.append(Fault("/mmgis-maps/M20/Layers/json/M20_waypoints_current.json", status=503))
    await dispatch(where_bot, discord_standin.command("where"))
    [followup] = discord_standin.calls("POST", r"/webhooks/\d+/[^/]+$")
    assert followup["json"]["flags"] & 64 and followup["json"]["content"].startswith("NASA's map isn't answering")


# ------------------------------------------------------------------ drives


async def test_drives_baseline_one_post_per_drive_and_a_restart_between(where_bot, discord_standin, mmgis_standin, store,
                                                                        clock, maps_config, nasa):
    mmgis_standin.current_file = CURRENT_OLD_SCHEMA  # sol 23, the 2021 schema
    await dispatch(where_bot, subscribe(where_bot, discord_standin, "drives"))
    reply = discord_standin.calls("POST", "/callback")[-1]["json"]["data"]
    assert reply["content"].startswith("✅") and "drives" in reply["content"]
    automation = where_bot.automation
    await automation.drives_cycle()  # first read: a baseline, nothing old posted
    clock.now += timedelta(minutes=30)
    await automation.drives_cycle()  # unchanged position: nothing
    assert discord_standin.general.messages == []

    mmgis_standin.current_file = CURRENT_1524
    clock.now += timedelta(minutes=30)
    report = await automation.drives_cycle()
    assert report.queued == 1
    [first] = discord_standin.general.messages
    assert "drove 8.4 m on sol 1524 (34.96 km since landing)" in first["content"]
    assert [a["filename"] for a in first["attachments"]] == ["drive-map.jpg", "drive-360.jpg"]
    view = discord_standin.attachment_data[first["attachments"][1]["id"]]
    im = Image.open(io.BytesIO(view))
    assert len(view) <= 3_000_000 and im.width * im.height <= 3_000_000  # fits a Discord post

    # Restart: new objects (no memory of the last position but the database), same database.
    where_bot.services.rovermaps = RoverMaps(nasa.http, maps_config, clock)
    restarted = where_bot.services.automation(automation.courier.sender)
    restarted.recover()
    await restarted.drives_cycle()
    assert len(discord_standin.general.messages) == 1  # the 1524 drive is not news again

    mmgis_standin.current_file = CURRENT_1840
    clock.now += timedelta(minutes=30)
    await restarted.drives_cycle()
    await restarted.drives_cycle()
    messages = discord_standin.general.messages
    assert len(messages) == 2 and "drove 49.9 m on sol 1840 (41.74 km since landing)" in messages[1]["content"]
    assert store.outbox.counts() == {"sent": 2}


async def test_drives_survive_an_empty_layer_and_an_outage(where_bot, discord_standin, mmgis_standin, store, clock):
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "drives", mission="mars2020", at=clock().timestamp())
    mmgis_standin.current_file = CURRENT_1524
    automation = where_bot.automation
    await automation.drives_cycle()
    mmgis_standin.current_file = "m20_waypoints_current_2024-11-20_empty_features.json"
    await automation.drives_cycle()  # NASA's file with no features: not a move, not a reset
    mmgis_standin.faults.append(Fault("/mmgis-maps/M20/Layers/json/M20_waypoints_current.json", status=502))
    mmgis_standin.current_file = CURRENT_1840
    assert (await automation.drives_cycle()).error
    clock.now += timedelta(minutes=30)
    await automation.drives_cycle()
    [msg] = discord_standin.general.messages
    assert "sol 1840" in msg["content"]


# ------------------------------------------------------------------ where a picture was taken


def _at(record: dict, site: int, drive: int) -> dict:
    """The record's image id (and file names) moved to another site/drive."""
    seg = record["imageid"].split("_")[4]  # e.g. N0551110NCAM00901: N, site 055, drive 1110, sequence
    return json.loads(json.dumps(record).replace(seg, f"{seg[0]}{site:03d}{drive:04d}{seg[8:]}"))


async def test_image_posts_and_galleries_say_where_a_picture_was_taken(where_bot, discord_standin, nasa_standin, store,
                                                                       clock):
    automation = where_bot.automation
    await automation.drives_cycle()  # reads the localizations once (waypoints layer + current position)
    assert len(where_bot.services.rovermaps.localizations("M20")) > 300
    await automation.images_cycle()  # the feed's baseline
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "images", mission="mars2020", at=clock().timestamp())
    received = clock.now + timedelta(minutes=1)
    placed = _at(make_record(1110, "NAVCAM_LEFT", n=1, sequence="NCAM00901", received=received, host=nasa_standin.url), 51, 2794)
    unknown = make_record(1110, "MCZ_LEFT", n=2, sequence="ZCAM00902", received=received, host=nasa_standin.url)
    assert site_drive(placed["imageid"]) == (51, 2794)
    nasa_standin.records += [placed, unknown]
    clock.now += timedelta(minutes=10)
    await automation.images_cycle()
    posts = [m["embeds"][0]["description"] for m in discord_standin.general.messages]
    said = [d for d in posts if "📍" in d]
    assert said == [d for d in said if "Taken at the end of the sol-1110 drive, 25.3 km driven from the landing site" in d]
    assert len(said) == 1 and len(posts) == 2  # the unknown site/drive is skipped silently

    await dispatch(where_bot, discord_standin.command("sol", {"sol": 1110}))
    embeds = discord_standin.calls("PATCH", "/messages/@original")[-1]["json"]["embeds"]
    assert sum("📍 Taken at the end of the sol-1110 drive" in e.get("description", "") for e in embeds) == 1


# ------------------------------------------------------------------ the digest


async def test_the_digest_says_how_far_the_rover_drove_with_a_map(where_bot, discord_standin, mmgis_standin, store, clock):
    other = discord_standin.add_channel("other")
    start = datetime(2026, 4, 24, 0, 0, tzinfo=timezone.utc)
    for ch in (discord_standin.general.id, other.id):
        store.subscriptions.subscribe(discord_standin.guild_id, ch, "digest", mission="mars2020", digest_time="09:00", timezone="UTC", at=start.timestamp())
    clock.now = datetime(2026, 4, 24, 9, 1, tzinfo=timezone.utc)
    before = len([p for p in mmgis_standin.requests if p.endswith("M20_waypoints_current.json")])
    assert await where_bot.automation.digest_cycle() == 2
    reads = len([p for p in mmgis_standin.requests if p.endswith("M20_waypoints_current.json")]) - before
    assert reads == 1  # one window, computed once for both channels
    for msg in (discord_standin.general.messages[-1], other.messages[-1]):
        assert "The rover drove **49.9 m**" in msg["embeds"][0]["description"]
        assert [a["filename"] for a in msg["attachments"]] == ["digest-map.jpg"]
    # the next day it did not move: said so, and no map
    clock.now += timedelta(days=1)
    await where_bot.automation.digest_cycle()
    quiet = discord_standin.general.messages[-1]
    assert "did not drive" in quiet["embeds"][0]["description"] and quiet["attachments"] == []


# ------------------------------------------------------------------ preview, store


def test_preview_where_writes_the_map(tmp_path, nasa_standin, mmgis_standin):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[nasa]\nbase_url = "{nasa_standin.url}"\nretries = 0\ntimeout_seconds = 5\n'
                   f'[maps]\nbase_url = "{mmgis_standin.url}"\ntile_hosts = ["127.0.0.1"]\n'
                   f'tile_cache_dir = "{tmp_path / "tiles"}"\n')
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "bot", "--config", str(cfg), "preview", "/where", "--out", str(out),
                        "--at", "2026-04-26T07:00:00Z"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Perseverance is at 18.43252°N, 77.22015°E" in r.stdout and "41.74 km (25.93 mi)" in r.stdout
    data = (out / "where.jpg").read_bytes()
    assert Image.open(io.BytesIO(data)).size == (640, 480)
    assert json.loads((out / "message.json").read_text())["attachments"][0]["filename"] == "where.jpg"
    assert not (tmp_path / "db.sqlite3").exists()


def test_migration_allows_drives_and_keeps_every_subscription(tmp_path, monkeypatch):
    path = tmp_path / "old.sqlite3"
    catalogue = cameras.default()
    monkeypatch.setattr("bot.store.database.MIGRATIONS", MIGRATIONS[: MIGRATIONS.index(next(m for m in MIGRATIONS if "subscriptions_new" in m))])
    old = Store.open(path)
    # Rows written as that version's code wrote them (today's Store expects today's columns).
    old.db.execute("INSERT INTO subscriptions (guild_id, channel_id, kind, digest_time, timezone, role_id, created_at)"
                     " VALUES (1, 10, 'digest', '07:30', 'Europe/Berlin', 5, 1.0)")
    old.db.execute("INSERT INTO subscriptions (guild_id, channel_id, kind, camera, codes, created_at, paused_at,"
                     " paused_reason) VALUES (1, 11, 'images', 'navcam', 'NAVCAM_LEFT', 2.0, 3.0, 'missing Attach Files')")
    with pytest.raises(sqlite3.IntegrityError):
        old.db.execute("INSERT INTO subscriptions (guild_id, channel_id, kind, created_at) VALUES (1, 10, 'drives', 4.0)")
    before = old.db.execute("SELECT * FROM subscriptions ORDER BY id").fetchall()
    old.close()
    monkeypatch.undo()
    new = Store.open(path)
    assert new.db.schema_version == len(MIGRATIONS)
    assert [r[:12] for r in new.db.execute("SELECT * FROM subscriptions ORDER BY id")] == before
    new.subscriptions.subscribe(1, 10, "drives", mission="mars2020", at=5.0)
    assert {s.kind for s in new.subscriptions.find(channel_id=10)} == {"digest", "drives"}
    new.close()
