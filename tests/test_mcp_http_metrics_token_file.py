"""MAGSAG_MCP_METRICS_TOKEN_FILE: the scrape token read from a file, as MAGSAG_MCP_TOKEN_FILE is for the MCP token (a
Docker or Kubernetes secret, which the process's environment and `docker inspect` do not show). Before it the scrape
token could only be set in the environment. Read by the MCP token file's own reader: the same last line break left
out, the same byte order marks, the same refusals, and the scrape token's checks (printable, long enough beyond
loopback, not one of the MCP tokens) said of the file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from magsag_mcp.errors import ConfigError
from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server.http import http_app
from magsag_mcp.mcp_server.metrics_endpoint import MetricsSetting, metrics_said, metrics_setting
from magsag_mcp.mcp_server.token_reload import TokenFile
from tests.shutdown_helpers import until_serving
from tests.test_mcp_http import offline_env
from tests.test_mcp_http_metrics import bearer, scrape

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
TOKEN = "Tq4xM9bZ2wKr7nPv5sJhA3"
SCRAPE_TOKEN = "Mx3pV8kR2nW6tB9qL4zYc7"
FROM_THE_FILE = "the token in the file MAGSAG_MCP_METRICS_TOKEN_FILE names"


def secret_file(tmp: Path, content: str | bytes) -> Path:
    path = tmp / "metrics_token"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_the_setting_reads_the_token_from_the_file_without_its_last_line_break(tmp_path: Path):
    secret = secret_file(tmp_path, SCRAPE_TOKEN + "\n")  # as `echo` writes it
    got = metrics_setting({"MAGSAG_MCP_METRICS_TOKEN_FILE": str(secret)})
    said_file = TokenFile("MAGSAG_MCP_METRICS_TOKEN_FILE", str(secret))
    assert got == MetricsSetting(True, SCRAPE_TOKEN, 100, FROM_THE_FILE, said_file) and got.token_from_file
    assert metrics_said(got, True, False) == "token: MAGSAG_MCP_METRICS_TOKEN_FILE"
    # the same reader as MAGSAG_MCP_TOKEN_FILE's: UTF-16 with its mark, as Windows PowerShell 5.1's `>` writes it
    secret.write_bytes((SCRAPE_TOKEN + "\r\n").encode("utf-16"))
    assert metrics_setting({"MAGSAG_MCP_METRICS_TOKEN_FILE": str(secret)}).token == SCRAPE_TOKEN
    # a blank file variable is unset, as every variable set empty
    assert metrics_setting({"MAGSAG_MCP_METRICS_TOKEN_FILE": " "}) == MetricsSetting()


@pytest.mark.parametrize(
    ("content", "extra", "said"),
    [
        (
            SCRAPE_TOKEN,
            {"MAGSAG_MCP_METRICS_TOKEN": SCRAPE_TOKEN},
            "both MAGSAG_MCP_METRICS_TOKEN and MAGSAG_MCP_METRICS_TOKEN_FILE are set; set one of them",
        ),
        (
            SCRAPE_TOKEN,
            {"MAGSAG_MCP_METRICS": "off"},
            "MAGSAG_MCP_METRICS=off and MAGSAG_MCP_METRICS_TOKEN_FILE are both",
        ),
        ("", {}, "the file MAGSAG_MCP_METRICS_TOKEN_FILE names ("),
        (
            "Mx3pV8kR2nW6tB9qL4zYc7é\n",
            {},
            "the file MAGSAG_MCP_METRICS_TOKEN_FILE names has characters other than ASCII",
        ),
        (None, {}, "cannot be read (No such file or directory): name the file that holds the token"),
    ],
)
def test_a_file_that_cannot_give_the_token_is_refused_naming_it(tmp_path: Path, content, extra, said: str):
    secret = tmp_path / "metrics_token" if content is None else secret_file(tmp_path, content)
    with pytest.raises(ConfigError) as refused:
        metrics_setting({"MAGSAG_MCP_METRICS_TOKEN_FILE": str(secret), **extra})
    assert said in refused.value.message
    assert SCRAPE_TOKEN not in refused.value.message


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("Qx7kP\n", f"{FROM_THE_FILE} is 5 characters; to listen on 0.0.0.0 it must be at least 16"),
        (f" {SCRAPE_TOKEN}\n", f"{FROM_THE_FILE} is blank or has spaces or line breaks around it"),
        (f"{SCRAPE_TOKEN}\t\n", f"{FROM_THE_FILE} is blank or has spaces or line breaks around it"),
        ("Mx3pV8kR2n\x07W6tB9qL4zYc7\n", f"{FROM_THE_FILE} has characters other than printable ASCII"),
        (f"{TOKEN}\n", f"{FROM_THE_FILE} is the same as MAGSAG_MCP_TOKEN: give the scraper a token of its own"),
    ],
)
def test_the_token_from_the_file_is_held_to_the_scrape_tokens_checks(tmp_path: Path, content: str, said: str):
    metrics = metrics_setting({"MAGSAG_MCP_METRICS_TOKEN_FILE": str(secret_file(tmp_path, content))})
    server = build_server(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
    with pytest.raises(ConfigError) as refused:
        http_app(server, host="0.0.0.0", port=8765, token=TOKEN, metrics=metrics)
    assert said in refused.value.message
    assert content.strip() not in refused.value.message


async def test_the_command_takes_the_scrape_token_from_the_file_named(tmp_path: Path):
    env = offline_env(tmp_path)
    env.update(MAGSAG_MCP_TOKEN=TOKEN, MAGSAG_MCP_METRICS_TOKEN_FILE=str(secret_file(tmp_path, SCRAPE_TOKEN + "\n")))
    argv = [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", "0", "--catalog", str(CATALOG)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url, said = await until_serving(proc)
        assert "/metrics (token: MAGSAG_MCP_METRICS_TOKEN_FILE)" in said, said
        assert (await scrape(url, bearer(TOKEN)))[0] == 401  # the MCP token no longer reads it
        status, text, _ = await scrape(url, bearer(SCRAPE_TOKEN))
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=60)
    assert status == 200 and "magsag_calls_in_flight" in text
    assert SCRAPE_TOKEN not in said + stderr.decode()


def test_the_command_refuses_a_short_token_in_the_file_at_start(tmp_path: Path):
    env = offline_env(tmp_path)
    env.update(MAGSAG_MCP_TOKEN=TOKEN, MAGSAG_MCP_METRICS_TOKEN_FILE=str(secret_file(tmp_path, "Qx7kP\n")))
    argv = [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--host", "0.0.0.0", "--port", "0"]
    done = subprocess.run([*argv, "--catalog", str(CATALOG)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"{FROM_THE_FILE} is 5 characters" in done.stderr and "Traceback" not in done.stderr
    assert "Qx7kP" not in done.stderr
