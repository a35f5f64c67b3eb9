"""A call that asks for the standard tier (or flex, cheaper) is billed at most at the standard rates whatever tier its
provider's other answers came on: OpenAI's ``service_tier: default`` ("processed with the standard pricing", where a
project's own default is priority) and Gemini's ``serviceTier: standard``, as Anthropic's ``standard_only``. Once an
answer came on priority, a model with no priority price has no worst case (a strict cost limit refuses it) unless the
call keeps off that tier, and the refusal names that fix beside the price's."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from magsag_mcp.governance.policy import Limit
from magsag_mcp.governance.refusals import unpriced_refusal
from magsag_mcp.pricing import Pricer
from magsag_mcp.types import Target, Usage

#: models genai-prices lists at standard rates and no priority ones
CASES = [
    ("openai", "gpt-3.5-turbo", "service_tier", ["default", "flex"], "params.service_tier: default"),
    ("google", "gemini-2.5-flash", "serviceTier", ["standard", "flex"], "params.serviceTier: standard"),
]


@pytest.mark.parametrize(("provider", "model", "param", "kept", "fix"), CASES, ids=["openai", "gemini"])
def test_a_call_that_asks_for_the_standard_tier_is_reserved_at_its_rates_after_a_priority_answer(
    provider, model, param, kept, fix
):
    pricer = Pricer()
    standard = pricer.reserved_worst_case(Target(provider, model), 1_000, 100)
    assert standard is not None and standard > 0
    # the project's calls answered on priority, which nothing here prices for the model
    assert pricer.price(provider, model, Usage(10_000, 2_000, service_tier="priority")).cost_usd is None
    assert pricer.reserved_worst_case(Target(provider, model), 1_000, 100) is None
    for tier in kept:  # billed at the standard rates (flex below them): they bound it
        target = Target(provider, model, params=((param, tier),))
        assert pricer.reserved_worst_case(target, 1_000, 100) == standard, tier
    # a tier that does not keep off priority (OpenAI's "auto", the project's default) bounds nothing either
    unkept = Target(provider, model, params=((param, "auto" if provider == "openai" else "priority"),))
    assert pricer.reserved_worst_case(unkept, 1_000, 100) is None
    # a call that does not keep off priority is refused by a strict limit, naming both fixes
    refusal = unpriced_refusal([Limit("call", D("1"), "cap", False)], Target(provider, model), pricer)
    assert refusal is not None
    assert "service_tiers: {priority: {input: ..., output: ...}}" in refusal.message
    assert fix in refusal.message, refusal.message


@pytest.mark.anyio
async def test_the_fixes_the_refusal_names_reach_openai_and_gemini_as_their_specs_take_them(serve, transport):
    from magsag_mcp.providers.gemini import GeminiProvider
    from magsag_mcp.providers.openai import OpenAIProvider
    from magsag_mcp.types import LLMRequest, Message

    from .fakes import FakeGemini, FakeOpenAI

    key = "sk-test-key-123456"
    openai, gemini = FakeOpenAI(key), FakeGemini(key)
    openai_url, gemini_url = await serve(openai), await serve(gemini)
    openai.queue({"text": "ok", "service_tier": "default"})
    gemini.queue({"text": "ok"})
    asked = LLMRequest([Message("user", "hi")], max_tokens=10, extra={"service_tier": "default"})
    await OpenAIProvider({"OPENAI_API_KEY": key}, transport).complete(
        asked, Target("openai", "gpt-3.5-turbo", openai_url + "/v1")
    )
    asked = LLMRequest([Message("user", "hi")], max_tokens=10, extra={"serviceTier": "standard"})
    await GeminiProvider({"GEMINI_API_KEY": key}, transport).complete(
        asked, Target("google", "gemini-2.5-flash", gemini_url)
    )
    assert openai.violations == [] and openai.requests[0]["body"]["service_tier"] == "default"
    assert gemini.violations == [] and gemini.requests[0]["body"]["serviceTier"] == "standard"
