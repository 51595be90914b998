"""The outbox courier: every automatic post is recorded before it is sent and marked after.

A post is claimed in the store (atomically, so two couriers never have the same row) and goes out
with a nonce derived from its outbox key and `enforce_nonce`: if the process dies between Discord
accepting it and the store marking it sent, a re-send within Discord's nonce window returns the
message Discord already has. Discord forgets nonces after a few minutes, so a re-send later than
that first reads the channel's recent messages for our own message carrying the post's reference
(every post carries one, see `reference`), and records it instead of sending a second. Sends are paced below Discord's global
limit; a channel over its hourly budget has its posts held for the digest, never dropped; a channel
that refuses us is paused (not deleted) and its server told once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Awaitable, Callable, Protocol, Sequence

from bot import crashpoints
from bot.mars import rovers
from bot.models import OutboxEntry, Payload, PostKey, Shards, ThreadRoute, WebhookRoute
from bot.store import Channels, Outbox, State, Subscriptions

log = logging.getLogger("roverbot.delivery")

BUDGETED = ("images", "news")  # digests and alerts always go out
HOUR = 3600.0


@dataclass(frozen=True)
class Outgoing:
    """One message as the sender needs it: plain values, no discord objects."""

    channel_id: int
    content: str
    embeds: list[dict]
    role_id: int | None
    files: list[tuple[str, bytes]]
    nonce: str
    reference: str = ""  # shown on the message (embed footer or a last line) so it can be found again
    role_ids: tuple[int, ...] = ()  # every role the post pings (several subscriptions of one channel)
    thread_id: int | None = None  # post in this thread of the channel (a sol's thread or forum post)
    webhook: tuple[int, str] | None = None  # (id, token): post through the channel's webhook
    username: str | None = None  # the webhook post's name and avatar
    avatar_url: str | None = None


class DeliveryError(Exception):
    """A message could not be delivered; the subclass says what to do about it."""


class Forbidden(DeliveryError):
    """403 / 50013: the bot may not post there (the message names what is missing, when known)."""


class ChannelGone(DeliveryError):
    """404 / 10003: the channel was deleted."""


class Rejected(DeliveryError):
    """Discord refused the message itself (400): sending it again would fail again."""


class Transient(DeliveryError):
    """5xx, timeouts, a connection dropped: try again later."""


class WebhookGone(DeliveryError):
    """404 / 10015: the webhook was deleted (by a member, or with the channel's integrations);
    certainly nothing was posted with it."""


class Sender(Protocol):
    async def send(self, message: Outgoing) -> int: ...

    async def find_sent(self, channel_id: int, reference: str, since: float, authors: Sequence[int] = ()) -> int | None:
        """Our own message in the channel (or thread) carrying `reference`, posted after `since`
        (epoch s), by the bot or one of the webhooks in `authors`."""
        ...

    async def missing_permissions(self, channel_id: int, needed: Sequence[str] = ...) -> list[str]: ...

    async def find_thread(self, guild_id: int, channel_id: int, name: str) -> int | None:
        """An active thread of the channel the bot started, with this name."""
        ...

    async def create_thread(self, channel_id: int, name: str, *, forum: bool, starter: str) -> int: ...

    async def create_webhook(self, channel_id: int, name: str) -> tuple[int, str]:
        """(id, token) of a new webhook; Forbidden without Manage Webhooks (checked before asking)."""
        ...

    def alert_channel(self, guild_id: int) -> int | None: ...


class Pacer:
    """A token bucket shared by every send, so a burst over many channels stays under the global limit."""

    def __init__(self, rate: float, burst: int = 2, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self.rate, self.burst, self.clock, self.sleep = rate, burst, clock, sleep
        self.tokens = float(burst)
        self.last = clock()

    def set_rate(self, rate: float) -> None:
        """This process's share of the global limit changed (processes joined or stopped)."""
        self.rate = rate

    async def wait(self) -> None:
        while True:
            now = self.clock()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await self.sleep((1 - self.tokens) / self.rate)


def reference(nonce: str) -> str:
    """The post's mark on Discord: short, unique enough, and meaningless to readers."""
    return f"ref {nonce[:10]}"


# Discord deduplicates a nonce for "a few minutes"; past this age a re-send checks the channel
# first. Well inside the window, so a re-send is either deduplicated or checked, never neither.
NONCE_TRUST_SECONDS = 120.0


class Courier:
    def __init__(self, outbox: Outbox, subscriptions: Subscriptions, channels: Channels, state: State, sender: Sender, *,
                 clock: Callable[[], datetime], messages_per_hour: int, pacer: Pacer | None = None,
                 admin_channel_id: int | None = None, owner: str | None = None,
                 nonce_trust_seconds: float = NONCE_TRUST_SECONDS, serving: Callable[[], Shards | None] | None = None):
        self.outbox = outbox
        self.subscriptions = subscriptions
        self.channels = channels
        self.state = state
        self.sender = sender
        self.clock = clock
        self.messages_per_hour = messages_per_hour
        self.pacer = pacer or Pacer(rate=48.0)  # Discord allows ~50 requests/s per bot
        self.admin_channel_id = admin_channel_id
        self.sent = 0
        self.owner = owner or f"{os.uname().nodename}:{os.getpid()}"
        self.nonce_trust_seconds = nonce_trust_seconds
        self.serving = serving  # the shards whose servers this process delivers to (None: all)
        self._lock = asyncio.Lock()

    async def pump(self, max_batches: int = 1000) -> int:
        """Send everything that is due; returns how many messages went out."""
        async with self._lock:  # one pump at a time: the same entry is never in flight twice
            sent = 0
            self.release_held()
            for _ in range(max_batches):
                now = self.clock().timestamp()
                batch = self.outbox.due(now, shards=self.serving() if self.serving else None)
                if not batch:
                    break
                for entry in batch:
                    if await self.deliver(entry):
                        sent += 1
            return sent

    def release_held(self) -> None:
        """Posts held in channels without a digest go out once the hour's budget allows."""
        now = self.clock().timestamp()
        room: dict[int, int] = {}
        # Channels with a digest are skipped in SQL: their held posts wait for it, and may be many.
        for entry_id, channel_id in self.outbox.held_without_digest():
            if channel_id not in room:
                room[channel_id] = self.messages_per_hour - self.outbox.sent_since(channel_id, now - HOUR)
            if room[channel_id] > 0:
                room[channel_id] -= 1
                self.outbox.mark(entry_id, "pending")

    async def deliver(self, entry: OutboxEntry) -> bool:
        now = self.clock().timestamp()
        if entry.kind in BUDGETED and self.outbox.sent_since(entry.channel_id, now - HOUR) >= self.messages_per_hour:
            if self.outbox.update_status(entry.id, "pending", "held"):
                log.info("channel %s is at its %d posts/hour: %s held for the digest", entry.channel_id,
                         self.messages_per_hour, entry.key)
            return False
        # The claim is the gate: after it the post is never changed again (a late picture of its
        # sequence becomes a new post), and no other courier can send it.
        claimed = self.outbox.claim(entry.id, self.owner, now)
        if claimed is None:
            return False  # sent, merged, paused or claimed since the batch was read
        entry = claimed
        p = entry.payload
        thread_id: int | None = None
        try:
            if p.thread is not None:
                thread_id = await self.thread_for(entry, p.thread)
            hook = await self.webhook_for(entry, p.webhook) if p.webhook is not None else None
            # Discord never deduplicates a webhook execution (it takes no nonce): a post meant for a
            # webhook is looked for on every re-attempt, not only past the nonce window.
            if entry.attempts > 1 and entry.first_attempt_at is not None \
                    and (p.webhook is not None or now - entry.first_attempt_at > self.nonce_trust_seconds):
                # An earlier attempt may have reached Discord, and Discord may have forgotten its nonce.
                found = await self.sender.find_sent(thread_id or entry.channel_id, reference(entry.nonce),
                                                    entry.first_attempt_at - 60, self.channels.webhook_ids(entry.channel_id))
                if found is not None:
                    self.outbox.mark_sent(entry.id, found, self.clock().timestamp())
                    log.info("post %s was already in channel %s (message %s): recorded, not sent again", entry.key,
                             thread_id or entry.channel_id, found)
                    return False
            name = p.webhook.name if p.webhook is not None else None
            message = Outgoing(channel_id=entry.channel_id, content=p.content, embeds=list(p.embeds),
                               role_id=p.role_id, files=[(f, self.outbox.blob(h)) for f, h in p.files],
                               nonce=entry.nonce, reference=reference(entry.nonce), role_ids=p.role_ids,
                               thread_id=thread_id, webhook=hook, username=name if hook else None,
                               avatar_url=p.webhook.avatar if hook and p.webhook is not None else None)
            await self.pacer.wait()
            try:
                message_id = await self.sender.send(message)
            except WebhookGone:
                # Deleted by someone: nothing was posted with it. Make a new one (or fall back to a
                # plain send without Manage Webhooks) and send once more.
                self.channels.webhook_gone(hook[0], now)  # type: ignore[index]
                log.warning("the webhook in channel %s was deleted; making a new one", entry.channel_id)
                hook = await self.webhook_for(entry, p.webhook)  # type: ignore[arg-type]
                message = dataclasses.replace(message, webhook=hook, username=name if hook else None,
                                              avatar_url=message.avatar_url if hook else None)
                await self.pacer.wait()
                message_id = await self.sender.send(message)
        except ChannelGone as e:
            if thread_id is not None:
                # The sol's thread was deleted, not the channel: the next attempt finds or makes another.
                self.channels.forget_sol_thread(entry.channel_id, p.thread.mission, p.thread.sol)  # type: ignore[union-attr]
                self.outbox.retry_later(entry.id, now + 30.0, f"thread {thread_id} is gone: {e}")
                return False
            return self._refused(entry, e)
        except (Forbidden, WebhookGone) as e:
            return self._refused(entry, e)
        except Rejected as e:
            self.outbox.mark(entry.id, "failed", str(e))
            log.error("Discord refused post %s in channel %s: %s", entry.key, entry.channel_id, e)
            return False
        except Transient as e:
            delay = min(3600.0, 30.0 * 2 ** min(entry.attempts - 1, 7))
            self.outbox.retry_later(entry.id, now + delay, str(e))
            log.warning("post %s to channel %s failed (%s); retry %d in %.0f s", entry.key, entry.channel_id, e,
                        entry.attempts, delay)
            return False
        except BaseException:
            # Stopping mid-send (cancelled): the claim is released with its first attempt kept,
            # so the next start checks the channel before sending again.
            self.outbox.abandoned_claims(self.owner)
            raise
        crashpoints.reached(f"send:{entry.kind}")  # Discord has it; the store does not know yet
        self.outbox.mark_sent(entry.id, message_id, self.clock().timestamp())
        self.sent += 1
        return True

    def _refused(self, entry: OutboxEntry, e: DeliveryError) -> bool:
        self.outbox.unclaim(entry.id)  # refused: certainly not posted
        if entry.kind == "alert":
            self.outbox.mark(entry.id, "failed", str(e))
            log.warning("could not deliver an alert to channel %s: %s", entry.channel_id, e)
            return False
        self.pause(entry.guild_id, entry.channel_id, str(e) or type(e).__name__)
        return False

    async def thread_for(self, entry: OutboxEntry, spec: ThreadRoute) -> int:
        """The sol's thread in the entry's channel: recorded, else found again, else made. Exactly
        once: a thread Discord made but we never recorded (a crash, a lost answer) is found by its
        name among the channel's active threads instead of made a second time."""
        channel_id, sol, name = entry.channel_id, spec.sol, spec.name
        known = self.channels.sol_thread(channel_id, spec.mission, sol)
        if known is not None:
            return known
        found = await self.sender.find_thread(entry.guild_id, channel_id, name)
        if found is None:
            rover = rovers.BY_MISSION[spec.mission].name if spec.mission in rovers.BY_MISSION else spec.mission
            starter = f"🧵 **{name}**: {rover}'s new pictures of sol {sol}, posted here as they arrive."
            found = await self.sender.create_thread(channel_id, name, forum=spec.forum, starter=starter)
            crashpoints.reached("thread:created")  # Discord has the thread; the store does not know yet
        else:
            log.info("found the thread %r (%s) in channel %s again: recorded, not made twice", name, found, channel_id)
        self.channels.record_sol_thread(channel_id, spec.mission, sol, found, name, self.clock().timestamp())
        return found

    async def webhook_for(self, entry: OutboxEntry, spec: WebhookRoute) -> tuple[int, str] | None:
        """The channel's webhook, made when missing. None: the bot may not manage webhooks there, so
        the post goes out as the bot; the server is told once, and asked again at most hourly."""
        channel_id = entry.channel_id
        hook = self.channels.webhook(channel_id)
        if hook is not None:
            return hook
        now = self.clock().timestamp()
        denied = self.state.get(f"webhook.denied:{channel_id}")
        if denied is not None and now - float(denied) < HOUR:
            return None
        try:
            made = await self.sender.create_webhook(channel_id, spec.name)
        except Forbidden as e:
            self.state.put(f"webhook.denied:{channel_id}", str(now))
            self._note_no_webhook(entry, spec, str(e))
            return None
        self.channels.record_webhook(channel_id, made[0], made[1], now)
        self.state.delete(f"webhook.denied:{channel_id}")
        self.state.delete(f"webhook.noted:{channel_id}")
        log.info("made a webhook in channel %s for posts as %r", channel_id, spec.name)
        return made

    def _note_no_webhook(self, entry: OutboxEntry, spec: WebhookRoute, reason: str) -> None:
        """Once per channel (until a webhook works there): why posts come as the bot, not as the name asked for."""
        key = f"webhook.noted:{entry.channel_id}"
        if self.state.get(key) is not None:
            return
        now = self.clock().timestamp()
        self.state.put(key, str(now))
        log.warning("no webhook in channel %s (%s): posting as the bot", entry.channel_id, reason)
        target = self.admin_channel_id or self.sender.alert_channel(entry.guild_id)
        if target is None and not (entry.payload.thread is not None and entry.payload.thread.forum):
            target = entry.channel_id
        if target is None:
            return
        text = (f"ℹ️ Posts in <#{entry.channel_id}> are set to appear as **{spec.name}**, but I'm missing "
                "**Manage Webhooks** there, so I post them as myself. Nothing is lost. Give me Manage Webhooks in that "
                "channel and the next posts use that name and picture.")
        self.outbox.enqueue(PostKey.alert(target, "webhook", entry.channel_id, int(now)), entry.guild_id, Payload(content=text), now)

    def pause(self, guild_id: int, channel_id: int, reason: str) -> None:
        now = self.clock().timestamp()
        newly = self.subscriptions.pause(channel_id, reason, now)
        if not newly:
            return
        kinds = ", ".join(sorted({s.kind for s in newly}))
        log.warning("paused %s posts in channel %s: %s", kinds, channel_id, reason)
        target = self.admin_channel_id or self.sender.alert_channel(guild_id)
        if target is None or target == channel_id:
            log.warning("no other channel in guild %s to say that channel %s is paused", guild_id, channel_id)
            return
        text = (f"⚠️ I paused the {kinds} posts for <#{channel_id}>: {reason}. Nothing is lost: they will resume "
                "(with what was held back) once I can post there again. Use `/subscriptions` to see the state.")
        self.outbox.enqueue(PostKey.alert(target, "paused", channel_id, int(newly[0].paused_at or now), int(now)), guild_id,
                            Payload(content=text), now)

    async def recheck_paused(self) -> list[int]:
        """Resume every paused channel whose permissions are fine again; returns their ids."""
        resumed = []
        paused = self.subscriptions.find(active=False)
        for channel_id in sorted({s.channel_id for s in paused}):
            extra = needed_for([s for s in paused if s.channel_id == channel_id])
            try:
                # a channel posting in threads also needs the thread rights, or it would resume and fail again
                missing = await (self.sender.missing_permissions(channel_id, NEEDED_PERMISSIONS + extra) if extra
                                 else self.sender.missing_permissions(channel_id))
            except ChannelGone:
                continue
            except DeliveryError as e:
                log.info("could not re-check channel %s: %s", channel_id, e)
                continue
            if not missing:
                self.subscriptions.resume(channel_id)
                resumed.append(channel_id)
                log.info("resumed posts in channel %s: permissions are fine again", channel_id)
        return resumed


# What the bot needs in a channel it posts to. Read Message History: a re-send after Discord forgot
# the nonce first looks for the earlier message, so nothing is ever posted twice.
NEEDED_PERMISSIONS = ("view_channel", "send_messages", "embed_links", "attach_files", "read_message_history")


def needed_for(subs: Sequence) -> tuple[str, ...]:
    """What subscriptions posting in threads need beyond NEEDED_PERMISSIONS (a forum post needs
    Send Messages in the forum, which is already there)."""
    extra: tuple[str, ...] = ()
    if any(s.threads == "text" for s in subs):
        extra += ("create_public_threads",)
    if any(s.threads for s in subs):
        extra += ("send_messages_in_threads",)
    return extra


def missing(allowed: dict[str, bool], needed: Sequence[str] = NEEDED_PERMISSIONS) -> list[str]:
    """Names of the permissions a channel lacks, in words a server admin recognises."""
    words = {"view_channel": "View Channel", "send_messages": "Send Messages", "embed_links": "Embed Links",
             "attach_files": "Attach Files", "read_message_history": "Read Message History",
             "create_public_threads": "Create Public Threads", "send_messages_in_threads": "Send Messages in Threads",
             "manage_webhooks": "Manage Webhooks"}
    return [words.get(n, n) for n in needed if not allowed.get(n)]
