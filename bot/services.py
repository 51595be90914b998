"""Builds the plain (Discord-free) parts of roverbot from a Config and closes them again.

Both the CLI and the Discord app get their objects here, so `roverbot preview` runs exactly the
code a slash command runs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import AsyncIterator, Callable

import httpx

from . import cameras
from .cameras import Catalogue
from .config import Config
from .gallery import Gallery
from .nasa import NasaClient, make_http_client
from .poller import ImagePoller
from .store import Store


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Services:
    config: Config
    clock: Callable[[], datetime]
    catalogue: Catalogue
    store: Store
    http: httpx.AsyncClient
    nasa: NasaClient
    gallery: Gallery
    poller: ImagePoller


@contextlib.asynccontextmanager
async def build(config: Config, clock: Callable[[], datetime] = system_clock) -> AsyncIterator[Services]:
    catalogue = cameras.default()
    store = Store.open(config.database, catalogue)
    http = make_http_client(config.user_agent, config.timeout_seconds)
    try:
        nasa = NasaClient(http, config.nasa_base_url, retries=config.retries)
        yield Services(
            config=config,
            clock=clock,
            catalogue=catalogue,
            store=store,
            http=http,
            nasa=nasa,
            gallery=Gallery(nasa, store, catalogue, clock=clock),
            poller=ImagePoller(nasa, store, clock=clock),
        )
    finally:
        await http.aclose()
        store.close()
