"""One polling cycle: baseline, what is new, and the cost of an idle cycle."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot import compose
from bot.mars import cameras
from tests.nasa_standin import make_record

T0 = datetime(2026, 10, 1, 0, 0, tzinfo=timezone.utc)


async def test_first_poll_is_a_baseline_and_posts_nothing_old(poller, nasa_standin, store):
    result = await poller.poll()
    assert result.baseline and result.new == [] and result.seen == 13
    assert store.images.image_count() == 13
    assert len(nasa_standin.feed_requests) == 1
    assert dict(nasa_standin.feed_requests[0]["params"])["order"] == "date_received desc"


async def test_new_images_after_the_baseline_and_idle_cycles(poller, nasa_standin):
    await poller.poll()
    nasa_standin.records += [make_record(1995, "NAVCAM_LEFT", n=i, received=T0 + timedelta(minutes=i)) for i in range(3)]
    nasa_standin.records += [make_record(1995, "MCZ_LEFT", n=10 + i, sequence="ZCAM01234", received=T0) for i in range(2)]
    result = await poller.poll()
    assert not result.baseline and len(result.new) == 5
    groups = compose.groups(result.new, cameras.default())
    assert [(g[0].instrument, len(g)) for g in groups] == [("MCZ_LEFT", 2), ("NAVCAM_LEFT", 3)]
    before = len(nasa_standin.feed_requests)
    idle = await poller.poll()
    assert idle.new == [] and len(nasa_standin.feed_requests) == before + 1  # one request when nothing is new


async def test_a_new_version_is_not_a_new_picture(poller, nasa_standin):
    await poller.poll()
    nasa_standin.records.append(make_record(1995, n=1, received=T0))
    assert len((await poller.poll()).new) == 1
    nasa_standin.records.append(make_record(1995, n=1, version=2, received=T0 + timedelta(hours=1)))
    assert (await poller.poll()).new == []


async def test_pages_until_it_reaches_what_it_knows(poller, nasa_standin):
    await poller.poll()
    nasa_standin.records += [make_record(1995, n=i, received=T0 + timedelta(seconds=i)) for i in range(230)]
    result = await poller.poll()
    assert len(result.new) == 230 and result.pages == 3


async def test_a_cycle_cut_short_loses_nothing(poller, nasa_standin):
    await poller.poll()
    nasa_standin.records += [make_record(1995, n=i, received=T0 + timedelta(seconds=i)) for i in range(150)]
    # page 0 arrives; page 1 fails on every try
    original = nasa_standin.answer

    def page1_down(q):
        if q.get("page") == "1":
            raise RuntimeError("boom")  # aiohttp answers 500
        return original(q)

    nasa_standin.answer = page1_down
    result = await poller.poll()
    assert result.error and len(result.new) == 100  # what page 0 brought is reported, not lost
    nasa_standin.answer = original
    rest = await poller.poll()
    assert len(rest.new) == 50 and not rest.error  # the gap is read on the next cycle
    assert {i.exposure_id for i in result.new}.isdisjoint(i.exposure_id for i in rest.new)
