"""A :class:`~magsag_mcp.pricing.Pricer` used directly (the library's, not through a call of the service) prices in
exact_money's Decimal context whatever context its caller set, and gives the caller's back."""

from __future__ import annotations

from decimal import Decimal, getcontext, localcontext

from magsag_mcp.pricing import Pricer, UnitPrices
from magsag_mcp.types import Usage


def test_a_direct_callers_lowered_precision_rounds_no_cost_worst_case_or_rate():
    # With getcontext().prec = 6, Pricer.price gave gpt-5's 78.082669125 as 78.0826 and worst_case 78.08641875 as
    # 78.0864; an Anthropic entry's implied cache read (0.1x of 3.14159265) was resolved as 0.314159 and kept for every
    # later call of that Pricer, whatever its context.
    usage = Usage(1_234_567, 7_654_321, cached_tokens=3_333)
    entry = Pricer([("anthropic:my-claude", UnitPrices(Decimal("3.14159265"), Decimal(15)))])
    with localcontext() as ctx:
        ctx.prec = 6
        quote = Pricer().price("openai", "gpt-5", usage)
        worst = Pricer().worst_case("openai", "gpt-5", 1_234_567, 7_654_321)
        rates = entry.unit_prices("anthropic", "my-claude")
        assert getcontext().prec == 6  # the caller's context is given back
    assert quote.cost_usd == Decimal("78.082669125")
    assert worst == Decimal("78.08641875")
    assert rates is not None and rates.cache_read == Decimal("0.314159265")
    assert entry.price("anthropic", "my-claude", Usage(1_000_000, 0, cached_tokens=1_000_000)).cost_usd == Decimal(
        "0.314159265"
    )
