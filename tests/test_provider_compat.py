"""The ``compat`` provider: any OpenAI-compatible server (Together, Groq, OpenRouter, a gateway, ...)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.openai import CompatProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target, ToolSpec
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI
from tests.llm_requests import ask

pytestmark = pytest.mark.anyio

MODEL = "meta-llama/Llama-3.3-70B-Instruct"


def env_for(fake: FakeOpenAI, key: str | None = DEFAULT_KEY) -> dict[str, str]:
    env = {"MAGSAG_COMPAT_BASE_URL": fake.url + "/v1"}
    if key:
        env["MAGSAG_COMPAT_API_KEY"] = key
    return env


async def test_base_url_and_key_from_the_environment(fake_openai: FakeOpenAI, transport: Transport):
    fake_openai.queue(R.reply("compat says hi", usage=R.tokens(12, 3)))
    result = await CompatProvider(env_for(fake_openai), transport).complete(
        ask(max_tokens=256, temperature=0.0, stop=["###"]), Target("compat", MODEL)
    )
    assert (result.text, result.provider, result.usage.output_tokens) == ("compat says hi", "compat", 3)
    (req,) = fake_openai.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["Authorization"] == f"Bearer {DEFAULT_KEY}"
    # compatible servers know max_tokens; many reject or ignore max_completion_tokens
    assert req.body["max_tokens"] == 256 and "max_completion_tokens" not in req.body
    assert (req.body["model"], req.body["temperature"], req.body["stop"]) == (MODEL, 0.0, ["###"])


async def test_no_key_sends_no_authorization(fake_openai: FakeOpenAI, transport: Transport):
    fake_openai.key = None
    result = await CompatProvider(env_for(fake_openai, key=None), transport).complete(ask(), Target("compat", MODEL))
    assert result.text == "ok"
    assert "Authorization" not in fake_openai.requests[0].headers


async def test_target_base_url_wins(fake_openai: FakeOpenAI, transport: Transport):
    env = {"MAGSAG_COMPAT_BASE_URL": "http://127.0.0.1:9/v1", "MAGSAG_COMPAT_API_KEY": DEFAULT_KEY}
    target = Target("compat", MODEL, base_url=fake_openai.url + "/v1")
    assert (await CompatProvider(env, transport).complete(ask(), target)).text == "ok"


async def test_missing_base_url_is_a_clear_error_before_any_request(transport: Transport):
    provider = CompatProvider({"MAGSAG_COMPAT_API_KEY": DEFAULT_KEY}, transport)
    target = Target("compat", MODEL)
    reason = provider.unavailable(target)
    assert reason and "MAGSAG_COMPAT_BASE_URL" in reason
    with pytest.raises(E.ProviderError, match="MAGSAG_COMPAT_BASE_URL") as info:
        await provider.complete(ask(), target)
    assert info.value.moves_on and (info.value.provider, info.value.model) == ("compat", MODEL)


async def test_streaming_json_output(fake_openai: FakeOpenAI, transport: Transport):
    fake_openai.queue(R.json_reply({"items": [1, 2, 3]}, usage=R.tokens(50, 10)))
    result = await CompatProvider(env_for(fake_openai), transport).complete(
        ask(json_output=True, stream=True), Target("compat", MODEL)
    )
    assert result.parsed == {"items": [1, 2, 3]} and result.usage.input_tokens == 50
    assert fake_openai.requests[0].body["response_format"] == {"type": "json_object"}


async def test_an_unauthorised_key_is_redacted(fake_openai: FakeOpenAI, transport: Transport):
    wrong = "gsk_0123456789abcdefWRONG"  # a Groq-style key: no sk- prefix
    with pytest.raises(E.AuthenticationError) as info:
        await CompatProvider(env_for(fake_openai, key=wrong), transport).complete(ask(), Target("compat", MODEL))
    assert wrong not in str(info.value) and wrong not in json.dumps(info.value.to_dict())


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # FastAPI-based servers answer {"detail": "..."} or a list of field problems
        ({"detail": "Model not loaded"}, "Model not loaded"),
        ({"detail": [{"loc": ["body", "messages"], "msg": "Field required", "type": "missing"}]}, "Field required"),
        # vLLM and some gateways put the OpenAI error fields at the top level
        ({"object": "error", "message": "top-level message", "type": "BadRequestError", "code": 400}, "top-level"),
    ],
)
async def test_other_error_body_shapes_keep_their_message(
    fake_openai: FakeOpenAI, transport: Transport, body: dict, expected: str
):
    fake_openai.queue(R.error(400, raw=json.dumps(body), content_type="application/json"))
    with pytest.raises(E.BadRequestError) as info:
        await CompatProvider(env_for(fake_openai), transport).complete(ask(), Target("compat", MODEL))
    assert expected in info.value.message


async def test_a_401_from_a_server_sent_no_key_says_which_variable_to_set(
    fake_openai: FakeOpenAI, transport: Transport
):
    # the key is optional for compat: a server that wants one answered 401 and nothing said where it goes
    with pytest.raises(E.AuthenticationError) as info:
        await CompatProvider(env_for(fake_openai, key=None), transport).complete(ask(), Target("compat", MODEL))
    assert info.value.message.endswith("no key was sent: set MAGSAG_COMPAT_API_KEY")


def openrouter(status: int, raw: Any, provider: str = "OpenAI") -> R.ErrorReply:
    """OpenRouter's error for a failure of the provider it routed to: its own message says nothing, the
    provider's error body is ``metadata.raw`` (a JSON text, or the provider's plain words)."""
    metadata = {"raw": raw if isinstance(raw, str) else json.dumps(raw), "provider_name": provider}
    body = {"error": {"message": "Provider returned error", "code": status, "metadata": metadata}, "user_id": "u_1"}
    return R.error(status, raw=json.dumps(body), content_type="application/json")


async def test_a_strict_schema_the_provider_behind_openrouter_refused_is_sent_again_without_strict(
    fake_openai: FakeOpenAI, transport: Transport
):
    # a schema strict mode takes on OpenAI, which the provider OpenRouter routed to refuses as strict
    refusal = {
        "error": {
            "message": "Invalid schema for response_format 'answer': In context=('properties', 'city'), 'format' "
            "is not permitted.",
            "type": "invalid_request_error",
            "param": "response_format",
            "code": "invalid_json_schema",
        }
    }
    fake_openai.queue(openrouter(400, refusal, provider="Azure"), R.json_reply({"city": "Paris"}))
    city = {"type": "string", "format": "hostname"}
    schema = {"type": "object", "properties": {"city": city}, "required": ["city"], "additionalProperties": False}
    result = await CompatProvider(env_for(fake_openai), transport).complete(
        ask(json_schema=schema, json_schema_name="answer", json_schema_strict=True), Target("compat", "openai/gpt-4o")
    )
    assert result.parsed == {"city": "Paris"}
    first, again = (r.body["response_format"]["json_schema"] for r in fake_openai.requests)
    assert first.get("strict") is True and "strict" not in again
    assert any("refused the JSON schema as strict" in w for w in result.warnings)


async def test_an_output_limit_of_the_model_behind_openrouter_moves_on_and_says_what_it_was(
    fake_openai: FakeOpenAI, transport: Transport
):
    # it was a bad request ("Provider returned error", nothing more), which stopped the cascade
    said = "max_tokens is too large: 32768. This model supports at most 16384 completion tokens."
    fake_openai.queue(
        openrouter(400, {"error": {"message": said, "type": "invalid_request_error", "param": "max_tokens"}})
    )
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await CompatProvider(env_for(fake_openai), transport).complete(
            ask(max_tokens=32768), Target("compat", "openai/gpt-4o")
        )
    assert info.value.moves_on and "OpenAI said: max_tokens is too large: 32768" in info.value.message


async def test_an_upstream_rate_limit_behind_openrouter_says_what_the_provider_said(
    fake_openai: FakeOpenAI, transport: Transport
):
    said = "z-ai/glm-4.6 is temporarily rate-limited upstream. Please retry shortly."
    fake_openai.queue(openrouter(429, said, provider="BaseTen"))
    with pytest.raises(E.RateLimitError) as info:
        await CompatProvider(env_for(fake_openai), transport).complete(ask(), Target("compat", "z-ai/glm-4.6"))
    assert f"Provider returned error (BaseTen said: {said})" in info.value.message


async def test_a_max_tokens_above_the_models_limit_is_not_sent_again_as_max_completion_tokens(
    fake_openai: FakeOpenAI, transport: Transport
):
    # OpenAI's 400 for a limit too large names param max_tokens too: it was taken for "use max_completion_tokens",
    # sent a second time under that field (refused again), and the model was sent max_completion_tokens from then on
    said = "max_tokens is too large: 32768. This model supports at most 16384 completion tokens, whereas you "
    fake_openai.queue(R.error(400, said + "provided 32768.", param="max_tokens", code="invalid_value"))
    provider = CompatProvider(env_for(fake_openai), transport)
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(ask(max_tokens=32768), Target("compat", "gpt-4o"))
    assert info.value.moves_on and len(fake_openai.requests) == 1
    await provider.complete(ask(max_tokens=1000), Target("compat", "gpt-4o"))
    assert fake_openai.requests[-1].body["max_tokens"] == 1000


async def test_a_responses_stream_whose_terminal_event_lists_no_output_keeps_the_items_it_streamed(
    fake_openai: FakeOpenAI, transport: Transport
):
    # Gateways that serve the Responses API by translating another (new-api, ChatGPT's Codex backend) end the stream
    # with response.completed whose response.output is [], the items having come in response.output_item.done. Read
    # from the terminal event alone, a streamed answer (text and tool calls, all streamed and billed) was "no usable
    # answer", where the same call unstreamed was answered.
    env = {"MAGSAG_COMPAT_BASE_URL": fake_openai.url + "/v1", "MAGSAG_COMPAT_API_KEY": DEFAULT_KEY}
    provider = CompatProvider(env, transport)
    target = Target("compat", "gpt-5-mini", params=(("api", "responses"),))
    fake_openai.queue(R.reply("streamed through a gateway", usage=R.tokens(9, 4), terminal_without_output=True))
    result = await provider.complete(ask(stream=True), target)
    assert (result.text, result.usage.output_tokens, result.finish_reason) == ("streamed through a gateway", 4, "stop")
    weather = ToolSpec("get_weather", "the weather", {"type": "object", "properties": {"city": {"type": "string"}}})
    call = R.call("get_weather", {"city": "Paris"}, id="call_w")
    fake_openai.queue(R.reply("Checking.", tool_calls=[call], terminal_without_output=True))
    result = await provider.complete(ask(stream=True, tools=[weather]), target)
    assert result.text == "Checking." and result.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [("call_w", "get_weather", {"city": "Paris"})]


async def test_a_responses_stream_whose_calls_came_only_in_their_added_and_argument_events_keeps_them(
    fake_openai: FakeOpenAI, transport: Transport
):
    # Gateways that translate chat completions into the Responses API stream a function call as
    # response.output_item.added (its call_id and name) and function_call_arguments.delta / .done, send no
    # response.output_item.done, and end with response.completed's output: []. The call, streamed and billed, was
    # lost: the answer was its text alone ("stop"), or, with none, "no usable answer".
    env = {"MAGSAG_COMPAT_BASE_URL": fake_openai.url + "/v1", "MAGSAG_COMPAT_API_KEY": DEFAULT_KEY}
    provider = CompatProvider(env, transport)
    target = Target("compat", "gpt-5-mini", params=(("api", "responses"),))
    weather = ToolSpec("get_weather", "the weather", {"type": "object", "properties": {"city": {"type": "string"}}})
    calls = [R.call("get_weather", {"city": c}, id=f"call_{c[0].lower()}") for c in ("Paris", "Oslo")]
    gap = {"terminal_without_output": True, "without_items_done": True, "usage": R.tokens(9, 14)}
    fake_openai.queue(R.reply("Checking both.", tool_calls=calls, **gap))
    result = await provider.complete(ask(stream=True, tools=[weather]), target)
    assert (result.text, result.finish_reason, result.usage.output_tokens) == ("Checking both.", "tool_calls", 14)
    expected = [("call_p", "get_weather", {"city": "Paris"}), ("call_o", "get_weather", {"city": "Oslo"})]
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == expected
    fake_openai.queue(R.reply(tool_calls=calls[:1], **gap))
    result = await provider.complete(ask(stream=True, tools=[weather]), target)
    assert (result.text, result.finish_reason) == ("", "tool_calls")
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == expected[:1]
