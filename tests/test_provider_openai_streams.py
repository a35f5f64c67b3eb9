"""The OpenAI provider against the spec-checking loopback server: streamed answers (progress, tool calls, a
stream cut or answered as JSON, an organization not verified to stream), and how an answer ends (length, the
content filter, a refusal, a failed, cancelled or unfinished response)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.openai import OpenAIProvider
from magsag_mcp.providers.refused_settings import RefusedSettings
from magsag_mcp.transport import Transport
from magsag_mcp.types import ToolCall
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import FakeOpenAI
from tests.llm_requests import ask
from tests.provider_openai_helpers import APIS, ENV, WEATHER, sent, target

pytestmark = pytest.mark.anyio


@pytest.fixture
def provider(transport: Transport) -> OpenAIProvider:
    return OpenAIProvider(ENV, transport)


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


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("reply", "cls"),
    [
        # a spent balance said inside the stream (no HTTP status of its own): it was a 500, a ServerError sent again
        # and again on the last target, each time refused the same, where a 429 insufficient_quota moves on at once
        (R.insufficient_quota(), E.QuotaExhaustedError),
        (
            R.error(503, "Our servers are currently overloaded.", type="server_error", code="slow_down"),
            E.OverloadedError,
        ),
        (
            R.error(429, "Rate limit reached for gpt-4o on requests per min.", code="rate_limit_exceeded"),
            E.RateLimitError,
        ),
    ],
    ids=["insufficient-quota", "slow-down", "rate-limit"],
)
async def test_an_error_in_a_stream_is_classified_by_its_code(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, reply: R.ErrorReply, cls: type
):
    fake_openai.queue(replace(reply, in_stream=True))
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(stream=True), target(fake_openai, api))
    assert type(info.value) is cls, type(info.value)
    assert info.value.retryable == cls.retryable and info.value.moves_on
    # the stream came with HTTP 200: its message said "HTTP 429" (the status of its class), which no server sent and
    # a user looked for in vain in a proxy's log; it says where the error was, with the answer's request id
    assert "HTTP" not in info.value.message, info.value.message
    assert f"{reply.message}" in info.value.message
    assert "gpt-4o: an error in the answer's stream (request id req_fake): " in info.value.message
    assert fake_openai.violations == []


async def test_an_unverified_organization_still_gets_the_stream_warning_with_refused_settings(
    fake_openai: FakeOpenAI, provider: OpenAIProvider
):
    # the stream refusal stays OpenAI's own (it says how to verify the organization), not a dropped setting
    fake_openai.verified = False
    result = await provider.complete(ask("hi", stream=True), target(fake_openai, "chat", "o3"))
    assert "verified organizations" in result.warnings[-1]
    assert not any("refused 'stream'" in w for w in result.warnings)


# --- how an answer ends ---------------------------------------------------------------------------------


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


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("stream", [False, True])
async def test_a_refusal_beside_real_text_is_returned_with_a_warning_in_its_words(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, stream: bool
):
    # Chat's content beside message.refusal; the Responses API's output_text part before a refusal part. The text is
    # the answer, returned; the refusal was dropped with no word, and a caller reading the text alone took it for all
    # that was asked. Its words are bounded: a refusal of 10,000 characters is not a warning of 10,000.
    refusal = "I can't help with the second part. " + "x" * 10_000
    fake_openai.queue(R.Reply(text="Here is the first part.", refusal=refusal, usage=R.tokens(40, 6)))
    result = await provider.complete(ask(stream=stream), target(fake_openai, api))
    assert result.text == "Here is the first part."
    [said] = [w for w in result.warnings if "refused" in w]
    assert said.startswith("openai:gpt-4o refused part of the request beside its answer: \"I can't help with the ")
    assert said.endswith("; the answer is returned without it: check it is all that was asked")
    assert len(said) < 400
    assert fake_openai.violations == []


@pytest.mark.parametrize("text", [None, "Hi"])
def test_a_responses_refusal_that_is_no_string_is_read_as_its_text(text: str | None):
    # A broken server's refusal part whose refusal is an object: joined, it raised a TypeError (taken for a bug of
    # magsag's, internal_error, the next target untried) where chat's is read as its text
    from magsag_mcp.providers.openai_responses import ResponsesFormat

    parts: list[dict[str, Any]] = [{"type": "output_text", "text": text, "annotations": []}] if text else []
    parts.append({"type": "refusal", "refusal": {"why": "no"}})
    message = {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant", "content": parts}
    usage = {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}
    body = {"id": "resp_1", "object": "response", "status": "completed", "model": "gpt-4o", "output": [message]}
    body["usage"] = usage
    if text is None:
        with pytest.raises(E.ContentFilteredError, match="refused: \"{'why': 'no'}\""):
            ResponsesFormat().parse_response(body, provider="openai", model="gpt-4o")
        return
    result = ResponsesFormat().parse_response(body, provider="openai", model="gpt-4o")
    assert result.text == "Hi" and [w for w in result.warnings if "{'why': 'no'}" in w]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("blank", ["", " \n"])
async def test_a_refusal_beside_blank_text_is_content_filtered_with_its_words(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str, stream: bool, blank: str
):
    # Chat's content "" or whitespace beside message.refusal; the Responses API's output_text part of that text before
    # the refusal part. The blank text was taken for the answer: the refusal was dropped unsaid, and the call failed as
    # an empty answer ("no usable answer"), not as the model's refusal, with its reason.
    fake_openai.queue(R.Reply(text=blank, refusal="I can't help with that.", usage=R.tokens(40, 6)))
    with pytest.raises(E.ContentFilteredError, match="refused") as info:
        await provider.complete(ask(stream=stream), target(fake_openai, api))
    assert "I can't help with that." in info.value.message
    assert (info.value.usage.input_tokens, info.value.usage.output_tokens) == (40, 6)
    assert fake_openai.violations == []


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


async def test_a_response_that_is_not_done_is_no_answer(fake_openai: FakeOpenAI, provider: OpenAIProvider):
    # a background response is answered at once, "queued" with no output: it was returned as an empty answer
    request = ask("Write a long report.")
    request.extra["background"] = True
    with pytest.raises(E.MalformedResponseError) as info:
        await provider.complete(request, target(fake_openai, "responses"))
    assert "'queued'" in info.value.message and "background" in info.value.message
    assert info.value.maybe_billed  # generated (and billed) later, at a cost no one reported


@pytest.mark.parametrize("api", APIS)
async def test_an_unstreamed_call_is_the_fitted_calls_own_coroutine_and_answers_as_before(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str
):
    # a coroutine of ours fewer an attempt: complete() made one that only awaited call_fitted's, and each of the
    # attempt's suspensions passed through it both ways (and the collector walked it at 200 callers)
    fake_openai.queue(R.reply("the answer"))
    pending = provider.complete(ask(), target(fake_openai, api))
    assert pending.cr_code is RefusedSettings.call_fitted.__code__
    result = await pending
    assert (result.text, result.finish_reason) == ("the answer", "stop")
    assert len(fake_openai.requests) == 1 and "stream" not in sent(fake_openai)
    streamed = provider.complete(ask(stream=True), target(fake_openai, api))
    assert streamed.cr_code is not RefusedSettings.call_fitted.__code__  # (a stream refused is asked again unstreamed)
    streamed.close()
