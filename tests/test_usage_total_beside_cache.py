"""An OpenAI-compatible usage whose ``total_tokens`` holds more than its input and output tokens. The spec counts the
cache in ``input_tokens`` (``input_tokens_details.cached_tokens`` is a part of it) and reasoning in ``output_tokens``,
the total being the two. A gateway translating Gemini counts thoughts in the total alone (billed as output, as before);
one translating Claude may count the cache there, beside an input of the uncached tokens. Every extra was billed as
output: 1,000 cache reads at gpt-4o's output rate ($10/M) where they cost $1.25/M. Now an extra of exactly the cache
is part of the input, and any other extra beside a counted cache (thoughts, cache or both, not said) is of unknown
cost, flagged, never priced as a guess."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.openai_responses import _usage as responses_usage
from magsag_mcp.providers.openai_usage import chat_usage

M = Decimal(1_000_000)


def _responses(input_tokens: int, output: int, total: int, cached: int, written: int = 0, reasoning: int = 0) -> Any:
    raw = {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": total,
    }
    return responses_usage(raw, {"model": "gpt-4o"})


def _chat(prompt: int, completion: int, total: int, cached: int) -> Any:
    raw = {
        "prompt_tokens": prompt,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens": completion,
        "total_tokens": total,
    }
    return chat_usage(raw, {"model": "gpt-4o"})


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_a_total_beside_the_input_by_exactly_the_cache_reads_is_the_input_not_output(api: str):
    # 3,000 uncached input tokens, 1,000 read from the cache counted beside them, 200 of output: 4,200 in all
    usage = _responses(3_000, 200, 4_200, 1_000) if api == "responses" else _chat(3_000, 200, 4_200, 1_000)
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens, usage.reasoning_tokens) == (
        4_000,
        200,
        1_000,
        0,
    )
    rates = Pricer().unit_prices("openai", "gpt-4o")
    assert rates is not None
    quote = Pricer().price("openai", "gpt-4o", usage)
    billed = (3_000 * rates.input + 1_000 * rates.cache_read + 200 * rates.output) / M  # type: ignore[operator]
    assert quote.cost_usd == billed and quote.warning is None


def test_a_total_beside_the_input_by_the_cache_reads_and_writes_is_the_input():
    usage = _responses(3_000, 200, 4_700, 1_000, written=500)
    assert (usage.input_tokens, usage.output_tokens, usage.cache_write_tokens) == (4_500, 200, 500)


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_an_extra_of_the_total_beside_a_counted_cache_that_is_not_the_cache_is_of_unknown_cost(api: str):
    # 1,300 more than input and output, beside 1,000 cache reads: the reads and 300 cache writes not said, or 1,300
    # thoughts (the cache then in the input), or some of each; not said (an extra below the reads is thoughts, above)
    usage = _responses(3_000, 200, 4_500, 1_000) if api == "responses" else _chat(3_000, 200, 4_500, 1_000)
    assert (usage.input_tokens, usage.output_tokens, usage.total_unsplit_tokens) == (3_000, 200, 1_300)
    quote = Pricer().price("openai", "gpt-4o", usage)
    assert quote.cost_usd is None
    assert quote.warning is not None and "1300" in quote.warning and "unknown" in quote.warning
    assert "reasoning" in quote.warning and "input_tokens" in quote.warning  # what they may be, and the fix
    # the extra, not the total (4,500), and the fields of both APIs, and the other way to a cost
    assert "a total_tokens 1300 above" in quote.warning and "Chat Completions' prompt_tokens" in quote.warning
    assert "usage.cost" in quote.warning


def test_thoughts_in_the_total_alone_with_no_cache_are_billed_as_output_as_before():
    usage = _responses(20, 424, 1_016, 0)
    assert (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens, usage.total_unsplit_tokens) == (
        20, 996, 572, 0,
    )  # fmt: skip
    assert Pricer().price("openai", "gpt-4o", usage).cost_usd is not None


@pytest.mark.parametrize("api", ["responses", "chat"])
def test_thoughts_in_the_total_beside_a_cache_hit_counted_in_the_prompt_are_billed_as_output(api: str):
    # a gateway passing Gemini's usage on: promptTokenCount (its implicit cache hit of 3,000 inside it) as the prompt,
    # the cache hit as cached_tokens, candidatesTokenCount as the completion, totalTokenCount (the 572 thoughts in it
    # alone) as the total. A cache counted beside the input would put all 3,000 in the extra: 572 are thoughts
    usage = _responses(4_000, 424, 4_996, 3_000) if api == "responses" else _chat(4_000, 424, 4_996, 3_000)
    assert (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens, usage.total_unsplit_tokens) == (
        4_000, 996, 572, 0,
    )  # fmt: skip
    rates = Pricer().unit_prices("openai", "gpt-4o")
    assert rates is not None
    quote = Pricer().price("openai", "gpt-4o", usage)
    billed = (1_000 * rates.input + 3_000 * rates.cache_read + 996 * rates.output) / M  # type: ignore[operator]
    assert quote.cost_usd == billed and quote.warning is None


def test_reasoning_said_beside_the_output_with_a_cache_is_output_as_before():
    # xAI's way: the total is input + output + reasoning, which it bills as output (with_reasoning)
    usage = _responses(3_000, 200, 3_500, 1_000, reasoning=300)
    assert (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens, usage.total_unsplit_tokens) == (
        3_000, 500, 300, 0,
    )  # fmt: skip


def test_an_unsplit_total_with_what_the_server_billed_is_that_bill():
    # OpenRouter's usage.cost: what it charged, which needs no split of the tokens
    raw = {
        "prompt_tokens": 3_000,
        "prompt_tokens_details": {"cached_tokens": 1_000},
        "completion_tokens": 200,
        "total_tokens": 4_500,
        "cost": 0.0123,
    }
    usage = chat_usage(raw, {"model": "openai/gpt-4o"})
    assert usage.total_unsplit_tokens == 1_300
    quote = Pricer().price("compat", "openai/gpt-4o", usage)
    assert quote.cost_usd == Decimal("0.0123") and quote.source == "answer:usage.cost"
