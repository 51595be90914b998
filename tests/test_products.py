"""Reading feed records into frames, joining tiles, and recognising panoramas, stereo pairs and movies."""

from __future__ import annotations

import copy
import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from bot.imagery.errors import ProductError
from bot.imagery.frames import download_urls, frame_of, frame_pixels, join_tiles, rendition_url
from bot.imagery.products import recognise
from tests import scene_standin as ss
from tests.nasa_standin import load_fixture

SOL1994 = load_fixture("m2020_raw_latest_sol1994_navcam_left_page0_num12.json")["images"]
SOL1965 = load_fixture("m2020_raw_sol1965_navcam_right_num3_tiles.json")["images"]
BASE = "https://mars.nasa.gov"


def test_every_recorded_record_reads_as_a_frame():
    frames = [frame_of(r) for r in SOL1994 + SOL1965]
    assert all(f is not None for f in frames)
    f = frames[0]
    assert (f.camera, f.sequence, f.sol, f.site, f.drive, f.scale) == ("NL", "NCAM00518", 1994, 91, 970, 4)
    assert (f.mast_az, f.mast_el, f.dimension, f.subframe) == (-152.766, 24.283, (1280, 960), (1, 1, 5120, 3840))
    assert f.attitude == (0.216301, 0.0848803, 0.0539859, 0.971131)
    assert f.model is not None and f.model.kind == "CAHVORE"
    assert f.sclk == 843961142.639 and f.exposure_clock == "0843961141.380"
    assert f.version == 2 and not f.thumbnail
    assert rendition_url(f).endswith("_800.jpg") and rendition_url(f, "large").endswith("_1200.jpg")


@pytest.mark.parametrize("junk", [None, [], "text", 5, {}, {"imageid": 5}, {"imageid": "not an id"},
                                  {"imageid": "NLG_1994_0843961141_380ECM_N0910970NCAM00518_00_2I3J", "extended": "x",
                                   "camera": [], "image_files": None, "attitude": {}, "sol": "soon"}])
def test_junk_is_not_a_frame_or_a_frame_without_geometry(junk):
    f = frame_of(junk)  # never raises
    if f is not None:
        assert f.model is None and f.attitude is None and f.mast_az is None and f.urls == ()


def test_unknown_and_string_values_are_read_tolerantly():
    rec = copy.deepcopy(SOL1994[0])
    rec["extended"].update(mastAz="UNK", mastEl=" 12.5 ", scaleFactor="x", dimension="(1280,)")
    rec["camera"]["camera_model_component_list"] = "(1,2,3);(oops)"
    rec["attitude"] = "(0,0,0,0)"
    rec["site"] = "91"
    f = frame_of(rec)
    assert f is not None
    assert (f.mast_az, f.mast_el, f.scale, f.dimension, f.model, f.attitude, f.site) == (None, 12.5, None, None, None, None, 91)
    assert f.image_id == rec["imageid"]


def test_mastcam_z_ids_without_a_tile_field_are_frames():
    rec = ss.record(BASE, ss.Shot(ss.mastcamz_model(90, 0), (1648, 1200), (1.0, 0, 0, 0)), camera="ZL", instrument="MCZ_LEFT",
                    sequence="ZCAM08100", sclk=770000000.5, mast_az=90, mast_el=0, subframe=(1, 1, 1648, 1200), scale=1)
    f = frame_of(rec)
    assert f is not None and (f.camera, f.sequence, f.tile, f.eye) == ("ZL", "ZCAM08100", 0, "L")
    assert f.exposure_id == f.image_id and f.model is not None and f.model.kind == "CAHVOR"


def test_the_sol_1965_tiles_join_into_one_frame():
    frames = [frame_of(r) for r in SOL1965]
    joined = join_tiles(frames)  # type: ignore[arg-type]
    assert len(joined) == 1
    j = joined[0]
    assert j.subframe == (1, 1, 3848, 968) and j.dimension == (3848, 968) and len(j.tiles) == 3
    # each tile's own model and the joined model see the same direction at the same place
    for t in frames:
        d = np.array([[0.87, -0.33, 0.37]])
        xt, yt, _ = t.model.project(d)  # type: ignore[union-attr]
        xj, yj, _ = j.model.project(d)  # type: ignore[union-attr]
        assert abs((xj - xt)[0] - (t.subframe[0] - 1)) < 0.05 and abs((yj - yt)[0]) < 0.05  # type: ignore[index]
    assert set(download_urls(j)) == {t.image_id for t in frames}


def test_tiles_that_disagree_stay_apart():
    frames = [frame_of(r) for r in SOL1965]
    frames[1] = replace(frames[1], scale=2)  # type: ignore[arg-type]
    assert len(join_tiles(frames)) == 3  # type: ignore[arg-type]


def test_tile_pictures_are_pasted_at_their_offsets():
    frames = [frame_of(r) for r in SOL1965]
    j = join_tiles(frames)[0]  # type: ignore[arg-type]
    images = {}
    for i, t in enumerate(frames):  # medium renditions: 800 px wide each, so each tile has its own scale
        w = 800
        h = round(t.dimension[1] * w / t.dimension[0])  # type: ignore[index]
        buf = io.BytesIO()
        Image.new("RGB", (w, h), (60 * (i + 1), 10, 10)).save(buf, "PNG")
        images[t.image_id] = buf.getvalue()
    px, model = frame_pixels(j, images)
    k = 800 / 1296  # the smallest scale among the tiles
    assert px.shape[1] == round(3848 * k)
    assert px[100, 5, 0] == 60 and px[100, px.shape[1] - 5, 0] == 180
    assert px[100, round(1400 * k), 0] == 120  # inside tile 2 only
    # the model follows: the joined medium model at the right edge = the tile-3 model there
    _, d = model.rays(np.array(px.shape[1] - 1.0), np.array(300.0))
    x3, _, _ = frames[2].model.for_size(1296, 968, round(1296 * k), round(968 * k)).project(d)  # type: ignore[union-attr]
    assert abs(float(x3) - (round(1296 * k) - 1)) < 1.0
    del images[frames[1].image_id]
    with pytest.raises(ProductError):
        frame_pixels(j, images)


def test_recorded_sol_1994_holds_two_movies_and_no_panorama():
    plans = recognise([frame_of(r) for r in SOL1994])  # type: ignore[misc]
    kinds = sorted((p.kind, p.sequence, len(p.frame_ids)) for p in plans)
    assert kinds == [("movie", "NCAM00518", 4), ("movie", "NCAM00528", 8)]
    strips = next(p for p in plans if p.sequence == "NCAM00528")
    clocks = [f.sclk for f in strips.frames]
    assert clocks == sorted(clocks)
    assert strips.camera == "NAVCAM_LEFT" and strips.sol == 1994


def test_recorded_tiles_make_no_product_on_their_own():
    assert recognise([frame_of(r) for r in SOL1965]) == []  # type: ignore[misc]


def scene_records(kind: str) -> list[dict]:
    """Records in the feed schema from the scene stand-in's builders, without serving them."""
    class Quiet:  # the builders only need a base URL and somewhere to put records
        url = BASE

        def add(self, rec, shot):
            return rec
    q = Quiet()
    if kind == "pan":
        return ss.navcam_pan(q, [0.0, 40.0, 80.0, 120.0], [-5.0])  # type: ignore[arg-type]
    if kind == "stereo":
        return list(ss.navcam_stereo(q, 60.0, -10.0))  # type: ignore[arg-type]
    return ss.navcam_movie(q, 100.0, 0.0, 5)  # type: ignore[arg-type]


def test_a_pan_is_a_panorama_in_acquisition_order():
    recs = scene_records("pan")
    plans = recognise([frame_of(r) for r in reversed(recs)])  # type: ignore[misc]
    assert [(p.kind, p.frame_ids) for p in plans] == [("panorama", tuple(r["imageid"] for r in recs))]


def test_both_eyes_of_a_pan_make_one_panorama_from_the_left_eye():
    class Quiet:
        url = BASE

        def add(self, rec, shot):
            return rec
    left = ss.navcam_pan(Quiet(), [0.0, 40.0, 80.0], [-5.0], eye="L")  # type: ignore[arg-type]
    right = ss.navcam_pan(Quiet(), [0.0, 40.0, 80.0], [-5.0], eye="R")  # type: ignore[arg-type]
    plans = recognise([frame_of(r) for r in right + left])  # type: ignore[misc]
    assert [(p.kind, p.camera) for p in plans] == [("panorama", "NAVCAM_LEFT")]


def test_a_left_right_exposure_is_a_stereo_pair_left_first():
    left, right = scene_records("stereo")
    plans = recognise([frame_of(right), frame_of(left)])  # type: ignore[list-item]
    assert [(p.kind, p.frame_ids) for p in plans] == [("stereo", (left["imageid"], right["imageid"]))]


def test_repeated_pointing_is_a_movie_and_thumbnails_and_old_versions_drop_out():
    recs = scene_records("movie")
    frames = [frame_of(r) for r in recs]
    thumb = replace(frames[0], image_id=frames[0].image_id + "X", thumbnail=True)  # type: ignore[union-attr]
    older = replace(frames[1], version=0)  # type: ignore[union-attr]
    plans = recognise([*frames, thumb, older])  # type: ignore[list-item]
    assert [(p.kind, p.frame_ids) for p in plans] == [("movie", tuple(r["imageid"] for r in recs))]
    assert plans[0].frames[1].version == 1
    # two repeats are not a movie
    assert recognise(frames[:2]) == []  # type: ignore[arg-type]


def test_frames_with_unknown_mast_angles_make_no_movie():
    recs = scene_records("movie")
    for r in recs:
        r["extended"]["mastAz"] = "UNK"
    assert recognise([frame_of(r) for r in recs]) == []  # type: ignore[misc]
