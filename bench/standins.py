"""The stand-ins as the benchmarks run them: in the harness process, the bot in another (bench/botproc.py).

`CountingDiscord` counts what reaches each channel AT Discord, independently of the bot's outbox:
messages per post reference ("ref xxxxxxxxxx" in the last embed footer or the last content line),
pictures in posts, pictures and news a digest reports as held back, digests per local date, and the
bytes of every multipart upload. Its clock, and the snowflakes of the messages it creates, follow the
benchmark's simulated clock (see `sim_snowflakes`), as Discord's ids follow the real one.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import re
from dataclasses import dataclass, field
from typing import Callable

import tests.discord_standin as ds_mod
from tests.discord_standin import DiscordStandIn

REF = re.compile(r"ref ([0-9a-f]{10})\s*$")
PICTURES = re.compile(r"\*\*: (\d+) pictures?")
HELD_FRAMES = re.compile(r"\+(\d+) more (?!news )[^,.]*? frames?")
HELD_NEWS = re.compile(r"\+(\d+) more news items?")
DIGEST_DATE = re.compile(r"daily digest · (\d{4}-\d{2}-\d{2})")


def reference_of(msg: dict) -> str | None:
    """The post's reference, where the bot puts it: last embed's footer, else the content's last line."""
    embeds = msg.get("embeds") or []
    if embeds:
        found = REF.search(((embeds[-1].get("footer") or {}).get("text") or ""))
        if found:
            return found.group(1)
    lines = (msg.get("content") or "").splitlines()
    found = REF.search(lines[-1]) if lines else None
    return found.group(1) if found else None


@dataclass
class Tally:
    refs: collections.Counter = field(default_factory=collections.Counter)
    messages: int = 0
    unreferenced: int = 0
    pictures: int = 0
    news: int = 0
    digests: collections.Counter = field(default_factory=collections.Counter)  # local date -> digests
    held_pictures: int = 0
    held_news: int = 0
    digest_upload_bytes: list[int] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.refs.values() if n > 1)


class CountingDiscord(DiscordStandIn):
    def __init__(self, **kw):
        super().__init__(lean=True, **kw)
        self.tally: dict[int, Tally] = collections.defaultdict(Tally)
        self.upload_bytes: list[int] = []  # every multipart request body, as sent
        self._last_upload = 0
        self.on_accept: Callable[[object, dict], None] | None = None  # called after a message is counted
        self.on_message = self._count

    async def _read_body(self, request):  # type: ignore[override]
        body, files = await super()._read_body(request)
        if request.content_type.startswith("multipart/"):
            size = request.content_length
            if size is None:  # chunked: the parts, without the boundaries
                size = sum(f["size"] for f in files) + len(str(body or ""))
            self.upload_bytes.append(size)
            self._last_upload = size
        else:
            self._last_upload = 0
        # nothing awaits between here and _store() -> _count() for this request: the size is its own
        return body, files

    def _count(self, ch, msg: dict) -> None:
        t = self.tally[ch.id]
        t.messages += 1
        ref = reference_of(msg)
        if ref is None:
            t.unreferenced += 1
        else:
            t.refs[ref] += 1
        content = msg.get("content") or ""
        embeds = msg.get("embeds") or []
        title = embeds[0].get("title", "") if embeds else ""
        found = PICTURES.search(content)
        if found:
            t.pictures += int(found.group(1))
        elif content.startswith("📰"):
            t.news += 1
        elif DIGEST_DATE.search(title):
            t.digests[DIGEST_DATE.search(title).group(1)] += 1
            desc = embeds[0].get("description") or ""
            t.held_pictures += sum(int(n) for n in HELD_FRAMES.findall(desc))
            t.held_news += sum(int(n) for n in HELD_NEWS.findall(desc))
            t.digest_upload_bytes.append(self._last_upload)
        if self.on_accept is not None:
            self.on_accept(ch, msg)


@contextlib.contextmanager
def sim_snowflakes(now: Callable[[], float]):
    """Message ids carry the simulated time, as Discord's carry the real one: the bot's "messages
    after my first attempt" (a snowflake made from its clock) must compare with them."""
    counter = itertools.count(1)
    original = ds_mod.snowflake

    def snowflake(at: float | None = None) -> int:  # `at` (the stand-in's own clock) is ignored: the simulation's wins
        return ((int(now() * 1000) - ds_mod.DISCORD_EPOCH_MS) << 22) | (next(counter) & 0x3FFFFF)

    ds_mod.snowflake = snowflake
    try:
        yield
    finally:
        ds_mod.snowflake = original


def file_size(path) -> int:
    """The database as it sits on disk: the file and its WAL."""
    from pathlib import Path

    total = 0
    for suffix in ("", "-wal"):
        p = Path(str(path) + suffix)
        if p.exists():
            total += p.stat().st_size
    return total


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0
