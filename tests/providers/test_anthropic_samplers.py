"""Anthropic's Messages API: the sampling settings a model refuses (whitespace stop sequences, temperature,
top_p, top_k, a thinking budget on a model that thinks adaptively only), left out by the name rules or sent
again without them, saying so."""

from __future__ import annotations

from dataclasses import replace

import pytest

from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.types import LLMRequest, Message, Target

from .anthropic_helpers import ANTHROPIC
from .fakes import FakeAnthropic
from .test_wire import KEY, last_body, setup

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("stream", [False, True])
async def test_a_whitespace_stop_sequence_is_left_out_and_said_to_be(serve, transport, stream: bool):
    # The Messages API answers 400 "stop_sequences: each stop sequence must contain non-whitespace" to "\n\n"
    # (the very example magsag's own stop error gives): a bad request that stopped the whole cascade.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    fake.queue({"text": "One paragraph."})
    request = LLMRequest([Message("user", "Hi")], max_tokens=50, stop=["\n\n", "END", " "], stream=stream)
    result = await provider.complete(request, target)
    assert result.text.strip() == "One paragraph." and fake.violations == []
    assert last_body(fake)["stop_sequences"] == ["END"]
    assert result.warnings == ["Anthropic takes no stop sequence of only whitespace; '\\n\\n', ' ' were not sent"]
    # with none left, no stop_sequences at all
    fake.queue({"text": "ok"})
    result = await provider.complete(
        LLMRequest([Message("user", "Hi")], max_tokens=50, stop=["\n"], stream=stream), target
    )
    assert "stop_sequences" not in last_body(fake) and fake.violations == []
    assert result.warnings == ["Anthropic takes no stop sequence of only whitespace; '\\n' was not sent"]


async def test_a_model_that_refuses_temperature_is_sent_the_call_again_without_it(serve, transport):
    # The models released after Claude Opus 4.6 take no temperature but 1 ("`temperature` is deprecated for this
    # model."): the name rule knows claude-opus-4-7 and later, not a gateway's alias for one nor a family it has
    # not seen. That 400 (not billed) was a bad request, which stopped the whole cascade for every call with a
    # temperature (the shipped coding and extraction skills set one). It is sent again without it, as Azure and
    # compat do with what their models refuse, and that name is sent none from then on.
    fake = FakeAnthropic(KEY)
    fake.fixed_temperature = frozenset({"prod-claude"})
    url = await serve(fake)
    provider = AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, transport)
    target = Target("anthropic", "prod-claude", url)
    fake.queue({"text": "first"}, {"text": "second"})
    request = LLMRequest([Message("user", "Hi")], max_tokens=50, temperature=0.2)
    result = await provider.complete(request, target)
    assert result.text == "first" and fake.violations == []
    assert [r["body"].get("temperature") for r in fake.requests] == [0.2, None]
    assert result.warnings == [
        "anthropic:prod-claude refused 'temperature' (`temperature` is deprecated for this model.); it was sent "
        "again without it"
    ]
    result = await provider.complete(request, target)
    assert result.text == "second" and len(fake.requests) == 3 and "temperature" not in last_body(fake)
    assert result.warnings == ["anthropic:prod-claude refused 'temperature' on an earlier call; it was not sent"]


async def test_top_p_beside_a_temperature_that_the_model_refuses_together_is_left_out(serve, transport):
    # A target's params: {top_p: 0.9} and a skill's temperature: Claude Sonnet 4.5 (and Opus 4.1, Haiku 4.5) takes
    # one of them, and answered 400 "`temperature` and `top_p` cannot both be specified for this model", a bad
    # request that stopped the cascade. The call goes again without top_p, as a refused setting does.
    fake = FakeAnthropic(KEY)
    url = await serve(fake)
    provider = AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, transport)
    fake.queue({"text": "ok"})
    request = LLMRequest([Message("user", "Hi")], max_tokens=50, temperature=0.2, extra={"top_p": 0.9})
    result = await provider.complete(request, Target("anthropic", "claude-sonnet-4-5", url))
    assert result.text == "ok" and fake.violations == []
    assert [("top_p" in r["body"], r["body"].get("temperature")) for r in fake.requests] == [(True, 0.2), (False, 0.2)]
    assert result.warnings == [
        "anthropic:claude-sonnet-4-5 refused 'top_p' (`temperature` and `top_p` cannot both be specified for this "
        "model. Please use only one.); it was sent again without it"
    ]
    # What the model refused is the pair: a later call with top_p and no temperature keeps its top_p (it was left
    # out of every call to that model, which takes one sampler, not none)
    fake.queue({"text": "ok"})
    alone = LLMRequest([Message("user", "Hi")], max_tokens=50, extra={"top_p": 0.9})
    result = await provider.complete(alone, Target("anthropic", "claude-sonnet-4-5", url))
    assert fake.requests[-1]["body"].get("top_p") == 0.9 and "temperature" not in fake.requests[-1]["body"]
    assert result.warnings == [] and len(fake.requests) == 3
    # beside a temperature, it is left out at once, without another refusal
    fake.queue({"text": "ok"})
    result = await provider.complete(request, Target("anthropic", "claude-sonnet-4-5", url))
    assert "top_p" not in fake.requests[-1]["body"] and len(fake.requests) == 4 and fake.violations == []
    assert result.warnings == [
        "anthropic:claude-sonnet-4-5 refused 'top_p' beside 'temperature' on an earlier call; it was not sent"
    ]


@pytest.mark.parametrize("model", ["claude-opus-4-7", "claude-fable-5", "claude-mythos-5-1"])
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_model_after_opus_4_6_is_sent_no_top_k_nor_a_top_p_it_refuses(serve, transport, stream: bool, model):
    # The models released after Claude Opus 4.6 take no top_k ("any value will be rejected with a 400 error") and no
    # top_p below 0.99, as they take no temperature but 1. A target's params: {top_k: 40} (Anthropic's own sampler)
    # on claude-opus-4-7 was a 400 that stopped the whole cascade as a bad request, on every call. The name rule
    # leaves them out, as it does the temperature, saying so. It read only Opus, Sonnet and Haiku: Claude Fable 5 and
    # Mythos 5 (the same rules) were sent them, refused, and sent the call again.
    fake = FakeAnthropic(KEY)
    fake.fixed_temperature = frozenset({model})
    url = await serve(fake)
    provider = AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, transport)
    target = Target("anthropic", model, url)
    fake.queue({"text": "ok"}, {"text": "ok"})
    request = LLMRequest([Message("user", "Hi")], max_tokens=50, stream=stream, extra={"top_k": 40, "top_p": 0.9})
    result = await provider.complete(request, target)
    assert result.text.strip() == "ok" and fake.violations == [] and len(fake.requests) == 1
    assert "top_k" not in last_body(fake) and "top_p" not in last_body(fake)
    assert result.warnings == [
        f"{model} takes no top_k; top_k 40 was not sent",
        f"{model} takes only a top_p of 0.99 or more; top_p 0.9 was not sent",
    ]
    # a top_p it takes is sent
    result = await provider.complete(replace(request, extra={"top_p": 0.995}), target)
    assert last_body(fake)["top_p"] == 0.995 and result.warnings == [] and len(fake.requests) == 2


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_model_after_opus_4_6_thinks_adaptively_when_a_budget_is_asked_for(serve, transport, stream: bool):
    # Claude Opus 4.7 and the models after it take adaptive thinking only: a target's params {thinking: {type: enabled,
    # budget_tokens: N}} was refused on every call (400 '"thinking.type.enabled" is not supported for this model. Use
    # "thinking.type.adaptive"...'), and the cascade moved on: the target never answered. It thinks adaptively.
    fake, provider, target = await setup(ANTHROPIC, serve, transport)
    target = replace(target, model="claude-opus-4-7")
    fake.fixed_temperature = frozenset({"claude-opus-4-7"})
    fake.queue({"text": "ok"})
    extra = {"thinking": {"type": "enabled", "budget_tokens": 2048, "display": "summarized"}}
    request = LLMRequest([Message("user", "Hi")], max_tokens=4000, stream=stream, extra=extra)
    result = await provider.complete(request, target)
    assert result.text == "ok" and fake.violations == [] and len(fake.requests) == 1
    assert last_body(fake)["thinking"] == {"type": "adaptive", "display": "summarized"}
    assert result.warnings == [
        "claude-opus-4-7 takes adaptive thinking only; thinking with budget_tokens 2048 was sent as {type: adaptive}"
    ]


async def test_a_model_that_refuses_top_k_is_sent_the_call_again_without_it(serve, transport):
    # A gateway's alias for such a model, which the name rule cannot read: its 400 "`top_k` is deprecated for this
    # model." (not billed) is a setting it refuses, as its "`temperature` is deprecated" is, not a bad request
    fake = FakeAnthropic(KEY)
    fake.fixed_temperature = frozenset({"prod-claude"})
    url = await serve(fake)
    provider = AnthropicProvider({"ANTHROPIC_API_KEY": KEY}, transport)
    target = Target("anthropic", "prod-claude", url)
    fake.queue({"text": "first"}, {"text": "second"})
    request = LLMRequest([Message("user", "Hi")], max_tokens=50, extra={"top_k": 40})
    result = await provider.complete(request, target)
    assert result.text == "first" and fake.violations == []
    assert [r["body"].get("top_k") for r in fake.requests] == [40, None]
    assert result.warnings == [
        "anthropic:prod-claude refused 'top_k' (`top_k` is deprecated for this model.); it was sent again without it"
    ]
    result = await provider.complete(request, target)
    assert result.text == "second" and len(fake.requests) == 3 and "top_k" not in last_body(fake)
