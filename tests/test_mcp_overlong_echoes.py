"""What a client sent far longer than any name, key, zone or URL can be comes back said by its length, not echoed:
a megabyte sent as an argument's name, a time zone or a base URL was the tool error's text (twice for a key), the
server log's line, and the call's trace."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from tests.mcp_tools_helpers import CATALOG, ENV, error_of

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]

LONG = "ä" * 100_000  # (the length is said with a thousands separator: 100,000)
#: every message about it, the longest a client's or the log's
SAID_AT_MOST = 1_000
CALL = {"skill_id": "skill.analysis", "payload": {"data": "x"}}


@pytest.fixture
async def client(db: Path):
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as c:
        yield c


def _said_short(err: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    assert LONG[:300] not in err["message"] and len(err["message"]) < SAID_AT_MOST, err["message"][:300]
    assert "100,000 characters" in err["message"], err["message"]
    lines = [r.getMessage() for r in caplog.records]
    assert lines and all(len(line) < SAID_AT_MOST for line in lines), [line[:200] for line in lines]


@pytest.mark.parametrize(
    ("tool", "arguments", "where", "accepted"),
    [
        ("invoke_skill", {**CALL, LONG: 1}, "", "skill_id"),
        ("invoke_skill", {**CALL, "model_config": {"model": "fake:echo", LONG: 1}}, " in model_config", "fallbacks"),
        ("invoke_skill", {**CALL, "context": {LONG: 1}}, " in context", "data_class"),
        ("summarize_usage", {"filters": {LONG: "a"}}, " in filters", "run_id"),
        ("list_skills", {LONG: 1}, "", "nothing is accepted here"),
    ],
)
async def test_an_argument_name_longer_than_any_is_said_by_its_length(
    client: Client, caplog: pytest.LogCaptureFixture, tool: str, arguments: dict[str, Any], where: str, accepted: str
):
    with caplog.at_level(logging.INFO, logger="magsag_mcp"):
        err = error_of(await client.call_tool(tool, arguments))
    assert err["type"] == "invalid_arguments"
    assert f"unknown argument of 100,000 characters{where} (" in err["message"], err["message"][:300]
    assert accepted in err["message"]  # what it takes, as for a misspelt name
    _said_short(err, caplog)


@pytest.mark.parametrize("tool", ["summarize_usage", "daily_usage"])
async def test_a_time_zone_longer_than_any_is_said_by_its_length(
    client: Client, caplog: pytest.LogCaptureFixture, tool: str
):
    with caplog.at_level(logging.INFO, logger="magsag_mcp"):
        err = error_of(await client.call_tool(tool, {"timezone": LONG}))
    assert err["type"] == "input_error"
    assert err["message"].startswith("timezone: unknown time zone of 100,000 characters; use an IANA name")
    _said_short(err, caplog)


@pytest.mark.parametrize("tool", ["invoke_skill", "explain_route"])
@pytest.mark.parametrize("place", ["model_config", "fallback"])
async def test_a_base_url_longer_than_any_is_refused_by_its_length(
    client: Client, caplog: pytest.LogCaptureFixture, tool: str, place: str
):
    # Taken, it was echoed whole in the call's trace (explain_route's targets), and to a keyed provider's failure
    # as "cannot send a request to http://...: encoding with 'idna' codec failed (UnicodeError: label too long)"
    url = "http://" + LONG
    target = {"model": "fake:echo", "base_url": url}
    settings = target if place == "model_config" else {"model": "fake:echo", "fallbacks": [target]}
    with caplog.at_level(logging.INFO, logger="magsag_mcp"):
        err = error_of(await client.call_tool(tool, {**CALL, "model_config": settings}))
    assert err["type"] in ("invalid_payload", "config_error"), err
    assert "base_url of 100,007 characters: a base URL is at most 2048" in err["message"], err["message"][:300]
    assert LONG[:300] not in err["message"] and len(err["message"]) < SAID_AT_MOST


async def test_a_base_url_of_the_longest_length_taken_is_still_taken(client: Client):
    url = "http://127.0.0.1:9/" + "p" * (2048 - len("http://127.0.0.1:9/"))
    result = await client.call_tool("invoke_skill", {**CALL, "model_config": {"model": "fake:echo", "base_url": url}})
    assert not result.is_error, result.content[0].text
    assert result.structured_content["trace"]["candidates"][0]["base_url"] == url


@pytest.mark.parametrize("tool", ["invoke_skill", "explain_route"])
async def test_a_long_base_url_beside_a_provider_and_no_model_is_refused_too(client: Client, tool: str):
    # {"provider": "local", "base_url": ...} sends the policy's models to the server named: that base URL was taken
    # at any length (never parsed as a target's), and went whole into the trace and to the resolver
    settings = {"provider": "local", "base_url": "http://" + LONG}
    err = error_of(await client.call_tool(tool, {**CALL, "model_config": settings}))
    assert err["type"] == "invalid_payload", err
    assert "base_url of 100,007 characters: a base URL is at most 2048" in err["message"], err["message"][:300]
    assert err["max_length"] == 2048  # as the limit's own error carries it, whatever the place
    assert LONG[:300] not in err["message"] and len(err["message"]) < SAID_AT_MOST


def test_the_python_api_holds_base_urls_to_the_same_limit(db: Path):
    from magsag_mcp import Magsag
    from magsag_mcp.errors import PayloadError

    url = "https://apim.example.test/tenant-a/openai/" + "p" * 3000
    with Magsag(catalog=CATALOG, env={**ENV, "MAGSAG_DB": str(db)}) as mg:
        for settings in ({"model": "fake:echo", "base_url": url}, {"provider": "local", "base_url": url}):
            for payload, context in (
                ({"data": "x", "model_config": settings}, None),
                ({"data": "x"}, {"llm_overrides": settings}),
            ):
                said = r"base_url of 3,\d{3} characters: a base URL is at most 2048"
                with pytest.raises(PayloadError, match=said) as e:
                    mg.skills.invoke("skill.analysis", payload, context=context)
                assert e.value.details["max_length"] == 2048


async def test_a_gateway_base_url_with_a_long_path_is_taken(client: Client):
    # an Azure API Management gateway's address: a tenant's path before the API's, within the limit
    url = "https://apim-contoso.azure-api.net/" + "/".join(["tenant-" + "x" * 60] * 20) + "/openai"
    assert 1000 < len(url) < 2048
    result = await client.call_tool("explain_route", {**CALL, "model_config": {"provider": "local", "base_url": url}})
    assert not result.is_error, result.content[0].text
    assert {t["base_url"] for t in result.structured_content["targets"]} == {url}


@pytest.mark.parametrize("tool", ["invoke_skill", "explain_route"])
async def test_a_params_key_longer_than_any_name_is_said_by_its_length_in_the_trace(client: Client, tool: str):
    # model_config.params is free-form (a vendor's own fields pass through), but a megabyte sent as one of its keys
    # came back whole in the result's trace.candidates (explain_route's targets), at every call
    params = {LONG: 1, "seed": 7}
    settings = {"model": "fake:echo", "params": params}
    result = await client.call_tool(tool, {**CALL, "model_config": settings})
    assert not result.is_error, result.content[0].text[:300]
    shown = result.structured_content
    (target,) = shown["trace"]["candidates"] if tool == "invoke_skill" else shown["targets"]
    assert target["params"] == {"(a key of 100,000 characters)": 1, "seed": 7}
    assert LONG[:300] not in result.content[0].text and len(result.content[0].text) < 20_000


def test_two_params_keys_of_one_long_length_are_both_shown():
    from magsag_mcp.types import shown_params

    other = "ö" * 100_000
    shown = shown_params({LONG: 1, other: {LONG: 3}, "api_key" + "k" * 300: "sk-none"})
    assert shown == {
        "(a key of 100,000 characters)": 1,
        "(a key of 100,000 characters, #2)": {"(a key of 100,000 characters)": 3},
        "(a key of 307 characters)": "[REDACTED]",  # a credential's param still, however long its name
    }


def test_keys_written_alike_as_text_are_both_shown_under_their_own_names():
    # A routing file's nested params may hold an int key beside its text (YAML: {1: a, '1': b}): both are "1" as text,
    # and the second was numbered as if it were a key said by its length, the last character of its name cut: ", #2)"
    from magsag_mcp.types import shown_params

    assert shown_params({"logit_bias": {1: -100, "1": 5}}) == {"logit_bias": {"1": -100, "1 (#2)": 5}}
    assert shown_params({"ab": 1, "seed": [{7: "x", "7": "y", "7 (#2)": "z"}]}) == {
        "ab": 1,
        "seed": [{"7": "x", "7 (#2)": "y", "7 (#2) (#2)": "z"}],
    }
