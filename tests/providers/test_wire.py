"""Every provider against a spec-checking loopback fake: text, parameters, tools round trip, JSON,
usage, streaming, a stream cut mid-answer, and every error class."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.providers.local import LocalProvider
from magsag_mcp.providers.openai import AzureProvider, CompatProvider, OpenAIProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message, Target, ToolCall, ToolSpec
from tests.fakes.spec import spec_validator
from tests.fakes.sse_reader import sse_blocks

from .fakes import FakeAnthropic, FakeGemini, FakeOpenAI

pytestmark = pytest.mark.anyio
KEY = "sk-test-key-123456"


@dataclass
class Case:
    name: str
    make_fake: Any
    provider_cls: Any
    env: dict[str, str]
    model: str
    suffix: str = ""
    params: tuple = ()


CASES = [
    Case("openai", lambda: FakeOpenAI(KEY), OpenAIProvider, {"OPENAI_API_KEY": KEY}, "gpt-4o", "/v1"),
    Case(
        "openai-responses",
        lambda: FakeOpenAI(KEY),
        OpenAIProvider,
        {"OPENAI_API_KEY": KEY},
        "gpt-4o",
        "/v1",
        (("api", "responses"),),
    ),
    # an api-version with stream_options (2024-09-01-preview or later): the streaming cases need it
    Case(
        "azure",
        lambda: FakeOpenAI(KEY, azure=True),
        AzureProvider,
        {"AZURE_OPENAI_API_KEY": KEY, "AZURE_OPENAI_API_VERSION": "2025-01-01-preview"},
        "gpt4o-prod",
    ),
    Case("local", lambda: FakeOpenAI(KEY), LocalProvider, {"MAGSAG_LOCAL_LLM_API_KEY": KEY}, "llama3.1:70b", "/v1"),
    Case("compat", lambda: FakeOpenAI(KEY), CompatProvider, {"MAGSAG_COMPAT_API_KEY": KEY}, "my-model", "/v1"),
    Case(
        "anthropic",
        lambda: FakeAnthropic(KEY),
        AnthropicProvider,
        {"ANTHROPIC_API_KEY": KEY},
        "claude-3-5-sonnet-20241022",
    ),
    Case("google", lambda: FakeGemini(KEY), GeminiProvider, {"GEMINI_API_KEY": KEY}, "gemini-1.5-pro"),
]
IDS = [c.name for c in CASES]
WEATHER = ToolSpec(
    "get_weather",
    "Weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


async def setup(case: Case, serve, transport: Transport) -> tuple[Any, Any, Target]:
    fake = case.make_fake()
    url = await serve(fake)
    provider = case.provider_cls(case.env, transport)
    provider_name = provider.name
    return fake, provider, Target(provider_name, case.model, url + case.suffix, case.params)


def last_body(fake) -> dict[str, Any]:
    return fake.requests[-1]["body"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_text_system_and_parameters(case: Case, serve, transport):
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "Paris."})
    stop = None if case.params else ["END"]
    req = LLMRequest(
        [Message("user", "Capital of France?")], system="Be brief.", max_tokens=64, temperature=0.2, stop=stop
    )
    result = await provider.complete(req, target)
    assert result.text == "Paris." and result.finish_reason == "stop"
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert fake.violations == []
    body = last_body(fake)
    if case.name in ("anthropic",):
        assert body["system"] == "Be brief." and body["max_tokens"] == 64 and body["stop_sequences"] == ["END"]
    elif case.name == "google":
        assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
        assert body["generationConfig"] == {"maxOutputTokens": 64, "temperature": 0.2, "stopSequences": ["END"]}
        assert body["contents"][0]["role"] == "user"
    elif case.name == "openai-responses":
        assert body["instructions"] == "Be brief." and body["max_output_tokens"] == 64
    else:  # (local: a call with stop sequences goes to chat completions, which honour them)
        assert body["messages"][0] == {"role": "system", "content": "Be brief."}
        field = "max_completion_tokens" if case.name in ("openai", "azure") else "max_tokens"
        assert body[field] == 64 and body["stop"] == ["END"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_tool_round_trip(case: Case, serve, transport):
    fake, provider, target = await setup(case, serve, transport)
    fake.queue(
        {"tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Oslo"}}]},
        {"text": "It is 3 degrees in Oslo."},
    )
    req = LLMRequest([Message("user", "Weather in Oslo?")], tools=[WEATHER], tool_choice="required", max_tokens=100)
    first = await provider.complete(req, target)
    assert first.finish_reason == "tool_calls"
    call = first.tool_calls[0]
    assert (call.name, call.arguments) == ("get_weather", {"city": "Oslo"})
    follow = LLMRequest(
        [
            Message("user", "Weather in Oslo?"),
            Message("assistant", None, tool_calls=[ToolCall(call.id, call.name, call.arguments)]),
            Message("tool", json.dumps({"temp_c": 3}), tool_call_id=call.id, name="get_weather"),
        ],
        tools=[WEATHER],
        max_tokens=100,
    )
    second = await provider.complete(follow, target)
    assert second.text == "It is 3 degrees in Oslo."
    assert fake.violations == []
    body = last_body(fake)
    if case.name == "anthropic":
        assert body["messages"][1]["content"][0]["type"] == "tool_use"
        assert body["messages"][2] == {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": '{"temp_c": 3}'}],
        }
        assert fake.requests[0]["body"]["tool_choice"] == {"type": "any"}
    elif case.name == "google":
        assert body["contents"][1]["parts"][0]["functionCall"] == {"name": "get_weather", "args": {"city": "Oslo"}}
        assert body["contents"][2]["parts"][0]["functionResponse"] == {"name": "get_weather", "response": {"temp_c": 3}}
        assert fake.requests[0]["body"]["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    elif case.name in ("openai-responses", "local"):
        kinds = [i.get("type", "message") for i in body["input"]]
        assert kinds == ["message", "function_call", "function_call_output"]
        assert body["input"][2] == {"type": "function_call_output", "call_id": call.id, "output": '{"temp_c": 3}'}
    else:
        assert body["messages"][1]["tool_calls"][0]["function"]["name"] == "get_weather"
        assert body["messages"][2] == {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 3}'}
        assert fake.requests[0]["body"]["tool_choice"] == "required"


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("with_schema", [False, True])
async def test_json_output(case: Case, serve, transport, with_schema: bool):
    fake, provider, target = await setup(case, serve, transport)
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    if case.name == "anthropic" and with_schema:
        fake.queue({"tool_calls": [{"id": "t1", "name": "json_output", "arguments": {"city": "Oslo"}}]})
    else:
        fake.queue({"text": '{"city": "Oslo"}'})
    req = LLMRequest(
        [Message("user", "Where?")], json_output=True, json_schema=schema if with_schema else None, max_tokens=50
    )
    result = await provider.complete(req, target)
    assert result.parsed == {"city": "Oslo"} and result.tool_calls == []
    assert fake.violations == []
    body = last_body(fake)
    if case.name == "google":
        assert body["generationConfig"]["responseMimeType"] == "application/json"
        assert ("responseSchema" in body["generationConfig"]) == with_schema
    elif case.name == "anthropic" and with_schema:
        assert body["tool_choice"] == {"type": "tool", "name": "json_output"}
    elif case.name == "local":  # JSON mode a schema of any object: LM Studio refuses json_object, Ollama ignores it
        assert body["text"]["format"]["type"] == "json_schema"
        assert with_schema or body["text"]["format"]["schema"] == {"type": "object"}
    elif case.name == "openai-responses":
        assert body["text"]["format"]["type"] == ("json_schema" if with_schema else "json_object")
    elif case.name != "anthropic":
        assert body["response_format"]["type"] == ("json_schema" if with_schema else "json_object")
    fake.queue({"text": "Oslo, I think"})
    with pytest.raises(E.InvalidOutputError, match="invalid JSON"):
        await provider.complete(LLMRequest([Message("user", "Where?")], json_output=True, max_tokens=50), target)


@pytest.mark.parametrize("with_schema", [False, True])
async def test_gemini_json_beside_tools_is_asked_for_not_configured(serve, transport, with_schema: bool):
    # Gemini answers 400 INVALID_ARGUMENT "Function calling with a response mime type: 'application/json' is
    # unsupported": a bad request, which stopped the whole cascade. As with Anthropic, the model is told to
    # answer in JSON and its answer is checked against the schema.
    [case] = [c for c in CASES if c.name == "google"]
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": '{"city": "Oslo"}'})
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    req = LLMRequest(
        [Message("user", "Where?")],
        system="Be brief.",
        tools=[WEATHER],
        json_output=True,
        json_schema=schema if with_schema else None,
        max_tokens=50,
    )
    result = await provider.complete(req, target)
    assert result.parsed == {"city": "Oslo"} and fake.violations == []
    body = last_body(fake)
    assert "responseMimeType" not in body["generationConfig"] and "responseSchema" not in body["generationConfig"]
    (instruction,) = body["systemInstruction"]["parts"]
    assert instruction["text"].startswith("Be brief.\n\n") and "JSON" in instruction["text"]
    assert any("could not be enforced" in w for w in result.warnings) == with_schema
    fake.queue({"text": '{"town": "Oslo"}'})
    if with_schema:
        with pytest.raises(E.InvalidOutputError, match="does not match the requested schema"):
            await provider.complete(req, target)


@pytest.mark.parametrize(
    ("schema", "tool", "arguments", "parsed"),
    [
        # an object whose one property happens to be "value" is the document itself
        ({"type": "object", "properties": {"value": {"type": "integer"}}}, "json_output", {"value": 42}, {"value": 42}),
        # anything but an object goes through the tool wrapped as {"value": ...}, and comes back unwrapped
        ({"type": "array", "items": {"type": "integer"}}, "json_value_output", {"value": [1, 2]}, [1, 2]),
    ],
)
async def test_anthropic_json_tool_unwraps_only_what_it_wrapped(serve, transport, schema, tool, arguments, parsed):
    [case] = [c for c in CASES if c.name == "anthropic"]
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"tool_calls": [{"id": "t1", "name": tool, "arguments": arguments}]})
    result = await provider.complete(LLMRequest([Message("user", "n?")], json_schema=schema, max_tokens=50), target)
    assert result.parsed == parsed and result.tool_calls == []
    body = last_body(fake)
    assert body["tool_choice"] == {"type": "tool", "name": tool} and body["tools"][0]["name"] == tool
    assert body["tools"][0]["input_schema"]["type"] == "object" and fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_json_tool_cut_by_max_tokens_is_not_a_finished_answer(serve, transport, stream: bool):
    # The forced JSON tool's input is the answer; when max_tokens stopped it, it is cut short, not "stop". It was
    # returned as the parsed answer with finish_reason "length"; a document cut mid-string ({"city": "Os"}) that
    # meets a lenient schema is no answer either (OpenAI's and Gemini's cut JSON does not parse): the call fails,
    # saying why, and the next target may serve it.
    [case] = [c for c in CASES if c.name == "anthropic"]
    fake, provider, target = await setup(case, serve, transport)
    cut = {"tool_calls": [{"id": "t1", "name": "json_output", "arguments": {"city": "Os"}}], "finish": "max_tokens"}
    fake.queue(cut)
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    with pytest.raises(E.MalformedResponseError, match="JSON answer was cut short by max_tokens") as info:
        await provider.complete(
            LLMRequest([Message("user", "Where?")], json_schema=schema, max_tokens=5, stream=stream), target
        )
    assert info.value.moves_on and info.value.usage is not None and fake.violations == []


async def test_anthropic_leaves_out_an_empty_turn(serve, transport):
    # RequestTextBlock.text has minLength 1: an empty assistant turn is dropped, and the user turns
    # on either side of it merge (roles must alternate)
    [case] = [c for c in CASES if c.name == "anthropic"]
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "ok"})
    turns = [Message("user", "hi"), Message("assistant", ""), Message("user", "go on"), Message("assistant", "  ")]
    await provider.complete(LLMRequest(turns, max_tokens=50), target)
    assert fake.violations == []
    assert last_body(fake)["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "go on"}]}
    ]


async def test_gemini_leaves_out_an_empty_turn(serve, transport):
    # An empty text part is no data to Gemini: 400 INVALID_ARGUMENT "required oneof field 'data' must have one
    # initialized field", a bad request that stopped the cascade. An empty turn says nothing: it is left out.
    [case] = [c for c in CASES if c.name == "google"]
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "ok"})
    turns = [Message("user", "hi"), Message("assistant", ""), Message("user", "go on"), Message("assistant", None)]
    result = await provider.complete(LLMRequest(turns, max_tokens=50), target)
    assert result.text == "ok" and fake.violations == []
    assert last_body(fake)["contents"] == [
        {"role": "user", "parts": [{"text": "hi"}]},
        {"role": "user", "parts": [{"text": "go on"}]},
    ]


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_usage_with_cache_and_reasoning(case: Case, serve, transport):
    fake, provider, target = await setup(case, serve, transport)
    if case.name == "anthropic":
        fake.queue(
            {
                "text": "ok",
                "usage": {
                    "input_tokens": 100,
                    "output_tokens": 20,
                    "thinking_tokens": 8,
                    "cache_creation_input_tokens": 30,
                    "cache_read_input_tokens": 50,
                },
            }
        )
        expect = dict(input_tokens=180, output_tokens=20, cached_tokens=50, cache_write_tokens=30, reasoning_tokens=8)
    elif case.name == "google":
        fake.queue(
            {
                "text": "ok",
                "usage": {
                    "promptTokenCount": 100,
                    "candidatesTokenCount": 20,
                    "cachedContentTokenCount": 40,
                    "thoughtsTokenCount": 15,
                },
            }
        )
        expect = dict(input_tokens=100, output_tokens=35, cached_tokens=40, cache_write_tokens=0, reasoning_tokens=15)
    elif case.name == "openai-responses":  # (local: a max_tokens below the Responses minimum goes to chat)
        fake.queue(
            {
                "text": "ok",
                "usage": {"input_tokens": 100, "output_tokens": 20, "cached_tokens": 40, "reasoning_tokens": 12},
            }
        )
        expect = dict(input_tokens=100, output_tokens=20, cached_tokens=40, cache_write_tokens=0, reasoning_tokens=12)
    else:
        fake.queue(
            {
                "text": "ok",
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "cached_tokens": 40, "reasoning_tokens": 12},
            }
        )
        expect = dict(input_tokens=100, output_tokens=20, cached_tokens=40, cache_write_tokens=0, reasoning_tokens=12)
    result = await provider.complete(LLMRequest([Message("user", "hi")], max_tokens=10), target)
    u = result.usage
    got = dict(
        input_tokens=u.input_tokens,
        output_tokens=u.output_tokens,
        cached_tokens=u.cached_tokens,
        cache_write_tokens=u.cache_write_tokens,
        reasoning_tokens=u.reasoning_tokens,
    )
    assert got == expect


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_streaming_text_tools_and_usage(case: Case, serve, transport):
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "one two three four", "usage": {}})
    deltas: list[int] = []
    req = LLMRequest([Message("user", "count")], max_tokens=50, stream=True)
    result = await provider.complete(req, target, progress=lambda e, d: deltas.append(d["chars"]))
    assert result.text.strip() == "one two three four"
    assert result.usage.output_tokens > 0 and deltas and deltas == sorted(deltas)
    assert fake.violations == []
    fake.queue({"tool_calls": [{"id": "call_9", "name": "get_weather", "arguments": {"city": "Rome"}}]})
    result = await provider.complete(
        LLMRequest([Message("user", "w")], tools=[WEATHER], max_tokens=50, stream=True), target
    )
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("get_weather", {"city": "Rome"})]


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_stream_cut_mid_answer_is_a_failed_attempt(case: Case, serve, transport):
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "a b c d e f g h i j k l", "cut": True})
    with pytest.raises(E.ProviderConnectionError) as info:
        await provider.complete(LLMRequest([Message("user", "x")], max_tokens=50, stream=True), target)
    assert info.value.moves_on and info.value.retryable
    # aiohttp's "Response payload is not completed: <TransferEncodingError: 400, message=...>" was the message, in the
    # error and the ledger: a 400 reads as a request the vendor refused (at no cost) where this one may be billed
    assert info.value.message.startswith("the stream broke mid-answer: ")
    assert "(the connection ended before the answer did)" in info.value.message
    # (a status word 400, not the loopback port the message may name: ":40041" held "400" and failed this by chance)
    assert not re.search(r"(?<![:\d])400(?!\d)", info.value.message) and "Error:" not in info.value.message


OPENAI_ERRORS = [
    (401, "invalid_api_key", E.AuthenticationError),
    (403, "permission_denied", E.PermissionDeniedError),
    (404, "model_not_found", E.ModelNotFoundError),
    (400, "invalid_request_error", E.BadRequestError),
    (400, "context_length_exceeded", E.ContextTooLongError),
    (400, "content_filter", E.ContentFilteredError),
    (429, "rate_limit_exceeded", E.RateLimitError),
    (429, "insufficient_quota", E.QuotaExhaustedError),
    (500, "server_error", E.ServerError),
    (503, "server_error", E.OverloadedError),
]
ANTHROPIC_ERRORS = [
    (401, "authentication_error", E.AuthenticationError),
    (403, "permission_error", E.PermissionDeniedError),
    (404, "not_found_error", E.ModelNotFoundError),
    (400, "invalid_request_error", E.BadRequestError),
    (413, "request_too_large", E.ContextTooLongError),
    (429, "rate_limit_error", E.RateLimitError),
    (402, "billing_error", E.QuotaExhaustedError),
    (500, "api_error", E.ServerError),
    (529, "overloaded_error", E.OverloadedError),
]
GEMINI_ERRORS = [
    (401, "UNAUTHENTICATED", E.AuthenticationError),
    (403, "PERMISSION_DENIED", E.PermissionDeniedError),
    (404, "NOT_FOUND", E.ModelNotFoundError),
    (400, "INVALID_ARGUMENT", E.BadRequestError),
    (429, "RESOURCE_EXHAUSTED", E.RateLimitError),
    (500, "INTERNAL", E.ServerError),
    (503, "UNAVAILABLE", E.OverloadedError),
    (504, "DEADLINE_EXCEEDED", E.ProviderTimeoutError),
    # Google's backend cancelling a request under heavy load ("The operation was cancelled.", reason backendError):
    # not a refusal of the request (an unexpected status, not asked again), a server's failure
    (499, "CANCELLED", E.ServerError),
]


def _error_cases():
    for case in CASES:
        table = (
            ANTHROPIC_ERRORS if case.name == "anthropic" else GEMINI_ERRORS if case.name == "google" else OPENAI_ERRORS
        )
        for status, kind, cls in table:
            yield pytest.param(case, status, kind, cls, id=f"{case.name}-{status}-{kind}")


@pytest.mark.parametrize(("case", "status", "kind", "cls"), list(_error_cases()))
async def test_every_error_class(case: Case, serve, transport, status: int, kind: str, cls: type):
    fake, provider, target = await setup(case, serve, transport)
    message = {
        "context_length_exceeded": "This model's maximum context length is 8192 tokens",
        "model_not_found": f"The model '{target.model}' does not exist or you do not have access to it.",
    }.get(kind, f"scripted {kind}")
    if case.name == "google":
        body = {"error": {"code": status, "message": message, "status": kind}}
    elif case.name == "anthropic":
        body = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        body = {"error": {"message": message, "type": kind, "param": None, "code": kind}}
    fake.queue({"error": status, "body": body})
    if case.name == "local" and status in (404,):
        cls = E.ModelNotFoundError
    with pytest.raises(cls) as info:
        await provider.complete(LLMRequest([Message("user", "x")], max_tokens=5), target)
    err = info.value
    assert type(err) is cls, (type(err), cls)
    assert err.provider == target.provider and err.status == status
    assert KEY not in str(err)
    assert err.retryable == cls.retryable and err.moves_on == cls.moves_on
    # a server that timed out while it worked on the request (504) may bill it, and Azure bills a prompt its
    # content filter refused (400 content_filter); any other status is a refusal
    assert err.maybe_billed is (status == 504 or (case.name == "azure" and kind == "content_filter"))


async def test_retry_after_in_seconds_http_date_and_ms(serve, transport):
    fake = FakeOpenAI(KEY)
    url = await serve(fake)
    provider = OpenAIProvider({"OPENAI_API_KEY": KEY}, transport)
    target = Target("openai", "gpt-4o", url + "/v1")
    rl = {"error": {"message": "slow down", "type": "rate_limit_exceeded", "param": None, "code": None}}
    fake.queue(
        {"error": 429, "body": rl, "headers": {"Retry-After": "7"}},
        {"error": 429, "body": rl, "headers": {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}},
        {"error": 429, "body": rl, "headers": {"retry-after-ms": "250"}},
        {
            "error": 429,
            "body": rl,
            "headers": {"x-ratelimit-reset-requests": "1m30s", "x-ratelimit-remaining-requests": "0"},
        },
    )
    waits = []
    for _ in range(4):
        with pytest.raises(E.RateLimitError) as info:
            await provider.complete(LLMRequest([Message("user", "x")]), target)
        waits.append((type(info.value), info.value.retry_after))
    assert waits[0] == (E.RateLimitError, 7.0)
    assert waits[1][0] is E.QuotaExhaustedError and waits[1][1] > 3600  # far away: move on, don't wait
    assert waits[2] == (E.RateLimitError, 0.25)
    assert waits[3][0] is E.QuotaExhaustedError and waits[3][1] == 90.0


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_key_never_in_the_url(case: Case, serve, transport):
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "ok"})
    await provider.complete(LLMRequest([Message("user", "x")], max_tokens=5), target)
    req = fake.requests[-1]
    assert KEY not in req["path"] and all(KEY not in v for v in req["query"].values())


async def test_canned_responses_follow_the_specs():
    """The fakes' own answers validate against the vendors' response schemas, so they cannot drift."""
    from aiohttp.test_utils import make_mocked_request

    step = {"text": "hi", "tool_calls": [{"id": "c1", "name": "f", "arguments": {"a": 1}}]}
    chat = FakeOpenAI().reply(make_mocked_request("POST", "/v1/chat/completions"), {"model": "gpt-4o"}, step)
    spec_validator("openai").assert_valid("CreateChatCompletionResponse", chat)
    spec_validator("azure").assert_valid("createChatCompletionResponse", chat)
    resp = FakeOpenAI().reply(make_mocked_request("POST", "/v1/responses"), {"model": "gpt-4o"}, step)
    spec_validator("openai").assert_valid("Response", resp)
    msg = FakeAnthropic().reply(make_mocked_request("POST", "/v1/messages"), {"model": "claude-x"}, step)
    spec_validator("anthropic").assert_valid("Message", msg)
    gem = FakeGemini().reply(make_mocked_request("POST", "/v1beta/models/g:generateContent"), {}, step)
    spec_validator("gemini").assert_valid("GenerateContentResponse", gem)


async def test_the_gemini_fakes_model_list_follows_the_spec(serve):
    """ListModels as the Gemini fake answers it (what ``magsag doctor --probe`` asks) is the spec's
    ListModelsResponse: each Model with the name, baseModelId and version the spec requires."""
    import aiohttp

    fake = FakeGemini(KEY)
    url = await serve(fake)
    headers = {"x-goog-api-key": KEY}
    async with aiohttp.ClientSession() as session, session.get(url + "/v1beta/models", headers=headers) as resp:
        assert resp.status == 200
        spec_validator("gemini").assert_valid("ListModelsResponse", await resp.json())


@pytest.mark.parametrize(
    ("wire", "with_usage", "tokens"),
    [
        ("chat", {"usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}}, (12, 5)),
        ("responses", {"usage": {"input_tokens": 12, "output_tokens": 5, "total_tokens": 17}}, (12, 5)),
        ("anthropic", {"usage": {"input_tokens": 12, "output_tokens": 5}}, (12, 5)),
        ("gemini", {"usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 5}}, (12, 5)),
    ],
)
def test_each_wire_format_says_when_a_body_reports_no_usage(wire: str, with_usage: dict, tokens: tuple):
    # Zero tokens read from a missing usage object are not a count: the cost is then unknown, not $0.
    from magsag_mcp.providers.anthropic import AnthropicMessagesFormat
    from magsag_mcp.providers.gemini import GeminiFormat
    from magsag_mcp.providers.openai_chat import ChatCompletionsFormat
    from magsag_mcp.providers.openai_responses import ResponsesFormat

    fmt = {
        "chat": ChatCompletionsFormat,
        "responses": ResponsesFormat,
        "anthropic": AnthropicMessagesFormat,
        "gemini": GeminiFormat,
    }[wire]()
    reported = fmt.usage_in(with_usage)
    assert reported is not None and reported.reported and (reported.input_tokens, reported.output_tokens) == tokens
    for body in ({}, {next(iter(with_usage)): None}, {next(iter(with_usage)): {}}):
        missing = fmt.usage_in(body)
        assert missing is not None and missing.reported is False, body


async def _sse_events(url: str, body: dict[str, Any], headers: dict[str, str]) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) of each SSE block a fake streams, read with a plain client."""
    import aiohttp

    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        return [(name, json.loads(data)) for name, data in await sse_blocks(resp)]


async def test_openai_fake_responses_stream_events_follow_the_spec(serve):
    """Each event the OpenAI fake streams from the Responses API is a ResponseStreamEvent named by its type, and a
    text delta names a message the response holds: a call without text streams no text delta (of an item that is
    not there), as the API does not."""
    fake = FakeOpenAI(KEY)
    url = await serve(fake)
    fake.queue(
        {"text": "one two"},
        {"text": None, "tool_calls": [{"id": "c1", "name": "f", "arguments": {"a": 1}}]},
        {"text": "cut", "finish": "length"},
    )
    body = {"model": "gpt-4o", "input": "hi", "stream": True}
    for _ in range(3):
        events = await _sse_events(url + "/v1/responses", body, {"Authorization": f"Bearer {KEY}"})
        for name, data in events:
            assert name == data["type"]
            spec_validator("openai").assert_valid("ResponseStreamEvent", data)
        final = events[-1][1]["response"]
        messages = {item["id"] for item in final["output"] if item["type"] == "message"}
        deltas = [data for name, data in events if name == "response.output_text.delta"]
        assert all(d["item_id"] in messages for d in deltas), (deltas, final["output"])
        assert "".join(d["delta"] for d in deltas) == "".join(
            part["text"] for item in final["output"] if item["type"] == "message" for part in item["content"]
        )
    assert fake.violations == []


async def test_openai_fake_responses_stream_sends_the_spec_sequence(serve):
    """The OpenAI fake streams a Responses answer as the API does: the response created and in progress, each output
    item added, a message's content part added, its text deltas, the text done, the part done, the item done (a
    call's arguments streamed and done between its item's added and done), then the terminal event; sequence_number
    counts up from 0, and every event of an item names its output_index (and item_id, content_index where the spec
    has them). A fake that sent the deltas alone hid a reader that misread the events between them."""
    fake = FakeOpenAI(KEY)
    url = await serve(fake)
    fake.queue({"text": "one two", "tool_calls": [{"id": "c1", "name": "f", "arguments": {"a": 1}}]})
    body = {"model": "gpt-4o", "input": "hi", "stream": True}
    events = await _sse_events(url + "/v1/responses", body, {"Authorization": f"Bearer {KEY}"})
    assert [name for name, _ in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    for _, data in events:
        spec_validator("openai").assert_valid("ResponseStreamEvent", data)
    where = [(data.get("output_index"), data.get("item_id"), data.get("content_index")) for _, data in events[2:-1]]
    assert where == [(0, None, None)] + [(0, "msg_1", 0)] * 5 + [(0, None, None), (1, None, None)] + [
        (1, "fc_c1", None)
    ] * 3 + [(1, None, None)]
    assert events[6][1]["text"] == "one two" and events[7][1]["part"]["text"] == "one two"
    assert events[12][1]["arguments"] == '{"a": 1}' and events[12][1]["name"] == "f"
    assert events[2][1]["item"]["status"] == "in_progress" and events[8][1]["item"]["status"] == "completed"
    assert [item["id"] for item in events[-1][1]["response"]["output"]] == ["msg_1", "fc_c1"]
    # the response begun says nothing of how it will end: in progress, no output, no usage, no incomplete_details
    fake.queue({"text": "cut short", "finish": "length"})
    events = await _sse_events(url + "/v1/responses", body, {"Authorization": f"Bearer {KEY}"})
    for _, data in events[:2]:
        begun = data["response"]
        assert begun["status"] == "in_progress" and begun["output"] == [] and "usage" not in begun
        assert begun["incomplete_details"] is None
    assert events[-1][0] == "response.incomplete" and events[-1][1]["sequence_number"] == len(events) - 1
    assert events[-1][1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert fake.violations == []


@pytest.mark.parametrize("include_usage", [True, False, None])
async def test_openai_fake_chat_stream_reports_usage_as_asked(serve, include_usage):
    """The OpenAI fake's Chat Completions stream is chunks of the spec's CreateChatCompletionStreamResponse, with the
    usage chunk (choices empty) only where stream_options.include_usage asks for it, and then a null usage on every
    other chunk, as the spec says; a stream not asked for it counts nothing."""
    fake = FakeOpenAI(KEY)
    url = await serve(fake)
    fake.queue({"text": "one two", "tool_calls": [{"id": "c1", "name": "f", "arguments": {"a": 1}}]})
    body: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    if include_usage is not None:
        body["stream_options"] = {"include_usage": include_usage}
    import aiohttp

    headers = {"Authorization": f"Bearer {KEY}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + "/v1/chat/completions", json=body, headers=headers) as resp,
    ):
        blocks = [data for _, data in await sse_blocks(resp)]
    assert blocks[-1] == "[DONE]"
    chunks = [json.loads(data) for data in blocks[:-1]]
    for chunk in chunks:
        spec_validator("openai").assert_valid("CreateChatCompletionStreamResponse", chunk)
    if include_usage:
        assert [c["usage"] for c in chunks[:-1]] == [None] * (len(chunks) - 1)
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 18
    else:
        assert all("usage" not in c and c["choices"] for c in chunks)
    assert fake.violations == []


async def test_anthropic_fake_stream_events_follow_the_spec(serve):
    """Each event the Anthropic fake streams is a MessageStreamEvent (ping aside, which this copy of the
    spec does not list), named by its type: a fake that leaves out what the API always sends hides bugs."""
    fake = FakeAnthropic(KEY)
    url = await serve(fake)
    fake.queue(
        {"text": "one two", "tool_calls": [{"id": "t1", "name": "f", "arguments": {"a": 1}}]},
        {
            "text": None,
            "finish": "refusal",
            "stop_details": {"type": "refusal", "category": "cyber", "explanation": "x"},
        },
    )
    body = {"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    for _ in range(2):
        events = await _sse_events(url + "/v1/messages", body, headers)
        for name, data in events:
            assert name == data["type"]
            if name != "ping":
                spec_validator("anthropic").assert_valid("MessageStreamEvent", data)
        assert [n for n, _ in events][-2:] == ["message_delta", "message_stop"]
    assert fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_an_answer_that_calls_a_tool_is_not_judged_as_the_json_answer(serve, transport, case: Case, stream):
    # A model's words before it calls a tool ("Let me look that up.") are no JSON document, and the call that asked
    # for JSON beside tools failed as "invalid JSON": an answer that calls a tool is not the final answer. Its text
    # is kept, and no parsed document is made of it; the answer that calls no tool is judged as before.
    fake, provider, target = await setup(case, serve, transport)
    fake.queue(
        {
            "text": "Let me look that up.",
            "tool_calls": [{"id": "c1", "name": "get_weather", "arguments": {"city": "Oslo"}}],
        },
        {"text": "Oslo, I think"},
    )
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    request = LLMRequest(
        [Message("user", "Where?")], tools=[WEATHER], json_output=True, json_schema=schema, max_tokens=50, stream=stream
    )
    called = await provider.complete(request, target)
    assert [(c.name, c.arguments) for c in called.tool_calls] == [("get_weather", {"city": "Oslo"})]
    assert called.text.strip() == "Let me look that up." and called.parsed is None
    with pytest.raises(E.InvalidOutputError, match="invalid JSON"):
        await provider.complete(request, target)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_json_calls_tool_call_answer_leaves_its_inline_thinking_out_as_a_text_answer_does(
    serve, transport, case: Case, stream
):
    # The tool-call answer's text is the output (not judged as JSON), so it is a text answer: a local reasoning model's
    # <think>...</think> before "Let me look that up." (which restates the prompt) is left out of it as it is of the
    # answer to a call that asked for no JSON; it was kept, as only a JSON document's parse left thinking out.
    fake, provider, target = await setup(case, serve, transport)
    thought = "<think>\nThe user, Kari Nordmann, wants the weather.\n</think>\n\nLet me look that up."
    call = {"id": "c1", "name": "get_weather", "arguments": {"city": "Oslo"}}
    fake.queue({"text": thought, "tool_calls": [call]}, {"text": thought, "tool_calls": [call]})
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    for json_asked in (False, True):
        request = LLMRequest(
            [Message("user", "Where?")],
            tools=[WEATHER],
            json_output=json_asked,
            json_schema=schema if json_asked else None,
            max_tokens=50,
            stream=stream,
        )
        called = await provider.complete(request, target)
        assert called.text.strip() == "Let me look that up.", (json_asked, called.text)
        assert called.parsed is None and any("inline thinking" in w for w in called.warnings), called.warnings
