"""`magsag doctor` on who may reach the HTTP transport: what `magsag-mcp --transport http` refuses to start on for its
tokens (none beyond loopback, one too short for the host, a token per client beside a shared token or one agent, the
scrape token the same as a client's) is a problem of doctor's, in the server's words, never showing a token. Before,
doctor compared the scrape token with MAGSAG_MCP_TOKEN alone and the MCP token with no host: it said all was well of
settings the server would not start on. Both now ask one function (mcp_server/gate_settings.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from magsag_mcp.cli import main
from tests.test_cli_core_doctor_operations import SERVER_SETTINGS

TOKEN = "Tq4xM9bZ2wKr7nPv5sJhA3"
CLIENT_TOKEN = "Hc8yN3fQ6vLm2xRt9kWp4D"
SHORT = "Qx7kPzR2"


@pytest.fixture
def server_env(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in (*SERVER_SETTINGS, "MAGSAG_MCP_AGENT"):
        monkeypatch.delenv(name, raising=False)
    return cli_env


def _tokens_file(folder: Path, *lines: str) -> str:
    path = folder / "clients"
    path.write_text("".join(f"{line}\n" for line in lines))
    return str(path)


def _cases(folder: Path) -> dict[str, tuple[dict[str, str], str]]:
    clients = _tokens_file(folder, f"alice {CLIENT_TOKEN}")
    return {
        "no token beyond loopback": (
            {"MAGSAG_MCP_HOST": "0.0.0.0"},
            "refusing to listen on 0.0.0.0: that is reachable beyond this machine and MAGSAG_MCP_TOKEN is not set",
        ),
        "a short token beyond loopback": (
            {"MAGSAG_MCP_HOST": "0.0.0.0", "MAGSAG_MCP_TOKEN": SHORT},
            "MAGSAG_MCP_TOKEN is 8 characters; to listen on 0.0.0.0 it must be at least 16",
        ),
        "a client's short token beyond loopback": (
            {"MAGSAG_MCP_HOST": "0.0.0.0", "MAGSAG_MCP_TOKENS_FILE": _tokens_file(folder / "..", f"bob {SHORT}")},
            "line 1 of the file MAGSAG_MCP_TOKENS_FILE names has a token of 8 characters; to listen on 0.0.0.0 each "
            "must be at least 16",
        ),
        "the scrape token a client's": (
            {"MAGSAG_MCP_TOKENS_FILE": clients, "MAGSAG_MCP_METRICS_TOKEN": CLIENT_TOKEN},
            "MAGSAG_MCP_METRICS_TOKEN is the same as a client's token in MAGSAG_MCP_TOKENS_FILE",
        ),
        "a token per client beside one agent": (
            {"MAGSAG_MCP_TOKENS_FILE": clients, "MAGSAG_MCP_AGENT": "ops"},
            "a token per client (MAGSAG_MCP_TOKENS_FILE) and one agent for every call (--agent 'ops', or "
            "MAGSAG_MCP_AGENT) were both given",
        ),
        "a token per client beside a shared token": (
            {"MAGSAG_MCP_TOKENS_FILE": clients, "MAGSAG_MCP_TOKEN": TOKEN},
            "both MAGSAG_MCP_TOKENS_FILE and MAGSAG_MCP_TOKEN are set",
        ),
        "a token with a space around it": (
            {"MAGSAG_MCP_TOKEN": f"{TOKEN} "},
            "MAGSAG_MCP_TOKEN is blank or has spaces or line breaks around it",
        ),
        "two at once": (  # (the server names both, as doctor lists both)
            {"MAGSAG_MCP_HOST": "0.0.0.0", "MAGSAG_MCP_METRICS_TOKEN_FILE": str(folder / "no-such-file")},
            "refusing to listen on 0.0.0.0",
        ),
    }


CASES = [
    "no token beyond loopback",
    "a short token beyond loopback",
    "a client's short token beyond loopback",
    "the scrape token a client's",
    "a token per client beside one agent",
    "a token per client beside a shared token",
    "a token with a space around it",
]


def _problems(capsys, *args: str) -> tuple[int, list[str], str]:
    code = main(["doctor", *args])
    out = capsys.readouterr().out
    return code, [line.removeprefix("problem: ") for line in out.splitlines() if line.startswith("problem: ")], out


@pytest.mark.parametrize("case", CASES)
def test_doctor_lists_a_token_setting_the_server_would_not_start_on(server_env, capsys, monkeypatch, case):
    (server_env / "sub").mkdir()
    settings, said = _cases(server_env / "sub")[case]
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    code, problems, out = _problems(capsys)
    assert code == 1 and len(problems) == 1, out
    assert said in problems[0], problems[0]
    code, _, text = _problems(capsys, "--json")
    assert any(said in problem for problem in json.loads(text)["problems"])
    for shown in (out, text):  # no token, nor a piece of one
        for token in (TOKEN, CLIENT_TOKEN, SHORT):
            assert all(token[i : i + 6] not in shown for i in range(len(token) - 5)), shown


def test_doctor_says_nothing_of_tokens_the_server_takes(server_env, capsys, monkeypatch):
    (server_env / "sub").mkdir()
    clients = _tokens_file(server_env / "sub", f"alice {CLIENT_TOKEN}")
    for settings in (
        {"MAGSAG_MCP_HOST": "0.0.0.0", "MAGSAG_MCP_TOKEN": TOKEN},
        {"MAGSAG_MCP_HOST": "0.0.0.0", "MAGSAG_MCP_TOKENS_FILE": clients, "MAGSAG_MCP_METRICS_TOKEN": TOKEN},
        {"MAGSAG_MCP_TOKEN": SHORT},  # (on loopback a short token is taken)
    ):
        for name in SERVER_SETTINGS:
            monkeypatch.delenv(name, raising=False)
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        code, problems, out = _problems(capsys)
        assert code == 0 and problems == [], out


@pytest.mark.parametrize("case", ["no token beyond loopback", "the scrape token a client's", "two at once"])
def test_doctors_problems_are_the_servers_refusal_word_for_word(server_env, capsys, monkeypatch, case):
    (server_env / "sub").mkdir()
    settings, _ = _cases(server_env / "sub")[case]
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    _, problems, _ = _problems(capsys)
    assert len(problems) == (2 if case == "two at once" else 1), problems
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "GEMINI_"))}
    env["MAGSAG_PROVIDER"] = "fake"
    started = subprocess.run(
        [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 2, started.stderr
    refused = [line for line in started.stderr.splitlines() if line.startswith("magsag-mcp: ")]
    assert refused == [f"magsag-mcp: {'; also '.join(problems)}"], started.stderr
