"""MCP arguments taken as their schema types them, and empty text read the same way by every tool, through the SDK's
in-memory client."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.client import Client

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts"), pytest.mark.usefixtures("restored_secrets")]

CALL = {"skill_id": "skill.analysis", "payload": {"data": "x"}}


async def error_text(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool}({arguments}) was accepted: {result.content[0].text[:200]}"
    assert result.structured_content["error"]["type"] == "invalid_arguments"
    return result.content[0].text


@pytest.mark.parametrize("value", ["yes", "no", "true", "1", 1, 0, 1.0, "on"])
@pytest.mark.parametrize(
    ("where", "config"),
    [
        ("model_config.stream", lambda v: {"stream": v}),
        (
            "model_config.response_format.json_schema.strict",
            lambda v: {"response_format": {"type": "json_schema", "json_schema": {"name": "a", "strict": v}}},
        ),
    ],
)
async def test_a_boolean_argument_takes_true_or_false_only(client: Client, where: str, config: Any, value: Any):
    # pydantic's lax mode read "yes", "on", "1", 1 and 1.0 as true ("no" and 0 as false): stream "yes" streamed, though
    # the published schema says boolean and the Python API refuses the same value ("stream must be true or false"). A
    # model that wrote "no" meaning something else got a call it did not ask for, and no word of it.
    for tool in ("invoke_skill", "explain_route"):
        text = await error_text(client, tool, {**CALL, "model_config": config(value)})
        assert f"{where}: expected true or false" in text, text


async def test_a_boolean_argument_still_takes_true_and_false(client: Client):
    for value in (True, False):
        result = await client.call_tool("invoke_skill", {**CALL, "model_config": {"stream": value}})
        assert not result.is_error, result.content[0].text


async def test_check_budget_reads_an_empty_run_id_as_none_as_it_reads_an_empty_agent(client: Client):
    # {"agent": ""} answered agent null and {"run_id": ""} answered run_id "": the same empty text, one echoed as a
    # run named "" (no run has that name), the other as none. "" is what clients and forms send for an optional
    # name, and invoke_skill reads it as none for both: check_budget now does too.
    left_out = (await client.call_tool("check_budget", {})).structured_content
    for arguments in ({"run_id": ""}, {"agent": ""}, {"agent": "", "run_id": ""}):
        result = await client.call_tool("check_budget", arguments)
        assert not result.is_error, result.content[0].text
        status = result.structured_content
        assert (status["agent"], status["run_id"]) == (None, None), (arguments, status)
        assert status == left_out


async def test_check_budget_reads_an_empty_model_as_none(client: Client):
    # {"model": ""} alone was told that model "says what a call of a skill would reserve: name the skill too", of a
    # model it was never given; with skill it was read as none. Now it is none either way.
    result = await client.call_tool("check_budget", {"model": ""})
    assert not result.is_error, result.content[0].text
    assert result.structured_content == (await client.call_tool("check_budget", {})).structured_content


def _bare_fields(schema: Any, where: str) -> list[str]:
    """The properties under ``schema``, at any depth, that carry no description."""
    if isinstance(schema, list):
        return [bare for item in schema for bare in _bare_fields(item, where)]
    if not isinstance(schema, dict):
        return []
    bare = []
    for name, field in (schema.get("properties") or {}).items():
        if isinstance(field, dict) and not field.get("description"):
            bare.append(f"{where}.{name}")
        bare += _bare_fields(field, f"{where}.{name}")
    for key in ("anyOf", "oneOf", "allOf", "items"):
        bare += _bare_fields(schema.get(key), where)
    for name, definition in (schema.get("$defs") or {}).items():
        bare += _bare_fields(definition, f"{where}#{name}")
    return bare


async def test_every_field_of_every_argument_says_what_it_is(client: Client):
    # The top-level arguments were described (test_mcp_schemas), but a model choosing model_config's keys read
    # bare types: stream a boolean (though calls stream anyway when progress is asked for, and the result is the
    # same), system a string (which replaces the skill's own system prompt), base_url, the fallbacks' keys,
    # response_format.type's three kinds, json_schema.strict, and the ledger filters' status, of runs or of calls.
    tools = (await client.list_tools()).tools
    bare = [field for tool in tools for field in _bare_fields(tool.input_schema, tool.name)]
    assert bare == []


async def test_an_empty_provider_says_nothing_as_an_empty_model_does(client: Client):
    # model_config {"model": "", "provider": ""} (a form's blank fields) was refused "model_config.provider: expected
    # one of 'anthropic', ... got a string", while its model "" was read as none, and the same model_config inside the
    # payload (which the service reads) took both as none. A fallback's provider likewise.
    for config in (
        {"model": "", "provider": ""},
        {"provider": ""},
        {"model": "fake:first", "fallbacks": [{"provider": "", "model": "fake:second"}]},
    ):
        result = await client.call_tool("invoke_skill", {**CALL, "model_config": config})
        assert not result.is_error, (config, result.content[0].text)
    routed = (await client.call_tool("invoke_skill", CALL)).structured_content
    blank = (await client.call_tool("invoke_skill", {**CALL, "model_config": {"provider": ""}})).structured_content
    assert (blank["provider"], blank["model"]) == (routed["provider"], routed["model"])


async def test_check_budget_reads_an_empty_skill_as_none(client: Client):
    # {"skill": ""} was refused with the bare pattern '^skill\.[a-z0-9][a-z0-9._-]*$' and no fix, where its agent,
    # run_id and model "" are none: it is now the limits alone, as with skill left out
    result = await client.call_tool("check_budget", {"skill": "", "agent": ""})
    assert not result.is_error, result.content[0].text
    assert result.structured_content == (await client.call_tool("check_budget", {})).structured_content
    # a skill named wrongly is still refused, with the one it nearly is
    text = await error_text(client, "check_budget", {"skill": "analysis"})
    assert "did you mean 'skill.analysis'?" in text, text


async def test_an_empty_search_pattern_is_told_what_to_give(client: Client):
    # was pydantic's "pattern: string should have at least 1 character" alone: true, and no word of what goes there
    text = await error_text(client, "search_usage", {"pattern": ""})
    assert "search_usage: pattern is empty: give a regular expression (RE2" in text, text
    assert "string should have" not in text, text
