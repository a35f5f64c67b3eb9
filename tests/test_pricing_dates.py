"""A long-running server prices each call at the price of its day: genai-prices' dated price changes
reach a Pricer that resolved (and cached) the model's price before them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

from genai_prices.types import ClauseEquals, ConditionalPrice, ModelInfo, ModelPrice, StartDateConstraint

from magsag_mcp import genai_rates as rates
from magsag_mcp.pricing import Pricer
from magsag_mcp.types import Usage

CHANGE = datetime(2030, 1, 1, tzinfo=UTC)


def _argon() -> ModelInfo:
    """A model whose price doubles on 2030-01-01 (as genai-prices writes an announced change)."""
    return ModelInfo(
        id="argon",
        match=ClauseEquals(equals="argon"),
        prices=[
            ConditionalPrice(prices=ModelPrice(input_mtok=D(2), output_mtok=D(10))),
            ConditionalPrice(
                constraint=StartDateConstraint(start_date=date(2030, 1, 1)),
                prices=ModelPrice(input_mtok=D(4), output_mtok=D(20)),
            ),
        ],
    )


def test_a_cached_price_gives_way_to_a_dated_change(monkeypatch):
    monkeypatch.setattr(rates, "genai_model", lambda provider, model: _argon() if model == "argon" else None)
    now = [CHANGE.timestamp() - 3600]
    pricer = Pricer(clock=lambda: now[0])
    usage = Usage(100_000, 10_000)
    assert pricer.price("google", "argon", usage).cost_usd == D("0.3")
    now[0] = CHANGE.timestamp() - 1  # the same price up to the last second of the old one's day
    assert pricer.price("google", "argon", usage).cost_usd == D("0.3")
    now[0] = CHANGE.timestamp()
    assert pricer.price("google", "argon", usage).cost_usd == D("0.6")
    assert pricer.worst_case("google", "argon", 100_000, 10_000) == D("0.6")


def test_a_price_with_no_change_ahead_is_resolved_once(monkeypatch):
    calls = []

    def lookup(provider, model):
        calls.append(model)
        return _argon()

    monkeypatch.setattr(rates, "genai_model", lookup)
    now = [CHANGE.timestamp() + 86400]
    pricer = Pricer(clock=lambda: now[0])
    for _ in range(3):
        pricer.price("google", "argon", Usage(10, 10))
        now[0] += 365 * 86400
    assert calls == ["argon"]


def test_a_tier_name_that_means_the_standard_rate_is_priced_at_it():
    """OpenAI answers "default"; a server echoing the request's "auto", or a compatible server's own
    tier names, must not make a standard call unpriced."""
    from magsag_mcp.pricing import Pricer
    from magsag_mcp.types import Usage

    pricer = Pricer()
    standard = pricer.price("openai", "gpt-4o", Usage(input_tokens=1000, output_tokens=100)).cost_usd
    for tier in ("default", "auto"):
        usage = Usage(input_tokens=1000, output_tokens=100, service_tier=tier)
        assert pricer.price("openai", "gpt-4o", usage).cost_usd == standard
    assert standard is not None
    # a compatible server's own tier name says nothing about OpenAI's rates; its price is the catalog's
    on_demand = Usage(input_tokens=1000, output_tokens=100, service_tier="on_demand")
    assert (
        pricer.price("compat", "gpt-4o", on_demand).cost_usd
        == pricer.price("compat", "gpt-4o", Usage(1000, 100)).cost_usd
    )
