"""Charges an answer reports that are billed per use beside its tokens (a server tool's web searches): a call's cost
priced from its tokens alone would leave them out of the ledger as if complete, so it is recorded as unknown, with a
warning that names the charge."""

from __future__ import annotations

import shutil
from decimal import Decimal as D
from pathlib import Path

import genai_prices
import pytest

from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.providers.openai import OpenAIProvider
from magsag_mcp.service import Service
from magsag_mcp.types import LLMRequest, Message, Target, Usage

from .fakes import FakeAnthropic, FakeGemini, FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-q7w2-r5t8-z3x9"
CATALOG = Path(__file__).resolve().parents[2] / "catalog"


async def _anthropic_usage(serve, transport, usage: dict, *, stream: bool) -> Usage:
    fake = FakeAnthropic(KEY)
    url = await serve(fake)
    fake.queue({"text": "ok", "usage": usage})
    provider = AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, transport)
    result = await provider.complete(
        LLMRequest([Message("user", "hi")], max_tokens=10, stream=stream),
        Target("anthropic", "claude-sonnet-4-5", url),
    )
    assert fake.violations == []
    return result.usage


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_an_answer_that_reports_web_searches_is_billed_them_at_genai_prices_rate_per_search(
    serve, transport, stream
):
    # Anthropic bills web search at $10 per 1,000 searches beside the tokens (usage.server_tool_use), a rate
    # genai-prices gives: recorded as of unknown cost, a month of them was null in the ledger where the invoice had
    # them to the cent (and genai-prices' own reading of the same answer prices them)
    tokens = {"input_tokens": 1000, "output_tokens": 500}
    counted = {**tokens, "server_tool_use": {"web_search_requests": 3, "web_fetch_requests": 0}}
    searched = await _anthropic_usage(serve, transport, counted, stream=stream)
    assert searched.server_tool_calls == (("web_search", 3),)
    quote = Pricer.from_catalog(None).price("anthropic", "claude-sonnet-4-5", searched)
    # $3 in, $15 out per million tokens, $10 per 1,000 searches
    assert (quote.cost_usd, quote.source) == (D("0.0405"), "genai-prices")
    # said, as magsag asks for no server tool (the attempt's server_tool_uses column counts them: 0030)
    assert quote.warning == (
        "anthropic:claude-sonnet-4-5 reported server tool calls billed per use beside its tokens (3 web searches), "
        "which magsag does not ask for: $0.03 of its $0.0405 is theirs, at genai-prices' rate per use"
    )
    assert quote.cost_usd == (1000 * 3 + 500 * 15) / D(1_000_000) + 3 * D(10) / 1000
    body = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": []}
    extracted = genai_prices.extract_usage({**body, "usage": counted}, provider_id="anthropic")
    assert extracted.calc_price().total_price == quote.cost_usd


def test_web_searches_on_a_tiered_price_a_batch_and_us_only_inference():
    pricer = Pricer.from_catalog(None)
    # past claude-sonnet-4-5's 200k tier every token is at its long-context rates ($6 / $22.50); a search is $10 / 1k
    usage = Usage(input_tokens=250_000, output_tokens=1000, server_tool_calls=(("web_search", 2),))
    assert pricer.price("anthropic", "claude-sonnet-4-5", usage).cost_usd == (
        (250_000 * 6 + 1000 * D("22.5")) / D(1_000_000) + 2 * D(10) / 1000
    )
    # a batch's tokens at half, its searches at the same $10 per 1,000
    batch = Usage(input_tokens=1000, output_tokens=500, service_tier="batch", server_tool_calls=(("web_search", 3),))
    assert pricer.price("anthropic", "claude-sonnet-4-5", batch).cost_usd == D("0.00525") + D("0.03")
    # US-only inference multiplies the token rates by 1.1, not the fee per search
    us = Usage(input_tokens=1000, output_tokens=500, inference_geo="us", server_tool_calls=(("web_search", 3),))
    assert pricer.price("anthropic", "claude-sonnet-4-5", us).cost_usd == D("0.0105") * D("1.1") + D("0.03")


def test_web_searches_of_a_model_a_prices_entry_prices_are_of_unknown_cost(tmp_path):
    # a prices.yaml entry gives token rates alone: no rate per search, so no silent $0 for them
    (tmp_path / "prices.yaml").write_text('"anthropic:claude-sonnet-4-5": {input: 3, output: 15}\n')
    pricer = Pricer.from_catalog(tmp_path)
    usage = Usage(input_tokens=1000, output_tokens=500, server_tool_calls=(("web_search", 3),))
    quote = pricer.price("anthropic", "claude-sonnet-4-5", usage)
    assert quote.cost_usd is None and quote.source is None
    assert "3 web searches" in quote.warning and "recorded as unknown" in quote.warning
    # without searches the entry prices the call
    assert pricer.price("anthropic", "claude-sonnet-4-5", Usage(1000, 500)).cost_usd == D("0.0105")


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_web_fetches_and_no_searches_cost_the_tokens_alone(serve, transport, stream):
    # web fetch has no charge beyond the tokens it reads in; a count of 0 searches is no charge either
    tokens = {"input_tokens": 1000, "output_tokens": 500}
    fetched = await _anthropic_usage(
        serve,
        transport,
        {**tokens, "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 2}},
        stream=stream,
    )
    quote = Pricer.from_catalog(None).price("anthropic", "claude-sonnet-4-5", fetched)
    assert quote.cost_usd == (1000 * 3 + 500 * 15) / D(1_000_000) and quote.warning is None


#: a Responses API answer's output items of server tools, as the API writes them (WebSearchToolCall,
#: FileSearchToolCall)
_SEARCHED = [
    {
        "type": "web_search_call",
        "id": "ws_1",
        "status": "completed",
        "action": {"type": "search", "query": "magsag pricing"},
    },
    {
        "type": "web_search_call",
        "id": "ws_2",
        "status": "completed",
        "action": {"type": "search", "query": "genai prices"},
    },
    {"type": "file_search_call", "id": "fs_1", "status": "completed", "queries": ["rates"], "results": None},
]


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_responses_answer_with_server_tool_calls_is_of_unknown_cost_named_in_its_warning(
    serve, transport, stream
):
    # OpenAI bills a web search call at $10 per 1,000 and a file search call at $2.50 per 1,000 beside the tokens
    fake = FakeOpenAI(KEY)
    url = await serve(fake)
    fake.queue({"text": "ok", "usage": {"input_tokens": 1000, "output_tokens": 500}, "server_tool_items": _SEARCHED})
    provider = OpenAIProvider({"OPENAI_API_KEY": KEY}, transport)
    result = await provider.complete(
        LLMRequest([Message("user", "hi")], max_tokens=10, stream=stream),
        Target("openai", "gpt-4.1", url + "/v1", (("api", "responses"),)),
    )
    assert fake.violations == [] and result.text == "ok"
    assert result.usage.server_tool_calls == (("web_search", 2), ("file_search", 1))
    quote = Pricer.from_catalog(None).price("openai", "gpt-4.1", result.usage)
    assert quote.cost_usd is None and quote.source is None
    assert "(2 web searches, 1 file search)" in quote.warning and "openai:gpt-4.1" in quote.warning


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_gemini_answer_grounded_with_google_search_is_of_unknown_cost_named_in_its_warning(
    serve, transport, stream
):
    # Gemini bills a prompt grounded with Google Search ($35 per 1,000 past a free daily quota; per search query on
    # Gemini 3) beside the tokens: the answer's candidate says so in its groundingMetadata
    fake = FakeGemini(KEY)
    url = await serve(fake)
    grounding = {
        "webSearchQueries": ["genai prices gemini"],
        "groundingChunks": [{"web": {"uri": "https://example.com/a", "title": "example.com"}}],
    }
    fake.queue({"text": "ok", "grounding": grounding})
    result = await GeminiProvider({"GEMINI_API_KEY": KEY}, transport).complete(
        LLMRequest([Message("user", "hi")], max_tokens=10, stream=stream), Target("google", "gemini-2.5-pro", url)
    )
    assert fake.violations == [] and result.text.strip() == "ok"
    quote = Pricer.from_catalog(None).price("google", "gemini-2.5-pro", result.usage)
    assert quote.cost_usd is None and quote.source is None
    assert "(1 grounded prompt)" in quote.warning and "google:gemini-2.5-pro" in quote.warning
    # an answer without groundingMetadata is priced from its tokens, as before
    fake.queue({"text": "ok"})
    plain = await GeminiProvider({"GEMINI_API_KEY": KEY}, transport).complete(
        LLMRequest([Message("user", "hi")], max_tokens=10, stream=stream), Target("google", "gemini-2.5-pro", url)
    )
    assert Pricer.from_catalog(None).price("google", "gemini-2.5-pro", plain.usage).source == "genai-prices"


async def test_a_call_whose_answer_reports_web_searches_is_recorded_at_their_cost(
    tmp_path, serve
):
    # through the service: the attempt's cost is its tokens' and its searches' (which magsag never asked for, and its
    # worst case did not price), known, and no bound beside it
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    usage = {"input_tokens": 1000, "output_tokens": 500, "server_tool_use": {"web_search_requests": 2}}
    fake.queue(
        {"text": "ok", "usage": {**usage, "server_tool_use": {**usage["server_tool_use"], "web_fetch_requests": 0}}}
    )
    catalog = tmp_path / "catalog"  # (the shipped policies are not what this is about)
    shutil.copytree(CATALOG, catalog)
    (catalog / "policies" / "model_governance.yaml").write_text("policies: []\n")
    payload = {"data": "x", "model_config": {"model": "anthropic:claude-sonnet-4-5", "max_tokens": 1000}}
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        reserved = D(svc.explain("skill.analysis", payload)["targets"][0]["estimated_max_cost_usd"])
        result = await svc.invoke_skill("skill.analysis", payload, run_id="r-search")
        [run] = await svc.query_runs({"run_id": "r-search"})
    cost = (1000 * 3 + 500 * 15) / D(1_000_000) + 2 * D(10) / 1000  # $0.0305
    assert result.cost_usd == cost > reserved
    assert not any("unknown" in w for w in result.warnings), result.warnings
    [attempt] = run["attempts"]
    assert D(attempt["cost_usd"]) == cost and attempt["cost_bound_usd"] is None
    # the ledger's row says what of its cost the searches are, and counts them by the tool's name (0030)
    assert any("(2 web searches)" in w and "$0.02 of its $0.0305" in w for w in attempt["warnings"]), attempt
    assert attempt["server_tool_uses"] == {"web_search": 2}
    assert fake.violations == []


@pytest.mark.parametrize(
    "usage",
    [
        Usage(input_tokens=20, output_tokens=5, server_tool_calls=(("web_search", 1),)),
        Usage(input_tokens=20, output_tokens=-5),
        Usage(input_tokens=20, output_tokens=5, cached_tokens=30),
    ],
    ids=["server tool calls", "a negative count", "parts past their whole"],
)
def test_an_azure_answer_of_unknown_cost_still_tells_the_policies_what_the_deployment_serves(usage: Usage):
    # the answer of a deployment named gpt-4o-mini that names gpt-4o is unpriced for its own reasons, but it said what
    # the deployment serves all the same: recorded after those returns, the policies' served-model check never heard
    pricer = Pricer()
    usage.answering_model = "gpt-4o-2024-08-06"
    assert pricer.price("azure", "gpt-4o-mini", usage).cost_usd is None
    assert pricer.azure_answered("gpt-4o-mini") == frozenset({"gpt-4o-2024-08-06"})


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_responses_answer_that_generated_an_image_is_of_unknown_cost(serve, transport, stream):
    # the image generation tool's image is billed at the image model's rates beside the answer's tokens, which its
    # usage does not count: priced from the tokens alone, the image was left out of a cost recorded as complete
    fake = FakeOpenAI(KEY)
    url = await serve(fake)
    drawn = [{"type": "image_generation_call", "id": "ig_1", "status": "completed", "result": "aVZCT1J3MEtHZ28="}]
    fake.queue({"text": "ok", "usage": {"input_tokens": 1000, "output_tokens": 74}, "server_tool_items": drawn})
    provider = OpenAIProvider({"OPENAI_API_KEY": KEY}, transport)
    result = await provider.complete(
        LLMRequest([Message("user", "hi")], max_tokens=10, stream=stream),
        Target("openai", "gpt-4.1", url + "/v1", (("api", "responses"),)),
    )
    assert fake.violations == [] and result.usage.server_tool_calls == (("image_generation", 1),)
    quote = Pricer.from_catalog(None).price("openai", "gpt-4.1", result.usage)
    assert quote.cost_usd is None and "(1 generated image)" in quote.warning


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_an_output_item_whose_type_is_no_name_leaves_the_answers_usage_reported_and_priced(
    serve, transport, stream
):
    # a broken gateway's output item whose "type" is an object (or a list), no name: looked up among the per-use
    # items it raised TypeError (unhashable), which threw the whole usage away as unreported, and a call whose
    # usage the answer said was recorded at an unknown cost
    fake = FakeOpenAI(KEY)
    url = await serve(fake)
    odd = [{"type": {"name": "web_search_call"}, "id": "ws_1"}, {"type": ["file_search_call"], "id": "fs_1"}]
    fake.queue({"text": "ok", "usage": {"input_tokens": 1000, "output_tokens": 500}, "server_tool_items": odd})
    provider = OpenAIProvider({"OPENAI_API_KEY": KEY}, transport)
    result = await provider.complete(
        LLMRequest([Message("user", "hi")], max_tokens=10, stream=stream),
        Target("openai", "gpt-4.1", url + "/v1", (("api", "responses"),)),
    )
    assert fake.violations == [] and result.text == "ok"
    assert result.usage.reported and (result.usage.input_tokens, result.usage.output_tokens) == (1000, 500)
    assert result.usage.server_tool_calls == ()
    quote = Pricer.from_catalog(None).price("openai", "gpt-4.1", result.usage)
    assert quote.cost_usd == (1000 * 2 + 500 * 8) / D(1_000_000) and quote.warning is None
