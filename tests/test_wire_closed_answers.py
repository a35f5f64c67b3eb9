"""A server that closes the connection before its answer's headers are whole: at once, within the status line,
within the headers. The caller is told the connection was closed before the answer came (the request reached the
server: it may be billed), in words, not in aiohttp's parser state (its ``RawResponseMessage(...)`` repr, with every
header the server had sent so far) behind "could not reach", which said the server was never reached."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.transport import Timeouts, Transport

pytestmark = pytest.mark.anyio

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
#: a header a gateway sent before it closed: nothing the server said in its headers belongs in a message
COOKIE = b"Set-Cookie: gw_session=q7Zt4Kx9Wp2Lm6Vr8\r\n"

CUTS = {
    "before-answering": b"",
    "in-the-status-line": b"HTTP/1.1 2",
    "in-the-headers": b"HTTP/1.1 200 OK\r\n" + COOKIE + b"Content-Type: appl",
    "after-a-whole-header": b"HTTP/1.1 200 OK\r\n" + COOKIE,
}


@pytest.mark.parametrize("cut", list(CUTS))
async def test_a_connection_closed_before_the_answers_headers_end_says_so_and_may_be_billed(cut: str):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(CUTS[cut])
        await writer.drain()
        writer.close()

    port, error = await _failed_post(handle)
    message = error.message
    assert message.startswith(f"http://127.0.0.1:{port} closed the connection before its answer"), message
    if CUTS[cut]:
        assert "the answer had begun" in message, message
    assert "RawResponseMessage" not in message and "gw_session" not in message and "q7Zt4Kx9" not in message
    assert "could not reach" not in message
    assert error.maybe_billed and error.retryable


@pytest.mark.parametrize("cut", ["before-answering", "in-the-headers"])
async def test_a_connection_reset_once_the_request_went_out_says_so_and_may_be_billed(cut: str):
    # A reset (ECONNRESET) after the request was read was "could not reach HOST: ClientOSError: [Errno 104] ...":
    # the server was reached, and the answer may be billed.
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if cut == "in-the-headers":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Ty")
            await writer.drain()
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # (a zero linger: the close is a reset)

    port, error = await _failed_post(handle)
    message = error.message
    assert message.startswith(f"http://127.0.0.1:{port} reset the connection before its answer"), message
    assert "could not reach" not in message and "/v1/chat" not in message
    assert error.maybe_billed and error.retryable


async def _failed_post(handle: Any) -> tuple[int, E.ProviderConnectionError]:
    """The port of a loopback server answering as ``handle`` does, and the error a chat completion posted to it
    raised."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = Transport(timeouts=Timeouts(connect=5.0, read=30.0, from_settings=False))
    try:
        with pytest.raises(E.ProviderConnectionError) as info:
            await transport.post_json(f"http://127.0.0.1:{port}/v1/chat/completions", CHAT, headers={})
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()
    return port, info.value
