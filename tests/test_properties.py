"""Hostile input, as property tests: whatever arrives, the answer is a value or our own clear error."""

from __future__ import annotations

import copy
from datetime import timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.mars import cameras
from bot import compose, config
from bot.sources import parse
from bot.answers import subscribing
from bot.cli import CliError, parse_command
from bot.models import UnknownCamera
from bot.sources.news import NewsError, parse_feed
from tests.nasa_standin import load_fixture

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
REAL = load_fixture("m2020_raw_latest_sol1994_navcam_left_page0_num12.json")["images"][0]
CATALOGUE = cameras.default()
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _valid(img) -> None:
    assert img.image_id and img.exposure_id and img.sol >= 0 and img.version >= 0
    assert img.large.startswith(("http://", "https://"))
    assert img.taken_utc is None or img.taken_utc.tzinfo is not None


@FAST
@given(JSON)
def test_any_json_never_escapes_the_parser(payload):
    try:
        page = parse.page(payload)
    except parse.Malformed:
        return
    for img in page.images:
        _valid(img)


@FAST
@given(st.dictionaries(st.sampled_from(sorted(REAL)), JSON, max_size=6))
def test_a_real_record_with_any_fields_replaced_is_valid_or_skipped(changes):
    rec = copy.deepcopy(REAL) | changes
    page = parse.page({"images": [rec, copy.deepcopy(REAL) | {"imageid": "NLG_1994_0843961141_380ECM_N0910970NCAM00519_00_2I3J"}]})
    assert len(page.images) + page.skipped >= 1
    for img in page.images:
        _valid(img)


@FAST
@given(st.lists(st.sampled_from(["images", "per_page", "error_message", "items", "more", "photos"]), max_size=3), JSON)
def test_page_shapes_with_junk(keys, junk):
    payload = {k: junk for k in keys}
    try:
        parse.page(payload, expect_sol=3, page_size=100)
    except parse.Malformed:
        pass


@FAST
@given(st.text(max_size=40))
def test_utc_never_raises(text):
    moment = parse.utc(text)
    assert moment is None or moment.tzinfo == timezone.utc


@FAST
@given(st.binary(max_size=2000) | st.text(max_size=2000).map(lambda t: f"<rss><channel><item><title>{t}</title></item></channel></rss>".encode()))
def test_any_bytes_into_the_rss_path(data):
    try:
        items = parse_feed(data, "https://example.org/feed/")
    except NewsError:
        return
    for item in items:
        assert item.key and item.title


@FAST
@given(st.text(max_size=40))
def test_any_camera_name(text):
    try:
        sel = CATALOGUE.resolve(text)
    except UnknownCamera as e:
        assert len(e.suggestions) <= 3 and "\n" not in str(e)
        return
    assert sel.codes or sel.key == ""


@FAST
@given(st.text(max_size=40))
def test_any_sol_argument(text):
    try:
        cmd = parse_command(f"/sol {text}")
    except CliError as e:
        assert "\n" not in str(e)
        return
    assert isinstance(cmd.sol, int)


@FAST
@given(st.text(max_size=30), st.text(max_size=40))
def test_any_time_and_timezone(time_text, zone_text):
    try:
        hhmm = subscribing.clock_time(time_text)
        assert len(hhmm) == 5 and 0 <= int(hhmm[:2]) <= 23 and 0 <= int(hhmm[3:]) <= 59
    except subscribing.BadSubscription:
        pass
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(subscribing.zone(zone_text))
    except subscribing.BadSubscription:
        pass


@FAST
@given(st.dictionaries(st.sampled_from(["nasa", "polling", "news", "storage", "discord", "posting", "other"]),
                       st.dictionaries(st.text(max_size=20), JSON, max_size=4) | JSON, max_size=4))
def test_any_config_document(doc):
    try:
        c = config.parse(doc)
    except config.ConfigError as e:
        assert "\n" not in str(e)
        return
    assert c.nasa_base_url.startswith("http") and c.poll_interval_minutes >= 1


@FAST
@given(st.text(max_size=3000), st.integers(min_value=1, max_value=300))
def test_feed_text_is_defused_and_trimmed(text, limit):
    out = compose.clip(compose.safe(text), limit)
    assert len(out) <= limit
    assert "@everyone" not in out.lower().replace("@\u200beveryone", "") or "@\u200b" in out
