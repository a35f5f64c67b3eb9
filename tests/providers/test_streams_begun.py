"""An answer that began streaming and then failed is never sent again inside a provider.

Its text has reached the caller's progress callback, and the vendor may bill it: asked again (another API of the
same server), the caller's deltas would splice two answers together with no ``attempt``
event between them to say the first was not the answer, and the first attempt would vanish from the ledger. The
failure goes to the cascade instead, which records the attempt and says so before any retry or fallback.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from magsag_mcp import errors as E
from magsag_mcp.providers.local import LocalProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message, Target
from tests.fakes.request_check import request_problems

pytestmark = pytest.mark.anyio


def event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def chat_chunk(text: str | None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text else {}
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


#: a whole chat completions stream, and the same answer unstreamed
CHAT_STREAM = [chat_chunk("Whole "), chat_chunk("answer"), chat_chunk(None, "stop"), b"data: [DONE]\n\n"]
CHAT_JSON = {
    "id": "c",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Whole answer"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


@pytest.fixture
async def server() -> AsyncIterator[Callable[[dict[str, list[bytes]]], Any]]:
    """A server that streams, for each path (its last part), the chunks given; a path not given answers the
    chat completion above as JSON. What it was asked is in ``paths``."""
    servers: list[TestServer] = []
    violations: list[str] = []  # (each request is checked against its vendor's spec: tests.fakes.request_check)

    async def start(streams: dict[str, list[bytes]]) -> tuple[str, list[str]]:
        paths: list[str] = []

        async def handle(request: web.Request) -> web.StreamResponse:
            body = await request.json()
            violations.extend(request_problems(request.path, body))
            paths.append(request.path + (" stream" if body.get("stream") else ""))
            chunks = streams.get(request.path.rsplit("/", 1)[-1])
            if chunks is None or not body.get("stream"):
                return web.json_response(CHAT_JSON)
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            for c in chunks:
                await resp.write(c)
            await resp.write_eof()
            return resp

        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        srv = TestServer(app, host="127.0.0.1")
        await srv.start_server()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.port}/v1", paths

    yield start
    for srv in servers:
        await srv.close()
    assert violations == [], "requests not valid by their vendor's spec were sent"


def recorder() -> tuple[list[tuple[str, Any]], Callable[[str, dict[str, Any]], Any]]:
    events: list[tuple[str, Any]] = []

    async def progress(name: str, data: dict[str, Any]) -> None:
        events.append((name, data.get("text")))

    return events, progress


RESPONSES_BEGUN = [
    event("response.created", {"type": "response.created", "response": {"id": "r", "status": "in_progress"}}),
    event("response.output_text.delta", {"type": "response.output_text.delta", "delta": "Partial answer "}),
]


@pytest.mark.parametrize(
    "error",
    [
        # llama.cpp's error field (its not_supported_error is a 501), and a Responses error event naming a 404
        b'error: {"code": 501, "message": "not supported", "type": "not_supported_error"}\n\n',
        event("error", {"type": "error", "code": 404, "message": "not found"}),
    ],
)
async def test_a_local_responses_stream_that_fails_after_its_text_began_is_not_sent_again_to_chat(
    server: Any, error: bytes
):
    # Before, an error of the statuses that say "no Responses API here" (404, 405, 501) ended a Responses stream
    # whose text had reached the caller, and the call went again to chat completions: the caller's deltas read
    # "Partial answer Whole answer" with nothing to say the first part was not the answer, the server was taken
    # for one without the Responses API for ten minutes, and the warning said it had rejected that API.
    base, paths = await server({"responses": [*RESPONSES_BEGUN, error], "completions": CHAT_STREAM})
    events, progress = recorder()
    transport = Transport()
    provider = LocalProvider({"MAGSAG_LOCAL_LLM_BASE_URL": base}, transport)
    request = LLMRequest(messages=[Message("user", "hi")], stream=True, max_tokens=100)
    try:
        with pytest.raises(E.ProviderError) as info:
            await provider.complete(request, Target("local", "llama"), progress=progress)
    finally:
        await transport.aclose()
    assert paths == ["/v1/responses stream"]
    assert events == [("delta", "Partial answer ")]
    assert info.value.maybe_billed
    assert provider.chat_only == set()  # the server has the Responses API: it answered on it
