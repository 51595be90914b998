"""Builds the plain (Discord-free) parts of roverbot from a Config and closes them again.

Both the CLI and the Discord app get their objects here, so `roverbot preview` runs exactly the
code a slash command runs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator, Callable

import httpx

from bot.mars import cameras, rovers
from bot.sources.feeds import M2020Feed, MslFeed
from bot.mars.cameras import Catalogue
from bot.config import Config
from bot.posting.automation import Automation
from bot.posting.delivery import Courier, Pacer, Sender
from bot.posting.digest import DigestMaker
from bot.answers.drives import PlacedGallery, RoverMaps
from bot.answers.gallery import Gallery
from bot.sources.news import NewsReader
from bot.sources.nasa import NasaClient, make_http_client
from bot.posting.poller import ImagePoller
from bot.answers.panoramas import Panoramas
from bot.imagery.maker import ProductMaker
from bot.store import Store


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
    news: NewsReader | None = None
    maker: DigestMaker | None = None
    products: ProductMaker | None = None
    panoramas: Panoramas | None = None
    rovermaps: RoverMaps | None = None  # one for the bot's lifetime: the parsed traverse and tile cache live here
    others: dict[str, Gallery] = field(default_factory=dict)  # galleries of the rovers besides Perseverance

    def gallery_for(self, rover: "rovers.Rover") -> Gallery:
        """The gallery of a rover (its feed, cameras, clock and milestones)."""
        if rover is rovers.PERSEVERANCE:
            return self.gallery
        if rover.key not in self.others:
            self.others[rover.key] = rover_gallery(rover, self.nasa, self.store, self.clock, self.config)
        return self.others[rover.key]

    def automation(self, sender: Sender) -> Automation:
        """The automatic-post machinery, delivering through `sender` (Discord, or a test's)."""
        courier = Courier(self.store, sender, clock=self.clock, messages_per_hour=self.config.messages_per_hour,
                          pacer=Pacer(rate=self.config.sends_per_second), admin_channel_id=self.config.admin_channel_id)
        return Automation(self.store, self.poller, self.news or NewsReader(self.http, self.config.news_feeds),
                          self.maker or make_digest_maker(self), courier, self.gallery, self.catalogue, clock=self.clock,
                          poll_interval=self.config.poll_interval_minutes * 60.0,
                          news_interval=self.config.news_interval_minutes * 60.0,
                          group_wait=self.config.group_wait_minutes * 60.0,
                          retention=(self.config.retention_sent_days, self.config.retention_poll_days,
                                     self.config.retention_image_days), products=self.products,
                          rovermaps=self.rovermaps, drives_interval=self.config.drives_interval_minutes * 60.0)


def make_digest_maker(svc: "Services") -> DigestMaker:
    return DigestMaker(svc.nasa, svc.catalogue, image_hosts=svc.config.image_hosts,
                       max_image_bytes=svc.config.max_image_bytes, clock=svc.clock)


COMMAND_BUDGET_SECONDS = 18.0  # NASA's part of a slash command's answer; the user hears back within 20 s


def picture_hosts(config: Config) -> tuple[str, ...]:
    """Where a picture in a post may point: NASA's own hosts and those the operator added."""
    from bot.sources import parse

    return tuple(dict.fromkeys((*parse.IMAGE_HOSTS, *config.image_hosts)))


def allowed_hosts(config: Config) -> tuple[str, ...]:
    """Every host roverbot may talk to over HTTP, redirects included: NASA's feed, the picture hosts,
    the news feeds."""
    from urllib.parse import urlsplit

    hosts = [urlsplit(config.nasa_base_url).netloc.lower(), *config.image_hosts]
    hosts += [urlsplit(f).netloc.lower() for f in config.news_feeds]
    hosts += [urlsplit(config.maps_base_url).netloc.lower(), *config.tile_hosts]  # NASA's map: layers, tiles, mosaics
    return tuple(dict.fromkeys(hosts))


def rover_gallery(rover: "rovers.Rover", nasa: NasaClient, store: Store, clock: Callable[[], datetime],
                  config: Config) -> Gallery:
    feed = MslFeed if rover.feed == "msl" else M2020Feed
    budgeted = nasa.with_budget(COMMAND_BUDGET_SECONDS)
    return Gallery(budgeted, store, rover.catalogue, clock=clock, mission=rover.mission, timeline=rover.timeline,
                   hosts=picture_hosts(config), budget_seconds=COMMAND_BUDGET_SECONDS, feed=feed(budgeted))


@contextlib.asynccontextmanager
async def build(config: Config, clock: Callable[[], datetime] = system_clock, *,
                database: Path | str | None = None) -> AsyncIterator[Services]:
    """database: another place than config.database (":memory:" for commands that must not create one)."""
    catalogue = cameras.default()
    store = Store.open(database or config.database, catalogue)
    http = make_http_client(config.user_agent, config.timeout_seconds, allowed_hosts(config))
    try:
        nasa = NasaClient(http, config.nasa_base_url, retries=config.retries)
        rovermaps = RoverMaps(http, config, clock)
        gallery = PlacedGallery(nasa.with_budget(COMMAND_BUDGET_SECONDS), store, catalogue, clock=clock,
                                hosts=picture_hosts(config), budget_seconds=COMMAND_BUDGET_SECONDS)
        gallery.places = rovermaps  # galleries say where a picture was taken, from the held localizations
        maker = ProductMaker(nasa, image_hosts=picture_hosts(config), max_image_bytes=config.max_image_bytes)
        yield Services(
            config=config,
            clock=clock,
            catalogue=catalogue,
            store=store,
            http=http,
            nasa=nasa,
            # A slash command answers within Discord's patience; background polls may wait longer.
            gallery=gallery,
            poller=ImagePoller(nasa, store, clock=clock, hosts=picture_hosts(config)),
            news=NewsReader(http, config.news_feeds),
            products=maker,
            panoramas=Panoramas(gallery, store, maker, catalogue, budget_seconds=COMMAND_BUDGET_SECONDS),
            rovermaps=rovermaps,
        )
    finally:
        maker.close()
        await http.aclose()
        store.close()
