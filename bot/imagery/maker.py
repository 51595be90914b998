"""Panoramas, stereo views and movies, assembled from a sequence's frames for posts and commands.

Recognition is plain (bot/imagery/products.py); this module fetches the renditions (medium, never
full resolution, from allowed hosts only), runs the assembly on one worker thread so the event loop
never waits and memory stays bounded (one product at a time, each capped in pixels and frames), and
remembers results, so a product many channels post is made once. A product that cannot be made
(missing frames, a bad model, a decode error) is logged once and the caller posts the plain group.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from dataclasses import dataclass
from typing import Iterable, Sequence

from bot.imagery import anaglyph, mosaic, movie
from bot.imagery.errors import ProductError
from bot.imagery.frames import Frame, download_urls, frame_of
from bot.imagery.products import ProductPlan, recognise
from bot.sources.nasa import NasaClient, NasaError

log = logging.getLogger("roverbot.products")

DISCORD_UPLOAD = 10 * 1024 * 1024  # a bot's upload limit without boosts
MAX_PANORAMA_PIXELS = 8_000_000
MAX_FRAMES = 72
KIND_ORDER = {"panorama": 0, "stereo": 1, "movie": 2}  # what people share most, first
LABEL = {"panorama": "panorama", "stereo": "3D view (red-cyan)", "movie": "movie"}


@dataclass(frozen=True)
class Product:
    kind: str
    sol: int
    camera: str
    sequence: str
    frames: int
    filename: str
    data: bytes
    mime: str

    @property
    def title(self) -> str:
        return f"{LABEL[self.kind].capitalize()} from {self.frames} frames"


def plan_key(plan: ProductPlan) -> str:
    return f"{plan.kind}:{plan.sol}:{plan.camera}:{plan.sequence}:{len(plan.frame_ids)}:{plan.frame_ids[-1]}"


def plans(records: Iterable[dict]) -> list[ProductPlan]:
    """Products a set of feed records makes, best first (panoramas, then 3D views, then movies;
    more frames first)."""
    frames = [f for f in map(frame_of, records) if f is not None]
    found = recognise(frames)
    return sorted(found, key=lambda p: (KIND_ORDER.get(p.kind, 9), -len(p.frame_ids), p.sequence))


class ProductMaker:
    def __init__(self, nasa: NasaClient, *, image_hosts: Sequence[str], max_image_bytes: int,
                 max_upload_bytes: int = DISCORD_UPLOAD, cache_size: int = 8):
        self.nasa = nasa
        self.image_hosts = tuple(image_hosts)
        self.max_image_bytes = max_image_bytes
        self.max_upload_bytes = max_upload_bytes
        # One worker: one assembly at a time, so a 36-frame pan (~130 MB peak) is the ceiling.
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="products")
        self._cache: dict[str, Product | None] = {}
        self._cache_size = cache_size
        self._locks: dict[str, asyncio.Lock] = {}
        self.made = 0
        self.bytes_downloaded = 0

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    async def make(self, plan: ProductPlan) -> Product | None:
        """The product of a plan, or None when it can't be made (logged once per plan)."""
        key = plan_key(plan)
        if key in self._cache:
            return self._cache[key]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # channels asking at once share one assembly
            if key in self._cache:
                return self._cache[key]
            try:
                images = await self._download(plan.frames)
                product = await asyncio.get_running_loop().run_in_executor(self._worker, self._assemble, plan, images)
                self.made += 1
            except (ProductError, NasaError) as e:
                log.warning("no %s for sol %d %s %s (plain post instead): %s", plan.kind, plan.sol, plan.camera,
                            plan.sequence, e)
                product = None
            self._cache[key] = product
            while len(self._cache) > self._cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._locks.pop(key, None)
            return product

    async def _download(self, frames: Sequence[Frame]) -> dict[str, bytes]:
        urls: dict[str, str] = {}
        for f in frames:
            urls.update(download_urls(f, "medium"))

        async def one(image_id: str, url: str) -> tuple[str, bytes]:
            data = await self.nasa.image(url, allowed_hosts=self.image_hosts, max_bytes=self.max_image_bytes)
            self.bytes_downloaded += len(data)
            return image_id, data

        sem = asyncio.Semaphore(6)  # a few at a time: polite to NASA, bounded memory

        async def limited(image_id: str, url: str) -> tuple[str, bytes]:
            async with sem:
                return await one(image_id, url)

        return dict(await asyncio.gather(*(limited(i, u) for i, u in urls.items())))

    def _assemble(self, plan: ProductPlan, images: dict[str, bytes]) -> Product:
        frames = list(plan.frames)
        name = f"sol{plan.sol}_{plan.sequence or plan.camera}".lower()
        if plan.kind == "panorama":
            data = mosaic.assemble_panorama(frames, images, max_pixels=MAX_PANORAMA_PIXELS, max_frames=MAX_FRAMES)
            filename, mime = f"{name}_panorama.jpg", "image/jpeg"
        elif plan.kind == "stereo":
            left, right = frames[0], frames[1]
            data = anaglyph.anaglyph(left, images, right, images)
            filename, mime = f"{name}_3d.jpg", "image/jpeg"
        elif plan.kind == "movie":
            data, mime = movie.movie(frames, images, max_bytes=self.max_upload_bytes, max_frames=MAX_FRAMES)
            ext = {"image/webp": "webp", "image/gif": "gif", "image/jpeg": "jpg"}.get(mime, "bin")
            filename = f"{name}_movie.{ext}"
        else:
            raise ProductError(f"unknown product kind {plan.kind!r}")
        if len(data) > self.max_upload_bytes:
            raise ProductError(f"{plan.kind} is {len(data):,} bytes, over Discord's upload limit")
        return Product(plan.kind, plan.sol, plan.camera, plan.sequence, len(plan.frame_ids), filename, data, mime)
