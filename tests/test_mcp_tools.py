"""Every MCP tool and every error path, through the SDK's in-memory client (the real MCP handlers)."""

from __future__ import annotations

import functools
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from mcp_types import PromptReference, ResourceTemplateReference

from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server.resources import SKILL_TEMPLATE

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
SECRET = "sk-test-secret-0123456789abcdef"
ENV = {"MAGSAG_PROVIDER": "fake", "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_MAX_RETRIES": "1"}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
async def client(db: Path):
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as c:
        yield c


class Schemas:
    """Checks every structured result against the output schema the server published."""

    def __init__(self, tools: Any) -> None:
        self.output = {t.name: t.output_schema for t in tools}

    def check(self, name: str, result: Any) -> dict[str, Any]:
        assert not result.is_error, result.content[0].text
        jsonschema.Draft202012Validator(self.output[name]).validate(result.structured_content)
        assert json.loads(result.content[0].text) == result.structured_content
        return result.structured_content


@pytest.fixture
async def schemas(client: Client) -> Schemas:
    return Schemas((await client.list_tools()).tools)


def error_of(result: Any) -> dict[str, Any]:
    assert result.is_error
    text = result.content[0].text
    err = result.structured_content["error"]
    assert text.startswith(f"{err['type']}: {err['message']}")
    assert "Traceback" not in text and SECRET not in text and SECRET not in json.dumps(err)
    return err


# --- the tools -------------------------------------------------------------------------------------


async def test_invoke_skill_answers_with_output_usage_cost_and_trace(client: Client, schemas: Schemas):
    result = await client.call_tool(
        "invoke_skill", {"skill_id": "skill.analysis", "payload": {"data": "sales up 8%"}, "agent": "tester"}
    )
    out = schemas.check("invoke_skill", result)
    assert out["provider"] == "fake" and out["model"] == "gpt-4o"  # MAGSAG_PROVIDER swaps the route's provider
    assert "sales up 8%" in out["output"]
    assert out["usage"]["total_tokens"] == out["usage"]["input_tokens"] + out["usage"]["output_tokens"] > 0
    assert out["cost_usd"] == "0" and out["cost_unknown"] is False
    assert out["trace"]["attempts"][0]["outcome"] == "ok" and out["run_id"].startswith("run-")


async def test_model_config_argument_goes_into_the_payload_and_wins(client: Client, schemas: Schemas):
    result = await client.call_tool(
        "invoke_skill",
        {
            "skill_id": "skill.analysis",
            "payload": {"data": "x", "model_config": {"model": "fake:from-payload", "max_tokens": 50}},
            "model_config": {"model": "fake:fail-server_error", "fallbacks": ["fake:second"]},
            "run_id": "run-given",
        },
    )
    out = schemas.check("invoke_skill", result)
    assert out["model"] == "second" and out["run_id"] == "run-given"
    assert [a["target"] for a in out["trace"]["attempts"]] == ["fake:fail-server_error"] * 2 + ["fake:second"]
    assert out["trace"]["rule"] == "override:call"


async def test_a_model_the_argument_names_replaces_the_payloads_target_with_its_fallbacks(client, schemas):
    # The argument won key by key: its model took the payload's provider, base URL, params and fallbacks, which
    # were the payload's model's (an anthropic provider with the argument's gpt-4o went to Anthropic as
    # anthropic:gpt-4o; here the payload's fallback answered for the argument's model). A model replaces them, as
    # a model_config's does those of llm_overrides; the request's keys (max_tokens) still merge key by key.
    payload = {
        "data": "x",
        "model_config": {"model": "fake:from-payload", "fallbacks": ["fake:payload-fallback"], "max_tokens": 50},
    }
    args = {"skill_id": "skill.analysis", "payload": payload, "model_config": {"model": "fake:fail-bad_request"}}
    plan = schemas.check("explain_route", await client.call_tool("explain_route", args))
    assert [t["label"] for t in plan["targets"]] == ["fake:fail-bad_request"]
    assert plan["max_output_tokens"] == 50
    err = error_of(await client.call_tool("invoke_skill", args))
    assert err["type"] == "all_targets_failed" and "payload-fallback" not in json.dumps(err), err
    # a model_config argument naming no model leaves the payload's target whole
    args["model_config"] = {"temperature": 0.5}
    plan = schemas.check("explain_route", await client.call_tool("explain_route", args))
    assert [t["label"] for t in plan["targets"]] == ["fake:from-payload", "fake:payload-fallback"]


async def test_an_empty_key_of_the_model_config_argument_leaves_the_payloads(client, schemas):
    # A form's empty field: "model": "" names no model (README), so the payload's model_config model is the one
    # named; merged key by key, the argument's "" replaced it and the call went to routing's models instead.
    payload = {
        "data": "x",
        "model_config": {"model": "fake:from-payload", "fallbacks": ["fake:payload-fallback"], "provider": "fake"},
    }
    args = {"skill_id": "skill.analysis", "payload": payload, "model_config": {"model": "", "max_tokens": 40}}
    plan = schemas.check("explain_route", await client.call_tool("explain_route", args))
    assert [t["label"] for t in plan["targets"]] == ["fake:from-payload", "fake:payload-fallback"]
    assert plan["max_output_tokens"] == 40


async def test_a_payload_model_config_that_is_no_object_is_refused_with_the_argument_beside_it(client: Client):
    # Alone, payload.model_config sent as text is refused ("must be an object"); with the model_config argument
    # beside it, it was dropped without a word and the call ran without the fallbacks and limits it set.
    payload = {"data": "x", "model_config": '{"fallbacks": ["fake:second"], "max_tokens": 50}'}
    for tool in ("invoke_skill", "explain_route"):
        for argument in ({}, {"model_config": {"model": "fake:echo"}}):
            args = {"skill_id": "skill.analysis", "payload": payload, **argument}
            err = error_of(await client.call_tool(tool, args))
            assert err["type"] == "invalid_payload" and "payload.model_config must be an object" in err["message"]


async def test_json_skill_output_is_parsed(client: Client, schemas: Schemas):
    result = await client.call_tool(
        "invoke_skill",
        {
            "skill_id": "skill.analysis",
            "payload": {"data": "x"},
            "model_config": {"model": "fake:j", "response_format": {"type": "json_object"}},
        },
    )
    assert isinstance(schemas.check("invoke_skill", result)["output"], dict)


async def test_a_schema_written_in_json_schemas_place_is_refused_before_any_call(client: Client):
    # The common slip of a model writing the arguments: the schema as json_schema itself, not under its "schema".
    # It was dropped without a word: the answer came back unconstrained, unchecked, and passed for one that fitted.
    schema = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}
    mc = {"model": "fake:j", "response_format": {"type": "json_schema", "json_schema": schema}}
    args = {"skill_id": "skill.analysis", "payload": {"data": "x", "model_config": mc}}
    err = error_of(await client.call_tool("invoke_skill", args))
    assert err["type"] == "invalid_payload"
    assert "put the schema under 'schema'" in err["message"]
    assert (await client.call_tool("query_runs", {})).structured_content["runs"][0]["attempts"] == []
    # the model_config argument publishes json_schema's keys, and says the same of a schema in its place
    args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": mc}
    err = error_of(await client.call_tool("invoke_skill", args))
    assert err["type"] == "invalid_arguments"
    assert (
        "unknown argument 'model_config.response_format.json_schema.properties' (a schema's own key: put the "
        'schema under "schema": {"name": ..., "schema": {...}})'
    ) in err["message"]
    tools = {t.name: t for t in (await client.list_tools()).tools}
    rf = tools["invoke_skill"].input_schema["properties"]["model_config"]["properties"]["response_format"]
    assert set(rf["properties"]["json_schema"]["properties"]) == {"name", "description", "schema", "strict"}


async def test_model_config_argument_takes_the_tool_choice_forms_the_payload_takes(client: Client, schemas: Schemas):
    # Tools are OpenAI-style, so a client names the one to call OpenAI's way. The argument's schema took only
    # {"name": fn}: the OpenAI form was refused ("tool_choice.function: expected a string") though the same
    # model_config inside the payload was accepted and honoured.
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    forced = {"type": "function", "function": {"name": "lookup"}}
    mc = {"model": "fake:t", "tools": tools, "tool_choice": forced}
    for_tool = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": mc}
    out = schemas.check("invoke_skill", await client.call_tool("invoke_skill", for_tool))
    assert [c["name"] for c in out["tool_calls"]] == ["lookup"]
    schemas.check("explain_route", await client.call_tool("explain_route", for_tool))
    for bad in ({"type": "function", "function": {}}, {"type": "function"}):
        result = await client.call_tool("invoke_skill", {**for_tool, "model_config": {**mc, "tool_choice": bad}})
        assert "model_config.tool_choice must be 'auto', 'none', 'required' or {'name'" in error_of(result)["message"]


async def test_a_tool_in_mcps_own_shape_keeps_its_input_schema(client: Client, schemas: Schemas):
    # An MCP client hands on its own tools as MCP lists them: {name, description, inputSchema}. The inputSchema was
    # not read (only parameters and input_schema were): the tool went to the model taking no arguments, and its
    # calls came back without the ones the tool requires.
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    tool = {"name": "get_weather", "description": "the weather in a city", "inputSchema": schema}
    mc = {"model": "fake:t", "tools": [tool], "tool_choice": {"name": "get_weather"}}
    args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": mc}
    out = schemas.check("invoke_skill", await client.call_tool("invoke_skill", args))
    assert [(c["name"], set(c["arguments"])) for c in out["tool_calls"]] == [("get_weather", {"city"})]
    # and a strict one is held to it: a schema that cannot be applied is refused before any target is paid
    broken = {**tool, "strict": True, "inputSchema": {"type": "object", "properties": {"n": {"$ref": "#/$defs/x"}}}}
    result = await client.call_tool("invoke_skill", {**args, "model_config": {**mc, "tools": [broken]}})
    assert "model_config.tools[0] (get_weather).parameters" in error_of(result)["message"]


async def test_explain_route_warns_of_what_invoke_skill_would_warn_of(client: Client, schemas: Schemas):
    # A payload's "modelConfig" goes to the skill as data, not routing: invoke_skill's warnings said so, and
    # explain_route, the preview a client checks the route with, showed the plan without it and not a word why.
    args = {"skill_id": "skill.analysis", "payload": {"data": "x", "modelConfig": {"model": "fake:x"}}}
    plan = schemas.check("explain_route", await client.call_tool("explain_route", args))
    said = "payload key 'modelConfig' is not 'model_config': it went to the skill as data, not routing"
    assert plan["warnings"] == [said]
    assert said in schemas.check("invoke_skill", await client.call_tool("invoke_skill", args))["warnings"]


async def test_explain_route_plans_without_calling(client: Client, schemas: Schemas, db: Path):
    result = await client.call_tool("explain_route", {"skill_id": "skill.coding", "payload": {"task": "sort a list"}})
    plan = schemas.check("explain_route", result)
    assert plan["skill"] == "skill.coding" and plan["rule"].startswith("route:coding")
    assert [t["provider"] for t in plan["targets"]] == ["fake"] * len(plan["targets"])
    runs = await client.call_tool("query_runs", {"filters": {"skill": "skill.coding"}})
    assert schemas.check("query_runs", runs)["runs"] == []  # nothing was called


@pytest.fixture
async def flaky_priced(db: Path, catalog_copy: Path):
    """A server whose catalog prices ``fake:flaky`` as a vendor's model is priced (the fake provider is
    otherwise free, like a local server, and a free model's cut attempt costs a known 0)."""
    (catalog_copy / "prices.yaml").write_text('"fake:flaky": {input: 2, output: 8}\n')
    async with Client(build_server(catalog=catalog_copy, db=db, env=ENV)) as c:
        yield c


async def test_ledger_tools_after_calls(flaky_priced: Client):
    client = flaky_priced
    schemas = Schemas((await client.list_tools()).tools)
    for data in ("a", "b"):
        await client.call_tool(
            "invoke_skill", {"skill_id": "skill.analysis", "payload": {"data": data}, "agent": "ana"}
        )
    await client.call_tool(
        "invoke_skill",
        {
            "skill_id": "skill.analysis",
            "payload": {"data": "c"},
            "agent": "ana",
            "model_config": {"model": "fake:fail-overloaded", "fallbacks": ["fake:gpt-4o"]},
        },
    )
    # a stream cut after the vendor had it: its cost is unknown, and the summary says null, not a figure
    from magsag_mcp import ProviderConnectionError
    from magsag_mcp.providers.fake import script

    script(
        "flaky",
        ProviderConnectionError("dropped mid-answer", maybe_billed=True),
        {"text": "ok", "usage": {"input_tokens": 1000, "output_tokens": 500}},
    )
    await client.call_tool(
        "invoke_skill",
        {
            "skill_id": "skill.analysis",
            "payload": {"data": "d"},
            "agent": "ana",
            "model_config": {"model": "fake:flaky"},
        },
    )
    summary = schemas.check("summarize_usage", await client.call_tool("summarize_usage", {"filters": {"agent": "ana"}}))
    stats = summary["model_stats"]
    assert stats["gpt-4o"]["calls"] == 3 and stats["gpt-4o"]["errors"] == 0
    assert (stats["gpt-4o"]["cost_usd"], stats["gpt-4o"]["cost_complete"]) == (0.0, True)
    flaky = stats["flaky"]
    # one call, answered on its retry: two attempts, the first cut
    assert (flaky["calls"], flaky["attempts"], flaky["unpriced_calls"], flaky["cost_complete"]) == (1, 2, 1, False)
    # the retry's answer is counted (1,000 in at $2/M + 500 out at $8/M); the cut attempt's cost is not known
    assert (flaky["cost_usd"], flaky["cost_usd_exact"], flaky["known_cost_usd"]) == (None, None, "0.006")
    assert summary["totals"]["cost_usd"] is None and summary["totals"]["cost_complete"] is False
    # an overload tries the fallback first, without a retry: its one attempt failed, and gpt-4o answered the call
    assert (stats["fail-overloaded"]["calls"], stats["fail-overloaded"]["attempt_errors"]) == (0, 1)
    assert summary["totals"]["calls"] == sum(s["calls"] for s in stats.values())

    runs = schemas.check("query_runs", await client.call_tool("query_runs", {"filters": {"agent": "ana"}, "limit": 2}))
    assert len(runs["runs"]) == 2
    assert [a["outcome"] for a in runs["runs"][1]["attempts"]] == ["error", "ok"]  # newest first

    hits = schemas.check("search_usage", await client.call_tool("search_usage", {"pattern": "overload", "limit": 10}))
    assert hits["hits"]
    future = "2999-01-01"  # nothing was recorded after it: the bound reaches the query
    bounded = await client.call_tool("search_usage", {"pattern": "overload", "since": future})
    assert schemas.check("search_usage", bounded)["hits"] == []
    # said, as `magsag data search --since` says it on stderr: [] alone read as "no such error", a year mistyped
    assert schemas.check("search_usage", bounded)["notes"] == [
        "since '2999-01-01' (2999-01-01T00:00:00+00:00) is in the future, so nothing recorded can match; check the"
        " date, or give a past one (e.g. 2025-11-01) or a span back from now (24h, 7d)"
    ]
    assert hits["notes"] == []

    budget = schemas.check("check_budget", await client.call_tool("check_budget", {"agent": "ana"}))
    assert budget["status"]


async def test_check_budget_tells_a_misspelt_agent_or_run_the_one_it_nearly_names(client: Client, schemas: Schemas):
    # `magsag budget --agent my-mga` says "did you mean 'my-mag'?"; check_budget answered the whole daily limit left
    # for 'my-mga' with notes [], where README promises the agent meant "on every surface"
    args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "agent": "my-mag", "run_id": "mag-abc123"}
    assert not (await client.call_tool("invoke_skill", args)).is_error
    budget = schemas.check("check_budget", await client.call_tool("check_budget", {"agent": "my-mga"}))
    assert budget["agent_recorded"] is False
    assert budget["notes"] == [
        "no run in this ledger was recorded for agent 'my-mga' (did you mean 'my-mag'?); its agents: my-mag"
    ]
    budget = schemas.check("check_budget", await client.call_tool("check_budget", {"run_id": "mag-abc12"}))
    assert budget["run_recorded"] is False and len(budget["notes"]) == 1
    assert budget["notes"][0].startswith("no run in this ledger has the id 'mag-abc12'"), budget["notes"]
    # a name recorded is no note
    budget = schemas.check("check_budget", await client.call_tool("check_budget", {"agent": "my-mag"}))
    assert budget["notes"] == []


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


@pytest.fixture
async def keyed(db: Path):
    """OpenAI configured (a key) but pointed at a closed loopback port: governance decides before any HTTP."""
    env = {**ENV, "OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": CLOSED}
    async with Client(build_server(catalog=CATALOG, db=db, env=env)) as c:
        yield c


CLOSED = "http://127.0.0.1:9/v1"


async def test_policy_denied(keyed: Client):
    result = await keyed.call_tool(
        "invoke_skill",
        {
            "skill_id": "skill.analysis",
            "payload": {"data": "x"},
            "model_config": {"model": "openai:gpt-3.5-turbo"},
        },
    )
    err = error_of(result)
    assert err["last_error_type"] == "policy_denied" and err["policy"] == "production_models"
    assert "gpt-3.5-turbo" in err["message"] and "allowed_models" in err["message"]
    runs = await keyed.call_tool("query_runs", {"filters": {"status": "policy_denied"}})
    assert len(runs.structured_content["runs"]) == 1


async def test_budget_exceeded_before_any_money_is_spent(keyed: Client):
    result = await keyed.call_tool(
        "invoke_skill",
        {
            "skill_id": "skill.analysis",
            "payload": {"data": "x"},
            "model_config": {"model": "openai:gpt-4o", "max_tokens": 500_000},
        },
    )
    err = error_of(result)
    assert err["last_error_type"] == "budget_exceeded" and err["policy"] == "cost_limits"
    assert "call limit $1.0 would be exceeded" in err["message"]
    assert [a["outcome"] for a in err["attempts"]] == ["budget_exceeded"]  # refused at admission: no HTTP call
    budget = await keyed.call_tool("check_budget", {})
    assert budget.structured_content["status"] == "ok"


async def test_every_target_failed_carries_the_attempts(client: Client):
    result = await client.call_tool(
        "invoke_skill",
        {
            "skill_id": "skill.analysis",
            "payload": {"data": "x"},
            "model_config": {"model": "fake:fail-server_error", "fallbacks": ["fake:fail-quota_exhausted"]},
        },
    )
    err = error_of(result)
    assert err["type"] == "all_targets_failed" and err["last_error_type"] == "quota_exhausted"
    assert [a["model"] for a in err["attempts"]] == ["fail-server_error", "fail-server_error", "fail-quota_exhausted"]
    runs = await client.call_tool("query_runs", {"filters": {}})
    assert runs.structured_content["runs"][0]["status"] == "error"  # the failed call is recorded
    assert runs.structured_content["runs"][0]["error"]["type"] == "all_targets_failed"


async def test_every_target_failed_says_why_the_last_one_did_and_its_fix(client: Client):
    # An answer that is now an error (empty, or a tool call max_tokens cut) read "every target failed: fake:cut
    # malformed_response": why, and the fix (raise max_tokens), were only in the attempts' own messages, and the
    # message is what a model reads first, what str(e) gives the guide's fallback loop, and what the ledger keeps.
    from magsag_mcp.errors import MalformedResponseError
    from magsag_mcp.providers.fake import script

    why = "fake:cut returned tool-call arguments max_tokens cut before their JSON was complete; raise max_tokens"
    script("cut", MalformedResponseError(why))
    args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": {"model": "fake:cut"}}
    err = error_of(await client.call_tool("invoke_skill", args))
    assert err["type"] == "all_targets_failed"
    assert err["message"] == f"skill.analysis: every target failed: fake:cut malformed_response; last error: {why}"


async def test_a_run_that_failed_before_any_attempt_says_why(client: Client, schemas: Schemas):
    # No attempt carries the reason (the payload never reached a model): the run's row does.
    bad = await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": {}, "run_id": "r-bad"})
    assert error_of(bad)["type"] == "invalid_payload"
    runs = schemas.check("query_runs", await client.call_tool("query_runs", {"filters": {"run_id": "r-bad"}}))["runs"]
    assert [(r["status"], r["attempts"]) for r in runs] == [("error", [])]
    assert runs[0]["error"]["type"] == "invalid_payload"
    assert runs[0]["error"]["message"].startswith("skill.analysis: payload is missing field 'data'")
    # a later call of the same run that succeeds does not erase why an earlier one failed
    ok = {
        "skill_id": "skill.analysis",
        "payload": {"data": "x", "model_config": {"model": "fake:a"}},
        "run_id": "r-bad",
    }
    assert not (await client.call_tool("invoke_skill", ok)).is_error
    runs = schemas.check("query_runs", await client.call_tool("query_runs", {"filters": {"run_id": "r-bad"}}))["runs"]
    assert runs[0]["error"]["type"] == "invalid_payload" and runs[0]["calls"] == 2


async def test_search_finds_the_error_of_a_call_that_failed_before_any_attempt(client: Client, schemas: Schemas):
    # query_runs shows why r-bad failed; search over errors must find it too (it has no attempt to match)
    bad = await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": {}, "run_id": "r-bad"})
    assert error_of(bad)["type"] == "invalid_payload"
    hits = schemas.check("search_usage", await client.call_tool("search_usage", {"pattern": "missing field"}))["hits"]
    assert [(h["kind"], h["run_id"], h["error"]["type"], h["skill"]) for h in hits] == [
        ("run", "r-bad", "invalid_payload", "skill.analysis")
    ]
    # a failure made of attempts' failures is found in those attempts, not once more as its run
    failed = {"skill_id": "skill.analysis", "payload": {"data": "x", "model_config": {"model": "fake:fail-overloaded"}}}
    assert error_of(await client.call_tool("invoke_skill", failed))["type"] == "all_targets_failed"
    hits = schemas.check("search_usage", await client.call_tool("search_usage", {"pattern": "overloaded"}))["hits"]
    assert hits and {h["kind"] for h in hits} == {"attempt"}


async def test_text_that_is_not_unicode_is_refused_with_where_it_is_not_a_crash(client: Client, schemas: Schemas):
    # JSON may carry half of a surrogate pair ("\ud83d": an emoji cut in two); it cannot be stored nor sent.
    half = "cut \ud83d"
    for args, field in (
        ({"skill_id": "skill.analysis", "payload": {"data": "x"}, "agent": half}, "agent"),
        ({"skill_id": "skill.analysis", "payload": {"data": "x"}, "run_id": half}, "run_id"),
    ):
        err = error_of(await client.call_tool("invoke_skill", args))
        assert err["type"] == "input_error" and err["message"].startswith(f"{field} is not valid Unicode text")
    bad = {"skill_id": "skill.analysis", "payload": {"data": half}, "run_id": "r-half"}
    err = error_of(await client.call_tool("invoke_skill", bad))
    assert err["type"] == "invalid_payload" and "payload.data" in err["message"] and "U+D83D" in err["message"]
    # that failure is recorded, as an invalid payload is
    runs = schemas.check("query_runs", await client.call_tool("query_runs", {"filters": {"run_id": "r-half"}}))
    assert runs["runs"][0]["error"]["type"] == "invalid_payload"
    for name, args in (
        ("explain_route", {"skill_id": "skill.analysis", "payload": {"data": half}}),
        ("summarize_usage", {"filters": {"agent": half}}),
        ("query_runs", {"filters": {"skill": half}}),
        ("check_budget", {"agent": half}),
    ):
        err = error_of(await client.call_tool(name, args))
        assert err["type"] in ("input_error", "invalid_payload") and "not valid Unicode text" in err["message"], name


async def test_a_bad_catalog_is_a_clear_error_not_a_crash(tmp_path: Path):
    bad = tmp_path / "catalog"
    shutil.copytree(CATALOG, bad)
    (bad / "skills" / "analysis.yaml").write_text("id: skill.analysis\ndescription: [unclosed\n")
    async with Client(build_server(catalog=bad, db=tmp_path / "l.db", env=ENV)) as c:
        err = error_of(await c.call_tool("check_budget", {}))
        assert err["type"] == "catalog_error" and "analysis.yaml" in err["message"]


async def test_a_bad_catalog_says_the_server_reads_it_again_once_fixed(tmp_path: Path):
    """A desktop client's user, shown a catalog file to fix, was not told whether the server the client started had to
    be restarted to see the fix (it need not be: the next call reads the catalog again): the error says so, and names
    the command that lists every problem of that catalog."""
    bad = tmp_path / "catalog"
    shutil.copytree(CATALOG, bad)
    good = (bad / "skills" / "analysis.yaml").read_text()
    (bad / "skills" / "analysis.yaml").write_text("id: skill.analysis\ndescription: [unclosed\n")
    async with Client(build_server(catalog=bad, db=tmp_path / "l.db", env=ENV)) as c:
        err = error_of(await c.call_tool("list_skills", {}))
        assert err["type"] == "catalog_error" and "analysis.yaml" in err["message"]
        assert err["message"].endswith(
            "Fix the catalog and call again: this server reads it again at its next call, with no restart "
            f"(`magsag catalog validate --catalog {bad}` lists every problem)"
        )
        (bad / "skills" / "analysis.yaml").write_text(good)
        fixed = await c.call_tool("list_skills", {})
        assert not fixed.is_error and "skill.analysis" in {s["id"] for s in fixed.structured_content["skills"]}


async def test_a_tool_error_fits_the_output_schema_the_tool_published(tmp_path: Path):
    # The TypeScript SDK's client (VS Code, Cursor, the Inspector, ...) checks structuredContent against
    # the tool's output schema even when isError is set: a {"error": ...} that the schema did not admit
    # became "MCP error -32602: Structured content does not match the tool's output schema", and the
    # user never saw the error's message.
    bad = tmp_path / "catalog"
    shutil.copytree(CATALOG, bad)
    (bad / "skills" / "analysis.yaml").write_text("id: skill.analysis\ndescription: [unclosed\n")
    arguments = {
        "list_skills": {},
        "invoke_skill": {"skill_id": "skill.analysis", "payload": {"data": "x"}},
        "explain_route": {"skill_id": "skill.analysis", "payload": {"data": "x"}},
        "summarize_usage": {},
        "query_runs": {},
        "check_budget": {},
        "search_usage": {"pattern": "x"},
    }
    async with Client(build_server(catalog=bad, db=tmp_path / "l.db", env=ENV)) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
        assert set(tools) == set(arguments)
        for name, args in arguments.items():
            result = await c.call_tool(name, args)
            assert error_of(result)["type"] == "catalog_error", name
            jsonschema.Draft202012Validator(tools[name].output_schema).validate(result.structured_content)
            # and the schema still holds a result to every field it promises
            schema = tools[name].output_schema
            assert not jsonschema.Draft202012Validator(schema).is_valid({"unexpected": 1}), name


async def test_unexpected_exceptions_get_a_generic_message_and_a_logged_traceback(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    from magsag_mcp.service import Service

    async def boom(self: Service, *a: Any, **k: Any) -> Any:
        raise RuntimeError(f"bug with {SECRET} inside")

    monkeypatch.setattr(Service, "check_budget", boom)
    with caplog.at_level(logging.ERROR, logger="magsag_mcp.mcp"):
        err = error_of(await client.call_tool("check_budget", {}))
    assert err == {"type": "internal_error", "message": err["message"]} and "server's log" in err["message"]
    record = next(r for r in caplog.records if r.name == "magsag_mcp.mcp")
    # the traceback is logged, already redacted (the record's exc_info becomes its redacted exc_text,
    # so no handler the application installs can format the original)
    assert "Traceback" in record.exc_text and "RuntimeError: bug with [REDACTED] inside" in record.exc_text
    assert SECRET not in record.exc_text and record.exc_info is None


def test_the_stderr_log_redacts_secrets_even_in_tracebacks():
    from magsag_mcp.errors import register_secret
    from magsag_mcp.mcp_server.__main__ import RedactingFormatter

    register_secret(SECRET)
    try:
        raise RuntimeError(f"failed with {SECRET}")
    except RuntimeError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "call failed", None, exc_info=__import__("sys").exc_info()
        )
    text = RedactingFormatter("%(message)s").format(record)
    assert "Traceback" in text and SECRET not in text and "[REDACTED]" in text


def test_the_stderr_log_cannot_be_forged_nor_drive_the_terminal_from_a_callers_names():
    from magsag_mcp.mcp_server.__main__ import RedactingFormatter

    # A failed call is logged at INFO with its message, which names the run and the agent the MCP client
    # chose: a line break in one wrote a log record of its own, an escape sequence went to the terminal.
    message = (
        "invoke_skill failed: budget_exceeded: limit for agent a\n2026-12-01 CRITICAL x: forged\x1b]52;c;aGk=\x07\r"
    )
    record = logging.LogRecord("magsag_mcp.mcp", logging.INFO, __file__, 1, message, None, None)
    text = RedactingFormatter("%(levelname)s %(name)s: %(message)s").format(record)
    lines = text.split("\n")
    assert lines[0] == "INFO magsag_mcp.mcp: invoke_skill failed: budget_exceeded: limit for agent a"
    assert lines[1].startswith("    2026-12-01 CRITICAL x: forged\\x1b]52;c;aGk=\\x07\\r")
    assert not any(c in text for c in "\x1b\x07\r")
    try:
        raise RuntimeError("bug")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, __import__("sys").exc_info())
    lines = RedactingFormatter("%(message)s").format(record).split("\n")
    assert lines[0] == "failed" and all(line.startswith("    ") for line in lines[1:])  # the traceback, indented


async def test_provider_keys_never_reach_a_tool_result(db: Path):
    env = {**ENV, "OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": CLOSED}
    async with Client(build_server(catalog=CATALOG, db=db, env=env)) as c:
        # A closed loopback port: the OpenAI provider is configured (with the key) and the call fails.
        result = await c.call_tool(
            "invoke_skill",
            {
                "skill_id": "skill.analysis",
                "payload": {"data": SECRET},
                "model_config": {"model": "openai:gpt-4o"},
            },
        )
        error_of(result)
        plan = await c.call_tool("explain_route", {"skill_id": "skill.analysis", "payload": {"data": "x"}})
        assert SECRET not in plan.content[0].text


async def test_a_search_for_a_key_does_not_echo_the_key_in_its_result(db: Path):
    # search_usage answers with the pattern it searched for: one holding the server's own API key (an operator
    # checking the ledger never kept it) came back whole in the result, where every error quoting a caller's text
    # redacts it (an invalid pattern holding the key is quoted "[REDACTED]").
    async with Client(build_server(catalog=CATALOG, db=db, env={**ENV, "OPENAI_API_KEY": SECRET})) as c:
        result = await c.call_tool("search_usage", {"pattern": SECRET})
        assert not result.is_error and SECRET not in str(result)
        assert result.structured_content["pattern"] == "[REDACTED]"
        assert (await c.call_tool("search_usage", {"pattern": "sk-[a-z]+"})).structured_content["pattern"] == (
            "sk-[a-z]+"
        )


# --- resources and completion ----------------------------------------------------------------


async def test_catalog_resources(client: Client):
    listed = {str(r.uri) for r in (await client.list_resources()).resources}
    assert listed == {
        "magsag://catalog/skills",
        "magsag://catalog/routing",
        "magsag://catalog/governance",
        "magsag://catalog/prices",
    }
    skills = json.loads((await client.read_resource("magsag://catalog/skills")).contents[0].text)
    assert {s["id"] for s in skills} >= {"skill.analysis", "skill.summarization"}
    one = json.loads((await client.read_resource("magsag://skills/skill.summarization")).contents[0].text)
    assert one["input_schema"]["required"] == ["text"]
    # the route a call would take: the routing file's chain with MAGSAG_PROVIDER=fake applied
    assert one["route"]["rule"] == "route:summarization (provider:fake from MAGSAG_PROVIDER)"
    assert one["route"]["chain"] == ["fake:gpt-4o-mini", "fake:claude-3-haiku-20240307"]
    routing = json.loads((await client.read_resource("magsag://catalog/routing")).contents[0].text)
    assert routing["default"][0] == "openai:gpt-4o"
    for uri in ("magsag://catalog/governance", "magsag://catalog/prices"):
        assert json.loads((await client.read_resource(uri)).contents[0].text) is not None
    with pytest.raises(MCPError) as info:
        await client.read_resource("magsag://skills/skill.nope")
    assert "unknown skill" in info.value.error.message


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_resource_read_that_fails_never_echoes_a_key_and_an_unknown_uri_is_told_the_resources(
    db: Path, mode: str, caplog: pytest.LogCaptureFixture
):
    # The SDK answered a failed read with the URI as sent, in the error's data ({"uri": ...}) and, for a URI no
    # resource has, in its message ("Unknown resource: magsag://sk-..."), the server's own API key pasted there
    # included, and logged it so; every other error of the server redacts what it quotes. And that message named
    # none of the resources there are, where an unknown tool's and prompt's name theirs.
    env = {**ENV, "OPENAI_API_KEY": SECRET}
    async with Client(build_server(catalog=CATALOG, db=db, env=env), mode=mode) as client:
        for uri in (f"magsag://{SECRET}", f"magsag://skills/{SECRET}", f"magsag://catalog/{SECRET}"):
            with caplog.at_level(logging.INFO), pytest.raises(MCPError) as info:
                await client.read_resource(uri)
            error = info.value.error
            assert error.code == -32602, uri
            assert SECRET not in error.message and SECRET not in json.dumps(error.data), uri
            assert error.data == {"uri": uri.replace(SECRET, "[REDACTED]")}
        assert SECRET not in caplog.text and "[REDACTED]" in caplog.text
        with pytest.raises(MCPError) as info:
            await client.read_resource("magsag://catalog/skill")
        message = info.value.error.message
        assert message.startswith("unknown resource 'magsag://catalog/skill' (did you mean 'magsag://catalog/skills'?)")
        assert "magsag://catalog/prices" in message and SKILL_TEMPLATE in message and "list_skills" in message
        # a skill the template names but the catalog has not keeps its own message, with the skill it nearly is
        with pytest.raises(MCPError) as info:
            await client.read_resource("magsag://skills/skill.summarize")
        said = info.value.error.message
        assert said.startswith("unknown skill 'skill.summarize' (did you mean 'skill.summarization'?)")


async def test_an_unknown_resource_is_offered_only_the_resource_its_name_nearly_is(db: Path):
    """The hint compared whole URIs, which share ``magsag://catalog/``: any name under it was offered a resource,
    ``magsag://catalog/nope`` and ``.../agents`` "did you mean 'magsag://catalog/prices'?", ``.../budget`` the
    routing, and ``.../policies`` (the catalog's folder of them) the prices, not the governance that serves them."""
    meant = {
        "magsag://catalog/nope": None,
        "magsag://catalog/budget": None,
        "magsag://catalog/agents": None,
        "magsag://ledger/runs": None,
        "magsag://catalog/policies": "magsag://catalog/governance",
        "magsag://catalog/routes": "magsag://catalog/routing",
        "magsag://skills": "magsag://catalog/skills",
    }
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as client:
        for uri, resource in meant.items():
            with pytest.raises(MCPError) as info:
                await client.read_resource(uri)
            message = info.value.error.message
            hint = f" (did you mean {resource!r}?)" if resource else ";"
            assert message.startswith(f"unknown resource {uri!r}{hint}"), message
            assert message.count("did you mean") == (resource is not None), message


@pytest.mark.parametrize("kept", [8, 10])
async def test_a_key_cut_where_a_failed_resource_read_stops_quoting_its_uri_is_not_shown_in_part(
    db: Path, kept: int, caplog: pytest.LogCaptureFixture
):
    """The URI a failed read quotes is cut at URI_QUOTED_AT_MOST characters: cut before it was redacted, a key the
    cut fell inside was no longer the key, and its first characters were shown and logged."""
    from magsag_mcp.mcp_server.server import URI_QUOTED_AT_MOST

    shown = SECRET[:kept]
    uri = "magsag://skills/" + "x" * (URI_QUOTED_AT_MOST - len("magsag://skills//") - kept) + "/" + SECRET
    env = {**ENV, "OPENAI_API_KEY": SECRET}
    async with Client(build_server(catalog=CATALOG, db=db, env=env)) as client:
        with caplog.at_level(logging.INFO), pytest.raises(MCPError) as info:
            await client.read_resource(uri)
    error = info.value.error
    assert error.code == -32602
    assert shown not in error.message and shown not in json.dumps(error.data) and shown not in caplog.text
    assert "[REDACT" in json.dumps(error.data)  # (the cut may fall inside the mark, never inside the key)


async def test_a_key_of_no_known_shape_is_redacted_from_a_failed_resource_read_before_any_tool_call(
    db: Path, caplog: pytest.LogCaptureFixture
):
    """The server's keys were made known to redaction as its service opened, on the first tool call that needs it:
    a resource read before that (a client's first request) quoted a key of no known shape (an Azure key: 32 hex
    digits) pasted into its URI, in the error, its data and the log, as the patterns alone do not know it."""
    import uuid

    key = uuid.uuid4().hex  # a value no other test registered: redaction's registry is the process's
    env = {**ENV, "AZURE_OPENAI_API_KEY": key}
    async with Client(build_server(catalog=CATALOG, db=db, env=env)) as client:
        with caplog.at_level(logging.INFO), pytest.raises(MCPError) as info:
            await client.read_resource(f"magsag://catalog/x{key}")
    error = info.value.error
    assert error.code == -32602
    assert key not in error.message and key not in json.dumps(error.data) and key not in caplog.text
    assert error.data == {"uri": "magsag://catalog/x[REDACTED]"}


async def test_a_bug_reading_a_resource_is_a_generic_internal_error_and_a_redacted_logged_traceback(
    db: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    from magsag_mcp.mcp_server import resources

    def boom(svc: Any) -> Any:
        raise RuntimeError(f"bug with {SECRET} inside")

    monkeypatch.setattr(resources, "_prices", boom)
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as client:
        with caplog.at_level(logging.INFO), pytest.raises(MCPError) as info:
            await client.read_resource("magsag://catalog/prices")
    error = info.value.error
    assert error.code == -32603 and "server's log" in error.message and SECRET not in error.message
    record = next(r for r in caplog.records if r.name == "magsag_mcp.mcp" and r.levelno == logging.ERROR)
    assert "RuntimeError: bug with [REDACTED] inside" in record.exc_text and SECRET not in caplog.text


async def test_the_prices_resource_shows_every_routed_target_that_has_a_price(client: Client):
    """A price that changes with the prompt's size (gemini-1.5-pro: $1.25 in up to 128K tokens, $2.50 past
    them) was shown as null, which reads as "no price known", for a target the shipped routing names and calls
    price; and the rates only some models have (Anthropic's 1-hour cache writes) were left out."""
    prices = json.loads((await client.read_resource("magsag://catalog/prices")).contents[0].text)
    targets = prices["targets"]
    gemini = targets["google:gemini-1.5-pro"]
    assert (gemini["input"], gemini["output"]) == ("1.25", "5")
    assert gemini["above_input_tokens"] == {"128000": {"input": "2.5", "output": "10"}}
    claude = targets["anthropic:claude-3-5-sonnet-20241022"]
    assert (claude["cache_write"], claude["cache_write_1h"]) == ("3.75", "6") and "above_input_tokens" not in claude
    assert targets["local:llama3.1:70b"] == {"input": "0", "output": "0", "cache_read": None, "cache_write": None}
    assert prices["overrides"]["local:*"]["input"] == "0"


async def test_the_prices_resource_shows_the_service_tiers_an_override_prices(db: Path, catalog_copy: Path):
    # an entry's rates for another service tier price the calls that tier serves: shown, not left out of the listing
    prices_file = catalog_copy / "prices.yaml"
    entry = '"openai:gpt-5": {input: 1, output: 8, service_tiers: {priority: {input: 2, output: 16}}}\n'
    prices_file.write_text(entry + prices_file.read_text())
    async with Client(build_server(catalog=catalog_copy, db=db, env=ENV)) as c:
        prices = json.loads((await c.read_resource("magsag://catalog/prices")).contents[0].text)
    shown = prices["overrides"]["openai:gpt-5"]
    assert (shown["input"], shown["output"]) == ("1", "8")
    assert shown["service_tiers"] == {
        "priority": {"input": "2", "output": "16", "cache_read": None, "cache_write": None}
    }
    assert "service_tiers" not in prices["overrides"]["local:*"]


async def test_a_skills_route_is_the_one_the_router_takes(db: Path):
    # MAGSAG_MODEL overrides the routing file, the skill's data class adds its allowed local model, and
    # governance forbids the override for this data class: the resource shows all three, with the reason.
    async with Client(build_server(catalog=CATALOG, db=db, env={"MAGSAG_MODEL": "gpt-4o"})) as c:
        one = json.loads((await c.read_resource("magsag://skills/skill.pii-redaction")).contents[0].text)
    route = one["route"]
    assert route["rule"] == "override:env" and route["data_classes"] == ["pii_processing"]
    assert route["chain"] == ["openai:gpt-4o", "local:llama3.1:70b"]
    first, second = route["targets"]
    assert first["source"] == "env" and first["policy"]["allowed"] is False
    assert first["policy"]["policy"] == "data_residency"
    assert first["unavailable"] == "openai: no API key; set OPENAI_API_KEY in the environment"
    assert second["source"] == "data_class" and second["policy"] == {"allowed": True, "policy": None, "reason": None}


async def test_skill_ids_complete(client: Client):
    ref = ResourceTemplateReference(type="ref/resource", uri=SKILL_TEMPLATE)
    done = await client.complete(ref, {"name": "skill_id", "value": "sum"})
    assert done.completion.values == ["skill.summarization"]
    done = await client.complete(ref, {"name": "skill_id", "value": "skill."})
    assert len(done.completion.values) == done.completion.total >= 8 and done.completion.has_more is False
    done = await client.complete(ref, {"name": "other", "value": ""})
    assert done.completion.values == []
    # skill ids are offered for the skill template only, not for any reference that names a skill_id
    for other in (
        ResourceTemplateReference(type="ref/resource", uri="magsag://agents/{skill_id}"),
        PromptReference(type="ref/prompt", name="skill_id"),
    ):
        done = await client.complete(other, {"name": "skill_id", "value": "sum"})
        assert done.completion.values == [], other


# --- progress and logging ------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")  # logging/setLevel, on purpose
async def test_progress_reports_each_attempt_and_fallback_and_logging_level_filters(db: Path):
    logs: list[Any] = []

    async def on_log(params: Any) -> None:
        logs.append(params)

    # The handshake era (what desktop clients speak): progress tokens and logging/setLevel.
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV), mode="legacy", logging_callback=on_log) as c:
        await c.set_logging_level("warning")
        progress: list[tuple[float, str | None]] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, message))

        args = {
            "skill_id": "skill.analysis",
            "payload": {"data": "x"},
            # a server error is retried on its target before the fallback (an overload goes to the fallback first)
            "model_config": {"model": "fake:fail-server_error", "fallbacks": ["fake:good"]},
        }
        result = await c.call_tool("invoke_skill", args, progress_callback=on_progress)
        assert not result.is_error
        messages = [m for _, m in progress]
        assert messages[0] == "calling fake:fail-server_error (candidate 1, try 1)"
        assert any(m.startswith("retrying fake:fail-server_error") for m in messages)
        assert "falling back to fake:good (candidate 2 of 2)" in messages
        assert "calling fake:good (candidate 2, try 1)" in messages
        assert any(m.startswith("streaming:") for m in messages)
        assert [v for v, _ in progress] == sorted({v for v, _ in progress})  # strictly increasing
        assert {p.level for p in logs} == {"warning"}  # info (attempts) and notice (retries) filtered out

        logs.clear()
        await c.set_logging_level("debug")
        await c.call_tool("invoke_skill", args, progress_callback=on_progress)
        assert {"debug", "info", "notice", "warning"} <= {p.level for p in logs}
        assert all(p.logger == "magsag" for p in logs)

        logs.clear()
        await c.call_tool("invoke_skill", args)  # no progress token: nothing streamed back
        assert logs == []


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_call_that_waits_long_says_so_and_its_failures_stay_tool_errors(db: Path, mode: str, monkeypatch):
    # A client times a request out unless progress restarts the clock (the MCP Inspector after 10 s; the spec's
    # advice). A slow model (a reasoning model, a long prompt's first token) or a vendor's Retry-After kept the
    # call silent after its "calling ..." for as long as it took: such a client cancelled a call being paid for.
    # Now a call that has said nothing for a while says it is still waiting, and on what.
    from magsag_mcp.mcp_server import progress as progress_module

    monkeypatch.setattr(progress_module, "HEARTBEAT_SECONDS", 0.01)
    heard = anyio.Event()
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))
        if message and message.startswith("still waiting"):
            heard.set()

    slow = {"model": "fake:slow", "params": {"latency_ms": 600_000}}
    args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "run_id": "r-slow", "model_config": slow}
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV), mode=mode) as c:
        with anyio.fail_after(30):  # a hang guard, not a timing assertion
            async with anyio.create_task_group() as tg:
                tg.start_soon(functools.partial(c.call_tool, "invoke_skill", args, progress_callback=on_progress))
                await heard.wait()
                tg.cancel_scope.cancel()
        messages = [m for _, m in progress]
        assert messages[0] == "calling fake:slow (candidate 1, try 1)"
        assert messages[-1].startswith("still waiting after ") and messages[-1].endswith(
            ": calling fake:slow (candidate 1, try 1)"
        )
        assert [v for v, _ in progress] == sorted({v for v, _ in progress})  # strictly increasing
        runs = (await c.call_tool("query_runs", {"filters": {"run_id": "r-slow"}})).structured_content["runs"]
        assert [r["status"] for r in runs] == ["cancelled"]  # the cancelled call was recorded
        # a failure of a call that beats is the tool error it is, not an internal error
        failing = {**args, "run_id": None, "model_config": {"model": "fake:fail-bad_request"}}
        err = error_of(await c.call_tool("invoke_skill", failing, progress_callback=on_progress))
        assert err["type"] == "all_targets_failed"


async def test_an_in_process_client_of_the_2026_era_gets_progress_for_its_callback(db: Path):
    # The SDK's in-process client (Client(server), 2026-07-28 by default) sends no progress token: the SDK
    # hands the server's progress straight to the caller's callback. Before, the server looked for a token
    # only, so such a caller got no progress at all (and its call was not streamed).
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    args = {
        "skill_id": "skill.analysis",
        "payload": {"data": "x"},
        "model_config": {"model": "fake:fail-overloaded", "fallbacks": ["fake:good"]},
    }
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as c:
        result = await c.call_tool("invoke_skill", args, progress_callback=on_progress)
        assert not result.is_error
        messages = [m for _, m in progress]
        assert messages[0] == "calling fake:fail-overloaded (candidate 1, try 1)"
        assert "falling back to fake:good (candidate 2 of 2)" in messages
        assert messages[-1].startswith("streaming:")  # the answer came streamed, and nothing after it
        assert [v for v, _ in progress] == sorted({v for v, _ in progress})  # strictly increasing

        progress.clear()
        await c.call_tool("invoke_skill", args)  # no callback: nothing reported
        assert progress == []


async def test_a_tool_caller_cannot_point_the_operators_key_elsewhere(keyed: Client):
    # Without this check, base_url would carry OPENAI_API_KEY to whatever host the caller names.
    result = await keyed.call_tool(
        "invoke_skill",
        {
            "skill_id": "skill.analysis",
            "payload": {"data": "x"},
            "model_config": {"model": "openai:gpt-4o", "base_url": "https://collector.example.net/v1"},
        },
    )
    err = error_of(result)
    assert err["type"] == "invalid_payload" and "MAGSAG_ALLOWED_BASE_URLS" in err["message"]
    assert SECRET not in str(result)


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")  # logging/setLevel, on purpose
async def test_log_levels_are_per_client_session(db: Path):
    # One server, two clients (as over streamable HTTP): one asks for debug, the other for errors only.
    server = build_server(catalog=CATALOG, db=db, env=ENV)
    chatty: list[Any] = []
    quiet: list[Any] = []

    async def on_chatty(params: Any) -> None:
        chatty.append(params)

    async def on_quiet(params: Any) -> None:
        quiet.append(params)

    args = {
        "skill_id": "skill.analysis",
        "payload": {"data": "x"},
        "model_config": {"model": "fake:fail-overloaded", "fallbacks": ["fake:good"]},
    }

    async def ignore(value: float, total: float | None, message: str | None) -> None:
        return None

    async with (
        Client(server, mode="legacy", logging_callback=on_chatty) as a,
        Client(server, mode="legacy", logging_callback=on_quiet) as b,
    ):
        await a.set_logging_level("debug")
        await b.set_logging_level("error")
        await a.call_tool("invoke_skill", args, progress_callback=ignore)
        await b.call_tool("invoke_skill", args, progress_callback=ignore)
    assert {"debug", "info"} <= {p.level for p in chatty}
    assert quiet == []


def test_a_result_with_half_a_surrogate_pair_is_still_sent():
    # A vendor's text answer may carry "\ud83d" (an emoji cut in two; JSON escapes it). The result could not be
    # serialized as UTF-8: the client, its call paid for, got no answer at all. It goes with U+FFFD instead.
    from pydantic import BaseModel

    from magsag_mcp.mcp_server.tools import ok_result

    class Out(BaseModel):
        output: str
        trace: dict[str, Any]

    result = ok_result(Out(output="half \ud83d of it", trace={"warnings": ["x\udc00"], "ok": "😀"}))
    sent = json.loads(result.model_dump_json(by_alias=True))
    assert sent["structuredContent"] == {"output": "half \ufffd of it", "trace": {"warnings": ["x\ufffd"], "ok": "😀"}}
    assert json.loads(sent["content"][0]["text"]) == sent["structuredContent"]


class StubContext:
    """What ProgressBridge asks of the SDK's Context: each progress message it reports, and an event set once it has
    reported ``until`` of them."""

    class request_context:
        protocol_version, session, meta = "2025-06-18", None, None

    def __init__(self, until: int) -> None:
        self.said: list[str] = []
        self.until = until
        self.heard = anyio.Event()

    async def report_progress(self, progress: float, total: float | None, message: str) -> None:
        self.said.append(message)
        if len(self.said) >= self.until:
            self.heard.set()

    async def log(self, *args: Any, **kwargs: Any) -> None:
        pass


async def test_a_slow_stream_s_heartbeat_says_how_much_came_not_that_the_call_is_waiting(monkeypatch):
    # Streamed text is reported once per DELTA_STEP characters. A slow model (a local one at a few tokens a
    # second) delivers less than that between heartbeats, which said "still waiting ...: calling ..." while the
    # answer was coming in. The heartbeat now reports what has come.
    from magsag_mcp.mcp_server import progress as progress_module

    monkeypatch.setattr(progress_module, "HEARTBEAT_SECONDS", 0.01)
    ctx = StubContext(until=3)
    bridge = progress_module.ProgressBridge(ctx, progress_module.ClientLog())  # type: ignore[arg-type]
    with anyio.fail_after(30):  # a hang guard, not a timing assertion
        async with bridge.beating():
            await bridge("attempt", {"target": "local:llama3.1", "position": 0, "try": 1})
            await bridge("delta", {"chars": 12, "text": "The answer i"})
            await bridge("delta", {"chars": 40, "text": "s coming in slowly, a few words a se"})
            await ctx.heard.wait()
    assert ctx.said[:3] == [
        "calling local:llama3.1 (candidate 1, try 1)",
        "streaming: 12 characters received",
        "streaming: 40 characters received",
    ]
    assert all(m.startswith("still waiting after ") for m in ctx.said[3:])  # and nothing new came after it


async def test_a_call_that_began_beating_late_is_not_failed_by_its_heartbeat(monkeypatch):
    # The bridge is made before the service opens (the first call opens it: the catalog, the ledger and its
    # migrations, a write lock another process holds), and a report may wait on a client slow to read. Either
    # longer than a heartbeat made the heartbeat's next wait negative: anyio refused it (ValueError), the task
    # group cancelled the call being paid for, and the client got an internal error.
    from magsag_mcp.mcp_server import progress as progress_module

    monkeypatch.setattr(progress_module, "HEARTBEAT_SECONDS", 0.01)
    ctx = StubContext(until=1)
    bridge = progress_module.ProgressBridge(ctx, progress_module.ClientLog())  # type: ignore[arg-type]
    await anyio.sleep(0.05)  # the service opening: longer than a heartbeat
    with anyio.fail_after(30):  # a hang guard, not a timing assertion
        async with bridge.beating():
            await ctx.heard.wait()
    assert ctx.said[0].startswith("still waiting after ") and ctx.said[0].endswith(": starting")


async def test_a_resend_is_said_in_progress_and_is_what_the_heartbeat_then_waits_on(monkeypatch):
    # A target that refused a setting (a strict tool's schema, a temperature) is sent the call again without it:
    # progress said nothing of it, and the heartbeat went on saying the call waited on its first try.
    from magsag_mcp.mcp_server import progress as progress_module

    monkeypatch.setattr(progress_module, "HEARTBEAT_SECONDS", 0.01)
    ctx = StubContext(until=3)
    bridge = progress_module.ProgressBridge(ctx, progress_module.ClientLog())  # type: ignore[arg-type]
    with anyio.fail_after(30):  # a hang guard, not a timing assertion
        async with bridge.beating():
            await bridge("attempt", {"target": "openai:gpt-4o", "position": 0, "try": 1})
            reason = "refused 'temperature' (Unsupported value): sending it again without it"
            await bridge("resend", {"target": "openai:gpt-4o", "reason": reason})
            await ctx.heard.wait()
    said = "openai:gpt-4o refused 'temperature' (Unsupported value): sending it again without it"
    assert ctx.said[:2] == ["calling openai:gpt-4o (candidate 1, try 1)", said]
    assert ctx.said[2].startswith("still waiting after ") and ctx.said[2].endswith(f": {said}")


async def test_a_restart_of_the_streamed_text_is_said_and_the_text_after_it_counted_from_its_start():
    # A local reasoning model's thinking that its chat template opened is known for thinking only at its end: the
    # service then says the text streamed was not the answer ("restart"), and the answer's text streams from its start.
    from magsag_mcp.mcp_server import progress as progress_module

    ctx = StubContext(until=99)
    bridge = progress_module.ProgressBridge(ctx, progress_module.ClientLog())  # type: ignore[arg-type]
    await bridge("attempt", {"target": "local:deepseek-r1", "position": 0, "try": 1})
    await bridge("delta", {"chars": 900, "text": "t" * 900})
    await bridge("restart", {"chars": 900, "reason": "the model's inline thinking, which the answer leaves out"})
    await bridge("delta", {"chars": 600, "text": "a" * 600})
    assert ctx.said[1:] == [
        "streaming: 900 characters received",
        "streaming: the 900 characters received were not the answer (the model's inline thinking, which the answer "
        "leaves out); it starts again",
        "streaming: 600 characters received",
    ]


async def test_one_character_streamed_is_said_in_the_singular():
    # "streaming: 1 characters received", as `magsag demo` prints the progress of a call whose answer began
    from magsag_mcp.mcp_server import progress as progress_module

    ctx = StubContext(until=99)
    bridge = progress_module.ProgressBridge(ctx, progress_module.ClientLog())  # type: ignore[arg-type]
    await bridge("attempt", {"target": "local:deepseek-r1", "position": 0, "try": 1})
    await bridge("delta", {"chars": 1, "text": "t"})
    await bridge("restart", {"chars": 1, "reason": "the model's inline thinking, which the answer leaves out"})
    assert ctx.said[1:] == [
        "streaming: 1 character received",
        "streaming: the 1 character received was not the answer (the model's inline thinking, which the answer "
        "leaves out); it starts again",
    ]


async def test_a_misspelt_context_key_is_refused_in_the_words_the_cli_and_python_use(client: Client, db: Path):
    """invoke_skill refused context={"preferred_modle": ...} where `magsag invoke --context` and skills.invoke sent the
    call and warned after it was paid for. All three refuse it now, each naming the key and the one it means alike."""
    from magsag_mcp.errors import PayloadError
    from magsag_mcp.service import Service

    arguments = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "context": {"preferred_modle": "m"}}
    err = error_of(await client.call_tool("invoke_skill", arguments))
    assert "unknown argument 'context.preferred_modle' (did you mean 'preferred_model'?)" in err["message"]
    async with Service.open(catalog=CATALOG, db=db, env=ENV) as service:  # what the CLI and the Python API call
        with pytest.raises(PayloadError) as refused:
            await service.invoke_skill("skill.analysis", {"data": "x"}, context={"preferred_modle": "m"})
    assert refused.value.message.startswith("unknown context key 'preferred_modle' (did you mean 'preferred_model'?)")
