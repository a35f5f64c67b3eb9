"""The loopback vendors (:mod:`magsag_mcp.loopback`, which the guide's examples and the demos run on) answer in each
vendor's documented shape: every body, stream event and error validates against the vendor's own spec."""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web

from magsag_mcp import errors as E
from magsag_mcp.loopback import LoopbackUpstream
from magsag_mcp.providers.anthropic import AnthropicProvider
from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.providers.openai import AzureProvider, OpenAIProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message, Target, ToolSpec
from tests.fakes.spec import spec_validator

pytestmark = pytest.mark.anyio

TOOL_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
USER = [{"role": "user", "content": "hi"}]

#: (path, request, the spec, the answer's schema, the stream event's schema) by API; each asked with and without a tool
CALLS: dict[str, tuple[str, dict[str, Any], str, str, str]] = {
    "chat": (
        "/v1/chat/completions",
        {"model": "m-chat", "messages": USER},
        "openai",
        "CreateChatCompletionResponse",
        "CreateChatCompletionStreamResponse",
    ),
    "responses": ("/v1/responses", {"model": "m-resp", "input": "hi"}, "openai", "Response", "ResponseStreamEvent"),
    "anthropic": (
        "/v1/messages",
        {"model": "m-claude", "max_tokens": 64, "messages": USER},
        "anthropic",
        "Message",
        "MessageStreamEvent",
    ),
    "gemini": (
        "/v1beta/models/m-gemini:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        "gemini",
        "GenerateContentResponse",
        "GenerateContentResponse",
    ),
}
TOOLS = {
    "chat": {"tools": [{"type": "function", "function": {"name": "weather", "parameters": TOOL_SCHEMA}}]},
    "responses": {"tools": [{"type": "function", "name": "weather", "parameters": TOOL_SCHEMA, "strict": False}]},
    "anthropic": {"tools": [{"name": "weather", "input_schema": TOOL_SCHEMA}]},
    "gemini": {"tools": [{"functionDeclarations": [{"name": "weather", "parameters": TOOL_SCHEMA}]}]},
}


async def _post(url: str, body: dict[str, Any]) -> tuple[int, str]:
    headers = {"anthropic-version": "2023-06-01"}
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.text()


def _events(text: str) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) of each SSE block; ``[DONE]`` as the string it is."""
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        data = fields["data"]
        events.append((fields.get("event"), data if data == "[DONE]" else json.loads(data)))
    return events


@pytest.mark.parametrize("tools", [False, True], ids=["text", "tool call"])
@pytest.mark.parametrize("api", sorted(CALLS))
async def test_answers_follow_the_vendor_spec(upstream: LoopbackUpstream, api: str, tools: bool):
    # Before: the Responses API's answer lacked error, incomplete_details, instructions, tools, tool_choice,
    # parallel_tool_calls, metadata, temperature, top_p, its text's logprobs and usage's cache_write_tokens; Claude's
    # lacked stop_details, container, a text's citations, a tool call's caller and most of usage
    path, request, spec, answer, _ = CALLS[api]
    status, text = await _post(upstream.base_url + path, {**request, **(TOOLS[api] if tools else {})})
    assert status == 200
    body = json.loads(text)
    spec_validator(spec).assert_valid(answer, body)
    called = json.dumps(body)
    assert ('"weather"' in called) is tools


@pytest.mark.parametrize("tools", [False, True], ids=["text", "tool call"])
@pytest.mark.parametrize("api", sorted(CALLS))
async def test_stream_events_follow_the_vendor_spec(upstream: LoopbackUpstream, api: str, tools: bool):
    # Before: the Responses API's stream was an output_text.delta without its logprobs and a response.completed (no
    # response.created, no item or part events), Claude's message_start, content_block_start and message_delta each
    # lacked fields the spec requires
    path, request, spec, _, event_schema = CALLS[api]
    stream = {"stream": True} if api != "gemini" else {}
    url = upstream.base_url + path.replace(":generateContent", ":streamGenerateContent?alt=sse")
    status, text = await _post(url, {**request, **stream, **(TOOLS[api] if tools else {})})
    assert status == 200
    events = _events(text)
    for name, data in events:
        if data == "[DONE]" or data.get("type") == "ping":  # (ping is not in this copy of Anthropic's spec)
            continue
        spec_validator(spec).assert_valid(event_schema, data)
        if name is not None:
            assert name == data["type"]
    kinds = [data["type"] for _, data in events if isinstance(data, dict) and "type" in data]
    if api == "responses":
        assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
        numbers = [data["sequence_number"] for _, data in events]
        assert numbers == list(range(len(events)))
    elif api == "anthropic":
        assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]


@pytest.mark.parametrize(
    ("api", "status"), [("chat", 429), ("chat", 500), ("anthropic", 529), ("anthropic", 429), ("gemini", 503)]
)
async def test_planned_errors_are_the_vendors_own(api: str, status: int):
    # Before: Anthropic's error body had no request_id, which its ErrorResponse requires
    path, request, spec, _, _ = CALLS[api]
    model = path.split("/")[-1].split(":")[0] if api == "gemini" else request["model"]
    up = LoopbackUpstream(plans={model: [status]})
    await up.start()
    try:
        got, text = await _post(up.base_url + path, request)
    finally:
        await up.stop()
    assert got == status
    body = json.loads(text)
    if api == "gemini":
        spec_validator(spec).assert_valid("Status", body["error"])
    else:
        spec_validator(spec).assert_valid("ErrorResponse", body)


#: an api-version with stream_options (without which Azure's answers are not streamed), and one of the v1 API
STREAMS_USAGE = {"AZURE_OPENAI_API_VERSION": "2025-03-01-preview"}
PROVIDERS: dict[str, tuple[Any, str, str, tuple[tuple[str, Any], ...], dict[str, str]]] = {
    "chat": (OpenAIProvider, "openai", "gpt-4o", (), {}),
    "responses": (OpenAIProvider, "openai", "gpt-4o", (("api", "responses"),), {}),
    "azure": (AzureProvider, "azure", "gpt4o-prod", (), STREAMS_USAGE),
    # a dated preview's Responses API (/openai/responses?api-version=...), and the v1 API's (/openai/v1/...)
    "azure-responses": (AzureProvider, "azure", "gpt4o-prod", (("api", "responses"),), STREAMS_USAGE),
    "azure-v1": (AzureProvider, "azure", "gpt4o-prod", (), {"AZURE_OPENAI_API_VERSION": "v1"}),
    "azure-v1-responses": (
        AzureProvider,
        "azure",
        "gpt4o-prod",
        (("api", "responses"),),
        {"AZURE_OPENAI_API_VERSION": "v1"},
    ),
    "anthropic": (AnthropicProvider, "anthropic", "claude-sonnet-4-5", (), {}),
    "gemini": (GeminiProvider, "google", "gemini-2.5-flash", (), {}),
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("api", sorted(PROVIDERS))
async def test_the_providers_read_what_the_loopback_answers(upstream: LoopbackUpstream, api: str, stream: bool):
    """Its answers, whole and streamed, read by the providers as a real vendor's are: the text with its usage, a tool
    call with its arguments, and the tool's result answered with text."""
    cls, provider_name, model, params, settings = PROVIDERS[api]
    weather = ToolSpec("weather", "Weather for a city", TOOL_SCHEMA)
    transport = Transport()
    try:
        provider = cls({**upstream.env(), **settings}, transport)
        target = Target(provider_name, model, params=params)
        said = await provider.complete(LLMRequest([Message("user", "hi")], max_tokens=64, stream=stream), target)
        assert (said.text, said.finish_reason, said.warnings) == (f"loopback answer from {model}", "stop", [])
        assert said.usage.reported and said.usage.input_tokens > 0 and said.usage.output_tokens > 0
        asked = LLMRequest([Message("user", "weather?")], max_tokens=64, stream=stream, tools=[weather])
        called = await provider.complete(asked, target)
        (call,) = called.tool_calls
        assert (call.name, call.arguments, called.finish_reason) == ("weather", {"city": "revenue"}, "tool_calls")
        turn = [
            *asked.messages,
            Message("assistant", None, tool_calls=[call]),
            Message("tool", '{"c": 20}', tool_call_id=call.id),
        ]
        answered = await provider.complete(LLMRequest(turn, max_tokens=64, stream=stream, tools=[weather]), target)
        assert answered.text == f"loopback answer from {model}" and not answered.tool_calls
    finally:
        await transport.aclose()


#: the Azure deployment route, whose filtered answers carry Azure's filter results, checked against Azure's spec
AZURE_CHAT = (
    "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21",
    {"messages": USER},
    "azure",
    "createChatCompletionResponse",
    "createChatCompletionStreamResponse",
)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("api", [*sorted(CALLS), "azure"])
async def test_a_planned_filter_stops_the_answer_in_the_vendors_own_words(api: str, stream: bool):
    # The loopback had no way to answer as a content filter does (a 200 whose answer the filter stopped part way):
    # the offline examples and demos could not show what a caller gets then. Each vendor's words, by its spec.
    path, request, spec, answer, event_schema = AZURE_CHAT if api == "azure" else CALLS[api]
    model = (
        "gpt4o-prod" if api == "azure" else path.split("/")[-1].split(":")[0] if api == "gemini" else request["model"]
    )
    up = LoopbackUpstream(plans={model: ["filtered"]})
    await up.start()
    try:
        url = up.base_url + path
        if stream:
            url = url.replace(":generateContent", ":streamGenerateContent?alt=sse")
        status, text = await _post(url, {**request, **({"stream": True} if stream and api != "gemini" else {})})
    finally:
        await up.stop()
    assert status == 200 and up.failures[model] == 1
    if stream:
        events = [data for _, data in _events(text) if data != "[DONE]" and data.get("type") != "ping"]
        for data in events:
            spec_validator(spec).assert_valid(event_schema, data)
        body = events[-1]["response"] if api == "responses" else events
    else:
        body = json.loads(text)
        spec_validator(spec).assert_valid(answer, body)
    said = json.dumps(body)
    ends = {
        "chat": '"finish_reason": "content_filter"',
        "azure": '"violence": {"filtered": true, "severity": "high"}',
        "responses": '"incomplete_details": {"reason": "content_filter"}',
        "anthropic": '"stop_reason": "refusal"',
        "gemini": '"finishReason": "SAFETY"',
    }
    assert ends[api] in said, said
    if api == "responses" and stream:
        assert _events(text)[-1][1]["type"] == "response.incomplete"
    # the part that came before the stop, billed as the upstream's books say
    assert "loopback an" in said and "loopback answer from" not in said
    assert up.log and up.log[0][2] > 0


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("api", sorted(PROVIDERS))
async def test_the_providers_read_a_planned_filter_as_content_filtered(api: str, stream: bool):
    cls, provider_name, model, params, settings = PROVIDERS[api]
    up = LoopbackUpstream(plans={model: ["filtered"]})
    await up.start()
    transport = Transport()
    try:
        provider = cls({**up.env(), **settings}, transport)
        target = Target(provider_name, model, params=params)
        with pytest.raises(E.ContentFilteredError) as info:
            await provider.complete(LLMRequest([Message("user", "hi")], max_tokens=64, stream=stream), target)
        # and the next call, planned to pass, is answered
        said = await provider.complete(LLMRequest([Message("user", "hi")], max_tokens=64, stream=stream), target)
    finally:
        await transport.aclose()
        await up.stop()
    assert "the part of the answer that came before it is not returned" in info.value.message
    assert info.value.usage is not None and info.value.usage.output_tokens == up.log[0][2]
    if api.startswith("azure") and "responses" not in api:
        assert "(filtered: violence (high))" in info.value.message
    assert said.text == f"loopback answer from {model}"


@pytest.mark.parametrize("api", ["chat", "responses", "azure", "anthropic", "gemini"])
async def test_a_planned_quota_is_read_as_a_spent_quota_and_a_planned_429_as_a_wait(api: str):
    # Before: the loopback's Gemini "quota" was a bare 429 RESOURCE_EXHAUSTED, its message the same as a per-minute
    # limit's and no google.rpc detail beside it: the provider read it as a rate limit (retried where a spent quota
    # moves on at once), where every other vendor's "quota" was read as a spent quota. Google says which quota ran out
    # in QuotaFailure (a day's) and the wait in RetryInfo, not in a Retry-After header.
    cls, provider_name, model, params, settings = PROVIDERS[api]
    up = LoopbackUpstream(plans={model: ["quota", 429]}, retry_after=0.25)
    await up.start()
    transport = Transport()
    try:
        provider = cls({**up.env(), **settings}, transport)
        target = Target(provider_name, model, params=params)
        with pytest.raises(E.QuotaExhaustedError) as spent:
            await provider.complete(LLMRequest([Message("user", "hi")], max_tokens=64), target)
        with pytest.raises(E.RateLimitError) as limited:
            await provider.complete(LLMRequest([Message("user", "hi")], max_tokens=64), target)
    finally:
        await transport.aclose()
        await up.stop()
    assert not spent.value.retryable and spent.value.status == (400 if api == "anthropic" else 429)
    assert type(limited.value) is E.RateLimitError and limited.value.retry_after == 0.25


@pytest.mark.parametrize("step", ["quota", 429])
async def test_planned_gemini_quota_errors_are_googles_status(step: Any):
    path, request, spec, _, _ = CALLS["gemini"]
    up = LoopbackUpstream(plans={"m-gemini": [step]})
    await up.start()
    try:
        got, text = await _post(up.base_url + path, request)
    finally:
        await up.stop()
    error = json.loads(text)["error"]
    assert got == 429 and error["status"] == "RESOURCE_EXHAUSTED"
    spec_validator(spec).assert_valid("Status", error)
    kinds = [detail["@type"].rsplit(".", 1)[-1] for detail in error["details"]]
    assert kinds == ["QuotaFailure", "RetryInfo"]
    (violation,) = error["details"][0]["violations"]
    assert ("PerDay" if step == "quota" else "PerMinute") in violation["quotaId"]


async def test_a_planned_gemini_wait_below_a_ten_thousandth_is_a_durations_json_not_an_exponent():
    # RetryInfo.retryDelay is a google.protobuf.Duration's JSON: seconds in decimal, at most nine digits after the
    # point, then "s". The wait was written with :g, which gives 5e-05 s as "5e-05s": no Duration, and the provider
    # read no wait in it.
    path, request, _, _, _ = CALLS["gemini"]
    up = LoopbackUpstream(plans={"m-gemini": [429]}, retry_after=0.00005)
    await up.start()
    try:
        got, text = await _post(up.base_url + path, request)
    finally:
        await up.stop()
    [delay] = [d["retryDelay"] for d in json.loads(text)["error"]["details"] if "retryDelay" in d]
    assert got == 429 and delay == "0.00005s"


class _WatchedUpstream(LoopbackUpstream):
    """The loopback with its handlers watched: ``seen`` once a request's body has come, and its handler then held until
    the client's connection is gone, so that its answer is written to a closed connection on every run; ``handled``
    once the handler has ended (aiohttp logs a handler's failure in the same step, before anything else runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = anyio.Event()
        self.handled = anyio.Event()

    def app(self) -> web.Application:
        app = super().app()

        @web.middleware
        async def watched(request: web.Request, handler: Any) -> web.StreamResponse:
            await request.read()  # (the body whole, as the handler reads it first: kept for it)
            self.seen.set()
            try:
                while request.transport is not None and not request.transport.is_closing():
                    await anyio.sleep(0.01)  # (polled until the client has hung up: the test's hang guard bounds it)
                return await handler(request)
            finally:
                self.handled.set()

        app.middlewares.append(watched)
        return app


@pytest.mark.parametrize("api", sorted(CALLS))
async def test_a_client_hanging_up_before_its_stream_is_no_server_error(api: str, caplog: pytest.LogCaptureFixture):
    """A client that gives up while the upstream works on its answer (its own timeout, or cancelled) leaves the
    upstream nothing to answer: the demo's server must not print aiohttp's write traceback as an "Error handling
    request". (The client hung up on a 50 ms timeout and the test slept 400 ms for the handler to write: on a loaded
    machine the timeout came before the request was sent, or the sleep ended before the write. It now hangs up once
    the request has come, and waits for the handler to end.)"""
    path, body, *_ = CALLS[api]
    up = _WatchedUpstream()
    url = await up.start()
    try:
        if api == "gemini":
            path = path.replace(":generateContent", ":streamGenerateContent") + "?alt=sse"
        streamed = body if api == "gemini" else {**body, "stream": True}
        with caplog.at_level(logging.ERROR, logger="aiohttp.server"), anyio.fail_after(60):  # (a hang guard)
            async with aiohttp.ClientSession() as session, anyio.create_task_group() as tg:

                async def hanging_up() -> None:
                    async with session.post(url + path, json=streamed):
                        pytest.fail("answered before the client hung up")

                tg.start_soon(hanging_up)
                await up.seen.wait()
                tg.cancel_scope.cancel()  # the client hangs up: its connection is closed
            await up.handled.wait()
        assert up.calls, "the upstream never saw the request"
        assert [r.getMessage() for r in caplog.records if r.name == "aiohttp.server"] == []
    finally:
        await up.stop()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_a_planned_pause_is_claudes_pause_turn_and_its_continuation_the_rest(tmp_path, stream: bool):
    # The loopback could not pause a turn: the offline demo could not show a paused turn continued. Planned, the
    # answer is the spec's pause_turn with the text's first half; the call sending the turn back gets the rest, and
    # the cascade joins them into the whole answer, two attempts recorded
    import shutil
    from pathlib import Path

    from magsag_mcp.service import Service

    path, request, spec, answer, event_schema = CALLS["anthropic"]
    up = LoopbackUpstream(plans={"m-claude": ["paused"], "claude-sonnet-4-5": ["paused"]})
    await up.start()
    try:
        status, text = await _post(up.base_url + path, {**request, **({"stream": True} if stream else {})})
        catalog = tmp_path / "catalog"
        shutil.copytree(Path(__file__).resolve().parent.parent / "catalog", catalog)
        (catalog / "policies" / "model_governance.yaml").write_text("policies: []\n")
        config = {"provider": "anthropic", "model": "claude-sonnet-4-5", "max_tokens": 64, "stream": stream}
        async with await Service.open(catalog=catalog, db=tmp_path / "ledger.db", env=up.env()) as svc:
            result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
    finally:
        await up.stop()
    assert status == 200 and up.failures["m-claude"] == 0
    if stream:
        events = [data for _, data in _events(text) if data.get("type") != "ping"]
        for data in events:
            spec_validator(spec).assert_valid(event_schema, data)
        said = json.dumps(events)
    else:
        spec_validator(spec).assert_valid(answer, json.loads(text))
        said = text
    assert '"stop_reason": "pause_turn"' in said.replace('":"', '": "') and "loopback answer" not in said
    assert result.text == "loopback answer from claude-sonnet-4-5" and result.finish_reason == "stop"
    assert [(a.outcome, a.attempt_number) for a in result.attempts] == [("ok", 1), ("ok", 2)]
    assert result.to_dict()["paused_turns"] == 1 and up.calls["claude-sonnet-4-5"] == 2


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_a_planned_pauses_halves_each_report_the_tokens_they_wrote(tmp_path, stream: bool):
    # Each half reported the whole text's output tokens: the answer's usage (and the demo's cost) counted the text
    # twice, and the upstream's books with it. Each half reports its own; their sum is the whole text's (or one more,
    # rounding each half up, as a count of parts is)
    import shutil
    from pathlib import Path

    from magsag_mcp.loopback import _tokens
    from magsag_mcp.service import Service

    up = LoopbackUpstream(plans={"claude-sonnet-4-5": ["paused"]}, reply="Rain in Oslo all day long, and wind.")
    await up.start()
    try:
        catalog = tmp_path / "catalog"
        shutil.copytree(Path(__file__).resolve().parent.parent / "catalog", catalog)
        (catalog / "policies" / "model_governance.yaml").write_text("policies: []\n")
        config = {"provider": "anthropic", "model": "claude-sonnet-4-5", "max_tokens": 64, "stream": stream}
        async with await Service.open(catalog=catalog, db=tmp_path / "ledger.db", env=up.env()) as svc:
            result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
    finally:
        await up.stop()
    whole = "Rain in Oslo all day long, and wind."
    first, rest = whole[: len(whole) // 2], whole[len(whole) // 2 :]
    assert result.text == whole and result.to_dict()["paused_turns"] == 1
    assert [n_out for _, _, n_out in up.log] == [_tokens(len(first)), _tokens(len(rest))]
    assert [a.output_tokens for a in result.attempts] == [_tokens(len(first)), _tokens(len(rest))]
    assert result.usage.output_tokens == _tokens(len(first)) + _tokens(len(rest)) <= _tokens(len(whole)) + 1
    assert up.tokens["claude-sonnet-4-5"] == sum(n_in + n_out for _, n_in, n_out in up.log)
