"""A local server reached through a proxy (HTTPS_PROXY set, the server not in NO_PROXY: Ollama on another machine of
the network): every connect to it is a connect to the proxy, which the connect watch marks under the server's host. A
server found down there (local_down) tells the other connects in flight to stop; through a proxy, what did not connect
was the proxy, and the error says so, naming it (never its credentials) and the fixes, not that the server is down.
A plain-http server is asked through the proxy itself (no tunnel): a proxy that does not take the connection, that
never answers, or that answers its own error page (a 502: it cannot reach a server on the LAN) is what the error
names, with NO_PROXY. The proxies are loopback servers; connects are counted, never timed, and a regression hangs,
which the hang guard turns into a failure."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable

import anyio
import pytest

from magsag_mcp import connect_watch
from magsag_mcp import errors as E
from magsag_mcp.providers import local_down
from magsag_mcp.providers.local import LocalProvider
from magsag_mcp.transport import Timeouts, Transport
from magsag_mcp.types import LLMRequest, Message, Target

pytestmark = pytest.mark.anyio

#: how long a test waits for what would never come in a regression (a hang guard, not a timing assertion)
HANG_GUARD_S = 60.0
SERVER = "https://ollama.lan.example:11434"


async def test_connects_through_a_proxy_told_to_stop_name_the_proxy_not_the_server():
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read()  # (until the client gives up and closes)

    proxy = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    # (a connect timeout no connect here waits out: the verdict below stops them)
    timeouts = Timeouts(connect=HANG_GUARD_S, read=HANG_GUARD_S, from_settings=True)
    transport = Transport(env={"HTTPS_PROXY": f"http://u:pr0xysecret@127.0.0.1:{port}"}, timeouts=timeouts)
    try:
        calls = [
            asyncio.create_task(transport.post_json(f"{SERVER}/api/show", {"model": f"m{n}"}, headers={}))
            for n in range(2)
        ]
        with anyio.fail_after(HANG_GUARD_S):
            while len(held) < 2:  # (both connected to the proxy, waiting on its answer to CONNECT)
                await asyncio.sleep(0)
        local_down.went_down(SERVER, "could not be asked: found down by another call", HANG_GUARD_S)
        with anyio.fail_after(HANG_GUARD_S):
            failed = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        local_down.forget()
        await transport.aclose()
        proxy.close()
        for writer in held:
            writer.close()
    assert all(isinstance(exc, E.ProviderTimeoutError) for exc in failed), failed
    for exc in failed:
        said = exc.message
        assert said.startswith(
            f"could not connect to {SERVER}: stopped before the connect timeout of 60s (MAGSAG_CONNECT_TIMEOUT) ran "
            "out, as another call connecting to it timed out within as long or longer"
        ), said
        # what did not answer was the proxy: named, with the fixes; the server behind it is not said to be down
        assert f"through the proxy http://127.0.0.1:{port} (from HTTPS_PROXY), which is what did not connect" in said
        assert "check the proxy, or add the host to NO_PROXY to connect directly" in said
        assert "the host is taken as down" not in said
        assert "pr0xysecret" not in said
        assert not exc.reached and not exc.maybe_billed
    assert not connect_watch._CONNECTING


async def _timeout_through_proxy(port: int, timeouts: Timeouts) -> E.ProviderTimeoutError:
    """The timeout a LAN server's plain-http call through the proxy at ``port`` (its URL carrying a secret) fails
    with."""
    transport = Transport(env={"HTTP_PROXY": f"http://u:pr0xysecret@127.0.0.1:{port}"}, timeouts=timeouts)
    try:
        with pytest.raises(E.ProviderTimeoutError) as info:
            async with asyncio.timeout(HANG_GUARD_S):
                await transport.post_json("http://ollama.lan.example:11434/api/show", {"model": "m"}, headers={})
    finally:
        await transport.aclose()
    return info.value


async def test_a_plain_http_server_behind_a_proxy_that_never_answers_names_the_proxy():
    # a plain-http target is asked through the proxy itself (no tunnel: the request goes to the proxy, which forwards
    # it): a proxy that takes it and never answers left "no answer from <the server>", the server maybe never reached
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read()

    proxy = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    # (the read timeout is what this test is about: the proxy never answers, so it comes whatever its length)
    try:
        failure = await _timeout_through_proxy(port, Timeouts(connect=HANG_GUARD_S, read=0.3, from_settings=True))
    finally:
        proxy.close()
        for writer in held:
            writer.close()
    said = failure.message
    assert said.startswith(
        f"no answer from http://ollama.lan.example:11434 through the proxy http://127.0.0.1:{port} (from HTTP_PROXY) "
        "within the read timeout of 0.3s (MAGSAG_READ_TIMEOUT)"
    ), said
    assert "the proxy may be what did not answer" in said and "NO_PROXY" in said
    assert "pr0xysecret" not in said
    assert failure.timeout_s == 0.3  # the read timeout's length, what the local provider's hint compares with


async def test_a_plain_http_server_behind_a_proxy_that_takes_no_connection_names_no_tunnel():
    # a plain-http target is asked through the proxy itself: no CONNECT, no tunnel. A proxy that does not take the
    # connection (its listen queue full: the kernel drops the connect's SYN, which never completes) was said to have
    # "not opened a tunnel", sending the reader to look for a CONNECT never sent
    proxy = socket.socket()
    filler = socket.socket()
    try:
        proxy.bind(("127.0.0.1", 0))
        proxy.listen(0)  # (one connection waiting to be accepted fills it: never accepted)
        port = proxy.getsockname()[1]
        filler.settimeout(HANG_GUARD_S)
        filler.connect(("127.0.0.1", port))
        # (the connect timeout is what this test is about: the connect never completes, so it comes whatever its length)
        failure = await _timeout_through_proxy(port, Timeouts(connect=0.3, read=HANG_GUARD_S, from_settings=True))
    finally:
        filler.close()
        proxy.close()
    said = failure.message
    assert said.startswith(
        f"could not connect to http://ollama.lan.example:11434: the proxy http://127.0.0.1:{port} (from HTTP_PROXY) "
        "did not take the connection within the connect timeout of 0.3s (MAGSAG_CONNECT_TIMEOUT) (a plain-http request "
        "is sent to the proxy itself, which forwards it: the request was not sent)"
    ), said
    assert "tunnel" not in said
    assert said.endswith("check the proxy, or add the host to NO_PROXY to connect directly"), said
    assert "pr0xysecret" not in said
    assert not failure.reached and not failure.maybe_billed
    assert failure.timeout_s == 0.3  # the connect timeout's length, not the read timeout's


#: a proxy's own error page (squid's) for a server it could not reach
SQUID_PAGE = (
    b"<!DOCTYPE html><html><head><title>ERROR: The requested URL could not be retrieved</title></head><body>"
    b"<p>The system returned: <i>(110) Connection timed out</i></p></body></html>"
)


def bad_gateway(
    asked: list[bytes], status: bytes = b"502 Bad Gateway"
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A loopback server answering each request with :data:`SQUID_PAGE` under ``status`` (``asked``: each request's
    line)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        asked.append(head.split(b"\r\n", 1)[0])
        length = re.search(rb"(?im)^content-length: *(\d+)", head)
        await reader.readexactly(int(length[1]) if length else 0)
        writer.write(
            b"HTTP/1.1 " + status + b"\r\nServer: squid/5.7\r\nContent-Type: text/html;charset=utf-8\r\n"
            b"X-Squid-Error: ERR_CONNECT_FAIL 110\r\nConnection: close\r\n"
            + b"Content-Length: %d\r\n\r\n" % len(SQUID_PAGE)
            + SQUID_PAGE
        )
        await writer.drain()
        writer.close()

    return answer


@pytest.mark.parametrize(
    ("status", "failure"),
    [
        (b"502 Bad Gateway", E.ServerError),
        (b"503 Service Unavailable", E.ServerError),
        (b"504 Gateway Timeout", E.ProviderTimeoutError),
    ],
)
async def test_a_proxys_own_gateway_page_for_a_lan_server_names_the_proxy_and_no_proxy(
    status: bytes, failure: type[E.ProviderError]
):
    # a plain-http request through HTTP_PROXY to a server on the LAN: a proxy outside the network cannot reach it and
    # answers its own 502 page, which said only "a gateway or proxy in front of the API answered" (the server's own
    # reverse proxy, for all the operator could tell), not HTTP_PROXY, nor NO_PROXY, the fix
    asked: list[bytes] = []
    proxy = await asyncio.start_server(bad_gateway(asked, status), "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    env = {"HTTP_PROXY": f"http://u:pr0xysecret@127.0.0.1:{port}", "OLLAMA_BASE_URL": "http://ollama.lan.example:11434"}
    transport = Transport(env=env)
    provider = LocalProvider(env, transport)
    try:
        with pytest.raises(failure) as info:
            async with asyncio.timeout(HANG_GUARD_S):
                await provider.complete(LLMRequest([Message("user", "hi")]), Target("local", "llama3.1"))
    finally:
        await transport.aclose()
        proxy.close()
    assert asked == [b"POST http://ollama.lan.example:11434/v1/responses HTTP/1.1"]  # (the proxy itself was asked)
    said = info.value.message
    page = "an HTML page, not the API's answer: 'ERROR: The requested URL could not be retrieved'"
    assert f"HTTP {status[:3].decode()}: {page}" in said, said
    assert (
        f"; it came through the proxy http://127.0.0.1:{port} (from HTTP_PROXY), whose own error page this most likely "
        "is (a proxy outside your network cannot reach a server inside it, as at http://ollama.lan.example:11434/v1): "
        "add ollama.lan.example to NO_PROXY to connect to it directly, or check HTTP_PROXY"
    ) in said, said
    assert "pr0xysecret" not in said


async def test_a_local_servers_own_502_through_no_proxy_says_nothing_of_one():
    # the same page from the server, reached directly (no proxy set): nothing said of a proxy variable
    server = await asyncio.start_server(bad_gateway([]), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    env = {"OLLAMA_BASE_URL": f"http://127.0.0.1:{port}"}
    transport = Transport(env=env)
    try:
        with pytest.raises(E.ServerError) as info:
            async with asyncio.timeout(HANG_GUARD_S):
                await LocalProvider(env, transport).complete(LLMRequest([Message("user", "hi")]), Target("local", "m"))
    finally:
        await transport.aclose()
        server.close()
    assert "(a gateway or proxy in front of the API answered)" in info.value.message
    assert "NO_PROXY" not in info.value.message and "came through the proxy" not in info.value.message
