from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.mars import marstime

RECORDS = json.loads((Path(__file__).parent / "fixtures" / "marstime-validation.json").read_text())["records"]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.rstrip("Z")).replace(tzinfo=timezone.utc)


def _seconds(lmst: str) -> float:
    h, m, s = lmst.split("M")[1].split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


@pytest.mark.parametrize("rec", RECORDS, ids=lambda r: f"{r['mission']}-sol{r['official_sol']}")
def test_every_validation_record(rec):
    clock = marstime.clock(_utc(rec["utc"]), marstime.MISSIONS[rec["mission"]])
    assert clock.sol == rec["official_sol"]
    if rec["official_lmst"] and "ANOMALY" not in rec["note"]:
        diff = abs(clock.lmst_seconds - _seconds(rec["official_lmst"]))
        assert min(diff, 86400 - diff) < 5, (clock.lmst, rec["official_lmst"])


def test_sol_intervals_from_the_doc():
    start, end = marstime.sol_interval(0, marstime.PERSEVERANCE)
    assert abs(start - datetime(2021, 2, 18, 4, 24, 15, tzinfo=timezone.utc)) < timedelta(seconds=2)
    assert abs(end - datetime(2021, 2, 19, 5, 3, 50, tzinfo=timezone.utc)) < timedelta(seconds=2)
    start, end = marstime.sol_interval(3, marstime.PERSEVERANCE)
    assert abs(start - datetime(2021, 2, 21, 6, 23, 0, tzinfo=timezone.utc)) < timedelta(seconds=2)
    assert abs((end - start).total_seconds() - marstime.SOL_SECONDS) < 0.01
    start, _ = marstime.sol_interval(0, marstime.CURIOSITY)
    assert abs(start - datetime(2012, 8, 5, 13, 49, 57, tzinfo=timezone.utc)) < timedelta(seconds=2)


@pytest.mark.parametrize("sol", [0, 1, 100, 1000, 2000])
def test_inverse_round_trips(sol):
    start, end = marstime.sol_interval(sol, marstime.PERSEVERANCE)
    assert marstime.sol_at(start + timedelta(seconds=1), marstime.PERSEVERANCE) == sol
    assert marstime.sol_at(end - timedelta(seconds=1), marstime.PERSEVERANCE) == sol
    assert marstime.sol_at(end + timedelta(seconds=1), marstime.PERSEVERANCE) == sol + 1


def test_naive_times_are_utc_and_overlap():
    naive = datetime(2021, 2, 21, 12, 0)
    assert marstime.sol_at(naive, marstime.PERSEVERANCE) == marstime.sol_at(naive.replace(tzinfo=timezone.utc), marstime.PERSEVERANCE) == 3
    day = marstime.sols_overlapping(datetime(2021, 2, 21, tzinfo=timezone.utc), datetime(2021, 2, 22, tzinfo=timezone.utc), marstime.PERSEVERANCE)
    assert list(day) == [2, 3]
