"""Every MCP tool, through the SDK's in-memory client (the real MCP handlers): what each tool answers.
Its error paths are in test_mcp_tools_inputs (what a caller sent wrong) and test_mcp_tools_refusals (governance's
refusals, failed calls, a bad catalog, crashes and keys); resources and completion in test_mcp_tools_resources;
progress, logging and heartbeats in test_mcp_tools_updates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI
from tests.mcp_tools_helpers import CATALOG, ENV, Schemas, error_of

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]


@pytest.fixture
async def client(db: Path):
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as c:
        yield c


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


async def test_invoke_skill_gives_the_vendors_response_id_and_a_cache_hit_keeps_it(
    fake_openai: FakeOpenAI, db: Path, schemas: Schemas, clock_at_noon: float
):
    # The library's result carried the vendor's id of the answer (to trace a call to the vendor's own records);
    # the tool's result dropped it. A hit of the answer cache keeps the id of the answer paid for.
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    args = {
        "skill_id": "skill.analysis",
        "payload": {"data": "numbers"},
        "model_config": {"provider": "openai", "model": "gpt-4o"},
        "context": {"cache_ttl": 600},
    }
    async with Client(build_server(catalog=CATALOG, db=db, env=env)) as client:
        first = schemas.check("invoke_skill", await client.call_tool("invoke_skill", args))
        hit = schemas.check("invoke_skill", await client.call_tool("invoke_skill", args))
    assert len(fake_openai.requests) == 1
    assert first["response_id"].startswith("chatcmpl-") and hit["response_id"] == first["response_id"]


async def test_invoke_skill_gives_a_null_response_id_where_the_provider_gave_none(client: Client, schemas: Schemas):
    out = schemas.check(
        "invoke_skill", await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": {"data": "x"}})
    )
    assert out["provider"] == "fake" and "response_id" in out and out["response_id"] is None


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
    # A form's empty field: "model": "" names no model (docs/model-choice.md), so the payload's model_config model is
    # the one named; merged key by key, the argument's "" replaced it and the call went to routing's models instead.
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
    # for 'my-mga' with notes [], where docs/mcp.md promises the agent meant "on every surface"
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

