"""An argument that takes one of a few words (a status filter, a provider), given another word, from a client's
view: the refusal says the word is not among them, and for a provider, where a vendor that is not listed is served."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from tests.mcp_tools_helpers import CATALOG, ENV, error_of

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]


@pytest.fixture
async def client(db: Path):
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as c:
        yield c


async def test_a_word_outside_the_choices_is_said_to_be_none_of_them(client: Client):
    """A status of 'bogus' was answered "expected one of 'ok', ..., got a string": it was a string, as every choice
    is, and a model read that its type was wrong. The word itself is still not quoted back (it may be a key pasted
    into the wrong place)."""
    for tool in ("query_runs", "summarize_usage", "daily_usage"):
        err = error_of(await client.call_tool(tool, {"filters": {"status": "bogus"}}))
        message = err["message"]
        assert (
            "filters.status: expected one of 'ok', 'error', 'policy_denied', 'budget_exceeded', 'cancelled' or "
            "'running', got a string that is none of them" in message
        ), message
        assert "bogus" not in message
    # a word near one of them is still told the one it means
    err = error_of(await client.call_tool("query_runs", {"filters": {"status": "failed"}}))
    assert "got a string that is none of them (did you mean 'error'?)" in err["message"]


@pytest.mark.parametrize("vendor", ["mistral", "groq", "openrouter"])
async def test_a_vendor_not_listed_as_a_provider_is_pointed_to_compat(client: Client, vendor: str):
    """The Python API and `magsag invoke` answer model_config.provider 'mistral' with "unknown provider 'mistral'; use
    one of: ... (compat: any OpenAI-compatible endpoint, at MAGSAG_COMPAT_BASE_URL)"; the MCP tools answered "expected
    one of 'anthropic', ..., got a string", which left a model no way to reach the vendor it was asked to use. In
    model_config and in a fallback alike, each tool that takes one."""
    calls = [
        ("invoke_skill", {"model_config": {"model": "mistral-large-latest", "provider": vendor}}, "model_config"),
        ("explain_route", {"model_config": {"fallbacks": [{"model": "m", "provider": vendor}]}}, "model_config"),
        ("check_budget", {"model_config": {"provider": vendor}}, "model_config"),
    ]
    for tool, args, _ in calls:
        err = error_of(
            await client.call_tool(
                tool,
                {"skill_id": "skill.analysis", "payload": {"data": "x"}, **args}
                if tool != "check_budget"
                else {"skill": "skill.analysis", **args},
            )
        )
        message = err["message"]
        assert "provider: expected one of" in message, message
        assert "compat" in message and "MAGSAG_COMPAT_BASE_URL" in message and "OpenAI-compatible" in message, message


async def test_a_misspelt_provider_is_told_the_one_it_means_not_compat(client: Client):
    for written, meant in (("opnai", "openai"), ("antropic", "anthropic"), ("olama", "ollama")):
        args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": {"provider": written}}
        message = error_of(await client.call_tool("invoke_skill", args))["message"]
        assert f"(did you mean {meant!r}?)" in message and "MAGSAG_COMPAT_BASE_URL" not in message, message


@pytest.mark.parametrize("written", ["mistral", "fak", 5])
async def test_a_refused_provider_is_offered_no_test_only_one(client: Client, written: object):
    """The service's refusal offers the providers a user's calls go to (offered_provider_names: no fake); the tools'
    said "expected one of 'anthropic', 'azure', 'compat', 'fake', ...", offering the scripted test provider beside
    openai as one to call. In model_config and in a fallback alike; 'fake' itself is still taken."""
    offered = "expected one of 'anthropic', 'azure', 'compat', 'google', 'local' or 'openai', got a"
    for model_config in ({"provider": written}, {"fallbacks": [{"model": "m", "provider": written}]}):
        args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": model_config}
        message = error_of(await client.call_tool("explain_route", args))["message"]
        assert offered in message and "fake" not in message, message
    taken = await client.call_tool(
        "invoke_skill", {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": {"provider": "fake"}}
    )
    assert not taken.is_error, taken.content


async def test_a_time_zone_written_as_its_abbreviation_is_told_the_iana_zone(client: Client):
    """timezone 'PST' (a model's, or a person's, way of writing it) was answered "unknown time zone 'PST'; use an IANA
    name such as 'UTC' or 'Europe/Berlin'", naming no zone of the place meant; an abbreviation of several places
    names each. The policy's timezone and the CLI's --timezone read the same words (zones.zone_problem)."""
    from magsag_mcp.zones import zone_problem

    for tool in ("summarize_usage", "daily_usage", "query_runs"):
        message = error_of(await client.call_tool(tool, {"timezone": "PST"}))["message"]
        assert "'America/Los_Angeles' (US Pacific time)" in message, message
    said = zone_problem("ist")
    assert said is not None and "'Asia/Kolkata' (India), 'Europe/Dublin' (Ireland) or 'Asia/Jerusalem'" in said
    assert zone_problem("EST") is None  # an IANA zone of its own (UTC-5 all year), taken as written


async def test_a_report_in_est_or_mst_says_the_zone_keeps_no_summer_time(client: Client):
    """'EST' is an IANA zone of its own (UTC-5 all year, Panama's clock), taken as written; a caller writing it for
    New York got days an hour off from March to November with no word of it. The report now says so, and names the
    zone with summer time kept; a zone that keeps it (America/New_York) and UTC get no such note."""
    for tool in ("summarize_usage", "daily_usage"):
        for zone, meant in (("EST", "America/New_York"), ("MST", "America/Denver")):
            result = await client.call_tool(tool, {"timezone": zone})
            assert not result.is_error, result.content
            notes = json.loads(result.content[0].text)["notes"]
            said = [note for note in notes if note.startswith(f"timezone {zone!r} is UTC-")]
            assert len(said) == 1 and "no summer time" in said[0] and f"give timezone {meant!r}" in said[0], notes
        for zone in ("America/New_York", "UTC", "HST"):
            notes = json.loads((await client.call_tool(tool, {"timezone": zone})).content[0].text)["notes"]
            assert not [note for note in notes if note.startswith("timezone ")], (zone, notes)


def test_each_abbreviation_names_only_zones_it_is_said_for():
    """CDT and CT named Asia/Shanghai beside Chicago (China keeps no summer time, and its clock is CST, never CT);
    BST named only London, where Bangladesh's clock is BST too. Every abbreviation is no IANA zone (or it would be
    taken, never told), and every zone it names is one."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from magsag_mcp.zone_offsets import _ABBREVIATIONS, abbreviation_hint

    for name, zones in _ABBREVIATIONS.items():
        with pytest.raises(ZoneInfoNotFoundError):
            ZoneInfo(name)
        for zone, _ in zones:
            ZoneInfo(zone)
    for name in ("CDT", "CT"):
        said = abbreviation_hint(name)
        assert "'America/Chicago' (US Central time)" in said and "Shanghai" not in said, said
    assert "'Asia/Shanghai' (China)" in abbreviation_hint("CST")
    assert "'Europe/London' (the UK) or 'Asia/Dhaka' (Bangladesh)" in abbreviation_hint("BST")
