"""A finance audit of what one call costs, end to end: each vendor's usage block exactly as its spec shapes it, served
by a spec-checking loopback fake, through the service, to the ledger's row and the summary. The expected cost is
worked here from genai-prices' own rates for the model (read from its data, not from magsag's pricing), so a token
priced at a rate its vendor does not bill it at, counted twice, or left out shows as a difference in dollars.

What each vendor counts where (the specs in /work/shared/specs):
- Chat Completions: ``prompt_tokens`` includes ``prompt_tokens_details.cached_tokens``; ``completion_tokens`` includes
  ``completion_tokens_details.reasoning_tokens``; ``total_tokens`` is their sum.
- Responses: the same, as ``input_tokens``/``input_tokens_details`` and ``output_tokens``/``output_tokens_details``.
- Messages: ``input_tokens`` excludes ``cache_read_input_tokens`` and ``cache_creation_input_tokens`` (which
  ``cache_creation`` splits by time to live); no total is sent: magsag's is input (all three) + output.
- generateContent: ``promptTokenCount`` includes ``cachedContentTokenCount``; ``thoughtsTokenCount`` is outside
  ``candidatesTokenCount``; ``totalTokenCount`` is prompt + thoughts + candidates.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tests.pricing_audit import M, catalog_without_policies, list_rates, one_call
from tests.providers.fakes import FakeAnthropic, FakeGemini, FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"


def tokens_of(row: dict) -> tuple[int, ...]:
    return (
        row["input_tokens"],
        row["output_tokens"],
        row["cached_tokens"],
        row["cache_write_tokens"],
        row["reasoning_tokens"],
        row["total_tokens"],
    )


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_openai_cached_input_and_reasoning_are_priced_once_at_their_rates(tmp_path, serve, api, stream):
    fake = FakeOpenAI(KEY)
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": await serve(fake) + "/v1"}
    # 10,000 prompt tokens of which 6,000 read from the cache; 2,000 completion tokens of which 1,500 reasoning
    names = ("prompt_tokens", "completion_tokens") if api == "chat" else ("input_tokens", "output_tokens")
    usage = {names[0]: 10_000, names[1]: 2_000, "cached_tokens": 6_000, "reasoning_tokens": 1_500}
    fake.queue({"text": "ok", "usage": usage})
    config = {"provider": "openai", "model": "gpt-5", "stream": stream, "params": {"api": api}}
    result, row, summary = await one_call(tmp_path, env, config)
    assert fake.violations == []
    r = list_rates("openai", "gpt-5", 10_000)
    expected = (4_000 * r["input"] + 6_000 * r["cache_read"] + 2_000 * r["output"]) / M
    assert expected == D("0.02575")  # $1.25 in, $0.125 cached, $10 out (reasoning is output, counted once)
    assert result.cost_usd == expected and D(row["cost_usd"]) == expected
    assert row["price_source"] == "genai-prices"
    assert tokens_of(row) == (10_000, 2_000, 6_000, 0, 1_500, 12_000)  # total as the vendor reported it
    stats = summary["model_stats"]["gpt-5"]
    assert (stats["total_tokens"], stats["cached_tokens"], stats["reasoning_tokens"]) == (12_000, 6_000, 1_500)
    assert D(stats["cost_usd_exact"]) == expected and stats["cost_complete"] is True


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_openai_flex_answer_is_priced_at_genai_prices_flex_rates(tmp_path, serve, stream):
    fake = FakeOpenAI(KEY)
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": await serve(fake) + "/v1"}
    usage = {"prompt_tokens": 10_000, "completion_tokens": 2_000, "cached_tokens": 6_000, "reasoning_tokens": 1_500}
    fake.queue({"text": "ok", "usage": usage, "service_tier": "flex"})
    config = {"provider": "openai", "model": "gpt-5", "stream": stream, "params": {"service_tier": "flex"}}
    result, row, _ = await one_call(tmp_path, env, config)
    assert fake.violations == []
    r = list_rates("openai", "gpt-5", 10_000, {"service_tier": "flex"})
    expected = (4_000 * r["input"] + 6_000 * r["cache_read"] + 2_000 * r["output"]) / M
    assert expected == D("0.012875")  # half the standard rates
    assert result.cost_usd == expected and D(row["cost_usd"]) == expected and row["service_tier"] == "flex"


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_anthropic_cache_reads_and_both_cache_writes_are_priced_at_their_rates(tmp_path, serve, stream):
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    usage = {
        "input_tokens": 1_000,
        "output_tokens": 800,
        "cache_read_input_tokens": 20_000,
        "cache_creation_input_tokens": 10_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 4_000, "ephemeral_1h_input_tokens": 6_000},
        "thinking_tokens": 300,
    }
    fake.queue({"text": "ok", "usage": usage})
    config = {"provider": "anthropic", "model": "claude-sonnet-4-5", "stream": stream}
    result, row, summary = await one_call(tmp_path, env, config)
    assert fake.violations == []
    r = list_rates("anthropic", "claude-sonnet-4-5", 31_000)
    expected = (
        1_000 * r["input"]
        + 20_000 * r["cache_read"]
        + 4_000 * r["cache_write"]
        + 6_000 * r["cache_write_1h"]
        + 800 * r["output"]
    ) / M
    assert expected == D("0.072")  # $3 in, $0.30 read, $3.75 5-minute write, $6 1-hour write, $15 out
    assert result.cost_usd == expected and D(row["cost_usd"]) == expected
    assert tokens_of(row) == (31_000, 800, 20_000, 10_000, 300, 31_800)
    assert row["cache_write_1h_tokens"] == 6_000
    assert summary["model_stats"]["claude-sonnet-4-5"]["total_tokens"] == 31_800


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_anthropic_long_context_prices_every_token_at_the_long_rates(tmp_path, serve, stream):
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    # 150k uncached + 40k read + 20k written (5 minutes): 210k of prompt, past the 200k tier
    usage = {
        "input_tokens": 150_000,
        "output_tokens": 1_000,
        "cache_read_input_tokens": 40_000,
        "cache_creation_input_tokens": 20_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 20_000, "ephemeral_1h_input_tokens": 0},
    }
    fake.queue({"text": "ok", "usage": usage})
    config = {"provider": "anthropic", "model": "claude-sonnet-4-5", "stream": stream}
    result, row, _ = await one_call(tmp_path, env, config)
    r = list_rates("anthropic", "claude-sonnet-4-5", 210_000)
    assert (r["input"], r["output"]) == (D(6), D("22.5"))
    expected = (150_000 * r["input"] + 40_000 * r["cache_read"] + 20_000 * r["cache_write"] + 1_000 * r["output"]) / M
    assert result.cost_usd == expected and D(row["cost_usd"]) == expected
    assert tokens_of(row)[:4] == (210_000, 1_000, 40_000, 20_000)


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("prompt", [50_000, 250_000], ids=["below-tier", "past-tier"])
async def test_gemini_cached_content_and_thoughts_are_priced_once_at_their_rates(tmp_path, serve, stream, prompt):
    fake = FakeGemini(KEY)
    env = {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": await serve(fake)}
    cached = prompt // 2
    usage = {
        "promptTokenCount": prompt,
        "cachedContentTokenCount": cached,
        "candidatesTokenCount": 1_000,
        "thoughtsTokenCount": 3_000,
    }
    fake.queue({"text": "ok", "usage": usage})
    config = {"provider": "google", "model": "gemini-2.5-pro", "stream": stream, "max_tokens": 8_000}
    result, row, summary = await one_call(tmp_path, env, config)
    assert fake.violations == []
    r = list_rates("google", "gemini-2.5-pro", prompt)
    expected = ((prompt - cached) * r["input"] + cached * r["cache_read"] + (1_000 + 3_000) * r["output"]) / M
    assert result.cost_usd == expected and D(row["cost_usd"]) == expected
    # totalTokenCount: prompt + thoughts + candidates
    assert tokens_of(row) == (prompt, 4_000, cached, 0, 3_000, prompt + 4_000)
    assert summary["model_stats"]["gemini-2.5-pro"]["total_tokens"] == prompt + 4_000


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_azure_cached_input_and_reasoning_are_priced_at_the_answering_models_rates(tmp_path, serve, stream):
    fake = FakeOpenAI(KEY, azure=True)
    env = {
        "AZURE_OPENAI_API_KEY": KEY,
        "AZURE_OPENAI_ENDPOINT": await serve(fake) + "/",
        "AZURE_OPENAI_API_VERSION": "2025-01-01-preview",
    }
    usage = {"prompt_tokens": 10_000, "completion_tokens": 2_000, "cached_tokens": 6_000, "reasoning_tokens": 1_500}
    fake.queue({"text": "ok", "model": "o4-mini-2025-04-16", "usage": usage})
    config = {"provider": "azure", "model": "prod-reasoner", "stream": stream}
    result, row, _ = await one_call(tmp_path, env, config)
    assert fake.violations == []
    r = list_rates("azure", "o4-mini", 10_000)
    expected = (4_000 * r["input"] + 6_000 * r["cache_read"] + 2_000 * r["output"]) / M
    assert result.cost_usd == expected and D(row["cost_usd"]) == expected
    assert tokens_of(row) == (10_000, 2_000, 6_000, 0, 1_500, 12_000)


@pytest.mark.parametrize("provider", ["local", "compat"])
async def test_a_catalog_price_prices_cached_input_and_reasoning_as_written(tmp_path, serve, provider):
    fake = FakeOpenAI(KEY)
    url = await serve(fake) + "/v1"
    env = (
        {"MAGSAG_LOCAL_LLM_BASE_URL": url, "MAGSAG_LOCAL_LLM_API_KEY": KEY}
        if provider == "local"
        else {"MAGSAG_COMPAT_BASE_URL": url, "MAGSAG_COMPAT_API_KEY": KEY}
    )
    prices = f'"{provider}:my-model": {{input: 0.5, output: 1.5, cache_read: 0.05}}\n'
    # in both APIs' names: a local server is asked through the Responses API first
    usage = {"prompt_tokens": 10_000, "completion_tokens": 2_000, "cached_tokens": 6_000, "reasoning_tokens": 1_500}
    usage |= {"input_tokens": 10_000, "output_tokens": 2_000}
    fake.queue({"text": "ok", "usage": usage})
    result, row, _ = await one_call(
        tmp_path, env, {"provider": provider, "model": "my-model"}, catalog_without_policies(tmp_path, prices)
    )
    expected = (4_000 * D("0.5") + 6_000 * D("0.05") + 2_000 * D("1.5")) / M
    assert result.cost_usd == expected and D(row["cost_usd"]) == expected
    assert row["price_source"] == "catalog:prices.yaml"
    assert tokens_of(row) == (10_000, 2_000, 6_000, 0, 1_500, 12_000)
