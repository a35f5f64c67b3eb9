"""An error said inside an HTTP 200 answer, at each place a wire format reads one (a Chat stream's error chunk, a
Responses error event, failed response and error body, Claude's error event and error body, Gemini's error chunk,
body and JSON array), through the public call path against the vendors' loopback fakes: its message says where the
error was, where an HTTP error says its status, with the answer's request id beside it, and its class and status are
those of the HTTP error it stands for (so that it is retried or moved on from as that is)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.openai import OpenAIProvider
from magsag_mcp.transport import Transport
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import FakeOpenAI
from tests.llm_requests import ask as openai_ask
from tests.provider_openai_helpers import APIS, ENV, target

from .fakes.anthropic import REQUEST_ID
from .test_error_paths import CLAUDE, GEMINI_MODEL, anthropic, ask, gemini

pytestmark = pytest.mark.anyio

IN_STREAM = "an error in the answer's stream"
UNDER_200 = "an error body under HTTP 200"


@pytest.fixture
def provider(transport: Transport) -> OpenAIProvider:
    return OpenAIProvider(ENV, transport)


@pytest.mark.parametrize("api", APIS)
async def test_an_openai_error_body_under_200_names_the_answers_request_id(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str
):
    # a gateway's 200 whose body is its upstream's error, with a code that stands for a 503
    fake_openai.queue(R.error(200, "The engine is overloaded.", type="server_error", code="server_is_overloaded"))
    with pytest.raises(E.OverloadedError) as info:
        await provider.complete(openai_ask(), target(fake_openai, api))
    assert info.value.status == 503 and info.value.retryable and info.value.details["request_id"] == "req_fake"
    said = f"openai:gpt-4o: {UNDER_200} (request id req_fake): The engine is overloaded."
    assert info.value.message == said, info.value.message


@pytest.mark.parametrize("api", APIS)
async def test_a_route_the_server_lacks_answered_under_200_still_says_http_200(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str
):
    # LM Studio's 200 for a route it lacks is read at the 200 it came with (no retry finds the route): its message
    # says that status, which the server did send
    said = {"error": "Unexpected endpoint or method. (POST /v1/chat/completions)"}
    fake_openai.queue(R.error(200, raw=json.dumps(said), content_type="application/json"))
    with pytest.raises(E.UnexpectedStatusError) as info:
        await provider.complete(openai_ask(), target(fake_openai, api))
    assert info.value.status == 200 and not info.value.retryable
    assert info.value.message.startswith(f"openai:gpt-4o: HTTP 200 (request id req_fake): {said['error']}")


@pytest.mark.parametrize(
    ("error", "cls", "status"),
    [
        ({"type": "overloaded_error", "message": "Overloaded"}, E.OverloadedError, 529),  # (anthropic_error's own)
        ({"type": "api_error", "message": "Internal server error"}, E.ServerError, 500),  # (error_for's)
        ({"type": "rate_limit_error", "message": "Slow down."}, E.RateLimitError, 429),
    ],
    ids=["overloaded", "api", "rate-limit"],
)
@pytest.mark.parametrize("where", ["stream", "body"])
async def test_a_claude_error_said_in_a_200_names_where_and_the_request_id(
    serve, transport: Transport, error: dict[str, Any], cls: type, status: int, where: str
):
    body = {"type": "error", "error": error, "request_id": REQUEST_ID}
    streamed = {"text": "the answer starts here", "stream_error": body}
    step = streamed if where == "stream" else {"error": 200, "body": body}
    _, provider, target_ = await anthropic(serve, transport, step)
    with pytest.raises(E.ProviderError) as info:
        await provider.complete(ask(stream=where == "stream"), target_)
    assert type(info.value) is cls and info.value.status == status and info.value.details["request_id"] == REQUEST_ID
    said = IN_STREAM if where == "stream" else UNDER_200
    assert info.value.message == f"anthropic:{CLAUDE}: {said} (request id {REQUEST_ID}): {error['message']}"


async def test_a_claude_error_event_whose_words_hold_a_fix_says_where_before_them(serve, transport: Transport):
    # a spend limit reached, said in the stream: anthropic_error's own message, with its fix after the vendor's words
    error = {"type": "invalid_request_error", "message": "You have reached your specified API usage limits."}
    step = {"text": "the answer starts here", "stream_error": {"type": "error", "error": error}}
    _, provider, target_ = await anthropic(serve, transport, step)
    with pytest.raises(E.QuotaExhaustedError) as info:
        await provider.complete(ask(stream=True), target_)
    assert info.value.status == 400
    assert info.value.message.startswith(
        f"anthropic:{CLAUDE}: {IN_STREAM} (request id {REQUEST_ID}): {error['message']}; the spend limit"
    ), info.value.message


@pytest.mark.parametrize("where", ["stream", "body", "array"])
async def test_a_gemini_error_said_in_a_200_names_where_it_was(serve, transport: Transport, where: str):
    # a per-minute limit (gemini_error's own message, which names the RPC status) and an overload (error_for's)
    limit = {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}
    overload = {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}
    for error, cls, rpc in ((limit, E.RateLimitError, " RESOURCE_EXHAUSTED"), (overload, E.OverloadedError, "")):
        if where == "stream":
            step: dict[str, Any] = {"text": "one two three", "stream_error": {"error": error}}
        elif where == "body":
            step = {"error": 200, "body": {"error": error}}
        else:  # streamGenerateContent without alt=sse: its chunks, and the error that cut them short, as one array
            chunk = {"candidates": [{"content": {"role": "model", "parts": [{"text": "one"}]}, "index": 0}]}
            step = {"error": 200, "body": [chunk, {"error": error}]}
        _, provider, target_ = await gemini(serve, transport, step)
        with pytest.raises(E.ProviderError) as info:
            await provider.complete(ask(stream=where == "stream"), target_)
        assert type(info.value) is cls and info.value.status == error["code"] and info.value.retryable
        said = UNDER_200 if where == "body" else IN_STREAM
        assert info.value.message.startswith(f"google:{GEMINI_MODEL}: {said}{rpc}: {error['message']}"), (
            info.value.message
        )


@pytest.mark.parametrize("api", APIS)
async def test_the_request_id_goes_beside_where_the_error_was_not_into_the_servers_words(
    fake_openai: FakeOpenAI, provider: OpenAIProvider, api: str
):
    # a gateway's words that quote its upstream's status: the answer's request id went after the first ": HTTP 500"
    # in the message, which was the server's words, not where the error was said
    words = "upstream said: HTTP 500: connection reset"
    fake_openai.queue(R.error(500, words, type="server_error", in_stream=True))
    with pytest.raises(E.ServerError) as info:
        await provider.complete(openai_ask(stream=True), target(fake_openai, api))
    assert info.value.message == f"openai:gpt-4o: {IN_STREAM} (request id req_fake): {words}", info.value.message
