"""Builds the plain (Discord-free) parts of roverbot from a Config and closes them again.

Both the CLI and the Discord app get their objects here, so `roverbot preview` runs exactly the
code a slash command runs. This is the one place that knows every rover: each gets a gallery, a
poller, image and drive posting; every other module is handed the rover it serves.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator, Callable
from urllib.parse import urlsplit

import httpx

from bot.answers.drives import RoverMaps
from bot.answers.gallery import Gallery
from bot.answers.panoramas import Panoramas
from bot.answers.rover_choice import RoverChoice
from bot.config import Config
from bot.imagery.maker import ProductMaker
from bot.mars import rovers
from bot.mars.rovers import Rover
from bot.models import Shards
from bot.posting.automation import Automation
from bot.posting.delivery import Courier, Pacer, Sender
from bot.posting.digest import DigestMaker
from bot.posting.digest_posts import DigestPosts
from bot.posting.drive_posts import DrivePosts
from bot.posting.image_posts import ImagePosts
from bot.posting.membership import BURST, Membership
from bot.posting.news_posts import NewsPosts
from bot.posting.poller import ImagePoller
from bot.posting.upkeep import Upkeep
from bot.sources import parse
from bot.sources.feeds import feed_for
from bot.sources.nasa import NasaClient, make_http_client
from bot.sources.news import NewsReader
from bot.store import Store, is_postgres

COMMAND_BUDGET_SECONDS = 18.0  # NASA's part of a slash command's answer; the user hears back within 20 s


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Services:
    config: Config
    clock: Callable[[], datetime]
    store: Store
    http: httpx.AsyncClient
    nasa: NasaClient
    galleries: dict[str, Gallery]  # rover key -> what its commands read (budgeted for a command's patience)
    pollers: dict[str, ImagePoller]  # rover key -> its automatic image poll
    choice: RoverChoice
    news: NewsReader
    maker: DigestMaker
    products: ProductMaker | None = None
    panoramas: Panoramas | None = None  # the rover whose records carry camera models (Perseverance)
    rovermaps: RoverMaps | None = None  # one for the bot's lifetime: the parsed traverse and tile cache live here

    def gallery_for(self, rover: Rover) -> Gallery:
        return self.galleries[rover.key]

    def automation(self, sender: Sender, shards: Shards | None = None, *, name: str | None = None) -> Automation:
        """The automatic-post machinery, delivering through `sender` (Discord, or a test's), for the
        servers on `shards` (None: every server); `name`: the process's (default host:pid)."""
        cfg, s, clock = self.config, self.store, self.clock
        alone = not is_postgres(cfg.storage)  # SQLite: one process per file (bot/lock.py)
        upkeep = Upkeep(s.polls, s.outbox, s.state, s.retention, s.db, clock=clock,
                        keep=(cfg.retention_sent_days, cfg.retention_poll_days, cfg.retention_image_days))
        membership = Membership(s.cluster, s.outbox, clock=clock, shards=shards, global_rate=cfg.sends_per_second,
                                alone=alone, on_lead=None if alone else upkeep.take_over,
                                name=name, lease_seconds=cfg.lease_seconds, alive_within=cfg.lease_seconds)
        # a clustered process's bucket holds one send: the bursts of several must fit under the limit too
        pacer = Pacer(rate=membership.rate, burst=2 if alone else BURST)
        membership.on_rate = pacer.set_rate
        courier = Courier(s.outbox, s.subscriptions, s.channels, s.state, sender, clock=clock,
                          messages_per_hour=cfg.messages_per_hour, pacer=pacer,
                          admin_channel_id=cfg.admin_channel_id, owner=membership.name, serving=membership.serving)
        images = [ImagePosts(rovers.ROVERS[key], poller, s.images, s.frames, s.polls, s.subscriptions, s.outbox,
                             s.transaction, courier, clock=clock, poll_interval=cfg.poll_interval_minutes * 60.0,
                             group_wait=cfg.group_wait_minutes * 60.0,
                             products=self.products if rovers.ROVERS[key].panoramas else None,
                             place_of=self.rovermaps.place_of if self.rovermaps is not None and key == "perseverance" else None)
                  for key, poller in self.pollers.items()]
        news = NewsPosts(self.news, s.news, s.polls, s.state, s.subscriptions, s.outbox, s.transaction, courier,
                         clock=clock, interval=cfg.news_interval_minutes * 60.0)
        digests = DigestPosts(self.maker, s.images, s.frames, s.news, s.subscriptions, s.outbox, s.digests, s.transaction,
                              courier, clock=clock, products=self.products, rovermaps=self.rovermaps)
        drives = [DrivePosts(rover, self.rovermaps, s.polls, s.state, s.subscriptions, s.outbox, s.transaction, courier,
                             clock=clock, interval=cfg.drives_interval_minutes * 60.0)
                  for rover in rovers.ROVERS.values()] if self.rovermaps is not None else []
        return Automation(images, news, digests, drives, upkeep, courier, s.state, membership, alone=alone)


def picture_hosts(config: Config) -> tuple[str, ...]:
    """Where a picture in a post may point: NASA's own hosts and those the operator added."""
    return tuple(dict.fromkeys((*parse.IMAGE_HOSTS, *config.image_hosts)))


def allowed_hosts(config: Config) -> tuple[str, ...]:
    """Every host roverbot may talk to over HTTP, redirects included: NASA's feed, the picture hosts,
    the news feeds."""
    hosts = [urlsplit(config.nasa_base_url).netloc.lower(), *config.image_hosts]
    hosts += [urlsplit(f).netloc.lower() for f in config.news_feeds]
    hosts += [urlsplit(config.maps_base_url).netloc.lower(), *config.tile_hosts]  # NASA's map: layers, tiles, mosaics
    return tuple(dict.fromkeys(hosts))


def gallery(rover: Rover, nasa: NasaClient, store: Store, clock: Callable[[], datetime], config: Config,
            place_of: Callable[[str], str | None] | None = None) -> Gallery:
    """A rover's gallery for commands: NASA's part of an answer fits inside Discord's patience."""
    budgeted = nasa.with_budget(COMMAND_BUDGET_SECONDS)
    return Gallery(rover, feed_for(rover.feed, budgeted), store.images, store.frames, store.state, clock=clock,
                   hosts=picture_hosts(config), budget_seconds=COMMAND_BUDGET_SECONDS, place_of=place_of)


def poller(rover: Rover, nasa: NasaClient, store: Store, clock: Callable[[], datetime], config: Config) -> ImagePoller:
    """A rover's automatic poll (no command budget: a background poll may wait longer)."""
    return ImagePoller(feed_for(rover.feed, nasa), store.images, store.frames if rover.panoramas else None, store.polls,
                       store.state, mission=rover.mission, clock=clock, hosts=picture_hosts(config))


def assemble(config: Config, clock: Callable[[], datetime], store: Store, http: httpx.AsyncClient, nasa: NasaClient, *,
             rovermaps: RoverMaps | None, galleries: dict[str, Gallery] | None = None,
             pollers: dict[str, ImagePoller] | None = None) -> Services:
    """Every service over one store and one HTTP client (tests pass their own galleries and pollers)."""
    place_of = rovermaps.place_of if rovermaps is not None else None
    galleries = dict(galleries or {})
    pollers = dict(pollers or {})
    for rover in rovers.ROVERS.values():
        if rover.key not in galleries:
            galleries[rover.key] = gallery(rover, nasa, store, clock, config,
                                           place_of if rover is rovers.PERSEVERANCE else None)
        if rover.key not in pollers:
            pollers[rover.key] = poller(rover, nasa, store, clock, config)
    maker = ProductMaker(nasa, image_hosts=picture_hosts(config), max_image_bytes=config.max_image_bytes)
    with_products = [galleries[r.key] for r in rovers.ROVERS.values() if r.panoramas]
    return Services(
        config=config, clock=clock, store=store, http=http, nasa=nasa, galleries=galleries, pollers=pollers,
        choice=RoverChoice(store.state), news=NewsReader(http, config.news_feeds),
        maker=DigestMaker(nasa, image_hosts=picture_hosts(config), max_image_bytes=config.max_image_bytes, clock=clock),
        products=maker,
        panoramas=Panoramas(with_products[0], store.frames, maker, budget_seconds=COMMAND_BUDGET_SECONDS) if with_products else None,
        rovermaps=rovermaps)


@contextlib.asynccontextmanager
async def build(config: Config, clock: Callable[[], datetime] = system_clock, *,
                database: Path | str | None = None) -> AsyncIterator[Services]:
    """database: another place than config.database (":memory:" for commands that must not create one)."""
    store = Store.open(database or config.storage)
    http = make_http_client(config.user_agent, config.timeout_seconds, allowed_hosts(config))
    svc: Services | None = None
    try:
        nasa = NasaClient(http, config.nasa_base_url, retries=config.retries)
        svc = assemble(config, clock, store, http, nasa, rovermaps=RoverMaps(http, config, clock))
        yield svc
    finally:
        if svc is not None and svc.products is not None:
            svc.products.close()
        await http.aclose()
        store.close()
