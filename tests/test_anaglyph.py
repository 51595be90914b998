"""Anaglyphs from a Navcam left/right pair whose cameras are (like real ones) not quite parallel."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image

from bot.imagery.anaglyph import anaglyph, anaglyph_array
from bot.imagery.errors import ProductError
from bot.imagery.frames import decode_rgb, frame_of, rendition_url
from bot.imagery.products import recognise
from tests import scene_standin as ss

LUMA = np.array([0.299, 0.587, 0.114])


@pytest.fixture(scope="module")
def pair():
    standin = ss.SceneStandIn().start()
    try:
        ss.navcam_stereo(standin, 60.0, -10.0)
        ss.navcam_stereo(standin, 150.0, -10.0, sequence="NCAM00711", sclk=770100100.5)  # for a mismatched pair
        with httpx.Client(timeout=60) as http:
            recs = http.get(standin.url + "/rss/api/").json()["images"]
            plans = recognise([frame_of(r) for r in recs])  # type: ignore[misc]
            frames = {f.image_id: f for p in plans for f in p.frames}
            images = {i: http.get(rendition_url(f)).raise_for_status().content for i, f in frames.items()}
        yield plans, images, list(standin.requested)
    finally:
        standin.stop()


def matches(a: np.ndarray, b: np.ndarray, *, search: int = 7, half: int = 8) -> np.ndarray:
    """(dx, dy) from a to b of textured patches, found by normalised cross-correlation with a
    sub-pixel parabola through the best score. Only confident matches (NCC > 0.9) are returned."""
    h, w = a.shape
    out = []
    for cy in range(60, h - 60, 36):
        for cx in range(60, w - 60, 36):
            p = a[cy - half: cy + half + 1, cx - half: cx + half + 1]
            if p.std() < 4:
                continue  # flat sky: nothing to match
            p = (p - p.mean()) / p.std()
            scores = np.full((2 * search + 1, 2 * search + 1), -1.0)
            for dy in range(-search, search + 1):
                for dx in range(-search, search + 1):
                    q = b[cy + dy - half: cy + dy + half + 1, cx + dx - half: cx + dx + half + 1]
                    if q.std() > 0:
                        scores[dy + search, dx + search] = float((p * (q - q.mean()) / q.std()).mean())
            iy, ix = np.unravel_index(np.argmax(scores), scores.shape)
            if scores[iy, ix] < 0.9 or iy in (0, 2 * search) or ix in (0, 2 * search):
                continue
            l, c, r = scores[iy - 1, ix], scores[iy, ix], scores[iy + 1, ix]
            sub_y = 0.5 * (l - r) / (l - 2 * c + r) if (l - 2 * c + r) else 0.0
            l, r = scores[iy, ix - 1], scores[iy, ix + 1]
            sub_x = 0.5 * (l - r) / (l - 2 * c + r) if (l - 2 * c + r) else 0.0
            out.append((ix - search + sub_x, iy - search + sub_y))
    return np.array(out)


def test_the_pair_is_recognised_and_fetched_as_medium_renditions(pair):
    plans, images, requested = pair
    assert [(p.kind, p.sequence) for p in plans] == [("stereo", "NCAM00710"), ("stereo", "NCAM00711")]
    assert all(p.endswith("_800.jpg") for p in requested if p != "/rss/api/")


def test_far_field_has_no_vertical_disparity_in_the_anaglyph(pair):
    plans, images, _ = pair
    left, right = plans[0].frames
    raw_l = decode_rgb(images[left.image_id]).astype(float) @ LUMA
    raw_r = decode_rgb(images[right.image_id]).astype(float) @ LUMA
    before = matches(raw_l, raw_r)
    # the right camera is pitched and rolled a little against the left: raw rows disagree by pixels
    assert len(before) > 40 and np.median(np.abs(before[:, 1])) > 2.0
    ana = anaglyph_array(left, images[left.image_id], right, images[right.image_id]).astype(float)
    after = matches(ana[..., 0], ana[..., 1])
    assert len(after) > 40
    assert np.max(np.abs(after[:, 1])) < 1.0 and np.median(np.abs(after[:, 1])) < 0.25
    # and the scene is far away, so the columns agree too
    assert np.median(np.abs(after[:, 0])) < 0.25


def test_red_is_the_left_eye_and_cyan_the_right(pair):
    plans, images, _ = pair
    left, right = plans[0].frames
    data = anaglyph(left, images[left.image_id], right, images[right.image_id])
    im = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(float)
    assert im.shape[:2] == (600, 800)
    raw_l = decode_rgb(images[left.image_id]).astype(float) @ LUMA
    assert np.median(np.abs(im[..., 0] - raw_l)) < 3
    assert np.median(np.abs(im[..., 1] - im[..., 2])) < 3
    # mark the right picture only: the mark shows in green and blue, never in red
    marked = decode_rgb(images[right.image_id]).copy()
    marked[280:320, 380:420] = 255
    buf = io.BytesIO()
    Image.fromarray(marked).save(buf, "PNG")
    again = anaglyph_array(left, images[left.image_id], right, buf.getvalue()).astype(float)
    base = anaglyph_array(left, images[left.image_id], right, images[right.image_id]).astype(float)
    changed = np.abs(again - base).max(axis=(0, 1))
    assert changed[1] > 100 and changed[2] > 100 and changed[0] == 0


def test_pictures_that_do_not_overlap_are_not_a_pair(pair):
    plans, images, _ = pair
    left = plans[0].frames[0]
    elsewhere = plans[1].frames[1]  # a right-eye picture 90° away
    with pytest.raises(ProductError, match="not a stereo pair"):
        anaglyph(left, images[left.image_id], elsewhere, images[elsewhere.image_id])
    with pytest.raises(ProductError):
        anaglyph(left, b"not a jpeg", plans[0].frames[1], images[plans[0].frames[1].image_id])
