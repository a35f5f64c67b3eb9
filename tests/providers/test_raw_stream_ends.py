"""Streams written byte for byte (conftest.py's ``raw_stream``) that end, or are cut, after their terminal
event, or whose gateway stamps a finish on chunks before it: the answer they make, or the dropped stream."""

from __future__ import annotations

from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.transport import Timeouts, Transport
from magsag_mcp.types import LLMRequest, Message

from .raw_streams_helpers import (
    CUT,
    PAUSE,
    USAGE_CHUNK,
    WHOLE_THEN_CUT,
    _streaming_provider,
    chunk,
    compat_stream,
    gemini_chunk,
    gemini_stream,
    sse,
)

#: (loopback servers here must answer within read timeouts of 0.2 s: see no_collector_pause)
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_collector_pause")]


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


#: Azure's content filter withholding the whole answer: the closing chunk names the categories that fired
_FILTERED_CLOSE = {
    **chunk(finish="content_filter"),
    "choices": [
        {
            "index": 0,
            "delta": {},
            "finish_reason": "content_filter",
            "content_filter_results": {"violence": {"filtered": True, "severity": "high"}},
        }
    ],
}


@pytest.mark.parametrize("end", ["cut", "idle"])
async def test_a_chat_stream_the_filter_closed_before_any_text_cut_before_its_usage_is_the_filtered_answer(
    raw_stream, end: str
):
    # A closing chunk that ends an answer with nothing in it (Azure's filter withheld all of it: finish_reason
    # "content_filter" on the first chunk after the role's) is as final as one after text: cut before the usage chunk,
    # the answer had come whole, filtered. It failed as a dropped stream, retryable: asked for again on the same
    # target (the filter firing again, and billed again) before the next target was tried, where a cut after text
    # is kept.
    role = chunk({"role": "assistant", "content": ""})
    chunks = [*sse(role, _FILTERED_CLOSE), *([CUT] if end == "cut" else [PAUSE] * 12)]
    transport = Transport(timeouts=Timeouts(connect=2.0, read=0.2))
    try:
        provider, target = _streaming_provider("chat", await raw_stream(chunks), transport)
        with pytest.raises(E.ContentFilteredError) as info:
            await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=True), target)
    finally:
        await transport.aclose()
    assert "violence (high)" in info.value.message and not info.value.retryable
    assert info.value.maybe_billed and info.value.usage is None  # (billed, at a cost the usage chunk was to say)


async def test_a_chat_stream_max_tokens_closed_before_any_text_cut_before_its_usage_is_that_answer(raw_stream):
    # A reasoning model that spent max_completion_tokens thinking closes its answer with nothing in it: finish_reason
    # "length" on the chunk after the role's. Cut before the usage chunk, that was the whole answer (the same one the
    # uncut stream gives, with its warning to raise max_tokens); as a dropped stream it was asked for, and paid for,
    # again, to end the same way.
    role = chunk({"role": "assistant", "content": ""})
    transport = Transport()
    try:
        request = LLMRequest(messages=[Message("user", "hi")], stream=True)
        provider, target = _streaming_provider(
            "chat", await raw_stream([*sse(role, chunk(finish="length")), CUT]), transport
        )
        result = await provider.complete(request, target)
    finally:
        await transport.aclose()
    assert (result.text, result.finish_reason, result.usage.reported) == ("", "length", False)
    assert any("raise max_tokens" in w for w in result.warnings)
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


async def test_a_chat_stream_whose_chunks_carry_an_empty_function_call_block_is_closed_by_its_closing_chunk(raw_stream):
    # Gateways written on openai-go's structs put the deprecated call block's zero value ({"name": "", "arguments":
    # ""}) on every delta, the closing one too. Taken for some of the answer, it made the closing chunk one of a gateway
    # stamping a finish on every chunk: cut before its usage chunk, the whole answer failed as a dropped stream and was
    # asked for, and paid for, again
    shell = {"function_call": {"name": "", "arguments": ""}}
    chunks = [*sse(chunk({"content": "whole answer", **shell}), chunk({"content": "", **shell}, finish="stop")), CUT]
    transport = Transport()
    try:
        request = LLMRequest(messages=[Message("user", "hi")], stream=True)
        provider, target = _streaming_provider("chat", await raw_stream(chunks), transport)
        result = await provider.complete(request, target)
    finally:
        await transport.aclose()
    assert (result.text, result.finish_reason, result.tool_calls) == ("whole answer", "stop", [])
    assert any("cut after the answer's end, before the usage" in w for w in result.warnings)
