"""Downtime soak: the soak's mission (bench/soak.py) with the bot SIGKILLed mid-cycle at random points,
an hour of downtime after each kill, and a new bot process on the same database (it calls recover()).

The Discord stand-in forgets nonces after 5 minutes of its clock, which is the simulated clock: after
the hour, a re-send of a post that reached Discord just before the kill is NOT deduplicated by Discord;
only the bot's own check of the channel history prevents a second copy. Half the kills land at the
worst moment -- right after Discord accepted a message, before the bot heard the answer -- and half
after a random delay into the cycle.

Counted at the Discord stand-in: every picture once per channel (post or digest), every news item
once, one digest per local day, and no post reference twice in a channel.

    python -c 'from bench.downtime import main; main()'        # or: python -m bench.run downtime
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bench.soak import Row, delivery_rows, mission

SOLS = 4
CHANNELS = 20
RESTARTS = 10


def bench_downtime(tmp: Path, *, sols: int = SOLS, channels: int = CHANNELS, restarts: int = RESTARTS, seed: int = 11,
                   progress=None) -> list[Row]:
    o = mission(tmp, sols=sols, channels=channels, restarts=restarts, downtime=timedelta(hours=1), seed=seed,
                progress=progress)
    mid = sum(1 for r in o.restarts if r["mid_cycle"])
    accepted = sum(1 for r in o.restarts if r["mode"] == "accepted" and r["mid_cycle"])
    rows = delivery_rows("downtime", o) + [
        ("downtime: restarts (SIGKILL mid-cycle, +1 h each)", f"{mid}/{len(o.restarts)} ({accepted} right after Discord"
         " accepted a send)", f"{restarts}", mid == restarts),
        ("downtime: messages / pictures / sols / channels", f"{o.messages:,} / {o.total_pictures:,} / {o.sols} / {o.channels}",
         "", True),
        ("downtime: bot start after a kill (process, recover, gateway)",
         f"{max((r['restart_s'] for r in o.restarts), default=0):.1f} s max", "", True),
    ]
    if o.digest_detail:
        rows.append(("downtime: digest channels off (channel, zone, sent, due)", str(o.digest_detail[:3]), "none", False))
        rows.append(("downtime: restarts", str(o.restarts), "", True))
    if o.duplicate_detail:
        rows.append(("downtime: duplicated refs (channel, ref, copies)", str(o.duplicate_detail[:5]), "none", False))
    return rows


def main() -> None:
    import sys
    import tempfile

    from bench.run import print_table

    with tempfile.TemporaryDirectory() as tmp:
        rows = bench_downtime(Path(tmp), progress=(lambda m: print(m, flush=True)) if "-v" in sys.argv else None)
    print_table(rows)
