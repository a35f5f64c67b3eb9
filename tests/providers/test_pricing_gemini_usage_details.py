"""Gemini's ``usageMetadata`` as the API sends it: beside each count, its ``ModalityTokenCount`` breakdown
(``promptTokensDetails``, ``cacheTokensDetails``, ``toolUsePromptTokensDetails``, ``candidatesTokensDetails``), and on
Gemini 2.5 an implicit cache hit (``cachedContentTokenCount``) no request asked for and the thinking
(``thoughtsTokenCount``) outside the candidates' count. The breakdowns split the counts, they add no tokens: read as
more, a call was billed twice. The fake sends them all, as the API does, and the call is priced as genai-prices prices
the same body, worked by hand."""

from __future__ import annotations

from decimal import Decimal as D

import genai_prices
import pytest

from magsag_mcp import errors as E
from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.types import LLMRequest, Message, Target
from tests.fakes.spec import spec_validator

from .fakes import FakeGemini

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"
M = 1_000_000

#: a prompt of 12,000 tokens, 8000 of them read from the implicit cache, 1000 tokens of a tool-use prompt, 900 tokens
#: of thinking and an answer of 100
COUNTS = {
    "promptTokenCount": 12_000,
    "cachedContentTokenCount": 8000,
    "toolUsePromptTokenCount": 1000,
    "thoughtsTokenCount": 900,
    "candidatesTokenCount": 100,
}


def test_the_fake_sends_every_count_with_its_breakdown_as_the_spec_has_them():
    body = FakeGemini(KEY).chunk({"usage": COUNTS}, [{"text": "ok"}], "STOP", True)
    spec_validator("gemini").assert_valid("GenerateContentResponse", body)
    counted = body["usageMetadata"]
    assert counted["promptTokensDetails"] == [{"modality": "TEXT", "tokenCount": 12_000}]
    assert counted["cacheTokensDetails"] == [{"modality": "TEXT", "tokenCount": 8000}]
    assert counted["toolUsePromptTokensDetails"] == [{"modality": "TEXT", "tokenCount": 1000}]
    assert counted["candidatesTokensDetails"] == [{"modality": "TEXT", "tokenCount": 100}]
    # "prompt + thoughts + response candidates", and the tool-use prompt; the cached part is in the prompt's count
    assert counted["totalTokenCount"] == 12_000 + 1000 + 900 + 100


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_cached_thought_and_tool_use_tokens_with_their_breakdowns_are_counted_once_and_priced(
    serve, transport, stream
):
    fake = FakeGemini(KEY)
    url = await serve(fake)
    fake.queue({"text": "ok", "usage": COUNTS})
    result = await GeminiProvider({"GEMINI_API_KEY": KEY}, transport).complete(
        LLMRequest([Message("user", "summarise the report")], max_tokens=2000, stream=stream),
        Target("google", "gemini-2.5-flash", url),
    )
    assert fake.violations == []
    usage = result.usage
    # input: the prompt (its cached part in it) and the tool-use prompt; output: the answer and the thinking
    assert (usage.input_tokens, usage.cached_tokens, usage.output_tokens, usage.reasoning_tokens) == (
        13_000,
        8000,
        1000,
        900,
    )
    # text alone: none of it at an audio or an image rate
    assert (usage.input_audio_tokens, usage.output_audio_tokens, usage.output_image_tokens) == (0, 0, 0)
    quote = Pricer.from_catalog(None).price("google", "gemini-2.5-flash", usage)
    # gemini-2.5-flash: $0.30 in, $0.03 cached, $2.50 out (thoughts included):
    # 5000 x $0.30 + 8000 x $0.03 + 1000 x $2.50 per million = $0.0015 + $0.00024 + $0.0025
    assert (quote.cost_usd, quote.source, quote.warning) == (D("0.00424"), "genai-prices", None)
    assert quote.cost_usd == (5000 * D("0.3") + 8000 * D("0.03") + 1000 * D("2.5")) / M
    # genai-prices' own reading of the body the fake sent (breakdowns and all) gives the same figure
    body = fake.chunk({"usage": COUNTS}, [{"text": "ok"}], "STOP", True)
    extracted = genai_prices.extract_usage({**body, "modelVersion": "gemini-2.5-flash"}, provider_id="google")
    assert extracted.calc_price().total_price == quote.cost_usd


async def test_a_stream_cut_after_the_prompt_was_counted_records_its_cached_part(serve, transport):
    # every chunk counts the prompt (its cached part too): a stream cut before its finishReason is recorded at what
    # the prompt was counted, the cached part at the cached rate
    fake = FakeGemini(KEY)
    url = await serve(fake)
    fake.queue({"text": "one two three four five six", "usage": COUNTS, "cut": True})
    provider = GeminiProvider({"GEMINI_API_KEY": KEY}, transport)
    with pytest.raises(E.ProviderConnectionError) as info:
        await provider.complete(
            LLMRequest([Message("user", "summarise the report")], max_tokens=2000, stream=True),
            Target("google", "gemini-2.5-flash", url),
        )
    assert info.value.usage is None and info.value.maybe_billed  # the answer was never counted: its cost unknown
    counted = info.value.prompt_usage
    assert counted is not None and (counted.input_tokens, counted.cached_tokens) == (12_000, 8000)
    quote = Pricer.from_catalog(None).price("google", "gemini-2.5-flash", counted)
    assert quote.cost_usd == (4000 * D("0.3") + 8000 * D("0.03")) / M  # $0.00144, the prompt's part of the bill
