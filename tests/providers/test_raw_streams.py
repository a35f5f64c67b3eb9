"""Streams written byte for byte: what real servers send beside (or against) the specs, read by the providers.

The spec-checking fakes send well-formed streams; the loopback server here sends exactly the events a test
gives it, for the deviations compatible servers and proxies are known for.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp import errors as E
from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.providers.openai import CompatProvider, OpenAIProvider
from magsag_mcp.transport import Timeouts, Transport
from magsag_mcp.types import LLMRequest, Message, Target, ToolCall

pytestmark = pytest.mark.anyio

MODEL = "some-model"
#: where a stream's connection drops
CUT = b""
#: where a stream pauses a while (the upstream model reasons or writes on): nothing is sent meanwhile
PAUSE = b"<pause>"


def sse(*events: Any) -> list[bytes]:
    """One chunk per event: a dict is sent as its JSON, a string as it is."""
    return [f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n".encode() for e in events]


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
    }


USAGE_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": MODEL,
    "choices": [],
    "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
}


@pytest.fixture
async def raw_stream() -> AsyncIterator[Callable[[list[bytes]], Any]]:
    """Starts a server that answers every POST with ``chunks`` as an event stream, and returns its base URL.
    A ``CUT`` among the chunks drops the connection there; a ``PAUSE`` holds the stream a while."""
    servers: list[TestServer] = []

    async def start(chunks: list[bytes], content_type: str = "text/event-stream") -> str:
        async def handle(request: web.Request) -> web.StreamResponse:
            await request.read()
            resp = web.StreamResponse(headers={"Content-Type": content_type})
            await resp.prepare(request)
            for c in chunks:
                if c is CUT:
                    assert request.transport is not None
                    request.transport.close()
                    return resp
                if c is PAUSE:
                    await asyncio.sleep(0.05)
                    continue
                await resp.write(c)
                await asyncio.sleep(0)
            await resp.write_eof()
            return resp

        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}/v1"

    yield start
    for server in servers:
        await server.close()


async def compat_stream(base: str, **kw: Any) -> Any:
    transport = Transport()
    try:
        request = LLMRequest(messages=[Message("user", "hi")], stream=True, **kw)
        return await CompatProvider({"MAGSAG_COMPAT_BASE_URL": base}, transport).complete(
            request, Target("compat", MODEL)
        )
    finally:
        await transport.aclose()


def call(call_id: str, name: str, arguments: str, **extra: Any) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}, **extra}


async def test_parallel_tool_calls_without_an_index_stay_apart(raw_stream):
    # Gemini's OpenAI endpoint and some gateways leave out tool_calls[].index: the calls were merged into
    # one named "get_weatherget_time" with the arguments '{"city": "Paris"}{"tz": "JST"}' (not JSON).
    base = await raw_stream(
        sse(
            chunk({"role": "assistant", "tool_calls": [call("c1", "get_weather", '{"city": ')]}),
            chunk({"tool_calls": [{"function": {"arguments": '"Paris"}'}}]}),
            chunk({"tool_calls": [call("c2", "get_time", '{"tz": "JST"}')]}),
            chunk(finish="tool_calls"),
            USAGE_CHUNK,
            "[DONE]",
        )
    )
    result = await compat_stream(base)
    assert result.tool_calls == [
        ToolCall("c1", "get_weather", {"city": "Paris"}),
        ToolCall("c2", "get_time", {"tz": "JST"}),
    ]


async def test_parallel_tool_calls_that_share_an_index_stay_apart(raw_stream):
    # Servers that number every parallel call 0, each call sent with its own id.
    base = await raw_stream(
        sse(
            chunk({"tool_calls": [call("c1", "get_weather", '{"city": "Paris"}', index=0)]}),
            chunk({"tool_calls": [call("c2", "get_weather", '{"city": ', index=0)]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
            chunk(finish="tool_calls"),
            USAGE_CHUNK,
            "[DONE]",
        )
    )
    result = await compat_stream(base)
    assert result.tool_calls == [
        ToolCall("c1", "get_weather", {"city": "Paris"}),
        ToolCall("c2", "get_weather", {"city": "Oslo"}),
    ]


@pytest.mark.parametrize("usage", [True, False], ids=["usage-reported", "no-usage"])
async def test_a_stream_of_only_done_is_no_answer(raw_stream, usage: bool):
    # A gateway that could not serve the stream and closed it at once: it passed as an empty answer,
    # a success with no text, where a completion without choices is a malformed answer.
    base = await raw_stream(sse(*([USAGE_CHUNK] if usage else []), "[DONE]"))
    with pytest.raises(E.MalformedResponseError, match="carried no answer") as info:
        await compat_stream(base)
    err = info.value
    assert err.moves_on and not err.retryable
    if usage:
        assert (err.usage.input_tokens, err.usage.output_tokens) == (9, 4)
    else:
        assert err.usage is None and err.maybe_billed


async def test_a_running_usage_count_does_not_price_a_cut_stream(raw_stream):
    # Some servers put the usage so far in every chunk. A stream cut before its finish_reason was priced at
    # the last running count (a fraction of what was generated); like an Anthropic or Gemini stream cut
    # before its end, its cost is unknown and bounded instead.
    def running(delta: dict[str, Any], out: int) -> dict[str, Any]:
        return {**chunk(delta), "usage": {"prompt_tokens": 9, "completion_tokens": out, "total_tokens": 9 + out}}

    base = await raw_stream([*sse(running({"content": "one"}, 1), running({"content": " two"}, 2)), CUT])
    with pytest.raises(E.ProviderConnectionError) as info:
        await compat_stream(base)
    assert info.value.usage is None and info.value.maybe_billed


async def test_the_usage_after_the_finish_makes_a_stream_cut_before_done_the_answer(raw_stream):
    # the usage chunk is the last the spec sends before [DONE]: the answer is whole, priced at that usage (it
    # was a dropped stream, asked for and paid for again)
    base = await raw_stream([*sse(chunk({"content": "one"}), chunk(finish="stop"), USAGE_CHUNK), CUT])
    result = await compat_stream(base)
    assert (result.text, result.usage.input_tokens, result.usage.output_tokens) == ("one", 9, 4)


def gemini_chunk(text: str, finish: str | None = None, out: int = 1) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    usage = {"promptTokenCount": 5, "candidatesTokenCount": out, "totalTokenCount": 5 + out}
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-2.5-flash"}


async def gemini_stream(base: str) -> Any:
    transport = Transport()
    try:
        provider = GeminiProvider({"GEMINI_API_KEY": "g-key", "GEMINI_BASE_URL": base.removesuffix("/v1")}, transport)
        request = LLMRequest(messages=[Message("user", "hi")], stream=True)
        return await provider.complete(request, Target("google", "gemini-2.5-flash"))
    finally:
        await transport.aclose()


async def test_a_gemini_stream_sent_as_a_json_array_is_read_whole(raw_stream):
    # streamGenerateContent without alt=sse (a proxy that drops the query) answers a JSON array of
    # GenerateContentResponse chunks: the whole, billed answer was thrown away as "not a GenerateContentResponse"
    chunks = [gemini_chunk("Hello", out=1), gemini_chunk(" world", finish="STOP", out=2)]
    base = await raw_stream([json.dumps(chunks).encode()], content_type="application/json")
    result = await gemini_stream(base)
    assert (result.text, result.finish_reason) == ("Hello world", "stop")
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.reported) == (5, 2, True)


async def test_a_gemini_count_a_gateway_writes_null_later_keeps_the_one_it_had(raw_stream):
    # A gateway that writes every field of usageMetadata (unset ones as null) on each chunk: the last chunk's
    # "promptTokenCount": null overwrote the count the first one gave, and the whole, billed answer was then
    # of unknown cost ("usageMetadata without promptTokenCount"). A null is a field left unset, as elsewhere.
    first = gemini_chunk("Hello", out=1)
    last = gemini_chunk(" world", finish="STOP", out=2)
    last["usageMetadata"] = {"promptTokenCount": None, "candidatesTokenCount": 2, "thoughtsTokenCount": None}
    base = await raw_stream(sse(first, last))
    result = await gemini_stream(base)
    assert result.text == "Hello world"
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.reported) == (5, 2, True)


async def test_an_error_inside_a_gemini_json_array_is_the_error_it_names(raw_stream):
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    base = await raw_stream([json.dumps([gemini_chunk("Hel"), error]).encode()], content_type="application/json")
    with pytest.raises(E.OverloadedError) as info:
        await gemini_stream(base)
    assert info.value.status == 503 and info.value.maybe_billed


@pytest.mark.parametrize(
    ("code", "retryable"),
    [("invalid_prompt", False), ("data_residency_mismatch", False), ("rate_limit_exceeded", True), (None, True)],
)
async def test_a_responses_stream_error_event_is_classified_by_its_code(raw_stream, code, retryable):
    # A failed response (response.failed) was classified by its error code, but the stream's `error` event
    # (ResponseErrorEvent: type, code, message, param, sequence_number) was always a server error: a
    # data-residency refusal was retried on the same target as if the server had failed.
    event = {"type": "error", "code": code, "message": "stopped", "param": None, "sequence_number": 1}
    base = await raw_stream(sse({"type": "response.created", "sequence_number": 0}, event))
    transport = Transport()
    try:
        request = LLMRequest(messages=[Message("user", "hi")], stream=True)
        target = Target("openai", "gpt-4o", params=(("api", "responses"),))
        env = {"OPENAI_BASE_URL": base, "OPENAI_API_KEY": "sk-test-0123456789"}
        with pytest.raises(E.ProviderError) as info:
            await OpenAIProvider(env, transport).complete(request, target)
    finally:
        await transport.aclose()
    assert info.value.retryable is retryable
    if code == "rate_limit_exceeded":
        assert isinstance(info.value, E.RateLimitError)


@pytest.mark.parametrize(
    ("error", "cls"),
    [
        (
            {
                "type": "tokens",
                "code": "rate_limit_exceeded",
                "message": "Rate limit reached for gpt-4o on tokens per min (TPM). Please try again in 6.57s.",
                "param": None,
            },
            E.RateLimitError,
        ),
        ({"type": "too_many_requests", "code": "too_many_requests", "message": "Too Many Requests"}, E.RateLimitError),
        (
            {
                "type": "invalid_request_error",
                "code": "context_length_exceeded",
                "message": "Your input exceeds the context window of this model.",
                "param": "input",
            },
            E.ContextTooLongError,
        ),
    ],
)
async def test_a_responses_stream_error_nested_as_the_live_api_sends_it(raw_stream, error, cls):
    # The live API nests the error event's fields under "error" ({"type": "error", "sequence_number": 2, "error":
    # {type, code, message, param}}), not flat as ResponseErrorEvent documents: every such event was a server
    # error with no message ("HTTP 500"), retried on the same target, a context overflow included.
    base = await raw_stream(
        sse({"type": "response.created", "sequence_number": 0}, {"type": "error", "sequence_number": 2, "error": error})
    )
    transport = Transport()
    try:
        request = LLMRequest(messages=[Message("user", "hi")], stream=True)
        target = Target("openai", "gpt-4o", params=(("api", "responses"),))
        env = {"OPENAI_BASE_URL": base, "OPENAI_API_KEY": "sk-test-0123456789"}
        with pytest.raises(cls) as info:
            await OpenAIProvider(env, transport).complete(request, target)
    finally:
        await transport.aclose()
    assert error["message"] in info.value.message
    if "6.57s" in error["message"]:
        assert info.value.retry_after == pytest.approx(6.57)


THINKING_THEN_TEXT = [
    {"type": "thinking", "thinking": [{"type": "text", "text": "The user greets me."}]},
    {"type": "text", "text": "Hello!"},
]


async def test_a_compat_answer_whose_content_is_a_list_of_parts_is_read_as_its_text(raw_stream):
    # Mistral's reasoning models (and servers copying them) answer message.content as a list of parts, the
    # request's shape, where the spec has a string: the list itself became the answer's "text", and reading it
    # (JSON output, the MCP result) failed with an internal error. The text parts are the answer.
    answer = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": THINKING_THEN_TEXT}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
    }
    base = await raw_stream([json.dumps(answer).encode()], content_type="application/json")
    result = await compat_stream(base)
    assert (result.text, result.finish_reason) == ("Hello!", "stop")


async def test_a_compat_stream_whose_deltas_are_lists_of_parts_is_read_as_their_text(raw_stream):
    base = await raw_stream(
        sse(
            chunk({"role": "assistant", "content": [THINKING_THEN_TEXT[0]]}),
            chunk({"content": [{"type": "text", "text": "Hel"}]}),
            chunk({"content": "lo!"}),
            chunk(finish="stop"),
            USAGE_CHUNK,
            "[DONE]",
        )
    )
    result = await compat_stream(base)
    assert (result.text, result.finish_reason) == ("Hello!", "stop")


@pytest.mark.parametrize("stream", [True, False])
async def test_an_answer_that_came_whole_reaches_the_progress_callback_as_one_delta(raw_stream, stream: bool):
    # A server that ignored "stream": true (a proxy, a compatible server), or a target that cannot stream
    # (capabilities: {streaming: false}), answers all at once. Before, a caller rendering the deltas' text got
    # none for such an answer: the text its callback saw was not the answer's. Now the whole text comes as one.
    answer = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "all at once"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
    }
    base = await raw_stream([json.dumps(answer).encode()], content_type="application/json")
    events: list[tuple[str, dict[str, Any]]] = []

    async def progress(event: str, data: dict[str, Any]) -> None:
        events.append((event, data))

    transport = Transport()
    try:
        request = LLMRequest(messages=[Message("user", "hi")], stream=stream)
        result = await CompatProvider({"MAGSAG_COMPAT_BASE_URL": base}, transport).complete(
            request, Target("compat", MODEL), progress=progress
        )
    finally:
        await transport.aclose()
    assert result.text == "all at once"
    assert events == [("delta", {"chars": len("all at once"), "text": "all at once"})]


RESPONSE = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1,
    "status": "completed",
    "model": "gpt-4o",
    "output": [
        {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "whole answer", "annotations": []}],
        }
    ],
    "usage": {
        "input_tokens": 9,
        "output_tokens": 4,
        "total_tokens": 13,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    },
}
ANTHROPIC_START = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [],
    "stop_reason": None,
    "stop_sequence": None,
    "usage": {"input_tokens": 9, "output_tokens": 1},
}
#: each vendor's whole stream, up to and including its terminal event, then the connection's end is lost
WHOLE_THEN_CUT = {
    "chat": [*sse(chunk({"content": "whole answer"}), chunk(finish="stop"), USAGE_CHUNK, "[DONE]"), CUT],
    "responses": [
        *sse(
            {"type": "response.created", "sequence_number": 0, "response": {**RESPONSE, "status": "in_progress"}},
            {"type": "response.output_text.delta", "sequence_number": 1, "delta": "whole answer"},
            {"type": "response.completed", "sequence_number": 2, "response": RESPONSE},
        ),
        CUT,
    ],
    "anthropic": [
        f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode()
        for e in (
            {"type": "message_start", "message": ANTHROPIC_START},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "whole answer"}},
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"input_tokens": 9, "output_tokens": 4},
            },
            {"type": "message_stop"},
        )
    ]
    + [CUT],
    # Gemini has no terminal event of its own: the chunk with the candidate's finishReason (and the answer's
    # usage) is the last one it sends
    "gemini": [
        *sse(
            {"candidates": [{"content": {"role": "model", "parts": [{"text": "whole "}]}, "index": 0}]},
            {
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": "answer"}]}, "finishReason": "STOP", "index": 0}
                ],
                "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 4, "totalTokenCount": 13},
            },
        ),
        CUT,
    ],
}


def _streaming_provider(api: str, base: str, transport: Transport) -> tuple[Any, Target]:
    """The provider and target that stream from ``base`` in ``api``'s format: chat, responses, anthropic or gemini."""
    from magsag_mcp.providers.anthropic import AnthropicProvider

    if api == "anthropic":
        env = {"ANTHROPIC_BASE_URL": base.removesuffix("/v1"), "ANTHROPIC_API_KEY": "sk-ant-test-0123456789"}
        return AnthropicProvider(env, transport), Target("anthropic", "claude-sonnet-4-5")
    if api == "gemini":
        env = {"GEMINI_BASE_URL": base.removesuffix("/v1"), "GEMINI_API_KEY": "AIza-test-0123456789"}
        return GeminiProvider(env, transport), Target("google", "gemini-2.5-flash")
    env = {"OPENAI_BASE_URL": base, "OPENAI_API_KEY": "sk-test-0123456789"}
    return OpenAIProvider(env, transport), Target("openai", "gpt-4o", params=(("api", api),))


@pytest.mark.parametrize("api", ["chat", "responses", "anthropic", "gemini"])
async def test_a_stream_whose_connection_breaks_after_its_terminal_event_is_the_answer(raw_stream, api: str):
    # The vendor sent the whole answer and its terminal event ([DONE], response.completed, message_stop, Gemini's
    # chunk with the finishReason), then
    # the connection's end was lost (a proxy that drops the chunked encoding's last chunk: aiohttp's "response
    # payload is not completed"). The answer, generated and billed, was thrown away as a dropped stream and
    # asked for again, paid twice.
    base = await raw_stream(WHOLE_THEN_CUT[api])
    transport = Transport()
    try:
        request = LLMRequest(messages=[Message("user", "hi")], stream=True)
        provider, target = _streaming_provider(api, base, transport)
        result = await provider.complete(request, target)
    finally:
        await transport.aclose()
    assert (result.text, result.finish_reason) == ("whole answer", "stop")
    assert (result.usage.input_tokens, result.usage.output_tokens) == (9, 4)


@pytest.mark.parametrize("api", ["chat", "responses", "anthropic"])
async def test_a_stream_event_that_is_json_but_no_object_is_a_malformed_answer_that_says_so(raw_stream, api: str):
    # An event whose data is JSON but not an object (a proxy's array, a bare string): the accumulators read it
    # as a dict and failed with "unexpected AttributeError while handling the response" (and a traceback in
    # the server's log), which says nothing of what the vendor sent.
    name = "event: message_start\n" if api == "anthropic" else ""
    base = await raw_stream([f'{name}data: ["not", "an", "object"]\n\n'.encode()])
    transport = Transport()
    try:
        request = LLMRequest(messages=[Message("user", "hi")], stream=True)
        provider, target = _streaming_provider(api, base, transport)
        with pytest.raises(E.MalformedResponseError, match="stream event is not a JSON object") as info:
            await provider.complete(request, target)
    finally:
        await transport.aclose()
    assert info.value.maybe_billed and '["not", "an", "object"]' in info.value.message


async def test_a_stream_held_open_after_its_terminal_event_is_the_answer_once_it_goes_idle():
    # A server that sends [DONE] and then holds the connection open: the read timeout fired, and the whole
    # answer was taken for a stream that went idle mid-answer.
    held = asyncio.Event()

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for c in WHOLE_THEN_CUT["chat"][:-1]:
            await resp.write(c)
        await held.wait()  # never set: the connection stays open, silent
        return resp

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    transport = Transport(timeouts=Timeouts(connect=2.0, read=0.2))
    try:
        env = {"OPENAI_BASE_URL": f"http://127.0.0.1:{server.port}/v1", "OPENAI_API_KEY": "sk-test-0123456789"}
        request = LLMRequest(messages=[Message("user", "hi")], stream=True)
        result = await OpenAIProvider(env, transport).complete(
            request, Target("openai", "gpt-4o", params=(("api", "chat"),))
        )
    finally:
        await transport.aclose()
        await server.close()
    assert (result.text, result.usage.output_tokens) == ("whole answer", 4)


@pytest.mark.parametrize("end", ["clean", "cut"])
async def test_an_anthropic_stream_that_ends_after_message_delta_is_the_answer(raw_stream, end: str):
    # message_delta carries the stop_reason and the answer's final usage, after every content block: only
    # message_stop, which says nothing, is missing. The whole, billed answer failed as "the stream ended
    # before message_stop" and was asked for, and paid for, again.
    events = WHOLE_THEN_CUT["anthropic"][:-2]  # without message_stop and the cut
    base = await raw_stream(events + ([CUT] if end == "cut" else []))
    transport = Transport()
    try:
        request = LLMRequest(messages=[Message("user", "hi")], stream=True)
        provider, target = _streaming_provider("anthropic", base, transport)
        result = await provider.complete(request, target)
    finally:
        await transport.aclose()
    assert (result.text, result.finish_reason) == ("whole answer", "stop")
    assert (result.usage.input_tokens, result.usage.output_tokens) == (9, 4)


async def test_an_anthropic_stream_cut_before_message_delta_is_a_dropped_stream(raw_stream):
    # the answer's end (its stop_reason and usage) never came: a dropped stream of unknown cost
    base = await raw_stream(WHOLE_THEN_CUT["anthropic"][:-3])
    transport = Transport()
    try:
        request = LLMRequest(messages=[Message("user", "hi")], stream=True)
        provider, target = _streaming_provider("anthropic", base, transport)
        with pytest.raises(E.ProviderConnectionError, match="before message_stop") as info:
            await provider.complete(request, target)
    finally:
        await transport.aclose()
    assert info.value.maybe_billed and info.value.usage is None


async def test_a_chat_stream_cut_after_its_usage_chunk_is_the_answer(raw_stream):
    # include_usage: the usage chunk (no choices) is the last one OpenAI sends before [DONE], after the
    # finish_reason's; nothing the answer needs is still to come. A connection lost there (a proxy dropping the
    # chunked encoding's end) failed the whole, billed answer as a dropped stream, and it was asked for, and
    # paid for, again.
    base = await raw_stream(WHOLE_THEN_CUT["chat"][:-2] + [CUT])  # without [DONE]
    transport = Transport()
    try:
        request = LLMRequest(messages=[Message("user", "hi")], stream=True)
        provider, target = _streaming_provider("chat", base, transport)
        result = await provider.complete(request, target)
    finally:
        await transport.aclose()
    assert (result.text, result.finish_reason) == ("whole answer", "stop")
    assert (result.usage.input_tokens, result.usage.output_tokens) == (9, 4)


@pytest.mark.parametrize("end", ["cut", "idle"])
async def test_a_chat_stream_cut_after_its_closing_chunk_before_its_usage_chunk_is_the_answer_of_unknown_cost(
    raw_stream, end: str
):
    # The closing chunk ({"delta": {}, "finish_reason": "stop"}) is the last with choices: every part of the answer
    # has come, only the usage chunk include_usage asked for is missing. The whole answer, generated and billed,
    # failed as a dropped stream, and the cascade asked for it, and paid for it, again (the caller's progress
    # showing its text twice). It is the answer now, of unknown cost (its usage not reported), and says so.
    chunks = WHOLE_THEN_CUT["chat"][:-3] + ([CUT] if end == "cut" else [PAUSE] * 12)
    transport = Transport(timeouts=Timeouts(connect=2.0, read=0.2))
    try:
        request = LLMRequest(messages=[Message("user", "hi")], stream=True)
        provider, target = _streaming_provider("chat", await raw_stream(chunks), transport)
        result = await provider.complete(request, target)
    finally:
        await transport.aclose()
    assert (result.text, result.finish_reason, result.usage.reported) == ("whole answer", "stop", False)
    assert any("cut after the answer's end, before the usage" in w for w in result.warnings)


@pytest.mark.parametrize(
    "last",
    [
        chunk({"content": " and more"}, finish="stop"),  # a gateway that puts the finish on every chunk of text
        chunk({"content": " and more"}),  # text after a closing chunk: it closed nothing
    ],
    ids=["finish-on-a-chunk-of-text", "text-after-the-close"],
)
async def test_a_chat_stream_cut_after_a_finish_on_a_chunk_of_text_is_a_dropped_stream(raw_stream, last):
    # a finish_reason beside text does not say the answer is over (gcli2api's gateways put "stop" on every chunk)
    base = await raw_stream([*sse(chunk({"content": "one"}), chunk(finish="stop"), last), CUT])
    with pytest.raises(E.ProviderConnectionError) as info:
        await compat_stream(base)
    assert info.value.maybe_billed and info.value.usage is None


@pytest.mark.parametrize(
    "chunks",
    [
        # a gateway that stamps "stop" on every chunk, and sends one with nothing in it midway: it closed nothing
        [chunk({"content": "one"}, finish="stop"), chunk({"content": ""}, finish="stop")],
        # the same gateway's first chunk, the role alone: nothing of the answer had come
        [chunk({"role": "assistant", "content": ""}, finish="stop")],
        # one that puts the usage so far on every chunk too (gcli2api's): the empty chunk's usage is no last word
        [
            {**chunk({"content": "one"}, finish="stop"), "usage": USAGE_CHUNK["usage"]},
            {**chunk({"content": ""}, finish="stop"), "usage": USAGE_CHUNK["usage"]},
        ],
    ],
    ids=["empty-chunk-after-stamped-text", "stamped-role-chunk", "stamped-usage-on-every-chunk"],
)
async def test_a_chat_stream_of_a_gateway_that_stamps_every_chunk_cut_midway_is_a_dropped_stream(raw_stream, chunks):
    # A finish_reason on a chunk of text says the gateway puts one on every chunk: a later chunk with nothing in it
    # closes nothing. Cut there, the first words were kept as the whole answer ("stop", of unknown cost), and a cut
    # after the role chunk alone failed as "no usable answer" instead of a dropped stream, asked for again.
    base = await raw_stream([*sse(*chunks), CUT])
    with pytest.raises(E.ProviderConnectionError) as info:
        await compat_stream(base)
    assert info.value.maybe_billed and info.value.usage is None


async def test_a_chat_stream_cut_after_a_finish_chunk_that_carries_the_usage_is_the_answer(raw_stream):
    # llama.cpp's server, DeepSeek and other compatible servers send the usage in the chunk with the
    # finish_reason, not in a chunk of its own: nothing of the answer is left to come after it. A connection lost
    # there (before [DONE]) failed the whole, billed answer as a dropped stream, asked for and paid for again.
    last = {**chunk(finish="stop"), "usage": USAGE_CHUNK["usage"]}
    base = await raw_stream([*sse(chunk({"content": "one"}), last), CUT])
    result = await compat_stream(base)
    assert (result.text, result.usage.input_tokens, result.usage.output_tokens) == ("one", 9, 4)


@pytest.mark.parametrize("api", ["chat", "responses", "anthropic", "gemini"])
async def test_a_stream_held_open_after_its_terminal_event_answers_before_the_read_timeout(api: str, tmp_path):
    # The vendor sent the whole answer and its terminal event, then a proxy held the connection open (no end of
    # the chunked encoding). The answer waited for the read timeout (120 s by default) and, where the call's
    # deadline came first, the whole answer, billed, failed as "no complete answer within the call's deadline":
    # its cost unknown, and the next target paid for it again.
    from magsag_mcp.service import Service

    held = asyncio.Event()
    still_holding: list[bool] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for c in WHOLE_THEN_CUT[api][:-1]:
            await resp.write(c)
        still_holding.append(True)
        await held.wait()  # set only once the call is done: the connection stays open, silent, until then
        return resp

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    root = f"http://127.0.0.1:{server.port}"
    env = {
        "OPENAI_BASE_URL": root + "/v1",
        "OPENAI_API_KEY": "sk-test-0123456789",
        "ANTHROPIC_BASE_URL": root,
        "ANTHROPIC_API_KEY": "sk-ant-test-0123456789",
        "GEMINI_BASE_URL": root,
        "GEMINI_API_KEY": "AIza-test-0123456789",
        "MAGSAG_READ_TIMEOUT": "600",
        "MAGSAG_CALL_DEADLINE": "30",
    }
    model = {
        "chat": {"provider": "openai", "model": "gpt-4o", "params": {"api": "chat"}},
        "responses": {"provider": "openai", "model": "gpt-4o", "params": {"api": "responses"}},
        "anthropic": {"provider": "anthropic", "model": "claude-3-5-sonnet-20241022"},
        "gemini": {"provider": "google", "model": "gemini-1.5-pro"},
    }[api]
    deltas: list[str] = []

    async def progress(event: str, data: dict[str, Any]) -> None:  # a callback: the call is streamed
        if event == "delta":
            deltas.append(data["text"])

    try:
        async with Service.open(db=tmp_path / "l.db", env=env) as svc:
            out = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": model}, progress=progress)
        answered_while_held = still_holding == [True] and not held.is_set()
    finally:
        held.set()
        await server.close()
    assert (out.result.text, out.result.finish_reason, "".join(deltas)) == ("whole answer", "stop", "whole answer")
    assert (out.result.usage.input_tokens, out.result.usage.output_tokens) == (9, 4)
    assert [a.outcome for a in out.attempts] == ["ok"] and answered_while_held


async def test_a_stream_held_open_after_its_end_near_the_calls_deadline_still_answers(tmp_path, monkeypatch):
    # What follows a stream's terminal event is read for a while (for the connection to go back to the pool). When
    # the call's deadline came during that read, it cut the whole answer, billed: "no complete answer within the
    # call's deadline", its cost unknown, and the next target paid for it again. (The read made long here, so
    # that any deadline falls inside it.)
    from magsag_mcp.providers import stream_end
    from magsag_mcp.service import Service

    monkeypatch.setattr(stream_end, "AFTER_THE_END_SECONDS", 600.0)
    held = asyncio.Event()

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for c in WHOLE_THEN_CUT["chat"][:-1]:
            await resp.write(c)
        await held.wait()  # the connection stays open, silent, until the call is done
        return resp

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    env = {
        "OPENAI_BASE_URL": f"http://127.0.0.1:{server.port}/v1",
        "OPENAI_API_KEY": "sk-test-0123456789",
        "MAGSAG_CALL_DEADLINE": "2",
    }
    model = {"provider": "openai", "model": "gpt-4o", "params": {"api": "chat"}, "stream": True}
    try:
        async with Service.open(db=tmp_path / "l.db", env=env) as svc:
            out = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": model})
    finally:
        held.set()
        await server.close()
    assert (out.result.text, out.result.finish_reason) == ("whole answer", "stop")
    assert [(a.outcome, a.cost_usd is not None) for a in out.attempts] == [("ok", True)]


#: each vendor's error event sent as the first event of a 200 stream: the request was refused before any answer began
REFUSED_AT_ONCE = {
    "chat": sse({"error": {"message": "The server is overloaded.", "type": "server_error", "code": None}}),
    "responses": sse(
        {
            "type": "error",
            "sequence_number": 0,
            "error": {"type": "server_error", "code": None, "message": "Overloaded"},
        }
    ),
    "anthropic": [
        b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n'
    ],
    "gemini": sse({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}),
}


@pytest.mark.parametrize("api", ["chat", "responses", "anthropic", "gemini"])
async def test_an_error_event_before_the_answer_began_is_not_billed(raw_stream, api: str):
    # Anthropic's overloaded_error comes as the first event of a 200 stream, before message_start, as often as a 529
    # does: nothing was generated, as for the 529. It was counted as maybe billed, at its worst case: a retry of a
    # long prompt was refused by the call limit ("1 earlier attempt(s) ... hold $0.72"), and the run's cost was
    # marked unknown, for an answer no vendor bills.
    base = await raw_stream(REFUSED_AT_ONCE[api])
    transport = Transport()
    try:
        provider, target = _streaming_provider(api, base, transport)
        with pytest.raises(E.ServerError) as info:
            await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=True), target)
    finally:
        await transport.aclose()
    assert info.value.retryable and not info.value.maybe_billed and info.value.usage is None


async def test_an_error_event_once_the_answer_began_may_still_be_billed(raw_stream):
    start = f"event: message_start\ndata: {json.dumps({'type': 'message_start', 'message': ANTHROPIC_START})}\n\n"
    base = await raw_stream([start.encode(), *REFUSED_AT_ONCE["anthropic"]])
    transport = Transport()
    try:
        provider, target = _streaming_provider("anthropic", base, transport)
        with pytest.raises(E.OverloadedError) as info:
            await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=True), target)
    finally:
        await transport.aclose()
    # message_start said the prompt was read: that much is what the stream reported
    assert info.value.usage is not None or info.value.maybe_billed


async def test_a_retry_after_an_overloaded_event_is_not_refused_for_spend_that_never_happened(tmp_path):
    # A long prompt (its worst case $0.72 under the shipped call limit of $1) to a Claude overloaded at once, then
    # answering: the first try was held at its worst case, so the retry was refused as "call limit $1.0 would be
    # exceeded ... 1 earlier attempt(s) spent $0 and hold $0.72", and the run's cost was marked unknown.
    from magsag_mcp.service import Service

    tries: list[int] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        tries.append(1)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for c in REFUSED_AT_ONCE["anthropic"] if len(tries) == 1 else WHOLE_THEN_CUT["anthropic"][:-1]:
            await resp.write(c)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    env = {"ANTHROPIC_BASE_URL": f"http://127.0.0.1:{server.port}", "ANTHROPIC_API_KEY": "sk-ant-test-0123456789"}

    async def no_wait(seconds: float) -> None:
        pass

    try:
        async with Service.open(db=tmp_path / "l.db", env=env) as svc:
            svc.cascade.sleep = no_wait
            model = {"model": "claude-3-5-sonnet-20241022", "max_tokens": 8192, "stream": True}
            out = await svc.invoke_skill("skill.analysis", {"data": "x" * 200_000, "model_config": model}, run_id="r")
            budget = await svc.check_budget(run_id="r")
    finally:
        await server.close()
    assert [(a.outcome, a.error_class, a.cost_usd == 0) for a in out.attempts] == [
        ("error", "overloaded", True),
        ("ok", None, False),
    ]
    assert out.result.text == "whole answer" and budget["cost_complete"] and out.cost_usd is not None


async def test_a_gemini_stream_whose_first_chunks_a_gateway_stamped_stop_is_read_to_its_answer(
    raw_stream, monkeypatch
):
    # Gateways that translate an OpenAI stream into Gemini's (CLIProxyAPI, before its fix) stamp finishReason STOP
    # on every chunk without content, the reasoning phase's first: the stream opens with empty STOP chunks, then the
    # answer, then the real STOP with the usage. Taken for the terminal chunk, the first one ended the read a second
    # later (sooner here), before any of the answer came: a paid answer failed as "STOP, with no content". A
    # finishReason ends the answer only once some of it has come.
    from magsag_mcp.providers import stream_end

    monkeypatch.setattr(stream_end, "AFTER_THE_END_SECONDS", 0.0)
    empty = {"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": "STOP", "index": 0}]}
    first = sse(empty, empty)
    rest = sse(gemini_chunk("Hello", out=1), gemini_chunk(" world", out=2), gemini_chunk("", finish="STOP", out=2))

    url = await raw_stream([*first, PAUSE, *rest])  # the upstream model reasons meanwhile
    result = await gemini_stream(url)
    assert (result.text, result.finish_reason, result.usage.output_tokens) == ("Hello world", "stop", 2)


async def test_a_chat_stream_that_stamps_finish_and_usage_on_every_chunk_is_read_to_its_end(raw_stream, monkeypatch):
    # Gateways that translate Gemini into chat completions (gcli2api) put finish_reason "stop" on every chunk, the
    # reasoning's and the answer's, each with the usage so far. The first was taken for the spec's closing chunk
    # (a finish_reason with the usage: nothing of the answer left to come), and the read ended a second later
    # (sooner here): the answer came back cut after its first words, as a whole one ("stop"). A chunk that carries
    # some of the answer is not the closing one, whatever it says beside it.
    from magsag_mcp.providers import stream_end

    monkeypatch.setattr(stream_end, "AFTER_THE_END_SECONDS", 0.0)

    def stamped(delta: dict[str, Any], out: int) -> dict[str, Any]:
        return {**chunk(delta, finish="stop"), "usage": {"prompt_tokens": 9, "completion_tokens": out}}

    first = sse(stamped({"reasoning_content": "Let me think."}, 3), stamped({"content": "The answer"}, 5))
    rest = sse(stamped({"content": " is 42."}, 8), "[DONE]")

    url = await raw_stream([*first, PAUSE, *rest])  # the model writes on meanwhile
    result = await compat_stream(url)
    assert (result.text, result.finish_reason, result.usage.output_tokens) == ("The answer is 42.", "stop", 8)


async def test_what_a_stream_sends_after_a_terminal_looking_event_reaches_progress_too():
    # A gateway that writes finishReason STOP on every Gemini chunk (the answer's too) makes its first chunk of text
    # look like the last. What came after it was read for a second at most (a long answer was cut there) and reached
    # the answer but never the progress callback: a client rendering the deltas showed less than the answer it got.
    # What follows such an event is read while it keeps coming, and each delta reaches progress.
    go = asyncio.Event()
    words = ["Hello", " wide", " world"]
    chunks = [sse(gemini_chunk(w, finish="STOP", out=i + 1))[0] for i, w in enumerate(words)]

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(chunks[0])
        await go.wait()  # the first delta has reached the caller
        for c in chunks[1:]:
            await resp.write(c)
        await resp.write_eof()
        return resp

    deltas: list[str] = []

    async def progress(event: str, data: dict[str, Any]) -> None:
        if event == "delta":
            deltas.append(data["text"])
            go.set()

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    transport = Transport()
    try:
        env = {"GEMINI_API_KEY": "g-key", "GEMINI_BASE_URL": f"http://127.0.0.1:{server.port}"}
        request = LLMRequest(messages=[Message("user", "hi")], stream=True)
        result = await GeminiProvider(env, transport).complete(
            request, Target("google", "gemini-2.5-flash"), progress=progress
        )
    finally:
        go.set()
        await transport.aclose()
        await server.close()
    assert (result.text, "".join(deltas), result.usage.output_tokens) == ("Hello wide world",) * 2 + (3,)


async def test_a_stream_that_keeps_pinging_after_its_end_answers_once_the_pings_carry_nothing(tmp_path, monkeypatch):
    # A gateway that goes on sending keep-alive events (Anthropic's "ping") after message_stop, each well within a
    # second of the last: what follows a terminal event was read while it kept coming, so the whole answer, billed,
    # was held until the call's deadline (300 s by default). Events that add nothing to the answer do not keep the
    # read going: it ends a while after the last one that did.
    from magsag_mcp.providers import stream_end
    from magsag_mcp.service import Service

    monkeypatch.setattr(stream_end, "AFTER_THE_END_SECONDS", 0.3)
    done = asyncio.Event()
    pinging: list[bool] = []
    ping = b'event: ping\ndata: {"type": "ping"}\n\n'

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for c in WHOLE_THEN_CUT["anthropic"][:-1]:
            await resp.write(c)
        pinging.append(True)
        for _ in range(400):  # a ping every 50 ms, for far longer than the read after the end may last
            if done.is_set():
                break
            await resp.write(ping)
            await asyncio.sleep(0.05)
        pinging.append(False)
        await done.wait()
        return resp

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    env = {
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{server.port}",
        "ANTHROPIC_API_KEY": "sk-ant-test-0123456789",
        "MAGSAG_CALL_DEADLINE": "600",
    }
    model = {"provider": "anthropic", "model": "claude-3-5-sonnet-20241022", "stream": True}
    try:
        async with Service.open(db=tmp_path / "l.db", env=env) as svc:
            out = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": model})
        answered_while_pinging = pinging == [True]
    finally:
        done.set()
        await server.close()
    assert (out.result.text, out.result.finish_reason) == ("whole answer", "stop")
    assert answered_while_pinging


#: how llama.cpp's server (builds through 2025) says a streamed request failed: a field of its own, not "data"
LLAMA_CPP_ERROR = (
    b'error: {"code":400,"message":"the request exceeds the available context size. try increasing the context '
    b'size or enable context shift","type":"invalid_request_error"}\n\n'
)


async def test_a_llama_cpp_error_field_in_a_stream_is_the_error_it_says(raw_stream):
    # The server answers 200 and says its error as `error: {...}`, which the event-stream standard ignores: the
    # prompt too long for the server's context size became "the stream ended with [DONE] but carried no answer",
    # of unknown cost, and the fix the server named (a larger context size) never reached the user.
    base = await raw_stream([LLAMA_CPP_ERROR, *sse("[DONE]")])
    with pytest.raises(E.ContextTooLongError, match="exceeds the available context size") as info:
        await compat_stream(base)
    assert info.value.status == 400 and not info.value.maybe_billed


async def test_a_llama_cpp_error_field_after_some_text_fails_the_answer(raw_stream):
    # After part of the answer, the error and [DONE]: the part was returned as a whole answer (finish_reason
    # "other", no warning), the server's failure unsaid.
    base = await raw_stream([*sse(chunk({"content": "partial answer"})), LLAMA_CPP_ERROR, *sse("[DONE]")])
    with pytest.raises(E.ContextTooLongError) as info:
        await compat_stream(base)
    assert info.value.maybe_billed  # the answer had begun: what it generated may be billed


async def test_a_chat_chunk_whose_error_is_null_is_a_chunk_of_the_answer(raw_stream):
    # Gateways that write every field of their chunk type (Go structs without omitempty, and others) send
    # "error": null on each healthy chunk. Read as an error event, every streamed answer through them failed as
    # "HTTP 500" after its first piece, and was asked for, and paid for, again; an unstreamed answer with the
    # same null was read as the answer.
    chunks = [{**c, "error": None} for c in (chunk({"content": "hel"}), chunk({"content": "lo"}), chunk({}, "stop"))]
    base = await raw_stream(sse(*chunks, {**USAGE_CHUNK, "error": None}, "[DONE]"))
    result = await compat_stream(base)
    assert (result.text, result.finish_reason, result.usage.output_tokens) == ("hello", "stop", 4)


@pytest.mark.parametrize("content_type", ["text/plain; charset=utf-8", "application/x-ndjson", "text/html"])
async def test_an_event_stream_labelled_with_another_media_type_is_read_as_the_stream_it_is(raw_stream, content_type):
    # Servers whose event stream is framed right and labelled wrong (a RAG proxy's text/plain, LitServe's OpenAI
    # spec's application/x-ndjson; the OpenAI SDK reads them, as it never looks at the label): every streamed call
    # failed as "answered with text/plain, neither an event stream nor JSON", generated and maybe billed, and moved
    # on to the next target. The body's first bytes say what it is: fields of an event stream, after a comment.
    events = [chunk({"content": "hel"}), chunk({"content": "lo"}), chunk({}, "stop"), USAGE_CHUNK, "[DONE]"]
    base = await raw_stream([b"\n: keep-alive\n\n", *sse(*events)], content_type=content_type)
    result = await compat_stream(base)
    assert (result.text, result.finish_reason, result.usage.output_tokens) == ("hello", "stop", 4)


async def test_a_page_labelled_as_text_is_still_no_stream(raw_stream):
    base = await raw_stream([b"<html><body>Sign in to the corporate proxy</body></html>"], content_type="text/html")
    with pytest.raises(E.MalformedResponseError, match="answered with text/html.*captive portal"):
        await compat_stream(base)


@pytest.mark.parametrize("api", ["anthropic", "gemini"])
async def test_a_done_marker_after_a_whole_anthropic_or_gemini_stream_is_no_malformed_answer(raw_stream, api: str):
    # Chat Completions' end marker, which servers and gateways serving these formats append (vLLM's Messages API
    # before 2026-03, copilot-api's): read as a Messages or Gemini event, "[DONE]" failed the whole, billed answer
    # as "stream event is not JSON", and it was asked for, and paid for, again.
    base = await raw_stream([*WHOLE_THEN_CUT[api][:-1], *sse("[DONE]")])
    transport = Transport()
    try:
        provider, target = _streaming_provider(api, base, transport)
        result = await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=True), target)
    finally:
        await transport.aclose()
    assert (result.text, result.usage.input_tokens, result.usage.output_tokens) == ("whole answer", 9, 4)


@pytest.mark.parametrize("item_done", [False, True], ids=["no-items", "empty-item"])
async def test_a_responses_stream_whose_text_came_only_in_its_deltas_is_that_answer(raw_stream, item_done: bool):
    # vLLM's Responses API (models without the Harmony format, such as Qwen) and gateways that translate chat
    # completions into it stream the text in response.output_text.delta, then end with response.completed's
    # output: [] (and an output_item.done whose message has no content). The text had reached the caller's
    # progress, and the answer failed as "no usable answer ... with no content", billed, and was asked for again.
    empty = {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant", "content": []}
    base = await raw_stream(
        sse(
            {"type": "response.created", "sequence_number": 0, "response": {**RESPONSE, "status": "in_progress"}},
            {"type": "response.output_text.delta", "sequence_number": 1, "delta": "whole "},
            {"type": "response.output_text.delta", "sequence_number": 2, "delta": "answer"},
            *([{"type": "response.output_item.done", "output_index": 0, "item": empty}] if item_done else []),
            {"type": "response.completed", "sequence_number": 3, "response": {**RESPONSE, "output": []}},
        )
    )
    transport = Transport()
    seen: list[str] = []

    async def progress(event: str, data: dict[str, Any]) -> None:
        seen.append(data["text"])

    try:
        provider, target = _streaming_provider("responses", base, transport)
        request = LLMRequest(messages=[Message("user", "hi")], stream=True)
        result = await provider.complete(request, target, progress=progress)
    finally:
        await transport.aclose()
    assert (result.text, result.finish_reason, result.usage.output_tokens) == ("whole answer", "stop", 4)
    assert "".join(seen) == result.text


#: how Gemini (and Vertex AI) abort a 200 stream: the error's JSON written raw into the body, pretty-printed, no SSE
GEMINI_RAW_ERROR = (
    b'{\n  "error": {\n    "code": 503,\n    "message": "This model is currently experiencing high demand. Spikes in '
    b'demand are usually temporary. Please try again later.",\n    "status": "UNAVAILABLE"\n  }\n}'
)


@pytest.mark.parametrize("began", [False, True], ids=["first", "after-text"])
@pytest.mark.parametrize("end", [b"", b"\n"], ids=["no-newline", "newline"])
async def test_a_gemini_error_written_raw_into_the_stream_is_the_error_it_says(raw_stream, began: bool, end: bytes):
    # Outside the event stream's framing, every line of it was ignored: the call failed as "the stream ended before
    # a finishReason", a dropped connection of unknown cost, and Google's word (503 high demand, a 429 quota) lost.
    first = WHOLE_THEN_CUT["gemini"][0]
    base = await raw_stream([*([first] if began else []), GEMINI_RAW_ERROR + end])
    transport = Transport()
    try:
        provider, target = _streaming_provider("gemini", base, transport)
        with pytest.raises(E.ProviderError, match="high demand") as info:
            await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=True), target)
    finally:
        await transport.aclose()
    assert info.value.status == 503 and info.value.retryable
    assert info.value.maybe_billed is began  # shed before any answer: not billed, as the 503 it stands for is not


@pytest.mark.parametrize("api", ["responses", "anthropic"])
async def test_a_llama_cpp_error_field_in_a_responses_or_messages_stream_is_the_error_it_says(raw_stream, api: str):
    # llama.cpp's server serves the Responses and Messages APIs too, and says a streamed request failed the same way:
    # `error: {"code", "message", "type"}`. Read as an event named error, its data's own "type"
    # ("invalid_request_error") was taken for the event's kind, which neither reader knew: the event was passed over,
    # the call failed as "the stream ended before response.completed / message_stop", a dropped stream of unknown cost
    # asked for again, and the server's fix (a larger context size) was lost.
    base = await raw_stream([LLAMA_CPP_ERROR, *sse("[DONE]")])
    transport = Transport()
    try:
        provider, target = _streaming_provider(api, base, transport)
        with pytest.raises(E.ProviderError, match="exceeds the available context size") as info:
            await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=True), target)
    finally:
        await transport.aclose()
    assert info.value.status == 400 and not info.value.maybe_billed and not info.value.retryable
