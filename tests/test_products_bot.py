"""Panoramas, 3D views and movies in the bot: automatic posts, /panorama, the digest, preview.

Frames are rendered by the scene stand-in (tests/scene_standin.py: a synthetic scene seen through
recorded CAHVORE models from a tilted rover) and listed in the NASA stand-in's feed, so the bot
polls, recognises, downloads renditions and assembles exactly as it would from NASA.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from tests.conftest import NOW, dispatch
from tests.scene_standin import SceneStandIn, navcam_movie, navcam_pan, navcam_stereo

SOL = 1990  # a sol before the test clock's (2026-10-01 is sol ~1994)


@pytest.fixture(scope="module")
def scene():
    standin = SceneStandIn().start()
    yield standin
    standin.stop()


def _arrive(records: list[dict], at: datetime) -> list[dict]:
    """The scene's records as new arrivals of sol SOL at `at`."""
    out = []
    for i, rec in enumerate(records):
        rec = json.loads(json.dumps(rec))
        old = f"_{rec['sol']:04d}_"
        rec["imageid"] = rec["imageid"].replace(old, f"_{SOL:04d}_")
        rec["sol"] = SOL
        rec["date_received"] = (at + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append(rec)
    return out


def _prerender(scene: SceneStandIn, records: list[dict]) -> list[dict]:
    """Render the medium renditions now: rendering on request would outlast the tests' 5 s timeout."""
    from urllib.parse import urlsplit

    for rec in records:
        scene.picture(urlsplit(rec["image_files"]["medium"]).path)
    return records


@pytest.fixture(scope="module")
def pan_records(scene):
    return _prerender(scene, navcam_pan(scene, [0.0, 50.0, 100.0, 150.0, 200.0, 250.0, 300.0], [0.0], sequence="NCAM00601"))


async def test_a_panorama_sequence_is_posted_as_the_assembled_panorama(connected_bot, discord_standin, nasa_standin, store,
                                                                       clock, scene, pan_records):
    automation = connected_bot.automation
    await automation.images_cycle()  # the baseline
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "images", mission="mars2020", at=clock().timestamp())
    nasa_standin.records += _arrive(pan_records, clock.now + timedelta(minutes=1))
    clock.now += timedelta(minutes=10)
    await automation.images_cycle()
    [msg] = discord_standin.general.messages
    [att] = msg["attachments"]
    assert att["filename"].endswith("_panorama.jpg") and att["size"] > 20_000
    assert "Panorama from 7 frames" in msg["content"] and "NCAM00601" in msg["content"]
    assert msg["embeds"][0]["image"]["url"].startswith("http") and "ncam" in msg["embeds"][1]["image"]["url"]  # frames stay linked
    assert scene.full_res_requests() == []  # medium renditions only, never full resolution


async def test_a_product_that_fails_falls_back_to_the_plain_post_logged_once(connected_bot, discord_standin, nasa_standin,
                                                                            store, clock, scene, pan_records, caplog):
    automation = connected_bot.automation
    await automation.images_cycle()
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "images", mission="mars2020", at=clock().timestamp())
    broken = _arrive(pan_records, clock.now + timedelta(minutes=1))
    for rec in broken:  # a frame that isn't there: NASA answers 404
        rec["image_files"] = {k: v.replace("/ncam/", "/missing/") for k, v in rec["image_files"].items()}
    nasa_standin.records += broken
    clock.now += timedelta(minutes=10)
    await automation.images_cycle()
    [msg] = discord_standin.general.messages
    assert msg["attachments"] == [] and "Panorama" not in msg["content"] and "7 pictures" in msg["content"]
    assert len([r for r in caplog.records if "no panorama" in r.getMessage()]) == 1


async def test_panorama_command_shows_the_sols_products_with_paging(connected_bot, discord_standin, nasa_standin, store,
                                                                   clock, scene, pan_records):
    left, right = _prerender(scene, list(navcam_stereo(scene, 120.0, -5.0, sequence="NCAM00711")))
    movie = _prerender(scene, navcam_movie(scene, 60.0, 5.0, 4, sequence="NCAM00529"))
    nasa_standin.records += _arrive([*pan_records, left, right, *movie], NOW - timedelta(days=1))
    await dispatch(connected_bot, discord_standin.command("panorama", {"sol": SOL, "camera": "navcam"}))
    [edit] = discord_standin.calls("PATCH", "/messages/@original")
    body = edit["json"]
    assert "3 products" in body["content"]
    assert body["embeds"][0]["title"].startswith("Panorama from 7 frames")
    assert [f["filename"] for f in edit["files"]] == [f"sol{SOL}_ncam00601_panorama.jpg"]
    buttons = body["components"][0]["components"]
    assert buttons[2]["label"] == "Next ▶" and not buttons[2].get("disabled")
    # the next product: the 3D view
    original = discord_standin.interactions[edit["path"].split("/")[3]].original
    await dispatch(connected_bot, discord_standin.click(original, buttons[2]["custom_id"]))
    second = discord_standin.calls("PATCH", "/messages/@original")[-1]
    assert second["json"]["embeds"][0]["title"].startswith("3d view") or "3D" in second["json"]["embeds"][0]["title"]
    assert [f["filename"] for f in second["files"]] == [f"sol{SOL}_ncam00711_3d.jpg"]


async def test_the_digest_uses_the_days_best_panorama(connected_bot, discord_standin, nasa_standin, store, clock, scene,
                                                      pan_records):
    automation = connected_bot.automation
    await automation.images_cycle()
    store.subscriptions.subscribe(discord_standin.guild_id, discord_standin.general.id, "digest", mission="mars2020", timezone="UTC",
                    at=clock().timestamp() - 86400)
    nasa_standin.records += _arrive(pan_records, clock.now + timedelta(minutes=1))
    clock.now += timedelta(minutes=10)
    await automation.images_cycle()
    clock.now = (clock.now + timedelta(days=1)).replace(hour=9, minute=1)
    await automation.digest_cycle()
    [digest] = [m for m in discord_standin.general.messages if m["attachments"]]
    from PIL import Image
    import io

    data = discord_standin.attachment_data[digest["attachments"][0]["id"]]
    w, h = Image.open(io.BytesIO(data)).size
    assert w > 2 * h  # a cylindrical panorama, not a 3-column contact sheet


def test_preview_panorama_writes_the_picture(tmp_path, nasa_standin, scene, pan_records):
    nasa_standin.records += _arrive(pan_records, NOW - timedelta(days=1))
    config = tmp_path / "config.toml"
    config.write_text(f'[maps]\nbase_url = "{nasa_standin.url}"\ntile_hosts = ["127.0.0.1"]\n[nasa]\nbase_url = "{nasa_standin.url}"\nretries = 0\nimage_hosts = ["127.0.0.1"]\n'
                      f'[storage]\ndatabase = "{tmp_path / "db.sqlite3"}"\n')
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "bot", "--config", str(config), "preview", f"/panorama {SOL} navcam",
                        "--at", "2026-10-01T12:00:00Z", "--out", str(out)], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (out / f"sol{SOL}_ncam00601_panorama.jpg").stat().st_size > 20_000
    assert "Panorama from 7 frames" in r.stdout or "1 product" in r.stdout


async def test_the_gallery_of_a_sol_offers_its_products(connected_bot, discord_standin, nasa_standin, scene, pan_records):
    nasa_standin.records += _arrive(pan_records, NOW - timedelta(days=1))
    await dispatch(connected_bot, discord_standin.command("sol", {"sol": SOL, "camera": "navcam"}))
    body = discord_standin.calls("PATCH", "/messages/@original")[-1]["json"]
    offer = [b for row in body["components"] for b in row["components"] if b["label"].startswith("🌄")]
    assert [b["custom_id"] for b in offer] == [f"rbp:{SOL}:navcam:0"] and "(1)" in offer[0]["label"]
    original = discord_standin.interactions[discord_standin.calls("PATCH", "/messages/@original")[-1]["path"].split("/")[3]].original
    await dispatch(connected_bot, discord_standin.click(original, offer[0]["custom_id"]))
    shown = discord_standin.calls("PATCH", "/messages/@original")[-1]
    assert [f["filename"] for f in shown["files"]] == [f"sol{SOL}_ncam00601_panorama.jpg"]
