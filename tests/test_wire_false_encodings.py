"""A body whose Content-Encoding says it is compressed when it is not (a proxy or server that labels what it passes on
without compressing it): the answer came (the vendor may bill it) and cannot be read, and the same server answers the
same way on every try. It is a malformed answer, not retried on its target (the next target is tried), where it was a
connection that "broke off", retried, each try maybe billed again."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service
from magsag_mcp.transport import Timeouts, Transport

pytestmark = pytest.mark.anyio

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
ANSWER = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1732000000,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }
).encode()
EVENTS = b'data: {"choices": [{"index": 0, "delta": {"content": "hi"}}]}\n\n'


class Mislabelled:
    """Answers every request with a plain body its headers call gzip: JSON, or an event stream."""

    def __init__(self) -> None:
        self.requests = 0
        self.stream = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
            0,
        )
        await reader.readexactly(length)
        self.requests += 1
        body, kind = (EVENTS, b"text/event-stream") if self.stream else (ANSWER, b"application/json")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: " + kind + b"\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def mislabelled() -> AsyncIterator[tuple[Mislabelled, str]]:
    state = Mislabelled()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    yield state, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    server.close()
    await server.wait_closed()


def _says_so(err: E.ProviderError, base: str) -> None:
    assert type(err) is E.MalformedResponseError, repr(err)
    assert err.message.startswith(f"the answer from {base.removesuffix('/v1')} is not gzip, as its Content-Encoding"), (
        err.message
    )
    assert err.maybe_billed and not err.retryable and err.moves_on


@pytest.mark.parametrize(
    ("stream", "events"), [(False, False), (True, True), (True, False)], ids=["body", "stream", "stream-answered-json"]
)
async def test_a_body_labelled_gzip_that_is_not_is_a_malformed_answer_that_may_be_billed(
    mislabelled, stream: bool, events: bool
):
    state, base = mislabelled
    state.stream = events
    transport = Transport(timeouts=Timeouts(connect=5.0, read=30.0, from_settings=False))
    try:
        with pytest.raises(E.ProviderError) as info:
            if stream:
                async with transport.stream_sse(base + "/chat/completions", CHAT, headers={}) as resp:
                    if await resp.is_event_stream():
                        [event async for event in resp.events()]
                    else:  # (a server that ignores "stream": true)
                        await resp.read()
            else:
                await transport.post_json(base + "/chat/completions", CHAT, headers={})
    finally:
        await transport.aclose()
    _says_so(info.value, base)


async def test_a_call_answered_so_is_not_sent_again_to_that_target(mislabelled, tmp_path: Path, clock_at_noon: float):
    state, base = mislabelled
    env = {
        "OPENAI_BASE_URL": base,
        "OPENAI_API_KEY": "sk-test-m1s9lab3lled7q2w",
        "MAGSAG_RETRY_BASE_DELAY": "0.001",
        "MAGSAG_RETRY_MAX_DELAY": "0.002",
    }
    async with Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(E.MalformedResponseError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "openai:gpt-4o"}})
    assert state.requests == 1  # once: each try of it was billed again for the same unreadable answer
    (attempt,) = info.value.attempts
    assert (attempt.outcome, attempt.error_class, attempt.cost_usd) == ("error", "malformed_response", None)
    assert attempt.cost_bound_usd is not None  # may be billed: unknown, counted at its worst case
