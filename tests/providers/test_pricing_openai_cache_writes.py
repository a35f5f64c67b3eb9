"""OpenAI's cache writes: the models that bill one (GPT-5.6: a write at 1.25x the input rate, a read at 0.1x) say how
many of the prompt's tokens were written in ``prompt_tokens_details.cache_write_tokens`` (Chat Completions) and
``input_tokens_details.cache_write_tokens`` (the Responses API), both inside the prompt's count. Priced at the input
rate, a write was recorded at four fifths of its bill; counted beside the prompt, twice. The fake sends them as the API
does, and the call is priced as genai-prices prices the same usage, worked by hand."""

from __future__ import annotations

from decimal import Decimal as D

import genai_prices
import pytest

from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.openai import OpenAIProvider
from magsag_mcp.types import LLMRequest, Message, Target

from .fakes import FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
M = 1_000_000
MODEL = "gpt-5.6-sol"


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        # gpt-5.6-sol up to 272,000 prompt tokens: $4 in, $5 a cache write, $0.40 a cache read, $20 out
        (100_000, (10_000 * 4 + 50_000 * 5 + 40_000 * D("0.4") + 2000 * 20) / D(M)),
        # past it (the writes and reads count toward the prompt's size), every token at the long-context rates:
        # $8 in, $10 a write, $0.80 a read, $30 out
        (300_000, (210_000 * 8 + 50_000 * 10 + 40_000 * D("0.8") + 2000 * 30) / D(M)),
    ],
    ids=["below-the-tier", "past-it"],
)
async def test_cache_writes_are_priced_at_the_write_rate(serve, transport, api, stream, prompt, expected):
    fake = FakeOpenAI(KEY)
    url = await serve(fake)
    prompt_field, output_field = (
        ("prompt_tokens", "completion_tokens") if api == "chat" else ("input_tokens", "output_tokens")
    )
    counts = {prompt_field: prompt, output_field: 2000, "cached_tokens": 40_000, "cache_write_tokens": 50_000}
    fake.queue({"text": "ok", "usage": {**counts, "reasoning_tokens": 1500}})
    params = (("api", "responses"),) if api == "responses" else ()
    result = await OpenAIProvider({"OPENAI_API_KEY": KEY}, transport).complete(
        LLMRequest([Message("user", "hi")], max_tokens=4000, stream=stream),
        Target("openai", MODEL, url + "/v1", params),
    )
    assert fake.violations == []
    usage = result.usage
    assert (usage.input_tokens, usage.cached_tokens, usage.cache_write_tokens) == (prompt, 40_000, 50_000)
    assert (usage.output_tokens, usage.reasoning_tokens) == (2000, 1500)
    quote = Pricer.from_catalog(None).price("openai", MODEL, usage)
    assert (quote.cost_usd, quote.source, quote.warning) == (expected, "genai-prices", None)
    # genai-prices' own reading of the usage the fake answered with gives the same figure
    if api == "chat":
        body = {"model": MODEL, "usage": FakeOpenAI.chat_usage({"usage": counts})}
    else:
        body = fake.response_object({"model": MODEL}, {"text": "ok", "usage": counts})
    extracted = genai_prices.extract_usage(body, provider_id="openai", api_flavor=api)
    assert extracted.usage.cache_write_tokens == 50_000 and extracted.calc_price().total_price == expected
    # and a reservation of the same call holds it: every input token at the dearest rate (a write's)
    assert Pricer.from_catalog(None).worst_case("openai", MODEL, prompt, 2000) >= expected
