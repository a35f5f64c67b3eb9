"""invoke_skill's and explain_route's ``context`` argument: the guide's call context (``preferred_model``,
``tier``, ``data_class``) for MCP callers, through the SDK's in-memory client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ENV = {"MAGSAG_PROVIDER": "fake", "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_MAX_RETRIES": "1"}
CALL = {"skill_id": "skill.analysis", "payload": {"data": "sales up 8%"}}


@pytest.fixture
async def client(tmp_path: Path):
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env=ENV)) as c:
        yield c


def error_of(result: Any) -> dict[str, Any]:
    assert result.is_error, result.content[0].text
    return result.structured_content["error"]


async def test_a_context_tier_routes_to_that_tier_and_explain_route_shows_the_same(client: Client):
    # skill.analysis routes to gpt-4o first; the economy tier starts at gpt-4o-mini (catalog/routing)
    plain = await client.call_tool("invoke_skill", CALL)
    assert plain.structured_content["model"] == "gpt-4o"
    result = await client.call_tool("invoke_skill", {**CALL, "context": {"tier": "economy"}})
    assert not result.is_error, result.content[0].text
    assert (result.structured_content["provider"], result.structured_content["model"]) == ("fake", "gpt-4o-mini")
    plan = await client.call_tool("explain_route", {**CALL, "context": {"tier": "economy"}})
    assert not plan.is_error, plan.content[0].text
    assert plan.structured_content["rule"].startswith("tier:economy")
    assert plan.structured_content["targets"][0]["model"] == "gpt-4o-mini"


async def test_a_context_preferred_model_is_tried_first_and_recorded(client: Client):
    result = await client.call_tool(
        "invoke_skill", {**CALL, "agent": "ctx", "context": {"preferred_model": "claude-3-haiku-20240307"}}
    )
    assert not result.is_error, result.content[0].text
    assert result.structured_content["model"] == "claude-3-haiku-20240307"
    runs = await client.call_tool("query_runs", {"filters": {"agent": "ctx"}})
    (run,) = runs.structured_content["runs"]
    assert [a["model"] for a in run["attempts"]] == ["claude-3-haiku-20240307"]


async def test_a_context_data_class_adds_its_policy_before_any_money_is_spent(tmp_path: Path):
    # OpenAI configured at a closed port: a refusal must come from governance, before any HTTP
    env = {**ENV, "OPENAI_API_KEY": "sk-test-0123456789abcdef", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env=env)) as c:
        args = {**CALL, "model_config": {"model": "openai:gpt-4o"}}
        result = await c.call_tool("invoke_skill", {**args, "context": {"data_class": "pii_processing"}})
        err = error_of(result)
        assert err["last_error_type"] == "policy_denied" and err["policy"] == "data_residency"
        assert [a["outcome"] for a in err["attempts"]] == ["policy_denied"]
        plan = await c.call_tool("explain_route", {**args, "context": {"data_class": "pii_processing"}})
        assert plan.structured_content["data_class"] == "pii_processing"
        assert plan.structured_content["targets"][0]["policy"]["allowed"] is False
        runs = await c.call_tool("query_runs", {"filters": {"status": "policy_denied"}})
        assert len(runs.structured_content["runs"]) == 1  # the refused call is in the ledger


async def test_a_context_names_only_what_the_catalog_knows(client: Client):
    err = error_of(await client.call_tool("invoke_skill", {**CALL, "context": {"tier": "cheap"}}))
    assert err["type"] == "invalid_payload"
    assert "unknown cost tier 'cheap'" in err["message"] and "economy" in err["message"]
    err = error_of(await client.call_tool("invoke_skill", {**CALL, "context": {"data_class": "secret"}}))
    assert "pii_processing" in err["message"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ({"context": {"llm_overrides": {"model": "gpt-4o"}}}, "'context.llm_overrides' (its keys go in"),
        # misspelt as the CLI and Python refuse it ("did you mean 'llm_overrides'?"): here it said only "accepted
        # here: preferred_model, tier, data_class", not where its keys go
        ({"context": {"llm_override": {"model": "gpt-4o"}}}, "'context.llm_override' (its keys go in the model_config"),
        ({"context": {"LLM_Overides": {"model": "gpt-4o"}}}, "'context.LLM_Overides' (its keys go in the model_config"),
        ({"llm_overrides": {"model": "gpt-4o"}}, "'llm_overrides' (its keys go in the model_config argument"),
        ({"tier": "economy"}, "'tier' (it goes in context: {\"context\": {\"tier\": ...}})"),
        ({"context": {"tier": 3}}, "context.tier"),
        # a routing key misspelt as the CLI and Python refuse it, and a word of its own (which they pass on) not said
        # to be one: difflib's closeness said "(did you mean 'tier'?)" of time, "'preferred_model'?" of
        # preferred_language
        ({"context": {"tiers": "economy"}}, "'context.tiers' (did you mean 'tier'?)"),
        ({"context": {"teir": "economy"}}, "'context.teir' (did you mean 'tier'?)"),
        ({"context": {"prefered_model": "gpt-4o"}}, "'context.prefered_model' (did you mean 'preferred_model'?)"),
        ({"context": {"time": "9:00"}}, "'context.time' (a key of its own: this context holds only what routing reads"),
        ({"context": {"preferred_language": "fr"}}, "'context.preferred_language' (a key of its own: this context"),
        ({"context": {"user_id": "u1"}}, "(preferred_model, tier, data_class); what the skill reads goes in payload)"),
        # several models for the key that takes one: "did you mean 'preferred_model'?" alone, and a list there was
        # refused next; the ordered preference it meant is a model and its fallbacks, the caller's own (it showed a
        # placeholder fallback, claude-3-5-sonnet-20241022, whatever was sent)
        (
            {"context": {"preferred_models": ["gpt-4o", "gpt-4o-mini"]}},
            "(did you mean 'preferred_model'? preferred_model names one model, the call's target; for models tried in "
            'order write the model_config argument {"model": "gpt-4o", "fallbacks": ["gpt-4o-mini"]}',
        ),
        (
            {"context": {"data_classes": ["pii_processing"]}},
            '(did you mean \'data_class\'? data_class names one class: write "data_class": "pii_processing")',
        ),
    ],
)
async def test_a_context_written_the_python_way_or_beside_it_says_where_it_goes(client: Client, args, said):
    err = error_of(await client.call_tool("invoke_skill", {**CALL, **args}))
    assert err["type"] == "invalid_arguments" and said in err["message"], err["message"]
    runs = await client.call_tool("query_runs", {})
    assert runs.structured_content["runs"] == []  # refused before a run was recorded


async def test_the_context_argument_is_published_in_both_tools_schemas(client: Client):
    tools = {t.name: t for t in (await client.list_tools()).tools}
    for name in ("invoke_skill", "explain_route"):
        context = tools[name].input_schema["properties"]["context"]
        keys = {"preferred_model", "tier", "data_class", "cache_ttl", "pause_continuations"}
        assert set(context["properties"]) == keys
        assert context["additionalProperties"] is False


async def test_a_preferred_model_that_fails_is_the_calls_only_target_as_its_schema_says(client: Client):
    # Before: the schema a client's model reads called preferred_model "a model to try first", as if routing's
    # targets followed it; the call's choice is the only target (docs/model-choice.md), so a model that
    # fails fails the call. The description now says so, and where a fallback goes (model_config.fallbacks).
    tools = {t.name: t for t in (await client.list_tools()).tools}
    said = tools["invoke_skill"].input_schema["properties"]["context"]["properties"]["preferred_model"]["description"]
    assert "try first" not in said and "fallbacks" in said
    preferred = {"preferred_model": "fail-overloaded"}
    failed = error_of(await client.call_tool("invoke_skill", {**CALL, "context": preferred}))
    assert {a["model"] for a in failed["attempts"]} == {"fail-overloaded"}
    plan = await client.call_tool(
        "explain_route",
        {**CALL, "context": {"preferred_model": "fail-overloaded"}, "model_config": {"fallbacks": ["gpt-4o-mini"]}},
    )
    assert [t["label"] for t in plan.structured_content["targets"]] == ["fake:fail-overloaded", "fake:gpt-4o-mini"]


async def test_explain_route_names_every_data_class_whose_policy_applies(client: Client):
    # A call declaring a data class for a skill with one of its own meets both classes' policies. explain_route said
    # only the skill's (data_class: pii_processing): a client reading the plan was not told financial_data applied
    # too, and every target was refused for a class it did not see.
    args = {"skill_id": "skill.pii-redaction", "payload": {"text": "x"}, "context": {"data_class": "financial_data"}}
    plan = (await client.call_tool("explain_route", args)).structured_content
    assert plan["data_class"] == "pii_processing"
    assert plan["data_classes"] == ["pii_processing", "financial_data"]
    alone = (await client.call_tool("explain_route", CALL)).structured_content
    assert alone["data_class"] is None and alone["data_classes"] == []


async def test_explain_route_tells_a_refused_misspelt_model_the_one_it_nearly_is_at_its_target(tmp_path: Path):
    # invoke_skill's refusal of gpt-4o-mnii says "(did you mean 'gpt-4o-mini'?)"; explain_route said so in its
    # warnings only, and the target's own policy.reason, where a client reading the plan looks, said only "not in
    # production_models.allowed_models".
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={})) as c:
        named = {"model_config": {"model": "openai:gpt-4o-mnii"}}, {"context": {"preferred_model": "gpt-4o-mnii"}}
        for argument in named:
            plan = (await c.call_tool("explain_route", {**CALL, **argument})).structured_content
            (target,) = plan["targets"]
            assert target["policy"]["allowed"] is False and target["policy"]["policy"] == "production_models"
            assert "(did you mean 'gpt-4o-mini'?)" in target["policy"]["reason"], target
            err = error_of(await c.call_tool("invoke_skill", {**CALL, **argument}))
            assert "(did you mean 'gpt-4o-mini'?)" in err["message"]
        # an allowed model's target says nothing of the kind
        plan = (await c.call_tool("explain_route", {**CALL, "model_config": {"model": "openai:gpt-4o-mini"}}))
        assert plan.structured_content["targets"][0]["policy"] == {"allowed": True, "policy": None, "reason": None}
