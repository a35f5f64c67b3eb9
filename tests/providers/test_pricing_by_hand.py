"""Cached, cache-written and thinking tokens, and long prompts, priced as each vendor prices them: every expectation is
worked out by hand from genai-prices' rates (quoted beside it, USD per million tokens), from the usage object the
vendor's API answers with, read by the provider's own parser. The clock is fixed: some of these prices are dated."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from magsag_mcp.pricing import Pricer, UnitPrices
from magsag_mcp.providers.anthropic_usage import usage as anthropic_usage
from magsag_mcp.providers.gemini_usage import gemini_usage
from magsag_mcp.providers.openai_usage import chat_usage

M = D(1_000_000)
#: 2026-12-01 UTC: after claude-sonnet-4-6's 1M-context premium ended (2026-03-13) and OpenAI's tier rates began
DEC_2026 = 1_796_083_200.0


@pytest.fixture
def pricer() -> Pricer:
    return Pricer(clock=lambda: DEC_2026)


def _claude(read: int, five_minutes: int, one_hour: int) -> dict:
    """A Messages API usage: 1,000 uncached input tokens, 500 output; reads and writes beside input_tokens."""
    return {
        "input_tokens": 1000,
        "output_tokens": 500,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": five_minutes + one_hour,
        "cache_creation": {"ephemeral_5m_input_tokens": five_minutes, "ephemeral_1h_input_tokens": one_hour},
    }


def test_claude_cache_reads_and_both_write_lifetimes_below_and_past_the_long_context_tier(pricer):
    # claude-sonnet-4-5: $3 in, $15 out, $0.30 read, $3.75 5-minute write, $6 1-hour write; past 200,000 prompt tokens
    # (reads and writes count: Anthropic's rule) every token is billed $6, $22.50, $0.60, $7.50, $12
    short = anthropic_usage(_claude(20_000, 10_000, 20_000))
    assert short.input_tokens == 51_000 and (short.cache_write_tokens, short.cache_write_1h_tokens) == (30_000, 20_000)
    assert (
        pricer.price("anthropic", "claude-sonnet-4-5", short).cost_usd
        == (1000 * 3 + 20_000 * D("0.3") + 10_000 * D("3.75") + 20_000 * 6 + 500 * 15) / M
    )  # $0.174
    long = anthropic_usage(_claude(150_000, 20_000, 40_000))  # 211,000 prompt tokens, 1,000 of them uncached
    assert (
        pricer.price("anthropic", "claude-sonnet-4-5", long).cost_usd
        == (1000 * 6 + 150_000 * D("0.6") + 20_000 * D("7.5") + 40_000 * 12 + 500 * D("22.5")) / M
    )  # $0.73725
    # claude-sonnet-4-6 bills its 1M context at the standard rates since 2026-03-13 (genai-prices' dated price)
    assert (
        pricer.price("anthropic", "claude-sonnet-4-6", long).cost_usd
        == (1000 * 3 + 150_000 * D("0.3") + 20_000 * D("3.75") + 40_000 * 6 + 500 * 15) / M
    )  # $0.3705
    # claude-haiku-5-5's tier starts at 100,000: $0.50 in, $2.50 out, $0.05 read, $0.625 and $1 writes past it
    assert (
        pricer.price("anthropic", "claude-haiku-5-5", long).cost_usd
        == (1000 * D("0.5") + 150_000 * D("0.05") + 20_000 * D("0.625") + 40_000 * 1 + 500 * D("2.5")) / M
    )  # $0.06175


def test_claude_writes_without_a_lifetime_breakdown_are_at_the_time_to_live_the_request_asked(pricer):
    # no cache_creation: the writes' time to live is the one every marker of the request asked, and unknown (not
    # 5-minute writes, which priced a 1-hour one at 5/8 of its bill) where they asked none or both
    raw = {"input_tokens": 1000, "output_tokens": 500, "cache_creation_input_tokens": 30_000}
    usage = anthropic_usage(raw)
    five = pricer.price("anthropic", "claude-sonnet-4-5", usage, cache_ttls=frozenset({"5m"}))
    assert five.cost_usd == (1000 * 3 + 30_000 * D("3.75") + 500 * 15) / M  # $0.123
    hour = pricer.price("anthropic", "claude-sonnet-4-5", usage, cache_ttls=frozenset({"1h"}))
    assert hour.cost_usd == (1000 * 3 + 30_000 * 6 + 500 * 15) / M  # $0.1905
    assert pricer.price("anthropic", "claude-sonnet-4-5", usage).cost_usd is None
    assert pricer.price("anthropic", "claude-sonnet-4-5", usage, cache_ttls=frozenset({"5m", "1h"})).cost_usd is None


@pytest.mark.parametrize(
    ("prompt", "cached", "expected"),
    [
        # gemini-2.5-pro up to 200,000 prompt tokens: $1.25 in, $0.125 cached, $10 out (thoughts are output)
        (150_000, 100_000, (50_000 * D("1.25") + 100_000 * D("0.125") + 5000 * 10) / M),
        (200_000, 0, (200_000 * D("1.25") + 5000 * 10) / M),  # at the tier's start: still the base rates
        # past it (cached tokens count toward the prompt's size) every token: $2.50 in, $0.25 cached, $15 out
        (200_001, 0, (200_001 * D("2.5") + 5000 * 15) / M),
        (250_000, 100_000, (150_000 * D("2.5") + 100_000 * D("0.25") + 5000 * 15) / M),
    ],
    ids=["below", "at-the-tier", "just-past", "past-with-cache"],
)
def test_gemini_cached_content_and_thoughts_below_and_past_the_long_prompt_tier(pricer, prompt, cached, expected):
    # usageMetadata: promptTokenCount includes cachedContentTokenCount; thoughtsTokenCount is beside the candidates
    raw = {
        "promptTokenCount": prompt,
        "cachedContentTokenCount": cached,
        "candidatesTokenCount": 1000,
        "thoughtsTokenCount": 4000,
    }
    assert pricer.price("google", "gemini-2.5-pro", gemini_usage(raw)).cost_usd == expected


def test_gemini_flash_cached_content_and_thoughts(pricer):
    # gemini-2.5-flash: $0.30 in, $0.03 cached, $2.50 out, thoughts included
    raw = {"promptTokenCount": 10_000, "cachedContentTokenCount": 8000, "candidatesTokenCount": 100}
    raw["thoughtsTokenCount"] = 900
    assert (
        pricer.price("google", "gemini-2.5-flash", gemini_usage(raw)).cost_usd
        == (2000 * D("0.3") + 8000 * D("0.03") + 1000 * D("2.5")) / M
    )  # $0.00334


@pytest.mark.parametrize("tier", ["unspecified", "UNSPECIFIED", "standard"])
def test_gemini_flash_answered_on_its_default_tier_by_name_is_priced_at_the_standard_rates(pricer, tier):
    # usageMetadata.serviceTier "unspecified" is Gemini's "Default service tier, which is standard" (its discovery
    # document): priced as one that names no tier, not refused a price as a tier genai-prices does not know
    raw = {"promptTokenCount": 10_000, "cachedContentTokenCount": 8000, "candidatesTokenCount": 1000}
    usage = gemini_usage({**raw, "serviceTier": tier})
    assert usage.service_tier == tier.lower()
    assert pricer.price("google", "gemini-2.5-flash", usage).cost_usd == (
        (2000 * D("0.3") + 8000 * D("0.03") + 1000 * D("2.5")) / M
    )


@pytest.mark.parametrize(
    ("tier", "rates"),
    [
        ("default", ("1.25", "0.125", "10")),
        ("priority", ("2.5", "0.25", "20")),
        ("flex", ("0.625", "0.0625", "5")),
    ],
)
def test_openai_cached_and_reasoning_tokens_on_each_service_tier(pricer, tier, rates):
    # gpt-5 (input, cached input, output): default $1.25 / $0.125 / $10, priority twice, flex half; reasoning is
    # inside completion_tokens and billed as output
    raw = {
        "prompt_tokens": 10_000,
        "completion_tokens": 3000,
        "total_tokens": 13_000,
        "prompt_tokens_details": {"cached_tokens": 8000},
        "completion_tokens_details": {"reasoning_tokens": 2500},
    }
    usage = chat_usage(raw, {"model": "gpt-5-2025-08-07", "service_tier": tier})
    rate_in, rate_cached, rate_out = map(D, rates)
    assert (
        pricer.price("openai", "gpt-5", usage).cost_usd == (2000 * rate_in + 8000 * rate_cached + 3000 * rate_out) / M
    )


#: a prices.yaml entry with a rate for every kind of token (USD per million): each part priced apart, by hand
_EVERY_RATE = UnitPrices(
    D(1),
    D(2),
    cache_read=D("0.1"),
    cache_write=D("1.25"),
    cache_write_1h=D(2),
    input_audio=D(4),
    output_audio=D(8),
    output_image=D(16),
)


@pytest.mark.parametrize(
    ("parts", "said", "filled_cost"),
    [
        (
            {"cached_tokens": 600, "cache_write_tokens": 300, "input_audio_tokens": 101},
            "1001 cached, cache-written and audio input tokens of only 1000 input tokens",
            600 * D("0.1") + 300 * D("1.25") + 100 * 4 + 500 * 2,  # no plain input token left
        ),
        (
            {"output_audio_tokens": 300, "output_image_tokens": 201},
            "501 audio and image output tokens of only 500 output tokens",
            1000 * 1 + 300 * 8 + 200 * 16,  # no text output token left
        ),
        (
            {"cache_write_tokens": 300, "cache_write_1h_tokens": 301},
            "301 1-hour cache writes of 300 cache writes",
            700 * 1 + 300 * 2 + 500 * 2,  # every write an hour's
        ),
    ],
    ids=["input", "output", "1-hour writes"],
)
def test_a_breakdown_one_token_past_its_whole_is_no_count_and_one_that_fills_it_is_priced(parts, said, filled_cost):
    # a part past its whole by a single token says nothing of what was billed: priced as given, 1-hour writes beyond
    # the writes made their 5-minute part negative (written - hour), taken off the cost
    from dataclasses import replace

    from magsag_mcp.types import Usage

    pricer = Pricer([("compat:every-rate", _EVERY_RATE)], clock=lambda: DEC_2026)
    past = Usage(1000, 500, **parts)
    quote = pricer.price("compat", "every-rate", past)
    assert quote.cost_usd is None
    assert quote.warning == f"compat:every-rate reported {said}; its cost is recorded as unknown"
    # one token fewer where it passed: each whole filled exactly, a count, priced part by part
    filled = {k: v - 1 if k in ("input_audio_tokens", "output_image_tokens", "cache_write_1h_tokens") else v
              for k, v in parts.items()}  # fmt: skip
    assert pricer.price("compat", "every-rate", replace(past, **filled)).cost_usd == filled_cost / M
