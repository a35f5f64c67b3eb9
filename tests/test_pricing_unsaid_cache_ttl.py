"""Claude's cache writes whose time to live the answer does not say (see Usage.cache_write_ttl_unsaid_tokens): a
stream's ``message_delta`` counts every write so far (MessageDeltaUsage: "the cumulative number of input tokens used
to create the cache entry") but holds no ``cache_creation``; only ``message_start`` splits the writes into 5-minute
(1.25x input) and 1-hour (2x input) ones. Writes past that split are billed at one of the two rates, and not said
which: priced as 5-minute writes, a 1-hour one was recorded at 5/8 of its bill as if exact. Where the two rates are
one (an entry pricing both alike), the cost is known and recorded."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.anthropic_usage import usage as anthropic_usage
from magsag_mcp.rates import UnitPrices
from magsag_mcp.types import Usage
from tests.pricing_audit import M, catalog_without_policies, list_rates, one_call
from tests.providers.fakes import FakeAnthropic

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"


def _split_start_and_more_at_the_end(fake: FakeAnthropic) -> None:
    # message_start splits 10,000 writes (4,000 for 5 minutes, 6,000 for an hour); message_delta counts 12,000
    fake.queue(
        {
            "text": "ok",
            "usage": {
                "input_tokens": 1_000,
                "output_tokens": 800,
                "cache_read_input_tokens": 20_000,
                "cache_creation_input_tokens": 12_000,
                "cache_creation": {"ephemeral_5m_input_tokens": 4_000, "ephemeral_1h_input_tokens": 6_000},
            },
            "start_usage": {"cache_creation_input_tokens": 10_000},
        }
    )


async def test_a_streams_writes_past_message_starts_split_are_of_unknown_cost_not_5_minute_ones(tmp_path, serve):
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    _split_start_and_more_at_the_end(fake)
    config = {"provider": "anthropic", "model": "claude-sonnet-4-5", "stream": True}
    result, row, summary = await one_call(tmp_path, env, config)
    assert fake.violations == []
    # every write counted (the cumulative 12,000), the 1-hour ones said; the cost unknown, and why
    assert (row["input_tokens"], row["cache_write_tokens"], row["cache_write_1h_tokens"]) == (33_000, 12_000, 6_000)
    assert result.cost_usd is None and row["cost_usd"] is None
    said = " ".join(result.warnings)
    assert "2000 of them past those its cache_creation split" in said and "billed at different rates" in said
    # the ledger keeps how many (its warnings, which query_runs, the export and the CSV carry): no column says it
    assert any("2000 of them past those its cache_creation split" in w for w in row["warnings"])
    assert summary["model_stats"]["claude-sonnet-4-5"]["cost_complete"] is False


async def test_writes_of_unsaid_time_to_live_are_priced_where_both_rates_are_one(tmp_path, serve):
    fake = FakeAnthropic(KEY)
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake)}
    _split_start_and_more_at_the_end(fake)
    rates = "{input: 3, output: 15, cache_read: 0.3, cache_write: 6, cache_write_1h: 6}"
    prices = f'"anthropic:claude-sonnet-4-5": {rates}\n'
    catalog = catalog_without_policies(tmp_path, prices)
    config = {"provider": "anthropic", "model": "claude-sonnet-4-5", "stream": True}
    result, row, _ = await one_call(tmp_path, env, config, catalog)
    expected = (1_000 * 3 + 20_000 * D("0.3") + 12_000 * 6 + 800 * 15) / M
    assert result.cost_usd == expected and D(row["cost_usd"]) == expected


def test_a_body_whose_split_falls_short_of_its_writes_counts_the_rest_unsaid():
    raw = {
        "input_tokens": 1_000,
        "output_tokens": 800,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 12_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 4_000, "ephemeral_1h_input_tokens": 6_000},
    }
    u = anthropic_usage(raw)
    assert (u.cache_write_tokens, u.cache_write_1h_tokens, u.cache_write_ttl_unsaid_tokens) == (12_000, 6_000, 2_000)
    # a split that covers every write leaves none unsaid; one past the count is taken whole (the larger count)
    whole = anthropic_usage({**raw, "cache_creation_input_tokens": 10_000})
    assert (whole.cache_write_tokens, whole.cache_write_ttl_unsaid_tokens) == (10_000, 0)
    assert anthropic_usage({**raw, "cache_creation_input_tokens": 9_000}).cache_write_tokens == 10_000


def test_the_pricer_prices_unsaid_writes_only_where_the_5_minute_and_1_hour_rates_agree():
    usage = Usage(
        13_000, 800, cache_write_tokens=12_000, cache_write_1h_tokens=6_000, cache_write_ttl_unsaid_tokens=2_000
    )
    apart = Pricer([("anthropic:c", UnitPrices(D(3), D(15), cache_write=D("3.75"), cache_write_1h=D(6)))])
    quote = apart.price("anthropic", "c", usage)
    assert quote.cost_usd is None and "2000 of them" in (quote.warning or "")
    alike = Pricer([("anthropic:c", UnitPrices(D(3), D(15), cache_write=D(6), cache_write_1h=D(6)))])
    assert alike.price("anthropic", "c", usage).cost_usd == (1_000 * 3 + 12_000 * 6 + 800 * 15) / M
    # on genai-prices' rates (5-minute 1.25x, 1-hour 2x input): unknown, where all said was priced
    r = list_rates("anthropic", "claude-sonnet-4-5", 13_000)
    assert r["cache_write"] != r["cache_write_1h"]
    assert Pricer().price("anthropic", "claude-sonnet-4-5", usage).cost_usd is None
    said = Usage(13_000, 800, cache_write_tokens=12_000, cache_write_1h_tokens=6_000)
    assert Pricer().price("anthropic", "claude-sonnet-4-5", said).cost_usd is not None


@settings(max_examples=150, deadline=None)
@given(
    plain=st.integers(0, 150_000),
    read=st.integers(0, 150_000),
    five=st.integers(0, 50_000),
    hour=st.integers(0, 50_000),
    unsaid=st.integers(0, 50_000),
    out=st.integers(0, 100_000),
    us=st.booleans(),
)
def test_unsaid_writes_cost_to_the_token_where_known_and_nothing_where_not(plain, read, five, hour, unsaid, out, us):
    # a stream's counts as the reader gives them: message_start's split, message_delta's cumulative writes
    raw = {
        "input_tokens": plain,
        "output_tokens": out,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": five + hour + unsaid,
        "cache_creation": {"ephemeral_5m_input_tokens": five, "ephemeral_1h_input_tokens": hour},
        **({"inference_geo": "us"} if us else {}),
    }
    usage = anthropic_usage(raw)
    assert (usage.cache_write_tokens, usage.cache_write_1h_tokens) == (five + hour + unsaid, hour)
    assert usage.cache_write_ttl_unsaid_tokens == unsaid
    geo = D("1.1") if us else 1
    # an entry whose 5-minute and 1-hour rates are one: every write at that rate, known whatever its time to live
    alike = Pricer([("anthropic:c", UnitPrices(D(3), D(15), D("0.3"), cache_write=D(6), cache_write_1h=D(6)))])
    hand = (plain * 3 + read * D("0.3") + (five + hour + unsaid) * 6 + out * 15) / M * geo
    assert alike.price("anthropic", "c", usage).cost_usd == hand
    # genai-prices' claude-sonnet-4-5 (5-minute 1.25x input, 1-hour 2x): known to the token only where none is unsaid
    r = list_rates("anthropic", "claude-sonnet-4-5", plain + read + five + hour + unsaid)
    quote = Pricer().price("anthropic", "claude-sonnet-4-5", usage)
    if unsaid:
        assert quote.cost_usd is None and f"{unsaid} of them past those" in (quote.warning or "")
    else:
        said = plain * r["input"] + read * r["cache_read"] + five * r["cache_write"] + hour * r["cache_write_1h"]
        assert quote.cost_usd == (said + out * r["output"]) / M * geo
