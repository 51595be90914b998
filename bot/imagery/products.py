"""What a poll's frames can be made into: panoramas, stereo pairs and movies (camera-models.md §4).

Pure: frames in, plans out. A plan names its frames in the order they are to be assembled.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.imagery.frames import Frame, join_tiles

MIN_MOVIE_FRAMES = 3
MIN_PANORAMA_POINTINGS = 2


@dataclass(frozen=True)
class ProductPlan:
    kind: str  # "panorama" | "stereo" | "movie"
    camera: str  # instrument, e.g. NAVCAM_LEFT; for stereo the left eye's
    sequence: str
    sol: int
    frame_ids: tuple[str, ...]  # in assembly order; stereo: (left, right)
    frames: tuple[Frame, ...]  # the same frames (tiles already joined)


def _pointing(f: Frame) -> tuple | None:
    """Frames taken at one pointing: the same mast angles (to the feed's precision) and the same
    subframe. None when the angles are unknown ("UNK"): such a frame joins no panorama or movie."""
    if f.mast_az is None or f.mast_el is None:
        return None
    return (round(f.mast_az % 360.0, 2), round(f.mast_el, 2), f.subframe, f.scale)


def _clock(f: Frame) -> tuple:
    return (f.sclk if f.sclk is not None else float(f.exposure_clock), f.image_id)


def _newest(frames: list[Frame]) -> list[Frame]:
    """Thumbnails out; of several versions of one image id, the highest."""
    best: dict[str, Frame] = {}
    for f in frames:
        if f.thumbnail:
            continue
        if f.image_id not in best or f.version > best[f.image_id].version:
            best[f.image_id] = f
    return list(best.values())


def recognise(frames: list[Frame]) -> list[ProductPlan]:
    """Panoramas (one camera and sequence, several pointings), movies (one pointing, three or more
    exposures) and stereo pairs (left and right of one exposure) among `frames`.

    Tiles are joined first. A stereo pair is only proposed when its sequence made no panorama or
    movie: a stereo pan would otherwise become dozens of anaglyphs. When both eyes of a sequence
    form a panorama (or a movie), only the left eye's is proposed.
    """
    joined = join_tiles(_newest(frames))
    by_seq: dict[tuple, list[Frame]] = {}
    for f in joined:
        by_seq.setdefault((f.sol, f.camera, f.sequence, f.site, f.drive), []).append(f)
    plans: list[ProductPlan] = []
    claimed: set[tuple] = set()  # (sol, sequence, eye-less camera) already made into a panorama/movie
    for (sol, camera, sequence, _, _), group in sorted(by_seq.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1])):
        group.sort(key=_clock)
        pointings: dict[tuple, list[Frame]] = {}
        for f in group:
            key = _pointing(f)
            if key is not None:
                pointings.setdefault(key, []).append(f)
        family = (sol, sequence, camera[0])
        made = False
        if len(pointings) >= MIN_PANORAMA_POINTINGS:
            if family in claimed:
                continue  # the other eye of a panorama already proposed
            # one frame per pointing (the last taken), in the order they were taken
            members = sorted((fs[-1] for fs in pointings.values()), key=_clock)
            plans.append(_plan("panorama", members, sequence, sol))
            made = True
        for fs in pointings.values():
            if len(fs) >= MIN_MOVIE_FRAMES and family not in claimed:
                plans.append(_plan("movie", fs, sequence, sol))
                made = True
        if made:
            claimed.add(family)
    plans += _stereo(joined, claimed)
    return plans


def _stereo(frames: list[Frame], claimed: set[tuple]) -> list[ProductPlan]:
    eyes: dict[tuple, dict[str, Frame]] = {}
    for f in frames:
        if f.eye:
            eyes.setdefault((f.sol, f.camera[0], f.sequence, f.exposure_clock), {})[f.eye] = f
    out = []
    for (sol, cam, sequence, _), pair in sorted(eyes.items()):
        if "L" in pair and "R" in pair and (sol, sequence, cam) not in claimed:
            out.append(_plan("stereo", [pair["L"], pair["R"]], sequence, sol))
    return out


def _plan(kind: str, members: list[Frame], sequence: str, sol: int) -> ProductPlan:
    return ProductPlan(kind=kind, camera=members[0].instrument, sequence=sequence, sol=sol,
                       frame_ids=tuple(f.image_id for f in members), frames=tuple(members))
