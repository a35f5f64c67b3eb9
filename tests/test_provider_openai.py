"""The OpenAI provider, Chat Completions and Responses, against the spec-checking loopback server.

Every request the provider sends is validated against the OpenAI spec by the fake (the ``fake_openai``
fixture fails the test on any violation); the assertions here check what was sent and what came back.

Here: requests and plain answers, usage, tools and JSON output. The reasoning models' rules are in
test_provider_openai_reasoning.py, streams and how an answer ends in test_provider_openai_streams.py, errors
in test_provider_openai_errors.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.openai import OpenAIProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message, Target
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI
from tests.llm_requests import ask
from tests.provider_openai_helpers import APIS, ENV, WEATHER, sent, target

pytestmark = pytest.mark.anyio

PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses"}


@pytest.fixture
def provider(transport: Transport) -> OpenAIProvider:
    return OpenAIProvider(ENV, transport)


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


async def test_json_mode_on_responses_says_json_in_the_input(fake_openai: FakeOpenAI, provider: OpenAIProvider):
    # the Responses API reads "json" in the input messages alone: a skill whose system prompt said "Answer in JSON"
    # was sent it as instructions and answered 400, a bad request that stopped the whole cascade
    fake_openai.queue(R.json_reply({"answer": 42}))
    request = ask("What is six times seven?", system="Answer in JSON.", json_output=True)
    result = await provider.complete(request, target(fake_openai, "responses"))
    assert result.parsed == {"answer": 42}
    body = sent(fake_openai)
    assert "instructions" not in body and body["input"][0] == {"role": "system", "content": "Answer in JSON."}


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
