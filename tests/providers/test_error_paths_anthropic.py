"""Anthropic's error paths: a refusal, a paused turn, a prompt too long, its timeout and mid-stream error events,
errors of their own class with the request id, and a disabled organisation (split from test_error_paths.py)."""

from __future__ import annotations

from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.types import LLMRequest, Message, ToolSpec
from tests.fakes.spec import spec_validator
from tests.providers.test_error_paths import CLAUDE, KEY, anthropic, ask

from .fakes import FakeAnthropic

pytestmark = pytest.mark.anyio


# --- Anthropic -------------------------------------------------------------------------------------

REFUSAL_DETAILS = {"type": "refusal", "category": "cyber", "explanation": "policy: malicious code"}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("partial", [None, "Sure, here is how you"])
async def test_anthropic_refusal_is_content_filtered(serve, transport, stream: bool, partial: str | None):
    # The streaming classifiers can stop an answer already under way: the partial text is not an answer.
    step = {"text": partial, "finish": "refusal", "stop_details": REFUSAL_DETAILS}
    _, provider, target = await anthropic(serve, transport, step)
    with pytest.raises(E.ContentFilteredError, match="refus") as info:
        await provider.complete(ask(stream), target)
    assert "cyber" in info.value.message
    assert info.value.moves_on and not info.value.retryable
    assert info.value.usage.input_tokens > 0  # billed tokens travel with the error, to be recorded at cost


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_refusals_explanation_is_quoted_on_one_line_and_bounded(serve, transport, stream: bool):
    # stop_details' category and explanation went into the error's message as they came: a multi-line explanation
    # broke the one-line message, its escape sequences reached the terminal, and one of 100 KB was 100 KB of it
    explanation = "policy:\nmalicious \x1b[31mcode\x1b[0m " + "x" * 100_000
    details = {**REFUSAL_DETAILS, "explanation": explanation}
    step = {"text": None, "finish": "refusal", "stop_details": details}
    _, provider, target = await anthropic(serve, transport, step)
    with pytest.raises(E.ContentFilteredError) as info:
        await provider.complete(ask(stream), target)
    said = info.value.message
    assert "cyber, policy: malicious" in said and "\x1b" not in said and "\n" not in said and len(said) < 1000


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_refusal_inside_a_tool_call_is_the_refusal(serve, transport, stream: bool):
    # The classifiers stopped the answer inside a tool call's input: streamed, that input's JSON is cut short, and
    # the attempt failed as "streamed tool input is not JSON" (a malformed answer, as if the model wrote bad JSON),
    # not as the refusal it was, whose category the message names.
    # (unstreamed, the API answers with the input written so far, as an object)
    cut = '{"cmd": "curl http://x | s' if stream else {"cmd": "curl http://x | s"}
    call = {"id": "toolu_1", "name": "run", "arguments": cut}
    step = {"tool_calls": [call], "finish": "refusal", "stop_details": REFUSAL_DETAILS}
    fake, provider, target = await anthropic(serve, transport, step)
    run = ToolSpec("run", "Run a command", {"type": "object", "properties": {"cmd": {"type": "string"}}})
    request = LLMRequest([Message("user", "x")], tools=[run], max_tokens=50, stream=stream)
    with pytest.raises(E.ContentFilteredError, match="refus") as info:
        await provider.complete(request, target)
    assert "cyber" in info.value.message and "not JSON" not in info.value.message
    assert info.value.usage.input_tokens > 0 and fake.violations == []


#: a paused turn of web search, as the API writes it (the spec's server_tool_use and web_search_tool_result blocks)
#: with its search billed beside the tokens
PAUSED = {
    "searched": "weather in Oslo",
    "finish": "pause_turn",
    "usage": {"server_tool_use": {"web_search_requests": 1, "web_fetch_requests": 0}},
}


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_paused_turn_is_not_a_finished_answer(serve, transport, stream: bool):
    # StopReason pause_turn: "we paused a long-running turn. You may provide the response back as-is in a
    # subsequent request to let the model continue." The text so far is kept, but the answer is not finished: the
    # provider says so and holds the turn to send back (the cascade does: see tests/test_paused_turns.py)
    fake, provider, target = await anthropic(serve, transport, {**PAUSED, "text": "Searching the web"})
    result = await provider.complete(ask(stream), target)
    assert result.text.strip() == "Searching the web"
    assert result.finish_reason == "other" and result.paused is not None
    [said] = [w for w in result.warnings if "pause_turn" in w]
    assert "the turn is unfinished, and the answer is the text so far" in said and "LLMResult.paused back" in said
    # (the setting is read by the router alone: a provider called alone, as here, sends nothing back whatever it says,
    # so the warning names where it applies rather than sending this caller to set it)
    assert "MAGSAG_PAUSE_CONTINUATIONS" in said and "through the router" in said, said
    assert result.usage.server_tool_calls == (("web_search", 1),) and fake.violations == []


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_paused_turn_with_no_text_is_held_to_be_continued(serve, transport, stream: bool):
    # A turn paused after its searches alone, no text: it failed here as unsupported_feature, its blocks lost. The
    # provider returns it, billed for its tokens and search, the turn held whole: the cascade continues it (or, with
    # continuations off, fails it: tests/test_paused_turns.py)
    fake, provider, target = await anthropic(serve, transport, PAUSED)
    result = await provider.complete(ask(stream), target)
    assert result.text == "" and result.paused is not None and result.paused.content is None
    assert [b["type"] for b in result.paused.blocks] == ["server_tool_use", "web_search_tool_result"]
    assert result.usage.input_tokens == 11 and result.usage.server_tool_calls == (("web_search", 1),)
    assert fake.violations == []


#: a web search's source of the answer's text, as the API cites it (ResponseWebSearchResultLocationCitation)
CITATION = {
    "type": "web_search_result_location",
    "url": "https://example.com/a",
    "title": "A page",
    "encrypted_index": "Eo8BCioIAhgBIiQyYjQ0",
    "cited_text": "Oslo: light rain, 9 degrees",
}


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_paused_turn_is_kept_whole_to_be_sent_back(serve, transport, stream: bool):
    # The API continues a paused turn only from its response sent back as-is ("You may provide the response back as-is
    # in a subsequent request"): the result held its text alone, the server_tool_use and web_search_tool_result blocks
    # (the search's encrypted results) lost. It carries the paused assistant turn, every block as the API wrote it;
    # streamed, the server tool's input (its query, in input_json_delta pieces) was left {} and a text's citations
    # (citations_delta) dropped
    step = {**PAUSED, "text": "Searching the web", "citations": [CITATION]}
    fake, provider, target = await anthropic(serve, transport, step, {"text": "It is raining in Oslo."})
    result = await provider.complete(ask(stream), target)
    written = FakeAnthropic().content(step, {"model": CLAUDE})  # the content blocks the fake wrote
    paused = result.paused
    assert paused is not None and paused.role == "assistant" and paused.content == "Searching the web"
    assert list(paused.blocks) == written
    assert paused.blocks[0]["input"] == {"query": "weather in Oslo"} and paused.blocks[2]["citations"] == [CITATION]
    # sent back after the user's turn, the blocks go exactly as they came (the fake checks the request against the
    # spec), and the model goes on from them in blocks of its own: no prefill that its answer continues
    follow_up = LLMRequest([Message("user", "x"), paused], max_tokens=50, stream=stream)
    more = await provider.complete(follow_up, target)
    assert (more.text, more.finish_reason, more.paused) == ("It is raining in Oslo.", "stop", None)
    sent = fake.requests[-1]["body"]["messages"]
    assert sent[-1] == {"role": "assistant", "content": written} and fake.violations == []


def test_anthropic_paused_turn_body_follows_the_spec():
    from aiohttp.test_utils import make_mocked_request

    msg = FakeAnthropic().reply(make_mocked_request("POST", "/v1/messages"), {"model": CLAUDE}, PAUSED)
    spec_validator("anthropic").assert_valid("Message", msg)
    assert [b["type"] for b in msg["content"]] == ["server_tool_use", "web_search_tool_result"]


def test_anthropic_refusal_body_follows_the_spec():
    from aiohttp.test_utils import make_mocked_request

    step = {"text": None, "finish": "refusal", "stop_details": REFUSAL_DETAILS}
    msg = FakeAnthropic().reply(make_mocked_request("POST", "/v1/messages"), {"model": CLAUDE}, step)
    spec_validator("anthropic").assert_valid("Message", msg)


async def test_anthropic_prompt_too_long(serve, transport):
    body = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "prompt is too long: 210000 tokens > 200000 maximum"},
    }
    _, provider, target = await anthropic(serve, transport, {"error": 400, "body": body})
    with pytest.raises(E.ContextTooLongError) as info:
        await provider.complete(ask(), target)
    assert info.value.moves_on and info.value.status == 400


async def test_anthropic_timeout_error_is_retryable(serve, transport):
    body = {"type": "error", "error": {"type": "timeout_error", "message": "Request timed out"}}
    _, provider, target = await anthropic(serve, transport, {"error": 504, "body": body})
    with pytest.raises(E.ProviderTimeoutError) as info:
        await provider.complete(ask(), target)
    err = info.value
    assert (err.status, err.retryable, err.moves_on) == (504, True, True)
    assert "Request timed out" in err.message
    assert err.maybe_billed  # timed out while processing: what it generated may be billed


@pytest.mark.parametrize(
    ("error", "cls", "status"),
    [
        ({"type": "overloaded_error", "message": "Overloaded"}, E.OverloadedError, 529),
        ({"type": "api_error", "message": "Internal server error"}, E.ServerError, 500),
        # a type this code does not know yet is a server-side failure, not a bad request that stops the cascade
        ({"type": "some_future_error", "message": "Something went wrong"}, E.ServerError, 500),
    ],
    ids=["overloaded", "api", "unknown-type"],
)
async def test_anthropic_error_event_mid_stream(serve, transport, error: dict[str, Any], cls: type, status: int):
    step = {"text": "the answer starts here", "stream_error": {"type": "error", "error": error}}
    _, provider, target = await anthropic(serve, transport, step)
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(stream=True), target)
    err = info.value
    assert type(err) is cls and err.status == status
    assert err.retryable and err.moves_on and error["message"] in err.message


@pytest.mark.parametrize(
    ("status", "error", "cls"),
    [
        (529, {"type": "overloaded_error", "message": "Overloaded"}, E.OverloadedError),
        (504, {"type": "timeout_error", "message": "Request timeout"}, E.ProviderTimeoutError),
        (402, {"type": "billing_error", "message": "Billing error"}, E.QuotaExhaustedError),
        (400, {"type": "invalid_request_error", "message": "Your credit balance is too low"}, E.QuotaExhaustedError),
    ],
    ids=["overloaded", "timeout", "billing", "credit-balance"],
)
@pytest.mark.parametrize("where", ["header", "body"])
async def test_anthropic_errors_of_their_own_class_name_the_request_id(
    serve, transport, status: int, error: dict[str, Any], cls: type, where: str
):
    # Anthropic names every request in its request-id header (and, by the spec's ErrorResponse, in the body's
    # request_id): what its support asks for. An overloaded (529), timed-out or billing error lost it, in the
    # message and in the details, where every other error status kept it.
    rid = "req_011CZ47RMLnx1JoJXRrzzSde"
    body = {"type": "error", "error": error, "request_id": rid if where == "body" else None}
    headers = {"request-id": rid} if where == "header" else {}
    _, provider, target = await anthropic(serve, transport, {"error": status, "body": body, "headers": headers})
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(), target)
    err = info.value
    assert type(err) is cls and err.status == status
    assert err.details["request_id"] == rid and err.details["code"] == error["type"]
    assert err.message == f"anthropic:{CLAUDE}: HTTP {status} (request id {rid}): {error['message']}"


@pytest.mark.parametrize("status", [400, 403])
async def test_anthropic_disabled_organization_is_the_keys_not_the_requests(serve, transport, status: int):
    # The API answers a key whose organization is disabled with 400 invalid_request_error "This organization has
    # been disabled." (403 at times): read as a bad request, it stopped the whole call, although the request is
    # fine and another vendor can serve it. The key is what to change.
    body = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "This organization has been disabled."},
        "request_id": "req_011CZLrUfBVkVHn5T6EqQaf7",
    }
    _, provider, target = await anthropic(serve, transport, {"error": status, "body": body})
    with pytest.raises(E.PermissionDeniedError) as info:
        await provider.complete(ask(), target)
    err = info.value
    assert err.moves_on and not err.retryable and err.status == status
    assert "ANTHROPIC_API_KEY" in err.message and KEY not in err.message


@pytest.mark.parametrize(
    ("error", "status"),
    [({"type": "overloaded_error", "message": "Overloaded"}, 529), ({"type": "api_error", "message": "Internal"}, 500)],
    ids=["overloaded", "api"],
)
async def test_an_error_event_in_a_claude_stream_says_where_it_was_not_an_http_status(
    serve, transport, error: dict[str, Any], status: int
):
    # the stream came with HTTP 200: its message said "HTTP 529" (the status of its class), which no server sent, as
    # the OpenAI formats' stream errors did; it says where the error was, as theirs now do
    step = {"text": "the answer starts here", "stream_error": {"type": "error", "error": error}}
    _, provider, target = await anthropic(serve, transport, step)
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(stream=True), target)
    assert info.value.status == status and info.value.retryable  # (its class and status unchanged)
    assert "HTTP" not in info.value.message, info.value.message
    assert f"{CLAUDE}: an error in the answer's stream" in info.value.message
    assert error["message"] in info.value.message


async def test_an_anthropic_error_body_under_200_says_so_not_an_http_status(serve, transport):
    # a gateway's 200 whose body is the Messages API's error: read as the error its type names, and said where it
    # was, as the OpenAI formats' and Gemini's are (it said "HTTP 529", which no server sent)
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    _, provider, target = await anthropic(serve, transport, {"error": 200, "body": body})
    with pytest.raises(E.OverloadedError) as info:
        await provider.complete(ask(), target)
    assert info.value.status == 529 and info.value.retryable  # (its class and status unchanged)
    assert "HTTP" not in info.value.message.replace("HTTP 200", ""), info.value.message
    assert f"{CLAUDE}: an error body under HTTP 200" in info.value.message and "Overloaded" in info.value.message


@pytest.mark.parametrize("kind", [["overloaded_error"], {"name": "overloaded_error"}], ids=["list", "object"])
async def test_an_error_event_whose_type_is_no_name_is_a_server_error_not_a_bug_of_ours(serve, transport, kind: Any):
    # a broken gateway's error event whose error.type is a list or an object, no name: looked up among the types it
    # raised TypeError (unhashable) out of the provider, which a call reports as a bug in magsag-mcp. A type it does
    # not know is a server-side failure (as an unknown name is), its message kept
    event = {"type": "error", "error": {"type": kind, "message": "Busy"}}
    step = {"text": "the answer starts here", "stream_error": event}
    _, provider, target = await anthropic(serve, transport, step)
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(stream=True), target)
    err = info.value
    assert type(err) is E.ServerError and err.status == 500 and err.retryable and err.moves_on
    assert "Busy" in err.message and f"{CLAUDE}: an error in the answer's stream" in err.message


@pytest.mark.parametrize("stream", [False, True])
async def test_an_anthropic_answer_without_a_stop_reason_is_not_taken_for_a_whole_one(serve, transport, stream: bool):
    # "In non-streaming mode this value is always non-null" (a stream's message_delta gives it): a gateway's answer
    # without one was read as "other" with nothing said, its text a whole answer, and with no text an empty success,
    # recorded "ok" and the next target untried; as Gemini's answer without a finishReason is read, it now says so
    fake, provider, target = await anthropic(serve, transport, {"text": "Searching the", "finish": None})
    result = await provider.complete(ask(stream), target)
    assert (result.text.strip(), result.finish_reason) == ("Searching the", "other")
    assert [w for w in result.warnings if "without a stop_reason" in w and "may not be whole" in w], result.warnings
    fake.queue({"text": None, "finish": None})
    with pytest.raises(E.MalformedResponseError) as info:
        await provider.complete(ask(stream), target)
    assert "no usable answer (no stop_reason, with no content)" in info.value.message
    assert info.value.usage is not None and info.value.usage.input_tokens == 11


@pytest.mark.parametrize("stream", [False, True])
async def test_an_anthropic_answer_with_an_empty_stop_reason_is_one_without_a_stop_reason(serve, transport, stream):
    # stop_reason "" (a gateway writing every field, its zero value): unstreamed, it was read as "other" with nothing
    # said, its text a whole answer and with no text an empty success; it is no reason, read as a missing one is
    fake, provider, target = await anthropic(serve, transport, {"text": "Searching the", "finish": ""})
    result = await provider.complete(ask(stream), target)
    assert (result.text.strip(), result.finish_reason) == ("Searching the", "other")
    assert [w for w in result.warnings if "without a stop_reason" in w and "may not be whole" in w], result.warnings
    fake.queue({"text": None, "finish": ""})
    with pytest.raises(E.MalformedResponseError) as info:
        await provider.complete(ask(stream), target)
    assert "no usable answer (no stop_reason, with no content)" in info.value.message
    assert info.value.usage is not None and info.value.usage.input_tokens == 11


def test_anthropic_streamed_search_cut_by_max_tokens_is_read_as_the_whole_answer_is():
    # A server tool's input streams as input_json_delta too (read since paused turns keep it): max_tokens stopping the
    # model mid-query left JSON that does not parse, and the streamed answer failed as a tool call "cut short by
    # max_tokens" (malformed_response, the text before it lost) where the same answer whole is returned, cut
    # ("length"): a server tool's call is the API's, not one for the caller, and nothing of it is the answer
    import json

    from magsag_mcp.providers.anthropic import AnthropicMessagesFormat
    from magsag_mcp.sse import SSEEvent

    def event(data: dict) -> SSEEvent:
        return SSEEvent(data["type"], json.dumps(data))

    acc = AnthropicMessagesFormat().accumulator(provider="anthropic", model=CLAUDE)
    start = {"id": "msg_01", "model": CLAUDE, "content": [], "usage": {"input_tokens": 9, "output_tokens": 1}}
    acc.feed(event({"type": "message_start", "message": start}))
    text = {"type": "text", "text": "", "citations": None}
    acc.feed(event({"type": "content_block_start", "index": 0, "content_block": text}))
    acc.feed(event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me look"}}))
    acc.feed(event({"type": "content_block_stop", "index": 0}))
    search = {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {}}
    acc.feed(event({"type": "content_block_start", "index": 1, "content_block": search}))
    cut = {"type": "input_json_delta", "partial_json": '{"query": "weather in'}
    acc.feed(event({"type": "content_block_delta", "index": 1, "delta": cut}))
    acc.feed(event({"type": "content_block_stop", "index": 1}))
    end = {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 20}}
    acc.feed(event(end))
    acc.feed(event({"type": "message_stop"}))
    result = acc.finish()
    assert (result.text, result.finish_reason, result.tool_calls, result.paused) == ("Let me look", "length", [], None)
    assert result.usage.output_tokens == 20


def test_a_paused_turn_sent_back_is_in_the_prompts_estimate():
    # The worst case governance reserves is from a safe over-estimate of the prompt: a paused turn sent back
    # (Message.blocks) was counted at its text alone, its search results (encrypted_content, read and billed as
    # input, often tens of thousands of tokens) at nothing, and a follow-up admitted under a budget it could pass
    from magsag_mcp.call_request import estimate_input_tokens

    found = {"type": "web_search_result", "url": "https://example.com/a", "encrypted_content": "E" * 40_000}
    blocks = (
        {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {"query": "weather in Oslo"}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01", "content": [found]},
        {"type": "text", "text": "Searching", "citations": None},
    )
    paused = Message("assistant", "Searching", blocks=blocks)
    alone = estimate_input_tokens(LLMRequest([Message("user", "x"), Message("assistant", "Searching")]))
    assert estimate_input_tokens(LLMRequest([Message("user", "x"), paused])) >= alone + 40_000 // 2


CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
CITY["additionalProperties"] = False


def _json_ask(stream: bool, *turns: Message) -> LLMRequest:
    return LLMRequest([Message("user", "x"), *turns], max_tokens=50, stream=stream, json_schema=CITY)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("before", "after"),
    [('{"city": ', '"Oslo"}'), ("Searching the web. ", '{"city": "Oslo"}')],
    ids=["document-split", "prose-first"],
)
async def test_a_json_answer_that_ends_a_paused_turn_sent_back_is_parsed(
    serve, transport, stream: bool, before: str, after: str
):
    # A caller sending LLMResult.paused back itself (as its warning says to) on a JSON call got parsed None: an answer
    # to a request ending in a turn of blocks was never parsed, the cascade's parse of the turns joined being meant
    # for it, which a caller's own resend never reaches. The document is the turn's text and the answer's, joined
    # (the answer's alone where the turn's text starts none: the model's words before its search)
    fake, provider, target = await anthropic(serve, transport, {**PAUSED, "text": before}, {"text": after})
    first = await provider.complete(_json_ask(stream), target)
    assert first.paused is not None and first.parsed is None  # (a part of the turn at most: not parsed)
    result = await provider.complete(_json_ask(stream, first.paused), target)
    assert result.parsed == {"city": "Oslo"} and result.text == after
    assert fake.violations == [] and fake.requests[1]["body"]["messages"][-1]["role"] == "assistant"


async def test_a_json_answer_that_ends_a_paused_turn_sent_back_broken_is_invalid_output(serve, transport):
    # joined, the document breaks the schema: invalid output, as any answer's, naming what broke it
    fake, provider, target = await anthropic(serve, transport, {**PAUSED, "text": '{"town": '}, {"text": '"Oslo"}'})
    first = await provider.complete(_json_ask(False), target)
    assert first.paused is not None
    with pytest.raises(E.InvalidOutputError, match="city"):
        await provider.complete(_json_ask(False, first.paused), target)
