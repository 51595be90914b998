from __future__ import annotations

import difflib
import tomllib
from datetime import date
from pathlib import Path

import pytest

from bot.mars import milestones
from bot.mars.milestones import UnknownMilestone

REFERENCE = {m["slug"]: m for m in tomllib.loads((Path(__file__).parent / "fixtures" / "reference_milestones.toml").read_text())["milestone"]}
TIMELINE = milestones.default()


def test_at_least_thirty_milestones_in_time_order():
    assert len(TIMELINE.milestones) >= 30
    days = [m.day for m in TIMELINE.milestones]
    assert days == sorted(days)
    assert TIMELINE.milestones[0].slug == "launch"


@pytest.mark.parametrize("slug, day, sol, words", [
    ("landing", date(2021, 2, 18), 0, "Jezero"),
    ("first-panorama", date(2021, 2, 20), 2, "six"),
    ("mastcam-z-360", date(2021, 2, 21), 3, "142"),
    ("ingenuity-deploy", date(2021, 4, 3), 43, "helicopter"),
    ("first-flight", date(2021, 4, 19), 58, "39.1"),
    ("watson-selfie", date(2021, 4, 6), 46, "WATSON"),
    ("first-sample-attempt", date(2021, 8, 6), 164, "empty"),
    ("first-sample", date(2021, 9, 1), 190, "core"),
    ("moxie-oxygen", date(2021, 4, 20), 60, "oxygen"),
    ("crater-rim", date(2024, 12, 10), 1354, "rim"),
    ("leaving-jezero", date(2025, 12, 4), 1702, "west"),
])
def test_the_seed_facts(slug, day, sol, words):
    m = TIMELINE.find(slug)
    assert m.day == day and m.sol == sol and words in m.about


def test_facts_match_the_research():
    for m in TIMELINE.milestones:
        ref = REFERENCE[m.slug]
        assert m.day.isoformat() == ref["date_utc"], m.slug
        if "sol" in ref:
            assert m.sol == ref["sol"], m.slug
        assert set(m.cameras) >= set(ref["cameras"]) or m.cameras == tuple(ref["cameras"]), m.slug


def test_written_in_our_own_words():
    for m in TIMELINE.milestones:
        ratio = difflib.SequenceMatcher(None, m.about, REFERENCE[m.slug]["description"]).ratio()
        assert ratio < 0.6, (m.slug, ratio)


def test_unverified_facts_are_not_presented_as_certain():
    for m in TIMELINE.milestones:
        if not REFERENCE[m.slug]["verified"]:
            assert not m.certain and m.caveat, m.slug
        if REFERENCE[m.slug].get("sol_basis") in ("inferred", "computed"):
            assert not m.sol_exact or m.sol is None, m.slug
    assert not TIMELINE.find("leaving-jezero").certain


def test_every_camera_is_in_the_catalogue(catalogue):
    for m in TIMELINE.milestones:
        for code in m.cameras:
            assert code in catalogue.cameras, (m.slug, code)


def test_lookup_by_title_and_suggestions():
    assert TIMELINE.find("First drive").slug == "first-drive"
    assert TIMELINE.find("FIRST FLIGHT").slug == "first-flight"
    with pytest.raises(UnknownMilestone) as e:
        TIMELINE.find("first-fligth")
    assert "first-flight" in e.value.suggestions
