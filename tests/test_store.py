"""The store as a real SQLite file."""

from __future__ import annotations

import sqlite3

import pytest

from bot.sources import parse
from bot.store import MIGRATIONS, Store
from tests.nasa_standin import load_fixture, make_record


def _images(*records):
    return parse.page({"images": list(records)}).images


def test_refetch_new_version_and_tiles_never_make_a_second_entry(store):
    store.images.record(parse.page(load_fixture("m2020_raw_sol1965_navcam_right_num3_tiles.json")).images)
    store.images.record(parse.page(load_fixture("m2020_raw_sol1965_navcam_right_num3_tiles.json")).images)
    assert store.images.image_count() == 1
    # tiles arriving one by one (e.g. across pages) still land on one row
    tile1 = make_record(20, n=1, tile=1)
    tile2 = make_record(20, n=1, tile=2)
    store.images.record(_images(tile1))
    store.images.record(_images(tile2))
    assert store.images.image_count() == 2
    # a second version replaces the files of the first
    store.images.record(_images(make_record(20, n=1, tile=1, version=2)))
    assert store.images.image_count() == 2
    [img] = store.images.of_sol("mars2020", 20)
    assert img.version == 2 and img.large.endswith("02_1200.jpg")


def test_images_of_a_sol_filtered_by_camera_in_time_order(store):
    store.images.record(_images(*[make_record(30, "NAVCAM_LEFT", n=i) for i in (3, 1, 2)], make_record(30, "MCZ_LEFT", n=9)))
    assert len(store.images.of_sol("mars2020", 30)) == 4
    navcam = store.images.of_sol("mars2020", 30, ("NAVCAM_LEFT", "NAVCAM_RIGHT"))
    assert [i.taken_utc for i in navcam] == sorted(i.taken_utc for i in navcam) and len(navcam) == 3


def test_what_a_poll_saw_first(store):
    store.images.record(_images(make_record(40, n=1)))  # fetched by a command, not a poll
    poll = store.polls.start_poll("images")
    store.images.record(_images(make_record(40, n=1), make_record(40, n=2)), poll)
    assert {i.image_id for i in store.images.first_seen_by(poll)} == {make_record(40, n=1)["imageid"], make_record(40, n=2)["imageid"]}
    later = store.polls.start_poll("images")
    store.images.record(_images(make_record(40, n=2)), later)
    assert store.images.first_seen_by(later) == []


def test_data_survives_reopening_and_schema_is_versioned(tmp_path, catalogue):
    path = tmp_path / "db.sqlite3"
    s = Store.open(path)
    s.images.record(_images(make_record(50)))
    s.state.put("k", "v")
    assert s.db.schema_version == len(MIGRATIONS)
    s.close()
    s = Store.open(path)
    assert s.images.image_count() == 1 and s.state.get("k") == "v"
    s.close()


def test_migrations_upgrade_an_older_database_without_losing_rows(tmp_path, catalogue, monkeypatch):
    path = tmp_path / "db.sqlite3"
    s = Store.open(path)
    s.images.record(_images(make_record(60)))
    s.close()
    monkeypatch.setattr("bot.store.database.MIGRATIONS", MIGRATIONS + ["CREATE TABLE extra (x INTEGER)"])
    s = Store.open(path)
    assert s.db.schema_version == len(MIGRATIONS) + 1 and s.images.image_count() == 1
    s.db.execute("INSERT INTO extra VALUES (1)")
    s.close()


def test_a_newer_database_is_refused_rather_than_damaged(tmp_path, catalogue):
    path = tmp_path / "db.sqlite3"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer than this roverbot"):
        Store.open(path)


def test_prune_keeps_frame_geometry_a_week_and_then_makes_the_sol_read_again(store):
    from tests.nasa_standin import make_record

    now = 1_800_000_000.0
    old, new = make_record(100, n=1), make_record(200, n=2)
    store.frames.record_frames([old], None, now - 8 * 86400, polled=True)
    store.frames.record_frames([new], None, now - 1 * 86400, polled=True)
    store.images.mark_sol_fetched("mars2020", 100, "", now - 8 * 86400)
    store.images.mark_sol_fetched("mars2020", 200, "", now - 1 * 86400)
    removed = store.retention.prune(now, sent_days=3, poll_days=14, image_days=30)
    assert removed["frames"] == 1
    assert store.frames.frame_records(100) == [] and len(store.frames.frame_records(200)) == 1
    assert store.images.sol_fetched_at("mars2020", 100, "") is None  # /panorama 100 reads NASA again
    assert store.images.sol_fetched_at("mars2020", 200, "") is not None
