"""OpenAI's Responses API field by field, against the spec-checking fake: what a stateless (``store: false``) call
must ask for to carry a reasoning model's reasoning across a tool loop."""

from __future__ import annotations

import json
from typing import Any

import pytest

from magsag_mcp.providers.local import LocalProvider
from magsag_mcp.providers.openai import OpenAIProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message, Target, ToolSpec
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

pytestmark = pytest.mark.anyio
WEATHER = ToolSpec("get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}})
ENCRYPTED = "reasoning.encrypted_content"


def _target(fake: FakeOpenAI, model: str) -> Target:
    return Target("openai", model, base_url=fake.url + "/v1", params=(("api", "responses"),))


def _sent(fake: FakeOpenAI) -> dict[str, Any]:
    return fake.requests[-1].body


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_reasoning_models_tool_loop_asks_for_its_encrypted_reasoning_and_sends_it_back(
    fake_openai: FakeOpenAI, transport: Transport, stream: bool
):
    # With store: false, a reasoning item goes back only as its encrypted content, which the API (and the gateways
    # in front of it) return when include asks for "reasoning.encrypted_content". magsag never asked: the reasoning
    # items came without it, were dropped, and o3 reasoned from scratch (and was paid to) after every tool result.
    provider = OpenAIProvider({"OPENAI_API_KEY": DEFAULT_KEY}, transport)
    call = R.call("get_weather", {"city": "Paris"}, id="call_w")
    fake_openai.queue(R.reply(tool_calls=[call], reasoning="gAAA-enc", encrypted_if_included=True))
    ask = [Message("user", "Weather in Paris?")]
    first = await provider.complete(LLMRequest(ask, tools=[WEATHER], stream=stream), _target(fake_openai, "o3"))
    assert _sent(fake_openai)["store"] is False and _sent(fake_openai)["include"] == [ENCRYPTED]
    (tc,) = first.tool_calls
    assert tc.signature  # the reasoning rides on the call
    history = [*ask, Message("assistant", tool_calls=[tc]), Message("tool", '{"temp": 21}', tool_call_id="call_w")]
    fake_openai.queue(R.reply("21 degrees."))
    result = await provider.complete(LLMRequest(history, tools=[WEATHER], stream=stream), _target(fake_openai, "o3"))
    assert result.text == "21 degrees."
    items = _sent(fake_openai)["input"]
    assert [i.get("type") for i in items[1:]] == ["reasoning", "function_call", "function_call_output"]
    assert items[1]["encrypted_content"] == "gAAA-enc"


async def test_encrypted_reasoning_is_asked_for_beside_a_targets_own_include_and_only_where_it_can_be(
    fake_openai: FakeOpenAI, transport: Transport
):
    provider = OpenAIProvider({"OPENAI_API_KEY": DEFAULT_KEY}, transport)

    def ask(**params: Any) -> LLMRequest:  # (a target's params, as routing hands them on)
        return LLMRequest([Message("user", "hi")], extra=params)

    # beside what the target's params include, once
    logprobs = "message.output_text.logprobs"
    await provider.complete(ask(include=[logprobs]), _target(fake_openai, "gpt-5"))
    assert _sent(fake_openai)["include"] == [logprobs, ENCRYPTED]
    await provider.complete(ask(include=[ENCRYPTED]), _target(fake_openai, "o4-mini"))
    assert _sent(fake_openai)["include"] == [ENCRYPTED]
    # a model that does not reason on this call has no reasoning to carry, nor one whose answers are stored
    for model, request in (
        ("gpt-4o", ask()),
        ("gpt-5.1", ask()),  # (its reasoning effort is "none" unless asked for)
        ("gpt-5", ask(reasoning={"effort": "none"})),
        ("o3", ask(store=True)),
    ):
        await provider.complete(request, _target(fake_openai, model))
        assert "include" not in _sent(fake_openai), model
    await provider.complete(ask(reasoning={"effort": "low"}), _target(fake_openai, "gpt-5.1"))
    assert _sent(fake_openai)["include"] == [ENCRYPTED]
    # a local server's Responses API is asked for nothing it may not know
    local = LocalProvider(
        {"MAGSAG_LOCAL_LLM_BASE_URL": fake_openai.url + "/v1", "MAGSAG_LOCAL_LLM_API_KEY": DEFAULT_KEY}, transport
    )
    await local.complete(ask(), Target("local", "o3", params=(("api", "responses"),)))
    assert "include" not in _sent(fake_openai) and json.dumps(_sent(fake_openai)).count(ENCRYPTED) == 0


async def test_a_model_its_target_asks_to_reason_asks_for_its_encrypted_reasoning_whatever_its_name(
    fake_openai: FakeOpenAI, transport: Transport
):
    # an Azure deployment (or a gateway's alias) is named as its owner likes: "prod-reasoner" told nothing by its
    # name, and its tool loops lost their reasoning, though its target's params asked for a reasoning effort
    provider = OpenAIProvider({"OPENAI_API_KEY": DEFAULT_KEY}, transport)
    request = LLMRequest([Message("user", "hi")], extra={"reasoning": {"effort": "high"}})
    await provider.complete(request, _target(fake_openai, "prod-reasoner"))
    assert _sent(fake_openai)["include"] == [ENCRYPTED]
    # an effort of "none" asks for no reasoning, and a name that tells nothing asks for none unasked
    for extra in ({"reasoning": {"effort": "none"}}, {}):
        await provider.complete(LLMRequest([Message("user", "hi")], extra=extra), _target(fake_openai, "prod-reasoner"))
        assert "include" not in _sent(fake_openai), extra


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_commentary_message_before_the_final_answer_is_no_part_of_it(
    fake_openai: FakeOpenAI, transport: Transport, stream: bool
):
    # gpt-5.3-codex and later write intermediate commentary ("Let me check the numbers.") as messages of their own,
    # phase "commentary", before the one that ends the turn, phase "final_answer". Every message's text was joined:
    # the answer began with the commentary, and a JSON answer ("Let me check.{...}") failed as invalid JSON, paid for.
    provider = OpenAIProvider({"OPENAI_API_KEY": DEFAULT_KEY}, transport)
    fake_openai.queue(R.reply('{"total": 12}', commentary="Let me add these up."))
    request = LLMRequest([Message("user", "Sum 5 and 7 as JSON")], json_output=True, stream=stream)
    result = await provider.complete(request, _target(fake_openai, "gpt-5.3-codex"))
    assert result.text == '{"total": 12}' and result.finish_reason == "stop"
    # before a tool call, with no final answer in the response, the commentary is the text that comes with the call
    fake_openai.queue(R.reply(tool_calls=[R.call("get_weather", {"city": "Oslo"})], commentary="Checking Oslo."))
    request = LLMRequest([Message("user", "Weather in Oslo?")], tools=[WEATHER], stream=stream)
    result = await provider.complete(request, _target(fake_openai, "gpt-5.3-codex"))
    assert result.text == "Checking Oslo." and [c.name for c in result.tool_calls] == ["get_weather"]


@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
async def test_streamed_commentary_is_not_shown_as_the_answers_text(
    fake_openai: FakeOpenAI, transport: Transport, json_output: bool
):
    # Before: the final text left gpt-5.3-codex's commentary out (the final_answer message is the answer), while every
    # delta of it reached the caller's progress as the answer's text: a caller streaming the answer showed
    # "Let me add these up." before it, and a JSON answer's progress was no JSON document.
    provider = OpenAIProvider({"OPENAI_API_KEY": DEFAULT_KEY}, transport)
    answer = '{"total": 12}' if json_output else "The total is 12."
    deltas: list[str] = []

    async def progress(event: str, data: dict[str, Any]) -> None:
        assert event == "delta"
        deltas.append(data["text"])

    fake_openai.queue(R.reply(answer, commentary="Let me add these up."))
    request = LLMRequest([Message("user", "Sum 5 and 7")], json_output=json_output, stream=True)
    result = await provider.complete(request, _target(fake_openai, "gpt-5.3-codex"), progress=progress)
    assert result.text == answer and "".join(deltas) == answer, deltas
    # with no final answer (before a tool call), the commentary is the text: the caller is sent it
    deltas.clear()
    fake_openai.queue(R.reply(tool_calls=[R.call("get_weather", {"city": "Oslo"})], commentary="Checking Oslo."))
    request = LLMRequest([Message("user", "Weather in Oslo?")], tools=[WEATHER], stream=True)
    result = await provider.complete(request, _target(fake_openai, "gpt-5.3-codex"), progress=progress)
    assert result.text == "Checking Oslo." and "".join(deltas) == "Checking Oslo."
