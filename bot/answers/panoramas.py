"""/panorama: the panoramas, 3D views and movies a sol's frames make, one at a time with paging."""

from __future__ import annotations

import asyncio
import logging

from bot import compose
from bot.imagery import maker as products
from bot.answers.gallery import Gallery
from bot.models import NasaUnavailable, NoImages, Post
from bot.imagery.maker import ProductMaker
from bot.store import Frames

log = logging.getLogger("roverbot.panoramas")


class Panoramas:
    """Products of one rover whose records carry camera models (Perseverance's do; Curiosity's feed
    gives no attitude to assemble with)."""

    def __init__(self, gallery: Gallery, frames: Frames, maker: ProductMaker, *, budget_seconds: float = 18.0):
        if not gallery.rover.panoramas:
            raise ValueError(f"{gallery.rover.name}'s feed carries no camera models to assemble products from")
        self.gallery = gallery
        self.frames = frames
        self.maker = maker
        self.catalogue = gallery.catalogue
        self.budget_seconds = budget_seconds

    def check(self, sol: int | None, camera: str | None) -> None:
        """Fast checks before deferring: a bad camera or sol is answered at once."""
        self.gallery.select(camera)
        if sol is not None:
            self.gallery.check_sol(sol)

    async def sol(self, sol: int | None = None, camera: str | None = None, index: int = 0) -> Post:
        selection = self.gallery.select(camera)
        if sol is None:
            sol = await self.gallery.latest_sol(selection)
        self.gallery.check_sol(sol)
        await self.gallery.ensure(sol, selection)
        plans = products.plans(self.frames.frame_records(sol, None, selection.codes))
        if not plans:
            cams = "" if not selection.codes else f"{selection.label} "
            raise NoImages(f"Sol {sol}'s {cams}pictures make no panorama, 3D pair or movie: those need a sequence "
                           "that turns the mast, a left and right pair, or one view repeated over time.")
        index = min(max(index, 0), len(plans) - 1)
        try:
            product = await asyncio.wait_for(self.maker.make(plans[index]), self.budget_seconds)
        except asyncio.TimeoutError:
            raise NasaUnavailable("Assembling that took too long (NASA is slow to send the frames). "
                                  "Try again in a minute: what has arrived is kept.") from None
        if product is None:
            raise NoImages(f"I couldn't assemble sol {sol}'s {products.LABEL[plans[index].kind]} (a frame is missing or"
                           f" unreadable). `/sol {sol}` shows the frames themselves.")
        return compose.products_post(sol, selection.label, selection.key, plans, index, product, self.catalogue)

    async def turn(self, custom_id: str) -> Post:
        sol, camera, index = compose.parse_product_id(custom_id)
        return await self.sol(sol, camera or None, index)
