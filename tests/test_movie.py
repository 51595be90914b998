"""Movies of a dust devil drifting past, watched in Navcam strips like sol 1994's NCAM00528."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image

from bot.imagery.errors import ProductError
from bot.imagery.frames import decode_rgb, frame_of, rendition_url
from bot.imagery.movie import frames_of, movie, still
from bot.imagery.products import recognise
from tests import scene_standin as ss

COUNT = 8


@pytest.fixture(scope="module")
def watch():
    standin = ss.SceneStandIn().start()
    try:
        ss.navcam_movie(standin, 100.0 - 37.5, 3.0, COUNT)  # mast azimuth 62.5° + the rover's 37.5° yaw = 100° on the ground
        with httpx.Client(timeout=60) as http:
            recs = http.get(standin.url + "/rss/api/").json()["images"]
            # the feed lists newest first; the plan puts them back in the order taken
            plans = recognise([frame_of(r) for r in reversed(recs)])  # type: ignore[misc]
            images = {f.image_id: http.get(rendition_url(f)).raise_for_status().content for f in plans[0].frames}
        yield plans, images, list(standin.requested)
    finally:
        standin.stop()


def devil_columns(pictures: list[np.ndarray]) -> list[float]:
    """Where the dust devil is in each picture: the centroid of what got darker than the median frame."""
    lum = [p.astype(float).mean(axis=2) for p in pictures]
    median = np.median(lum, axis=0)
    out = []
    for p in lum:
        dark = np.clip(median - p, 0, None)
        dark[dark < 8] = 0
        cols = dark.sum(axis=0)
        out.append(float((cols * np.arange(len(cols))).sum() / cols.sum()))
    return out


def test_the_watch_is_one_movie_of_strips_in_the_order_taken(watch):
    plans, images, requested = watch
    assert [(p.kind, len(p.frames)) for p in plans] == [("movie", COUNT)]
    assert [f.sclk for f in plans[0].frames] == sorted(f.sclk for f in plans[0].frames)
    assert all(p.endswith("_800.jpg") for p in requested if p != "/rss/api/")
    assert decode_rgb(images[plans[0].frames[0].image_id]).shape == (160, 800, 3)


def test_the_movie_has_every_frame_in_order(watch):
    plans, images, _ = watch
    data, mime = movie(list(plans[0].frames), images, max_bytes=10 * 1024 * 1024)
    assert mime == "image/webp" and Image.open(io.BytesIO(data)).format == "WEBP"
    played = frames_of(data)
    assert len(played) == COUNT and played[0].shape == (160, 800, 3)
    xs = devil_columns(played)
    assert all(b - a > 5 for a, b in zip(xs, xs[1:])), xs  # the devil drifts east frame after frame
    # and frame for frame the same as the pictures fetched
    for got, f in zip(played, plans[0].frames):
        assert np.abs(got.astype(float) - decode_rgb(images[f.image_id])).mean() < 4


def test_frames_given_out_of_order_play_out_of_order(watch):
    plans, images, _ = watch
    shuffled = list(plans[0].frames)[::-1]
    xs = devil_columns(frames_of(movie(shuffled, images)[0]))
    assert all(b < a for a, b in zip(xs, xs[1:]))


def test_a_gif_when_asked(watch):
    plans, images, _ = watch
    data, mime = movie(list(plans[0].frames), images, fmt="GIF")
    assert mime == "image/gif" and len(frames_of(data)) == COUNT


def test_a_tight_limit_shrinks_the_movie_until_it_fits(watch):
    plans, images, _ = watch
    full, _ = movie(list(plans[0].frames), images)
    limit = len(full) // 3
    data, mime = movie(list(plans[0].frames), images, max_bytes=limit)
    assert mime == "image/webp" and len(data) <= limit
    played = frames_of(data)
    assert len(played) >= 2 and (played[0].shape[1] < 800 or len(played) < COUNT)  # smaller, still a movie


def test_when_no_animation_fits_a_still_of_the_last_frame_does(watch):
    plans, images, _ = watch
    # WebP squeezes this scene into a kilobyte, so the GIF encoder is what cannot fit here
    data, mime = movie(list(plans[0].frames), images, max_bytes=20_000, fmt="GIF")
    assert mime == "image/jpeg" and len(data) <= 20_000
    data, mime = still(list(plans[0].frames), images, max_bytes=50_000)
    assert mime == "image/jpeg" and Image.open(io.BytesIO(data)).size == (800, 160)
    with pytest.raises(ProductError, match="fits"):
        movie(list(plans[0].frames), images, max_bytes=100)


def test_caps_and_missing_frames_raise_the_one_error(watch):
    plans, images, _ = watch
    frames = list(plans[0].frames)
    with pytest.raises(ProductError, match="cap"):
        movie(frames, images, max_frames=4)
    with pytest.raises(ProductError, match="cap"):
        movie(frames, images, max_total_pixels=500_000)  # 8 × 800 × 160 = 1,024,000
    with pytest.raises(ProductError, match="no picture"):
        movie(frames, {k: v for k, v in images.items() if k != frames[3].image_id})
    with pytest.raises(ProductError):
        movie(frames, dict(images, **{frames[0].image_id: b"\x89PNG garbage"}))
    with pytest.raises(ProductError):
        movie([], images)
