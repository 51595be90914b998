"""The NASA client over real HTTP against the loopback stand-in."""

from __future__ import annotations

import pytest

from bot.sources.nasa import NasaClient, NasaError, make_http_client, raw_image_params
from tests.nasa_standin import Fault


async def test_query_is_sent_as_documented(nasa, nasa_standin):
    await nasa.raw_images(page=2, num=100, order="sol desc", instruments=("NAVCAM_LEFT", "NAVCAM_RIGHT"), sol_min=3, sol_max=3)
    req = nasa_standin.feed_requests[-1]
    q = dict(req["params"])
    assert q["feed"] == "raw_images" and q["category"] == "mars2020" and q["feedtype"] == "json"
    assert q["num"] == "100" and q["page"] == "2"
    assert q["order"] == "sol desc"  # a real space reached the server, not a literal '+'
    assert q["search"] == "NAVCAM_LEFT|NAVCAM_RIGHT"
    assert q["condition_2"] == "3:sol:gte" and q["condition_3"] == "3:sol:lte" and "condition_1" not in q
    assert q["extended"] == "sample_type::full"
    assert "tests@example.org" in req["headers"]["User-Agent"]


async def test_latest_summary_and_helicopter_category(nasa, nasa_standin):
    body = await nasa.latest()
    assert body["latest_sol"] == 1994 and dict(nasa_standin.feed_requests[-1]["params"])["latest"] == "true"
    await nasa.raw_images(instruments=("HELI_NAV",))
    assert dict(nasa_standin.feed_requests[-1]["params"])["category"] == "mars2020,ingenuity"


def test_params_refuse_what_nasa_would_silently_ignore():
    with pytest.raises(ValueError):
        raw_image_params(num=101)
    with pytest.raises(ValueError):
        raw_image_params(page=-1)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_transient_failures_are_retried(nasa, nasa_standin, status):
    nasa_standin.faults.append(Fault(status=status, body=b"<html>busy</html>", content_type="text/html"))
    body = await nasa.raw_images()
    assert body["images"] and len(nasa_standin.feed_requests) == 2


@pytest.mark.parametrize("fault, says", [
    (Fault(status=503), "HTTP 503"),
    (Fault(body=b"<html><body>Service unavailable</body></html>", content_type="text/html"), "not valid JSON (text/html"),
    (Fault(body=b'{"images": [{"sol": 3, "imag'), "not valid JSON"),
])
async def test_every_failure_becomes_one_error_type_with_a_clear_message(nasa, nasa_standin, fault, says):
    nasa_standin.faults.extend([fault] * 3)  # 1 try + 2 retries
    with pytest.raises(NasaError) as e:
        await nasa.raw_images()
    assert says in str(e.value)
    assert len(nasa_standin.feed_requests) == 3


async def test_client_errors_are_not_retried(nasa, nasa_standin):
    nasa_standin.faults.append(Fault(status=404, body=b"nope", content_type="text/plain"))
    with pytest.raises(NasaError, match="HTTP 404") as e:
        await nasa.raw_images()
    assert not e.value.transient and len(nasa_standin.feed_requests) == 1


async def test_a_hang_past_the_timeout(nasa_standin):
    nasa_standin.faults.append(Fault(delay=1.0))
    http = make_http_client("ua (contact: t@example.org)", 0.2)
    try:
        client = NasaClient(http, nasa_standin.url, retries=0)
        with pytest.raises(NasaError, match="did not answer in time"):
            await client.raw_images()
    finally:
        await http.aclose()


async def test_nothing_listening():
    http = make_http_client("ua (contact: t@example.org)", 1)
    try:
        client = NasaClient(http, "http://127.0.0.1:9", retries=1, backoff_seconds=0.01)
        with pytest.raises(NasaError, match="could not be reached"):
            await client.latest()
    finally:
        await http.aclose()


async def test_backoff_grows(nasa_standin):
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    nasa_standin.faults.extend([Fault(status=503)] * 3)
    http = make_http_client("ua (contact: t@example.org)", 5)
    try:
        client = NasaClient(http, nasa_standin.url, retries=3, backoff_seconds=1.0, sleep=sleep)
        await client.raw_images()
    finally:
        await http.aclose()
    assert slept == [1.0, 2.0, 4.0]
