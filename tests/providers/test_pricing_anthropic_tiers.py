"""Anthropic's answers say the tier that served them (``usage.service_tier``: "standard", "priority", "batch").

Priority Tier is sold by contract, at rates genai-prices does not list (it lists Anthropic's batch discount and fast
mode, no priority price): a priority answer is priced at the rates a prices.yaml entry gives that tier, or is of unknown
cost, flagged with the fix; never at the standard rates as if exact. A batch answer is priced at genai-prices' batch
rates (half the standard ones). claude-3-5-sonnet-20241022 lists at $3 in, $15 out, $0.30 cache read, $3.75 write."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.types import LLMRequest, Message, Target, Usage

from .fakes import FakeAnthropic

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
M = 1_000_000
MODEL = "claude-3-5-sonnet-20241022"


async def _answered_on(serve, transport, tier: str, *, stream: bool = False, model: str = MODEL) -> Usage:
    fake = FakeAnthropic(KEY)
    url = await serve(fake)
    usage = {"input_tokens": 10_000, "output_tokens": 2_000, "cache_read_input_tokens": 40_000, "service_tier": tier}
    fake.queue({"text": "ok", "usage": usage})
    result = await AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, transport).complete(
        LLMRequest([Message("user", "hi")], max_tokens=10, stream=stream), Target("anthropic", model, url)
    )
    assert fake.violations == []
    return result.usage


@pytest.mark.parametrize("stream", [False, True])
async def test_a_priority_answer_is_of_unknown_cost_without_a_priority_price(serve, transport, stream):
    usage = await _answered_on(serve, transport, "priority", stream=stream)
    assert usage.service_tier == "priority"  # recorded as the answer said it
    quote = Pricer().price("anthropic", MODEL, usage)
    # at the standard rates it was $0.072 (10,000 x $3 + 40,000 x $0.30 + 2,000 x $15), recorded as exact
    assert (quote.cost_usd, quote.source) == (None, None)
    said = f"anthropic:{MODEL} answered on service tier 'priority', which genai-prices has no price for"
    assert said in quote.warning
    assert "service_tiers: {priority: {input: ..., output: ...}}" in quote.warning
    assert "service_tier: standard_only" in quote.warning  # or keep the calls on the standard tier


async def test_a_standard_answer_is_priced_at_the_list_rates(serve, transport):
    quote = Pricer().price("anthropic", MODEL, await _answered_on(serve, transport, "standard"))
    assert quote.cost_usd == (10_000 * 3 + 40_000 * D("0.3") + 2_000 * 15) / D(M) == D("0.072")


async def test_a_priority_price_in_prices_yaml_prices_and_reserves_priority_answers(serve, transport, tmp_path: Path):
    entry = f'"anthropic:{MODEL}": {{input: 3, output: 15, service_tiers: {{priority: {{input: 5, output: 25}}}}}}\n'
    (tmp_path / "prices.yaml").write_text(entry)
    pricer = Pricer.from_catalog(tmp_path)
    assert pricer.worst_case("anthropic", MODEL, 1_000, 100, cache_control=None) == D("0.0045")  # 1000x3 + 100x15
    quote = pricer.price("anthropic", MODEL, await _answered_on(serve, transport, "priority"))
    # the tier's rates, a cache read at Anthropic's 0.1x of its input: 10,000 x $5 + 40,000 x $0.50 + 2,000 x $25
    assert (quote.cost_usd, quote.source) == (D("0.12"), "catalog:prices.yaml")
    # the organisation's calls are served on priority: reserved at its rates from then on (1000 x $5 + 100 x $25)
    assert pricer.worst_case("anthropic", MODEL, 1_000, 100, cache_control=None) == D("0.0075")


async def test_a_batch_answer_is_priced_at_genai_prices_batch_rates(serve, transport):
    # claude-sonnet-4-5 lists at claude-3-5-sonnet's rates, and batch at half of each: $1.50 in, $7.50 out, $0.15 read
    usage = await _answered_on(serve, transport, "batch", model="claude-sonnet-4-5")
    quote = Pricer().price("anthropic", "claude-sonnet-4-5", usage)
    # 10,000 x $1.50 + 40,000 x $0.15 + 2,000 x $7.50
    assert (quote.cost_usd, quote.source) == (D("0.036"), "genai-prices")
    # claude-3-5-sonnet has no batch price in genai-prices: unknown, not its standard rates
    old = Pricer().price("anthropic", MODEL, await _answered_on(serve, transport, "batch"))
    assert old.cost_usd is None and "service tier 'batch'" in old.warning


async def test_the_fix_the_warning_names_reaches_anthropic_as_the_spec_takes_it(serve, transport):
    # params.service_tier: standard_only (the request's "auto" uses Priority Tier where the organisation has it)
    fake = FakeAnthropic(KEY)
    url = await serve(fake)
    fake.queue({"text": "ok"})
    request = LLMRequest([Message("user", "hi")], max_tokens=10, extra={"service_tier": "standard_only"})
    await AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, transport).complete(request, Target("anthropic", MODEL, url))
    assert fake.violations == [] and fake.requests[0]["body"]["service_tier"] == "standard_only"
