"""Streams written byte for byte: what real servers send beside (or against) the specs, read by the providers.

The spec-checking fakes send well-formed streams; the loopback server here (conftest.py's ``raw_stream``) sends
exactly the events a test gives it, for the deviations compatible servers and proxies are known for.

Here: tool calls, usage, Gemini's JSON array, content as a list of parts, an answer that came whole, and a
stream labelled with another media type. Streams that end or are cut after their last event are in
test_raw_stream_ends.py, streams held open after it in test_raw_stream_held_open.py, error events in
test_raw_stream_errors.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.openai import CompatProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message, Target, ToolCall

from .raw_streams_helpers import (
    CUT,
    MODEL,
    RESPONSE,
    USAGE_CHUNK,
    _streaming_provider,
    chunk,
    compat_stream,
    gemini_chunk,
    gemini_stream,
    sse,
)

pytestmark = pytest.mark.anyio


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


PICTURE = [{"modality": "TEXT", "tokenCount": 10}, {"modality": "IMAGE", "tokenCount": 1290}]


@pytest.mark.parametrize("last_says", ["left out", None], ids=["left-out", "null"])
async def test_a_gemini_stream_s_picture_count_is_the_last_chunk_s_not_an_earlier_one(raw_stream, last_says):
    # Each chunk's usageMetadata is the request's usage so far (the spec's UsageMetadata, a whole message): the last
    # chunk's is the answer's. An earlier chunk's candidatesTokensDetails stood where the last left it out (or wrote
    # it null), its 1290 IMAGE tokens billed at the image rate though the answer's counts say no such thing
    first = gemini_chunk("Hello", out=1300)
    first["usageMetadata"]["candidatesTokensDetails"] = PICTURE
    last = gemini_chunk(" world", finish="STOP", out=20)
    if last_says is None:
        last["usageMetadata"]["candidatesTokensDetails"] = None
    result = await gemini_stream(await raw_stream(sse(first, last)))
    usage = result.usage
    assert (usage.input_tokens, usage.output_tokens, usage.reported) == (5, 20, True)
    # the last chunk said no breakdown: none is recorded (NULL), as for a whole answer without one
    assert (usage.output_image_tokens, usage.output_image_said) == (0, False)


async def test_a_gemini_stream_s_picture_count_said_last_alone_is_read(raw_stream):
    # and the other way: counts so far without a breakdown, the last chunk's with the pictures in it
    first = gemini_chunk("Hello", out=1)
    last = gemini_chunk(" world", finish="STOP", out=1300)
    last["usageMetadata"]["candidatesTokensDetails"] = PICTURE
    result = await gemini_stream(await raw_stream(sse(first, last)))
    assert (result.usage.output_image_tokens, result.usage.output_image_said) == (1290, True)
    # an earlier chunk's pictures, the last chunk's text alone: none of them was a picture
    first["usageMetadata"]["candidatesTokensDetails"] = PICTURE
    last["usageMetadata"]["candidatesTokensDetails"] = [{"modality": "TEXT", "tokenCount": 1300}]
    result = await gemini_stream(await raw_stream(sse(first, last)))
    assert (result.usage.output_image_tokens, result.usage.output_image_said) == (0, True)


async def test_a_gemini_stream_s_thoughts_are_the_last_chunk_s_count(raw_stream):
    # a thoughtsTokenCount the last chunk leaves out is none there (proto3's JSON leaves a 0 out), not the earlier one
    first = gemini_chunk("Hello", out=1)
    first["usageMetadata"]["thoughtsTokenCount"] = 40
    last = gemini_chunk(" world", finish="STOP", out=2)
    result = await gemini_stream(await raw_stream(sse(first, last)))
    assert (result.usage.output_tokens, result.usage.reasoning_tokens) == (2, 0)


async def test_a_gemini_chunk_counting_the_prompt_alone_after_the_answer_s_counts_leaves_them(raw_stream):
    # a trailing chunk whose usageMetadata counts the prompt alone (no candidatesTokenCount, as the chunks before the
    # answer's do) is no count of less: the answer's 20 tokens and its pictures stand
    last = gemini_chunk(" world", finish="STOP", out=1300)
    last["usageMetadata"]["candidatesTokensDetails"] = PICTURE
    trailing = {"candidates": [], "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}}
    result = await gemini_stream(await raw_stream(sse(gemini_chunk("Hello", out=1), last, trailing)))
    usage = result.usage
    assert (usage.output_tokens, usage.output_image_tokens, usage.output_image_said) == (1300, 1290, True)


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


_ADDED = {
    "type": "response.output_item.added",
    "output_index": 0,
    "item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather", "arguments": ""},
}
_DELTAS = [
    {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 0, "delta": '{"city":'},
    {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 0, "delta": '"Paris"}'},
]
_ARGS_DONE = {
    "type": "response.function_call_arguments.done",
    "item_id": "fc_1",
    "output_index": 0,
    "name": "get_weather",
    "arguments": '{"city":"Paris"}',
}


@pytest.mark.parametrize(
    ("events", "expected_id"),
    [
        ([_ADDED, *_DELTAS], "call_1"),
        ([_ADDED, *_DELTAS, _ARGS_DONE], "call_1"),
        ([_ADDED, _ARGS_DONE], "call_1"),
        ([*_DELTAS, _ARGS_DONE], "fc_1"),  # no item: the call's id is the only one sent, its item's
        ([_ADDED, *({k: v for k, v in d.items() if k != "output_index"} for d in _DELTAS)], "call_1"),
    ],
    ids=["added-deltas", "added-deltas-done", "added-done", "deltas-done", "deltas-by-item-id"],
)
async def test_a_responses_stream_whose_call_came_only_in_the_events_that_build_it_is_that_call(
    raw_stream, events: list[dict[str, Any]], expected_id: str
):
    # The Responses streaming spec carries a function call in response.output_item.added (call_id, name),
    # function_call_arguments.delta (the arguments' pieces) and .done (name, arguments), beside its output_item.done
    # and the terminal event's output. A gateway that sends neither of the last two (output: []) lost the call.
    numbered = [{**e, "sequence_number": n} for n, e in enumerate(events, start=1)]
    base = await raw_stream(
        sse(
            {"type": "response.created", "sequence_number": 0, "response": {**RESPONSE, "status": "in_progress"}},
            *numbered,
            {"type": "response.completed", "sequence_number": 9, "response": {**RESPONSE, "output": []}},
        )
    )
    transport = Transport()
    try:
        provider, target = _streaming_provider("responses", base, transport)
        result = await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=True), target)
    finally:
        await transport.aclose()
    assert (result.text, result.finish_reason) == ("", "tool_calls")
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [(expected_id, "get_weather", {"city": "Paris"})]


async def test_a_responses_stream_item_done_is_its_call_over_the_events_that_built_it(raw_stream):
    # output_item.done carries the item whole: where it came, it is the call (the arguments' events are its parts)
    done = {**_ADDED["item"], "arguments": '{"city":"Oslo"}', "status": "completed"}
    base = await raw_stream(
        sse(
            {"type": "response.created", "sequence_number": 0, "response": {**RESPONSE, "status": "in_progress"}},
            {**_ADDED, "sequence_number": 1},
            {**_DELTAS[0], "sequence_number": 2},
            {"type": "response.output_item.done", "sequence_number": 3, "output_index": 0, "item": done},
            {"type": "response.completed", "sequence_number": 4, "response": {**RESPONSE, "output": []}},
        )
    )
    transport = Transport()
    try:
        provider, target = _streaming_provider("responses", base, transport)
        result = await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=True), target)
    finally:
        await transport.aclose()
    assert [(c.id, c.arguments) for c in result.tool_calls] == [("call_1", {"city": "Oslo"})]


async def _streamed(raw_stream, events: list[dict[str, Any]], output: list[dict[str, Any]]):
    numbered = [{**e, "sequence_number": n} for n, e in enumerate(events, start=1)]
    base = await raw_stream(
        sse(
            {"type": "response.created", "sequence_number": 0, "response": {**RESPONSE, "status": "in_progress"}},
            *numbered,
            {"type": "response.completed", "sequence_number": 99, "response": {**RESPONSE, "output": output}},
        )
    )
    transport = Transport()
    try:
        provider, target = _streaming_provider("responses", base, transport)
        return await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=True), target)
    finally:
        await transport.aclose()


async def test_a_responses_stream_whose_arguments_came_before_where_their_call_is_keeps_them(raw_stream):
    # a gateway's deltas that leave out output_index, sent before the item's output_item.added (at index 1): the
    # arguments are that call's, not a second call of no name that failed the whole answer as malformed
    added = {**_ADDED, "output_index": 1}
    early = [{k: v for k, v in d.items() if k != "output_index"} for d in _DELTAS]
    result = await _streamed(raw_stream, [*early, added], [])
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [("call_1", "get_weather", {"city": "Paris"})]


async def test_a_responses_stream_whose_terminal_output_lists_the_message_alone_keeps_its_calls(raw_stream):
    # a gateway that writes the terminal output from the text alone: the calls streamed (here two, interleaved, the
    # second's events first) are the answer's too, in output_index order
    message = {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
    }
    second = {**_ADDED["item"], "id": "fc_2", "call_id": "call_2", "name": "get_time"}
    events = [
        {"type": "response.output_item.added", "output_index": 2, "item": second},
        {**_ADDED, "output_index": 1},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_2", "output_index": 2, "delta": "{}"},
        *({**d, "output_index": 1} for d in _DELTAS),
    ]
    result = await _streamed(raw_stream, events, [message])
    assert (result.text, result.finish_reason) == ("Checking.", "tool_calls")
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_1", "get_weather", {"city": "Paris"}),
        ("call_2", "get_time", {}),
    ]


async def test_a_responses_stream_whose_terminal_output_lists_a_call_is_taken_as_it_is(raw_stream):
    # one that lists any function call is the answer whole: the streamed call is not added beside it a second time
    listed = {**_ADDED["item"], "id": "fc_other", "arguments": '{"city":"Paris"}', "status": "completed"}
    result = await _streamed(raw_stream, [_ADDED, *_DELTAS], [listed])
    assert [(c.id, c.arguments) for c in result.tool_calls] == [("call_1", {"city": "Paris"})]


async def test_a_responses_stream_item_done_without_its_index_is_its_call_once(raw_stream):
    # a gateway's output_item.done that leaves out output_index, after a reasoning item (index 0) it sent no done of:
    # the call (index 1 in its other events) is one call, not the item and its parts taken as two that both run
    reasoning = {"type": "response.output_item.added", "output_index": 0, "item": {"type": "reasoning", "id": "rs_1"}}
    done = {**_ADDED["item"], "arguments": '{"city":"Paris"}', "status": "completed"}
    events = [
        reasoning,
        {**_ADDED, "output_index": 1},
        *({**d, "output_index": 1} for d in _DELTAS),
        {"type": "response.output_item.done", "item": done},
    ]
    result = await _streamed(raw_stream, events, [])
    assert [(c.id, c.arguments) for c in result.tool_calls] == [("call_1", {"city": "Paris"})]


async def test_a_responses_stream_call_placed_late_keeps_apart_from_the_call_before_it(raw_stream):
    # a gateway's delta without output_index for the call at index 1, sent before the call at index 0 was added: the
    # guess of where it goes is no other call's place (at 0, the two calls' arguments ran together, malformed)
    second = {**_ADDED["item"], "id": "fc_2", "call_id": "call_2", "name": "get_time"}
    events = [
        {"type": "response.function_call_arguments.delta", "item_id": "fc_2", "delta": '{"zone":"UTC"}'},
        _ADDED,
        *_DELTAS,
        {"type": "response.output_item.added", "output_index": 1, "item": second},
    ]
    result = await _streamed(raw_stream, events, [])
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_1", "get_weather", {"city": "Paris"}),
        ("call_2", "get_time", {"zone": "UTC"}),
    ]
