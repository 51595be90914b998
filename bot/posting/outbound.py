"""What every kind of automatic post shares: a Post becomes an outbox Payload, pings the roles of
the subscriptions that want it, and is routed (a sol's thread, a webhook) as its channel asked.
Plain values in, plain values out."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Sequence

from bot import compose
from bot.mars import marstime
from bot.models import Payload, Post, RoverImage, Subscription, ThreadRoute, WebhookRoute
from bot.store import Outbox, Polls

log = logging.getLogger("roverbot.automation")

MAX_BACKOFF = 3600.0  # a failing source is retried at least hourly, however long it has been down


@dataclass
class CycleReport:
    new: int = 0
    queued: int = 0
    error: str | None = None
    items: list = field(default_factory=list)  # the new news items, for the command line


def payload_of(post: Post, outbox: Outbox, **extra) -> Payload:
    """What the outbox keeps of a post: the Discord JSON, files by content hash (stored once)."""
    body = compose.payload(post)
    return Payload(content=body["content"], embeds=tuple(body["embeds"]),
                   role_ids=(post.ping_role_id,) if post.ping_role_id else (),
                   files=tuple((a.filename, outbox.put_blob(a.data)) for a in post.attachments), **extra)


def by_channel(subs: Sequence[Subscription]) -> list[list[Subscription]]:
    """Subscriptions grouped by channel, oldest first in each."""
    out: dict[int, list[Subscription]] = {}
    for sub in sorted(subs, key=lambda s: s.id):
        out.setdefault(sub.channel_id, []).append(sub)
    return list(out.values())


def wants(sub: Subscription, image: RoverImage) -> bool:
    """A picture of this subscription's rover and cameras, received after it was made."""
    return image.mission == sub.mission and (not sub.codes or image.instrument in sub.codes) and \
        (image.received_utc is None or image.received_utc.timestamp() >= sub.created_at)


def roles_for(subs: Sequence[Subscription], images: Sequence[RoverImage]) -> list[int]:
    """The roles of the subscriptions that want at least one of these pictures (each once)."""
    return list(dict.fromkeys(s.role_id for s in subs if s.role_id and any(wants(s, i) for i in images)))


def with_roles(payload: Payload, roles: Sequence[int]) -> Payload:
    """A post pinging these roles (and only them: allowed_mentions is built from role_ids)."""
    roles = tuple(roles)
    content = payload.content
    if roles:
        content = " ".join(f"<@&{r}>" for r in roles) + " " + content
    return dataclasses.replace(payload, content=content[:2000], role_ids=roles)


def thread_name(sol: int, mission: marstime.Mission) -> str:
    """A sol's thread: "Sol 1994 · 30 Sep 2026" (the Earth date the sol began, UTC); another rover's
    sols say whose they are: "Curiosity sol 5030 · 30 Sep 2026"."""
    start, _ = marstime.sol_interval(sol, mission)
    whose = "" if mission.key == "mars2020" else f"{mission.rover} "
    return f"{whose}{'sol' if whose else 'Sol'} {sol} · {start.day} {start.strftime('%b %Y')}"


def with_delivery(payload: Payload, sub: Subscription, sol: int | None, mission: marstime.Mission | None) -> Payload:
    """How the post goes out, fixed when it is queued: into the sol's thread (forum post or text
    channel thread) of its rover and/or through the channel's webhook under the subscription's name.
    sol and mission are None for posts that belong to no sol (news, digests)."""
    thread = ThreadRoute(sol, thread_name(sol, mission), sub.threads == "forum", mission.key) \
        if sub.threads and sol is not None and mission is not None else None
    hook = WebhookRoute(sub.webhook_name, sub.webhook_avatar) if sub.webhook_name else None
    return dataclasses.replace(payload, thread=thread, webhook=hook)


class Backoff:
    """After repeated failures a source is asked less often: 2, 4, 8... intervals, at most an hour."""

    def __init__(self, polls: Polls, clock: Callable[[], datetime]):
        self.polls = polls
        self.clock = clock

    def waiting(self, source: str, interval: float) -> bool:
        failures, since = self.polls.poll_failures(source)
        if failures < 2:
            return False
        wait = min(MAX_BACKOFF, interval * 2 ** (failures - 1))
        now = self.clock().timestamp()
        last = self.polls.last_attempt(source) or 0.0
        if now - last < wait:
            log.info("%s has failed %d cycles in a row since %s; next try in %.0f min", source, failures,
                     datetime.fromtimestamp(since or 0, tz=timezone.utc).isoformat(timespec="minutes"),
                     (wait - (now - last)) / 60)
            return True
        return False
