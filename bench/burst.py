"""A realistic downlink burst, and what an hour's budget makes of it: today's grouping vs interest.

The burst has the feed's real shape (nasa-data-sources.md §1.3-1.4, camera-models.md §3-4): 596
records that parse into 324 exposures, because full-resolution Navcam frames come as 16 tiles,
some products are sent again as version 02, and science cameras send a thumbnail per frame. It
holds a 36-frame Navcam 360°, a 128-frame Mastcam-Z mosaic, Navcam movie strips (1280x256), WATSON,
SuperCam RMI, PIXL, ACI, SkyCam, Mastcam-Z narrow-band frames (grey), four CacheCam singles, four
one-frame Navcam sequences and 60 one-frame Hazcam sequences (some of them raw Bayer, EBY).

Both paths go through the real outbox and courier (bot/store.py, bot/delivery.py) with a 12-message
hourly budget, in a channel that has a digest, so whatever is not posted is held for it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.mars import cameras
from bot import compose  # noqa: E402
from bot.sources import parse  # noqa: E402
from bot.posting import interest
from bot.posting.delivery import Courier, Outgoing, Pacer  # noqa: E402
from bot.models import GroupKey, Payload, PostKey, RoverImage  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.nasa_standin import make_record  # noqa: E402

Row = tuple[str, str, str, bool]
SOL = 1995
NOW = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)  # sol 1995 is recent
BUDGET = 12
NAVCAM_360 = "NCAM00360"
MASTCAM_MOSAIC = "ZCAM08700"


# ------------------------------------------------------------------ records in the feed's shape


def with_id(record: dict, image_id: str) -> dict:
    """The record under another image id: the id, file names, links and json_link all change."""
    old = record["imageid"]
    return json.loads(json.dumps(record).replace(old, image_id))


def feed_record(instrument: str, n: int, sequence: str, *, sol: int = SOL, camera: str = "", product: str = "ECM",
                width: int = 1280, height: int = 960, pointing: tuple[float, float] | None = None, tile: int = 0,
                version: int = 1, thumbnail: bool = False, received: datetime | None = None) -> dict:
    """make_record() with what it leaves fixed set per camera: the id's camera letters and product
    type, `extended.dimension` and the mast angles (UNK for arm and body cameras)."""
    rec = make_record(sol, instrument, n=n, sequence=sequence, tile=tile, version=version,
                      sample_type="Thumbnail" if thumbnail else "Full", received=received or NOW - timedelta(minutes=30))
    parts = rec["imageid"].split("_")
    if camera:
        parts[0] = camera
    parts[3] = parts[3][:3] + product
    rec = with_id(rec, "_".join(parts))
    rec["extended"]["dimension"] = f"({width},{height})"
    if pointing is None:
        rec["extended"]["mastAz"] = rec["extended"]["mastEl"] = "UNK"
    else:
        rec["extended"]["mastAz"], rec["extended"]["mastEl"] = f"{pointing[0]:.4f}", f"{pointing[1]:.4f}"
    return rec


def edl_record(instrument: str, n: int, *, sol: int = 0) -> dict:
    """An EDL frame: its id has no tile field and no sequence (ESF_0000_…_EDLC00000_0000LUJ)."""
    rec = feed_record(instrument, n, "EDLC00000", sol=sol, width=1280, height=720)
    parts = rec["imageid"].split("_")
    return with_id(rec, "_".join(["ESF", *parts[1:4], parts[4], "0000LUJ"]))


def realistic_burst() -> list[dict]:
    """596 feed records of one downlink: 324 exposures in 78 of today's groups."""
    out: list[dict] = []
    n = 0

    def add(instrument: str, sequence: str, frames: int, **kw) -> None:
        nonlocal n
        aim = kw.pop("aim", None)
        extra_versions = kw.pop("v2", False)
        thumbs = kw.pop("thumbs", False)
        tiles = kw.pop("tiles", 0)
        for i in range(frames):
            pointing = aim(i) if aim else None
            if tiles:
                out.extend(feed_record(instrument, n, sequence, pointing=pointing, tile=t, **kw) for t in range(1, tiles + 1))
            else:
                out.append(feed_record(instrument, n, sequence, pointing=pointing, **kw))
            if extra_versions:
                out.append(feed_record(instrument, n, sequence, pointing=pointing, version=2, **kw))
            if thumbs:
                out.append(feed_record(instrument, n, sequence, pointing=pointing, thumbnail=True,
                                       **{**kw, "width": 160, "height": 120}))
            n += 1

    # The Navcam 360°: 36 frames 10° apart, each sent again as version 02.
    add("NAVCAM_LEFT", NAVCAM_360, 36, aim=lambda i: (i * 10.0, -8.0), v2=True)
    # The Mastcam-Z mosaic: 32 pointings x 2 exposures per eye, filter 0 (colour), with thumbnails.
    for eye, code in (("ZL0", "MCZ_LEFT"), ("ZR0", "MCZ_RIGHT")):
        add(code, MASTCAM_MOSAIC, 64, camera=eye, width=1648, height=1200, thumbs=True,
            aim=lambda i: (40.0 + (i // 2) * 2.5, -12.0 + (i % 2) * 6))
    # Mastcam-Z narrow-band geology: two 3-frame sequences through filters 4 and 5 (grey).
    add("MCZ_LEFT", "ZCAM08701", 3, camera="ZL4", width=1648, height=1200, aim=lambda i: (71.0, -20.0))
    add("MCZ_RIGHT", "ZCAM08702", 3, camera="ZR5", width=1648, height=1200, aim=lambda i: (71.0, -20.0))
    add("SHERLOC_ACI", "SRLC00850", 5, camera="SCF", width=1648, height=1200, thumbs=True)
    add("SHERLOC_WATSON", "SRLC00851", 37, camera="SIF", width=1648, height=1200, thumbs=True)
    add("SUPERCAM_RMI", "SCAM04400", 20, width=2048, height=2048, aim=lambda i: (95.0, -15.0))
    add("PIXL_MCC", "PIXL00300", 12, width=1584, height=1184)
    add("SKYCAM", "WSCM00100", 2, width=1024, height=1024, v2=True)
    # A Navcam movie: ten 1280x256 strips at one pointing (like NCAM00528 on sol 1994).
    add("NAVCAM_LEFT", "NCAM00528", 10, width=1280, height=256, aim=lambda i: (34.3, 6.3))
    # Four one-frame Navcam sequences at full resolution: 16 tiles each.
    for k in range(4):
        add("NAVCAM_RIGHT", f"NCAM0061{k}", 1, tiles=16, aim=lambda i, k=k: (150.0 + 30 * k, -30.0))
    for k in range(4):
        add("CACHECAM", f"CACH0010{k}", 1, v2=True)
    hazcams = ("FRONT_HAZCAM_LEFT_A", "FRONT_HAZCAM_RIGHT_A", "REAR_HAZCAM_LEFT", "REAR_HAZCAM_RIGHT")
    for k in range(60):
        code = hazcams[k % 4]
        add(code, f"{'FHAZ' if code.startswith('FRONT') else 'RHAZ'}{2000 + k:05d}", 1,
            product="EBY" if k % 6 == 0 else "ECM")
    return out


# ------------------------------------------------------------------ the two paths


def today(images: Sequence[RoverImage], catalogue: cameras.Catalogue) -> list[interest.Group]:
    """What automation does now: one group per (sol, family, sequence), in compose.groups order."""
    return interest.as_groups(compose.groups(images, catalogue), catalogue)


def ranked(images: Sequence[RoverImage], context: interest.Context) -> list[interest.Group]:
    """Roll small engineering groups up, then most interesting first."""
    groups = interest.roll_up(today(images, context.catalogue), context.catalogue)
    return [r.group for r in interest.rank(groups, context)]


class _Discord:
    """Stands in for Discord: accepts every message."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def send(self, message: Outgoing) -> int:
        self.sent.append(message)
        return len(self.sent)

    async def missing_permissions(self, channel_id: int) -> list[str]:
        return []

    def alert_channel(self, guild_id: int) -> int | None:
        return None


@dataclass
class Hour:
    sent: list[Payload]  # payloads posted
    held: list[Payload]  # payloads held for the digest


async def deliver(path: Path, groups: Sequence[interest.Group], budget: int = BUDGET) -> Hour:
    """Queue the groups in order in a channel with a digest, as automation does, and pump the
    courier once: what goes out in the hour and what waits for the digest."""
    from bot.posting.outbound import payload_of

    catalogue = cameras.default()
    store = Store.open(path)
    try:
        guild, channel = 1, 10
        store.subscriptions.subscribe(guild, channel, "images", mission="mars2020", at=NOW.timestamp() - 86400)
        store.subscriptions.subscribe(guild, channel, "digest", mission="mars2020", at=NOW.timestamp() - 86400)
        with store.transaction():
            for g in groups:
                post = compose.image_group(list(g.images), catalogue)
                payload = payload_of(post, store.outbox, summary_label=catalogue.family_label(g.family), count=len(g.images),
                                     exposures=tuple(i.exposure_id for i in g.images))
                group = GroupKey.parse(g.key)
                store.outbox.enqueue(PostKey.images(channel, 1, group), guild, payload, NOW.timestamp(), group=group)
        courier = Courier(store.outbox, store.subscriptions, store.channels, store.state, _Discord(), clock=lambda: NOW, messages_per_hour=budget, pacer=Pacer(rate=1e9, burst=1000))
        await courier.pump()
        return Hour(sent=[e.payload for e in store.outbox.entries(channel_id=channel, status="sent")],
                    held=[e.payload for e in store.outbox.entries(channel_id=channel, status="held")])
    finally:
        store.close()


def _has(payloads: Sequence[Payload], images: dict[str, RoverImage], sequence: str) -> bool:
    return any(images[x].sequence == sequence for p in payloads for x in p.exposures)


def bench_burst(tmp: Path) -> list[Row]:
    records = realistic_burst()
    catalogue = cameras.default()
    page = parse.page({"images": records})
    images = page.images
    by_id = {i.exposure_id: i for i in images}
    context = interest.Context(now=NOW, extents=interest.extents_of(records), catalogue=catalogue,
                               last_posted={"navcam": NOW - timedelta(hours=5), "hazcam": NOW - timedelta(hours=5)})
    old = today(images, catalogue)
    t0 = time.perf_counter()
    new = ranked(images, context)
    rank_ms = (time.perf_counter() - t0) * 1000
    old_hour = asyncio.run(deliver(tmp / "burst-today.sqlite3", old))
    new_hour = asyncio.run(deliver(tmp / "burst-ranked.sqlite3", new))
    hazcam_singles = sum(1 for g in old if g.family == "hazcam" and len(g.images) == 1)

    def pictures(payloads: Sequence[Payload]) -> int:
        return sum(len(p.exposures) for p in payloads)

    def per_message(h: Hour) -> str:
        return f"{len(h.sent)} messages, {pictures(h.sent)} pictures ({pictures(h.sent) / max(1, len(h.sent)):.1f}/message)"

    reached = {x for p in new_hour.sent + new_hour.held for x in p.exposures}
    both_old = (_has(old_hour.sent, by_id, NAVCAM_360), _has(old_hour.sent, by_id, MASTCAM_MOSAIC))
    both_new = (_has(new_hour.sent, by_id, NAVCAM_360), _has(new_hour.sent, by_id, MASTCAM_MOSAIC))
    yn = lambda b: "yes" if b else "no"  # noqa: E731
    return [
        ("burst: feed records -> exposures", f"{len(records)} -> {len(images)}", "596 -> 324",
         (len(records), len(images)) == (596, 324)),
        ("burst today: groups (sol, family, sequence)", f"{len(old)} ({hazcam_singles} one-frame Hazcam)", "", True),
        ("burst today: the hour at 12/hour", per_message(old_hour), "", True),
        ("burst today: Navcam 360° / Mastcam-Z 128 posted", f"{yn(both_old[0])} / {yn(both_old[1])}", "", True),
        ("burst today: groups held for the digest", f"{len(old_hour.held)} ({pictures(old_hour.held)} pictures)", "", True),
        ("burst ranked: groups after roll-up", f"{len(new)}", "", True),
        ("burst ranked: the hour at 12/hour", per_message(new_hour), "<= 12 messages", len(new_hour.sent) <= BUDGET),
        ("burst ranked: Navcam 360° / Mastcam-Z 128 posted", f"{yn(both_new[0])} / {yn(both_new[1])}", "yes / yes",
         all(both_new)),
        ("burst ranked: groups held for the digest", f"{len(new_hour.held)} ({pictures(new_hour.held)} pictures)", "", True),
        ("burst ranked: pictures posted or held (none dropped)", f"{len(reached)}/{len(images)}", "all",
         reached == set(by_id)),
        ("burst ranked: roll-up + rank time", f"{rank_ms:.1f} ms", "", True),
    ]


if __name__ == "__main__":
    import tempfile

    from bench.run import print_table

    with tempfile.TemporaryDirectory() as tmp:
        print_table(bench_burst(Path(tmp)))
