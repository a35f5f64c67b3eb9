"""Gemini's ``usageMetadata.toolUsePromptTokenCount``: the tokens of the tool-use prompt(s) (what a built-in tool,
URL context or Google Search, fetched and put before the model) are input the model read, billed at the input rate,
and part of the prompt whose size picks the long-context rates (past 200k input tokens on gemini-2.5-pro every token
is billed at them). The spec says only "Number of tokens present in tool-use prompt(s)"; genai-prices, the price
source, reads them into ``input_tokens`` (the tier's basis) and prices them at the input rate, and so does magsag:
these tests hold the two to the same figure, worked by hand."""

from __future__ import annotations

from decimal import Decimal as D

import genai_prices
import pytest

from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.types import LLMRequest, Message, Target

from .fakes import FakeGemini

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
M = 1_000_000


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_tool_use_prompt_tokens_are_input_and_carry_a_prompt_past_the_long_context_tier(serve, transport, stream):
    fake = FakeGemini(KEY)
    url = await serve(fake)
    counts = {"promptTokenCount": 190_000, "toolUsePromptTokenCount": 20_000, "candidatesTokenCount": 1000}
    fake.queue({"text": "ok", "usage": counts})
    result = await GeminiProvider({"GEMINI_API_KEY": KEY}, transport).complete(
        LLMRequest([Message("user", "summarise https://example.com/report")], max_tokens=2000, stream=stream),
        Target("google", "gemini-2.5-pro", url),
    )
    assert fake.violations == [] and result.usage.input_tokens == 210_000
    pricer = Pricer.from_catalog(None)
    # gemini-2.5-pro: $1.25 in / $10 out up to 200k input tokens, $2.50 / $15 for every token past it. The prompt
    # alone (190k) is below the tier; with the 20k tool-use tokens it is past it:
    # 210,000 x $2.50 + 1000 x $15 per million = $0.525 + $0.015 = $0.540
    [(start, long_rates)] = pricer.rate_tiers("google", "gemini-2.5-pro")
    assert (start, long_rates.input, long_rates.output) == (200_000, D("2.5"), D(15))
    quote = pricer.price("google", "gemini-2.5-pro", result.usage)
    assert (quote.cost_usd, quote.source) == (D("0.540"), "genai-prices")
    # not the prompt's 190k at the base rates and the tool-use tokens left out or added at them
    assert quote.cost_usd != (190_000 * D("1.25") + 1000 * 10) / D(M)
    assert quote.cost_usd != (210_000 * D("1.25") + 1000 * 10) / D(M)
    # genai-prices' own reading of the same answer's usage gives the same figure
    body = {"modelVersion": "gemini-2.5-pro", "usageMetadata": counts}
    extracted = genai_prices.extract_usage(body, provider_id="google")
    assert extracted.usage.input_tokens == 210_000 and extracted.calc_price().total_price == quote.cost_usd


async def test_tool_use_prompt_tokens_below_the_tier_are_billed_at_the_input_rate(serve, transport):
    fake = FakeGemini(KEY)
    url = await serve(fake)
    fake.queue({"text": "ok", "usage": {"promptTokenCount": 1000, "toolUsePromptTokenCount": 3000}})
    result = await GeminiProvider({"GEMINI_API_KEY": KEY}, transport).complete(
        LLMRequest([Message("user", "hi")], max_tokens=100), Target("google", "gemini-2.5-pro", url)
    )
    # 4000 input tokens x $1.25 + the fake's 7 candidates' tokens x $10 per million
    cost = Pricer.from_catalog(None).price("google", "gemini-2.5-pro", result.usage).cost_usd
    assert cost == (4000 * D("1.25") + 7 * 10) / D(M) == D("0.00507")
