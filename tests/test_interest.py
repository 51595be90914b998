"""Interest: which groups of new pictures get the hour's messages, roll-ups, contact-sheet frames.

Pictures are built as feed records (bench/burst.py on tests/nasa_standin.make_record) and parsed by
the real parser, so ids, tiles, versions and thumbnails have the feed's shape.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bench.burst import (MASTCAM_MOSAIC, NAVCAM_360, deliver, edl_record, feed_record, ranked, realistic_burst)
from bot.mars import cameras
from bot import compose
from bot.posting import interest
from bot.sources import parse
from bot.posting.interest import Context, Extent

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)
CAT = cameras.default()


def parsed(records):
    return parse.page({"images": records}).images


def context_for(records, **kw) -> Context:
    return Context(now=NOW, extents=interest.extents_of(records), catalogue=CAT, **kw)


def frames(instrument, sequence, count, *, start=0, **kw):
    aim = kw.pop("aim", None)
    return [feed_record(instrument, start + i, sequence, pointing=aim(i) if aim else None, **kw) for i in range(count)]


def one_group(records):
    groups = interest.as_groups([parsed(records)], CAT)
    assert len(groups) == 1
    return groups[0]


# ------------------------------------------------------------------ the interest rules


def test_a_panorama_beats_a_hazcam_single():
    pano = frames("NAVCAM_LEFT", "NCAM00360", 36, aim=lambda i: (i * 10.0, -8.0))
    single = frames("FRONT_HAZCAM_LEFT_A", "FHAZ02000", 1, start=100)
    ctx = context_for(pano + single)
    order = interest.rank(interest.as_groups([parsed(pano), parsed(single)], CAT), ctx)
    assert [r.group.family for r in order] == ["navcam", "hazcam"]
    assert any("panorama of 36 pointings" in why for why in order[0].reasons)


def test_many_pointings_beat_one_pointing_of_the_same_length():
    pano = frames("NAVCAM_LEFT", "NCAM00360", 8, aim=lambda i: (i * 45.0, 0.0))
    movie = frames("NAVCAM_LEFT", "NCAM00528", 8, start=50, aim=lambda i: (34.3, 6.3))
    ctx = context_for(pano + movie)
    assert interest.score(one_group(pano), ctx)[0] > interest.score(one_group(movie), ctx)[0]


def test_science_camera_beats_an_engineering_camera():
    zcam = frames("MCZ_LEFT", "ZCAM08000", 3, camera="ZL0", width=1648, height=1200)
    cache = frames("CACHECAM", "CACH00100", 3, start=10)
    ctx = context_for(zcam + cache)
    assert interest.score(one_group(zcam), ctx)[0] > interest.score(one_group(cache), ctx)[0]


def test_colour_beats_grey():
    rgb = frames("MCZ_LEFT", "ZCAM08001", 3, camera="ZL0", width=1648, height=1200)
    narrow_band = frames("MCZ_LEFT", "ZCAM08002", 3, start=10, camera="ZL4", width=1648, height=1200)
    ctx = context_for(rgb + narrow_band)
    assert interest.score(one_group(rgb), ctx)[0] > interest.score(one_group(narrow_band), ctx)[0]
    debayered = frames("NAVCAM_LEFT", "NCAM00700", 1, product="ECM")
    bayer = frames("NAVCAM_LEFT", "NCAM00701", 1, start=20, product="EBY")
    assert interest.score(one_group(debayered), ctx)[0] > interest.score(one_group(bayer), ctx)[0]


def test_colour_rule_reads_the_id_and_the_camera():
    by_id = {img.instrument + img.image_id[:3]: interest.colour_of(img) for img in parsed(
        frames("MCZ_RIGHT", "ZCAM1", 1, camera="ZR0") + frames("MCZ_RIGHT", "ZCAM2", 1, start=1, camera="ZR6")
        + frames("FRONT_HAZCAM_LEFT_A", "FHAZ1", 1, start=2, product="EBY")
        + frames("REAR_HAZCAM_LEFT", "RHAZ1", 1, start=3, product="ECM")
        + frames("SHERLOC_ACI", "SRLC1", 1, start=4) + frames("CACHECAM", "CACH1", 1, start=5))}
    assert by_id == {"MCZ_RIGHTZR0": True, "MCZ_RIGHTZR6": False, "FRONT_HAZCAM_LEFT_AFLF": False,
                     "REAR_HAZCAM_LEFTRLF": True, "SHERLOC_ACIXXF": False, "CACHECAMCCF": None}


def test_first_in_a_while_beats_a_repeat():
    group = frames("SHERLOC_WATSON", "SRLC00851", 4, camera="SIF", width=1648, height=1200)
    g = one_group(group)
    recently = context_for(group, last_posted={"watson": NOW - timedelta(minutes=20)})
    long_ago = context_for(group, last_posted={"watson": NOW - timedelta(days=9)})
    assert interest.score(g, long_ago)[0] > interest.score(g, recently)[0]
    assert interest.score(g, long_ago)[0] == interest.score(g, context_for(group))[0]  # never posted = long ago


def test_rank_gives_the_turn_to_another_camera_once_one_is_picked():
    first = frames("NAVCAM_LEFT", "NCAM00800", 4, aim=lambda i: (10.0, 0.0))
    second = frames("NAVCAM_RIGHT", "NCAM00801", 4, start=10, aim=lambda i: (10.0, 0.0))
    pixl = frames("PIXL_MCC", "PIXL00300", 5, start=20)  # grey: alone it scores below either Navcam group
    ctx = context_for(first + second + pixl)
    groups = interest.as_groups([parsed(first), parsed(second), parsed(pixl)], CAT)
    assert interest.score(groups[2], ctx)[0] < interest.score(groups[1], ctx)[0]
    order = [r.group.key.split(":")[2] for r in interest.rank(groups, ctx)]
    # Once a Navcam group is picked, Navcam is no longer "first in a while": PIXL gets its turn.
    assert order == ["NCAM00800", "PIXL00300", "NCAM00801"]


def test_strips_and_thumbnails_lose_to_full_frames():
    full = frames("NAVCAM_LEFT", "NCAM00518", 6, aim=lambda i: (200.0, 20.0))
    strips = frames("NAVCAM_LEFT", "NCAM00528", 6, start=10, width=1280, height=256, aim=lambda i: (34.3, 6.3))
    ctx = context_for(full + strips)
    assert interest.score(one_group(full), ctx)[0] > interest.score(one_group(strips), ctx)[0]
    thumb = parsed([dict(feed_record("NAVCAM_LEFT", 30, "NCAM00900", thumbnail=True), sample_type="Full")])[0]
    assert not interest.is_full_frame(thumb, Extent(1280, 960))
    assert interest.is_full_frame(thumb._replace(image_id=thumb.image_id.replace("_T", "_N")), Extent(1280, 960))
    assert not interest.is_full_frame(thumb._replace(image_id=thumb.image_id.replace("_T", "_N")), Extent(160, 120))


def test_extent_reads_dimension_and_mast_angles():
    rec = feed_record("NAVCAM_LEFT", 1, "NCAM00528", width=1280, height=256, pointing=(-152.766, 24.283))
    assert interest.extent_of(rec) == Extent(1280, 256, (207.2, 24.3))
    assert interest.extent_of(feed_record("SHERLOC_WATSON", 2, "SRLC1")).pointing is None  # "UNK"
    assert interest.extent_of({"extended": "junk"}) == Extent()


# ------------------------------------------------------------------ roll-ups


def test_roll_up_makes_one_group_of_n_singles():
    hazcams = [feed_record(("FRONT_HAZCAM_LEFT_A", "REAR_HAZCAM_RIGHT")[k % 2], k, f"FHAZ{2000 + k:05d}") for k in range(60)]
    pano = frames("NAVCAM_LEFT", "NCAM00360", 36, start=100, aim=lambda i: (i * 10.0, -8.0))
    groups = interest.as_groups(compose.groups(parsed(hazcams + pano), CAT), CAT)
    assert len(groups) == 61
    rolled = interest.roll_up(groups, CAT)
    assert len(rolled) == 2
    haz = next(g for g in rolled if g.family == "hazcam")
    assert (haz.key, haz.rolled_up, len(haz.images)) == ("1995:hazcam:also", 60, 60)
    assert next(g for g in rolled if g.family == "navcam").rolled_up == 0


def test_roll_up_keeps_sols_apart_and_leaves_science_and_lone_singles_alone():
    sol_a = [feed_record("CACHECAM", k, f"CACH{k:05d}") for k in range(3)]
    sol_b = [feed_record("CACHECAM", 10 + k, f"CACH{10 + k:05d}", sol=1996) for k in range(2)]
    lone = [feed_record("FRONT_HAZCAM_LEFT_A", 20, "FHAZ09000")]
    science = [feed_record("SKYCAM", 30 + k, f"WSCM{k:05d}") for k in range(3)]
    lists = [[img] for img in parsed(sol_a + sol_b + lone + science)]
    rolled = interest.roll_up(interest.as_groups(lists, CAT), CAT)
    assert sorted((g.key, len(g.images)) for g in rolled if g.rolled_up) == [("1995:cachecam:also", 3), ("1996:cachecam:also", 2)]
    assert sorted(g.family for g in rolled if not g.rolled_up) == ["hazcam", "skycam", "skycam", "skycam"]


# ------------------------------------------------------------------ the realistic burst


async def test_the_realistic_burst_keeps_the_360_and_the_mastcam_sequence_within_12(tmp_path):
    records = realistic_burst()
    images = parsed(records)
    assert (len(records), len(images)) == (596, 324)
    ctx = context_for(records, last_posted={"navcam": NOW - timedelta(hours=2)})
    hour = await deliver(tmp_path / "burst.sqlite3", ranked(images, ctx), budget=12)
    seq = {i.exposure_id: i.sequence for i in images}
    posted_sequences = {seq[x] for p in hour.sent for x in p.exposures}
    assert len(hour.sent) <= 12
    assert {NAVCAM_360, MASTCAM_MOSAIC} <= posted_sequences
    assert len(hour.held) >= 1  # more groups than the budget: the rest waits for the digest ...
    reached = [x for p in hour.sent + hour.held for x in p.exposures]
    assert sorted(reached) == sorted(seq)  # ... and every picture is posted or held, once


# ------------------------------------------------------------------ contact sheet


def edl_day():
    """Sol 0 as the feed has it: parachute, LCAM, descent, sky crane, then the Hazcams on the ground."""
    out, n = [], 0
    for code, count in (("EDL_PUCAM1", 5), ("EDL_PUCAM2", 5), ("LCAM", 30), ("EDL_RDCAM", 60), ("EDL_DDCAM", 20),
                        ("EDL_RUCAM", 20)):
        for _ in range(count):
            out.append(edl_record(code, n))
            n += 1
    for k, code in enumerate(("FRONT_HAZCAM_LEFT_A", "FRONT_HAZCAM_RIGHT_A", "REAR_HAZCAM_LEFT", "REAR_HAZCAM_RIGHT") * 3):
        out.append(feed_record(code, n + k, f"FHAZ{k:05d}", sol=0))
    return out


def test_pick_frames_on_landing_day_includes_descent_and_sky_crane():
    records = edl_day()
    images = parsed(records)
    picked = interest.pick_frames(images, 12, context_for(records))
    cams = {i.instrument for i in picked}
    assert len(picked) == 12
    assert len({i.exposure_id for i in picked}) == 12
    assert {"EDL_RDCAM", "EDL_DDCAM", "EDL_RUCAM"} <= cams  # the descent and the sky crane
    assert picked[0].instrument == "EDL_RDCAM"  # the 60-frame descent movie leads
    assert sum(i.instrument.startswith(("EDL", "LCAM")) for i in picked) >= 5


def test_pick_frames_shows_the_best_sequences_first_and_one_frame_each():
    records = realistic_burst()
    images = parsed(records)
    picked = interest.pick_frames(images, 6, context_for(records))
    assert len(picked) == 6
    assert picked[0].sequence == MASTCAM_MOSAIC
    assert NAVCAM_360 in {i.sequence for i in picked}
    assert len({(interest.view_of(i.instrument), i.sequence) for i in picked}) == 6
    assert interest.pick_frames(images, 0, context_for(records)) == []


def test_last_posted_by_family_reads_outbox_group_keys():
    t = NOW.timestamp()
    got = interest.last_posted_by_family([("1995:navcam:NCAM1", t - 50), ("1996:navcam:also", t - 10),
                                          ("1995:mastcam:ZCAM1", t - 99), ("junk", t)])
    assert got == {"navcam": datetime.fromtimestamp(t - 10, tz=timezone.utc),
                   "mastcam": datetime.fromtimestamp(t - 99, tz=timezone.utc)}
