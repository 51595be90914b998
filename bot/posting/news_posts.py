"""News posts: every feed read once a cycle (the first read of a feed is its baseline), then one
post per new article and channel, pinging every news subscription's role there."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Callable, ContextManager

from bot import compose
from bot.models import PostKey
from bot.posting.delivery import Courier
from bot.posting.outbound import Backoff, CycleReport, by_channel, payload_of, with_delivery, with_roles
from bot.sources.news import NewsError, NewsReader
from bot.store import News, Outbox, Polls, State, Subscriptions

log = logging.getLogger("roverbot.automation")

NEWS_BASELINE = "news.baseline:"


class NewsPosts:
    def __init__(self, reader: NewsReader, news: News, polls: Polls, state: State, subscriptions: Subscriptions,
                 outbox: Outbox, transaction: Callable[[], ContextManager], courier: Courier, *,
                 clock: Callable[[], datetime], interval: float):
        self.reader = reader
        self.news = news
        self.polls = polls
        self.state = state
        self.subscriptions = subscriptions
        self.outbox = outbox
        self.transaction = transaction
        self.courier = courier
        self.clock = clock
        self.interval = interval
        self.backoff = Backoff(polls, clock)
        self._running = asyncio.Lock()  # the news poll guard: one read of the feeds at a time

    def now(self) -> float:
        return self.clock().timestamp()

    async def cycle(self) -> CycleReport:
        report = await self.read()
        report.queued = self.dispatch()
        await self.courier.pump()
        return report

    async def read(self) -> CycleReport:
        """Read every feed once and record what is new; posting it is dispatch's job.
        `roverbot poll --once` runs just this."""
        report = CycleReport()
        async with self._running:
            for feed in self.reader.feeds:
                if self.backoff.waiting(f"news:{feed}", self.interval):
                    continue
                poll_id = self.polls.start_poll(f"news:{feed}", self.now())
                try:
                    items = await self.reader.read(feed)
                except NewsError as e:
                    self.polls.finish_poll(poll_id, 0, str(e), self.now())
                    log.warning("news feed failed: %s", e)
                    report.error = str(e)
                    continue
                baseline = self.state.get(NEWS_BASELINE + feed) is None
                known = self.news.news_keys(i.key for i in items)
                fresh = [i for i in items if i.key not in known]
                # An edited item keeps its key: its text is updated, it is not posted again.
                # A baseline's articles were there before the bot: "seen" at the epoch, so no digest lists them.
                self.news.record_news(items, poll_id, self.now(), seen_at=0.0 if baseline else None)
                self.polls.finish_poll(poll_id, 0 if baseline else len(fresh), None, self.now())
                if baseline:
                    self.state.put(NEWS_BASELINE + feed, str(self.now()))
                    self.polls.mark_dispatched(poll_id, self.now())
                    log.info("news baseline for %s: %d items, none posted", feed, len(items))
                else:
                    report.new += len(fresh)
                    report.items += fresh
        return report

    def dispatch(self) -> int:
        """Queue the posts of every finished, undispatched news poll."""
        queued = 0
        polls = [p for feed in self.reader.feeds for p in self.polls.undispatched_polls(f"news:{feed}")]
        for poll_id in sorted(polls):
            items = self.news.news_first_seen_by(poll_id)
            with self.transaction():
                for subs in by_channel(self.subscriptions.find(kind="news")):
                    sub = subs[0]  # one post per article and channel, pinging every subscription's role
                    for item in items:
                        payload = payload_of(compose.news_post(item, None), self.outbox, summary_label="news", count=1)
                        payload = with_delivery(with_roles(payload, [s.role_id for s in subs if s.role_id]), sub, None, None)
                        if self.outbox.enqueue(PostKey.news(sub.channel_id, item.key), sub.guild_id, payload, self.now()):
                            queued += 1
                self.polls.mark_dispatched(poll_id, self.now())
        return queued
