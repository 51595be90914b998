"""The `roverbot` command line: run, sync, preview, poll, digest, status.

Everything but `run` and `sync` works without a Discord token, so anyone can try the bot on real
NASA data in a minute. Errors end with one clear line on stderr and a non-zero exit, never a
traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from bot import compose, config as config_mod, logs, services
from bot.mars import marstime, rovers
from bot.posting.digest_posts import digest_for_date
from bot.lock import AlreadyRunning, DatabaseLock
from bot.models import NasaUnavailable, Post, UserFacingError, shown
from bot.store import StorageError

log = logging.getLogger("roverbot.cli")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 3
EXIT_BUSY = 4  # another roverbot holds the database
EXIT_DISCORD_UNREACHABLE = 5


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_BAD_INPUT):
        super().__init__(message)
        self.code = code


# ------------------------------------------------------------------ "/sol 3 navcam" -> a call


@dataclass(frozen=True)
class Command:
    name: str
    sol: int | None = None
    camera: str | None = None
    text: str | None = None  # /milestone's name
    rover: str | None = None  # rover:curiosity


COMMANDS = ("latest", "sol", "now", "panorama", "milestone", "help", "where")


def parse_command(text: str) -> Command:
    """Read a slash command as typed in Discord: `/sol 3 navcam`, `/latest mastcam`, `/now`.

    Discord-style `sol:3 camera:navcam` is accepted too.
    """
    words = text.strip().split()
    if not words:
        raise CliError('give a command, e.g. "/sol 3 navcam"')
    name = words[0].lstrip("/").lower()
    if name not in COMMANDS:
        raise CliError(f"unknown command /{shown(name)}; preview knows {', '.join('/' + c for c in COMMANDS)}")
    named = {k.lower(): v for k, _, v in (w.partition(":") for w in words[1:] if ":" in w and not w.startswith(":"))}
    rest = [w for w in words[1:] if not (":" in w and not w.startswith(":"))]
    rover = named.pop("rover", None)
    if rover is not None:
        from bot.mars import rovers

        try:
            rover = rovers.find(rover).key
        except ValueError:
            raise CliError(f"unknown rover {shown(rover)!r}; roverbot knows {', '.join(rovers.ROVERS)}") from None
        if name in ("help", "panorama"):
            raise CliError(f"/{name} has no option 'rover'")
    return replace(_parse_command(name, named, rest), rover=rover)


def _parse_command(name: str, named: dict[str, str], rest: list[str]) -> Command:
    if name in ("now", "help"):
        if rest or named:
            raise CliError(f"/{name} takes no arguments")
        return Command(name)
    if name == "where":
        rover = named.pop("rover", None) or (" ".join(rest) or None)
        if named:
            raise CliError(f"/where has no option {next(iter(named))!r}")
        return Command("where", text=rover)
    if name == "milestone":
        text = named.pop("name", None) or (" ".join(rest) or None)
        if named:
            raise CliError(f"/milestone has no option {next(iter(named))!r}")
        return Command("milestone", text=text)
    if name == "panorama":
        sol_text = named.pop("sol", None)
        if sol_text is None and rest and rest[0].lstrip("-").isdigit():
            sol_text, rest = rest[0], rest[1:]
        camera = named.pop("camera", None) or (" ".join(rest) or None)
        if named:
            raise CliError(f"/panorama has no option {next(iter(named))!r}")
        try:
            return Command("panorama", sol=int(sol_text) if sol_text is not None else None, camera=camera)
        except ValueError:
            raise CliError(f"a sol is a whole number (0 is landing day), not {shown(sol_text)!r}") from None
    if name == "latest":
        camera = named.pop("camera", None) or (" ".join(rest) or None)
        if named:
            raise CliError(f"/latest has no option {next(iter(named))!r}")
        return Command("latest", camera=camera)
    sol_text = named.pop("sol", None)
    if sol_text is None:
        if not rest:
            raise CliError("/sol needs a sol number, e.g. /sol 3 navcam")
        sol_text, rest = rest[0], rest[1:]
    camera = named.pop("camera", None) or (" ".join(rest) or None)
    if named:
        raise CliError(f"/sol has no option {next(iter(named))!r}")
    try:
        sol = int(sol_text)
    except ValueError:
        raise CliError(f"a sol is a whole number (0 is landing day), not {shown(sol_text)!r}") from None
    return Command("sol", sol=sol, camera=camera)


def parse_instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise CliError(f"--at wants an ISO time such as 2021-02-21T12:00:00Z, not {text!r}") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def fixed_clock(at: datetime | None) -> Callable[[], datetime]:
    return (lambda: at) if at else services.system_clock


# ------------------------------------------------------------------ output


def emit(post: Post, as_json: bool, out: Path | None) -> None:
    body = compose.payload(post)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "message.json").write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        for att in post.attachments:
            (out / Path(att.filename).name).write_bytes(att.data)
    if as_json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
    else:
        print(post.text or post.content)
        for att in post.attachments:
            print(f"attachment: {att.filename} ({len(att.data):,} bytes)")


# ------------------------------------------------------------------ subcommands


async def preview(args: argparse.Namespace, config: config_mod.Config) -> int:
    command = parse_command(args.command)
    at = parse_instant(args.at)
    clock = fixed_clock(at)


    rover = rovers.find(command.rover) if command.rover else rovers.SERVER_DEFAULT
    if command.name == "now":
        emit(compose.now(marstime.clock(clock(), rover.mission)), args.json, args.out)
        return EXIT_OK
    if command.name == "help":
        emit(compose.help_post(), args.json, args.out)
        return EXIT_OK
    # A preview needs no database: it reads NASA into a throwaway in-memory store.
    async with services.build(config, clock, database=":memory:") as svc:
        gallery = svc.gallery_for(rover)
        if command.name == "sol":
            post = await gallery.sol(command.sol, command.camera, page=args.page - 1)
        elif command.name == "panorama":
            post = await svc.panoramas.sol(command.sol, command.camera, args.page - 1)
        elif command.name == "where":
            post = await svc.rovermaps.where(svc.rovermaps.rover(command.text) if command.text else rover)  # the map picture is its attachment: --out writes it
        elif command.name == "milestone":
            post = await gallery.milestone(command.text) if command.text else gallery.timeline_page(args.page - 1)
        else:
            post = await gallery.latest(command.camera, page=args.page - 1)
        if args.out is not None:
            await write_pictures(post, svc, args.out)
    emit(post, args.json, args.out)
    return EXIT_OK


def _small(url: str) -> str:
    """NASA's small rendition of a picture URL (`…_1200.jpg` -> `…_320.jpg`), else the URL itself."""
    for size in ("_1200.jpg", "_800.jpg"):
        if url.endswith(size):
            return url[: -len(size)] + "_320.jpg"
    return url


async def write_pictures(post: Post, svc, out: Path) -> None:
    """--out: the pictures a message shows, as small renditions, so a person can look without Discord."""
    out.mkdir(parents=True, exist_ok=True)
    urls = [e.image_url for e in post.embeds if e.image_url and e.image_url.startswith("http")]
    for i, url in enumerate(dict.fromkeys(urls), 1):
        small = _small(url)
        try:
            data = await svc.nasa.image(small, allowed_hosts=services.picture_hosts(svc.config),
                                        max_bytes=svc.config.max_image_bytes)
        except Exception as e:  # one missing picture doesn't spoil the preview
            print(f"warning: picture {i} not written ({e})", file=sys.stderr)
            continue
        name = Path(small.split("?")[0]).name or f"picture-{i}.jpg"
        (out / f"{i:02d}-{name}").write_bytes(data)


async def poll(args: argparse.Namespace, config: config_mod.Config) -> int:
    if not args.once:
        raise CliError("poll runs one cycle and exits: use `roverbot poll --once` (the bot itself polls on a schedule)")
    # Beside a running bot, a poll would compete for its cycles and its watermark: refuse instead.
    with DatabaseLock(config.database, "poll --once"):
        async with services.build(config, fixed_clock(parse_instant(args.at))) as svc:
            # Every rover's feed, as the bot's image cycle reads them; the first result leads the report.
            results = [(rovers.ROVERS[key], await poller.poll()) for key, poller in svc.pollers.items()]
            posts = [compose.image_group(g, rover.catalogue) for rover, r in results
                     for g in compose.groups(r.new, rover.catalogue)]
            result = results[0][1]
            for _, other in results[1:]:
                result.new += other.new
                result.pages += other.pages
                result.seen += other.seen
                result.error = result.error or other.error
            news = await svc.automation(_NoDiscord()).news.read()  # the news feeds too: the bot's whole cycle
    if result.error and not result.new:
        raise CliError(f"NASA's raw-image feed could not be read: {result.error}", EXIT_UNAVAILABLE)
    if args.json:
        print(json.dumps({
            "baseline": result.baseline, "pages": result.pages, "records": result.seen,
            "new_images": len(result.new), "error": result.error,
            "posts": [compose.payload(p) for p in posts],
            "news": {"new": news.new, "error": news.error, "posts": [compose.payload(compose.news_post(n)) for n in news.items]},
        }, indent=2, ensure_ascii=False))
        return EXIT_OK
    if result.baseline:
        print(f"First poll: recorded {result.seen} picture(s) already in the feed as the baseline; nothing is posted for them.")
    elif not posts:
        print(f"No new pictures ({result.pages} page(s) read).")
    else:
        print(f"{len(result.new)} new picture(s) in {len(posts)} post(s):\n")
        for p in posts:
            print(p.text, end="\n\n")
    if news.items:
        print(f"\n{len(news.items)} new news article(s):")
        for n in news.items:
            print(f"  - {n.title} {n.link}")
    elif news.error:
        print(f"warning: a news feed could not be read: {news.error}", file=sys.stderr)
    else:
        print("No new news articles (the first read of a feed is its baseline).")
    if result.error:
        print(f"warning: the cycle stopped early: {result.error}", file=sys.stderr)
    return EXIT_OK


class _NoDiscord:
    """A sender for CLI-only automation: composing a digest never sends anything."""

    async def send(self, message):  # pragma: no cover - never called by digest composition
        raise RuntimeError("the command line does not post to Discord")

    async def missing_permissions(self, channel_id):
        return []

    def alert_channel(self, guild_id):
        return None


async def digest(args: argparse.Namespace, config: config_mod.Config) -> int:
    from datetime import date

    try:
        day = date.fromisoformat(args.date) if args.date else None
    except ValueError:
        raise CliError(f"--date wants YYYY-MM-DD, not {args.date!r}") from None
    tz = config.default_timezone
    async with services.build(config, fixed_clock(parse_instant(args.at)), database=":memory:") as svc:
        if day is None:
            from zoneinfo import ZoneInfo

            day = svc.clock().astimezone(ZoneInfo(tz)).date()
        if day > svc.clock().date() + __import__("datetime").timedelta(days=1):
            raise CliError(f"{day} is in the future; a digest covers a day that has begun")
        post = await digest_for_date([svc.gallery_for(r) for r in rovers.ROVERS.values()], svc.news, svc.maker,
                                     datetime(day.year, day.month, day.day), tz)
    emit(post, args.json, args.out)
    return EXIT_OK


async def status(args: argparse.Namespace, config: config_mod.Config) -> int:

    from bot.store import Store

    if not config.database_url and not config.database.exists():
        if args.check:
            raise CliError(f"unhealthy: no database at {config.database} (has the bot started?)", EXIT_FAILED)
        raise CliError(f"no database at {config.database} yet: the bot has not run with this configuration", EXIT_FAILED)
    store = Store.open(config.storage)
    try:
        report = status_report(store, config)
        beat = store.state.get("heartbeat")
    finally:
        store.close()
    if args.check:
        age = datetime.now(timezone.utc).timestamp() - float(beat) if beat else None
        if age is None or age > HEALTHY_WITHIN:
            raise CliError(f"unhealthy: the bot's scheduler last checked in {'never' if age is None else f'{age:.0f} s ago'}",
                           EXIT_FAILED)
        # A source failing cycle after cycle (NASA down, or its format changed under us) is not healthy
        # either: say which and why, rather than "ok" while nothing is posted.
        failing = [s for s in report["sources"] if s["failed_cycles"] >= FAILING_CYCLES]
        if failing:
            raise CliError("unhealthy: " + "; ".join(f"{s['source']} failing since {s['failing_since']}: {s['last_error']}"
                                                     for s in failing), EXIT_FAILED)
        print(f"healthy: last check-in {age:.0f} s ago")
        return EXIT_OK
    print(json.dumps(report, indent=2) if args.json else format_status(report))
    return EXIT_OK


HEALTHY_WITHIN = 300.0
FAILING_CYCLES = 3


def _shown_storage(config: config_mod.Config) -> str:
    from bot.store.database import without_password

    return without_password(config.database_url) if config.database_url else str(config.database)


def status_report(store, config: config_mod.Config) -> dict:
    def when(ts: float | None) -> str | None:
        return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds") if ts else None

    from bot.posting import drive_posts, poller

    every = list(rovers.ROVERS.values())
    sources = {**{poller.source_of(r.mission): poller.source_of(r.mission) for r in every},
               **{f"news:{f}": f"news:{f}" for f in config.news_feeds},
               **{drive_posts.source_of(r): drive_posts.source_of(r) for r in every}}
    out: dict = {"database": _shown_storage(config), "sources": [], "outbox": store.outbox.counts(), "subscriptions": []}
    now = datetime.now(timezone.utc).timestamp()
    leader = store.cluster.leader(now)
    # every process sharing the database: its shards, its last heartbeat, whether it leads
    out["processes"] = [{"name": p.name, "shards": p.shards, "last_heartbeat": when(p.heartbeat_at),
                         "seconds_since_heartbeat": round(now - p.heartbeat_at, 1), "leader": p.name == leader,
                         "send_rate": round(p.send_rate, 2)} for p in store.cluster.processes()]
    for label, source in sources.items():
        ok = store.polls.last_poll(source, ok=True)
        failures, since = store.polls.poll_failures(source)
        out["sources"].append({"source": label, "last_success": when(ok[0]) if ok else None,
                               "failing": failures > 0, "failing_since": when(since) if failures else None,
                               "failed_cycles": failures, "last_error": store.polls.last_error(source) if failures else None})
    out["images_seen"] = store.images.image_count()
    out["posted"] = out["outbox"].get("sent", 0)
    for sub in store.subscriptions.find():
        out["subscriptions"].append({"guild": sub.guild_id, "channel": sub.channel_id, "kind": sub.kind,
                                     "rover": rovers.BY_MISSION[sub.mission].key if sub.mission else None,
                                     "camera": sub.camera or None, "paused": sub.paused,
                                     "paused_since": when(sub.paused_at), "paused_reason": sub.paused_reason})
    return out


def format_status(r: dict) -> str:
    lines = [f"database: {r['database']}", f"images seen: {r['images_seen']:,}   posts delivered: {r['posted']:,}   "
             f"queue: {', '.join(f'{k} {v}' for k, v in sorted(r['outbox'].items())) or 'empty'}", "", "sources:"]
    for s in r["sources"]:
        state = f"FAILING since {s['failing_since']} ({s['failed_cycles']} cycles): {s['last_error']}" if s["failing"] else "ok"
        lines.append(f"  {s['source']}: last success {s['last_success'] or 'never'}; {state}")
    lines += ["", f"processes: {len(r['processes'])}"]
    for p in r["processes"]:
        lines.append(f"  {p['name']}: shards {p['shards']}; last heartbeat {p['last_heartbeat']} "
                     f"({p['seconds_since_heartbeat']:.0f} s ago){'; LEADER' if p['leader'] else ''}; "
                     f"sending at {p['send_rate']:.1f}/s")
    lines += ["", f"subscriptions: {len(r['subscriptions'])}"]
    for s in r["subscriptions"]:
        paused = f"  PAUSED since {s['paused_since']}: {s['paused_reason']}" if s["paused"] else ""
        lines.append(f"  channel {s['channel']} (guild {s['guild']}): {s['kind']}{' ' + s['camera'] if s['camera'] else ''}{paused}")
    return "\n".join(lines)


def with_shard_options(args: argparse.Namespace, config: config_mod.Config) -> config_mod.Config:
    """`run --shards 0-3 --shard-count 16`: each given option overrides its setting; the pair is
    checked as the config file's is, and a bad one stops the start with one line naming it."""
    spec = config.shards if args.shards is None else args.shards
    count, text = config.shard_count, args.shard_count
    if text is not None:
        try:
            count = int(text.strip())
        except ValueError:
            raise CliError(f"--shard-count wants a whole number of shards (0: as many as Discord recommends), "
                           f"not {shown(text)!r}", EXIT_FAILED) from None
    try:
        config_mod.check_shards(spec, count, shards_key="discord.shards" if args.shards is None else "--shards",
                                count_key="--shard-count" if text is not None else "--shard-count (or discord.shard_count)")
    except config_mod.ConfigError as e:
        raise CliError(str(e), EXIT_FAILED) from None
    return replace(config, shards=spec.strip(), shard_count=count)


async def run(args: argparse.Namespace, config: config_mod.Config) -> int:
    config = with_shard_options(args, config)
    from bot.chat import app  # imported here: the other commands never load discord.py

    # One process per SQLite file; processes sharing a PostgreSQL database (shards) coordinate in it.
    with (contextlib.nullcontext() if config.database_url else DatabaseLock(config.database, "run")):
        try:
            await app.run(config)
        except app.DiscordUnreachable as e:
            raise CliError(str(e), EXIT_DISCORD_UNREACHABLE) from None
        except app.StartupError as e:
            raise CliError(str(e), EXIT_FAILED) from None
    return EXIT_OK


async def sync(args: argparse.Namespace, config: config_mod.Config) -> int:
    from bot.chat import app

    try:
        registered = await app.sync(config)
    except app.DiscordUnreachable as e:
        raise CliError(str(e), EXIT_DISCORD_UNREACHABLE) from None
    except app.StartupError as e:
        raise CliError(str(e), EXIT_FAILED) from None
    where = f"to guild {config.dev_guild_id}" if config.dev_guild_id else "globally (may take up to an hour to appear)"
    print(f"Registered {len(registered)} commands {where}: {', '.join('/' + c.name for c in registered)}")
    return EXIT_OK


# ------------------------------------------------------------------ entry point


def _global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """--config, --log-level and --log-format, given before or after the subcommand. On the
    subcommands they default to SUPPRESS, so an option given before the subcommand is not reset."""
    d = (lambda v: v) if defaults else (lambda v: argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, default=d(None),
                        help="TOML config file (default: $ROVERBOT_CONFIG, else ./config.toml if present, else built-in defaults)")
    parser.add_argument("--log-level", default=d(None), choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", default=d("text"), choices=["text", "json"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roverbot", description="NASA's Mars rovers, in your Discord server.")
    _global_options(parser, defaults=True)
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, defaults=False)
    real_add = sub.add_parser
    sub.add_parser = lambda *a, **k: real_add(*a, parents=[common], **k)  # type: ignore[method-assign]

    p = sub.add_parser("run", help="run the bot (DISCORD_TOKEN from the environment)")
    p.add_argument("--shards", metavar="IDS", help='the gateway shards this process runs, e.g. "0-3,6" '
                                                   "(overrides discord.shards; needs a shard count)")
    p.add_argument("--shard-count", metavar="N", help="how many shards the bot has in all, the same in every "
                                                      "process (overrides discord.shard_count; 0: Discord's recommendation)")
    sub.add_parser("sync", help="register the slash commands (globally, or to discord.dev_guild_id)")

    p = sub.add_parser("preview", help='print what a slash command would answer, e.g. "/sol 3 navcam"')
    p.add_argument("command", help='"/latest [camera]", "/sol <n> [camera]", "/panorama [sol] [camera]", '
                                   '"/milestone [name]", "/now" or "/help"')
    p.add_argument("--json", action="store_true", help="print the Discord message payload")
    p.add_argument("--out", type=Path, help="also write the payload and attachments to this folder")
    p.add_argument("--at", help="pretend it is this UTC time (ISO 8601)")
    p.add_argument("--page", type=int, default=1, help="gallery page (from 1)")

    p = sub.add_parser("digest", help="compose a digest for a day now and print it")
    p.add_argument("--date", help="the local day (YYYY-MM-DD, in posting.default_timezone); default today")
    p.add_argument("--json", action="store_true", help="print the Discord message payload")
    p.add_argument("--out", type=Path, help="also write the payload and the picture to this folder")
    p.add_argument("--at", help="pretend it is this UTC time (ISO 8601)")

    p = sub.add_parser("status", help="last successful poll per source, what was seen and posted, paused subscriptions")
    p.add_argument("--json", action="store_true")
    p.add_argument("--check", action="store_true", help="exit 0 only if the running bot checked in recently (HEALTHCHECK)")

    p = sub.add_parser("poll", help="run one polling cycle and print what would be posted")
    p.add_argument("--once", action="store_true", help="one cycle, then exit")
    p.add_argument("--json", action="store_true")
    p.add_argument("--at", help="pretend it is this UTC time (ISO 8601)")
    return parser


HANDLERS: dict[str, Callable[[argparse.Namespace, config_mod.Config], Any]] = {
    "preview": preview, "poll": poll, "run": run, "sync": sync, "digest": digest, "status": status,
}


def config_path(arg: Path | None) -> Path | None:
    if arg is not None:
        return arg
    env = os.environ.get("ROVERBOT_CONFIG")
    if env:
        return Path(env)
    local = Path("config.toml")
    return local if local.exists() else None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    interactive = args.cmd != "run"
    logs.setup(args.log_level or ("warning" if interactive else "info"), args.log_format)
    if interactive and args.log_level is None:
        # Retries are logged as warnings; a CLI user wants the one final line, not the play-by-play.
        logging.getLogger("roverbot").setLevel(logging.ERROR)
    try:
        config = config_mod.load(config_path(args.config))
        result = HANDLERS[args.cmd](args, config)
        return asyncio.run(result) if asyncio.iscoroutine(result) else int(result)
    except config_mod.ConfigError as e:
        print(f"roverbot: config: {e}", file=sys.stderr)
        return EXIT_FAILED
    except StorageError as e:
        print(f"roverbot: storage.database: {e}", file=sys.stderr)
        return EXIT_FAILED
    except AlreadyRunning as e:
        print(f"roverbot: {e}", file=sys.stderr)
        return EXIT_BUSY
    except CliError as e:
        print(f"roverbot: {e}", file=sys.stderr)
        return e.code
    except NasaUnavailable as e:
        print(f"roverbot: {e}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except UserFacingError as e:
        print(f"roverbot: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # the last line of defence: say what broke in one line
        log.error("unexpected failure: %s: %s", type(e).__name__, e, exc_info=logging.getLogger().isEnabledFor(logging.DEBUG))
        print(f"roverbot: unexpected error ({type(e).__name__}: {e}); run with --log-level debug for details", file=sys.stderr)
        return EXIT_FAILED
