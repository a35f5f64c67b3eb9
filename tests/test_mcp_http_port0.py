"""``magsag-mcp --transport http --port 0``: the system chooses a free port as the server binds it, and the start-up
line says the URL it serves on; a script (and the tests that start a server process) reads it there, with no port
found free a moment before and left in between for another process to take."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from magsag_mcp.mcp_server.__main__ import build_parser
from tests.mcp_http_helpers import HEADERS, INIT, has_ipv6_loopback
from tests.shutdown_helpers import STARTING, until_serving

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
TOKEN = "p0rt-zero-T0k3n-q8w2e6r1y5u9"


def _start(tmp: Path, *options: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_", "GEMINI_"))}
    env.update(MAGSAG_PROVIDER="fake", MAGSAG_DB=str(tmp / "ledger.db"), MAGSAG_MCP_TOKEN=TOKEN)
    argv = [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--catalog", str(CATALOG), *options]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _stop(proc: subprocess.Popen[bytes]) -> str:
    proc.terminate()
    out, err = proc.communicate(timeout=60)  # a hang guard
    assert out == b"", "an HTTP server writes nothing to stdout"
    return err.decode(errors="replace")


async def _post(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    bearer = {**HEADERS, "Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=INIT, headers={**bearer, **(headers or {})}) as resp:
            return resp.status, await resp.text()


async def test_port_0_serves_on_the_port_the_system_chose_and_says_its_url(tmp_path: Path):
    # Before: "magsag-mcp: --port 0 is not a TCP port (1-65535)", exit 2.
    proc = _start(tmp_path, "--port", "0", "--allow-host", "mybox.lan")
    try:
        url, said = await until_serving(proc)
        parts = urlsplit(url)
        assert (parts.hostname, parts.path) == ("127.0.0.1", "/mcp") and parts.port not in (None, 0), said
        port = parts.port
        assert f"Uvicorn running on http://127.0.0.1:{port} " in said  # the serving line names the same port
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"invoke_skill", "explain_route", "summarize_usage"} <= names
        # the Host allow-list holds the real port: the loopback names and an --allow-host given without a port...
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"mybox.lan:{port}"):
            status, body = await _post(url, {"Host": host, "Origin": f"http://{host}"})
            assert status == 200, (host, body)
        # ...and not the port asked for, which no client reaches
        for host in ("127.0.0.1:0", "mybox.lan:0", "mybox.lan:8765"):
            status, body = await _post(url, {"Host": host})
            assert status == 421, (host, body)
    finally:
        err = _stop(proc)
    assert TOKEN not in err


@pytest.mark.parametrize(
    "host, shown",
    [
        ("0.0.0.0", "0.0.0.0"),
        pytest.param("::1", "[::1]", marks=pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")),
        pytest.param("[::1]", "[::1]", marks=pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")),
        pytest.param("::", "[::]", marks=pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")),
    ],
)
async def test_port_0_on_any_host_says_a_url_with_the_real_port_that_answers(tmp_path: Path, host: str, shown: str):
    # The URL said is the bound address (IPv6 in brackets, once: `--host [::1]` was said as `[[::1]]`) and the port the
    # system chose, and a client sending it as the Host header is answered (connecting to the wildcard address reaches
    # this machine).
    proc = _start(tmp_path, "--host", host, "--port", "0")
    try:
        url, said = await until_serving(proc)
        parts = urlsplit(url)
        assert url == f"http://{shown}:{parts.port}/mcp" and parts.port != 0, said
        status, body = await _post(url)
        assert status == 200, body
    finally:
        _stop(proc)


def test_the_help_says_port_0_has_the_system_choose_and_where_the_port_is_said():
    shown = " ".join(build_parser().format_help().split())
    said = "--port PORT http: port, 0 to 65535 (default: $MAGSAG_MCP_PORT or 8765); 0: a free port the system chooses"
    assert said in shown
    assert "the start-up line on stderr says the URL served" in shown


@pytest.mark.parametrize("port", ["-1", "65536"])
def test_a_port_outside_0_to_65535_is_refused_naming_the_range(tmp_path: Path, port: str):
    proc = subprocess.run(
        [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", port, "--db", str(tmp_path / "l.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert f"magsag-mcp: --port {port} is not a TCP port (0-65535; 0 for a free one the system chooses)" in proc.stderr


def _resolving_to(monkeypatch: pytest.MonkeyPatch, *addresses: tuple[int, tuple]) -> None:
    """``--host`` resolving to ``addresses`` (family, socket address), as a name with several does."""
    from magsag_mcp.mcp_server import listeners

    def getaddrinfo(*_: object, **__: object) -> list[tuple]:
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address) for family, address in addresses]

    monkeypatch.setattr(listeners.socket, "getaddrinfo", getaddrinfo)


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")
def test_port_0_on_a_name_of_several_addresses_serves_all_on_the_one_port(monkeypatch: pytest.MonkeyPatch):
    # asyncio's server, given `localhost` and port 0, binds each of its addresses to a port of its own: the URL said
    # would name one, and a client whose `localhost` is the other address would reach another port
    from magsag_mcp.mcp_server.listeners import bind_listeners

    _resolving_to(monkeypatch, (socket.AF_INET, ("127.0.0.1", 0)), (socket.AF_INET6, ("::1", 0, 0, 0)))
    bound = bind_listeners("localhost", 0)
    try:
        ports = {sock.getsockname()[1] for sock in bound}
        assert len(bound) == 2 and len(ports) == 1 and 0 not in ports
        assert bound[1].getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1  # as asyncio binds IPv6
    finally:
        for sock in bound:
            sock.close()


def test_an_address_of_a_name_this_machine_lacks_is_left_out_while_another_binds(monkeypatch: pytest.MonkeyPatch):
    from magsag_mcp.errors import ConfigError
    from magsag_mcp.mcp_server.listeners import bind_listeners

    _resolving_to(monkeypatch, (socket.AF_INET, ("198.51.100.7", 0)), (socket.AF_INET, ("127.0.0.1", 0)))
    bound = bind_listeners("mybox", 0)
    try:
        assert [sock.getsockname()[0] for sock in bound] == ["127.0.0.1"]
    finally:
        for sock in bound:
            sock.close()
    _resolving_to(monkeypatch, (socket.AF_INET, ("198.51.100.7", 0)))
    with pytest.raises(ConfigError, match="cannot listen on mybox:0: .*it is not an address of this machine"):
        bind_listeners("mybox", 0)


def test_a_port_taken_is_refused_with_the_fix():
    from magsag_mcp.errors import ConfigError
    from magsag_mcp.mcp_server.listeners import bind_listeners

    bound = bind_listeners("127.0.0.1", 0)
    try:
        port = bound[0].getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}: .*choose another --port"):
            bind_listeners("127.0.0.1", port)
    finally:
        for sock in bound:
            sock.close()


@pytest.mark.parametrize("level", ["WARNING", "ERROR"])
async def test_port_0_says_its_url_at_any_log_level(tmp_path: Path, level: str):
    # The start-up line is the only place the port the system chose is said. Before: logged at INFO only, so a server
    # started with --port 0 and MAGSAG_MCP_LOG_LEVEL=WARNING (set for a desktop client's quiet log, say) served on a
    # port no one could learn, and a script reading the URL as docs/mcp.md says waited for ever.
    proc = _start(tmp_path, "--port", "0", "--log-level", level)
    try:
        assert proc.stderr is not None
        said = ""
        with anyio.fail_after(60):  # a hang guard, not a timing assertion
            while (url := STARTING.search(said)) is None:
                line = await anyio.to_thread.run_sync(proc.stderr.readline, abandon_on_cancel=True)
                assert line, f"server exited before it said its URL: {said}"
                said += line.decode(errors="replace")
        assert " INFO magsag_mcp.mcp: magsag-mcp starting on http://127.0.0.1:" in said, said
        status, body = await _post(url["url"])  # the URL said is served
        assert status == 200, body
    finally:
        err = _stop(proc)
    assert " INFO " not in err, "only the start-up line passes the level"
