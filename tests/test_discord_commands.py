"""Every command and its error paths, dispatched as raw INTERACTION_CREATE payloads through
discord.py's own parser, asserting the HTTP requests that reach the Discord stand-in."""

from __future__ import annotations

import pytest

from bot.mars import rovers
from tests.conftest import _services, dispatch
from tests.nasa_standin import Fault, make_record


def _sol3(nasa_standin):
    nasa_standin.records += [make_record(3, "NAVCAM_LEFT", n=i) for i in range(7)]
    nasa_standin.records += [make_record(3, "NAVCAM_RIGHT", n=100 + i) for i in range(5)]
    nasa_standin.records += [make_record(3, "MCZ_LEFT", n=200 + i) for i in range(3)]


async def test_sol_defers_then_edits_in_the_gallery(bot, discord_standin, nasa_standin):
    _sol3(nasa_standin)
    await dispatch(bot, discord_standin.command("sol", {"sol": 3, "camera": "navcam"}))
    [callback] = discord_standin.calls("POST", r"/interactions/\d+/.+/callback")
    assert callback["json"]["type"] == 5  # deferred: NASA may take 15 s
    assert callback["query"].get("with_response") in ("1", "true", "True")
    [edit] = discord_standin.calls("PATCH", "/messages/@original")
    body = edit["json"]
    assert body["content"].startswith("**Sol 3 · Navcam** — 12 pictures")
    assert len(body["embeds"]) == 5 and body["embeds"][0]["image"]["url"].endswith("_1200.jpg")
    # no frame twice in one card: the large picture, and no thumbnail of the same frame
    assert all("thumbnail" not in e for e in body["embeds"])
    buttons = body["components"][0]["components"]
    assert [b["label"] for b in buttons] == ["◀ Previous", "Page 1/3", "Next ▶"]
    assert buttons[2]["custom_id"] == "rbg:mars2020:3:navcam:1"
    assert body["allowed_mentions"]["parse"] == []
    assert "rejected" not in edit


async def test_paging_button_edits_the_message_in_place(bot, discord_standin, nasa_standin):
    _sol3(nasa_standin)
    await dispatch(bot, discord_standin.command("sol", {"sol": 3, "camera": "navcam"}))
    message = discord_standin.calls("PATCH", "/messages/@original")[-1]
    original = discord_standin.interactions[message["path"].split("/")[3]].original
    await dispatch(bot, discord_standin.click(original, "rbg:mars2020:3:navcam:1"))
    callbacks = discord_standin.calls("POST", "/callback")
    assert callbacks[-1]["json"]["type"] == 6  # deferred update of the message with the button
    page2 = discord_standin.calls("PATCH", "/messages/@original")[-1]
    assert page2["path"].split("/")[3] == callbacks[-1]["path"].split("/")[3]  # the click's own message
    assert "Page 2/3" in str(page2["json"]["components"])
    clicked = discord_standin.interactions[page2["path"].split("/")[3]].original
    await dispatch(bot, discord_standin.click(clicked, "rbg:mars2020:3:navcam:2"))
    page3 = discord_standin.calls("PATCH", "/messages/@original")[-1]["json"]
    assert len(page3["embeds"]) == 2 and page3["components"][0]["components"][1]["label"] == "Page 3/3"
    assert page3["components"][0]["components"][2]["disabled"] is True


async def test_buttons_keep_working_after_a_restart(discord_standin, nasa_standin, config, clock, catalogue, store, nasa, gallery, poller):
    """A fresh bot that never sent the message still handles its buttons: state lives in the custom id."""
    from bot.chat import app
    from bot import services

    _sol3(nasa_standin)
    app.apply_endpoints({"DISCORD_API_BASE": discord_standin.api_base})
    svc = _services(config, clock, catalogue, store, nasa, gallery, poller)
    fresh = app.RoverBot(svc, guild_ready_timeout=0.1)
    await fresh.login("t")
    try:
        buttons = {"type": 1, "components": [{"type": 2, "style": 2, "label": "Next ▶", "custom_id": "rbg:mars2020:3:navcam:1"}]}
        old_message = discord_standin.message_object(discord_standin.general.id, {"content": "old gallery", "components": [buttons]},
                                                     interaction=True)
        await dispatch(fresh, discord_standin.click(old_message, "rbg:mars2020:3:navcam:1"))
        edit = discord_standin.calls("PATCH", "/messages/@original")[-1]["json"]
        assert "Page 2/3" in str(edit["components"])
    finally:
        await fresh.close()
        app.apply_endpoints({})


@pytest.mark.parametrize("options, says", [
    ({"sol": 3, "camera": "navkam"}, "I don't know a camera called `navkam`. Did you mean `navcam`"),
    ({"sol": 99999}, "Sol 99999 hasn't happened yet"),
])
async def test_bad_input_is_answered_privately_without_waiting_on_nasa(bot, discord_standin, nasa_standin, options, says):
    await dispatch(bot, discord_standin.command("sol", options))
    [callback] = discord_standin.calls("POST", "/callback")
    assert callback["json"]["type"] == 4 and callback["json"]["data"]["flags"] & 64  # ephemeral
    assert says in callback["json"]["data"]["content"]
    assert nasa_standin.requests == []


async def test_negative_sol_is_refused_by_the_command_tree(bot, discord_standin):
    await dispatch(bot, discord_standin.command("sol", {"sol": -1}))
    [callback] = discord_standin.calls("POST", "/callback")
    assert callback["json"]["data"]["flags"] & 64 and "-1" in callback["json"]["data"]["content"]


async def test_no_images_explained_privately_and_the_public_placeholder_removed(bot, discord_standin):
    await dispatch(bot, discord_standin.command("sol", {"sol": 975}))
    assert discord_standin.calls("POST", "/callback")[0]["json"]["type"] == 5
    assert discord_standin.calls("DELETE", "/messages/@original")
    [followup] = discord_standin.calls("POST", r"/webhooks/\d+/[^/]+$")
    assert followup["json"]["flags"] & 64 and "solar conjunction" in followup["json"]["content"]


async def test_nasa_down_is_said_privately(bot, discord_standin, nasa_standin):
    nasa_standin.faults.extend([Fault(status=503)] * 3)
    await dispatch(bot, discord_standin.command("sol", {"sol": 1994}))
    [followup] = discord_standin.calls("POST", r"/webhooks/\d+/[^/]+$")
    assert followup["json"]["flags"] & 64 and "isn't answering" in followup["json"]["content"]


async def test_unexpected_failure_is_logged_and_apologised_for(bot, discord_standin, monkeypatch, caplog):
    async def broken(*a, **k):
        raise KeyError("surprise")

    monkeypatch.setattr(bot.services.gallery_for(rovers.PERSEVERANCE), "latest", broken)
    await dispatch(bot, discord_standin.command("latest", {}))
    [followup] = discord_standin.calls("POST", r"/webhooks/\d+/[^/]+$")
    assert followup["json"]["flags"] & 64 and "Sorry" in followup["json"]["content"]
    assert "Traceback" not in followup["json"]["content"]
    assert any("/latest failed" in r.getMessage() for r in caplog.records)


async def test_latest_with_camera(bot, discord_standin):
    await dispatch(bot, discord_standin.command("latest", {"camera": "NAVCAM_RIGHT"}))
    body = discord_standin.calls("PATCH", "/messages/@original")[-1]["json"]
    assert "Sol 1965" in body["content"] and "1 picture" in body["content"]
    assert body["components"] == []  # one page: no buttons


async def test_camera_autocomplete(bot, discord_standin):
    await dispatch(bot, discord_standin.command("sol", {"sol": 3, "camera": "mast"}, focused="camera"))
    [callback] = discord_standin.calls("POST", "/callback")
    assert callback["json"]["type"] == 8
    values = [c["value"] for c in callback["json"]["data"]["choices"]]
    assert values[0] == "mastcam" and "MCZ_LEFT" in values and len(values) <= 25


async def test_now(bot, discord_standin):
    await dispatch(bot, discord_standin.command("now"))
    [callback] = discord_standin.calls("POST", "/callback")
    embed = callback["json"]["data"]["embeds"][0]
    assert embed["title"] == "It is sol 1996 for Perseverance"
    assert [f["name"] for f in embed["fields"]][:3] == ["Sol", "Local mean solar time", "Earth time"]
    assert not callback["json"]["data"].get("flags")


async def test_milestone_card_with_pictures_from_its_sol(bot, discord_standin, nasa_standin):
    nasa_standin.records += [make_record(58, "HELI_NAV", n=i) for i in range(2)]
    await dispatch(bot, discord_standin.command("milestone", {"name": "first-flight"}))
    body = discord_standin.calls("PATCH", "/messages/@original")[-1]["json"]
    card = body["embeds"][0]
    assert card["title"] == "First powered flight on another planet"
    fields = {f["name"]: f["value"] for f in card["fields"]}
    assert fields["Date"].startswith("<t:") and fields["Sol"] == "58"
    assert "Ingenuity nav" in fields["Cameras"] and card["image"]["url"].endswith("_1200.jpg")
    assert body["components"][0]["components"][0]["custom_id"] == "rbg:mars2020:58::0"
    q = dict(nasa_standin.feed_requests[0]["params"])
    assert q["category"] == "mars2020,ingenuity"


async def test_unverified_milestone_says_so(bot, discord_standin):
    await dispatch(bot, discord_standin.command("milestone", {"name": "leaving-jezero"}))
    card = discord_standin.calls("PATCH", "/messages/@original")[-1]["json"]["embeds"][0]
    fields = {f["name"]: f["value"] for f in card["fields"]}
    assert "third-party" in fields["Not confirmed"] and fields["Sol"].startswith("≈ 1702")


async def test_milestone_timeline_and_paging(bot, discord_standin):
    await dispatch(bot, discord_standin.command("milestone"))
    [callback] = discord_standin.calls("POST", "/callback")
    data = callback["json"]["data"]
    assert callback["json"]["type"] == 4 and "Launch from Cape Canaveral" in data["embeds"][0]["description"]
    later = data["components"][0]["components"][1]
    assert later["custom_id"] == "rbm:timeline:1"
    message = discord_standin.interactions[callback["path"].split("/")[3]].original
    await dispatch(bot, discord_standin.click(message, later["custom_id"]))
    update = discord_standin.calls("POST", "/callback")[-1]["json"]
    assert update["type"] == 7 and "Page 2/4" in update["data"]["embeds"][0]["footer"]["text"]


async def test_unknown_milestone_and_autocomplete(bot, discord_standin):
    await dispatch(bot, discord_standin.command("milestone", {"name": "first-fligth"}))
    data = discord_standin.calls("POST", "/callback")[-1]["json"]["data"]
    assert data["flags"] & 64 and "`first-flight`" in data["content"]
    await dispatch(bot, discord_standin.command("milestone", {"name": "selfie"}, focused="name"))
    choices = discord_standin.calls("POST", "/callback")[-1]["json"]["data"]["choices"]
    assert choices and choices[0]["value"] == "watson-selfie"


async def test_an_interaction_answered_twice_is_not_answered_again(bot, discord_standin, caplog):
    payload = discord_standin.command("now")
    await dispatch(bot, payload)
    await dispatch(bot, payload)  # the gateway delivered it twice
    rejected = [c for c in discord_standin.calls("POST", "/callback") if c.get("rejected") == 40060]
    assert len(rejected) == 1  # Discord refused the second; the bot logged it and carried on
    await dispatch(bot, discord_standin.command("now"))
    assert discord_standin.calls("POST", "/callback")[-1].get("rejected") is None
