"""`/sol` and `/latest` through the real path: NASA stand-in over HTTP -> parser -> SQLite -> Post."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot import compose
from bot.compose import GalleryQuery
from bot.models import NasaUnavailable, NoImages, SolOutOfRange, UnknownCamera
from tests.nasa_standin import Fault, make_record


def _sol3(standin):
    standin.records += [make_record(3, "NAVCAM_LEFT", n=i) for i in range(7)]
    standin.records += [make_record(3, "NAVCAM_RIGHT", n=100 + i) for i in range(5)]
    standin.records += [make_record(3, "MCZ_LEFT", n=200 + i, sequence="ZCAM08001") for i in range(4)]
    standin.records += [make_record(3, "NAVCAM_LEFT", n=300, sample_type="Thumbnail")]


async def test_sol_with_a_camera_family(gallery, nasa_standin):
    _sol3(nasa_standin)
    post = await gallery.sol(3, "navcam")
    assert post.content.startswith("**Sol 3 · Navcam** — 12 pictures")
    assert len(post.embeds) == compose.GALLERY_PAGE_SIZE
    e = post.embeds[0]
    assert e.title.startswith("Mars Perseverance Sol 3") and e.image_url.endswith("_1200.jpg")
    assert e.thumbnail_url is None and "Full resolution" in e.description and ".png" in e.description
    names = [f.name for f in e.fields]
    assert names[:3] == ["Sol", "Local time", "Earth time"] and e.fields[2].value.startswith("<t:")
    assert "NASA/JPL-Caltech" in e.footer
    # paging buttons carry the whole query
    assert [b.label for b in post.buttons] == ["◀ Previous", "Page 1/3", "Next ▶"]
    assert post.buttons[0].disabled and GalleryQuery.from_custom_id(post.buttons[2].custom_id) == GalleryQuery("mars2020", 3, "navcam", 1)
    q = dict(nasa_standin.feed_requests[-1]["params"])
    assert q["search"] == "NAVCAM_LEFT|NAVCAM_RIGHT" and q["condition_2"] == "3:sol:gte"


async def test_second_ask_is_answered_from_the_store(gallery, nasa_standin):
    _sol3(nasa_standin)
    await gallery.sol(3, "navcam")
    n = len(nasa_standin.feed_requests)
    post = await gallery.turn(GalleryQuery("mars2020", 3, "navcam", 2).custom_id(2))
    assert len(nasa_standin.feed_requests) == n
    assert len(post.embeds) == 2 and post.buttons[2].disabled  # last page


async def test_a_sol_spanning_several_pages_is_read_fully(gallery, nasa_standin):
    nasa_standin.records += [make_record(5, "NAVCAM_LEFT", n=i) for i in range(250)]
    post = await gallery.sol(5)
    assert "250 pictures" in post.content
    assert [dict(r["params"])["page"] for r in nasa_standin.feed_requests] == ["0", "1", "2"]


async def test_latest_uses_the_newest_sol(gallery, nasa_standin):
    post = await gallery.latest()
    assert post.content.startswith("**Sol 1994 · all cameras** — 12 pictures")
    post = await gallery.latest("NAVCAM_RIGHT")
    assert "Sol 1965" in post.content and "1 picture" in post.content  # three tiles, one picture


@pytest.mark.fault("NASA", "the empty-sol fallback (another sol's images)", "never shown as the requested sol; the caller is told there are none")
async def test_empty_sol_fallback_is_no_images_not_another_sols(gallery, nasa_standin):
    with pytest.raises(NoImages, match="no images for sol 1000"):
        await gallery.sol(1000)


async def test_no_images_during_conjunction_says_why(gallery):
    with pytest.raises(NoImages, match="solar conjunction of November 2023"):
        await gallery.sol(975)


async def test_no_images_for_today_says_they_may_still_come(gallery, clock):
    today = gallery.current_sol()
    with pytest.raises(NoImages, match="within a day or two"):
        await gallery.sol(today, "skycam")


@pytest.mark.parametrize("sol, says", [(-1, "count from 0"), (5000, "hasn't happened yet")])
async def test_sol_out_of_range(gallery, nasa_standin, sol, says):
    with pytest.raises(SolOutOfRange, match=says):
        await gallery.sol(sol)
    assert nasa_standin.requests == []


async def test_unknown_camera_never_reaches_nasa(gallery, nasa_standin):
    with pytest.raises(UnknownCamera):
        await gallery.sol(3, "navkam")
    assert nasa_standin.requests == []


async def test_nasa_down(gallery, nasa_standin):
    nasa_standin.faults.extend([Fault(status=503)] * 3)
    with pytest.raises(NasaUnavailable, match="isn't answering"):
        await gallery.sol(1994)


@pytest.mark.fault("NASA", "down while a stale copy is stored", "the stored copy is served")
async def test_nasa_down_but_an_older_copy_is_kept(gallery, nasa_standin, clock):
    await gallery.sol(1994)
    clock.now += timedelta(hours=1)  # the cached copy is stale now
    nasa_standin.faults.extend([Fault(status=503)] * 3)
    post = await gallery.sol(1994)
    assert "12 pictures" in post.content


async def test_gallery_stays_within_discords_limits(gallery, nasa_standin):
    rec = make_record(3, n=1)
    rec["caption"] = "x" * 5000 + "\n\nrest"
    rec["title"] = "T" * 400
    nasa_standin.records += [rec] + [make_record(3, n=i) for i in range(2, 12)]
    post = await gallery.sol(3)
    total = sum(compose.embed_size(e) for e in post.embeds)
    assert total <= 6000 and len(post.embeds) <= 10
    assert all(len(e.title) <= 256 and len(e.description) <= 4096 for e in post.embeds)
