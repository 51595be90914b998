"""Panorama (Navcam and Mastcam-Z) and movie benchmarks on the synthetic scene stand-in.

Pictures are fetched over loopback HTTP as the bot would (medium renditions); only the assembly
is timed, in a fresh Python process whose peak RSS is the memory figure (it includes the
interpreter, numpy and Pillow themselves; the RSS at start is shown alongside). The peak of traced
numpy/Python allocations in this process is reported too. Full-resolution bytes are what the stand-in's PNG encoder makes
of one full-resolution frame of each camera, per pixel, times every frame's full-res pixel count.
"""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.imagery.frames import download_urls, frame_of  # noqa: E402
from bot.imagery.mosaic import DEG_PER_PX, assemble_panorama  # noqa: E402
from bot.imagery.movie import DISCORD_BOT_UPLOAD, frames_of, movie  # noqa: E402
from bot.imagery.products import recognise  # noqa: E402
from tests import scene_standin as ss  # noqa: E402

Row = tuple[str, str, str, bool]


def _measure(fn):
    """(result, seconds, peak MB of traced allocations) of fn() in this process."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        out = fn()
    finally:
        elapsed = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return out, elapsed, peak / 1e6


_CHILD = """
import pickle, sys, time
sys.path.insert(0, {root!r})
from bot.imagery.mosaic import assemble_panorama
from bot.imagery.movie import movie

def hwm():  # VmHWM, unlike ru_maxrss, starts afresh at exec instead of inheriting the parent's peak
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

kind, frames, images, arg = pickle.load(open({path!r}, "rb"))
base = hwm()
t0 = time.perf_counter()
if kind == "panorama":
    assemble_panorama(frames, images, deg_per_px=arg)
else:
    movie(frames, images, max_bytes=arg)
print(time.perf_counter() - t0, hwm(), base)
"""


def _in_child(tmp: Path, kind: str, frames, images, arg) -> tuple[float, float, float]:
    """(seconds, peak RSS MB, RSS MB before starting) of the same work in a fresh Python process:
    RSS counts what tracemalloc cannot see (Pillow's own buffers, the interpreter, numpy itself)."""
    path = tmp / f"{kind}.pickle"
    needed = {i: images[i] for f in frames for i in download_urls(f)}
    path.write_bytes(pickle.dumps((kind, frames, needed, arg)))
    code = _CHILD.format(root=str(Path(__file__).resolve().parent.parent), path=str(path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1]), float(out[2])


def _fetch(standin: ss.SceneStandIn) -> tuple[dict, dict[str, bytes], int]:
    with httpx.Client(timeout=120) as http:
        recs = http.get(standin.url + "/rss/api/").json()["images"]
        plans = {p.sequence: p for p in recognise([f for f in (frame_of(r) for r in recs) if f])}
        images, downloaded = {}, 0
        for plan in plans.values():
            for frame in plan.frames:
                for image_id, url in download_urls(frame).items():
                    images[image_id] = http.get(url).raise_for_status().content
                    downloaded += len(images[image_id])
    return plans, images, downloaded


def _full_res_estimate(standin: ss.SceneStandIn, frames) -> int:
    """PNG bytes per pixel of one rendered full-res frame × every frame's full-res pixels."""
    sample = frames[0]
    png = standin.picture(urlsplit(sample.url("full_res")).path)
    per_px = len(png) / (sample.dimension[0] * sample.dimension[1])
    return round(per_px * sum(f.dimension[0] * f.dimension[1] for f in frames))


def bench_panorama(tmp: Path) -> list[Row]:
    standin = ss.SceneStandIn().start()
    rows: list[Row] = []
    try:
        ss.navcam_pan(standin, [float(a) for a in range(0, 360, 30)], [-40.0, -10.0, 20.0], sequence="NCAM00600")
        ss.mastcamz_pan(standin, [120.0, 142.0, 164.0, 186.0, 208.0], 0.0, sequence="ZCAM08100")
        ss.navcam_movie(standin, 62.5, 3.0, 20, sequence="NCAM00528")
        t0 = time.perf_counter()
        plans, images, _ = _fetch(standin)
        prep = time.perf_counter() - t0
        assert not standin.full_res_requests()

        for seq, label, deg, limit_s in (("NCAM00600", "36-frame 360° Navcam pan", DEG_PER_PX, 10.0),
                                         ("ZCAM08100", "5-frame Mastcam-Z pan", 0.04, 10.0)):
            frames = list(plans[seq].frames)
            got = sum(len(images[i]) for f in frames for i in download_urls(f))
            full = _full_res_estimate(standin, frames)
            data, elapsed, peak = _measure(lambda: assemble_panorama(frames, images, deg_per_px=deg))
            child_s, rss, rss0 = _in_child(tmp, "panorama", frames, images, deg)
            (tmp / f"{seq}.jpg").write_bytes(data)
            size = Image.open(io.BytesIO(data)).size
            rows += [
                (f"{label}: frames", f"{len(frames)}", "", True),
                (f"{label}: assembly time (fresh process)", f"{child_s:.2f} s", "< 10 s", child_s < limit_s),
                (f"{label}: peak RSS of that process (at start)", f"{rss:.0f} MB ({rss0:.0f} MB)", "< 400 MB", rss < 400),
                (f"{label}: peak traced numpy/Python allocations", f"{peak:.0f} MB", "", True),
                (f"{label}: downloaded (medium) vs full_res (est.)", f"{got / 1e6:.2f} / {full / 1e6:.1f} MB ({got / full:.1%})",
                 "medium only", True),
                (f"{label}: output", f"{size[0]}x{size[1]} JPEG at {deg:g}°/px, {len(data) / 1e6:.2f} MB",
                 f"< {DISCORD_BOT_UPLOAD / 2**20:.0f} MiB", len(data) < DISCORD_BOT_UPLOAD),
            ]

        frames = list(plans["NCAM00528"].frames)
        (data, mime), elapsed, peak = _measure(lambda: movie(frames, images, max_bytes=DISCORD_BOT_UPLOAD))
        child_s, rss, rss0 = _in_child(tmp, "movie", frames, images, DISCORD_BOT_UPLOAD)
        played = len(frames_of(data))
        rows += [
            ("20-frame Navcam movie: frames played / given", f"{played} / {len(frames)}", "20 / 20", played == len(frames) == 20),
            ("20-frame Navcam movie: encode time (fresh process)", f"{child_s:.2f} s", "< 10 s", child_s < 10),
            ("20-frame Navcam movie: peak RSS of that process (at start)", f"{rss:.0f} MB ({rss0:.0f} MB)", "< 400 MB", rss < 400),
            ("20-frame Navcam movie: output", f"{mime}, {len(data) / 1e3:.0f} kB", f"< {DISCORD_BOT_UPLOAD / 2**20:.0f} MiB",
             len(data) < DISCORD_BOT_UPLOAD),
            ("stand-in: render + fetch 61 medium renditions", f"{prep:.1f} s", "", True),
        ]
    finally:
        standin.stop()
    return rows


if __name__ == "__main__":
    import tempfile

    from bench.run import print_table

    with tempfile.TemporaryDirectory() as d:
        print_table(bench_panorama(Path(d)))
