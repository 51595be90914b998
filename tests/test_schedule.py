from __future__ import annotations

from bot.posting import schedule


async def test_every_job_has_explicit_overlap_and_misfire_settings(bot, config):
    scheduler = schedule.build(bot.automation, config)
    jobs = {j.id: j for j in scheduler.get_jobs()}
    # on a shared database the leader queues what the others send: they look for it every second
    clustered = {"pump"} if not bot.automation.alone else set()
    assert set(jobs) == {"images", "news", "digests", "delivery", "retention", "drives", "beat", *clustered}
    if clustered:
        assert jobs["pump"].trigger.interval.total_seconds() == 1
    # the beat is its own job: a long paced delivery never makes the process look dead to the others
    assert jobs["beat"].trigger.interval.total_seconds() == config.beat_seconds < config.lease_seconds / 2
    assert jobs["drives"].trigger.interval.total_seconds() == config.drives_interval_minutes * 60
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time == 120
    assert jobs["images"].trigger.interval.total_seconds() == config.poll_interval_minutes * 60
    assert jobs["digests"].trigger.interval.total_seconds() == 60


async def test_a_failing_cycle_is_logged_and_contained(caplog):
    async def boom():
        raise RuntimeError("NASA exploded")

    await schedule._guarded("images", boom, set())()
    assert any("images cycle failed: RuntimeError: NASA exploded" in r.getMessage() for r in caplog.records)
