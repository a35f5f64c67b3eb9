"""What fuzzing the vendors' answers (test_fuzz_answers.py) found, each as a plain example: an answer a provider
read into an escaped exception, a result of the wrong types, or a wait that did not end."""

from __future__ import annotations

import json
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message, ToolSpec

from .raw_streams_helpers import (
    ANTHROPIC_START,
    CUT,
    RESPONSE,
    USAGE_CHUNK,
    WHOLE_THEN_CUT,
    _streaming_provider,
    chunk,
    sse,
)

WEATHER = ToolSpec("get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}})

pytestmark = pytest.mark.anyio


async def _streamed(raw_stream, api: str, chunks: list[bytes]):
    base = await raw_stream(chunks)
    transport = Transport()
    try:
        provider, target = _streaming_provider(api, base, transport)
        return await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=True), target)
    finally:
        await transport.aclose()


@pytest.mark.parametrize("odd_type", [["ping"], {"name": "ping"}])
@pytest.mark.parametrize("api", ["responses", "anthropic"])
async def test_an_event_after_the_end_whose_type_is_no_string_leaves_the_answer_whole(raw_stream, api, odd_type):
    # After the terminal event (response.completed, message_stop) the stream's events are read while they come, and
    # one whose "type" is a list or an object escaped as TypeError (unhashable) from the keep-alive check: the
    # whole, billed answer lost to a bug's error. Such an event is no keep-alive, and the answer stands.
    whole = [c for c in WHOLE_THEN_CUT[api] if c is not CUT]
    odd = f"data: {json.dumps({'type': odd_type})}\n\n".encode()
    result = await _streamed(raw_stream, api, [*whole, odd])
    assert (result.text, result.finish_reason) == ("whole answer", "stop")


def _with_call_id(api: str, call_id: Any) -> dict[str, Any]:
    """A valid answer of ``api``'s holding one tool call whose id is ``call_id``."""
    if api == "chat":
        call = {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        return {**_CHAT, "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}
    if api == "responses":
        item = {"type": "function_call", "id": "fc_1", "call_id": call_id, "name": "get_weather"}
        return {**RESPONSE, "output": [{**item, "arguments": '{"city": "Oslo"}', "status": "completed"}]}
    if api == "anthropic":
        block = {"type": "tool_use", "id": call_id, "name": "get_weather", "input": {"city": "Oslo"}}
        return {**ANTHROPIC_START, "content": [block], "stop_reason": "tool_use"}
    call = {"functionCall": {"id": call_id, "name": "get_weather", "args": {"city": "Oslo"}}}
    return {
        "candidates": [{"content": {"role": "model", "parts": [call]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 4, "totalTokenCount": 13},
    }


_CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o",
    "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
}


@pytest.mark.parametrize("call_id", [7, 1.5, ["call_1"], {"value": "call_1"}, True])
@pytest.mark.parametrize("api", ["chat", "responses", "anthropic", "gemini"])
async def test_a_tool_call_whose_id_is_no_string_is_a_malformed_answer(raw_stream, api: str, call_id: Any):
    # A tool call's id is a string in every spec. A number, a list or an object there was taken as the call's id:
    # sent back with the call's result it is no id the API takes, and a result's tool call is read as a string's.
    base = await raw_stream([json.dumps(_with_call_id(api, call_id)).encode()], content_type="application/json")
    transport = Transport()
    try:
        provider, target = _streaming_provider(api, base, transport)
        request = LLMRequest(messages=[Message("user", "hi")], tools=[WEATHER])
        with pytest.raises(E.MalformedResponseError, match="tool call's id is"):
            await provider.complete(request, target)
    finally:
        await transport.aclose()


@pytest.mark.parametrize("api", ["chat", "responses", "anthropic", "gemini"])
async def test_a_tool_call_without_an_id_is_given_one(raw_stream, api: str):
    # (the control: a call whose id is left out, null or empty is given one, as before)
    for call_id in (None, ""):
        base = await raw_stream([json.dumps(_with_call_id(api, call_id)).encode()], content_type="application/json")
        transport = Transport()
        try:
            provider, target = _streaming_provider(api, base, transport)
            request = LLMRequest(messages=[Message("user", "hi")], tools=[WEATHER])
            result = await provider.complete(request, target)
        finally:
            await transport.aclose()
        assert [c.name for c in result.tool_calls] == ["get_weather"]
        assert isinstance(result.tool_calls[0].id, str) and result.tool_calls[0].id


async def test_a_streamed_chat_tool_call_whose_id_is_no_string_is_a_malformed_answer(raw_stream):
    call = {"index": 0, "id": {"tool_calls": []}, "type": "function"}
    chunks = sse(
        chunk({"role": "assistant", "tool_calls": [{**call, "function": {"name": "get_weather", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Oslo"}'}}]}),
        chunk(finish="tool_calls"),
        USAGE_CHUNK,
        "[DONE]",
    )
    base = await raw_stream(chunks)
    transport = Transport()
    try:
        provider, target = _streaming_provider("chat", base, transport)
        request = LLMRequest(messages=[Message("user", "hi")], tools=[WEATHER], stream=True)
        with pytest.raises(E.MalformedResponseError, match="tool call's id is"):
            await provider.complete(request, target)
    finally:
        await transport.aclose()


@pytest.mark.parametrize("refusal", [7, {"reason": "policy"}, ["not with that"]])
async def test_a_streamed_chat_refusal_that_is_no_string_is_the_refusal_the_unstreamed_answer_is(raw_stream, refusal):
    # delta.refusal is a string in the spec. A number, an object or a list there escaped as TypeError when the pieces
    # were joined (a bug of magsag's, which stops the call, where the same refusal unstreamed is the model's refusal,
    # a content_filtered error that moves on to the next target): read as the unstreamed answer's, as its text
    message = {"role": "assistant", "content": None, "refusal": refusal}
    whole = {**_CHAT, "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    streamed = sse(chunk({"role": "assistant", "refusal": refusal}), chunk(finish="stop"), USAGE_CHUNK, "[DONE]")
    errors = []
    for chunks, stream in (([json.dumps(whole).encode()], False), (streamed, True)):
        base = await raw_stream(chunks, content_type="text/event-stream" if stream else "application/json")
        transport = Transport()
        try:
            provider, target = _streaming_provider("chat", base, transport)
            with pytest.raises(E.ContentFilteredError) as info:
                await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=stream), target)
        finally:
            await transport.aclose()
        errors.append(info.value)
    assert errors[0].message == errors[1].message and str(refusal) in errors[1].message
    assert errors[1].usage is not None and errors[1].usage.output_tokens == 4  # (billed as its usage chunk says)


def _gemini_answer(**candidate: Any) -> dict[str, Any]:
    """A Gemini answer of "hi", its candidate's fields set to ``candidate``'s (finishReason STOP unless given)."""
    cand = {"content": {"role": "model", "parts": [{"text": "hi"}]}, "finishReason": "STOP", "index": 0, **candidate}
    usage = {"promptTokenCount": 9, "candidatesTokenCount": 4, "totalTokenCount": 13}
    return {"candidates": [cand], "usageMetadata": usage, "modelVersion": "gemini-2.5-flash"}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("message", [{"text": "Malformed function call"}, ["Malformed function call"]])
async def test_a_gemini_finish_message_that_is_no_string_says_the_broken_answer(raw_stream, stream, message):
    # Candidate.finishMessage is a string. An object or a list there, beside a finishReason of no usable answer,
    # escaped as TypeError (sliced for its excerpt) from a bug of magsag's, where the answer is the vendor's broken one
    # (billed, the next target tried): said as its text, as the warning of an answer stopped early says it
    answer = _gemini_answer(content={"role": "model", "parts": []}, finishReason="MALFORMED_FUNCTION_CALL")
    answer["candidates"][0]["finishMessage"] = message
    chunks = sse(answer) if stream else [json.dumps(answer).encode()]
    base = await raw_stream(chunks, content_type="text/event-stream" if stream else "application/json")
    transport = Transport()
    try:
        provider, target = _streaming_provider("gemini", base, transport)
        with pytest.raises(E.MalformedResponseError, match="MALFORMED_FUNCTION_CALL") as info:
            await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=stream), target)
    finally:
        await transport.aclose()
    assert "Malformed function call" in info.value.message and info.value.usage.output_tokens == 4


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("stage", [{"name": "LEGACY"}, ["LEGACY"]])
async def test_a_gemini_model_stage_that_is_no_name_leaves_the_answer_whole(raw_stream, stream, stage):
    # modelStatus.modelStage is an enum's name. An object or a list there escaped as TypeError (unhashable) when it
    # was looked up among the stages of a model on its way out: the whole, billed answer lost to a bug's error. It
    # names no stage, and the answer stands (without a word of a retirement it does not say)
    answer = {**_gemini_answer(), "modelStatus": {"modelStage": stage}}
    chunks = sse(answer) if stream else [json.dumps(answer).encode()]
    base = await raw_stream(chunks, content_type="text/event-stream" if stream else "application/json")
    transport = Transport()
    try:
        provider, target = _streaming_provider("gemini", base, transport)
        result = await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=stream), target)
    finally:
        await transport.aclose()
    assert (result.text, result.finish_reason, result.usage.output_tokens) == ("hi", "stop", 4)
    assert not any("retire" in w for w in result.warnings)


@pytest.mark.parametrize("item_id", [{"id": "msg_2"}, ["msg_2"]])
async def test_a_responses_text_delta_whose_item_id_is_no_string_after_commentary_leaves_the_answer_whole(
    raw_stream, item_id
):
    # After a message of commentary (phase "commentary"), each output_text.delta's item_id is looked up among the
    # commentary's ids, to keep its text from the caller's progress. One that is a list or an object (a broken
    # gateway's) escaped as TypeError (unhashable): the whole, billed answer lost to a bug's error. It is no
    # commentary's id (those are strings), and its text goes on as the answer's.
    commentary = {"type": "message", "id": "msg_1", "phase": "commentary", "role": "assistant", "content": []}
    final = {"type": "message", "id": "msg_2", "phase": "final_answer", "role": "assistant", "status": "completed"}
    final["content"] = [{"type": "output_text", "text": "whole answer", "annotations": []}]
    chunks = sse(
        {"type": "response.output_item.added", "sequence_number": 0, "output_index": 0, "item": commentary},
        {"type": "response.output_text.delta", "sequence_number": 1, "item_id": item_id, "delta": "whole answer"},
        {"type": "response.completed", "sequence_number": 2, "response": {**RESPONSE, "output": [final]}},
    )
    result = await _streamed(raw_stream, "responses", chunks)
    assert (result.text, result.finish_reason) == ("whole answer", "stop")


#: each API's whole answer, unstreamed, and where it says its id
_WHOLE = {
    "chat": {
        **_CHAT,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "whole answer"}, "finish_reason": "stop"}],
    },
    "responses": RESPONSE,
    "anthropic": {
        **ANTHROPIC_START,
        "content": [{"type": "text", "text": "whole answer"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 9, "output_tokens": 4},
    },
    "gemini": {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "whole answer"}]}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 4, "totalTokenCount": 13},
        "responseId": "resp-g",
    },
}
_ID_KEY = {"chat": "id", "responses": "id", "anthropic": "id", "gemini": "responseId"}
#: the id as each whole stream of WHOLE_THEN_CUT says it (Gemini's says none: its first chunk is given one)
_STREAMED_ID = {"chat": b'"chatcmpl-1"', "responses": b'"resp_1"', "anthropic": b'"msg_1"'}


def _streamed_with_id(api: str, odd: Any) -> list[bytes]:
    said = json.dumps(odd).encode()
    if api == "gemini":
        first, *rest = WHOLE_THEN_CUT["gemini"]
        return [first.replace(b'{"candidates"', b'{"responseId": ' + said + b', "candidates"', 1), *rest]
    return [c if c is CUT else c.replace(_STREAMED_ID[api], said) for c in WHOLE_THEN_CUT[api]]


@pytest.mark.parametrize("odd", [7, ["resp_1"], {"id": "resp_1"}, True])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("api", ["chat", "responses", "anthropic", "gemini"])
async def test_an_answer_whose_id_is_no_string_is_the_answer_without_an_id(raw_stream, api: str, stream: bool, odd):
    # The vendor's id of an answer is a string in every spec. A number, a list or an object there (a broken gateway's)
    # went into the result as it came: the answer was paid for and recorded, then the MCP tool's InvokeSkillResult
    # (response_id: str | None) refused it, the caller given an internal error for a whole answer (and the answer
    # cache kept the object). It is no id: the answer stands, without one.
    if stream:
        base = await raw_stream(_streamed_with_id(api, odd))
    else:
        body = {**_WHOLE[api], _ID_KEY[api]: odd}
        base = await raw_stream([json.dumps(body).encode()], content_type="application/json")
    transport = Transport()
    try:
        provider, target = _streaming_provider(api, base, transport)
        result = await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=stream), target)
    finally:
        await transport.aclose()
    assert (result.text, result.finish_reason, result.response_id) == ("whole answer", "stop", None)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("api", ["chat", "responses", "anthropic", "gemini"])
async def test_an_answer_whose_id_is_a_string_keeps_it(raw_stream, api: str, stream: bool):
    # (the control: the vendor's id, as it came)
    if stream:
        chunks = _streamed_with_id(api, "id-1") if api == "gemini" else WHOLE_THEN_CUT[api]
        base = await raw_stream(chunks)
    else:
        base = await raw_stream([json.dumps(_WHOLE[api]).encode()], content_type="application/json")
    transport = Transport()
    try:
        provider, target = _streaming_provider(api, base, transport)
        result = await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=stream), target)
    finally:
        await transport.aclose()
    expected = {"chat": "chatcmpl-1", "responses": "resp_1", "anthropic": "msg_1", "gemini": "id-1"}[api]
    assert result.response_id == (expected if stream or api != "gemini" else "resp-g")


@pytest.mark.parametrize("stream", [False, True])
async def test_an_answer_whose_id_holds_half_a_surrogate_pair_is_given_as_whole_characters(raw_stream, stream: bool):
    # "\ud800" in the JSON is half of a UTF-16 surrogate pair, which no UTF-8 can hold: kept in the id, the MCP
    # tool's result could not be written as JSON once the answer had been paid for. U+FFFD stands for it.
    if stream:
        base = await raw_stream(_streamed_with_id("chat", "chatcmpl-\ud800"))
    else:
        body = {**_WHOLE["chat"], "id": "chatcmpl-\ud800"}
        base = await raw_stream([json.dumps(body).encode()], content_type="application/json")
    transport = Transport()
    try:
        provider, target = _streaming_provider("chat", base, transport)
        result = await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=stream), target)
    finally:
        await transport.aclose()
    assert (result.text, result.response_id) == ("whole answer", "chatcmpl-\ufffd")
    json.dumps(result.response_id).encode("utf-8")  # (it can be written)
