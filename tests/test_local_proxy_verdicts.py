"""A local server reached through a proxy (HTTPS_PROXY set, the server not in NO_PROXY: Ollama on another machine of
the network): every connect to it is a connect to the proxy, which the connect watch marks under the server's host. A
server found down there (local_down) tells the other connects in flight to stop; through a proxy, what did not connect
was the proxy, and the error says so, naming it (never its credentials) and the fixes, not that the server is down.
The proxy is a loopback server that takes the connection and never answers CONNECT; connects are counted, never
timed, and a regression hangs, which the hang guard turns into a failure."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from magsag_mcp import connect_watch
from magsag_mcp import errors as E
from magsag_mcp.providers import local_down
from magsag_mcp.transport import Timeouts, Transport

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
    timeouts = Timeouts(connect=HANG_GUARD_S, read=0.3, from_settings=True)
    transport = Transport(env={"HTTP_PROXY": f"http://u:pr0xysecret@127.0.0.1:{port}"}, timeouts=timeouts)
    try:
        with pytest.raises(E.ProviderTimeoutError) as info:
            async with asyncio.timeout(HANG_GUARD_S):
                await transport.post_json("http://ollama.lan.example:11434/api/show", {"model": "m"}, headers={})
    finally:
        await transport.aclose()
        proxy.close()
        for writer in held:
            writer.close()
    said = info.value.message
    assert said.startswith(
        f"no answer from http://ollama.lan.example:11434 through the proxy http://127.0.0.1:{port} (from HTTP_PROXY) "
        "within the read timeout of 0.3s (MAGSAG_READ_TIMEOUT)"
    ), said
    assert "the proxy may be what did not answer" in said and "NO_PROXY" in said
    assert "pr0xysecret" not in said
