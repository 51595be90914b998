"""The parser against every real feed shape we hold and every documented quirk."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from bot.sources import parse
from tests.nasa_standin import CRLF_TRAILER, load_fixture, make_record

SOL1994 = "m2020_raw_latest_sol1994_navcam_left_page0_num12.json"
TILES = "m2020_raw_sol1965_navcam_right_num3_tiles.json"


def test_real_m2020_page_yields_every_record_with_its_fields():
    page = parse.page(load_fixture(SOL1994))
    assert len(page.images) == 12 and page.skipped == 0
    assert page.total_results == 571835
    first = page.images[0]
    assert first.image_id == "NLG_1994_0843961141_380ECM_N0910970NCAM00518_00_2I3J"
    assert first.sol == 1994 and first.instrument == "NAVCAM_LEFT"
    assert first.lmst == "13:39:51"
    # date_taken_utc has no Z but is UTC
    assert first.taken_utc == datetime(2026, 9, 29, 14, 3, 57, 50000, tzinfo=timezone.utc)
    assert first.received_utc == datetime(2026, 9, 30, 8, 38, 54, tzinfo=timezone.utc)
    assert first.version == 2  # ...2I3J02_1200.jpg
    assert first.sequence == "NCAM00518"
    assert first.caption.endswith("aids in driving.")  # first paragraph only, stray space trimmed
    assert "\n" not in first.caption
    assert first.large.endswith("_1200.jpg") and first.small.endswith("_320.jpg") and first.full_res.endswith(".png")
    assert {i.version for i in page.images} == {1, 2}


def test_body_with_nasas_crlf_trailer_parses():
    raw = json.dumps(load_fixture(TILES)).encode() + CRLF_TRAILER
    assert len(parse.page(json.loads(raw)).images) == 1


def test_tiles_of_one_exposure_are_one_picture():
    page = parse.page(load_fixture(TILES))
    assert len(page.images) == 1
    img = page.images[0]
    assert img.tiles == 3
    assert "_01_" in img.image_id  # the first tile represents the exposure
    assert img.exposure_id == "NRF_1965_0841393386_816ECM_N0910806NCAM03965_095J"


def test_two_versions_of_one_product_are_one_picture_newest_version_wins():
    v1 = make_record(10, n=1, version=1)
    v2 = make_record(10, n=1, version=2)
    page = parse.page({"images": [v1, v2]})
    assert len(page.images) == 1 and page.images[0].version == 2 and page.skipped == 1


def test_thumbnails_are_skipped():
    page = parse.page({"images": [make_record(5, n=1), make_record(5, n=2, sample_type="Thumbnail")]})
    assert len(page.images) == 1 and page.skipped == 1


def test_numbers_as_strings_unk_values_and_unknown_keys_are_fine():
    rec = make_record(42)
    rec["sol"] = "42"
    rec["brand_new_key"] = {"nested": [1, 2]}
    rec["credit"] = "UNK"
    page = parse.page({"images": [rec], "per_page": "100", "page": "0", "nav": {"x": 1}})
    assert page.images[0].sol == 42
    assert page.images[0].credit == "NASA/JPL-Caltech"  # "UNK" is treated as absent


def test_times_with_and_without_z_and_milliseconds():
    assert parse.utc("2026-09-29T14:03:57.050") == datetime(2026, 9, 29, 14, 3, 57, 50000, tzinfo=timezone.utc)
    assert parse.utc("2026-09-29T14:03:57Z") == datetime(2026, 9, 29, 14, 3, 57, tzinfo=timezone.utc)
    assert parse.utc("2026-09-29T14:03:57.050Z") == datetime(2026, 9, 29, 14, 3, 57, 50000, tzinfo=timezone.utc)
    assert parse.utc("2026-09-29T16:03:57+02:00") == datetime(2026, 9, 29, 14, 3, 57, tzinfo=timezone.utc)
    assert parse.utc("not a time") is None and parse.utc(None) is None


def test_unknown_camera_is_kept():
    rec = make_record(7, "BRAND_NEW_CAM")
    page = parse.page({"images": [rec]})
    assert page.images[0].instrument == "BRAND_NEW_CAM"


@pytest.mark.parametrize("breakage", [
    lambda r: r.pop("imageid"),
    lambda r: r.update(sol="twelve"),
    lambda r: r.update(sol=None),
    lambda r: r.update(image_files=None),
    lambda r: r.update(image_files={"large": 5}),
    lambda r: r.update(camera="oops"),
    lambda r: r.update(sol=-3),
])
def test_a_malformed_record_is_skipped_and_never_sinks_the_page(breakage, caplog):
    good = make_record(8, n=1)
    bad = make_record(8, n=2)
    breakage(bad)
    page = parse.page({"images": [good, bad, "not a record", None]})
    kept = [i.image_id for i in page.images]
    assert good["imageid"] in kept
    if bad.get("camera") == "oops":  # a missing camera is not fatal: generic label
        assert len(kept) == 2
    else:
        assert len(kept) == 1 and page.skipped == 3
        assert any("skipped record" in r.message for r in caplog.records)


def test_empty_sol_fallback_is_not_passed_off_as_the_requested_sol():
    fallback = load_fixture(SOL1994)  # NASA answered sol 1993 with sol 1994's images
    page = parse.page(fallback, expect_sol=1993)
    assert page.images == [] and page.skipped == 12


def test_past_the_end_page():
    page = parse.page(load_fixture("m2020_past_end_no_more_images.json"))
    assert page.images == [] and page.end


def test_short_page_is_the_end():
    assert parse.page({"images": [make_record(1)]}, page_size=100).end
    assert not parse.page({"images": [make_record(1, n=i) for i in range(3)]}, page_size=3).end


def test_latest_summary():
    assert parse.latest_sol(load_fixture("m2020_latest_true_2025-10-07.json")) == 1646
    with pytest.raises(parse.Malformed):
        parse.latest_sol({"type": "something else"})


def test_single_image_lookup_shape():
    rec = make_record(3)
    assert parse.page({"image": [rec]}).images[0].image_id == rec["imageid"]


def test_curiosity_raw_image_items_page():
    page = parse.page(load_fixture("msl_raw_image_items_latest_sol5030_page0_per12.json"))
    assert len(page.images) == 12 and not page.end  # "more": true
    img = page.images[0]
    assert img.mission == "msl" and img.sol == 5030 and img.instrument == "NAV_RIGHT_B"
    assert img.lmst and img.large.startswith("https://mars.nasa.gov/msl-raw-images/")
    assert img.link.startswith("https://mars.nasa.gov/raw_images/")  # relative link made absolute


def test_retired_mars_photos_shapes():
    photos = parse.page(load_fixture("marsphotos_perseverance_sol0367.json"))
    assert photos.raw_count == 162 and {i.sol for i in photos.images} == {367}
    assert len(photos.images) == 58  # the rest are tiles of the same exposures
    latest = parse.page(load_fixture("marsphotos_latest_photos_curiosity_sol3607.json"))
    assert latest.images and latest.images[0].mission == "msl"


@pytest.mark.parametrize("payload", [None, [], "text", 5, {"images": "nope"}, {"unrelated": 1}])
def test_unusable_pages_raise_one_error_type(payload):
    with pytest.raises(parse.Malformed):
        parse.page(payload)
