"""A prices.yaml entry's rates are the standard service tier's: an answer OpenAI says its priority tier served (up to
twice the rate) is priced at the rates the entry gives that tier, or is of unknown cost, flagged, never at the
standard rates as if exact."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.openai import OpenAIProvider
from magsag_mcp.types import LLMRequest, Message, Target, Usage

from .fakes import FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
M = 1_000_000


def _catalog(tmp_path: Path, text: str) -> Path:
    (tmp_path / "prices.yaml").write_text(text)
    return tmp_path


async def _answered_on(serve, transport, tier: str) -> Usage:
    fake = FakeOpenAI(KEY)
    url = await serve(fake)
    usage = {"prompt_tokens": 100_000, "completion_tokens": 20_000, "reasoning_tokens": 15_000}
    fake.queue({"text": "ok", "usage": usage, "service_tier": tier})
    result = await OpenAIProvider({"OPENAI_API_KEY": KEY}, transport).complete(
        LLMRequest([Message("user", "hi")], max_tokens=10), Target("openai", "gpt-5", url + "/v1")
    )
    assert fake.violations == []
    return result.usage


async def test_an_entry_without_the_tiers_rates_leaves_a_priority_answer_unpriced_and_says_how_to_price_it(
    serve, transport, tmp_path
):
    # The entry is gpt-5's own list price; OpenAI bills priority at $2.50 / $20 (genai-prices). The entry priced the
    # answer at $1.25 / $10, half its bill, without a word, and reservations never rose past the standard rate.
    pricer = Pricer.from_catalog(_catalog(tmp_path, '"openai:gpt-5": {input: 1.25, output: 10}\n'))
    listed = Pricer().price("openai", "gpt-5", await _answered_on(serve, transport, "priority"))
    assert listed.cost_usd == (100_000 * D("2.5") + 20_000 * 20) / D(M)  # what OpenAI bills
    quote = pricer.price("openai", "gpt-5", await _answered_on(serve, transport, "priority"))
    assert (quote.cost_usd, quote.source) == (None, None)
    assert (
        "openai:gpt-5 answered on service tier 'priority', which its prices.yaml entry gives no rates" in quote.warning
    )
    assert "service_tiers: {priority: {input: ..., output: ...}}" in quote.warning
    # the standard tier is the entry's, as before
    standard = pricer.price("openai", "gpt-5", await _answered_on(serve, transport, "default"))
    assert (standard.cost_usd, standard.source) == ((100_000 * D("1.25") + 20_000 * 10) / D(M), "catalog:prices.yaml")


async def test_a_tier_the_entry_prices_is_priced_and_reserved_at_its_rates(serve, transport, tmp_path):
    # (a tier written "Priority" is the tier answers call "priority")
    text = '"openai:gpt-5": {input: 1, output: 8, service_tiers: {Priority: {input: 2, output: 16, cache_read: 0.2}}}\n'
    pricer = Pricer.from_catalog(_catalog(tmp_path, text))
    assert pricer.worst_case("openai", "gpt-5", 1000, 100) == (1000 * 1 + 100 * 8) / D(M)
    priority = pricer.price("openai", "gpt-5", await _answered_on(serve, transport, "priority"))
    assert (priority.cost_usd, priority.source) == ((100_000 * 2 + 20_000 * 16) / D(M), "catalog:prices.yaml")
    cached = Usage(100_000, 20_000, cached_tokens=60_000, service_tier="priority")
    assert pricer.price("openai", "gpt-5", cached).cost_usd == (40_000 * 2 + 60_000 * D("0.2") + 20_000 * 16) / D(M)
    # once an answer said the project is served on priority, calls are reserved at its rates
    assert pricer.worst_case("openai", "gpt-5", 1000, 100) == (1000 * 2 + 100 * 16) / D(M)
    # a tier it does not name (flex, billed half) is no more the standard rate's than priority was
    flex = pricer.price("openai", "gpt-5", await _answered_on(serve, transport, "flex"))
    assert flex.cost_usd is None and "service tier 'flex'" in flex.warning


def test_a_compatible_servers_tier_names_leave_its_entry_the_price():
    # a compat server's tier ("on_demand", Groq's) says nothing of OpenAI's tiers: its entry prices it, as before
    from magsag_mcp.rates import UnitPrices

    pricer = Pricer([("compat:llama-3.3-70b", UnitPrices(D(1), D(2)))])
    quote = pricer.price("compat", "llama-3.3-70b", Usage(1000, 100, service_tier="on_demand"))
    assert (quote.cost_usd, quote.source) == (D("0.0012"), "catalog:prices.yaml")


@pytest.mark.parametrize(
    ("tiers", "said"),
    [
        (
            "{default: {input: 1, output: 2}}",
            "service_tiers.default: the 'default' tier is billed at the standard rate",
        ),
        ("{priority: {input: 1, ouput: 2}}", "service_tiers.priority.ouput: Extra inputs are not permitted"),
        ("{priority: {input: 1}}", "service_tiers.priority.output: Field required"),
        ('{priority: {input: "$2", output: 16}}', "'$2' is not a plain number; write 2"),
    ],
)
def test_a_tiers_rates_are_checked_as_an_entrys_are(tmp_path, tiers: str, said: str):
    text = f'"openai:gpt-5": {{input: 1, output: 8, service_tiers: {tiers}}}\n'
    with pytest.raises(E.CatalogError) as info:
        Pricer.from_catalog(_catalog(tmp_path, text))
    assert said in info.value.message, info.value.message
