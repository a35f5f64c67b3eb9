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
    assert pricer.worst_case("anthropic", MODEL, 1_000, 100, cache_ttls=frozenset()) == D("0.0045")  # 1000x3 + 100x15
    quote = pricer.price("anthropic", MODEL, await _answered_on(serve, transport, "priority"))
    # the tier's rates, a cache read at Anthropic's 0.1x of its input: 10,000 x $5 + 40,000 x $0.50 + 2,000 x $25
    assert (quote.cost_usd, quote.source) == (D("0.12"), "catalog:prices.yaml")
    # the organisation's calls are served on priority: reserved at its rates from then on (1000 x $5 + 100 x $25)
    assert pricer.worst_case("anthropic", MODEL, 1_000, 100, cache_ttls=frozenset()) == D("0.0075")


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


def _priority_answer() -> Usage:
    return Usage(10_000, 2_000, service_tier="priority")


def test_once_an_answer_came_on_priority_without_its_price_calls_have_no_worst_case_but_standard_only_ones():
    # The organisation's calls are served on Priority Tier, which nothing here prices: its calls went on being
    # reserved at the standard rates (1000 x $3 + 100 x $15), below what a priority call costs, as if a bound
    pricer = Pricer()
    assert pricer.worst_case("anthropic", MODEL, 1_000, 100, cache_ttls=frozenset()) == D("0.0045")
    assert pricer.price("anthropic", MODEL, _priority_answer()).cost_usd is None
    assert pricer.worst_case("anthropic", MODEL, 1_000, 100, cache_ttls=frozenset()) is None
    # a call that keeps off Priority Tier (the fix the warning names) is billed at the standard rates: reserved so
    assert pricer.worst_case("anthropic", MODEL, 1_000, 100, cache_ttls=frozenset(), service_tier="standard_only") == D(
        "0.0045"
    )
    # a cheaper tier without a price (batch, at half) bounds nothing above the standard rates: still reserved at them
    other = Pricer()
    assert other.price("anthropic", MODEL, Usage(10_000, 2_000, service_tier="batch")).cost_usd is None
    assert other.worst_case("anthropic", MODEL, 1_000, 100, cache_ttls=frozenset()) == D("0.0045")


def test_a_cost_limit_refuses_a_call_priority_may_serve_naming_the_tier_and_both_fixes():
    from magsag_mcp.governance.policy import Limit
    from magsag_mcp.governance.refusals import unpriced_refusal

    pricer = Pricer()
    pricer.price("anthropic", MODEL, _priority_answer())
    target = Target("anthropic", MODEL)
    assert pricer.reserved_worst_case(target, 1_000, 100) is None
    refusal = unpriced_refusal([Limit("call", D("1"), "cap", False)], target, pricer)
    assert refusal is not None
    said = refusal.message
    assert "may be served on service tier 'priority', as anthropic's answers have been" in said, said
    assert "service_tiers: {priority: {input: ..., output: ...}}" in said
    assert "params.service_tier: standard_only" in said
    kept_off = Target("anthropic", MODEL, params=(("service_tier", "standard_only"),))
    assert pricer.reserved_worst_case(kept_off, 1_000, 100) == D("0.0045")


def test_a_prices_yaml_entry_without_priority_rates_is_named_as_the_reason_a_call_has_no_worst_case(tmp_path: Path):
    (tmp_path / "prices.yaml").write_text(f'"anthropic:{MODEL}": {{input: 3, output: 15}}\n')
    pricer = Pricer.from_catalog(tmp_path)
    pricer.price("anthropic", MODEL, _priority_answer())
    assert pricer.worst_case("anthropic", MODEL, 1_000, 100) is None
    why = pricer.why_unpriced("anthropic", MODEL)
    assert why is not None and why.startswith(
        "may be served on service tier 'priority', as anthropic's answers have been, which its prices.yaml entry "
        "gives no rates for"
    )
