"""MCP tools' error paths for what a caller sent wrong, through the SDK's in-memory client: an unknown skill,
tool or prompt, a payload, a ledger query or arguments the schema refuses, each said with how to fix it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError

from magsag_mcp.mcp_server import build_server
from tests.mcp_tools_helpers import CATALOG, ENV, Schemas, error_of

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]


@pytest.fixture
async def client(db: Path):
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as c:
        yield c


# --- error paths -------------------------------------------------------------------------------


async def test_unknown_skill(client: Client):
    for tool in ("invoke_skill", "explain_route"):
        err = error_of(await client.call_tool(tool, {"skill_id": "skill.analysys", "payload": {}}))
        assert err["type"] == "unknown_skill" and "skill.analysis" in err["message"]  # suggests the right id


async def test_a_paid_answer_the_ledger_refused_comes_with_the_error(db: Path, monkeypatch):
    # The ledger refuses a successful call's record (locked past its timeout, a full disk). The error says
    # the answer is attached and that calling again would pay twice; before, only the Python API attached it,
    # and an MCP client (or `magsag invoke`) got the warning without the answer it had paid for.
    from magsag_mcp import errors
    from magsag_mcp.mcp_server.server import server_state

    async def refuse(*args: Any, **kwargs: Any) -> None:
        raise errors.LedgerError("database is locked", db=str(db))

    server = build_server(catalog=CATALOG, db=db, env=ENV)
    async with Client(server) as c:
        service = await server_state(server).service()
        monkeypatch.setattr(service.ledger, "record_call", refuse)
        payload = {"data": "sales up 8%", "model_config": {"model": "fake:echo"}}
        result = await c.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": payload})
        err = error_of(result)
        tools = {t.name: t for t in (await c.list_tools()).tools}
        monkeypatch.undo()  # the kept record is written when the service closes
    assert err["type"] == "ledger_error" and "calling again would pay twice" in err["message"]
    assert err["result"]["model"] == "echo" and "sales up 8%" in err["result"]["output"]
    assert "sales up 8%" in result.content[0].text
    jsonschema.Draft202012Validator(tools["invoke_skill"].output_schema).validate(result.structured_content)


async def test_invalid_payload(client: Client):
    err = error_of(await client.call_tool("invoke_skill", {"skill_id": "skill.summarization", "payload": {"txt": "x"}}))
    assert err["type"] == "invalid_payload" and "'text'" in err["message"]


async def test_list_skills_names_every_skill_and_the_payload_it_takes(client: Client, schemas: Schemas):
    # A model calling tools sees no resources unless its user attaches them: without this tool it had to
    # guess skill ids and their payload fields.
    skills = {s["id"]: s for s in schemas.check("list_skills", await client.call_tool("list_skills", {}))["skills"]}
    resource = json.loads((await client.read_resource("magsag://catalog/skills")).contents[0].text)
    assert list(skills) == [s["id"] for s in resource] == sorted(skills)
    analysis = skills["skill.analysis"]
    assert analysis["payload_fields"] == ["data"] and analysis["input_schema"]["required"] == ["data"]
    assert analysis["description"] and analysis["output"] in ("text", "json")
    # every field a skill lists is enough to call it
    for skill_id, skill in skills.items():
        payload = {name: "x" for name in skill["payload_fields"]}
        if skill["input_schema"] is None or not skill["input_schema"].get("required"):
            plan = await client.call_tool("explain_route", {"skill_id": skill_id, "payload": payload})
            assert not plan.is_error, (skill_id, plan.content[0].text)


async def test_bad_ledger_queries_say_what_to_fix(client: Client):
    err = error_of(await client.call_tool("search_usage", {"pattern": "(unclosed"}))
    assert err["type"] == "input_error" and "invalid regular expression" in err["message"]
    err = error_of(await client.call_tool("summarize_usage", {"filters": {"since": "last tuesday"}}))
    assert err["type"] == "input_error" and "24h" in err["message"]


@pytest.mark.parametrize(
    ("tool", "arguments", "said"),
    [
        ("query_runs", {"limit": 0}, "limit: out of range: give 1 to 500 (runs per page)"),
        ("query_runs", {"limit": 501}, "limit: out of range: give 1 to 500 (runs per page)"),
        ("search_usage", {"pattern": "x", "limit": 0}, "limit: out of range: give 1 to 500 (hits per page)"),
        ("query_runs", {"offset": -1}, "offset: out of range: give 0 to 1000000000000"),
        ("query_runs", {"attempts_per_run": 0}, "attempts_per_run: out of range: give 1 to 1000"),
        ("check_budget", {"max_tokens": 0}, "max_tokens: out of range: give more than 0"),
    ],
)
async def test_a_number_out_of_its_range_is_told_the_whole_range(client: Client, tool, arguments, said):
    """`query_runs` with limit 0 answered "limit: input should be greater than or equal to 1", and with 1000
    "less than or equal to 500": each names the one bound missed, and a caller that fixed it by a guess (0 for
    "no limit", then 10000) met the other. The answer names both, and what the number counts."""
    err = error_of(await client.call_tool(tool, arguments))
    assert err["type"] == "invalid_arguments" and said in err["message"]
    assert "input should be" not in err["message"]


@pytest.mark.parametrize(
    ("tool", "arguments", "said"),
    [
        ("query_runs", {"offset": 1e30}, "offset: out of range: too large a number; give 0 to 1000000000000"),
        ("query_runs", {"limit": 1e19}, "limit: out of range: too large a number; give 1 to 500 (runs per page)"),
        ("daily_usage", {"limit": 1e300}, "limit: out of range: too large a number; give 1 to 10000"),
        ("search_usage", {"pattern": "x", "limit": 1e20}, "limit: out of range: too large a number; give 1 to 500"),
        (
            "check_budget",
            {"skill": "skill.analysis", "max_tokens": 1e30},
            # (max_tokens has an upper bound now, the one every vendor takes: the range is told, as the others')
            "max_tokens: out of range: too large a number; give more than 0 and at most 2147483647",
        ),
    ],
)
async def test_a_huge_number_written_as_a_float_is_told_the_range(client: Client, tool, arguments, said):
    """A whole number past 64 bits arrives as a float (1e30: JavaScript's JSON.stringify writes big numbers so, and a
    model asked for "no limit" writes one): query_runs' offset 1e30 answered pydantic's "unable to parse input string
    as an integer, exceeded maximum size", calling the number a string and naming no number that fits."""
    err = error_of(await client.call_tool(tool, arguments))
    assert err["type"] == "invalid_arguments" and said in err["message"], err["message"]
    assert "input string" not in err["message"]


async def test_a_number_written_as_text_that_is_none_is_told_text_is_taken(client: Client):
    # query_runs' limit "ten" (or "1e30") answered "expected an integer, got a string": a caller read that text is
    # refused, where "5" is taken (docs/mcp.md), and sent a number it had meant to avoid
    err = error_of(await client.call_tool("query_runs", {"limit": "ten"}))
    assert 'limit: expected an integer, got a string that is no whole number (digits as text, "5", are taken)' in (
        err["message"]
    )
    args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": {"temperature": "warm"}}
    err = error_of(await client.call_tool("explain_route", args))
    assert 'temperature: expected a number, got a string that is no number (a number as text, "0.5", is taken)' in (
        err["message"]
    )
    args["model_config"] = {"temperature": "0.5"}
    assert not (await client.call_tool("explain_route", args)).is_error


async def test_arguments_that_fail_the_schema_are_a_tool_error(client: Client):
    result = await client.call_tool(
        "invoke_skill", {"skill_id": "skill.analysis", "payload": {}, "model_config": {"temperature": 9}}
    )
    assert result.is_error and "temperature" in result.content[0].text
    result = await client.call_tool("query_runs", {"limit": 0})
    assert result.is_error and "limit" in result.content[0].text


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_an_unknown_tool_is_a_protocol_error_naming_the_tools(db: Path, mode: str):
    # The spec's rule: an unknown tool is a protocol error (-32602), arguments a tool rejects are a tool error
    # (isError) the model can correct. Before, an unknown tool came back as a tool result (isError), as if a
    # tool of that name had run and failed, and said nothing of the tools there are.
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV), mode=mode) as client:
        with pytest.raises(MCPError) as info:
            await client.call_tool("invoke", {"skill_id": "skill.analysis", "payload": {"data": "x"}})
        assert info.value.code == -32602
        assert "unknown tool 'invoke'" in info.value.message and "invoke_skill" in info.value.message
        result = await client.call_tool("invoke_skill", {"skill_id": "skill.analysis"})
        assert result.is_error and "missing required argument 'payload'" in result.content[0].text


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_prompt_this_server_does_not_have_is_invalid_params_saying_what_it_offers(db: Path, mode: str, caplog):
    # The server lists no prompts (the SDK's server declares the capability); prompts/get of a name came back as a
    # JSON-RPC error of code 0 ("Unknown prompt: x"), which no client reads as a bad name (the spec: -32602), and the
    # server logged it as an ERROR with a traceback, as if it had crashed.
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV), mode=mode) as client:
        assert (await client.list_prompts()).prompts == []
        with caplog.at_level(logging.INFO), pytest.raises(MCPError) as info:
            await client.get_prompt("analysis", {"data": "x"})
        assert info.value.code == -32602
        message = info.value.message
        assert "unknown prompt 'analysis'" in message and "no prompts" in message and "invoke_skill" in message
        assert "list_skills" in message
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_rejected_arguments_say_how_to_fix_them_without_echoing_the_values(client: Client):
    """The SDK's own report was pydantic's ("2 validation errors for InvokeSkillArgs ... [type=extra_forbidden,
    input_value=...] For further information visit https://errors.pydantic.dev/..."): the problem, not
    the fix, and the rejected values quoted back."""

    output = {t.name: t.output_schema for t in (await client.list_tools()).tools}

    async def text(tool: str, arguments: dict[str, Any]) -> str:
        result = await client.call_tool(tool, arguments)
        # what every other failure the caller can fix carries: its type and message, as the output schema admits
        assert error_of(result)["type"] == "invalid_arguments"
        jsonschema.Draft202012Validator(output[tool]).validate(result.structured_content)
        out = result.content[0].text
        assert "pydantic" not in out and "input_value" not in out and out.startswith(f"invalid_arguments: {tool}: ")
        return out

    out = await text("invoke_skill", {"skil_id": "skill.analysis", "payload": {"data": "sk-secret-looking"}})
    assert "unknown argument 'skil_id' (did you mean 'skill_id'?)" in out
    assert "missing required argument 'skill_id' (e.g. skill.analysis" in out
    assert out.endswith("invoke_skill takes: skill_id, payload, agent, run_id, model_config, context")
    assert "sk-secret-looking" not in out
    out = await text("invoke_skill", {"skill_id": "skill.analysis", "payload": "data=x"})
    assert "payload: expected an object, got a string" in out and "data=x" not in out
    out = await text("query_runs", {"filters": {"agnet": "alice"}, "limit": "ten"})
    assert "unknown argument 'filters.agnet' (did you mean 'agent'?)" in out
    assert "limit: expected an integer, got a string" in out
    out = await text("query_runs", {"filters": {"zzz": 1}})
    assert "unknown argument 'filters.zzz' (accepted here: agent, run_id, skill" in out
    out = await text("check_budget", {"agent": 5})
    assert "agent: expected a string, got a number" in out
    out = await text("query_runs", {"limit": 1000})
    assert "limit: out of range: give 1 to 500 (runs per page)" in out  # both bounds (see the test below)
    # a union's branches are one problem at the place the caller wrote one value
    mc = {"fallbacks": [5], "tool_choice": "any", "temprature": 1}
    out = await text("invoke_skill", {"skill_id": "skill.analysis", "payload": {}, "model_config": mc})
    assert "model_config.fallbacks.0: expected a string or an object, got a number" in out
    assert "model_config.tool_choice: expected one of 'auto', 'none' or 'required' or an object, got a string" in out
    assert "unknown argument 'model_config.temprature' (did you mean 'temperature'?)" in out
    assert "TargetArg" not in out and "literal[" not in out
    # a word outside a choice of words or an object is no object to write: before, "got a string: write an object of
    # "auto", "none", ..." told the caller to write an object of words
    mc = {"tool_choice": "x9"}
    out = await text("invoke_skill", {"skill_id": "skill.analysis", "payload": {}, "model_config": mc})
    assert 'got a string: give "auto", "none", "required", {"name": fn}' in out and "write an object" not in out

