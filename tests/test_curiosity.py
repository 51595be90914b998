"""Curiosity's data: its camera catalogue, its feed (recorded and rebuilt), its clock and its timeline.

Everything is loaded with the same loaders Perseverance's data goes through, so a Curiosity file that
those loaders would misread fails here first.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from datetime import date, datetime, timedelta, timezone
from importlib import resources
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from bot.mars import marstime, milestones
from bot.sources import parse
from bot.mars.cameras import Catalogue
from bot.models import UnknownCamera
from tests import msl_feed
from tests.nasa_standin import FIXTURES, load_fixture

MSL = marstime.CURIOSITY
PACIFIC = ZoneInfo("America/Los_Angeles")


def _data(name: str) -> str:
    return resources.files("bot.mars").joinpath(f"data/{name}").read_text(encoding="utf-8")


CATALOGUE = Catalogue(tomllib.loads(_data("curiosity_cameras.toml")))
RAW_MILESTONES = tomllib.loads(_data("curiosity_milestones.toml"))["milestone"]
TIMELINE = milestones.Timeline([milestones._milestone(d) for d in RAW_MILESTONES])
RECORDED = load_fixture("msl_raw_image_items_latest_sol5030_page0_per12.json")
VALIDATION = [r for r in load_fixture("marstime-validation.json")["records"] if r["mission"] == "msl"]

# Every instrument code nasa-data-sources.md §2 names for the raw_image_items feed.
FEED_CODES = {
    "NAV_LEFT_A", "NAV_LEFT_B", "NAV_RIGHT_A", "NAV_RIGHT_B",
    "FHAZ_LEFT_A", "FHAZ_LEFT_B", "FHAZ_RIGHT_A", "FHAZ_RIGHT_B",
    "RHAZ_LEFT_A", "RHAZ_LEFT_B", "RHAZ_RIGHT_A", "RHAZ_RIGHT_B",
    "MAST_LEFT", "MAST_RIGHT", "MAHLI", "MARDI", "CHEMCAM_RMI",
}
NAVCAMS = {"NAV_LEFT_A", "NAV_LEFT_B", "NAV_RIGHT_A", "NAV_RIGHT_B"}
FRONT = {"FHAZ_LEFT_A", "FHAZ_LEFT_B", "FHAZ_RIGHT_A", "FHAZ_RIGHT_B"}
REAR = {"RHAZ_LEFT_A", "RHAZ_LEFT_B", "RHAZ_RIGHT_A", "RHAZ_RIGHT_B"}


def _seconds(lmst: str) -> float:
    h, m, s = lmst.split("M")[1].split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def _lmst_gap(a: float, b: float) -> float:
    d = abs(a - b) % 86400
    return min(d, 86400 - d)


# ------------------------------------------------------------------ cameras


def test_every_feed_code_is_catalogued_with_a_human_name():
    assert set(CATALOGUE.cameras) == FEED_CODES
    for code in FEED_CODES:
        cam = CATALOGUE.cameras[code]
        assert cam.name and cam.short and cam.family in CATALOGUE.family_labels, code
        assert CATALOGUE.resolve(code).codes == (code,)
        assert CATALOGUE.resolve(code.lower()).codes == (code,)


def test_the_recorded_feed_uses_only_catalogued_codes():
    assert {i["instrument"] for i in RECORDED["items"]} <= set(CATALOGUE.cameras)


def test_computer_side_is_in_the_name_of_every_engineering_camera():
    for code, cam in CATALOGUE.cameras.items():
        if code.endswith(("_A", "_B")):
            assert f"{code[-1]} side" in cam.name, code
            twin = CATALOGUE.cameras[code[:-1] + ("B" if code.endswith("A") else "A")]
            assert twin.family == cam.family and twin.name != cam.name


@pytest.mark.parametrize("typed, codes", [
    ("navcam", NAVCAMS),
    ("Navcam", NAVCAMS),
    ("left navcam", {"NAV_LEFT_A", "NAV_LEFT_B"}),
    ("  Left   NavCam ", {"NAV_LEFT_A", "NAV_LEFT_B"}),
    ("right navcam", {"NAV_RIGHT_A", "NAV_RIGHT_B"}),
    ("NAV_RIGHT_B", {"NAV_RIGHT_B"}),
    ("nav_left_a", {"NAV_LEFT_A"}),
    ("hazcam", FRONT | REAR),
    ("front hazcam", FRONT),
    ("fhaz", FRONT),
    ("rear hazcam", REAR),
    ("rhaz", REAR),
    ("front left hazcam b", {"FHAZ_LEFT_B"}),
    ("mastcam", {"MAST_LEFT", "MAST_RIGHT"}),
    ("mast", {"MAST_LEFT", "MAST_RIGHT"}),
    ("left mastcam", {"MAST_LEFT"}),
    ("m100", {"MAST_RIGHT"}),
    ("mahli", {"MAHLI"}),
    ("MAHLI", {"MAHLI"}),
    ("selfie", {"MAHLI"}),
    ("hand lens", {"MAHLI"}),
    ("chemcam", {"CHEMCAM_RMI"}),
    ("ChemCam", {"CHEMCAM_RMI"}),
    ("rmi", {"CHEMCAM_RMI"}),
    ("supercam", {"CHEMCAM_RMI"}),
    ("mardi", {"MARDI"}),
    ("descent camera", {"MARDI"}),
    ("descent imager", {"MARDI"}),
])
def test_everyday_names_resolve(typed, codes):
    assert set(CATALOGUE.resolve(typed).codes) == codes


@pytest.mark.parametrize("old_name, codes", [
    ("FHAZ", FRONT), ("RHAZ", REAR), ("NAVCAM", NAVCAMS), ("MAST", {"MAST_LEFT", "MAST_RIGHT"}),
    ("CHEMCAM", {"CHEMCAM_RMI"}), ("MAHLI", {"MAHLI"}), ("MARDI", {"MARDI"}),
])
def test_the_retired_mars_photos_camera_names_still_resolve(old_name, codes):
    # People who used the old api.nasa.gov browser type its generic names.
    assert set(CATALOGUE.resolve(old_name).codes) == codes


@pytest.mark.parametrize("code, family", [
    *[(c, "navcam") for c in NAVCAMS], *[(c, "hazcam") for c in FRONT | REAR],
    ("MAST_LEFT", "mastcam"), ("MAST_RIGHT", "mastcam"), ("MAHLI", "mahli"),
    ("CHEMCAM_RMI", "chemcam"), ("MARDI", "mardi"),
])
def test_every_code_sits_in_its_family(code, family):
    assert CATALOGUE.family_of(code) == family
    assert code in CATALOGUE.resolve(family).codes


def test_groups_stay_inside_one_family():
    for key in ("navcam_left", "navcam_right", "front_hazcam", "rear_hazcam"):
        codes = CATALOGUE.resolve(key).codes
        assert codes and len({CATALOGUE.family_of(c) for c in codes}) == 1, key


@pytest.mark.parametrize("typo, wanted", [
    ("navkam", "navcam"), ("mastcm", "mastcam"), ("hazcm", "hazcam"), ("chemcm", "chemcam"),
    ("mahly", "MAHLI"), ("mardy", "MARDI"), ("selfy", "mahli"), ("frnt hazcam", "front_hazcam"),
    ("left navkam", "navcam_left"),
])
def test_typos_get_the_right_suggestion_first(typo, wanted):
    with pytest.raises(UnknownCamera) as e:
        CATALOGUE.resolve(typo)
    assert e.value.suggestions[0] == wanted
    assert typo in str(e.value)


def test_an_unknown_code_in_the_feed_gets_a_generic_label():
    cam = CATALOGUE.camera("CHEMCAM_PRC")
    assert cam.family == "other" and "CHEMCAM_PRC" in cam.name


def test_autocomplete_offers_the_families():
    assert CATALOGUE.choices("nav")[0][1] == "navcam"
    values = [v for _, v in CATALOGUE.choices("")]
    assert {"navcam", "hazcam", "mastcam", "mahli", "chemcam", "mardi"} <= set(values)


# ------------------------------------------------------------------ the feed, recorded and rebuilt


def test_the_recorded_page_parses():
    page = parse.page(RECORDED)
    assert len(page.images) == 12 and not page.end and page.total_results == 1508277
    assert {i.sol for i in page.images} == {5030} and {i.mission for i in page.images} == {"msl"}
    assert all(i.link.startswith("https://mars.nasa.gov/raw_images/") for i in page.images)


def test_a_built_record_has_the_recorded_shape():
    real = RECORDED["items"][0]
    built = msl_feed.item(5030, "NAV_RIGHT_B", sample_type="subframe")
    assert list(built) == list(real)
    assert list(built["extended"]) == list(real["extended"])
    for key, value in real.items():
        assert type(built[key]) is type(value), key
    for key, value in real["extended"].items():
        assert type(built["extended"][key]) is type(value), key
    assert built["link"].startswith("/raw_images/") and built["date_taken"].endswith(".000Z")
    assert re.fullmatch(r"NRB_\d{9}EDR_S\d{7}NCAM\d{5}M_", built["imageid"])


def test_a_built_page_has_the_recorded_envelope():
    page = msl_feed.answer(msl_feed.sol_items(5030), {"condition_1": "msl:mission", "per_page": "12", "page": "0"})
    assert list(page) == list(RECORDED)
    assert all(type(page[k]) is type(RECORDED[k]) for k in RECORDED)


@pytest.mark.parametrize("code", sorted(FEED_CODES))
def test_the_parser_reads_a_built_record_from_every_camera(code):
    rec = msl_feed.item(3000, code, n=2)
    page = parse.page(msl_feed.page_of([rec], 0, 12))
    (img,) = page.images
    assert (img.image_id, img.sol, img.instrument, img.mission) == (rec["imageid"], 3000, code, "msl")
    assert img.large.startswith("https://mars.nasa.gov/msl-raw-images/")
    assert img.link == f"https://mars.nasa.gov/raw_images/{rec['id']}"
    assert img.taken_utc == parse.utc(rec["date_taken"]) and img.lmst
    assert CATALOGUE.camera(img.instrument).family != "other"


def test_msss_and_chemcam_products_come_with_the_recorded_nulls():
    for code in ("MAST_LEFT", "MAHLI", "MARDI", "CHEMCAM_RMI"):
        rec = msl_feed.item(100, code)
        assert rec["camera_vector"] is None and rec["camera_model_type"] is None, code
        assert rec["extended"]["mast_az"] is None, code
    chem = msl_feed.item(100, "CHEMCAM_RMI", sample_type="chemcam prc")
    assert chem["sample_type_sort"] == 999 and chem["image_credit"].endswith("/LANL")
    assert parse.page({"items": [chem], "more": False}).images[0].instrument == "CHEMCAM_RMI"


def test_thumbnails_are_served_but_never_shown():
    records = msl_feed.sol_items(200, ["NAV_LEFT_B", "MAST_RIGHT"], 2, thumbnails=True)
    assert len({r["id"] for r in records}) == len({r["imageid"] for r in records}) == 8
    everything = msl_feed.answer(records, {"condition_1": "msl:mission", "per_page": "50"})
    assert everything["total"] == 8 and sum(r["is_thumbnail"] for r in everything["items"]) == 4
    assert len(parse.page(everything).images) == 4
    filtered = msl_feed.answer(records, {"condition_1": "msl:mission", "per_page": "50",
                                         "extended": "thumbnail::sample_type::noteq"})
    assert filtered["total"] == 4 and not any(r["is_thumbnail"] for r in filtered["items"])


def test_paging_until_more_is_false_sees_every_record_once():
    records = msl_feed.sol_items(4000, sorted(FEED_CODES), 2)
    seen, page_no = [], 0
    while True:
        body = msl_feed.answer(records, {"condition_1": "msl:mission", "condition_2": "4000:sol:in",
                                         "per_page": "5", "page": str(page_no)})
        parsed = parse.page(body)
        seen += [i.image_id for i in parsed.images]
        assert body["total"] == 34 and body["page"] == page_no
        if not body["more"]:
            assert parsed.end
            break
        assert not parsed.end
        page_no += 1
    assert page_no == 6 and sorted(seen) == sorted(r["imageid"] for r in records)
    past = msl_feed.answer(records, {"condition_1": "msl:mission", "per_page": "5", "page": "7"})
    assert past["items"] == [] and past["more"] is False and parse.page(past).end


def test_queries_filter_like_the_feed():
    records = msl_feed.sol_items(10, ["NAV_LEFT_A", "MAST_LEFT"], 2)
    records += msl_feed.sol_items(11, ["NAV_LEFT_A", "MAHLI"], 2)
    q = {"condition_1": "msl:mission", "per_page": "100"}

    def codes(**extra):
        return sorted((r["sol"], r["instrument"]) for r in msl_feed.answer(records, q | extra)["items"])

    assert codes(search="NAV_LEFT_A|MAHLI") == [(10, "NAV_LEFT_A")] * 2 + [(11, "MAHLI")] * 2 + [(11, "NAV_LEFT_A")] * 2
    assert {s for s, _ in codes(condition_2="11:sol:gte", condition_3="11:sol:lte")} == {11}
    assert codes(condition_2="MAST_LEFT,MAHLI:instrument:in") == [(10, "MAST_LEFT")] * 2 + [(11, "MAHLI")] * 2
    day_11 = msl_feed.item(11, "NAV_LEFT_A")["date_taken"][:10]
    assert {s for s, _ in codes(condition_2=f"{day_11}:date_taken:gte")} == {11}
    one = records[3]
    hit = msl_feed.answer(records, {"condition_1": f"{one['imageid']}:imageid:eq", "per_page": "2", "page": "0"})
    assert [r["id"] for r in hit["items"]] == [one["id"]]


def test_default_order_is_sol_then_camera_then_sample_type():
    records = msl_feed.sol_items(20, ["NAV_LEFT_B", "MAST_RIGHT"], 1) + msl_feed.sol_items(21, ["CHEMCAM_RMI"], 1)
    items = msl_feed.answer(records, {"condition_1": "msl:mission"})["items"]
    assert [(r["sol"], r["instrument"]) for r in items] == [(21, "CHEMCAM_RMI"), (20, "MAST_RIGHT"), (20, "NAV_LEFT_B")]
    newest_first = msl_feed.answer(records, {"condition_1": "msl:mission", "order": "created_at desc"})["items"]
    assert [r["created_at"] for r in newest_first] == sorted((r["created_at"] for r in records), reverse=True)


def test_latest_summary_parses_to_the_newest_sol():
    records = msl_feed.sol_items(5029) + msl_feed.sol_items(5030)
    body = msl_feed.latest(records)
    assert body["success"] is True and parse.latest_sol(body) == 5030
    assert body["latest_data"]["latest_sols"] == [5030, 5029]


def test_built_pictures_are_taken_within_their_sol():
    for sol in (0, 1, 182, 3000, 5030):
        for rec in msl_feed.sol_items(sol, ["NAV_LEFT_B", "MAHLI"], 3):
            taken = parse.utc(rec["date_taken"])
            assert marstime.sol_at(taken, MSL) == sol
            start, end = marstime.sol_interval(sol, MSL)
            assert start <= taken < end


# ------------------------------------------------------------------ the clock


def test_the_mission_is_curiosity_at_gale():
    assert marstime.MISSIONS["msl"] is marstime.MISSIONS["curiosity"] is MSL
    assert MSL.rover == "Curiosity" and 137 < MSL.longitude_east < 138  # Gale crater, 137.4 E


@pytest.mark.parametrize("rec", RECORDED["items"], ids=lambda r: r["imageid"])
def test_each_recorded_picture_is_on_its_sol_at_its_local_time(rec):
    clock = marstime.clock(parse.utc(rec["date_taken"]), MSL)
    assert clock.sol == rec["sol"]
    assert _lmst_gap(clock.lmst_seconds, _seconds(rec["extended"]["lmst"])) < 5


_STATED = re.compile(r"on Sol (\d+) \((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC\)")


@pytest.mark.parametrize("rec", RECORDED["items"], ids=lambda r: r["imageid"])
def test_each_caption_states_a_sol_and_a_utc_time_the_clock_agrees_with(rec):
    stated = _STATED.search(rec["description"])
    assert stated, rec["description"]
    sol, moment = int(stated[1]), datetime.fromisoformat(stated[2]).replace(tzinfo=timezone.utc)
    assert sol == rec["sol"] and moment == parse.utc(rec["date_taken"])
    assert marstime.sol_at(moment, MSL) == sol


@pytest.mark.parametrize("rec", VALIDATION, ids=lambda r: f"sol{r['official_sol']}")
def test_the_validation_records(rec):
    clock = marstime.clock(datetime.fromisoformat(rec["utc"]).replace(tzinfo=timezone.utc), MSL)
    assert clock.sol == rec["official_sol"]
    if rec["official_lmst"] and rec["official_sol"] > 0:  # the sol-0 entry is a timer's zero, not an LMST
        assert _lmst_gap(clock.lmst_seconds, _seconds(rec["official_lmst"])) < 5


def test_there_are_validation_records_to_check():
    assert len(VALIDATION) >= 4 and {r["official_sol"] for r in VALIDATION} >= {0, 3000, 3039, 4681}


def test_sol_zero_is_landing_day():
    start, end = marstime.sol_interval(0, MSL)
    assert abs(start - datetime(2012, 8, 5, 13, 49, 57, tzinfo=timezone.utc)) < timedelta(seconds=2)
    assert abs((end - start).total_seconds() - marstime.SOL_SECONDS) < 0.01
    assert start <= MSL.landing_utc < end and MSL.landing_utc.date() == date(2012, 8, 6)
    landing = TIMELINE.find("landing")
    assert landing.sol == 0 and landing.day == date(2012, 8, 6) and start <= landing.time < end


def test_the_retired_api_dated_sol_3607_on_a_day_the_sol_touches():
    photos = load_fixture("marsphotos_latest_photos_curiosity_sol3607.json")["latest_photos"]
    assert {(p["sol"], p["earth_date"]) for p in photos} == {(3607, "2022-09-29")}
    start, end = marstime.sol_interval(3607, MSL)
    assert start.date() <= date(2022, 9, 29) <= end.date()


# ------------------------------------------------------------------ milestones


def _hosts(m: dict) -> set[str]:
    return {urlsplit(u).hostname.removeprefix("www.") for u in m["sources"]}


def _nasa(host: str) -> bool:
    return host.endswith(("nasa.gov", "jpllab.net")) or host == "pds-rings.seti.org"


def test_at_least_fifteen_milestones_in_time_order():
    assert len(TIMELINE.milestones) >= 15
    days = [m.day for m in TIMELINE.milestones]
    assert days == sorted(days) and TIMELINE.milestones[0].slug == "launch"
    assert len({m.slug for m in TIMELINE.milestones}) == len(RAW_MILESTONES)


@pytest.mark.parametrize("slug, day, sol, word", [
    ("landing", date(2012, 8, 6), 0, "Gale"),
    ("first-zap", date(2012, 8, 19), 13, "Coronation"),
    ("first-drive", date(2012, 8, 22), 16, "Bradbury"),
    ("first-scoop", date(2012, 10, 7), 61, "Rocknest"),
    ("first-selfie", date(2012, 10, 31), 84, "MAHLI"),
    ("first-drill", date(2013, 2, 8), 182, "John Klein"),
    ("habitable", date(2013, 3, 12), None, "lake"),
    ("mount-sharp", date(2014, 9, 11), 746, "Pahrump Hills"),
    ("first-mount-sharp-drill", date(2014, 9, 24), 759, "Confidence Hills"),
    ("sulfur-stones", date(2024, 5, 30), 4200, "sulfur"),
])
def test_the_key_facts(slug, day, sol, word):
    m = TIMELINE.find(slug)
    assert (m.day, m.sol) == (day, sol) and word in m.about


def test_every_milestone_is_sourced():
    for m in RAW_MILESTONES:
        assert m["sources"] and all(u.startswith(("https://", "http://")) for u in m["sources"]), m["slug"]
        hosts = _hosts(m)
        # One NASA/JPL page, or agreement between at least two independent sites.
        assert any(_nasa(h) for h in hosts) or len(hosts) >= 2, m["slug"]


@pytest.mark.parametrize("m", TIMELINE.milestones, ids=lambda m: m.slug)
def test_each_sol_fits_its_date_on_the_clock(m):
    if m.sol is None:
        return
    # NASA dates are usually US Pacific; either reading of the date must touch the sol.
    touching = set()
    for zone in (timezone.utc, PACIFIC):
        start = datetime(m.day.year, m.day.month, m.day.day, tzinfo=zone)
        touching |= set(marstime.sols_overlapping(start, start + timedelta(days=1), MSL))
    assert m.sol in touching, (m.slug, sorted(touching))
    if m.time:
        assert marstime.sol_at(m.time, MSL) == m.sol, m.slug


def test_sol_basis_matches_how_sure_we_are():
    for raw in RAW_MILESTONES:
        m = TIMELINE.find(raw["slug"])
        basis = raw["sol_basis"]
        assert basis in ("stated", "derived", "computed", "n/a"), m.slug
        if basis == "n/a":
            assert m.sol is None, m.slug
        elif basis == "stated":
            assert m.sol is not None and m.sol_exact, m.slug
        else:
            assert m.sol is not None and not m.sol_exact and m.caveat, m.slug
        if not m.certain:
            assert m.caveat, m.slug


def test_milestone_cameras_are_curiosity_cameras_of_the_right_computer_side():
    b_side = date(2013, 2, 28)
    for m in TIMELINE.milestones:
        for code in m.cameras:
            assert code in CATALOGUE.cameras, (m.slug, code)
            if code.endswith("_A"):
                assert m.day < b_side, (m.slug, code)
            if code.endswith("_B"):
                assert b_side <= m.day, (m.slug, code)


def test_written_in_our_own_words():
    reference = tomllib.loads((FIXTURES / "reference_milestones.toml").read_text(encoding="utf-8"))["milestone"]
    perseverance = tomllib.loads(_data("milestones.toml"))["milestone"]
    others = [r["description"] for r in reference] + [p["about"] for p in perseverance]
    others += [i["description"] for i in RECORDED["items"]]
    for m in TIMELINE.milestones:
        for text in others:
            assert difflib.SequenceMatcher(None, m.about, text).ratio() < 0.6, m.slug
            assert not _shared_run(m.about, text, 8), m.slug
    abouts = [m.about for m in TIMELINE.milestones]
    for i, a in enumerate(abouts):
        for b in abouts[i + 1:]:
            assert not _shared_run(a, b, 8)


def _shared_run(a: str, b: str, n: int) -> bool:
    """Whether the two texts share a run of n words: the mark of a pasted sentence."""
    def runs(text: str) -> set[tuple[str, ...]]:
        words = re.findall(r"[\w'-]+", text.lower())
        return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}
    return bool(runs(a) & runs(b))


def test_lookup_by_title_and_suggestions():
    assert TIMELINE.find("First drive, at Bradbury Landing").slug == "first-drive"
    assert TIMELINE.find("FIRST DRILL").slug == "first-drill"
    with pytest.raises(milestones.UnknownMilestone) as e:
        TIMELINE.find("frist-drive")
    assert "first-drive" in e.value.suggestions
