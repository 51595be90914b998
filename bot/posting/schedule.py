"""Every scheduled job in one place (APScheduler 3.x).

All jobs: coalesce=True (a backlog of missed runs becomes one run), max_instances=1 (a slow NASA
answer never stacks a second poll on top of the first), and a misfire grace time so a run delayed by
a busy event loop still happens. Each job logs its own failures in one line and never stops the
scheduler.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from typing import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.posting.automation import Automation
from bot.config import Config

log = logging.getLogger("roverbot.schedule")

# Alone, a process queues what it sends and pumps right away. In a cluster the leader queues posts
# the other processes send, and nothing wakes them: they look every second (one indexed query).
CLUSTER_PUMP_SECONDS = 1

JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 120}


def _guarded(name: str, job: Callable[[], Awaitable[object]], running: set[asyncio.Task]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        task = asyncio.current_task()
        if task is not None:
            running.add(task)
        try:
            await job()
        except asyncio.CancelledError:
            # Stopping: what this cycle began is finished by the next start (Automation.recover).
            log.info("%s cycle stopped by shutdown; it is redone on the next start", name)
        except Exception as e:  # one failing cycle must not take the bot down
            log.error("%s cycle failed: %s: %s", name, type(e).__name__, e, exc_info=True)
        finally:
            running.discard(task)  # type: ignore[arg-type]

    run.__name__ = f"{name}_cycle"
    return run


async def stop_running(scheduler: AsyncIOScheduler, seconds: float) -> None:
    """Cancel the cycles still running (a slow poll, a paced send) and wait for them to unwind."""
    running: set[asyncio.Task] = getattr(scheduler, "roverbot_running", set())
    for task in list(running):
        task.cancel()
    if running:
        await asyncio.wait(list(running), timeout=seconds)


def build(automation: Automation, config: Config, *, start_delay: timedelta = timedelta(seconds=2)) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=timezone.utc, job_defaults=JOB_DEFAULTS)
    running: set[asyncio.Task] = set()
    scheduler.roverbot_running = running  # type: ignore[attr-defined]
    first = datetime.now(timezone.utc) + start_delay
    jobs = (
        ("images", automation.images_cycle, IntervalTrigger(minutes=config.poll_interval_minutes), first),
        # Staggered first runs: a restart catches up (undelivered posts, a due digest) within seconds.
        ("delivery", automation.delivery_cycle, IntervalTrigger(seconds=30), first + timedelta(seconds=1)),
        # Alive, leader lease, shards served, send rate: never behind a long delivery.
        ("beat", automation.beat_cycle, IntervalTrigger(seconds=config.beat_seconds), first),
        ("digests", automation.digest_cycle, IntervalTrigger(minutes=1), first + timedelta(seconds=3)),
        ("news", automation.news_cycle, IntervalTrigger(minutes=config.news_interval_minutes), first + timedelta(seconds=6)),
        ("retention", automation.retention_cycle, IntervalTrigger(hours=1), first + timedelta(minutes=5)),
        # The rover's current position (a small file); a new end-of-drive localization is a drives post.
        ("drives", automation.drives_cycle, IntervalTrigger(minutes=config.drives_interval_minutes), first + timedelta(seconds=9)),
    )
    if not automation.alone:
        jobs += (("pump", automation.courier.pump, IntervalTrigger(seconds=CLUSTER_PUMP_SECONDS), first),)
    for name, job, trigger, start in jobs:
        scheduler.add_job(_guarded(name, job, running), trigger, id=name, name=name, next_run_time=start, replace_existing=True,
                          **JOB_DEFAULTS)
    return scheduler
