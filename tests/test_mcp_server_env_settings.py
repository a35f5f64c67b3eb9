"""`magsag-mcp`'s HTTP options set in the environment: MAGSAG_MCP_TRANSPORT, MAGSAG_MCP_HOST, MAGSAG_MCP_PORT and
MAGSAG_MCP_ALLOW_HOSTS (comma-separated). A container sets its settings there, where the token and the log format
already were; the transport, the address, the port and the names clients reach it by had to be written into its
command. The option given wins over its variable; a value refused is named by its variable, with the fix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from argparse import Namespace
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from magsag_mcp.errors import ConfigError
from magsag_mcp.mcp_server.__main__ import build_parser
from magsag_mcp.mcp_server.server_settings import listening_options
from magsag_mcp.settings import READ_VARIABLES
from tests.mcp_http_helpers import HEADERS, INIT
from tests.shutdown_helpers import until_serving

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


def offline_env(tmp: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_", "GEMINI_"))}
    env.update(MAGSAG_PROVIDER="fake", MAGSAG_DB=str(tmp / "ledger.db"), MAGSAG_CATALOG=str(CATALOG), **settings)
    return env


def run_refused(env: dict[str, str], *argv: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "magsag_mcp", *argv], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr


@pytest.mark.anyio
async def test_a_server_configured_by_its_environment_alone_serves_as_its_options_would(tmp_path: Path):
    env = offline_env(
        tmp_path,
        MAGSAG_MCP_TRANSPORT="http",
        MAGSAG_MCP_HOST=" 127.0.0.1 ",
        MAGSAG_MCP_PORT="0",
        MAGSAG_MCP_ALLOW_HOSTS="mybox.lan, other.lan:9443,",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "magsag_mcp"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        url, _ = await until_serving(proc)  # over http, on a port the system chose
        port = urlsplit(url).port
        assert urlsplit(url).hostname == "127.0.0.1" and port
        async with aiohttp.ClientSession() as http:
            for host, status in ((f"mybox.lan:{port}", 200), ("other.lan:9443", 200), ("evil.example", 421)):
                async with http.post(url, json=INIT, headers={**HEADERS, "Host": host}) as resp:
                    assert resp.status == status, (host, await resp.text())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)


def test_an_option_given_wins_over_its_variable():
    env = {"MAGSAG_MCP_HOST": "0.0.0.0", "MAGSAG_MCP_PORT": "not a port", "MAGSAG_MCP_ALLOW_HOSTS": "a.lan,b.lan"}
    args = Namespace(host="127.0.0.1", port=9000, allow_host=["c.lan"])
    assert listening_options(args, env) == {}
    assert (args.host, args.port, args.allow_host) == ("127.0.0.1", 9000, ["c.lan"])
    args = Namespace(host=None, port=None, allow_host=[])
    taken = listening_options(args, {"MAGSAG_MCP_HOST": "0.0.0.0", "MAGSAG_MCP_ALLOW_HOSTS": " a.lan ,, b.lan:443 "})
    assert taken == {"--host": "MAGSAG_MCP_HOST", "--allow-host": "MAGSAG_MCP_ALLOW_HOSTS"}
    assert (args.host, args.port, args.allow_host) == ("0.0.0.0", 8765, ["a.lan", "b.lan:443"])
    args = Namespace(host=None, port=None, allow_host=[])
    assert listening_options(args, {"MAGSAG_MCP_HOST": "", "MAGSAG_MCP_PORT": " "}) == {}  # empty is unset
    assert (args.host, args.port, args.allow_host) == ("127.0.0.1", 8765, [])


@pytest.mark.parametrize("value", ["80a", "70000", "-1", "8765.0"])
def test_a_port_variable_that_is_no_port_is_refused_naming_it(value: str):
    with pytest.raises(ConfigError) as refused:
        listening_options(Namespace(host=None, port=None, allow_host=[]), {"MAGSAG_MCP_PORT": value})
    said = refused.value.message
    assert said.startswith(f"MAGSAG_MCP_PORT={value!r} is not a TCP port: set it to a number 0 to 65535") and (
        "or pass --port" in said
    )


@pytest.mark.parametrize(
    "variable, value, message",
    [
        (
            "MAGSAG_MCP_HOST",
            "127.0.0.1:9000",
            "MAGSAG_MCP_HOST='127.0.0.1:9000' carries a port; give the port with MAGSAG_MCP_PORT (or --port)",
        ),
        ("MAGSAG_MCP_HOST", "https://mybox.lan", "MAGSAG_MCP_HOST='https://mybox.lan' is not a host name"),
        ("MAGSAG_MCP_ALLOW_HOSTS", "ok.lan,mybox.lan/mcp", "MAGSAG_MCP_ALLOW_HOSTS='mybox.lan/mcp' is not a host name"),
        ("MAGSAG_MCP_PORT", "eighty", "MAGSAG_MCP_PORT='eighty' is not a TCP port"),
        (
            "MAGSAG_MCP_TRANSPORT",
            "htp",
            "MAGSAG_MCP_TRANSPORT='htp' is not a transport; use one of stdio, http (or pass --transport)",
        ),
    ],
)
def test_a_bad_variable_is_refused_at_start_naming_it(tmp_path: Path, variable: str, value: str, message: str):
    # (the transport's own variable read, not overridden by the option)
    argv = () if variable == "MAGSAG_MCP_TRANSPORT" else ("--transport", "http")
    said = run_refused(offline_env(tmp_path, **{variable: value}), *argv)
    assert message in said


def test_a_port_in_use_set_by_its_variable_says_so(tmp_path: Path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        said = run_refused(offline_env(tmp_path, MAGSAG_MCP_PORT=str(port)), "--transport", "http")
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in said
    assert "(--port was set by MAGSAG_MCP_PORT)" in said


def test_the_listening_variables_are_not_read_over_stdio(monkeypatch):
    # a shell's or an image's variables for the HTTP server refuse no stdio start, and are not warned of
    monkeypatch.setenv("MAGSAG_MCP_PORT", "not a port")
    args = build_parser().parse_args([])
    assert args.transport == "stdio"
    listening_options(args, {})
    assert (args.host, args.port) == ("127.0.0.1", 8765)


def test_the_transport_variable_sets_the_default_and_the_option_wins(monkeypatch):
    monkeypatch.setenv("MAGSAG_MCP_TRANSPORT", " HTTP ")
    assert build_parser().parse_args([]).transport == "http"
    assert build_parser().parse_args(["--transport", "stdio"]).transport == "stdio"


def test_doctor_knows_the_variables():
    new = {"MAGSAG_MCP_TRANSPORT", "MAGSAG_MCP_HOST", "MAGSAG_MCP_PORT", "MAGSAG_MCP_ALLOW_HOSTS"}
    assert new <= READ_VARIABLES  # not taken for misspellings
