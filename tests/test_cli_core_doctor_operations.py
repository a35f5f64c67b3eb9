"""`magsag doctor` on the settings an operator runs the server with: the ledger's sync mode, the circuit breaker and
/metrics (on or off, where it is served, whether a scrape token is set and in which variable, never the token). Before
it doctor said none of them: an operator learnt /metrics's address and who could read it from the server's start-up
line alone, and the breaker's and the sync mode's settings from nowhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magsag_mcp.cli import main

TOKEN = "Tq4xM9bZ2wKr7nPv5sJhA3"
SCRAPE_TOKEN = "Mx3pV8kR2nW6tB9qL4zYc7"
SERVER_SETTINGS = (
    "MAGSAG_MCP_HOST",
    "MAGSAG_MCP_PORT",
    "MAGSAG_MCP_TOKEN",
    "MAGSAG_MCP_TOKEN_FILE",
    "MAGSAG_MCP_TOKENS_FILE",
    "MAGSAG_MCP_METRICS",
    "MAGSAG_MCP_METRICS_TOKEN",
    "MAGSAG_MCP_METRICS_TOKEN_FILE",
    "MAGSAG_MCP_METRICS_AGENTS",
    "MAGSAG_LEDGER_SYNC",
    "MAGSAG_BREAKER_FAILURES",
    "MAGSAG_BREAKER_COOLDOWN",
)


@pytest.fixture
def server_env(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in SERVER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return cli_env


def doctor(capsys, *args: str) -> tuple[int, str]:
    code = main(["doctor", *args])
    return code, capsys.readouterr().out


def test_doctor_says_the_defaults(server_env, capsys):
    code, out = doctor(capsys)
    assert code == 0, out
    assert "sync    : full (MAGSAG_LEDGER_SYNC): each call's record is on disk before the call returns" in out
    # (calls, not tries: a call whose three tries met a 500 is one of them, as docs/configuration.md says)
    assert "breaker : a target is left alone after 3 calls in a row that it failed with an error saying its " in out
    assert "(MAGSAG_BREAKER_FAILURES=3, MAGSAG_BREAKER_COOLDOWN=30)" in out
    assert (
        "metrics : at http://127.0.0.1:8765/metrics (served by magsag-mcp --transport http), no token, to this "
        "machine's loopback names" in out
    )
    code, out = doctor(capsys, "--json")
    report = json.loads(out)
    assert report["ledger_sync"]["mode"] == "full"
    assert {k: report["breaker"][k] for k in ("on", "failures", "cooldown_seconds")} == {
        "on": True,
        "failures": 3,
        "cooldown_seconds": 30.0,
    }
    assert report["metrics"]["on"] is True and report["metrics"]["scrape_token_set_in"] is None
    assert report["metrics"]["url"] == "http://127.0.0.1:8765/metrics" and report["metrics"]["agent_labels"] == 100


def test_doctor_says_the_settings_as_set_and_never_the_scrape_token(server_env, capsys, monkeypatch, tmp_path):
    secret = tmp_path / "metrics_token"
    secret.write_text(SCRAPE_TOKEN + "\n")
    monkeypatch.setenv("MAGSAG_MCP_METRICS_TOKEN_FILE", str(secret))
    monkeypatch.setenv("MAGSAG_MCP_TOKEN", TOKEN)
    monkeypatch.setenv("MAGSAG_MCP_HOST", "0.0.0.0")
    monkeypatch.setenv("MAGSAG_MCP_PORT", "9100")
    monkeypatch.setenv("MAGSAG_MCP_METRICS_AGENTS", "7")
    monkeypatch.setenv("MAGSAG_LEDGER_SYNC", "normal")
    monkeypatch.setenv("MAGSAG_BREAKER_FAILURES", "5")
    monkeypatch.setenv("MAGSAG_BREAKER_COOLDOWN", "12.5")
    code, out = doctor(capsys)
    assert code == 0, out
    assert "sync    : normal (MAGSAG_LEDGER_SYNC): each call's record survives the process being killed, not a " in out
    assert "after 5 calls in a row that it failed with an error saying its server is unwell, 12.5s at first" in out
    assert "metrics : at http://0.0.0.0:9100/metrics (served by magsag-mcp --transport http), token: " in out
    assert "token: MAGSAG_MCP_METRICS_TOKEN_FILE" in out
    code, text = doctor(capsys, "--json")
    report = json.loads(text)
    assert report["metrics"]["scrape_token_set_in"] == "MAGSAG_MCP_METRICS_TOKEN_FILE"
    assert report["metrics"]["agent_labels"] == 7 and report["breaker"]["failures"] == 5
    for said in (out, text):  # not the token, nor any part of it a reader could piece it from
        assert all(SCRAPE_TOKEN[i : i + 6] not in said for i in range(len(SCRAPE_TOKEN) - 5))
    monkeypatch.delenv("MAGSAG_MCP_METRICS_TOKEN_FILE")
    monkeypatch.setenv("MAGSAG_MCP_METRICS_TOKEN", SCRAPE_TOKEN)
    code, out = doctor(capsys)
    assert "token: MAGSAG_MCP_METRICS_TOKEN" in out and SCRAPE_TOKEN[:6] not in out
    monkeypatch.setenv("MAGSAG_BREAKER_FAILURES", "0")
    monkeypatch.setenv("MAGSAG_MCP_METRICS", "off")
    monkeypatch.delenv("MAGSAG_MCP_METRICS_TOKEN")
    code, out = doctor(capsys)
    assert "breaker : off (MAGSAG_BREAKER_FAILURES=0)" in out
    assert "metrics : off (MAGSAG_MCP_METRICS=off)" in out


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        (
            {"MAGSAG_MCP_METRICS_TOKEN_FILE": "/no/such/folder/metrics_token"},
            "cannot be read (No such file or directory): name the file that holds the token",
        ),
        (
            {"MAGSAG_MCP_METRICS_TOKEN": SCRAPE_TOKEN, "MAGSAG_MCP_METRICS_TOKEN_FILE": "/run/secrets/metrics"},
            "both MAGSAG_MCP_METRICS_TOKEN and MAGSAG_MCP_METRICS_TOKEN_FILE are set",
        ),
        (
            {"MAGSAG_MCP_HOST": "0.0.0.0", "MAGSAG_MCP_TOKEN": TOKEN, "MAGSAG_MCP_METRICS_TOKEN": "Qx7kPz"},
            "MAGSAG_MCP_METRICS_TOKEN is 6 characters; to listen on 0.0.0.0 it must be at least 16",
        ),
        (
            {"MAGSAG_MCP_TOKEN": TOKEN, "MAGSAG_MCP_METRICS_TOKEN": TOKEN},
            "MAGSAG_MCP_METRICS_TOKEN is the same as MAGSAG_MCP_TOKEN",
        ),
        ({"MAGSAG_MCP_METRICS": "maybe"}, "MAGSAG_MCP_METRICS='maybe' is not a metrics setting"),
    ],
)
def test_doctor_lists_a_metrics_setting_the_server_would_not_start_on(server_env, capsys, monkeypatch, settings, said):
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    code, out = doctor(capsys)
    assert code == 1
    [problem] = [line for line in out.splitlines() if line.startswith("problem: ")]
    assert said in problem
    assert "Qx7kPz" not in out and TOKEN not in out and SCRAPE_TOKEN not in out


def test_doctor_reports_a_refused_breaker_setting_at_its_default(server_env, capsys, monkeypatch):
    monkeypatch.setenv("MAGSAG_BREAKER_FAILURES", "many")
    code, out = doctor(capsys)
    assert code == 1 and "problem: MAGSAG_BREAKER_FAILURES" in out
    assert "(MAGSAG_BREAKER_FAILURES=3, MAGSAG_BREAKER_COOLDOWN=30)" in out


@pytest.mark.parametrize("metrics", ["on", "off"])
def test_doctor_lists_what_the_server_would_not_start_on_whatever_its_metrics(server_env, capsys, monkeypatch, metrics):
    # read with the scrape token's settings: with /metrics off they were not read at all, and a problem the server
    # would stop on was listed or not as /metrics was served
    monkeypatch.setenv("MAGSAG_MCP_METRICS", metrics)
    monkeypatch.setenv("MAGSAG_MCP_TOKEN_FILE", "/no/such/folder/mcp_token")
    monkeypatch.setenv("MAGSAG_MCP_PORT", "80000")
    code, out = doctor(capsys)
    problems = [line for line in out.splitlines() if line.startswith("problem: ")]
    assert code == 1 and len(problems) == 2, out
    assert "MAGSAG_MCP_PORT='80000' is not a TCP port" in problems[0]
    assert "MAGSAG_MCP_TOKEN_FILE names, in no folder that exists" in problems[1] and "cannot be read" in problems[1]


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"MAGSAG_MCP_HOST": "http://mybox.lan/"}, "MAGSAG_MCP_HOST='http://mybox.lan/' is not a host name"),
        ({"MAGSAG_MCP_HOST": "0.0.0.0:80"}, "MAGSAG_MCP_HOST='0.0.0.0:80' carries a port"),
        ({"MAGSAG_MCP_ALLOW_HOSTS": "mybox.lan,https://x/"}, "MAGSAG_MCP_ALLOW_HOSTS='https://x/' is not a host name"),
    ],
)
def test_doctor_lists_a_host_the_server_would_not_start_on_and_says_no_address_for_metrics(
    server_env, capsys, monkeypatch, settings, said
):
    # the host and the names it admits are checked as the server checks them before it binds (security_settings):
    # before, doctor said /metrics was served "at http://[http://mybox.lan/]:8765/metrics" with no problem, and the
    # server refused to start on that host
    monkeypatch.setenv("MAGSAG_MCP_TOKEN", TOKEN)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    code, out = doctor(capsys)
    problems = [line for line in out.splitlines() if line.startswith("problem: ")]
    assert code == 1 and len(problems) == 1, out
    assert said in problems[0]
    (metrics,) = [line for line in out.splitlines() if line.startswith("metrics : ")]
    if "MAGSAG_MCP_HOST" in settings:  # no address the server would serve at
        assert metrics == "metrics : token: the server's", metrics
    code, out = doctor(capsys, "--json")
    report = json.loads(out)
    assert any(said in p for p in report["problems"])
    if "MAGSAG_MCP_HOST" in settings:
        assert report["metrics"]["url"] is None


def test_doctor_names_the_variable_of_a_refused_host_beside_a_refused_port(server_env, capsys, monkeypatch):
    # the port refused first, the host is still read from MAGSAG_MCP_HOST and its refusal names that variable (not a
    # --host that doctor takes none of)
    monkeypatch.setenv("MAGSAG_MCP_PORT", "80000")
    monkeypatch.setenv("MAGSAG_MCP_HOST", "http://mybox.lan/")
    code, out = doctor(capsys)
    problems = [line for line in out.splitlines() if line.startswith("problem: ")]
    assert code == 1 and len(problems) == 2, out
    assert "MAGSAG_MCP_PORT='80000' is not a TCP port" in problems[0]
    assert "MAGSAG_MCP_HOST='http://mybox.lan/' is not a host name" in problems[1]
