"""Errors inside streams written byte for byte (conftest.py's ``raw_stream``): error events and fields as each
vendor and server writes them (Responses, Gemini, llama.cpp), the error each is, and whether it may be billed."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp import errors as E
from magsag_mcp.providers.openai import OpenAIProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message, Target

from .raw_streams_helpers import (
    ANTHROPIC_START,
    USAGE_CHUNK,
    WHOLE_THEN_CUT,
    _streaming_provider,
    chunk,
    compat_stream,
    gemini_chunk,
    gemini_stream,
    sse,
)

pytestmark = pytest.mark.anyio


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
    assert out.result.text == "whole answer" and budget["cost_complete"]
    # the answer's reported usage (9 input, 4 output tokens) at Claude 3.5 Sonnet's $3 and $15 per million: the
    # overloaded try cost nothing, so the call costs the answer alone, and the run's limit counts just that
    assert out.cost_usd == Decimal("0.000087") == out.attempts[1].cost_usd


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


async def _error_said_in_a_stream(raw_stream, api: str, error: dict) -> pytest.ExceptionInfo[E.ProviderError]:
    """The error an OpenAI-format stream (``chat`` or ``responses``) raises for ``error`` said once it began: in a
    Chat Completions error chunk, or a Responses API error event."""
    first = chunk({"content": ""}) if api == "chat" else {"type": "response.created", "sequence_number": 0}
    event = {"error": error} if api == "chat" else {"type": "error", "sequence_number": 1, "error": error}
    base = await raw_stream(sse(first, event))
    transport = Transport()
    try:
        provider, target = _streaming_provider(api, base, transport)
        with pytest.raises(E.ProviderError) as info:
            await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=True), target)
    finally:
        await transport.aclose()
    return info


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize(
    "error",
    [
        {"code": "integer_below_min_value", "message": "Invalid 'max_output_tokens': integer below minimum value."},
        {"code": "invalid_value", "type": "invalid_request_error", "message": "Invalid value for 'seed'."},
        {"code": None, "type": "invalid_request_error", "message": "Invalid 'metadata': too many properties."},
    ],
    ids=["code-alone", "with-type", "type-alone"],
)
async def test_a_stream_error_with_a_code_of_no_server_failure_is_a_refusal_in_both_apis(raw_stream, api, error):
    # The vendor named why it refused the request, with a code that is not one of its server failures (CODE_STATUS):
    # the Responses API's error event took it for a 400, a Chat Completions error chunk for a 500, retried on the
    # same target (the same refusal again, a wait each time). One rule for both: a refusal, not a server failure.
    info = await _error_said_in_a_stream(raw_stream, api, error)
    assert type(info.value) is E.BadRequestError, type(info.value)
    assert info.value.status == 400 and not info.value.retryable
    assert info.value.details["code"] == (error["code"] or error["type"]) and error["message"] in info.value.message


async def test_groqs_failed_tool_call_said_in_a_chat_stream_is_the_models_invalid_output(raw_stream):
    # Groq checks the tool call the model wrote and, streaming, says its failure in the stream: code tool_use_failed,
    # type invalid_request_error. Taken for a 500, it was retried on the same target as a server failure; as the same
    # error answered over HTTP (400), it is the model's invalid output, which another target may write right.
    error = {
        "message": "Failed to call a function. Please adjust your prompt. See 'failed_generation' for more details.",
        "type": "invalid_request_error",
        "code": "tool_use_failed",
        "failed_generation": '<function=lookup>{"city": "Paris"</function>',
    }
    base = await raw_stream(sse(chunk({"role": "assistant", "content": ""}), {"error": error}))
    transport = Transport()
    try:
        provider, target = _streaming_provider("chat", base, transport)
        with pytest.raises(E.InvalidOutputError) as info:
            await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=True), target)
    finally:
        await transport.aclose()
    assert info.value.status == 400 and info.value.moves_on and not info.value.retryable
    assert "the model wrote a tool call the server could not read" in info.value.message


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize(
    "error",
    [
        {"code": "upstream_error", "message": "Upstream provider disconnected."},
        {"code": "model_overloaded", "type": "invalid_request_error", "message": "The model is overloaded."},
        {"code": "internal_error", "message": "Internal error while generating."},
        {"code": "Service_Unavailable", "message": "Try again later."},
    ],
    ids=["upstream", "overloaded-under-invalid-request", "internal", "unavailable-in-other-case"],
)
async def test_a_stream_error_whose_code_names_a_server_failure_is_one_in_both_apis(raw_stream, api, error):
    # Gateways of the OpenAI format name their own codes for their own failures: taken for refusals (400), as any
    # named code CODE_STATUS does not hold, each stopped the whole chain where a retry or the next target answers
    info = await _error_said_in_a_stream(raw_stream, api, error)
    assert info.value.status == 503 and info.value.retryable, (type(info.value), info.value.status)
    assert error["message"] in info.value.message


@pytest.mark.parametrize(("code", "cls"), [("rate_limit_exceeded", E.RateLimitError), ("server_error", E.ServerError)])
async def test_a_failed_response_streamed_without_its_output_list_is_the_failure_it_names(raw_stream, code, cls):
    # response.failed whose response leaves "output" out (a gateway's, or a server's that builds the failed response
    # from its error alone): the failure was lost to "final stream event has no output list", a malformed answer, its
    # code (a rate limit to wait out, a refusal not to send again) and message unsaid. Unstreamed, the same response is
    # read as the error it names; streamed, it is too.
    failed = {"id": "resp_1", "object": "response", "status": "failed", "error": {"code": code, "message": "stopped"}}
    begun = {"type": "response.created", "sequence_number": 0, "response": {**failed, "status": "in_progress"}}
    base = await raw_stream(sse(begun, {"type": "response.failed", "sequence_number": 1, "response": failed}))
    transport = Transport()
    try:
        provider, target = _streaming_provider("responses", base, transport)
        with pytest.raises(E.ProviderError) as info:
            await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=True), target)
    finally:
        await transport.aclose()
    assert type(info.value) is cls and "stopped" in info.value.message and info.value.details["code"] == code


@pytest.mark.parametrize("stream", [False, True])
async def test_a_failed_response_without_its_output_nor_an_error_is_a_failure_streamed_or_not(raw_stream, stream: bool):
    # {"status": "failed"} with neither "output" nor "error" (a gateway's): streamed, response.failed is read as the
    # failure it says (a server's, tried again); unstreamed, the same response was a malformed answer, not tried again
    # and said as "response without an output list". Both are the failure now.
    failed = {"id": "resp_1", "object": "response", "status": "failed"}
    if stream:
        base = await raw_stream(sse({"type": "response.failed", "sequence_number": 1, "response": failed}))
    else:
        base = await raw_stream([json.dumps(failed).encode()], content_type="application/json")
    transport = Transport()
    try:
        provider, target = _streaming_provider("responses", base, transport)
        with pytest.raises(E.ProviderError) as info:
            await provider.complete(LLMRequest(messages=[Message("user", "hi")], stream=stream), target)
    finally:
        await transport.aclose()
    assert type(info.value) is E.ServerError and info.value.retryable and "the response failed" in info.value.message
