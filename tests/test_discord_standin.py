"""The Discord stand-in is only useful if it refuses what Discord refuses."""

from __future__ import annotations

import pytest

from tests.discord_standin import Rejection, check_message


@pytest.mark.parametrize("body, field", [
    ({"content": "x" * 2001}, "content"),
    ({"embeds": [{"title": "t"}] * 11}, "embeds"),
    ({"embeds": [{"title": "x" * 257}]}, "embeds.0.title"),
    ({"embeds": [{"description": "x" * 4097}]}, "embeds.0.description"),
    ({"embeds": [{"description": "x" * 4000}, {"description": "x" * 2500}]}, "embeds"),
    ({"embeds": [{"title": "t", "fields": [{"name": "n", "value": "v" * 1025}]}]}, "embeds.0.fields.0.value"),
    ({"components": [{"type": 1, "components": [{"type": 2, "custom_id": "a"}, {"type": 2, "custom_id": "a"}]}], "content": "x"}, "components.0.components.1.custom_id"),
    ({"content": ""}, "content"),
])
def test_limits_are_enforced_with_50035(body, field):
    with pytest.raises(Rejection) as e:
        check_message(body)
    assert e.value.code == 50035 and field in e.value.errors


def test_a_valid_message_passes():
    check_message({"content": "hi", "embeds": [{"title": "t", "description": "d", "fields": [{"name": "n", "value": "v"}]}]})
