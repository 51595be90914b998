"""Each rover's raw-image feed behind one interface: a page of a sol, or the newest pictures.

Perseverance's feed (`/rss/api/`, `images`, `num` ≤ 100) and Curiosity's (`/api/v1/raw_image_items/`,
`items`, `per_page`, `more`) differ in URL, parameters and shape; bot.sources.parse reads both pages. The
gallery only asks for pages: this is where the difference lives.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from bot.sources.nasa import PAGE_SIZE_MAX, NasaClient

MSL_FEED_PATH = "/api/v1/raw_image_items/"


class Feed(Protocol):
    page_size: int
    records_key: str  # where a page keeps its records: "images" (Perseverance), "items" (Curiosity)

    async def received_page(self, page: int, count: int) -> Any:
        """A page of every picture, the most recently received first (what a poll reads)."""

    async def sol_page(self, sol: int, page: int, instruments: Sequence[str]) -> Any: ...

    async def newest(self, instruments: Sequence[str], count: int) -> Any: ...


class M2020Feed:
    page_size = PAGE_SIZE_MAX
    records_key = "images"

    def __init__(self, nasa: NasaClient):
        self.nasa = nasa

    async def sol_page(self, sol: int, page: int, instruments: Sequence[str]) -> Any:
        return await self.nasa.raw_images(page=page, num=self.page_size, order="sol desc", instruments=tuple(instruments),
                                          sol_min=sol, sol_max=sol)

    async def newest(self, instruments: Sequence[str], count: int) -> Any:
        return await self.nasa.raw_images(page=0, num=count, order="sol desc", instruments=tuple(instruments))

    async def received_page(self, page: int, count: int) -> Any:
        return await self.nasa.raw_images(page=page, num=count, order="date_received desc")


class MslFeed:
    """Curiosity: `condition_1` scopes the mission; sol and camera filters go in condition_2 and up;
    thumbnails are left out server-side."""

    page_size = 100
    records_key = "items"

    def __init__(self, nasa: NasaClient):
        self.nasa = nasa

    def _params(self, page: int, per_page: int, conditions: list[str],
                order: str = "sol desc,instrument_sort asc,sample_type_sort asc, date_taken desc") -> list[tuple[str, str]]:
        params = [("order", order),
                  ("per_page", str(per_page)), ("page", str(page)), ("condition_1", "msl:mission"),
                  ("extended", "thumbnail::sample_type::noteq")]
        params += [(f"condition_{i}", c) for i, c in enumerate(conditions, start=2)]
        return params

    async def sol_page(self, sol: int, page: int, instruments: Sequence[str]) -> Any:
        conditions = [f"{sol}:sol:gte", f"{sol}:sol:lte"]
        if instruments:
            conditions.append(f"{','.join(instruments)}:instrument:in")
        return await self.nasa.get_json(MSL_FEED_PATH, self._params(page, self.page_size, conditions),
                                        "Curiosity's raw-image feed")

    async def newest(self, instruments: Sequence[str], count: int) -> Any:
        conditions = [f"{','.join(instruments)}:instrument:in"] if instruments else []
        return await self.nasa.get_json(MSL_FEED_PATH, self._params(0, count, conditions), "Curiosity's raw-image feed")

    async def received_page(self, page: int, count: int) -> Any:
        return await self.nasa.get_json(MSL_FEED_PATH, self._params(page, count, [], order="date_received desc"),
                                        "Curiosity's raw-image feed")


def feed_for(shape: str, nasa: NasaClient) -> Feed:
    """The feed adapter a rover's data names ("m2020", "msl")."""
    return {"m2020": M2020Feed, "msl": MslFeed}[shape](nasa)
