"""Chat Completions' Predicted Outputs (a target's ``params.prediction``): checked field by field as the spec's
PredictionContent, refused before sending where the API called has no such field, sent as written where it has,
counted by the budget's worst case as output on top of max_tokens, and the answer priced at its completion tokens as
billed (the accepted and rejected prediction tokens are inside them). Through the MCP client, against the loopback
OpenAI fake (checked against the spec)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from magsag_mcp.errors import ConfigError
from magsag_mcp.mcp_server import build_server
from magsag_mcp.predictions import prediction_tokens
from magsag_mcp.targets import parse_target
from tests.fakes.openai_replies import reply, tokens
from tests.fakes.openai_server import FakeOpenAI
from tests.mcp_tools_helpers import CATALOG, ENV, error_of

pytestmark = [pytest.mark.usefixtures("restored_secrets")]

#: the operator's OpenAI key (letters and digits mixed, no word in it)
KEY = "sk-p62Wq8Hn3Tz5Rk7Jv2Mx"

#: the file the answer is expected to repeat with a change: 2,316 bytes, bounded at 1,166 tokens
FILE = "def total(xs):\n    return sum(xs)\n\n" * 66 + "# end\n"
#: gpt-4o's genai-prices rates, per token
INPUT_RATE, OUTPUT_RATE = Decimal("2.5") / 10**6, Decimal(10) / 10**6


@pytest.fixture
async def openai() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(key=KEY).running() as fake:
        yield fake
    assert not fake.violations, fake.violations


@pytest.fixture
async def client(db: Path, openai: FakeOpenAI) -> AsyncIterator[Client]:
    env = {**ENV, "MAGSAG_PROVIDER": "openai", "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": openai.url + "/v1"}
    async with Client(build_server(catalog=CATALOG, db=db, env=env)) as c:
        yield c


def _args(params: dict[str, Any] | None, max_tokens: int = 200) -> dict[str, Any]:
    model_config: dict[str, Any] = {"model": "openai:gpt-4o", "max_tokens": max_tokens}
    if params is not None:
        model_config["params"] = params
    return {
        "skill_id": "skill.analysis",
        "payload": {"data": "rename total to grand_total"},
        "model_config": model_config,
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    "content",
    [FILE, [{"type": "text", "text": FILE[:1200]}, {"type": "text", "text": FILE[1200:]}]],
    ids=["text", "parts"],
)
async def test_a_prediction_within_budget_is_sent_as_the_spec_says_and_priced_at_its_completion_tokens_as_billed(
    client: Client, openai: FakeOpenAI, content: Any
):
    prediction = {"type": "content", "content": content}
    # 130 completion tokens: 50 of the prediction used, 60 of it not (billed all the same, inside completion_tokens)
    openai.queue(reply("def grand_total(xs): ...", usage=tokens(input=40, output=130, accepted=50, rejected=60)))
    result = await client.call_tool("invoke_skill", _args({"prediction": prediction}))
    assert not result.is_error, error_of(result)
    out = result.structured_content
    [sent] = openai.requests
    assert sent.body["prediction"] == prediction  # as written: the spec's PredictionContent
    assert sent.body["max_completion_tokens"] == 200  # the call's limit, the prediction beside it
    # completion_tokens priced once, at the output rate: the prediction's tokens are inside them, not added again
    assert out["usage"]["output_tokens"] == 130
    assert Decimal(out["cost_usd"]) == 40 * INPUT_RATE + 130 * OUTPUT_RATE
    [run] = (await client.call_tool("query_runs", {})).structured_content["runs"]
    [attempt] = run["attempts"]
    assert attempt["output_tokens"] == 130 and Decimal(attempt["cost_usd"]) == Decimal(out["cost_usd"])


@pytest.mark.anyio
async def test_the_worst_case_counts_the_predictions_tokens_as_output_on_top_of_max_tokens(client: Client):
    # the prompt's rule bounds the prediction's tokens: half its 2,316 UTF-8 bytes, plus 8
    plain = await client.call_tool("explain_route", _args(None, max_tokens=16))
    predicted = await client.call_tool("explain_route", _args({"prediction": {"type": "content", "content": FILE}}, 16))
    without = Decimal(plain.structured_content["targets"][0]["estimated_max_cost_usd"])
    with_it = Decimal(predicted.structured_content["targets"][0]["estimated_max_cost_usd"])
    assert len(FILE.encode()) == 2316 and with_it - without == 1166 * OUTPUT_RATE


def test_a_predictions_tokens_are_bounded_as_the_prompts_are():
    text = parse_target(
        {"provider": "openai", "model": "gpt-4o", "params": {"prediction": {"type": "content", "content": "é" * 10}}}
    )
    parts = [{"type": "text", "text": "ab"}, {"type": "text", "text": "cdef"}]
    split = parse_target(
        {"provider": "openai", "model": "gpt-4o", "params": {"prediction": {"type": "content", "content": parts}}}
    )
    assert (prediction_tokens(text), prediction_tokens(split)) == (20 // 2 + 8, 6 // 2 + 8)
    assert prediction_tokens(parse_target("openai:gpt-4o")) == 0


@pytest.mark.parametrize(
    ("prediction", "said"),
    [
        ("the file", "params.prediction must be a mapping such as {type: content"),
        ({"type": "text", "content": "x"}, "params.prediction.type must be 'content'"),
        ({"content": "x"}, "params.prediction.type must be 'content'"),
        ({"type": "content"}, "params.prediction.content must be the predicted text, or a non-empty list"),
        ({"type": "content", "content": []}, "params.prediction.content must be the predicted text, or a non-empty"),
        (
            {"type": "content", "content": [{"type": "image_url", "image_url": {}}]},
            "params.prediction.content[0] must be a text part",
        ),
        ({"type": "content", "content": ["x"]}, "params.prediction.content[0] must be a text part"),
        (
            {"type": "content", "content": [{"type": "text", "text": 7}]},
            "params.prediction.content[0] must be a text part",
        ),
        ({"type": "content", "content": "x", "extra": 1}, "params.prediction takes type and content alone"),
        ({"type": "content", "content": "half \ud83d"}, "params.prediction.content holds an unpaired UTF-16 surrogate"),
        (
            {"type": "content", "content": [{"type": "text", "text": "\ud83d"}]},
            "params.prediction.content holds an unpaired UTF-16 surrogate",
        ),
        (
            {
                "type": "content",
                "content": [{"type": "text", "text": "x", "prompt_cache_breakpoint": {"mode": "explicit"}}],
            },
            "params.prediction.content[0] takes type and text alone",
        ),
    ],
)
def test_a_prediction_the_spec_would_not_take_is_refused_naming_the_field_and_its_form(prediction: Any, said: str):
    with pytest.raises(ConfigError) as caught:
        parse_target({"provider": "openai", "model": "gpt-4o", "params": {"prediction": prediction}})
    assert said in str(caught.value), str(caught.value)


@pytest.mark.parametrize(
    ("target", "said"),
    [
        (
            {"provider": "openai", "model": "gpt-4o", "params": {"api": "responses"}},
            "Responses API, which has no prediction",
        ),
        ({"provider": "openai", "model": "o3-pro"}, "Responses API, which has no prediction"),
        (
            {"provider": "azure", "model": "prod-chat", "params": {"api": "responses"}},
            "Responses API, which has no prediction",
        ),
        (
            {"provider": "compat", "model": "m", "params": {"api": "responses"}},
            "Responses API, which has no prediction",
        ),
        ({"provider": "local", "model": "llama3.1:70b"}, "set params.api: chat"),
        (
            {"provider": "anthropic", "model": "claude-3-5-sonnet-20241022"},
            "anthropic's own API, which has no prediction",
        ),
        ({"provider": "google", "model": "gemini-1.5-pro"}, "google's own API, which has no prediction"),
    ],
)
def test_a_prediction_where_the_api_called_has_no_such_field_is_refused_before_sending(
    target: dict[str, Any], said: str
):
    params = {**target.get("params", {}), "prediction": {"type": "content", "content": "x"}}
    with pytest.raises(ConfigError) as caught:
        parse_target({**target, "params": params})
    assert said in str(caught.value) and str(caught.value).startswith("params.prediction: "), str(caught.value)


@pytest.mark.parametrize(
    "target",
    [
        {"provider": "openai", "model": "gpt-4o"},
        {"provider": "openai", "model": "o3-pro", "params": {"api": "chat"}},
        {"provider": "azure", "model": "prod-chat"},
        {"provider": "compat", "model": "m"},
        {"provider": "local", "model": "llama3.1:70b", "params": {"api": "chat"}},
    ],
)
def test_a_prediction_is_taken_where_the_call_is_sent_with_chat_completions(target: dict[str, Any]):
    params = {**target.get("params", {}), "prediction": {"type": "content", "content": "x"}}
    assert parse_target({**target, "params": params}).param("prediction") == {"type": "content", "content": "x"}


@pytest.mark.anyio
async def test_a_routing_targets_prediction_is_not_sent_where_magsag_provider_swaps_it_onto_an_api_without_it(
    catalog_copy: Path, db: Path
):
    # A routing chain's target is parsed for the provider it names (openai: Chat Completions, which takes a
    # prediction); MAGSAG_PROVIDER=local swaps it onto a local server, called with the Responses API first, which has
    # no such field. The swapped target keeps its params: the cascade skips it, saying why, for the next one.
    routing = catalog_copy / "routing" / "default.yaml"
    chain = "    chain: [openai:gpt-4o, anthropic:claude-3-5-sonnet-20241022, google:gemini-1.5-pro]"
    predicted = "{provider: openai, model: gpt-4o, params: {prediction: {type: content, content: 'def f(): pass'}}}"
    text = routing.read_text()
    assert chain in text
    routing.write_text(text.replace(chain, f"    chain: [{predicted}, anthropic:claude-3-5-sonnet-20241022]"))
    async with FakeOpenAI(key=KEY).running() as local:
        url = local.url + "/v1"
        env = {**ENV, "MAGSAG_PROVIDER": "local", "MAGSAG_LOCAL_LLM_BASE_URL": url, "MAGSAG_LOCAL_LLM_API_KEY": KEY}
        async with Client(build_server(catalog=catalog_copy, db=db, env=env)) as client:
            result = await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": {"data": "x"}})
    assert not local.violations, local.violations
    assert not result.is_error, error_of(result)
    out = result.structured_content
    assert out["model"] == "claude-3-5-sonnet-20241022"
    assert local.requests and all("prediction" not in r.body for r in local.requests)
    [skipped] = out["trace"]["skipped"]
    assert skipped["target"] == "local:gpt-4o", skipped
    assert skipped["reason"].startswith("params.prediction: local:gpt-4o is called with the Responses API first")
    assert "set params.api: chat" in skipped["reason"]
