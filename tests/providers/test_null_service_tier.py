"""A call's explicit ``service_tier: null`` (a target's params, or the call's own model_config.params) asks for the
vendor's default tier, and the reservation reads it so (worst_cases.request_asks: no tier asked, so not kept off a
dearer one). OpenAI's wire takes null for its default ("auto"); Anthropic's Messages API takes no null there (its
``service_tier`` is "auto" or "standard_only"): the null was sent and refused (400), which stopped the cascade. It is
now left out, the Messages API's default, which is what the reservation priced. Gemini's ``serviceTier`` is an enum
string too (its default "unspecified", standard): a null is left out there as well."""

from __future__ import annotations

import pytest

from magsag_mcp.pricing import Pricer
from magsag_mcp.types import LLMRequest, Message, Target, Usage

from .fakes import FakeAnthropic, FakeGemini, FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"


async def test_a_null_service_tier_reaches_anthropic_as_its_default_and_is_reserved_as_it(serve, transport):
    from magsag_mcp.providers.anthropic import AnthropicProvider

    fake = FakeAnthropic(KEY)
    url = await serve(fake)
    fake.queue({"text": "ok"})
    asked = LLMRequest([Message("user", "hi")], max_tokens=10, extra={"service_tier": None})
    model = "claude-3-5-sonnet-20241022"
    result = await AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, transport).complete(
        asked, Target("anthropic", model, url)
    )
    assert result.text == "ok"
    assert fake.violations == [] and "service_tier" not in fake.requests[0]["body"]
    # reserved as the field left out (Anthropic's "auto": Priority Tier where the organisation has it), not as
    # standard_only, once an answer came on priority
    pricer = Pricer()
    pricer.price("anthropic", model, Usage(10_000, 2_000, service_tier="priority"))
    target = Target("anthropic", model, params=(("service_tier", "standard_only"),))
    unsaid = pricer.reserved_worst_case(target, 1_000, 100, params={})
    assert pricer.reserved_worst_case(target, 1_000, 100, params={"service_tier": None}) == unsaid
    assert unsaid != pricer.reserved_worst_case(target, 1_000, 100)  # (the target's standard_only is not read)


async def test_a_null_service_tier_reaches_openai_as_null_its_default(serve, transport):
    from magsag_mcp.providers.openai import OpenAIProvider

    fake = FakeOpenAI(KEY)
    url = await serve(fake)
    fake.queue({"text": "ok"})
    asked = LLMRequest([Message("user", "hi")], max_tokens=10, extra={"service_tier": None})
    await OpenAIProvider({"OPENAI_API_KEY": KEY}, transport).complete(asked, Target("openai", "gpt-4o", url + "/v1"))
    assert fake.violations == [] and fake.requests[0]["body"]["service_tier"] is None  # (the spec's null: "auto")


@pytest.mark.parametrize("name", ["serviceTier", "service_tier"])
async def test_a_null_service_tier_reaches_gemini_as_its_default_and_is_reserved_as_it(serve, transport, name):
    from magsag_mcp.providers.gemini import GeminiProvider

    fake = FakeGemini(KEY)
    url = await serve(fake)
    fake.queue({"text": "ok"})
    asked = LLMRequest([Message("user", "hi")], max_tokens=10, extra={name: None})
    result = await GeminiProvider({"GEMINI_API_KEY": KEY}, transport).complete(
        asked, Target("google", "gemini-2.5-flash", url)
    )
    assert result.text == "ok"
    # GenerateContentRequest.serviceTier is an enum string ("unspecified", "standard", "flex", "priority"); its
    # default ("unspecified": standard) is the field left out, not a null
    body = fake.requests[0]["body"]
    assert fake.violations == [] and "serviceTier" not in body and "service_tier" not in body
    pricer = Pricer()
    target = Target("google", "gemini-2.5-flash")
    assert pricer.reserved_worst_case(target, 1_000, 100, params={name: None}) == pricer.reserved_worst_case(
        target, 1_000, 100, params={}
    )
