"""Compressed answers, read by magsag-mcp (content_encodings) rather than by aiohttp, against a raw loopback server
(aiohttp's server would encode what it sends itself).

aiohttp 3.14.5 never ended the read of a body labelled deflate that came as "\\n" then "\\n": neither the read timeout
nor the server closing did, only the call's deadline; in one read the same bytes were "could not reach ...: its answer
is not valid HTTP (deflate)", retried as a connection error. Both are now a malformed answer at once."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
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
EVENTS = (
    b'data: {"id": "c1", "object": "chat.completion.chunk", "created": 1732000000, "model": "gpt-4o", '
    b'"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": null}]}\n\n'
    b"data: [DONE]\n\n"
)
SHORT = Timeouts(connect=5.0, read=30.0, from_settings=False)


@dataclass
class Raw:
    """Answers each request with ``chunks`` as its body, written one after another, labelled ``encoding``."""

    chunks: list[bytes] = field(default_factory=list)
    encoding: str | None = None
    content_type: bytes = b"application/json"
    length: int | None = None  # Content-Length (default: the chunks' sum)
    #: no Content-Length, the body until the connection closes, which the server holds open after the chunks
    hold: bool = False
    requests: list[bytes] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
            0,
        )
        await reader.readexactly(length)
        self.requests.append(head)
        size = self.length if self.length is not None else sum(map(len, self.chunks))
        label = b"" if self.encoding is None else b"Content-Encoding: " + self.encoding.encode() + b"\r\n"
        if self.hold:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + label + b"\r\n")
            writer.write(b"".join(self.chunks))
            await reader.read()  # until the client lets the connection go
            writer.close()
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: "
            + self.content_type
            + b"\r\n"
            + label
            + b"Content-Length: "
            + str(size).encode()
            + b"\r\nConnection: close\r\n\r\n"
        )
        try:
            for chunk in self.chunks:
                writer.write(chunk)
                await writer.drain()
                # a few turns of the loop (client and server share it) so that the client reads this chunk before the
                # next is written: aiohttp's hang needed them apart. The outcome asserted does not depend on it
                for _ in range(3):
                    await asyncio.sleep(0)
            writer.close()
        except ConnectionError:  # a client that refused the body before its end (a bomb) closed its connection
            pass

    def sent_header(self, name: str) -> str | None:
        for line in self.requests[-1].decode().split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


@pytest.fixture
async def raw() -> AsyncIterator[tuple[Raw, str]]:
    state = Raw()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    yield state, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    server.close()
    await server.wait_closed()


async def _post(base: str, *, max_body: int = 64 * 1024 * 1024) -> bytes:
    transport = Transport(timeouts=SHORT, max_body_bytes=max_body)
    try:
        return (await transport.post_json(base + "/chat/completions", CHAT, headers={})).body
    finally:
        await transport.aclose()


async def _stream(base: str, *, max_stream: int = 256 * 1024 * 1024) -> list[str]:
    transport = Transport(timeouts=SHORT, max_stream_bytes=max_stream)
    try:
        async with transport.stream_sse(base + "/chat/completions", CHAT, headers={}) as resp:
            assert await resp.is_event_stream()
            return [event.data async for event in resp.events()]
    finally:
        await transport.aclose()


def _pieces(body: bytes, n: int = 4) -> list[bytes]:
    step = max(1, len(body) // n)
    return [body[i : i + step] for i in range(0, len(body), step)]


async def test_a_deflate_label_on_two_newlines_in_two_reads_is_a_malformed_answer_not_a_wait_for_the_deadline(
    raw, tmp_path: Path, clock_at_noon: float
):
    # Before: aiohttp's read of it never ended; the call's deadline (here 5 s, 300 s by default) ended it as a timeout
    state, base = raw
    state.chunks, state.encoding = [b"\n", b"\n"], "deflate"
    env = {
        "OPENAI_BASE_URL": base,
        "OPENAI_API_KEY": "sk-test-d3fl4te6q3x9",
        "MAGSAG_CALL_DEADLINE": "5",
        "MAGSAG_RETRY_BASE_DELAY": "0.001",
        "MAGSAG_RETRY_MAX_DELAY": "0.002",
    }
    async with Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(E.ProviderError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "openai:gpt-4o"}})
    assert isinstance(info.value, E.MalformedResponseError), repr(info.value)  # (as every target failed so)
    assert "is not deflate, as its Content-Encoding header says it is" in info.value.message
    assert len(state.requests) == 1  # not retried: the same server labels it so every time
    (attempt,) = info.value.attempts
    assert (attempt.outcome, attempt.error_class) == ("error", "malformed_response")


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_deflate_label_on_two_newlines_in_one_read_is_malformed_not_could_not_reach(raw, stream: bool):
    # Before: "could not reach ...: its answer is not valid HTTP (deflate)", a connection error, retried
    state, base = raw
    state.chunks, state.encoding = [b"\n\n"], "deflate"
    if stream:
        state.content_type = b"text/event-stream"
    with pytest.raises(E.ProviderError) as info:
        await (_stream(base) if stream else _post(base))
    assert type(info.value) is E.MalformedResponseError, repr(info.value)
    assert info.value.message.startswith(f"the answer from {base.removesuffix('/v1')} is not deflate")
    assert info.value.maybe_billed and not info.value.retryable and info.value.moves_on


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_gzip_bomb_is_refused_as_too_large_once_inflated(raw, stream: bool):
    state, base = raw
    bomb = gzip.compress(b"\0" * (4 * 1024 * 1024))  # some 4 KiB that inflate to 4 MiB: 64 times the limit
    assert len(bomb) < 64 * 1024
    state.chunks, state.encoding = _pieces(bomb), "gzip"
    if stream:
        state.content_type = b"text/event-stream"
    with pytest.raises(E.MalformedResponseError, match=r"gzip body that inflates to more than 64 KiB.*base URL"):
        await (_stream(base, max_stream=64 * 1024) if stream else _post(base, max_body=64 * 1024))


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),  # RFC 1950's zlib stream, as the RFC says deflate is
        ("deflate", lambda data: zlib.compress(data, wbits=-zlib.MAX_WBITS)),  # raw deflate, as some servers send
        ("gzip", lambda data: gzip.compress(data[:40]) + gzip.compress(data[40:])),  # two gzip members
        ("identity", lambda data: data),
    ],
    ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw", "gzip-members", "identity"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_compressed_answers_still_read(raw, encoding: str, compress, stream: bool):
    state, base = raw
    state.encoding = encoding
    if stream:
        state.content_type = b"text/event-stream"
        state.chunks = _pieces(compress(EVENTS), 5)
        assert (await _stream(base))[-1] == "[DONE]"
    else:
        state.chunks = _pieces(compress(ANSWER), 5)
        assert await _post(base) == ANSWER


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_a_gzip_body_cut_short_is_malformed(raw, stream: bool):
    state, base = raw
    whole = gzip.compress(EVENTS if stream else ANSWER)
    state.chunks, state.encoding = [whole[: len(whole) // 2]], "gzip"
    if stream:
        state.content_type = b"text/event-stream"
    with pytest.raises(E.MalformedResponseError, match="is not gzip.*compressed stream ends before the body does"):
        await (_stream(base) if stream else _post(base))


async def test_an_encoding_not_read_is_refused_by_name(raw):
    state, base = raw
    state.chunks, state.encoding = [ANSWER], "br"
    with pytest.raises(E.MalformedResponseError, match=r"encoded as 'br'.*asks for gzip alone"):
        await _post(base)


async def test_only_gzip_is_asked_for(raw):
    # aiohttp's default is "gzip, deflate" (and br where Brotli is installed): deflate is two formats servers confuse
    state, base = raw
    state.chunks = [ANSWER]
    assert await _post(base) == ANSWER
    assert state.sent_header("Accept-Encoding") == "gzip"
    assert await _stream_json(base) == ANSWER
    assert state.sent_header("Accept-Encoding") == "gzip"


async def _stream_json(base: str) -> bytes:
    transport = Transport(timeouts=SHORT)
    try:
        async with transport.stream_sse(base + "/chat/completions", CHAT, headers={}) as resp:
            assert not await resp.is_event_stream()
            return (await resp.read()).body
    finally:
        await transport.aclose()


async def test_a_gzip_answer_held_open_after_its_end_is_the_answer_before_the_read_timeout(raw, monkeypatch):
    # as a plain JSON answer held open is (test_wire_conditions): the end of its compressed stream says it is whole.
    # Before, it waited for the read timeout (here 30 s, far beyond the wait) and failed as a timeout
    from magsag_mcp import limits

    monkeypatch.setattr(limits, "HELD_END_SECONDS", 0.05)
    state, base = raw
    state.chunks, state.encoding, state.hold = [gzip.compress(ANSWER)], "gzip", True
    transport = Transport(timeouts=Timeouts(connect=5.0, read=30.0, from_settings=False))
    try:
        body = await transport.post_json(base + "/chat/completions", CHAT, headers={})
    finally:
        await transport.aclose()
    assert body.body == ANSWER


async def test_a_gzip_body_of_many_members_in_one_read_is_read(raw):
    # Before, each member after the first was read by a call of its own: a chunk of some 5,000 empty members (a
    # hostile or broken server's) raised RecursionError, a bug in magsag-mcp to the caller
    state, base = raw
    state.chunks, state.encoding = [gzip.compress(b"") * 5000 + gzip.compress(ANSWER)], "gzip"
    assert await _post(base) == ANSWER
