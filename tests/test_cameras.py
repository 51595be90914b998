from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.models import UnknownCamera

REFERENCE = tomllib.loads((Path(__file__).parent / "fixtures" / "reference_cameras.toml").read_text())


def test_every_reference_instrument_code_is_catalogued_with_a_human_name(catalogue):
    codes = {code for cam in REFERENCE["camera"] for code in cam["api_instruments"]}
    assert len(codes) == 24  # PUCAM C never appears in the feed
    for code in codes:
        cam = catalogue.cameras[code]
        assert cam.name and cam.short and cam.family in catalogue.family_labels
        assert catalogue.resolve(code).codes == (code,)


@pytest.mark.parametrize("typed, codes", [
    ("navcam", ("NAVCAM_LEFT", "NAVCAM_RIGHT")),
    ("Navcam", ("NAVCAM_LEFT", "NAVCAM_RIGHT")),
    ("NAVCAM_LEFT", ("NAVCAM_LEFT",)),
    ("navcam_left", ("NAVCAM_LEFT",)),
    ("left navcam", ("NAVCAM_LEFT",)),
    ("  Left   NavCam ", ("NAVCAM_LEFT",)),
    ("mastcam", ("MCZ_LEFT", "MCZ_RIGHT")),
    ("Mastcam-Z", ("MCZ_LEFT", "MCZ_RIGHT")),
    ("watson", ("SHERLOC_WATSON",)),
    ("supercam", ("SUPERCAM_RMI",)),
    ("pixl", ("PIXL_MCC",)),
    ("skycam", ("SKYCAM",)),
    ("cachecam", ("CACHECAM",)),
    ("heli", ("HELI_NAV", "HELI_RTE")),
    ("front hazcam", ("FRONT_HAZCAM_LEFT_A", "FRONT_HAZCAM_LEFT_B", "FRONT_HAZCAM_RIGHT_A", "FRONT_HAZCAM_RIGHT_B")),
])
def test_resolution(catalogue, typed, codes):
    assert set(catalogue.resolve(typed).codes) == set(codes)


def test_families_match_the_reference_alias_groups(catalogue):
    for group in REFERENCE["alias_group"]:
        alias = group["alias"][0]
        assert set(catalogue.resolve(alias).codes) == set(group["api_instruments"]), alias


def test_hazcam_and_edl_families_cover_all_their_codes(catalogue):
    assert len(catalogue.resolve("hazcam").codes) == 6
    assert len(catalogue.resolve("edl").codes) == 6


def test_unknown_name_gets_closest_suggestions(catalogue):
    with pytest.raises(UnknownCamera) as e:
        catalogue.resolve("navkam")
    assert "navcam" in e.value.suggestions
    assert "navkam" in str(e.value) and "navcam" in str(e.value)
    with pytest.raises(UnknownCamera):
        catalogue.resolve("   ")


def test_unknown_code_in_the_feed_gets_a_generic_label(catalogue):
    cam = catalogue.camera("BRAND_NEW_CAM")
    assert cam.family == "other" and "BRAND_NEW_CAM" in cam.name


def test_autocomplete_choices(catalogue):
    assert catalogue.choices("nav")[0][1] == "navcam"
    values = [v for _, v in catalogue.choices("")]
    assert len(values) <= 25 and "navcam" in values and "mastcam" in values
    assert all(len(name) <= 100 for name, _ in catalogue.choices("s"))
