"""The OpenAI provider, Chat Completions and Responses, against the spec-checking loopback server.

Every request the provider sends is validated against the OpenAI spec by the fake (the ``fake_openai``
fixture fails the test on any violation); the assertions here check what was sent and what came back.
"""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.openai import OpenAIProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message, Target, ToolCall, ToolSpec
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI
from tests.llm_requests import ask

pytestmark = pytest.mark.anyio

ENV = {"OPENAI_API_KEY": DEFAULT_KEY}
APIS = ["chat", "responses"]
PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses"}
WEATHER = ToolSpec(
    "get_weather",
    "Current weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.fixture
def provider(transport: Transport) -> OpenAIProvider:
    return OpenAIProvider(ENV, transport)


def target(fake: FakeOpenAI, api: str, model: str = "gpt-4o") -> Target:
    params = (("api", "responses"),) if api == "responses" else ()
    return Target("openai", model, base_url=fake.url + "/v1", params=params)


def sent(fake: FakeOpenAI, n: int = -1) -> dict[str, Any]:
    return fake.requests[n].body


# --- requests and plain answers ---------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
async def test_text_answer_and_request_fields(fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str):
    fake_openai.queue(R.reply("Bonjour!", model="gpt-4o-2024-08-06"))
    request = ask("Say hi in French", system="You are terse.", max_tokens=64, temperature=0.2)
    result = await provider.complete(request, target(fake_openai, api))

    assert (result.text, result.provider, result.finish_reason) == ("Bonjour!", "openai", "stop")
    assert result.model == "gpt-4o-2024-08-06"  # the snapshot the server reports
    assert result.response_id and result.latency_ms > 0
    (req,) = fake_openai.requests
    assert (req.method, req.path) == ("POST", PATHS[api])
    assert req.headers["Authorization"] == f"Bearer {DEFAULT_KEY}"
    assert req.headers["Content-Type"] == "application/json"
    body = req.body
    assert body["model"] == "gpt-4o" and body["temperature"] == 0.2
    if api == "chat":
        assert body["messages"] == [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hi in French"},
        ]
        assert body["max_completion_tokens"] == 64 and "max_tokens" not in body
        assert "stream" not in body
    else:
        assert body["instructions"] == "You are terse."
        assert body["input"] == [{"role": "user", "content": "Say hi in French"}]
        assert body["max_output_tokens"] == 64 and body["store"] is False


async def test_chat_sends_stop_sequences(fake_openai: FakeOpenAI, provider: OpenAIProvider):
    result = await provider.complete(ask(stop=["\n\n", "END"]), target(fake_openai, "chat"))
    assert sent(fake_openai)["stop"] == ["\n\n", "END"]
    assert result.warnings == []


async def test_responses_has_no_stop_and_says_so(fake_openai: FakeOpenAI, provider: OpenAIProvider):
    result = await provider.complete(ask(stop=["END"]), target(fake_openai, "responses"))
    assert "stop" not in sent(fake_openai)
    assert any("stop" in w for w in result.warnings)


async def test_responses_raises_tiny_max_tokens_to_the_spec_minimum(fake_openai: FakeOpenAI, provider: OpenAIProvider):
    result = await provider.complete(ask(max_tokens=5), target(fake_openai, "responses"))
    assert sent(fake_openai)["max_output_tokens"] == 16  # the spec's minimum; 5 would be refused
    assert result.warnings == ["the Responses API takes at least 16 output tokens; max_tokens 5 was sent as 16"]


async def test_organization_and_project_headers(fake_openai: FakeOpenAI, transport: Transport):
    env = {**ENV, "OPENAI_ORG_ID": "org-123", "OPENAI_PROJECT_ID": "proj_456"}
    await OpenAIProvider(env, transport).complete(ask(), target(fake_openai, "chat"))
    headers = fake_openai.requests[0].headers
    assert (headers["OpenAI-Organization"], headers["OpenAI-Project"]) == ("org-123", "proj_456")


async def test_extra_parameters_pass_through(fake_openai: FakeOpenAI, provider: OpenAIProvider):
    await provider.complete(ask(extra={"seed": 7, "top_p": 0.5}), target(fake_openai, "chat"))
    assert (sent(fake_openai)["seed"], sent(fake_openai)["top_p"]) == (7, 0.5)


async def test_base_url_from_env(fake_openai: FakeOpenAI, transport: Transport):
    env = {**ENV, "OPENAI_BASE_URL": fake_openai.url + "/v1"}
    result = await OpenAIProvider(env, transport).complete(ask(), Target("openai", "gpt-4o"))
    assert result.text == "ok" and fake_openai.paths() == ["/v1/chat/completions"]


async def test_missing_key_fails_before_any_request(transport: Transport):
    provider = OpenAIProvider({}, transport)
    t = Target("openai", "gpt-4o", base_url="http://127.0.0.1:9/v1")
    assert "OPENAI_API_KEY" in (provider.unavailable(t) or "")
    with pytest.raises(E.AuthenticationError, match="OPENAI_API_KEY"):
        await provider.complete(ask(), t)


# --- the first reasoning models (o1-preview, o1-mini) ----------------------------------------------------


@pytest.mark.parametrize("model", ["o1-preview", "o1-mini", "o1-preview-2024-09-12"])
@pytest.mark.parametrize("stream", [False, True])
async def test_legacy_reasoning_models_take_the_system_prompt_as_a_user_turn(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, model: str, stream: bool
):
    # The fake answers these models as OpenAI does: 400 unsupported_value for a system message,
    # a temperature other than 1, or stop sequences.
    fake_openai.queue(R.reply("x = 4"))
    request = ask("Solve 2x = 8.", system="Reason step by step.", temperature=0.2, stop=["END"], max_tokens=900)
    request.stream = stream
    result = await provider.complete(request, target(fake_openai, "chat", model))

    assert result.text == "x = 4"
    body = sent(fake_openai)
    assert body["messages"] == [
        {"role": "user", "content": "Reason step by step."},
        {"role": "user", "content": "Solve 2x = 8."},
    ]
    assert "temperature" not in body and "stop" not in body and body["max_completion_tokens"] == 900
    assert len(result.warnings) == 3
    system, temperature, stop = result.warnings
    assert model in system and "system prompt" in system and "first user message" in system
    assert "temperature 0.2" in temperature and "'stop'" in stop


async def test_legacy_reasoning_model_without_system_or_sampling_has_nothing_to_say(
    fake_openai: FakeOpenAI, provider: OpenAIProvider
):
    result = await provider.complete(ask("hi", temperature=1), target(fake_openai, "chat", "o1-mini"))
    assert result.warnings == [] and sent(fake_openai)["messages"] == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("model", ["o1-preview", "o1-mini-2024-09-12"])
@pytest.mark.parametrize("stream", [False, True])
async def test_legacy_reasoning_system_prompt_alone_is_folded_and_said(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, model: str, stream: bool
):
    request = ask("Solve 2x = 8.", system="Reason step by step.", stream=stream)
    result = await provider.complete(request, target(fake_openai, "chat", model))

    body = sent(fake_openai)
    assert body["messages"] == [
        {"role": "user", "content": "Reason step by step."},
        {"role": "user", "content": "Solve 2x = 8."},
    ]
    assert "stop" not in body and "temperature" not in body
    assert result.warnings == [f"{model} takes no system prompt; it was sent as the first user message"]


@pytest.mark.parametrize("model", ["o1-preview", "o1-mini-2024-09-12"])
@pytest.mark.parametrize("stream", [False, True])
async def test_legacy_reasoning_stop_alone_is_dropped_and_said(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, model: str, stream: bool
):
    request = ask("Count to 3.", stop=["\n\n", "END"], stream=stream)
    result = await provider.complete(request, target(fake_openai, "chat", model))

    body = sent(fake_openai)
    assert "stop" not in body
    assert body["messages"] == [{"role": "user", "content": "Count to 3."}]
    assert result.warnings == [f"{model} has no stop sequences; 'stop' was not sent"]


async def test_legacy_reasoning_notes_are_said_in_the_order_the_body_is_built(
    fake_openai: FakeOpenAI, provider: OpenAIProvider
):
    request = ask("Solve 2x = 8.", system="Reason step by step.", temperature=0, stop=["END"])
    result = await provider.complete(request, target(fake_openai, "chat", "o1-mini"))

    body = sent(fake_openai)
    assert [m["role"] for m in body["messages"]] == ["user", "user"]
    assert not {"temperature", "stop"} & set(body)
    assert result.warnings == [
        "o1-mini takes no system prompt; it was sent as the first user message",
        "o1-mini supports only the default temperature; temperature 0 was not sent",
        "o1-mini has no stop sequences; 'stop' was not sent",
    ]


@pytest.mark.parametrize("model", ["o3", "o3-2025-04-16", "o4-mini", "o4-mini-2025-04-16"])
@pytest.mark.parametrize("stream", [False, True])
async def test_o3_and_o4_mini_get_no_stop_and_say_so(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, model: str, stream: bool
):
    # openai.yaml, StopConfiguration: "Not supported with latest reasoning models `o3` and `o4-mini`";
    # sent anyway, the API answers 400 and the target is lost to the call. They do take a system message.
    request = ask("Count to 3.", system="Be terse.", stop=["END"], stream=stream)
    result = await provider.complete(request, target(fake_openai, "chat", model))
    body = sent(fake_openai)
    assert "stop" not in body and body["messages"][0] == {"role": "system", "content": "Be terse."}
    assert result.warnings == [f"{model} has no stop sequences; 'stop' was not sent"]


@pytest.mark.parametrize("model", ["o1", "o3-mini", "gpt-4o"])
async def test_later_models_keep_their_system_message(fake_openai: FakeOpenAI, provider: OpenAIProvider, model: str):
    result = await provider.complete(ask("hi", system="Be terse.", stop=["END"]), target(fake_openai, "chat", model))
    body = sent(fake_openai)
    assert body["messages"][0] == {"role": "system", "content": "Be terse."} and body["stop"] == ["END"]
    assert result.warnings == []


@pytest.mark.parametrize("param", ["tools", "response_format"])
async def test_a_feature_the_model_lacks_moves_on(fake_openai: FakeOpenAI, provider: OpenAIProvider, param: str):
    if param == "tools":
        request = ask("hi", tools=[ToolSpec("f", "a tool", {"type": "object", "properties": {}})])
    else:
        request = ask("hi", json_output=True)
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(request, target(fake_openai, "chat", "o1-mini"))
    err = info.value
    assert (err.status, err.retryable, err.moves_on) == (400, False, True)
    assert f"'{param}'" in err.message and "with this model" in err.message


# --- usage ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("stream", [False, True])
async def test_usage_with_cached_and_reasoning_tokens(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, stream: bool
):
    fake_openai.queue(R.reply("42", usage=R.tokens(2048, 300, cached=1536, reasoning=256)))
    result = await provider.complete(ask(stream=stream), target(fake_openai, api))
    usage = result.usage
    # OpenAI counts cached inside input and reasoning inside output; so does Usage
    assert (usage.input_tokens, usage.cached_tokens) == (2048, 1536)
    assert (usage.output_tokens, usage.reasoning_tokens) == (300, 256)
    assert usage.total_tokens == 2348 and usage.cache_write_tokens == 0


# --- tools ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
async def test_tool_call_round_trip(fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str):
    fake_openai.queue(
        R.reply(tool_calls=[R.call("get_weather", {"city": "Paris"}, id="call_abc")]),
        R.reply("It is 18°C in Paris."),
    )
    first = await provider.complete(
        ask("Weather in Paris?", tools=[WEATHER], tool_choice="auto"), target(fake_openai, api)
    )
    assert first.finish_reason == "tool_calls" and first.text == ""
    assert [c.to_dict() for c in first.tool_calls] == [
        {"id": "call_abc", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    body = sent(fake_openai)
    assert body["tool_choice"] == "auto"
    if api == "chat":
        assert body["tools"] == [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": WEATHER.description,
                    "parameters": WEATHER.parameters,
                },
            }
        ]
    else:
        assert body["tools"][0]["name"] == "get_weather" and body["tools"][0]["parameters"] == WEATHER.parameters

    history = [
        Message("user", "Weather in Paris?"),
        Message("assistant", None, tool_calls=first.tool_calls),
        Message("tool", json.dumps({"temp_c": 18}), tool_call_id="call_abc", name="get_weather"),
    ]
    second = await provider.complete(LLMRequest(messages=history, tools=[WEATHER]), target(fake_openai, api))
    assert second.text == "It is 18°C in Paris." and second.tool_calls == []
    body = sent(fake_openai)
    if api == "chat":
        assistant, tool = body["messages"][1:]
        assert assistant["tool_calls"][0]["id"] == "call_abc"
        assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
        assert tool == {"role": "tool", "tool_call_id": "call_abc", "content": '{"temp_c": 18}'}
    else:
        call_item, output_item = body["input"][1:]
        assert (call_item["type"], call_item["call_id"], call_item["name"]) == (
            "function_call",
            "call_abc",
            "get_weather",
        )
        assert output_item == {"type": "function_call_output", "call_id": "call_abc", "output": '{"temp_c": 18}'}


@pytest.mark.parametrize(
    ("choice", "chat_wire", "responses_wire"),
    [
        ("none", "none", "none"),
        ("required", "required", "required"),
        (
            {"name": "get_weather"},
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "function", "name": "get_weather"},
        ),
    ],
)
@pytest.mark.parametrize("api", APIS)
async def test_tool_choice_on_the_wire(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, choice: Any, chat_wire: Any, responses_wire: Any
):
    await provider.complete(ask(tools=[WEATHER], tool_choice=choice), target(fake_openai, api))
    assert sent(fake_openai)["tool_choice"] == (chat_wire if api == "chat" else responses_wire)


@pytest.mark.parametrize("api", APIS)
async def test_tool_arguments_that_are_not_json_are_a_malformed_answer(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str
):
    fake_openai.queue(R.reply(tool_calls=[R.call("get_weather", '{"city": "Par')]))
    with pytest.raises(E.MalformedResponseError, match="not JSON") as info:
        await provider.complete(ask(tools=[WEATHER]), target(fake_openai, api))
    assert info.value.moves_on and not info.value.retryable
    assert (info.value.provider, info.value.model) == ("openai", "gpt-4o")


# --- JSON output ----------------------------------------------------------------------------------------

SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}


@pytest.mark.parametrize("api", APIS)
async def test_json_mode(fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str):
    fake_openai.queue(R.json_reply({"answer": 42}))
    result = await provider.complete(ask(json_output=True), target(fake_openai, api))
    assert result.parsed == {"answer": 42}
    body = sent(fake_openai)
    if api == "chat":
        assert body["response_format"] == {"type": "json_object"}
    else:
        assert body["text"] == {"format": {"type": "json_object"}}


@pytest.mark.parametrize("api", APIS)
async def test_json_schema_output(fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str):
    fake_openai.queue(R.json_reply({"answer": 7}))
    result = await provider.complete(ask(json_schema=SCHEMA, json_schema_name="verdict"), target(fake_openai, api))
    assert result.parsed == {"answer": 7}
    body = sent(fake_openai)
    if api == "chat":
        assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "verdict", "schema": SCHEMA}}
    else:
        assert body["text"] == {"format": {"type": "json_schema", "name": "verdict", "schema": SCHEMA}}


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("stream", [False, True])
async def test_invalid_json_is_invalid_output(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, stream: bool
):
    fake_openai.queue(R.reply('{"answer": 4'))
    with pytest.raises(E.InvalidOutputError, match="invalid JSON") as info:
        await provider.complete(ask(json_output=True, stream=stream), target(fake_openai, api))
    assert info.value.moves_on and not info.value.retryable


# --- streaming ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
async def test_streamed_text_reports_progress(fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str):
    fake_openai.queue(R.reply("one two three four"))
    seen: list[int] = []

    async def progress(kind: str, data: dict[str, Any]) -> None:
        assert kind == "delta"
        seen.append(data["chars"])

    result = await provider.complete(ask(stream=True), target(fake_openai, api), progress=progress)
    assert result.text == "one two three four" and result.finish_reason == "stop"
    assert seen == sorted(seen) and seen[-1] == len("one two three four") and len(seen) == 4
    body = sent(fake_openai)
    assert body["stream"] is True
    assert fake_openai.requests[-1].headers["Accept"] == "text/event-stream"
    if api == "chat":
        assert body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("api", APIS)
async def test_streamed_tool_calls(fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str):
    calls = [
        R.call("get_weather", {"city": "Paris"}, id="call_1"),
        R.call("get_weather", {"city": "Oslo"}, id="call_2"),
    ]
    fake_openai.queue(R.reply("Checking.", tool_calls=calls))
    result = await provider.complete(ask(stream=True, tools=[WEATHER]), target(fake_openai, api))
    assert result.text == "Checking." and result.finish_reason == "tool_calls"
    assert result.tool_calls == [
        ToolCall("call_1", "get_weather", {"city": "Paris"}),
        ToolCall("call_2", "get_weather", {"city": "Oslo"}),
    ]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("fault", ["cut_after", "truncate_after"])
async def test_a_stream_that_ends_mid_answer_is_a_connection_error(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, fault: str
):
    # cut: the TCP connection drops; truncate: the body ends cleanly but without the terminal event
    fake_openai.queue(R.reply("a long answer that never finishes", **{fault: 4}))
    with pytest.raises(E.ProviderConnectionError) as info:
        await provider.complete(ask(stream=True), target(fake_openai, api))
    err = info.value
    assert err.retryable and err.moves_on
    assert (err.provider, err.model) == ("openai", "gpt-4o")


@pytest.mark.parametrize("api", APIS)
async def test_an_error_inside_a_stream_is_mapped(fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str):
    fake_openai.queue(R.error(500, "The server had an error", type="server_error", code="server_error", in_stream=True))
    with pytest.raises(E.ServerError, match="The server had an error") as info:
        await provider.complete(ask(stream=True), target(fake_openai, api))
    assert info.value.retryable


@pytest.mark.parametrize("api", APIS)
async def test_an_http_error_on_a_stream_request_is_mapped(fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str):
    fake_openai.queue(R.rate_limited(retry_after="2"))
    with pytest.raises(E.RateLimitError) as info:
        await provider.complete(ask(stream=True), target(fake_openai, api))
    assert info.value.retry_after == 2.0 and info.value.status == 429


async def test_a_json_answer_to_a_stream_request_is_read_as_the_plain_answer(
    fake_openai: FakeOpenAI, provider: OpenAIProvider
):
    # A proxy or compatible server that ignores "stream": true. Its answer was taken for a dropped stream
    # and asked for again, although it was complete and billed.
    fake_openai.queue(R.reply("the whole answer at once", usage=R.tokens(40, 12), ignores_stream=True))
    result = await provider.complete(ask(stream=True), target(fake_openai, "chat"))
    assert (result.text, result.finish_reason) == ("the whole answer at once", "stop")
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.reported) == (40, 12, True)
    assert any('ignored "stream": true' in w for w in result.warnings)
    assert len(fake_openai.requests) == 1 and sent(fake_openai)["stream"] is True


@pytest.mark.parametrize("text", ["The three causes are: first, the", None], ids=["cut", "empty"])
async def test_a_json_answer_to_a_stream_request_cut_at_max_tokens_still_says_so(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, text: str | None
):
    # The note that the server ignored "stream": true was taken for the wire explaining its own stop: the
    # answer max_tokens cut (or left empty, after its reasoning) came back with no word of it.
    usage = R.tokens(40, 8, reasoning=8 if text is None else 0)
    fake_openai.queue(R.reply(text, usage=usage, finish="length", ignores_stream=True))
    result = await provider.complete(ask(stream=True, max_tokens=8), target(fake_openai, "chat"))
    assert result.finish_reason == "length"
    assert any('ignored "stream": true' in w for w in result.warnings)
    said = "the answer is cut short" if text else "answered with nothing: it stopped at max_tokens (8) after 8"
    assert [w for w in result.warnings if "max_tokens (8)" in w and said in w]


async def test_a_page_that_is_neither_a_stream_nor_json_is_a_malformed_answer(
    fake_openai: FakeOpenAI, provider: OpenAIProvider
):
    fake_openai.queue(R.Reply(raw_body="<html><body>Sign in to the corporate proxy</body></html>"))
    with pytest.raises(E.MalformedResponseError) as info:
        await provider.complete(ask(stream=True), target(fake_openai, "chat"))
    err = info.value
    assert type(err) is E.MalformedResponseError and not err.retryable and err.moves_on
    assert "answered with text/html" in err.message and err.details["content_type"] == "text/html"
    assert "captive portal" in err.message and "base URL" in err.message


@pytest.mark.parametrize("api", APIS)
async def test_length_finish(fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str):
    fake_openai.queue(R.reply("truncated answ", finish="length"))
    result = await provider.complete(ask(max_tokens=16), target(fake_openai, api))
    assert (result.text, result.finish_reason) == ("truncated answ", "length")


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_withheld_by_the_content_filter(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, stream: bool
):
    # chat: finish_reason content_filter with no content; Responses: status incomplete, reason content_filter
    fake_openai.queue(R.Reply(text=None, finish="content_filter", usage=R.tokens(1200, 300)))
    with pytest.raises(E.ContentFilteredError) as info:
        await provider.complete(ask(stream=stream), target(fake_openai, api))
    assert info.value.moves_on and not info.value.retryable
    # the response still reports what it used, and the vendor bills it: the attempt is recorded at cost
    assert (info.value.usage.input_tokens, info.value.usage.output_tokens) == (1200, 300)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("stream", [False, True])
async def test_a_refusal_is_content_filtered_not_an_empty_answer(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, stream: bool
):
    # Chat: ChatCompletionResponseMessage.refusal (delta.refusal streamed) with content null and finish_reason
    # "stop"; Responses: a `refusal` content part instead of output_text. Neither is the model's answer.
    fake_openai.queue(R.Reply(text=None, refusal="I can't help with that.", usage=R.tokens(40, 6)))
    with pytest.raises(E.ContentFilteredError, match="refused") as info:
        await provider.complete(ask(stream=stream), target(fake_openai, api))
    assert "I can't help with that." in info.value.message
    assert info.value.moves_on and not info.value.retryable
    # the refusal's tokens are billed: the attempt is recorded at their cost
    assert (info.value.usage.input_tokens, info.value.usage.output_tokens) == (40, 6)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("code", "message", "cls"),
    [
        # ResponseErrorCode: each failure is what the same code means over HTTP, not a retryable 500
        ("server_error", "The model failed to generate a response.", E.ServerError),
        ("rate_limit_exceeded", "Rate limit reached for o3.", E.RateLimitError),
        (
            "invalid_prompt",
            "Invalid prompt: your prompt was flagged as potentially violating our usage policy.",
            E.ContentFilteredError,
        ),
        ("bio_policy", "This request was refused under the biology usage policy.", E.ContentFilteredError),
        ("data_residency_mismatch", "The project's data residency does not allow this model.", E.PermissionDeniedError),
        ("invalid_image_url", "The image URL could not be read.", E.BadRequestError),
        # not in the enum, but what the live API fails a response with when it is overloaded: it was a bad request
        # that stopped the cascade, where sent again (or to the next target) it is answered
        ("server_is_overloaded", "Our servers are currently overloaded. Please try again later.", E.OverloadedError),
        ("slow_down", "Please slow down.", E.OverloadedError),
    ],
)
async def test_a_failed_response_is_classified_by_its_error_code(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, stream: bool, code: str, message: str, cls: type
):
    fake_openai.queue(R.reply(failed={"code": code, "message": message}, usage=R.tokens(500, 20)))
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(stream=stream), target(fake_openai, "responses"))
    assert type(info.value) is cls and message in info.value.message
    # the answer came with HTTP 200: its message said "HTTP 500" (or 400, 429, ...), the status of the class it is
    # classified as, which no server sent; it says the response failed, with the vendor's code (details["code"] too)
    assert f"gpt-4o: the response failed with {code} (request id req_fake): {message}" in info.value.message
    assert "HTTP" not in info.value.message and info.value.details["code"] == code
    # what the failed response used is billed: the attempt is recorded at that cost
    assert (info.value.usage.input_tokens, info.value.usage.output_tokens) == (500, 20)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("text", ["The first half of", None])
async def test_a_cancelled_response_is_an_interrupted_answer_not_a_whole_one(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, stream: bool, text: str | None
):
    # Response.status "cancelled" (vLLM's Responses API ends so an answer its engine aborted): the text so far came
    # back as a whole answer, finish_reason "stop" and no warning; with none yet, as "no usable answer" naming no cause
    fake_openai.queue(R.reply(text, finish="cancelled", usage=R.tokens(300, 12)))
    with pytest.raises(E.ServerError, match=r"interrupted the answer \(status 'cancelled'\); it is not whole") as info:
        await provider.complete(ask(stream=stream), target(fake_openai, "responses"))
    assert info.value.retryable and info.value.moves_on  # as chat's finish_reason "abort"
    # what it used is billed: the attempt is recorded at that cost
    assert (info.value.usage.input_tokens, info.value.usage.output_tokens) == (300, 12)
    assert fake_openai.violations == []


# --- errors ---------------------------------------------------------------------------------------------

ERROR_CASES = [
    # (status, type, code, message, class, retryable, moves_on)
    (400, "invalid_request_error", None, "Invalid value for 'temperature'", E.BadRequestError, False, False),
    (
        400,
        "invalid_request_error",
        "context_length_exceeded",
        "maximum context length is 128000 tokens",
        E.ContextTooLongError,
        False,
        True,
    ),
    (400, "invalid_request_error", "content_filter", "The response was filtered", E.ContentFilteredError, False, True),
    (401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided", E.AuthenticationError, False, True),
    (
        403,
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country not supported",
        E.PermissionDeniedError,
        False,
        True,
    ),
    (
        404,
        "invalid_request_error",
        "model_not_found",
        "The model `gpt-9` does not exist",
        E.ModelNotFoundError,
        False,
        True,
    ),
    # 409 used to stop the whole cascade as a bad request; OpenAI sends it for a conflict on its side
    # ("... while processing your request (lock timeout)") that clears on a retry, so it is a server error.
    (
        409,
        "server_error",
        None,
        "The server had an error while processing your request (lock timeout)",
        E.ServerError,
        True,
        True,
    ),
    # the server gave up waiting for the request: retryable, and it moves on
    (408, "timeout", None, "Request timed out.", E.ProviderTimeoutError, True, True),
    (402, "invalid_request_error", None, "Payment required", E.QuotaExhaustedError, False, True),
    # statuses no one classifies say nothing against the request: the next target may serve it
    (405, "invalid_request_error", None, "Method not allowed", E.UnexpectedStatusError, False, True),
    (410, "invalid_request_error", None, "Gone", E.UnexpectedStatusError, False, True),
    (425, "invalid_request_error", None, "Too early", E.ServerError, True, True),
    (499, "invalid_request_error", None, "Client closed request", E.UnexpectedStatusError, False, True),
    (413, "invalid_request_error", None, "Request too large", E.ContextTooLongError, False, True),
    (422, "invalid_request_error", None, "Unprocessable", E.BadRequestError, False, False),
    (429, "requests", "rate_limit_exceeded", "Rate limit reached for requests", E.RateLimitError, True, True),
    (
        429,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota",
        E.QuotaExhaustedError,
        False,
        True,
    ),
    # larger than the organisation's tokens-per-minute limit for the model: sent again it is refused again, so it
    # is not retried (it was, as a rate limit, each try spending a request of the per-minute budget)
    (429, "tokens", "rate_limit_exceeded", R.TOO_LARGE, E.QuotaExhaustedError, False, True),
    (500, "server_error", None, "The server had an error", E.ServerError, True, True),
    (502, "server_error", None, "Bad gateway", E.ServerError, True, True),
    (503, "server_error", None, "The engine is currently overloaded", E.OverloadedError, True, True),
    # a gateway's timeout (504; Cloudflare's 524) while the server was still answering: a timeout, as ours is, tried
    # again on this target only when no other is left
    (504, "server_error", None, "Gateway timeout", E.ProviderTimeoutError, True, True),
    (524, "server_error", None, "A timeout occurred", E.ProviderTimeoutError, True, True),
]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("status", "kind", "code", "message", "cls", "retryable", "moves_on"),
    ERROR_CASES,
    ids=[f"{c[0]}-{c[2] or c[1]}" for c in ERROR_CASES],
)
async def test_error_classes(
    fake_openai: FakeOpenAI,
    provider: OpenAIProvider,
    api: str,
    status: int,
    kind: str,
    code: str | None,
    message: str,
    cls: type[E.ProviderError],
    retryable: bool,
    moves_on: bool,
):
    fake_openai.queue(R.error(status, message, type=kind, code=code))
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(), target(fake_openai, api))
    err = info.value
    assert type(err) is cls
    assert (err.retryable, err.moves_on) == (retryable, moves_on)
    assert (err.status, err.provider, err.model) == (status, "openai", "gpt-4o")
    assert message in err.message and f"HTTP {status}" in err.message
    assert err.to_dict()["type"] == cls.kind


async def test_an_error_body_that_is_not_json(fake_openai: FakeOpenAI, provider: OpenAIProvider):
    fake_openai.queue(R.error(502, raw="<html><body>502 Bad Gateway</body></html>", content_type="text/html"))
    with pytest.raises(E.ServerError, match="502 Bad Gateway"):
        await provider.complete(ask(), target(fake_openai, "chat"))


TPM = (
    "Rate limit reached for gpt-4o in organization org-test on tokens per min (TPM): Limit 30000, Used 29937, "
    "Requested 385. Please try again in {}. Visit https://platform.openai.com/account/rate-limits to learn more."
)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry_after": "7"}, 7.0),
        ({"retry_after": "1.5"}, 1.5),
        ({"retry_after_ms": "2500"}, 2.5),
        ({"retry_after_ms": "750", "retry_after": "9"}, 0.75),  # the precise header wins
        # OpenAI's bucket resets count only for a bucket that ran out (these rows used to omit the
        # remaining counts, when any reset header was taken as the wait)
        ({"reset_requests": "1m30s", "remaining_requests": "0"}, 90.0),
        ({"reset_requests": "250ms", "remaining_requests": "0", "remaining_tokens": "29000"}, 0.25),
        ({"reset_requests": "2s", "reset_tokens": "6m0s", "remaining_requests": "0", "remaining_tokens": "0"}, 360.0),
        ({"reset_requests": "2s", "reset_tokens": "6m0s", "remaining_requests": "0", "remaining_tokens": "900"}, 2.0),
        ({"reset_requests": "1m30s"}, None),  # no bucket is said to be empty: the reset is no wait
        ({"reset_requests": "1s", "reset_tokens": "20s", "remaining_requests": "3", "remaining_tokens": "7"}, None),
        ({}, None),
        # a value that is neither seconds nor an HTTP date says nothing: absent, not a crash
        ({"retry_after": "soon"}, None),
        ({"retry_after": "Mon, 45 Foo 2099 99:99:99 GMT"}, None),
        ({"retry_after": "inf"}, None),
        ({"retry_after_ms": "later", "retry_after": "4"}, 4.0),
        # OpenAI's TPM refusal names the wait for this request, which no header does while the bucket has
        # some room left (too little for the request): it was retried at once, refused again, given up
        ({"message": TPM.format("644ms"), "remaining_tokens": "63", "reset_tokens": "1m0s"}, 0.644),
        ({"message": TPM.format("18.642s"), "remaining_tokens": "15433", "reset_tokens": "29s"}, 18.642),
        ({"message": TPM.format("1m26.4s")}, 86.4),
        ({"message": TPM.format("1.574s"), "remaining_tokens": "0", "reset_tokens": "6m0s"}, 1.574),
        ({"message": TPM.format("1.5s"), "retry_after": "7"}, 7.0),  # a header wins
        ({"message": "Requests to the ChatCompletions_Create Operation ... Please retry after 6 seconds."}, 6.0),
        ({"message": "Rate limit reached. Please try again later."}, None),
    ],
)
async def test_retry_after_headers(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, headers: dict[str, str], expected: float | None
):
    fake_openai.queue(R.rate_limited(**headers))
    with pytest.raises(E.RateLimitError) as info:
        await provider.complete(ask(), target(fake_openai, "chat"))
    assert info.value.retry_after == expected
    # a wait longer than a minute will not clear soon: quota, move on rather than sleep
    assert isinstance(info.value, E.QuotaExhaustedError) == (expected is not None and expected > 60)


@pytest.mark.parametrize("status", [500, 503])
async def test_rate_limit_resets_are_no_wait_on_a_server_error(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, status: int
):
    # OpenAI sends its bucket headers on every response; on a 5xx they said "wait 6 minutes" for nothing
    headers = {
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-reset-tokens": "6m0s",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-remaining-tokens": "0",
    }
    fake_openai.queue(R.error(status, "The server had an error", type="server_error", headers=headers))
    with pytest.raises(E.ServerError) as info:
        await provider.complete(ask(), target(fake_openai, "chat"))
    assert info.value.retry_after is None


async def test_retry_after_as_an_http_date(fake_openai: FakeOpenAI, provider: OpenAIProvider):
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    fake_openai.queue(R.rate_limited(retry_after=when))
    with pytest.raises(E.RateLimitError) as info:
        await provider.complete(ask(), target(fake_openai, "chat"))
    assert type(info.value) is E.RateLimitError
    # the date has one-second resolution; the wait is what remains until it
    assert info.value.retry_after == pytest.approx(30, abs=1.5)


async def test_retry_after_in_the_past_means_now(fake_openai: FakeOpenAI, provider: OpenAIProvider):
    fake_openai.queue(R.rate_limited(retry_after="Wed, 21 Oct 2015 07:28:00 GMT"))
    with pytest.raises(E.RateLimitError) as info:
        await provider.complete(ask(), target(fake_openai, "chat"))
    assert info.value.retry_after == 0.0


@pytest.mark.parametrize("api", APIS)
async def test_the_key_never_appears_in_errors(fake_openai: FakeOpenAI, transport: Transport, api: str):
    # the fake echoes the whole key it was sent, as a careless compatible server might
    wrong = "sk-proj-WRONGkey0123456789abcdefXYZ"
    provider = OpenAIProvider({"OPENAI_API_KEY": wrong}, transport)
    with pytest.raises(E.AuthenticationError) as info:
        await provider.complete(ask(), target(fake_openai, api))
    err = info.value
    assert fake_openai.requests[0].headers["Authorization"] == f"Bearer {wrong}"
    for text in (str(err), err.message, json.dumps(err.to_dict()), repr(err.details)):
        assert wrong not in text and "WRONGkey" not in text
    assert "Incorrect API key provided" in err.message


async def test_a_key_echoed_in_the_error_code_is_redacted_too(fake_openai: FakeOpenAI, transport: Transport):
    # The message was redacted but the vendor's "code" went into the details (and the CLI's JSON) as sent.
    key = "sk-audit-SECRET-1234567890"
    fake_openai.queue(R.error(400, "bad request", code=key))
    fake_openai.key = key
    provider = OpenAIProvider({"OPENAI_API_KEY": key}, transport)
    with pytest.raises(E.BadRequestError) as info:
        await provider.complete(ask(), target(fake_openai, "chat"))
    assert key not in json.dumps(info.value.to_dict()) and info.value.details["code"] == "[REDACTED]"


async def test_a_key_without_a_recognisable_shape_is_still_redacted(fake_openai: FakeOpenAI, transport: Transport):
    odd_key = "Zq7WmN4pLx2Rt9Vb8Kc5Hd3Gf6Js1Ay0"  # a proxy's key: no sk- prefix
    fake_openai.queue(R.error(403, f"key {odd_key} is not allowed to use this model", code="forbidden"))
    provider = OpenAIProvider({"OPENAI_API_KEY": odd_key}, transport)
    fake_openai.key = odd_key
    with pytest.raises(E.PermissionDeniedError) as info:
        await provider.complete(ask(), target(fake_openai, "chat"))
    assert odd_key not in str(info.value) and odd_key not in json.dumps(info.value.to_dict())


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("not json at all", "expected a JSON body"),
        ('{"object": "chat.completion", "choices": []}', "without choices"),
    ],
)
async def test_a_success_body_that_is_not_the_documented_shape(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, raw: str, problem: str
):
    # a raw 200 answer, as a broken proxy in front of the API might give
    fake_openai.queue(R.error(200, raw=raw, content_type="application/json"))
    with pytest.raises(E.MalformedResponseError, match=problem) as info:
        await provider.complete(ask(), target(fake_openai, "chat"))
    assert info.value.moves_on and (info.value.provider, info.value.model) == ("openai", "gpt-4o")


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("model", ["o1", "o3-mini", "o4-mini"])
async def test_reasoning_models_get_no_temperature_and_say_so(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, model: str
):
    # o-series models answer 400 to any temperature but the default; a skill's temperature 0 must not
    # make them fail. gpt-4o keeps it.
    result = await provider.complete(ask("hi", temperature=0.2), target(fake_openai, api, model))
    assert "temperature" not in sent(fake_openai)
    assert result.warnings == [f"{model} supports only the default temperature; temperature 0.2 was not sent"]
    result = await provider.complete(ask("hi", temperature=0.2), target(fake_openai, api, "gpt-4o"))
    assert sent(fake_openai)["temperature"] == 0.2 and result.warnings == []


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("model", "extra"),
    [
        ("gpt-5", {}),
        ("gpt-5-mini", {}),
        ("gpt-5-nano-2025-08-07", {}),
        ("gpt-5-pro", {}),
        ("gpt-5.2-pro", {}),
        ("gpt-5.5", {}),
        # gpt-5.1 and gpt-5.2 reason only when the call asks them to
        ("gpt-5.1", {"reasoning_effort": "high"}),
        ("gpt-5.2-2025-12-11", {"reasoning_effort": "low"}),
    ],
)
async def test_gpt5_models_that_reason_get_no_temperature_and_say_so(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, model: str, extra: dict[str, Any]
):
    # gpt-5 answers any temperature but 1 with 400 unsupported_value, which lost the target to every skill
    # that sets one (extraction's 0, coding's 0.2)
    if api == "responses" and extra:
        extra = {"reasoning": {"effort": extra["reasoning_effort"]}}
    request = ask("hi", temperature=0)
    request.extra.update(extra)
    result = await provider.complete(request, target(fake_openai, api, model))
    assert "temperature" not in sent(fake_openai)
    assert result.warnings == [f"{model} supports only the default temperature; temperature 0 was not sent"]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("model", "extra"),
    [
        ("gpt-5-chat-latest", {}),  # the chat variant does not reason
        ("gpt-5.1", {}),  # reasoning effort "none" by default
        ("gpt-5.2", {"reasoning_effort": "none"}),
        ("gpt-5-mini", {"reasoning_effort": "none"}),
    ],
)
async def test_gpt5_models_that_do_not_reason_keep_their_temperature(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, model: str, extra: dict[str, Any]
):
    if api == "responses" and extra:
        extra = {"reasoning": {"effort": extra["reasoning_effort"]}}
    request = ask("hi", temperature=0.3)
    request.extra.update(extra)
    result = await provider.complete(request, target(fake_openai, api, model))
    assert sent(fake_openai)["temperature"] == 0.3 and result.warnings == []


@pytest.mark.parametrize("model", ["gpt-5", "gpt-5-mini-2025-08-07", "gpt-5.1", "gpt-5.2"])
async def test_gpt5_models_get_no_stop_and_say_so(fake_openai: FakeOpenAI, provider: OpenAIProvider, model: str):
    # sent, "Unsupported parameter: 'stop' is not supported with this model." lost the target to the call
    result = await provider.complete(ask("Count to 3.", stop=["END"]), target(fake_openai, "chat", model))
    assert "stop" not in sent(fake_openai)
    assert result.warnings == [f"{model} has no stop sequences; 'stop' was not sent"]
    await provider.complete(ask("Count to 3.", stop=["END"]), target(fake_openai, "chat", "gpt-5-chat-latest"))
    assert sent(fake_openai)["stop"] == ["END"]


@pytest.mark.parametrize(
    ("api", "how"),
    [(api, how) for api in APIS for how in ("http", "http-stream", "in-stream")] + [("responses", "failed")],
)
async def test_an_error_keeps_the_request_id_openai_support_asks_for(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, how: str
):
    # OpenAI's support traces a failed request by its x-request-id: it was dropped, so the user had nothing to give
    if how == "failed":
        step: R.Step = R.reply(failed={"code": "server_error", "message": "The model had an error"})
    else:
        step = R.error(500, "The server had an error", type="server_error", code="server_error")
        step.in_stream = how == "in-stream"
    step.headers["x-request-id"] = "req_7f3a9c0d1e2b4a5f"
    fake_openai.queue(step)
    with pytest.raises(E.ServerError) as info:
        await provider.complete(ask(stream=how != "http"), target(fake_openai, api))
    err = info.value
    assert err.details["request_id"] == "req_7f3a9c0d1e2b4a5f"
    assert err.to_dict()["request_id"] == "req_7f3a9c0d1e2b4a5f"
    assert "request id req_7f3a9c0d1e2b4a5f" in err.message  # kept in the ledger's error_message and the trace


async def test_a_request_too_large_for_the_rate_limit_says_how_to_fix_it(
    fake_openai: FakeOpenAI, provider: OpenAIProvider
):
    fake_openai.queue(R.request_too_large())
    with pytest.raises(E.QuotaExhaustedError) as info:
        await provider.complete(ask(max_tokens=16000), target(fake_openai, "chat"))
    assert info.value.retry_after is None
    assert "max_tokens counts toward it" in info.value.message and "usage tier" in info.value.message


async def test_a_response_that_is_not_done_is_no_answer(fake_openai: FakeOpenAI, provider: OpenAIProvider):
    # a background response is answered at once, "queued" with no output: it was returned as an empty answer
    request = ask("Write a long report.")
    request.extra["background"] = True
    with pytest.raises(E.MalformedResponseError) as info:
        await provider.complete(request, target(fake_openai, "responses"))
    assert "'queued'" in info.value.message and "background" in info.value.message
    assert info.value.maybe_billed  # generated (and billed) later, at a cost no one reported


@pytest.mark.parametrize(
    "model", ["o3-pro", "o1-pro-2025-03-19", "gpt-5-pro", "gpt-5.1-codex-mini", "codex-mini-latest"]
)
async def test_a_model_only_the_responses_api_serves_is_called_there(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, model: str
):
    # on Chat Completions OpenAI answers 404 "only supported in v1/responses", which was taken for an unknown model
    result = await provider.complete(ask("hi", max_tokens=8), target(fake_openai, "chat", model))
    assert fake_openai.paths() == ["/v1/responses"] and result.text == "ok"
    assert sent(fake_openai)["max_output_tokens"] == 16  # the Responses API's minimum, which budgets reserve
    assert OpenAIProvider.min_output_tokens(Target("openai", model)) == 16


async def test_chat_asked_of_a_model_only_the_responses_api_serves_says_to_use_it(
    fake_openai: FakeOpenAI, provider: OpenAIProvider
):
    chat = Target("openai", "o3-pro", base_url=fake_openai.url + "/v1", params=(("api", "chat"),))
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(ask("hi"), chat)
    assert info.value.moves_on and "params: {api: responses}" in info.value.message
    assert "check the model name" not in info.value.message  # not a wrong name or base URL


@pytest.mark.parametrize("stream", [False, True])
async def test_the_reasoning_before_a_tool_call_goes_back_with_it(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, stream: bool
):
    # a reasoning model's tool calls must go back with the reasoning items before them (with store false, their
    # encrypted content): they were dropped, and o3 / gpt-5 reasoned again from scratch after every tool result
    fake_openai.queue(R.reply(tool_calls=[R.call("get_weather", {"city": "Paris"}, id="call_w")], reasoning="gAAA-enc"))
    first = await provider.complete(
        ask("Weather in Paris?", tools=[WEATHER], stream=stream), target(fake_openai, "responses", "o3")
    )
    (tc,) = first.tool_calls
    assert tc.signature  # rides on the call, to come back with it (as Gemini's signature and Claude's thinking do)
    followup = LLMRequest(
        [
            Message("user", "Weather in Paris?"),
            Message("assistant", tool_calls=[tc]),
            Message("tool", '{"temp": 21}', tool_call_id="call_w", name="get_weather"),
        ],
        tools=[WEATHER],
        stream=stream,
    )
    await provider.complete(followup, target(fake_openai, "responses", "o3"))
    items = sent(fake_openai)["input"]
    assert [i.get("type") for i in items[1:]] == ["reasoning", "function_call", "function_call_output"]
    assert items[1]["encrypted_content"] == "gAAA-enc" and items[1]["summary"] == []
    # Chat Completions has no place for it: the same history goes there without it
    await provider.complete(followup, target(fake_openai, "chat", "o3"))
    assert "gAAA" not in json.dumps(sent(fake_openai))
    # nor does another model take o3's encrypted reasoning (a fallback, a local server's Responses API)
    await provider.complete(followup, target(fake_openai, "responses", "gpt-4.1"))
    assert "gAAA" not in json.dumps(sent(fake_openai))


def test_openai_reasoning_on_a_call_is_no_gemini_signature():
    from magsag_mcp.providers.gemini import UNSIGNED, GeminiFormat
    from magsag_mcp.providers.openai_responses import ResponsesFormat

    data = {
        "status": "completed",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA-enc"},
            {"type": "function_call", "call_id": "call_w", "name": "get_weather", "arguments": "{}"},
        ],
    }
    (tc,) = ResponsesFormat().parse_response(data, provider="openai", model="o3").tool_calls
    history = [
        Message("user", "hi"),
        Message("assistant", tool_calls=[tc]),
        Message("tool", "{}", tool_call_id="call_w"),
    ]
    body, _ = GeminiFormat().build(LLMRequest(history), "gemini-3-pro-preview", stream=False)
    assert body["contents"][1]["parts"][0]["thoughtSignature"] == UNSIGNED


async def test_a_401_names_the_settings_that_were_sent(fake_openai: FakeOpenAI, transport: Transport):
    # "HTTP 401: OpenAI-Organization header should match organization for API key" did not say that the header
    # was OPENAI_ORG_ID, left set from another account
    fake_openai.organization = "org-mine"
    env = {"OPENAI_API_KEY": DEFAULT_KEY, "OPENAI_ORG_ID": "org-other"}
    with pytest.raises(E.AuthenticationError) as info:
        await OpenAIProvider(env, transport).complete(ask(), target(fake_openai, "chat"))
    assert "OPENAI_API_KEY" in info.value.message
    assert "OPENAI_ORG_ID (sent as OpenAI-Organization)" in info.value.message
    with pytest.raises(E.AuthenticationError) as info:
        await OpenAIProvider({"OPENAI_API_KEY": "sk-wrong-0123456789abcdef"}, transport).complete(
            ask(), target(fake_openai, "chat")
        )
    assert "check OPENAI_API_KEY" in info.value.message and "OPENAI_ORG_ID" not in info.value.message


async def test_json_mode_on_responses_says_json_in_the_input(fake_openai: FakeOpenAI, provider: OpenAIProvider):
    # the Responses API reads "json" in the input messages alone: a skill whose system prompt said "Answer in JSON"
    # was sent it as instructions and answered 400, a bad request that stopped the whole cascade
    fake_openai.queue(R.json_reply({"answer": 42}))
    request = ask("What is six times seven?", system="Answer in JSON.", json_output=True)
    result = await provider.complete(request, target(fake_openai, "responses"))
    assert result.parsed == {"answer": 42}
    body = sent(fake_openai)
    assert "instructions" not in body and body["input"][0] == {"role": "system", "content": "Answer in JSON."}


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("model", ["o3", "gpt-5"])
async def test_an_organization_not_verified_to_stream_gets_its_answer_unstreamed(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, model: str
):
    # OpenAI lets only verified organizations stream o3 and gpt-5; a call streamed (as every call with progress or
    # a large max_tokens is) was answered 400, a bad request that stopped the whole cascade
    fake_openai.verified = False
    fake_openai.queue(R.reply("Paris"))
    result = await provider.complete(ask("Capital of France?", stream=True), target(fake_openai, api, model))
    assert result.text == "Paris"
    assert [r.body.get("stream") for r in fake_openai.requests] == [True, None]
    assert any("verif" in w and "not streamed" in w for w in result.warnings), result.warnings
    # the next call is not refused first again: it goes unstreamed at once, and says why
    result = await provider.complete(ask("Capital of Italy?", stream=True), target(fake_openai, api, model))
    assert [r.body.get("stream") for r in fake_openai.requests] == [True, None, None]
    assert any("verif" in w for w in result.warnings)


async def test_an_overloaded_error_event_in_a_responses_stream_is_retried(
    fake_openai: FakeOpenAI, provider: OpenAIProvider
):
    # the live API's nested error event: {"type": "error", "error": {"type": "service_unavailable_error", ...}}
    fake_openai.queue(
        R.error(
            503,
            "Our servers are currently overloaded. Please try again later.",
            type="service_unavailable_error",
            code="server_is_overloaded",
            in_stream=True,
        )
    )
    with pytest.raises(E.OverloadedError) as info:
        await provider.complete(ask(stream=True), target(fake_openai, "responses"))
    assert info.value.retryable and info.value.moves_on


async def test_reasoning_goes_back_before_the_text_that_came_with_the_calls(
    fake_openai: FakeOpenAI, provider: OpenAIProvider
):
    # output [reasoning, message, function_call] goes back in that order, not with the text ahead of the reasoning
    fake_openai.queue(
        R.reply("Checking.", tool_calls=[R.call("get_weather", {"city": "Oslo"}, id="call_o")], reasoning="e")
    )
    first = await provider.complete(ask("Weather in Oslo?", tools=[WEATHER]), target(fake_openai, "responses", "o3"))
    history = [
        Message("user", "Weather in Oslo?"),
        Message("assistant", first.text, tool_calls=first.tool_calls),
        Message("tool", '{"temp": 3}', tool_call_id="call_o", name="get_weather"),
    ]
    await provider.complete(LLMRequest(history, tools=[WEATHER]), target(fake_openai, "responses", "o3"))
    kinds = [i.get("type") or i["role"] for i in sent(fake_openai)["input"]]
    assert kinds == ["user", "reasoning", "assistant", "function_call", "function_call_output"]


@pytest.mark.parametrize("model", ["gpt-4o-search-preview", "gpt-4o-mini-search-preview-2025-03-11"])
async def test_search_models_get_no_temperature_and_say_so(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, model: str
):
    # "Model incompatible request argument supplied: temperature" (no code, no param) was a bad request that
    # stopped the cascade, for every skill with a temperature
    result = await provider.complete(ask("News today?", temperature=0.2), target(fake_openai, "chat", model))
    assert "temperature" not in sent(fake_openai)
    assert result.warnings == [f"{model} supports only the default temperature; temperature 0.2 was not sent"]


async def test_an_argument_the_model_is_incompatible_with_moves_on(fake_openai: FakeOpenAI, provider: OpenAIProvider):
    fake_openai.queue(R.error(400, "Model incompatible request arguments supplied: frequency_penalty, top_p"))
    with pytest.raises(E.UnsupportedFeatureError) as info:
        await provider.complete(ask("News today?"), target(fake_openai, "chat", "gpt-4o-search-preview"))
    assert info.value.moves_on and "frequency_penalty" in info.value.message


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("arguments", ['{"days": NaN}', '{"days": Infinity}', '{"days": 1e400}'])
async def test_tool_arguments_with_a_number_json_has_not_are_a_malformed_answer(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, arguments: str
):
    # json.loads took NaN and Infinity: the tool call reached the caller with a float no tool can use (null
    # to an MCP client). RFC 8259 has no such values: the model wrote malformed arguments.
    fake_openai.queue(R.reply(tool_calls=[R.call("get_weather", arguments)]))
    with pytest.raises(E.MalformedResponseError, match="not JSON") as info:
        await provider.complete(ask(tools=[WEATHER]), target(fake_openai, api))
    assert info.value.moves_on


@pytest.mark.parametrize("api", APIS)
async def test_a_fine_tune_of_a_reasoning_model_gets_what_its_base_model_takes(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str
):
    # a reinforcement fine-tune of o4-mini refuses a temperature and stop sequences as o4-mini does: its name
    # (ft:o4-mini-...:org:name:id) was not read as o4-mini's, so the skill's temperature 0 was sent, answered 400,
    # and the fine-tune was lost to every call that sets one
    model = "ft:o4-mini-2025-04-16:acme:grader:AbC123"
    request = ask("hi", temperature=0, stop=["END"] if api == "chat" else None)
    result = await provider.complete(request, target(fake_openai, api, model))
    assert not {"temperature", "stop"} & set(sent(fake_openai))
    assert f"{model} supports only the default temperature; temperature 0 was not sent" in result.warnings
    # a fine-tune of a model that does not reason keeps both
    result = await provider.complete(request, target(fake_openai, api, "ft:gpt-4o-mini-2024-07-18:acme::XyZ789"))
    assert sent(fake_openai)["temperature"] == 0 and not result.warnings


@pytest.mark.parametrize("api", APIS)
async def test_a_sampling_setting_a_model_the_rules_do_not_know_refuses_is_sent_again_without_it(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str
):
    # a model newer than the rules (named here gpt-6, reasoning as gpt-5 does) answers the skill's temperature 400
    # "Unsupported value: 'temperature' does not support 0 with this model": the 400 is not billed, and the target
    # was lost to the call, as Azure's deployments and compat's aliases (and Claude's models) no longer are
    fake_openai.deployments["gpt-6"] = "gpt-5"
    result = await provider.complete(ask("hi", temperature=0), target(fake_openai, api, "gpt-6"))
    assert result.text == "ok" and len(fake_openai.requests) == 2
    assert sent(fake_openai, 0)["temperature"] == 0 and "temperature" not in sent(fake_openai)
    (warning,) = result.warnings
    assert warning.startswith("openai:gpt-6 refused 'temperature' (Unsupported value:")
    assert warning.endswith("it was sent again without it")
    # and it is sent none from then on, saying so
    result = await provider.complete(ask("hi", temperature=0), target(fake_openai, api, "gpt-6"))
    assert len(fake_openai.requests) == 3 and "temperature" not in sent(fake_openai)
    assert result.warnings == ["openai:gpt-6 refused 'temperature' on an earlier call; it was not sent"]


async def test_an_unverified_organization_still_gets_the_stream_warning_with_refused_settings(
    fake_openai: FakeOpenAI, provider: OpenAIProvider
):
    # the stream refusal stays OpenAI's own (it says how to verify the organization), not a dropped setting
    fake_openai.verified = False
    result = await provider.complete(ask("hi", stream=True), target(fake_openai, "chat", "o3"))
    assert "verified organizations" in result.warnings[-1]
    assert not any("refused 'stream'" in w for w in result.warnings)


@pytest.mark.parametrize("stream", [False, True])
async def test_chat_spellings_of_reasoning_effort_and_verbosity_reach_the_responses_api(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, stream: bool
):
    # a target's params are written once, and gpt-5-pro (like o3-pro and gpt-5-codex) is called on the Responses
    # API unasked: its reasoning_effort and verbosity were sent as they are, and OpenAI answered 400 "Unsupported
    # parameter: 'reasoning_effort'. In the Responses API, this parameter has moved to 'reasoning.effort'.", a bad
    # request that stopped the call
    fake_openai.queue(R.json_reply({"answer": 42}))
    request = ask("Answer in JSON.", temperature=0, json_output=True, stream=stream)
    request.extra.update({"reasoning_effort": "high", "verbosity": "low"})
    result = await provider.complete(request, Target("openai", "gpt-5-pro", base_url=fake_openai.url + "/v1"))
    assert result.parsed == {"answer": 42}
    body = sent(fake_openai)
    assert fake_openai.paths() == ["/v1/responses"]
    assert body["reasoning"] == {"effort": "high"} and "reasoning_effort" not in body
    assert body["text"] == {"format": {"type": "json_object"}, "verbosity": "low"} and "verbosity" not in body
    assert "temperature" not in body
    # a reasoning of the Responses API's own keeps its other settings, and says the effort it asks for itself
    request = ask("hi", temperature=0.5)
    request.extra.update({"reasoning_effort": "none", "reasoning": {"summary": "auto"}})
    await provider.complete(request, target(fake_openai, "responses", "gpt-5.1"))
    assert sent(fake_openai)["reasoning"] == {"effort": "none", "summary": "auto"}
    assert sent(fake_openai)["temperature"] == 0.5  # effort none: gpt-5.1 does not reason, and takes it


STRICT_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer"}},
    "required": ["answer"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("api", APIS)
async def test_a_strict_json_schema_is_sent_strict(fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str):
    # response_format's json_schema.strict: true (structured outputs: the answer is decoded to the schema) was
    # dropped, so the model was only shown the schema, and answers outside it cost a fallback
    fake_openai.queue(R.json_reply({"answer": 7}))
    request = ask(json_schema=STRICT_SCHEMA, json_schema_name="verdict", json_schema_strict=True)
    result = await provider.complete(request, target(fake_openai, api))
    assert result.parsed == {"answer": 7} and result.warnings == []
    body = sent(fake_openai)
    fmt = body["response_format"]["json_schema"] if api == "chat" else body["text"]["format"]
    assert fmt["strict"] is True and fmt["schema"] == STRICT_SCHEMA


@pytest.mark.parametrize("api", APIS)
async def test_a_schema_strict_mode_refuses_is_sent_again_without_strict(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str
):
    # strict mode takes a subset of JSON Schema; OpenAI answers any other schema 400 invalid_json_schema before the
    # model is asked (not billed). A bad request, it would stop the call at every target; sent without strict, the
    # schema is taken, and the answer is checked against it here all the same
    fake_openai.queue(R.json_reply({"answer": 7}))
    request = ask(json_schema=SCHEMA, json_schema_name="verdict", json_schema_strict=True)
    result = await provider.complete(request, target(fake_openai, api))
    assert result.parsed == {"answer": 7} and len(fake_openai.requests) == 2
    first, second = (sent(fake_openai, i) for i in (0, 1))
    fmt = (lambda b: b["response_format"]["json_schema"]) if api == "chat" else (lambda b: b["text"]["format"])
    assert fmt(first)["strict"] is True and "strict" not in fmt(second)
    (warning,) = result.warnings
    assert warning.startswith("openai:gpt-4o refused the JSON schema as strict (Invalid schema for response_format")
    assert warning.endswith("it was sent again without strict, and the answer was checked against the schema here")


async def test_a_calls_strict_response_format_reaches_openai(fake_openai: FakeOpenAI, tmp_path):
    from magsag_mcp.service import Service

    env = {"OPENAI_API_KEY": DEFAULT_KEY, "OPENAI_BASE_URL": fake_openai.url + "/v1"}
    fake_openai.queue(R.json_reply({"answer": 7}))
    rf = {"type": "json_schema", "json_schema": {"name": "verdict", "strict": True, "schema": STRICT_SCHEMA}}
    async with Service.open(db=tmp_path / "l.db", env=env) as svc:
        mc = {"model": "gpt-4o", "response_format": rf, "stream": True}
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
        assert result.output == {"answer": 7}
        assert sent(fake_openai)["response_format"]["json_schema"]["strict"] is True
        mc = {"model": "gpt-4o", "response_format": {**rf, "json_schema": {**rf["json_schema"], "strict": "yes"}}}
        with pytest.raises(E.PayloadError, match=r"json_schema\.strict must be true or false"):
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})


async def test_every_target_failing_alike_names_what_the_last_said(fake_openai: FakeOpenAI, tmp_path):
    # OPENAI_BASE_URL one /v1 short: every model 404s. The call's error listed only the kinds ("openai:gpt-4o
    # model_not_found; openai:gpt-4o-mini model_not_found"), and the fix each attempt's message named (the base URL
    # should end with the API's version) was in the ledger alone.
    from magsag_mcp.service import Service

    env = {"OPENAI_API_KEY": DEFAULT_KEY, "OPENAI_BASE_URL": fake_openai.url, "MAGSAG_RETRY_BASE_DELAY": "0"}
    async with Service.open(db=tmp_path / "l.db", env=env) as svc:
        mc = {"model": "openai:gpt-4o", "fallbacks": ["openai:gpt-4o-mini"]}
        with pytest.raises(E.AllTargetsFailed) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc})
    message = info.value.message
    assert message.startswith(
        "skill.analysis: every target failed: openai:gpt-4o model_not_found; openai:gpt-4o-mini model_not_found"
    )
    assert "; last error: openai:gpt-4o-mini: " in message and "ends with the API's version" in message
    assert DEFAULT_KEY not in message


@pytest.mark.parametrize("stream", [False, True])
async def test_reasoning_the_endpoint_cannot_verify_is_left_out_and_the_turn_sent_again(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, stream: bool
):
    # The same base URL may no longer decrypt the reasoning it handed out (OPENAI_API_KEY now another
    # organization's, OpenAI's own "could not be verified" incidents): its 400 invalid_encrypted_content is not
    # billed, and was a bad request that stopped the cascade, where the same turn without the reasoning is answered.
    fake_openai.queue(R.reply(tool_calls=[R.call("get_weather", {"city": "Paris"}, id="call_w")], reasoning="gAAA-enc"))
    o3 = target(fake_openai, "responses", "o3")
    (tc,) = (await provider.complete(ask("Weather in Paris?", tools=[WEATHER], stream=stream), o3)).tool_calls
    fake_openai.issued_reasoning["gAAA-enc"] = "azure"  # this organization can no longer decrypt it
    followup = LLMRequest(
        [
            Message("user", "Weather in Paris?"),
            Message("assistant", tool_calls=[tc]),
            Message("tool", '{"temp": 21}', tool_call_id="call_w", name="get_weather"),
        ],
        tools=[WEATHER],
        stream=stream,
    )
    fake_openai.queue(R.reply("21 degrees"))
    result = await provider.complete(followup, o3)
    assert result.text == "21 degrees"
    assert [i.get("type") for i in sent(fake_openai, -2)["input"][1:]] == [
        "reasoning",
        "function_call",
        "function_call_output",
    ]
    assert [i.get("type") for i in sent(fake_openai)["input"][1:]] == ["function_call", "function_call_output"]
    (warning,) = result.warnings
    assert "could not be verified" in warning and "without it" in warning
