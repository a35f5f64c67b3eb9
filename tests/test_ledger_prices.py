"""The prices a recorded cost is computed from: list prices by hand (cached, written and reasoning tokens), tiered
prices equal to genai-prices' own, and the catalog's prices.yaml overrides (globs, provider aliases, refused values)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.catalog_edits import UNKNOWN_PRICES_FILE

pytestmark = pytest.mark.anyio


async def test_costs_by_hand_with_cached_tokens(tmp_path: Path):
    from magsag_mcp.pricing import Pricer
    from magsag_mcp.types import Usage

    p = Pricer.from_catalog(None)
    # gpt-4o: 1,000 prompt tokens of which 400 cached ($1.25/M), 200 out
    q = p.price("openai", "gpt-4o", Usage(1000, 200, cached_tokens=400))
    assert q.cost_usd == (600 * Decimal("2.5") + 400 * Decimal("1.25") + 200 * Decimal(10)) / 1_000_000
    # claude 3.5 sonnet: 300 read from cache ($0.30/M), 100 written ($3.75/M), 600 plain, 50 out
    q = p.price("anthropic", "claude-3-5-sonnet-20241022", Usage(1000, 50, cached_tokens=300, cache_write_tokens=100))
    assert q.cost_usd == (600 * 3 + 300 * Decimal("0.30") + 100 * Decimal("3.75") + 50 * 15) / Decimal(1_000_000)
    # gemini 1.5 pro, short prompt tier
    q = p.price("google", "gemini-1.5-pro", Usage(10_000, 1_000))
    assert q.cost_usd == (10_000 * Decimal("1.25") + 1_000 * 5) / 1_000_000
    # reasoning tokens are output tokens (o1: $15 in / $60 out)
    q = p.price("openai", "o1-preview", Usage(100, 1_000, reasoning_tokens=800))
    assert q.cost_usd == (100 * 15 + 1_000 * 60) / Decimal(1_000_000)
    # unknown price: null with a warning that says how to fix it, never 0
    q = p.price("compat", "my-model", Usage(100, 100))
    # (a Pricer of no catalog knows no path of a price file: it says how to find the catalog's)
    assert q.cost_usd is None and f"Add it to {UNKNOWN_PRICES_FILE}, e.g. " in q.warning


def test_tiered_prices_equal_genai_prices_on_both_sides_of_each_threshold():
    # Below its first tier a tiered price is computed flat from the base rates (genai-prices' general
    # calculation costs about 100 us a call); every tiered model of our providers must come out the
    # same as genai-prices' own calculation, to the last digit, on both sides of the threshold.
    from datetime import UTC, datetime

    from genai_prices import Usage as GUsage
    from genai_prices import data_snapshot

    from magsag_mcp.genai_rates import from_genai_prices
    from magsag_mcp.types import Usage

    providers = {p.id: p for p in data_snapshot.get_snapshot().providers}
    checked = 0
    for pid in ("openai", "azure", "anthropic", "google"):
        for model in providers[pid].models:
            priced = from_genai_prices(pid, model.id)
            if priced.below is None:
                continue
            price, t = model.get_prices(datetime.now(UTC)), priced.threshold
            for tokens in (0, 1000, t - 1, t, t + 1, 2 * t + 5):
                for cached, written in ((0, 0), (tokens // 3, 0), (0, tokens // 4), (tokens // 5, tokens // 5)):
                    ours = priced.cost(Usage(tokens, 777, cached_tokens=cached, cache_write_tokens=written))
                    theirs = price.calc_price(
                        GUsage(
                            input_tokens=tokens, output_tokens=777, cache_read_tokens=cached, cache_write_tokens=written
                        )
                    )
                    assert ours == Decimal(theirs["total_price"]), (pid, model.id, tokens, cached, written)
                    checked += 1
    assert checked >= 24 * 10  # the snapshot holds tiered models (gemini-1.5-pro, gpt-5.4, ...)


def test_a_tiered_price_below_its_threshold_skips_genai_prices_calculation():
    from magsag_mcp.pricing import Pricer
    from magsag_mcp.types import Usage

    p = Pricer.from_catalog(None)
    priced = p._resolve("google", "gemini-1.5-pro")

    class Counted:
        calls = 0

        def calc_price(self, usage):
            Counted.calls += 1
            return {"total_price": Decimal(7)}

    priced.model_price = Counted()
    short = p.price("google", "gemini-1.5-pro", Usage(10_000, 1_000)).cost_usd
    assert short == (10_000 * Decimal("1.25") + 1_000 * 5) / 1_000_000 and Counted.calls == 0
    assert p.price("google", "gemini-1.5-pro", Usage(priced.threshold + 1, 1)).cost_usd == 7 and Counted.calls == 1


async def test_catalog_price_override_with_globs(tmp_path: Path):
    from magsag_mcp.pricing import Pricer
    from magsag_mcp.types import Usage

    (tmp_path / "prices.yaml").write_text('"compat:my-*": {input: 0.5, output: 1.5, cache_read: 0.05}\n')
    p = Pricer.from_catalog(tmp_path)
    q = p.price("compat", "my-model", Usage(1_000_000, 1_000_000, cached_tokens=500_000))
    assert q.cost_usd == Decimal("0.25") + Decimal("0.025") + Decimal("1.5")
    assert q.source == "catalog:prices.yaml"
    (tmp_path / "prices.yaml").write_text('"compat:x": {input: -1, output: 1}\n')
    with pytest.raises(Exception, match=r"prices.yaml: compat:x.input: -1 is negative: a rate is 0 or more"):
        Pricer.from_catalog(tmp_path)


async def test_a_catalog_price_keyed_by_a_provider_alias_applies_and_an_unknown_provider_is_refused(tmp_path: Path):
    """Targets take provider aliases ("gemini:...", "claude:...", "ollama:..."), so prices.yaml keys were written
    with them too, and never matched: the call was priced by genai-prices (or as unknown) instead of at the
    operator's price, without a word. A misspelt provider matched nothing just as silently."""
    from magsag_mcp.pricing import Pricer, validate_prices
    from magsag_mcp.types import Usage

    (tmp_path / "prices.yaml").write_text(
        '"gemini:gemini-2.5-pro": {input: 1, output: 2}\n"Claude:claude-*": {input: 3, output: 4}\n'
    )
    p = Pricer.from_catalog(tmp_path)
    q = p.price("google", "gemini-2.5-pro", Usage(1_000_000, 1_000_000))
    assert (q.cost_usd, q.source) == (Decimal(3), "catalog:prices.yaml")
    assert p.price("anthropic", "claude-sonnet-4-5", Usage(1_000_000, 1_000_000)).cost_usd == Decimal(7)
    (tmp_path / "prices.yaml").write_text('"opneai:gpt-4o": {input: 1, output: 2}\n')
    [problem] = validate_prices(tmp_path)
    assert "opneai:gpt-4o" in problem and "unknown provider 'opneai'" in problem
    with pytest.raises(E.CatalogError, match="unknown provider 'opneai'"):
        Pricer.from_catalog(tmp_path)


def test_a_catalog_price_too_large_to_record_is_refused_at_load(tmp_path: Path):
    """A price of 1e12 USD per million tokens (a typo for 1e-12, say) passed validation; every call then
    cost more pico-dollars than SQLite's INTEGER holds, and recording it raised OverflowError out of the
    call, after the answer was paid for."""
    from magsag_mcp.pricing import validate_prices

    (tmp_path / "prices.yaml").write_text(
        '"fake:*": {input: 1e12, output: 1}\n"local:*": {input: 0, output: "1e400"}\n'
    )
    problems = validate_prices(tmp_path)
    assert len(problems) == 2 and all("less than or equal to 1000000" in p for p in problems), problems
    (tmp_path / "prices.yaml").write_text('"fake:*": {input: 1000000, output: 600}\n')
    assert validate_prices(tmp_path) == []
