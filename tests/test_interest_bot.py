"""The best pictures first, end to end: a realistic downlink through the poller, the outbox and the
hourly budget, counted where it lands (the Discord stand-in)."""

from __future__ import annotations

from datetime import timedelta

from bench.burst import MASTCAM_MOSAIC, NAVCAM_360, realistic_burst


async def test_a_realistic_downlink_spends_the_hour_on_the_best_and_holds_the_rest(connected_bot, discord_standin,
                                                                                   nasa_standin, store, clock):
    automation = connected_bot.automation
    automation.courier.messages_per_hour = 12
    await automation.images_cycle()  # the baseline
    ch = discord_standin.general
    store.subscriptions.subscribe(discord_standin.guild_id, ch.id, "images", mission="mars2020", at=clock().timestamp())
    store.subscriptions.subscribe(discord_standin.guild_id, ch.id, "digest", mission="mars2020", at=clock().timestamp())
    records = realistic_burst()
    arrival = clock.now + timedelta(minutes=1)
    for i, rec in enumerate(records):
        rec["date_received"] = (arrival + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
    nasa_standin.records += records
    clock.now += timedelta(minutes=10)
    await automation.images_cycle()
    await automation.delivery_cycle()
    posted = ch.messages
    text = "\n".join(m["content"] for m in posted)
    assert len(posted) <= 12
    assert f"sequence {NAVCAM_360}" in text and f"sequence {MASTCAM_MOSAIC}" in text
    # the engineering singles arrived as one "also on sol" post, not one each
    assert sum("Hazcam" in m["content"] and "New from" in m["content"] for m in posted) <= 1
    # nothing dropped: every exposure is in a sent or a held post
    exposures = {e for entry in store.outbox.entries(kind="images") if entry.status in ("sent", "held")
                 for e in entry.payload.exposures}
    assert len(exposures) == 324
