"""A usage that was not reported (an answer without a ``usage`` object: a compatible server that ignores
``include_usage``) holds zeros that are no count. The service prices such an answer as unknown, counted at its bound
(attempt_cost.price_unreported); but Pricer.price, which a library caller may ask directly, priced its zeros: $0,
from genai-prices, as if exact. It is now unknown, said so, but for a model that costs nothing whatever its tokens."""

from __future__ import annotations

from decimal import Decimal

from magsag_mcp.pricing import Pricer
from magsag_mcp.types import Usage


def test_an_unreported_usage_is_of_unknown_cost_not_zero():
    pricer = Pricer()
    for provider, model in (("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"), ("google", "gemini-2.5-pro")):
        quote = pricer.price(provider, model, Usage(reported=False))
        assert quote.cost_usd is None and quote.source is None
        assert quote.warning == f"{provider}:{model} answered without reporting its token usage; its cost is unknown"
    # the same zeros reported are a count: $0
    assert pricer.price("openai", "gpt-4o", Usage()).cost_usd == 0


def test_a_free_model_costs_nothing_unreported_too():
    quote = Pricer().price("local", "llama3.1:70b", Usage(reported=False))
    assert (quote.cost_usd, quote.source) == (Decimal(0), "free")
