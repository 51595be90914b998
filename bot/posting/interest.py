"""Which new pictures are worth a message: interest scores, roll-ups and contact-sheet frames.

A channel's hourly budget (bot/delivery.py) cannot post a whole downlink; whatever it cannot post
is held for the digest. This module decides the order, so the budget goes to the best pictures:
panoramas and long sequences, the science cameras, colour, full frames, and cameras not seen in a
while. Small engineering groups (a Hazcam frame, a CacheCam frame) are rolled up into one group per
sol and camera family instead of one message each.

Pure: plain values in, plain values out; no I/O, no store, no discord.

Where the facts come from (see shared/docs/nasa-data-sources.md §1.3-1.5 and camera-models.md §3-4):
- family, sequence and frames: the image id and `camera.instrument` (already on RoverImage);
- size and pointing: the record's `extended.dimension` and `mastAz`/`mastEl`, which RoverImage does
  not carry yet; `extent_of(record)` reads them and callers pass them in by exposure id;
- colour: see `colour_of` for the rule and its sources.
"""

from __future__ import annotations

import heapq
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence

from bot.mars import cameras
from bot.mars.cameras import Catalogue
from bot.models import RoverImage
from bot.sources.parse import exposure_of

# ------------------------------------------------------------------ the weights

# What a camera is worth on its own. The science cameras are why people follow the rover; the EDL
# cameras filmed the landing and exist for sol 0 only; Hazcam and CacheCam frames are engineering
# checks (wheel placement, a tube's contents) that matter mostly as part of the day's record.
CAMERA_WEIGHT: dict[str, float] = {
    "edl": 4.0,
    "heli": 3.0,
    "mastcam": 3.0,
    "supercam": 2.5,
    "watson": 2.5,
    "aci": 1.5,
    "pixl": 1.0,
    "skycam": 1.0,
    "navcam": 1.0,
    "hazcam": 0.0,
    "cachecam": 0.0,
}
OTHER_CAMERA = 0.5  # a camera the catalogue does not know yet: new, so not worthless

PANORAMA = 4.0  # several pointings of one camera and sequence: a mosaic or a 360°
PANORAMA_MIN_POINTINGS = 4
PER_DOUBLING = 1.0  # each doubling of a sequence's frames: 2 frames +1, 36 frames +5.2, 128 frames +7
MAX_DOUBLINGS = 7.0
FIRST_IN_A_WHILE = 2.0  # full bonus when the family has not been posted here for A_WHILE (or ever)
A_WHILE = timedelta(days=3)  # about three sols: the gap after which a camera is "back"
COLOUR = 2.0  # times the share of colour frames; a frame of unknown colour counts half
FULL_FRAME = 1.5  # times the share of full frames (not strips, not thumbnails)

# A full frame is at least this big on its short side, and no more elongated than this. Navcam
# movie strips are 1280x256 (aspect 5); thumbnails are a few hundred pixels at most.
FULL_MIN_SIDE = 480
FULL_MAX_ASPECT = 2.0

# Engineering cameras (nasa-data-sources.md §1.5, "Group" column) whose small groups are rolled up.
ENGINEERING = frozenset({"navcam", "hazcam", "cachecam"})
ROLL_UP_MAX_FRAMES = 2  # a group this small is a check shot, not a sequence worth its own message
ROLL_UP = "also"  # the sequence part of a roll-up's key: "1995:hazcam:also"


# ------------------------------------------------------------------ colour


# Sensor colour per instrument code; missing codes are unknown (None).
# - Navcam and Hazcam: colour (Bayer) detectors (Maki et al. 2020, Space Sci. Rev. 216:137).
# - Mastcam-Z: colour through filter 0 only; see _MCZ_FILTER below.
# - WATSON, SuperCam RMI: colour detectors (Bhartia et al. 2021, Space Sci. Rev. 217:58; Maurice
#   et al. 2021, Space Sci. Rev. 217:47).
# - ACI, PIXL MCC, SkyCam, LCAM, Ingenuity's nav camera: greyscale (Bhartia 2021; Allwood et al.
#   2020, Space Sci. Rev. 216:134; the MEDA SkyCam is a monochrome engineering-camera build; LCAM
#   and HELI_NAV "640x480 mono" per nasa-data-sources.md §1.5).
# - The EDL cameras DDCAM, RUCAM, RDCAM, PUCAM1/2 and Ingenuity's RTE camera: colour.
# - CacheCam: not settled in our sources, so unknown.
SENSOR_COLOUR: dict[str, bool] = {
    "NAVCAM_LEFT": True, "NAVCAM_RIGHT": True,
    "FRONT_HAZCAM_LEFT_A": True, "FRONT_HAZCAM_LEFT_B": True, "FRONT_HAZCAM_RIGHT_A": True,
    "FRONT_HAZCAM_RIGHT_B": True, "REAR_HAZCAM_LEFT": True, "REAR_HAZCAM_RIGHT": True,
    "MCZ_LEFT": True, "MCZ_RIGHT": True,
    "SHERLOC_WATSON": True, "SUPERCAM_RMI": True,
    "SHERLOC_ACI": False, "PIXL_MCC": False, "SKYCAM": False, "LCAM": False, "HELI_NAV": False,
    "EDL_DDCAM": True, "EDL_RUCAM": True, "EDL_RDCAM": True, "EDL_PUCAM1": True, "EDL_PUCAM2": True,
    "HELI_RTE": True,
}
# Mastcam-Z ids carry the filter in their third character (ZL0, ZR6: mastcamz.asu.edu file naming).
# Only filter 0 (the RGB Bayer filter with the IR cut) is sent demosaicked into colour; filters 1-7
# are narrow bands sent as one band (Bell et al. 2021, Space Sci. Rev. 217:24, Table 6).
_MCZ_FILTER = re.compile(r"^Z[LR](\d)_")
# EBY: the sensor's Bayer mosaic as read out, one band, so it shows grey with a fine checker.
# The feed carries it next to ECM products of the same exposure (sol 367 in
# shared/fixtures/marsphotos_perseverance_sol0367.json: NLF_…_098EBY and NLE_…_098ECM tiles).
# ECM itself only says "original product, possibly companded" (PDS Analyst's Notebook product-type
# list, from the Mars 2020 Camera SIS), so it defers to the sensor.
_BAYER_MOSAIC = "EBY"


def product_type(image_id: str) -> str:
    """The three-letter product type of a Mars 2020 id (`…_380ECM_…` -> "ECM"), "" if not that shape."""
    parts = image_id.split("_")
    return parts[3][-3:] if len(parts) >= 5 and len(parts[3]) >= 6 and parts[3][:3].isdigit() else ""


def colour_of(img: RoverImage) -> bool | None:
    """True for a colour picture, False for grey, None when we cannot tell."""
    if product_type(img.image_id) == _BAYER_MOSAIC:
        return False
    m = _MCZ_FILTER.match(img.image_id)
    if m:
        return m[1] == "0"
    return SENSOR_COLOUR.get(img.instrument)


def is_thumbnail(image_id: str) -> bool:
    """The id's thumbnail flag: the letter after the product type (`…ECM_T0910970…`), camera-models.md §4."""
    parts = image_id.split("_")
    return len(parts) >= 5 and product_type(image_id) != "" and parts[4][:1] == "T"


# ------------------------------------------------------------------ size and pointing


@dataclass(frozen=True, slots=True)
class Extent:
    """What a record says of a frame's size and aim (not on RoverImage yet)."""

    width: int = 0  # 0 = unknown
    height: int = 0
    pointing: tuple[float, float] | None = None  # (mastAz, mastEl) to 0.1°, None when UNK


_PAIR = re.compile(r"\(\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\)")


def extent_of(record: Mapping[str, Any]) -> Extent:
    """`extended.dimension` "(1280,960)" and `mastAz`/`mastEl` of a feed record (§1.3d); tolerant."""
    ext = record.get("extended")
    ext = ext if isinstance(ext, Mapping) else {}
    width = height = 0
    m = _PAIR.match(str(ext.get("dimension", "")))
    if m:
        width, height = int(float(m[1])), int(float(m[2]))
    pointing = None
    try:
        az, el = float(ext.get("mastAz")), float(ext.get("mastEl"))  # type: ignore[arg-type]
        if math.isfinite(az) and math.isfinite(el):
            pointing = (round(az % 360.0, 1), round(el, 1))
    except (TypeError, ValueError):
        pass  # "UNK" (arm and body cameras have no mast angles)
    return Extent(width, height, pointing)


def extents_of(records: Iterable[Mapping[str, Any]]) -> dict[str, Extent]:
    """Extent per exposure id from feed records (the first tile seen speaks for its exposure)."""
    out: dict[str, Extent] = {}
    for rec in records:
        image_id = rec.get("imageid")
        if isinstance(image_id, str) and image_id:
            out.setdefault(exposure_of(image_id)[0], extent_of(rec))
    return out


def is_full_frame(img: RoverImage, extent: Extent | None) -> bool:
    """Not a thumbnail and not a strip; a frame of unknown size is given the benefit of the doubt."""
    if is_thumbnail(img.image_id):
        return False
    if extent is None or not extent.width or not extent.height:
        return True
    short, long = sorted((extent.width, extent.height))
    return short >= FULL_MIN_SIDE and long / short <= FULL_MAX_ASPECT


# ------------------------------------------------------------------ groups and their facts


@dataclass(frozen=True, slots=True)
class Group:
    """Pictures that go out as one message. `key` is the outbox group key automation uses
    ("sol:family:sequence-or-exposure"); a roll-up's is "sol:family:also"."""

    images: tuple[RoverImage, ...]
    key: str
    family: str
    rolled_up: int = 0  # how many small groups a roll-up stands for; 0 for an ordinary group

    @property
    def sol(self) -> int:
        return self.images[0].sol


@dataclass(frozen=True, slots=True)
class GroupFacts:
    family: str
    sequence: str
    frames: int  # exposures in the group
    sequence_frames: int  # exposures in its longest sequence (a roll-up's are its singles: 1 or 2)
    pointings: int | None  # distinct mast pointings of the longest sequence, None when unknown
    colour_share: float  # colour frames count 1, unknown 0.5, grey 0
    full_frame_share: float
    rolled_up: int = 0


@dataclass(frozen=True)
class Context:
    """What interest depends on besides the pictures themselves."""

    now: datetime
    last_posted: Mapping[str, datetime] = field(default_factory=dict)  # family -> last post in this channel
    extents: Mapping[str, Extent] = field(default_factory=dict)  # exposure id -> size and pointing
    catalogue: Catalogue = field(default_factory=cameras.default)


def key_of(images: Sequence[RoverImage], catalogue: Catalogue) -> str:
    first = images[0]
    return f"{first.sol}:{catalogue.family_of(first.instrument)}:{first.sequence or first.exposure_id}"


def as_groups(lists: Iterable[Sequence[RoverImage]], catalogue: Catalogue) -> list[Group]:
    """compose.groups() output -> Group values."""
    return [Group(tuple(g), key_of(g, catalogue), catalogue.family_of(g[0].instrument)) for g in lists if g]


def facts(group: Group, context: Context) -> GroupFacts:
    images = group.images
    by_seq: dict[str, list[RoverImage]] = {}
    for img in images:
        # Ids without a sequence field (the EDL cameras') make one sequence per camera.
        by_seq.setdefault(img.sequence or img.instrument, []).append(img)
    seq, longest = max(by_seq.items(), key=lambda kv: len(kv[1]))
    aims = [context.extents[i.exposure_id].pointing for i in longest if i.exposure_id in context.extents]
    known = [a for a in aims if a is not None]
    colours = [colour_of(i) for i in images]
    return GroupFacts(
        family=group.family,
        sequence=seq,
        frames=len(images),
        sequence_frames=len(longest),
        pointings=len(set(known)) if known else None,
        colour_share=sum(1.0 if c else 0.5 if c is None else 0.0 for c in colours) / len(images),
        full_frame_share=sum(is_full_frame(i, context.extents.get(i.exposure_id)) for i in images) / len(images),
        rolled_up=group.rolled_up,
    )


def freshness(family: str, context: Context) -> float:
    """0 (posted just now) .. 1 (not posted for A_WHILE, or never)."""
    last = context.last_posted.get(family)
    if last is None:
        return 1.0
    return max(0.0, min(1.0, (context.now - last) / A_WHILE))


def _base(f: GroupFacts) -> tuple[float, list[str]]:
    """Everything but freshness, which changes as a ranking picks groups."""
    reasons: list[str] = []
    total = CAMERA_WEIGHT.get(f.family, OTHER_CAMERA)
    if total:
        reasons.append(f"{f.family} camera +{total:g}")
    if f.pointings is not None and f.pointings >= PANORAMA_MIN_POINTINGS:
        total += PANORAMA
        reasons.append(f"panorama of {f.pointings} pointings +{PANORAMA:g}")
    doublings = min(MAX_DOUBLINGS, math.log2(f.sequence_frames)) if f.sequence_frames > 1 else 0.0
    if doublings:
        total += PER_DOUBLING * doublings
        reasons.append(f"sequence of {f.sequence_frames} frames +{PER_DOUBLING * doublings:.1f}")
    if f.colour_share:
        total += COLOUR * f.colour_share
        reasons.append(f"colour {f.colour_share:.0%} +{COLOUR * f.colour_share:.1f}")
    if f.full_frame_share:
        total += FULL_FRAME * f.full_frame_share
        reasons.append(f"full frames {f.full_frame_share:.0%} +{FULL_FRAME * f.full_frame_share:.1f}")
    return total, reasons


def _fresh(family: str, context: Context) -> tuple[float, list[str]]:
    bonus = FIRST_IN_A_WHILE * freshness(family, context)
    return bonus, ([f"first {family} in a while +{bonus:.1f}"] if bonus else [])


def score_facts(f: GroupFacts, context: Context) -> tuple[float, list[str]]:
    base, reasons = _base(f)
    bonus, why = _fresh(f.family, context)
    return base + bonus, reasons + why


def score(group: Group | Sequence[RoverImage], context: Context) -> tuple[float, list[str]]:
    """How interesting a group is, and why (one reason per weight that counted)."""
    if not isinstance(group, Group):
        group = as_groups([group], context.catalogue)[0]
    return score_facts(facts(group, context), context)


@dataclass(frozen=True, slots=True)
class Ranked:
    group: Group
    score: float
    reasons: tuple[str, ...]


def rank(groups: Iterable[Group | Sequence[RoverImage]], context: Context) -> list[Ranked]:
    """Most interesting first. Greedy: once a family is picked it counts as just posted, so the
    first-in-a-while bonus goes to one group per family and the next camera gets its turn."""
    scored: list[tuple[Group, float, list[str]]] = []
    for g in groups:
        if not isinstance(g, Group):
            g = as_groups([g], context.catalogue)[0]
        base, reasons = _base(facts(g, context))
        scored.append((g, base, reasons))
    # A family's bonus only ever drops (to nothing, once it is picked), so a heap with lazy
    # re-scoring gives the greedy order in O(n log n). Ties: the bigger group, then the earlier.
    heap = [(-(base + _fresh(g.family, context)[0]), -len(g.images), i, True) for i, (g, base, _) in enumerate(scored)]
    heapq.heapify(heap)
    picked_families: set[str] = set()
    out: list[Ranked] = []
    while heap:
        neg, size, i, with_bonus = heapq.heappop(heap)
        g, base, reasons = scored[i]
        if with_bonus and g.family in picked_families:
            heapq.heappush(heap, (-base, size, i, False))
            continue
        why = _fresh(g.family, context)[1] if with_bonus else []
        out.append(Ranked(g, -neg, tuple(reasons + why)))
        picked_families.add(g.family)
    return out


def roll_up(groups: Iterable[Group | Sequence[RoverImage]], catalogue: Catalogue | None = None) -> list[Group]:
    """Small engineering groups of one sol and camera family -> one "also on sol N" group.

    A family with a single small group keeps it as it is: rolling up one group changes nothing but
    its title. Everything else passes through in its order; each roll-up takes the place of its
    family's first small group.
    """
    catalogue = catalogue or cameras.default()
    items = [g if isinstance(g, Group) else as_groups([g], catalogue)[0] for g in groups]
    small: dict[tuple[int, str], list[int]] = {}
    for i, g in enumerate(items):
        if g.family in ENGINEERING and not g.rolled_up and len(g.images) <= ROLL_UP_MAX_FRAMES:
            small.setdefault((g.sol, g.family), []).append(i)
    merged: dict[int, Group] = {}
    absorbed: set[int] = set()
    for (sol, family), idx in small.items():
        if len(idx) < 2:
            continue
        images = sorted((img for i in idx for img in items[i].images),
                        key=lambda im: (im.taken_utc.isoformat() if im.taken_utc else "", im.exposure_id))
        merged[idx[0]] = Group(tuple(images), f"{sol}:{family}:{ROLL_UP}", family, rolled_up=len(idx))
        absorbed.update(idx[1:])
    return [merged.get(i, g) for i, g in enumerate(items) if i not in absorbed]


def last_posted_by_family(sent: Iterable[tuple[str, float]]) -> dict[str, datetime]:
    """(outbox group key, sent_at) rows -> family -> last post time (UTC). Keys are "sol:family:…"."""
    out: dict[str, float] = {}
    for key, at in sent:
        parts = (key or "").split(":")
        if len(parts) >= 3 and at is not None:
            out[parts[1]] = max(out.get(parts[1], at), at)
    return {fam: datetime.fromtimestamp(at, tz=timezone.utc) for fam, at in out.items()}


# ------------------------------------------------------------------ contact sheet


def view_of(instrument: str) -> str:
    """The physical camera a frame comes from, with stereo eyes and A/B electronics merged
    (NAVCAM_LEFT and NAVCAM_RIGHT are one view; EDL_DDCAM and EDL_RUCAM are two)."""
    return re.sub(r"(_(LEFT|RIGHT))?(_[AB])?$", "", instrument)


def pick_frames(images: Sequence[RoverImage], n: int, context: Context) -> list[RoverImage]:
    """The n frames for a contact sheet, by the same interest as posts.

    Each sequence offers its best frame (colour, full frame, the middle of the sequence); sequences
    are scored as groups; then views take turns, best view first, so the sheet shows the variety of
    the day (on landing day: the parachute, the descent, the sky crane) and not twelve Hazcam frames.
    Second frames of a sequence come only once every sequence has given one.
    """
    if n <= 0 or not images:
        return []
    cat = context.catalogue
    seqs: dict[tuple[str, int, str], list[RoverImage]] = {}
    for img in images:
        # EDL ids have no sequence field; a camera's frames of one sol are then its "sequence".
        seqs.setdefault((view_of(img.instrument), img.sol, img.sequence), []).append(img)
    offers: list[tuple[float, str, list[RoverImage]]] = []
    for (view, _, _), frames in seqs.items():
        frames.sort(key=lambda i: (i.taken_utc.isoformat() if i.taken_utc else "", i.exposure_id))
        group = Group(tuple(frames), key_of(frames, cat), cat.family_of(frames[0].instrument))
        s, _ = score(group, context)
        mid = len(frames) // 2

        def frame_value(k: int, img: RoverImage) -> tuple:
            c = colour_of(img)
            return (c is True, c is None, is_full_frame(img, context.extents.get(img.exposure_id)), -abs(k - mid))

        ordered = [img for _, img in sorted(enumerate(frames), key=lambda p: frame_value(*p), reverse=True)]
        offers.append((s, view, ordered))
    offers.sort(key=lambda o: -o[0])
    by_view: dict[str, list[list[RoverImage]]] = {}
    for _, view, ordered in offers:
        by_view.setdefault(view, []).append(ordered)
    views = list(by_view)  # best view first: offers were sorted by score
    picked: list[RoverImage] = []
    depth = 0
    while len(picked) < n:
        progressed = False
        # First every sequence's best frame (view by view, in turns), then second frames, and so on.
        queues = {v: [o for o in by_view[v] if len(o) > depth] for v in views}
        while len(picked) < n and any(queues.values()):
            for v in views:
                if queues[v] and len(picked) < n:
                    picked.append(queues[v].pop(0)[depth])
                    progressed = True
        if not progressed:
            break
        depth += 1
    return picked
