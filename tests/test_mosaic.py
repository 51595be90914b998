"""Panoramas of a known synthetic scene, seen by a tilted rover, fetched over HTTP like the bot would."""

from __future__ import annotations

import io
from dataclasses import replace

import httpx
import numpy as np
import pytest
from PIL import Image

from bot.imagery.errors import ProductError
from bot.imagery.frames import download_urls, frame_of
from bot.imagery.mosaic import BAND_HEIGHT, assemble_panorama, mosaic_array
from bot.imagery.products import recognise
from tests import scene_standin as ss

PAN_AZ = [float(a) for a in range(0, 360, 30)]
PARTIAL_AZ = [280.0, 310.0, 340.0, 10.0]  # + the 37.5° yaw: 317.5°…47.5° on the ground, across north
ZCAM_AZ = [120.0, 142.0, 164.0, 186.0, 208.0]
POST_AZ = [p for p, _ in ss.POSTS]


@pytest.fixture(scope="module")
def fetched():
    """The stand-in serving a full tilted Navcam pan, a partial one and a Mastcam-Z pan; what the
    bot's side downloaded for each recognised panorama (medium renditions), and what was asked for."""
    scene = ss.Scene()
    standin = ss.SceneStandIn(scene=scene).start()
    try:
        ss.navcam_pan(standin, PAN_AZ, [-5.0], sequence="NCAM00600")
        ss.navcam_pan(standin, PARTIAL_AZ, [-5.0], sequence="NCAM00601", sclk0=770050000.0, seed=5)
        ss.mastcamz_pan(standin, ZCAM_AZ, 0.0)
        with httpx.Client(timeout=60) as http:
            feed = http.get(standin.url + "/rss/api/", params={"feed": "raw_images", "category": "mars2020", "feedtype": "json"})
            plans = recognise([f for f in (frame_of(r) for r in feed.json()["images"]) if f])
            images, large = {}, {}
            for plan in plans:
                for frame in plan.frames:
                    for image_id, url in download_urls(frame).items():
                        images[image_id] = http.get(url).raise_for_status().content
                    if plan.sequence == "NCAM00601":
                        for image_id, url in download_urls(frame, "large").items():
                            large[image_id] = http.get(url).raise_for_status().content
        yield scene, {p.sequence: p for p in plans}, images, list(standin.requested), large
    finally:
        standin.stop()


def measure(scene: ss.Scene, m, band: tuple[float, float] = (6.0, 14.0), post_band: tuple[float, float] = (1.5, 7.0)) -> dict:
    lum = m.pixels.astype(float).mean(axis=2) / 255
    az, el = m.azimuths(), m.elevations()
    h_az, h_el = ss.horizon_elevations(lum, m.covered, az, el, band)
    true = ss.truth(scene, az, el)
    ground = m.covered & (el[:, None] < -2)
    return {
        "horizon_columns": len(h_az),
        "tilt": ss.tilt_of(h_az, h_el) if len(h_az) > 10 else np.inf,
        "horizon_worst": float(np.percentile(np.abs(h_el), 99)) if len(h_az) else np.inf,
        "posts": ss.post_azimuths(lum, m.covered, az, el, post_band),
        "ncc": ss.ncc(lum[m.covered], true[m.covered]),
        "ncc_ground": ss.ncc(lum[ground], true[ground]),
    }


def test_the_recognised_panoramas_were_built_from_medium_renditions_only(fetched):
    _, plans, images, requested, _ = fetched
    assert {s: (p.kind, len(p.frames)) for s, p in plans.items()} == {
        "NCAM00600": ("panorama", 12), "NCAM00601": ("panorama", 4), "ZCAM08100": ("panorama", 5)}
    pictures = [p for p in requested if p != "/rss/api/"]
    assert sum(p.endswith("_800.jpg") for p in pictures) == 21 and sum(p.endswith("_1200.jpg") for p in pictures) == 4
    assert len(pictures) == 25  # no small, and never a full-resolution PNG


def test_a_full_pan_from_a_tilted_rover_matches_the_scene(fetched):
    scene, plans, images, _, _ = fetched
    m = mosaic_array(list(plans["NCAM00600"].frames), images, deg_per_px=0.15)
    assert abs(m.pixels.shape[1] * m.deg_per_px - 360) < 1e-6  # the whole circle, north at the left edge
    r = measure(scene, m)
    assert r["horizon_columns"] > 1500
    assert r["tilt"] < 0.5 and r["horizon_worst"] < 0.5
    errors = ss.azimuth_errors(r["posts"], POST_AZ)
    assert max(errors) < 1.0, errors
    assert len(r["posts"]) == len(POST_AZ)
    assert r["ncc"] > 0.8 and r["ncc_ground"] > 0.8
    # auto-exposure differed frame to frame; the gains undid it
    assert len(set(np.round(m.gains, 2))) > 5


def test_the_same_pan_with_the_attitude_ignored_fails_every_check(fetched):
    scene, plans, images, _, _ = fetched
    level = [replace(f, attitude=(1.0, 0.0, 0.0, 0.0)) for f in plans["NCAM00600"].frames]
    r = measure(scene, mosaic_array(level, images, deg_per_px=0.15))
    assert r["tilt"] > 3.0  # the 4.1° tilt shows as a sinusoidal horizon
    assert min(ss.azimuth_errors(r["posts"], POST_AZ)) > 10  # every landmark off by about the 37.5° yaw
    assert r["ncc_ground"] < 0.3  # the ground texture no longer lines up with the truth at all


@pytest.mark.parametrize("rendition", ["medium", "large"])
def test_a_partial_pan_across_north_spans_only_what_was_seen(fetched, rendition):
    """From medium or from large renditions alike: each frame's model is rescaled to the size decoded."""
    scene, plans, medium, _, large = fetched
    images = medium if rendition == "medium" else large
    m = mosaic_array(list(plans["NCAM00601"].frames), images, deg_per_px=0.15)
    span = m.pixels.shape[1] * m.deg_per_px
    assert 150 < span < 250  # 4 frames 30° apart with a 96° field: about 190°
    for centre in (317.5, 347.5, 17.5, 47.5):  # every frame's centre is inside, in one piece across north
        assert (centre - m.az0) % 360 < span
    r = measure(scene, m)
    assert r["tilt"] < 0.5 and r["horizon_worst"] < 0.5 and r["ncc"] > 0.8 and r["ncc_ground"] > 0.8
    seen = [p for p in POST_AZ if 3 < (p - m.az0) % 360 < span - 3]
    assert seen == [20.0, 75.0, 325.0]
    assert len(r["posts"]) == 3 and max(ss.azimuth_errors(r["posts"], seen)) < 1.0


def test_a_mastcam_z_pan_through_its_cahvor_model(fetched):
    scene, plans, images, _, _ = fetched
    m = mosaic_array(list(plans["ZCAM08100"].frames), images, deg_per_px=0.04)
    span = m.pixels.shape[1] * m.deg_per_px
    assert 100 < span < 130
    # mast azimuths 120°…208° in the rover frame; the rover is yawed 37.5°: 157°…245° ± 13° on the ground
    assert abs(m.az0 - 144) < 2
    r = measure(scene, m, band=(2.0, 5.0), post_band=(1.0, 4.0))
    assert r["horizon_columns"] > 1500
    assert r["tilt"] < 0.5 and r["horizon_worst"] < 0.5 and r["ncc"] > 0.8 and r["ncc_ground"] > 0.8
    assert len(r["posts"]) == 1 and max(ss.azimuth_errors(r["posts"], [200.0])) < 1.0


def test_the_picture_has_a_compass_band_under_the_mosaic(fetched):
    _, plans, images, _, _ = fetched
    frames = list(plans["NCAM00600"].frames)
    data = assemble_panorama(frames, images, deg_per_px=0.2)
    m = mosaic_array(frames, images, deg_per_px=0.2)
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG" and im.size == (m.pixels.shape[1], m.pixels.shape[0] + BAND_HEIGHT)
    band = np.asarray(im.convert("L"))[-BAND_HEIGHT:]
    east = round(90 / m.deg_per_px)
    # marks at east (a tick and the letter) and nothing but background far from any tick
    assert band[:, east - 6: east + 7].max() > 150
    assert band[:, east + 20: east + 30].max() < 60


def test_the_output_size_is_capped_before_anything_is_allocated(fetched):
    _, plans, images, _, _ = fetched
    m = mosaic_array(list(plans["NCAM00600"].frames), images, deg_per_px=0.05, max_pixels=400_000)
    assert m.pixels.shape[0] * m.pixels.shape[1] <= 400_000
    assert m.deg_per_px > 0.05
    with pytest.raises(ProductError, match="cap"):
        mosaic_array(list(plans["NCAM00600"].frames), images, max_frames=10)


def test_missing_undecodable_or_modelless_frames_raise_the_one_error(fetched):
    _, plans, images, _, _ = fetched
    frames = list(plans["NCAM00601"].frames)
    missing = {k: v for k, v in images.items() if k != frames[2].image_id}
    with pytest.raises(ProductError, match="no picture"):
        mosaic_array(frames, missing)
    broken = dict(images, **{frames[1].image_id: images[frames[1].image_id][:500]})
    with pytest.raises(ProductError, match="readable"):
        mosaic_array(frames, broken)
    with pytest.raises(ProductError, match="camera model"):
        mosaic_array([frames[0], replace(frames[1], model=None)], images)
    with pytest.raises(ProductError, match="attitude"):
        mosaic_array([replace(frames[0], attitude=None)], images)
    degenerate = replace(frames[1].model, H=tuple(float("nan") for _ in range(3)))
    with pytest.raises(ProductError):
        mosaic_array([frames[0], replace(frames[1], model=degenerate)], images)
    with pytest.raises(ProductError):
        assemble_panorama(frames, {k: b"" for k in images})
    with pytest.raises(ProductError):
        mosaic_array([], images)
