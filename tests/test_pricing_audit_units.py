"""A finance audit of the unit a ``prices.yaml`` rate is written in: every rate of an entry naming a model genai-prices
lists is compared with the list's rate of that kind, not its input and output alone. A cache rate written per thousand
tokens (as price pages write them) validated ok, and as the catalog's price wins, every cached prompt was recorded, and
counted against the limits, at a thousandth of its bill."""

from __future__ import annotations

import pytest

from magsag_mcp.catalog import validate_catalog
from magsag_mcp.pricing import Pricer


@pytest.mark.parametrize(
    ("key", "written", "slips"),
    [
        # gpt-5: $1.25 in, $0.125 cached, $10 out per million; its cache read written per thousand tokens
        ("openai:gpt-5", "{input: 1.25, output: 10, cache_read: 0.000125}", ["cache_read 0.000125 is 1,000 times"]),
        # claude-sonnet-4-5: $3.75 a 5-minute write, $6 a 1-hour one, per million; both written per thousand
        (
            "anthropic:claude-sonnet-4-5",
            "{input: 3, output: 15, cache_write: 0.00375, cache_write_1h: 0.006}",
            ["cache_write 0.00375 is 1,000 times", "cache_write_1h 0.006 is 1,000 times"],
        ),
        # a service tier's cache read, against the list's standard one (gpt-5 priority: $0.25 per million)
        (
            "openai:gpt-5",
            "{input: 1.25, output: 10, service_tiers: {priority: {input: 2.5, output: 20, cache_read: 0.00025}}}",
            ["service_tiers.priority.cache_read 0.00025 is 500 times"],
        ),
    ],
)
def test_a_cache_rate_written_per_thousand_tokens_is_a_problem_of_validate(catalog_copy, key, written, slips):
    prices = catalog_copy / "prices.yaml"
    prices.write_text(f'"{key}": {written}\n' + prices.read_text())
    problems = validate_catalog(catalog_copy, {})
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{prices}: {key}: ")
    for slip in slips:
        assert slip in problems[0], problems[0]
    assert "below its list price of" in problems[0] and "write the price per million tokens" in problems[0]
    Pricer.from_catalog(catalog_copy, {})  # a calling service still opens: the check is validate's


@pytest.mark.parametrize(
    "written",
    [
        "{input: 1.25, output: 10, cache_read: 0.125}",  # the list price
        "{input: 1, output: 8, cache_read: 0.05, cache_write: 1.2}",  # a discount, and a rate the list has none of
        "{input: 1.25, output: 10, cache_read: 0}",  # free cache reads: no slip
    ],
)
def test_cache_rates_near_the_list_price_or_zero_are_no_problem(catalog_copy, written):
    prices = catalog_copy / "prices.yaml"
    prices.write_text(f'"openai:gpt-5": {written}\n' + prices.read_text())
    assert validate_catalog(catalog_copy, {}) == []
