from __future__ import annotations

import asyncio
import itertools
import os

from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.mars import cameras
from bot.sources import parse
from bot.config import Config
from bot.answers.gallery import Gallery
from bot.mars import rovers
from bot.sources.feeds import feed_for
from bot.sources.nasa import NasaClient, make_http_client
from bot.posting.poller import ImagePoller
from bot.store import Store
from tests.discord_standin import DiscordStandIn
from tests.nasa_standin import NasaStandIn, fixture_records

FIXTURES = Path(__file__).parent / "fixtures"
# A moment when sol 1994 (the newest recorded sol) is recent: 2026-10-01.
NOW = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def nasa_standin():
    standin = NasaStandIn(records=fixture_records()).start()
    yield standin
    standin.stop()


@pytest.fixture
def catalogue():
    return cameras.default()


# The suite runs on both storage backends: SQLite (a real file) and PostgreSQL (a real server
# started once per run, a fresh database per test). ROVERBOT_TEST_BACKENDS=sqlite narrows a local run.
BACKENDS = [b for b in os.environ.get("ROVERBOT_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]


@pytest.fixture(scope="session")
def pg_server():
    from tests.pgserver import PgServer, find_bindir

    if find_bindir() is None:
        pytest.fail("no PostgreSQL server binaries: install Debian's postgresql package (.ci/run does), "
                    "or run with ROVERBOT_TEST_BACKENDS=sqlite")
    with PgServer() as server:
        yield server


_databases = itertools.count()


@pytest.fixture(params=BACKENDS)
def database(request, tmp_path):
    """Where this test's store lives: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield tmp_path / "roverbot.sqlite3"
        return
    marker = request.node.get_closest_marker("sqlite_only")
    if marker is not None:
        pytest.skip(f"SQLite only: {marker.args[0]}")
    server = request.getfixturevalue("pg_server")
    name = f"case_{os.getpid()}_{next(_databases)}"
    yield server.create_database(name)
    server.drop_database(name)  # each is a copy of the template: a whole run's would fill the disk


@pytest.fixture
def store(database):
    s = Store.open(database)
    yield s
    s.close()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
async def nasa(nasa_standin):
    http = make_http_client("roverbot-tests (contact: tests@example.org)", 5)
    client = NasaClient(http, nasa_standin.url, retries=2, backoff_seconds=0.01)
    yield client
    await http.aclose()


HOSTS = (*parse.IMAGE_HOSTS, "127.0.0.1")


def rover_gallery(rover, nasa, store, clock, **options) -> Gallery:
    return Gallery(rover, feed_for(rover.feed, nasa), store.images, store.frames, store.state, clock=clock, hosts=HOSTS,
                   **options)


def rover_poller(rover, nasa, store, clock) -> ImagePoller:
    return ImagePoller(feed_for(rover.feed, nasa), store.images, store.frames if rover.panoramas else None, store.polls,
                       store.state, mission=rover.mission, clock=clock, hosts=HOSTS)


@pytest.fixture
def gallery(nasa, store, clock):
    """Perseverance's gallery (the rover most tests are about)."""
    return rover_gallery(rovers.PERSEVERANCE, nasa, store, clock)


@pytest.fixture
def poller(nasa, store, clock):
    return rover_poller(rovers.PERSEVERANCE, nasa, store, clock)


@pytest.fixture
def discord_standin():
    standin = DiscordStandIn().start()
    yield standin
    standin.stop()


def _services(config, clock, catalogue, store, nasa, gallery, poller, rovermaps=None):
    """Services as services.build wires them, over the test's store and client, with Perseverance's
    gallery and poller the tests' own (Curiosity's are made alike)."""
    from bot import services

    curiosity = rovers.CURIOSITY
    return services.assemble(config, clock, store, nasa.http, nasa, rovermaps=rovermaps,
                             galleries={"perseverance": gallery,
                                        "curiosity": rover_gallery(curiosity, nasa, store, clock)},
                             pollers={"perseverance": poller, "curiosity": rover_poller(curiosity, nasa, store, clock)})


@pytest.fixture
async def bot(discord_standin, config, clock, catalogue, store, nasa, gallery, poller):
    """The real RoverBot, logged in over REST against the stand-in (cogs loaded, no gateway)."""
    from bot.chat import app
    from bot import services

    app.apply_endpoints({"DISCORD_API_BASE": discord_standin.api_base, "DISCORD_GATEWAY_URL": discord_standin.gateway_url})
    svc = _services(config, clock, catalogue, store, nasa, gallery, poller)
    rover = app.RoverBot(svc, guild_ready_timeout=0.1)
    await rover.login("test-token-not-a-secret")
    yield rover
    await rover.close()
    app.apply_endpoints({})


@pytest.fixture
async def connected_bot(discord_standin, config, clock, catalogue, store, nasa, gallery, poller):
    """The real RoverBot over the stand-in's gateway (READY, GUILD_CREATE: a full cache), no scheduler:
    tests drive the automation cycles themselves."""
    from bot.chat import app
    from bot import services

    app.apply_endpoints({"DISCORD_API_BASE": discord_standin.api_base, "DISCORD_GATEWAY_URL": discord_standin.gateway_url})
    svc = _services(config, clock, catalogue, store, nasa, gallery, poller)
    rover = app.RoverBot(svc, guild_ready_timeout=0.1)
    task = asyncio.create_task(rover.start("test-token-not-a-secret"))
    await asyncio.wait_for(rover.wait_until_ready(), 10)
    yield rover
    await rover.close()
    task.cancel()
    app.apply_endpoints({})


async def settle(timeout: float = 5.0) -> None:
    """Let gateway events already sent by the stand-in reach the client's cache."""
    await asyncio.sleep(0.2)


async def dispatch(rover, payload: dict, timeout: float = 10) -> None:
    """Hand a raw INTERACTION_CREATE to discord.py's own parser, as the gateway would, and wait until
    every task it started (command tree, views, dynamic items) has finished."""
    before = asyncio.all_tasks()
    rover._connection.parse_interaction_create(payload)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await asyncio.sleep(0)
        pending = {t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()}
        if not pending:
            return
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise TimeoutError(f"interaction still running: {pending}")
        await asyncio.wait(pending, timeout=left)


@pytest.fixture
def config(nasa_standin, tmp_path, database):
    url = database if isinstance(database, str) else ""
    # NASA's map too points at the stand-in: no test reaches mars.nasa.gov, even for a drive line
    return Config(nasa_base_url=nasa_standin.url, maps_base_url=nasa_standin.url, tile_hosts=("127.0.0.1",),
                  database=tmp_path / "roverbot.sqlite3", database_url=url, retries=0,
                  timeout_seconds=5, image_hosts=("127.0.0.1",), sends_per_second=500.0, group_wait_minutes=0)


# ---------------------------------------------------------------- the reliability table
# Tests marked @pytest.mark.fault(area, case, expected) are the fault suite. A whole-suite run with
# --write-reliability rewrites docs/reliability.md from their outcomes: the table is a product of
# the test run, never edited by hand, and a plain run leaves the checkout untouched.

RELIABILITY = Path(__file__).parent.parent / "docs" / "reliability.md"
_fault_results: dict[str, dict] = {}


def pytest_addoption(parser):
    parser.addoption("--write-reliability", action="store_true",
                     help="rewrite docs/reliability.md from this (whole-suite) run; a plain test run writes no tracked file")


def pytest_configure(config):
    config.addinivalue_line("markers", "fault(area, case, expected): a case of the fault suite (docs/reliability.md)")
    config.addinivalue_line("markers", "sqlite_only(why): a test of the SQLite file itself (size, WAL, file errors)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("fault")
    if marker is None:
        return
    area, case, expected = marker.args
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        case = f"{case} — {callspec.id}"
    entry = _fault_results.setdefault(item.nodeid, {"area": area, "case": case, "expected": expected, "outcome": "passed",
                                                   "seconds": 0.0})
    if report.when == "call":
        entry["seconds"] = report.duration
    if report.failed:
        entry["outcome"] = "FAILED"
    elif report.skipped and entry["outcome"] != "FAILED":
        entry["outcome"] = "skipped"


def _whole_suite(config) -> bool:
    opts = config.option
    if opts.keyword or opts.markexpr or getattr(opts, "lf", False) or getattr(opts, "deselect", None):
        return False
    tests_dir = Path(__file__).parent.resolve()
    return all(Path(a.split("::")[0]).resolve() in (tests_dir, tests_dir.parent) for a in config.args)


def pytest_sessionfinish(session, exitstatus):
    if not session.config.getoption("--write-reliability"):
        return  # a test run writes no tracked file; the table is rewritten on request only
    if not _fault_results or not _whole_suite(session.config):
        return  # a partial run (-k, one file) must not overwrite the table with a partial one
    rows = sorted(_fault_results.values(), key=lambda r: (r["area"], r["case"]))
    lines = [
        "# Reliability: the fault suite",
        "",
        "Generated by the test run (`tests/conftest.py`) from the tests marked `fault`; do not edit by hand.",
        "Each case runs offline against the NASA and Discord stand-ins and asserts that the bot keeps",
        "serving commands, loses no post and doubles none.",
        "",
        f"{sum(r['outcome'] == 'passed' for r in rows)} of {len(rows)} cases pass.",
        "",
        "| area | fault | what must hold | outcome | time |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r['area']} | {r['case']} | {r['expected']} | {r['outcome']} | {r['seconds']:.2f} s |" for r in rows]
    RELIABILITY.parent.mkdir(exist_ok=True)
    RELIABILITY.write_text("\n".join(lines) + "\n")
