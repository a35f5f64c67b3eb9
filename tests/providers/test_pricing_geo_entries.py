"""Where inference ran is not a service tier. A prices.yaml entry's rates are the standard tier's, run anywhere (its
other tiers' under ``service_tiers``, or unknown); Anthropic bills US-only inference (``inference_geo: "us"``) at 1.1x
every token rate of the models that take it, whichever rates they are. An entry's call that ran in the US was recorded
at the entry's bare rates, 10% below its bill as if exact, and reserved there too, while the same call priced from
genai-prices was 1.1x: one rule for both."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.types import LLMRequest, Message, Target, Usage

from .fakes import FakeAnthropic

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
M = 1_000_000
#: an operator's own rates for Claude Opus 4.6: input, output, a cache read, a 5-minute and a 1-hour cache write
ENTRY = '"anthropic:claude-opus-4-6": {input: 4, output: 20, cache_read: 0.4, cache_write: 5, cache_write_1h: 8}\n'


def _pricer(tmp_path: Path) -> Pricer:
    (tmp_path / "prices.yaml").write_text(ENTRY)
    return Pricer.from_catalog(tmp_path)


async def _answer(serve, transport, geo: str) -> Usage:
    fake = FakeAnthropic(KEY)
    url = await serve(fake)
    usage = {
        "input_tokens": 1000,
        "output_tokens": 500,
        "cache_read_input_tokens": 20_000,
        "cache_creation_input_tokens": 10_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 4000, "ephemeral_1h_input_tokens": 6000},
        "inference_geo": geo,
    }
    fake.queue({"text": "ok", "usage": usage})
    result = await AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, transport).complete(
        LLMRequest([Message("user", "hi")], max_tokens=10), Target("anthropic", "claude-opus-4-6", url)
    )
    assert fake.violations == []
    return result.usage


async def test_an_entrys_answer_that_ran_in_the_us_costs_its_rates_times_the_geo_multiple(serve, transport, tmp_path):
    pricer = _pricer(tmp_path)
    # by hand, at the entry's rates: 1000 x $4 + 500 x $20 + 20,000 x $0.40 + 4000 x $5 + 6000 x $8 per million
    # = $0.004 + $0.010 + $0.008 + $0.020 + $0.048 = $0.090 anywhere; US-only inference, 1.1x: $0.099
    anywhere = pricer.price("anthropic", "claude-opus-4-6", await _answer(serve, transport, "global"))
    assert (anywhere.cost_usd, anywhere.source) == (D("0.090"), "catalog:prices.yaml")
    us = pricer.price("anthropic", "claude-opus-4-6", await _answer(serve, transport, "us"))
    assert (us.cost_usd, us.source, us.warning) == (D("0.099"), "catalog:prices.yaml", None)
    # the same rule as genai-prices' rates: the multiple is the same whichever rates price the call
    listed = Pricer()
    usage_us, usage_anywhere = await _answer(serve, transport, "us"), await _answer(serve, transport, "global")
    listed_ratio = (
        listed.price("anthropic", "claude-opus-4-6", usage_us).cost_usd
        / listed.price("anthropic", "claude-opus-4-6", usage_anywhere).cost_usd
    )
    assert listed_ratio == us.cost_usd / anywhere.cost_usd == D("1.1")


def test_an_entrys_reservation_asked_for_us_only_inference_holds_the_geo_multiple(tmp_path):
    pricer = _pricer(tmp_path)
    # the dearest a prompt token of the entry is billed: a 1-hour cache write at $8; output $20
    standard = pricer.worst_case("anthropic", "claude-opus-4-6", 5000, 1000)
    assert standard == (5000 * 8 + 1000 * 20) / D(M) == D("0.06")
    assert pricer.worst_case("anthropic", "claude-opus-4-6", 5000, 1000, inference_geo="us") == D("0.066")
    # a request that asks for nothing is reserved at 1.1x once an answer has said it ran in the US (a workspace's
    # default_inference_geo), as one priced from genai-prices is
    assert pricer.price("anthropic", "claude-opus-4-6", Usage(1000, 100, inference_geo="us")).cost_usd == (
        (1000 * 4 + 100 * 20) * D("1.1") / D(M)
    )
    assert pricer.worst_case("anthropic", "claude-opus-4-6", 5000, 1000) == D("0.066")
