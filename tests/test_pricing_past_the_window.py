"""An Anthropic answer whose prompt passed the context window genai-prices lists for a model it prices flat (Claude
Sonnet 4: 200,000 tokens, $3 / $15) was served under the 1M-context beta, which bills the whole request at its
long-context rates ($6 / $22.50): priced at the flat rates, a 300,000-token call was recorded at $0.915 where it was
billed $1.8225, as if exact. It is now of unknown cost, flagged with the fix; Claude Sonnet 4.5, whose long-context
tier genai-prices lists, and the models whose window is 1M are priced as before."""

from __future__ import annotations

from decimal import Decimal

from magsag_mcp.pricing import Pricer
from magsag_mcp.types import Usage


def test_a_prompt_past_a_flat_priced_claudes_window_is_of_unknown_cost():
    pricer = Pricer()
    quote = pricer.price("anthropic", "claude-sonnet-4-20250514", Usage(300_000, 1_000))
    assert quote.cost_usd is None and quote.warning is not None
    assert "300000 prompt tokens" in quote.warning and "200000-token context window" in quote.warning
    assert "prices.yaml" in quote.warning  # the fix
    # an entry prices every call of the model, within the window too: given the long-context rates, it would record
    # the short calls at twice their bill; and the reservation holds the long-context rates (see below)
    assert "every call of the model" in quote.warning and "within the window" in quote.warning
    # within the window: genai-prices' flat rates, as before
    assert (
        pricer.price("anthropic", "claude-sonnet-4-20250514", Usage(150_000, 1_000)).cost_usd
        == (Decimal(150_000) * 3 + Decimal(1_000) * 15) / 1_000_000
    )


def test_a_long_prompt_of_a_tiered_or_1m_window_claude_is_priced_as_before():
    pricer = Pricer()
    # Sonnet 4.5: genai-prices' long-context tier prices the whole request
    tiered = pricer.price("anthropic", "claude-sonnet-4-5", Usage(300_000, 1_000))
    assert tiered.cost_usd == (Decimal(300_000) * 6 + Decimal(1_000) * Decimal("22.5")) / 1_000_000
    # Sonnet 4.6: a 1M window at one flat price
    assert pricer.price("anthropic", "claude-sonnet-4-6", Usage(300_000, 1_000)).cost_usd is not None


def test_the_reservation_of_a_prompt_past_a_flat_priced_claudes_window_bounds_its_long_context_bill():
    """Its cost unknown, such an answer is counted at the worst case its reservation held (attempt_cost.cost_bound):
    at genai-prices' flat rates that was $0.915 of the $1.8225 a 300,000-token prompt is billed at the 1M-context
    beta's rates (twice the input rates, 1.5 times the output one), so the limits counted half of what it cost."""
    from magsag_mcp.types import Target

    pricer = Pricer()
    sonnet_4 = Target("anthropic", "claude-sonnet-4-20250514")
    billed = (Decimal(300_000) * 6 + Decimal(1_000) * Decimal("22.5")) / 1_000_000
    assert pricer.reserved_worst_case(sonnet_4, 300_000, 1_000, params={}) == billed
    # a 1-hour cache write, which a request that marks none cannot make, at twice its flat $6 a million
    marked = {"cache_control": {"type": "ephemeral", "ttl": "1h"}}
    written = (Decimal(300_000) * 12 + Decimal(1_000) * Decimal("22.5")) / 1_000_000
    assert pricer.reserved_worst_case(sonnet_4, 300_000, 1_000, params=marked) == written
    # a prompt estimated at 150,000 tokens may hold up to twice as many (a token is at least a byte, the estimate half
    # the bytes: worst_cases.PROMPT_PER_ESTIMATE_AT_MOST), past the window: the long-context rates (flat before, a
    # meant change: a prompt estimated just below the window and billed past it was reserved at half its rates)
    assert pricer.reserved_worst_case(sonnet_4, 150_000, 1_000, params={}) == (
        (Decimal(150_000) * 6 + Decimal(1_000) * Decimal("22.5")) / 1_000_000
    )
    # one that cannot pass it, the flat rates, as before
    assert pricer.reserved_worst_case(sonnet_4, 100_000, 1_000, params={}) == (
        (Decimal(100_000) * 3 + Decimal(1_000) * 15) / 1_000_000
    )
