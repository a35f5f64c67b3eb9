"""Streamable HTTP: real uvicorn on a free loopback port; DNS-rebinding checks and the bearer token."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server.http import BearerTokenMiddleware, http_app, is_loopback, security_settings
from tests.mcp_http_helpers import HEADERS, INIT, uvicorn_on
from tests.shutdown_helpers import until_serving

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
TOKEN = "t0k3n-for-tests-0123456789abcdef"


#: the sockets :func:`held_port` bound, each held until :func:`serving` serves on it
_HELD: dict[int, socket.socket] = {}


def held_port() -> int:
    """A loopback port bound here and held until :func:`serving` serves on it: one closed as soon as it was found
    was free for another process's server to be given before uvicorn bound it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    _HELD[port] = sock
    return port


def offline_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_", "GEMINI_"))}
    env.update(MAGSAG_PROVIDER="fake", MAGSAG_DB=str(tmp / "ledger.db"), MAGSAG_RETRY_BASE_DELAY="0.001")
    return env


@asynccontextmanager
async def serving(app, port: int) -> AsyncIterator[str]:
    """``app`` served in this process on ``port``, which :func:`held_port` holds bound until uvicorn serves on it."""
    async with uvicorn_on(app, _HELD.pop(port)):
        yield f"http://127.0.0.1:{port}/mcp"


@asynccontextmanager
async def subprocess_server(tmp: Path, token: str | None, *options: str) -> AsyncIterator[str]:
    """The command serving on a port the system chooses (``--port 0``), and its URL as its start-up line says it."""
    env = offline_env(tmp)
    if token:
        env["MAGSAG_MCP_TOKEN"] = token
    cmd = [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", "0", "--catalog", str(CATALOG)]
    cmd += options
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    said = ""
    try:
        url, said = await until_serving(proc)
        yield url
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)  # a hang guard
        assert out == b"", "an HTTP server writes nothing to stdout"
        assert TOKEN.encode() not in said.encode() + err, "the token never reaches the log"


async def post(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=INIT, headers={**HEADERS, **(headers or {})}) as resp:
            return resp.status, await resp.text(), dict(resp.headers)


async def test_without_token_on_loopback_tools_work_and_a_forged_host_is_refused(tmp_path: Path):
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    app = http_app(server, host="127.0.0.1", port=port, token=None)
    async with serving(app, port) as url:
        async with Client(url) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "invoke_skill" in names
            plan = await client.call_tool("explain_route", {"skill_id": "skill.analysis", "payload": {"data": "x"}})
            assert not plan.is_error, plan.content
            assert plan.structured_content["targets"][0]["provider"] == "fake"
        status, body, _ = await post(url, {"Host": f"evil.example:{port}"})
        assert status == 421 and "Host" in body
        status, body, _ = await post(url, {"Origin": "http://evil.example"})
        assert status == 403 and "Origin" in body
        status, _, _ = await post(url, {"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"})
        assert status == 200


async def test_with_token_requests_need_the_bearer_and_a_forged_host_is_still_refused(tmp_path: Path):
    async with subprocess_server(tmp_path, TOKEN) as url:
        port = urlsplit(url).port
        status, body, headers = await post(url)
        assert status == 401 and headers.get("WWW-Authenticate", "").startswith("Bearer")
        assert "MAGSAG_MCP_TOKEN" in body and TOKEN not in body
        status, _, _ = await post(url, {"Authorization": "Bearer not-the-token"})
        assert status == 401
        status, _, _ = await post(url, {"Authorization": f"Basic {TOKEN}"})
        assert status == 401
        status, _, _ = await post(url, {"Authorization": f"Bearer {TOKEN}", "Host": f"evil.example:{port}"})
        assert status == 421
        status, _, _ = await post(url, {"Authorization": f"bearer {TOKEN}"})  # the scheme is case-insensitive
        assert status == 200

        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                result = await client.call_tool(
                    "invoke_skill",
                    {
                        "skill_id": "skill.analysis",
                        "payload": {"data": "over http"},
                        "model_config": {"model": "fake:echo"},
                    },
                )
                assert not result.is_error, result.content
                assert result.structured_content["model"] == "echo"
                assert "over http" in result.structured_content["output"]

        # what the SDK's transport does behind the token, as the command serves it (the SDK's client side and
        # httpx2 deferred, its models built on first use): a body past its limit, a session ended and unknown
        bearer = {**HEADERS, "Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession() as http:
            async with http.post(url, data=b" " * (5 * 2**20), headers=bearer) as resp:
                assert resp.status == 413
            async with http.post(url, json=INIT, headers=bearer) as resp:
                session = {**bearer, "Mcp-Session-Id": resp.headers["Mcp-Session-Id"]}
                assert resp.status == 200
            async with http.delete(url, headers=session) as resp:
                assert resp.status == 200
            listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
            async with http.post(url, json=listing, headers={**session, "Mcp-Protocol-Version": "2025-06-18"}) as resp:
                assert resp.status == 404


def test_binding_beyond_loopback_without_a_token_is_refused(tmp_path: Path):
    env = offline_env(tmp_path)
    env.pop("MAGSAG_MCP_TOKEN", None)
    proc = subprocess.run(
        [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--host", "0.0.0.0", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "refusing to listen on 0.0.0.0" in proc.stderr and "MAGSAG_MCP_TOKEN" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("token", [" ", "secret-token-with-a-newline\n", " padded-secret-token"])
def test_a_token_no_client_could_send_is_refused(token: str):
    # a bearer token cannot carry surrounding whitespace: the server would answer 401 to everyone
    from magsag_mcp.errors import ConfigError
    from magsag_mcp.mcp_server.http import check_binding

    with pytest.raises(ConfigError, match="MAGSAG_MCP_TOKEN is blank or has spaces or line breaks around it"):
        check_binding("0.0.0.0", token)
    check_binding("0.0.0.0", token.strip() or "a-long-random-secret")  # the same, cleaned, is fine


@pytest.mark.parametrize("token", ["pässwort-0123456789abcdef", "secret\x00token-0123456789"])
def test_a_token_a_header_cannot_carry_is_refused(token: str):
    # A client sends a non-ASCII token as UTF-8 bytes, which the server reads as Latin-1: never equal, so
    # every request got 401 and nothing said why (and no HTTP server accepts a control character).
    from magsag_mcp.errors import ConfigError
    from magsag_mcp.mcp_server.http import check_binding

    with pytest.raises(ConfigError, match="MAGSAG_MCP_TOKEN has characters other than printable ASCII"):
        check_binding("127.0.0.1", token)
    check_binding("127.0.0.1", "printable ascii with spaces-0123")


def test_a_short_token_is_refused_beyond_loopback_only():
    from magsag_mcp.errors import ConfigError
    from magsag_mcp.mcp_server.http import check_binding

    with pytest.raises(
        ConfigError, match="MAGSAG_MCP_TOKEN is 3 characters; to listen on 0.0.0.0 it must be at least 16"
    ):
        check_binding("0.0.0.0", "abc")
    check_binding("127.0.0.1", "abc")  # on loopback a token is an extra, not the only gate
    check_binding("0.0.0.0", "x" * 16)


def test_loopback_detection_and_allowed_hosts():
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.10", "example.com", "::"))
    hosts = security_settings("127.0.0.1", 8765).allowed_hosts
    assert hosts == ["127.0.0.1:8765", "localhost:8765", "[::1]:8765"]
    extra = security_settings("0.0.0.0", 9000, ["mybox.lan"]).allowed_hosts
    assert "mybox.lan:9000" in extra and "0.0.0.0:9000" in extra


def test_bearer_comparison():
    gate = BearerTokenMiddleware(app=None, token=TOKEN)  # type: ignore[arg-type]
    assert gate.authorized(f"Bearer {TOKEN}") and gate.authorized(f"BEARER  {TOKEN} ")
    assert not gate.authorized(None) and not gate.authorized("") and not gate.authorized(TOKEN)
    assert not gate.authorized(f"Bearer {TOKEN}x") and not gate.authorized(f"Token {TOKEN}")


async def test_a_2026_client_gets_the_log_levels_it_asked_for(tmp_path: Path):
    # 2026-07-28 clients opt in to log messages per request (_meta's log level) and the SDK filters at
    # that level; the handshake-era threshold (default info) must not drop what the request asked for.
    port = held_port()
    env = {"MAGSAG_PROVIDER": "fake", "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_MAX_RETRIES": "1"}
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env=env)
    args = {
        "skill_id": "skill.analysis",
        "payload": {"data": "x"},
        "model_config": {"model": "fake:fail-server_error", "fallbacks": ["fake:good"]},  # retried, then fallen back
    }

    async def ignore(value: float, total: float | None, message: str | None) -> None:
        return None

    levels: set[str] = set()

    async def on_log(params: Any) -> None:
        levels.add(params.level)

    async with serving(http_app(server, host="127.0.0.1", port=port, token=None), port) as url:
        for asked, expected in (("debug", {"debug", "info", "notice", "warning"}), ("warning", {"warning"})):
            levels.clear()
            async with Client(url, logging_callback=on_log, log_level=asked) as client:
                assert client.protocol_version == "2026-07-28"
                result = await client.call_tool("invoke_skill", args, progress_callback=ignore)
                assert not result.is_error, result.content
            assert levels == expected, asked


@pytest.mark.parametrize(
    "allowed, host, origin",
    [("mybox.lan:443", "mybox.lan", "https://mybox.lan"), ("mybox.lan:80", "mybox.lan", "http://mybox.lan")],
)
async def test_an_allowed_host_on_a_default_port_is_reached_as_clients_write_it(
    tmp_path: Path, allowed: str, host: str, origin: str
):
    # Behind a TLS proxy at https://mybox.lan/mcp, clients send Host `mybox.lan` and Origin
    # `https://mybox.lan`: the default port is never written, so `mybox.lan:443` must match them.
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    app = http_app(server, host="127.0.0.1", port=port, token=None, allow_hosts=[allowed])
    async with serving(app, port) as url:
        status, _, _ = await post(url, {"Host": host, "Origin": origin})
        assert status == 200
        status, _, _ = await post(url, {"Host": "evil.example", "Origin": origin})
        assert status == 421


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--allow-host", "https://mybox.lan", "--allow-host 'https://mybox.lan' is not a host name"),
        ("--allow-host", "mybox.lan/mcp", "--allow-host 'mybox.lan/mcp' is not a host name"),
        ("--allow-host", "mybox.lan:http", "--allow-host 'mybox.lan:http' is not a host name"),
        ("--allow-host", "[not-ipv6]:443", "--allow-host '[not-ipv6]:443' is not a host name"),
        ("--allow-host", "mybox.lan:70000", "70000 is not a TCP port"),
        ("--host", "127.0.0.1:9000", "--host '127.0.0.1:9000' carries a port; give the port with --port"),
    ],
)
def test_a_host_no_client_could_send_is_refused_at_start(tmp_path: Path, option: str, value: str, message: str):
    # Such a value used to become an allowed "Host" that never matches (https://mybox.lan was taken for
    # an IPv6 address): every client got 421 and nothing said why.
    proc = subprocess.run(
        [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", "0", option, value],
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_hosts_clients_send_are_accepted_as_written():
    extra = security_settings("::", 8765, ["fe80::1", "[fe80::2]:9000", "my_service", "mybox.lan:*"]).allowed_hosts
    assert extra[:1] == ["[::]:8765"]
    assert {"[fe80::1]:8765", "[fe80::2]:9000", "my_service:8765", "mybox.lan:*"} <= set(extra)


async def test_an_allowed_host_matches_whatever_its_case(tmp_path: Path):
    # DNS names are case-insensitive and clients (browsers, httpx) send them in lower case: a name given
    # as MyBox.LAN must not leave every client with 421.
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    app = http_app(server, host="127.0.0.1", port=port, token=None, allow_hosts=["MyBox.LAN", "FE80::A"])
    async with serving(app, port) as url:
        status, _, _ = await post(url, {"Host": f"mybox.lan:{port}", "Origin": f"http://mybox.lan:{port}"})
        assert status == 200
        status, _, _ = await post(url, {"Host": f"[fe80::a]:{port}"})
        assert status == 200


def test_a_port_in_use_is_refused_at_start_with_the_fix(tmp_path: Path):
    # Before: uvicorn's "[Errno 98] error while attempting to bind" log line and exit status 3.
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", str(port)],
            env=offline_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2, proc.stderr
    expected = f"magsag-mcp: cannot listen on 127.0.0.1:{port}: Address already in use; choose another --port"
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr


async def test_a_refused_host_or_origin_is_told_the_option_that_admits_it(tmp_path: Path, caplog):
    # Bound to every address (0.0.0.0) with a token, a client on the network reaching the server by its address
    # got `421 Invalid Host header`, and the log said only that: nothing named --allow-host. A browser page (the
    # MCP Inspector's) got `403 Invalid Origin header` alike.
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    app = http_app(server, host="127.0.0.1", port=port, token=None)
    async with serving(app, port) as url:
        status, body, headers = await post(url, {"Host": f"192.0.2.7:{port}"})
        assert status == 421
        assert f"'192.0.2.7:{port}'" in body and f"--allow-host 192.0.2.7:{port}" in body
        assert headers["Content-Length"] == str(len(body.encode()))
        status, body, _ = await post(url, {"Origin": "http://localhost:6274"})
        assert status == 403
        assert "'http://localhost:6274'" in body and "--allow-host localhost:6274" in body
        status, _, _ = await post(url)
        assert status == 200
    assert f"--allow-host 192.0.2.7:{port}" in caplog.text


def test_a_wildcard_bind_without_allow_host_warns_that_only_loopback_names_are_answered(caplog):
    from magsag_mcp.mcp_server.http import warn_if_unreachable

    with caplog.at_level("WARNING"):
        warn_if_unreachable("0.0.0.0", 8765, [])
    assert "--allow-host" in caplog.text and "421" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        warn_if_unreachable("0.0.0.0", 8765, ["mybox.lan"])
        warn_if_unreachable("192.0.2.2", 8765, [])  # its own address is accepted as a Host
        warn_if_unreachable("127.0.0.1", 8765, [])
    assert caplog.text == ""


def test_a_host_that_is_not_this_machines_is_refused_with_the_fix_for_it():
    # Before: "Cannot assign requested address; choose another --port, or stop the process that listens
    # there", when no port would do and nothing listens: the address is not one of this machine's.
    from magsag_mcp.errors import ConfigError
    from magsag_mcp.mcp_server.listeners import bind_listeners

    with pytest.raises(ConfigError) as caught:
        bind_listeners("198.51.100.7", 0)  # TEST-NET-2: no machine's address
    message = caught.value.message
    assert "is not an address of this machine" in message and "--host" in message
    assert "choose another --port" not in message


@pytest.mark.parametrize(
    "setting, expected",
    [
        ({"MAGSAG_MAX_RETRIES": "abc"}, "MAGSAG_MAX_RETRIES='abc' is not a number"),
        ({"MAGSAG_DB": "/"}, "cannot open the ledger at /: it is a directory"),
        ({"MAGSAG_CALL_BASE_URLS": "anyhost"}, "MAGSAG_CALL_BASE_URLS='anyhost' is not a mode"),
        ("broken catalog", "malformed YAML"),
    ],
)
def test_an_http_server_that_cannot_serve_a_call_stops_at_start_saying_why(tmp_path: Path, setting, expected: str):
    # Before: the server started ("Application startup complete", a running systemd unit) and every call failed
    # with the same error; nothing waits on an HTTP server's start, so it now opens the service first.
    import shutil

    env = offline_env(tmp_path)
    catalog = CATALOG
    if setting == "broken catalog":
        catalog = tmp_path / "catalog"
        shutil.copytree(CATALOG, catalog)
        with (catalog / "routing" / "default.yaml").open("a") as f:
            f.write("  - [[[\n")
    else:
        env.update(setting)
    argv = [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", "0"]
    proc = subprocess.Popen([*argv, "--catalog", str(catalog)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=60)  # a hang guard: before, it served on
    finally:
        proc.kill()
    assert proc.returncode == 2, err
    assert expected in err.decode() and "Traceback" not in err.decode()
    assert out == b""


#: a call aimed at a server of the caller's choosing, through a provider with no key (nothing can leak)
def _aimed_at(base_url: str) -> dict[str, Any]:
    return {
        "skill_id": "skill.analysis",
        "payload": {"data": "x"},
        "model_config": {"provider": "local", "model": "llama3.1:70b", "base_url": base_url},
    }


async def test_over_http_a_caller_cannot_make_the_server_reach_a_host_of_its_choosing(tmp_path: Path):
    # Before: any holder of the token could name any base_url for `local` (no key, so no check), and the
    # server POSTed there: a cloud metadata address, an admin port on its loopback, a host on its LAN, with
    # the start of the answer coming back in the error. Over HTTP a call's base URL must now be configured.
    from magsag_mcp.loopback import LoopbackUpstream

    internal = LoopbackUpstream(reply="internal secrets")
    target = await internal.start()
    try:
        for env, allowed in (
            ({}, False),
            ({"MAGSAG_CALL_BASE_URLS": "any"}, True),  # the operator opts in
            ({"MAGSAG_ALLOWED_BASE_URLS": f"local={target}"}, True),  # or names the server
            ({"MAGSAG_LOCAL_LLM_BASE_URL": f"{target}/v1"}, True),  # or it is the local server configured
        ):
            port = held_port()
            server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env=env)
            async with serving(http_app(server, host="127.0.0.1", port=port, token=None), port) as url:
                async with Client(url) as client:
                    result = await client.call_tool("invoke_skill", _aimed_at(target))
            if allowed:
                assert not result.is_error, (env, result.content)
                continue
            assert result.is_error and internal.calls == {}, env
            message = result.structured_content["error"]["message"]
            assert message.startswith(f"model_config.base_url: {target} is not an endpoint configured for local")
            assert "MAGSAG_ALLOWED_BASE_URLS" in message and "--call-base-urls any" in message
    finally:
        await internal.stop()
    assert sum(internal.calls.values()) == 3


async def test_over_stdio_and_in_memory_a_call_may_still_name_its_own_local_server(tmp_path: Path):
    # The guide's {"model": "llama3.1:70b", "base_url": "http://localhost:11434"}: a developer's own client
    # pointing a call at their own server is not a network caller, and keeps working as documented...
    from magsag_mcp.loopback import LoopbackUpstream

    internal = LoopbackUpstream(reply="mine")
    target = await internal.start()
    try:
        async with Client(build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={})) as client:
            result = await client.call_tool("invoke_skill", _aimed_at(target))
            assert not result.is_error, result.content
        # ...unless the operator asks for the same rule there
        env = {"MAGSAG_CALL_BASE_URLS": "configured"}
        async with Client(build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env=env)) as client:
            result = await client.call_tool("invoke_skill", _aimed_at(target))
            assert result.is_error and "not an endpoint configured for local" in str(result.content)
    finally:
        await internal.stop()
    assert sum(internal.calls.values()) == 1


async def test_magsag_mcp_over_http_opts_in_to_callers_base_urls_with_a_flag(tmp_path: Path):
    from magsag_mcp.loopback import LoopbackUpstream

    internal = LoopbackUpstream(reply="opted in")
    target = await internal.start()
    try:
        for options, allowed in (((), False), (("--call-base-urls", "any"), True)):
            async with subprocess_server(tmp_path, TOKEN, *options) as url:
                async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
                    async with Client(streamable_http_client(url, http_client=http)) as client:
                        result = await client.call_tool("invoke_skill", _aimed_at(target))
            assert result.is_error is not allowed, (options, result.content)
    finally:
        await internal.stop()
    assert sum(internal.calls.values()) == 1


def test_the_help_names_the_option_and_a_bad_value_is_refused(capsys: pytest.CaptureFixture[str]):
    from magsag_mcp.mcp_server.__main__ import build_parser, main

    shown = build_parser().format_help()
    assert "--call-base-urls" in shown and "MAGSAG_CALL_BASE_URLS" in shown
    with pytest.raises(SystemExit):
        main(["--call-base-urls", "everything"])
    assert "invalid choice: 'everything'" in capsys.readouterr().err


def test_an_http_server_whose_callers_may_name_any_server_says_so_at_the_start(caplog):
    from magsag_mcp.mcp_server.http import warn_if_callers_choose_servers

    with caplog.at_level("WARNING"):
        warn_if_callers_choose_servers(True)
    assert caplog.text == ""
    with caplog.at_level("WARNING"):
        warn_if_callers_choose_servers(False)
    assert "MAGSAG_CALL_BASE_URLS=any" in caplog.text and "metadata" in caplog.text


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_request_past_the_http_body_limit_is_told_the_limit_and_the_fix(tmp_path: Path, mode: str):
    """The SDK refuses an HTTP request body over 4 MiB with a bare `413 Request body too large` in plain text, which
    its client reads as "Server returned an error response": a call with a 5 MB payload failed with nothing saying
    that it was too large, nor what the limit is. The refusal is a JSON-RPC error naming both, which a client shows."""
    from mcp.shared.exceptions import MCPError

    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    async with serving(http_app(server, host="127.0.0.1", port=port, token=None), port) as url:
        async with Client(url, mode=mode) as client:
            big = {"skill_id": "skill.analysis", "payload": {"data": "x" * 5_000_000}}
            with pytest.raises(MCPError) as refused:
                await client.call_tool("invoke_skill", big)
            message = refused.value.message
            assert "too large" in message and "4 MiB" in message and "split" in message, message
            assert not (await client.call_tool("list_skills", {})).is_error  # and the server serves on

        async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: the limit is met as the body comes
            for _ in range(5):
                yield b" " * 2**20

        async with aiohttp.ClientSession() as http:
            async with http.post(url, data=streamed(), headers=HEADERS) as resp:
                assert resp.status == 413 and resp.headers["Content-Type"] == "application/json"
                answer = await resp.json()
        assert answer["jsonrpc"] == "2.0" and answer["id"] is None and answer["error"]["code"] == -32600
        assert "4 MiB" in answer["error"]["message"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_client_without_the_token_is_told_to_send_it(tmp_path: Path, mode: str):
    """The 401 said what to send, in a JSON body that is no JSON-RPC message: the SDK's client (and any that reads a
    JSON-RPC error from a non-2xx answer) reported "Server returned an error response", so a user who had not
    configured the token, or had a stale one, saw nothing naming MAGSAG_MCP_TOKEN. The 401 is a JSON-RPC error."""
    from mcp.shared.exceptions import MCPError

    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    async with serving(http_app(server, host="127.0.0.1", port=port, token=TOKEN), port) as url:
        for headers in ({}, {"Authorization": "Bearer not-the-token"}):
            async with httpx2.AsyncClient(headers=headers) as http:
                with pytest.raises(BaseExceptionGroup) as refused:  # raised out of the client's task groups
                    async with Client(streamable_http_client(url, http_client=http), mode=mode):
                        pass
            error: BaseException = refused.value
            while isinstance(error, BaseExceptionGroup):
                error = error.exceptions[0]
            assert isinstance(error, MCPError), repr(error)
            message = error.message
            assert "Authorization: Bearer" in message and "MAGSAG_MCP_TOKEN" in message, message
            assert TOKEN not in message
        status, body, headers = await post(url)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        assert headers["Content-Type"] == "application/json"


async def test_a_refused_token_is_told_what_was_wrong_with_it(tmp_path: Path):
    """Every 401 said "send 'Authorization: Bearer <token>'", also to a client that sent one: the user of
    cursor_mcp.json who kept its "Bearer your-MAGSAG_MCP_TOKEN", of a VS Code whose ${input:...} was never filled in,
    whose header held the token alone, or whose token was stale, was told to do what they had done."""
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    said = {
        None: "the request has no Authorization header",
        TOKEN: "its Authorization header is not 'Bearer <token>'",
        f"Basic {TOKEN}": "its Authorization header is not 'Bearer <token>'",
        "Bearer your-MAGSAG_MCP_TOKEN": "its bearer token is a placeholder",
        "Bearer ${input:magsag-token}": "its bearer token is a placeholder",
        "Bearer t0k3n-for-tests-0123456789abcdeX": "its bearer token is not the server's MAGSAG_MCP_TOKEN",
    }
    async with serving(http_app(server, host="127.0.0.1", port=port, token=TOKEN), port) as url:
        for header, reason in said.items():
            status, body, _ = await post(url, None if header is None else {"Authorization": header})
            message = json.loads(body)["error"]["message"]
            assert status == 401 and message.startswith(f"unauthorized: {reason}"), (header, message)
            assert message.endswith(
                "send 'Authorization: Bearer <token>' with the server's token (its MAGSAG_MCP_TOKEN, or what is in "
                "the file its MAGSAG_MCP_TOKEN_FILE names)"
            )
            assert TOKEN not in message and "abcdeX" not in message and "magsag-token" not in message


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_client_refused_for_its_host_or_origin_is_told_the_option_that_admits_it(tmp_path: Path, mode: str):
    """The hint naming --allow-host went to the client as text/plain, which the SDK's client (and any client that reads
    a JSON-RPC error from a non-2xx answer) reported as "Server returned an error response": a user reaching the
    server by its LAN address, or from a page, saw nothing naming the fix (only the operator's log did), as the 413 and
    the 401 were before they were answered as JSON-RPC errors. The refusal is one too, still 421 and 403."""
    from mcp.shared.exceptions import MCPError

    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    async with serving(http_app(server, host="127.0.0.1", port=port, token=None), port) as url:
        for headers, fix in (
            ({"Host": f"192.0.2.7:{port}"}, f"--allow-host 192.0.2.7:{port}"),
            ({"Origin": "http://localhost:6274"}, "--allow-host localhost:6274"),
        ):
            async with httpx2.AsyncClient(headers=headers) as http:
                with pytest.raises(BaseExceptionGroup) as refused:  # raised out of the client's task groups
                    async with Client(streamable_http_client(url, http_client=http), mode=mode):
                        pass
            error: BaseException = refused.value
            while isinstance(error, BaseExceptionGroup):
                error = error.exceptions[0]
            assert isinstance(error, MCPError), repr(error)
            assert fix in error.message, error.message
        for headers, status in (({"Host": f"192.0.2.7:{port}"}, 421), ({"Origin": "http://localhost:6274"}, 403)):
            got, body, answer = await post(url, headers)
            assert got == status and answer["Content-Type"] == "application/json"
            error = json.loads(body)
            assert error["jsonrpc"] == "2.0" and error["id"] is None and error["error"]["code"] == -32600
            assert "--allow-host" in error["error"]["message"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_client_pointed_at_another_path_is_told_the_path_the_server_serves(tmp_path: Path, mode: str):
    """A client configured with the server's address and no path (http://127.0.0.1:8765, as one writes a server's
    address), or with an older transport's /sse, got Starlette's bare `404 Not Found`, which the SDK's client reports
    as -32601 'Not Found' (a method this server lacks): nothing said the server is there and serves MCP at /mcp. The
    404 is a JSON-RPC error naming the path; a 404 of the MCP path itself (an ended session) is the SDK's own."""
    from mcp.shared.exceptions import MCPError

    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    async with serving(http_app(server, host="127.0.0.1", port=port, token=None), port) as url:
        base = url.removesuffix("/mcp")
        for wrong in (base, f"{base}/sse"):
            with pytest.raises(BaseExceptionGroup) as refused:  # raised out of the client's task groups
                async with Client(wrong, mode=mode):
                    pass
            error: BaseException = refused.value
            while isinstance(error, BaseExceptionGroup):
                error = error.exceptions[0]
            assert isinstance(error, MCPError), repr(error)
            assert f"{base}/mcp" in error.message and "/mcp" in error.message, error.message
        got, body, answer = await post(f"{base}/sse")
        assert got == 404 and answer["Content-Type"] == "application/json"
        error = json.loads(body)
        assert error["jsonrpc"] == "2.0" and error["id"] is None and error["error"]["code"] == -32600
        assert "'/sse'" in error["error"]["message"], error
        async with aiohttp.ClientSession() as http:  # the SDK's own 404 of its path: a session it does not have
            headers = {**HEADERS, "mcp-session-id": "no-such-session", "mcp-protocol-version": "2025-06-18"}
            async with http.post(url, json={"jsonrpc": "2.0", "id": 2, "method": "ping"}, headers=headers) as resp:
                said = await resp.text()
                assert resp.status == 404 and "/mcp" not in said, said


async def test_a_401_names_the_token_file_as_well_as_the_variable(tmp_path: Path):
    # a server whose token came from MAGSAG_MCP_TOKEN_FILE (a container's secret) told its client's user to use
    # "the server's MAGSAG_MCP_TOKEN", a variable that server does not have
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    async with serving(http_app(server, host="127.0.0.1", port=port, token=TOKEN), port) as url:
        for header in (None, {"Authorization": "Bearer t0k3n-for-tests-0123456789abcdeX"}):
            status, body, _ = await post(url, header)
            message = json.loads(body)["error"]["message"]
            assert status == 401 and message.count("MAGSAG_MCP_TOKEN_FILE") == 1 + (header is not None), message


async def test_a_token_sent_to_a_server_that_checks_none_is_served_and_said_once(tmp_path: Path, caplog):
    # A client given a token (Authorization: Bearer ...) by a user who had not set MAGSAG_MCP_TOKEN on the server was
    # served without a word: the user believed the server held to the token, while any program on the machine could
    # spend through it. Served still (loopback, no token known to compare with), with one warning and the fix; the
    # token never in the log.
    port = held_port()
    server = build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    app = http_app(server, host="127.0.0.1", port=port, token=None)
    caplog.set_level("WARNING", logger="magsag_mcp.mcp")
    async with serving(app, port) as url:
        status, _, _ = await post(url)  # no header: nothing to say
        assert status == 200 and not [r for r in caplog.records if "Authorization" in r.getMessage()]
        for _ in range(2):
            status, _, _ = await post(url, {"Authorization": f"Bearer {TOKEN}"})
            assert status == 200
    said = [r.getMessage() for r in caplog.records if "Authorization header" in r.getMessage()]
    assert said == [
        "a client sent an Authorization header, but this server checks no token (MAGSAG_MCP_TOKEN, "
        "MAGSAG_MCP_TOKEN_FILE and MAGSAG_MCP_TOKENS_FILE are unset), so it serves every request from this machine "
        "without one, that client's too; to require it, set MAGSAG_MCP_TOKEN to the token the client sends and "
        "restart the server, or remove the header from the client's configuration (said once)"
    ]
    assert TOKEN not in caplog.text


async def test_the_start_up_line_says_whether_a_bearer_token_is_checked(tmp_path: Path):
    # "(token off)" was all the start said: a user who had given a client a token learnt that the server checks none
    # only from the warning of the first request to send one. The line now says it, and how to require one.
    env = offline_env(tmp_path)
    cmd = [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", "0", "--catalog", str(CATALOG)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _, said = await until_serving(proc)
    finally:
        proc.terminate()
        proc.communicate(timeout=60)  # a hang guard
    assert (
        "(token off: no bearer token is checked, every request from this machine is served, an Authorization "
        "header's too; set MAGSAG_MCP_TOKEN (or MAGSAG_MCP_TOKEN_FILE, MAGSAG_MCP_TOKENS_FILE) to require one)"
    ) in said, said
