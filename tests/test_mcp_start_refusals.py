"""A setting ``magsag-mcp`` refuses at start (exit status 2), started over stdio by an MCP client: a desktop user
never sees a shell, and is told where the client's configuration sets the server's variables and options."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from magsag_mcp.mcp_server import __main__ as server_main

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def unserved(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_main, "configure_logging", lambda level, log_format: None)
    monkeypatch.setattr("magsag_mcp.mcp_server.stdio.serve_stdio", lambda server: pytest.fail("served"))
    monkeypatch.setattr("anyio.run", lambda fn, *args: pytest.fail("served"))


@pytest.mark.usefixtures("unserved")
def test_a_setting_refused_over_stdio_says_where_a_client_sets_it(monkeypatch, capsys):
    # was the setting's problem alone ("set it to e.g. 300.0"): set where, for a server Claude Desktop starts?
    monkeypatch.setenv("MAGSAG_CALL_DEADLINE", "abc")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # a client's pipe
    assert server_main.main(["--catalog", str(CATALOG)]) == 2
    first, second = capsys.readouterr().err.splitlines()
    assert first == "magsag-mcp: MAGSAG_CALL_DEADLINE='abc' is not a number; set it to e.g. 300.0 (from 0.001 to 21600)"
    assert second.startswith("magsag-mcp: started by an MCP client, it takes its settings from its entry under ")
    assert 'claude_desktop_config.json): a variable in its "env" object, an option in its "args"' in second
    assert second.endswith("restart the client")


@pytest.mark.usefixtures("unserved")
def test_a_file_name_refused_over_stdio_says_so_too(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # a client's pipe (pytest -s in a terminal gives its own tty)
    assert server_main.main(["--catalog", "x" * 300]) == 2
    err = capsys.readouterr().err
    assert "holds a name too long" in err and err.endswith(f"{server_main.CLIENT_CONFIG}\n")


@pytest.mark.usefixtures("unserved")
@pytest.mark.parametrize(
    ("argv", "stdin"),
    [
        (["--catalog", str(CATALOG)], _Terminal()),  # run in a shell: its variables are set there
        (["--catalog", str(CATALOG), "--transport", "http"], io.StringIO("")),  # over HTTP a person starts it
    ],
)
def test_a_server_started_by_a_person_is_told_the_setting_alone(monkeypatch, capsys, argv, stdin):
    monkeypatch.setenv("MAGSAG_CALL_DEADLINE", "abc")
    monkeypatch.setattr("sys.stdin", stdin)
    assert server_main.main(argv) == 2
    assert capsys.readouterr().err == (
        "magsag-mcp: MAGSAG_CALL_DEADLINE='abc' is not a number; set it to e.g. 300.0 (from 0.001 to 21600)\n"
    )


@pytest.mark.usefixtures("unserved")
@pytest.mark.parametrize(
    ("value", "said"),
    [
        (" ", "MAGSAG_DB=' ' is blank; set it to a ledger file"),
        ("/srv/ledger.db ", "MAGSAG_DB='/srv/ledger.db ' has spaces around it"),
        (" /srv/ledger.db", "set MAGSAG_DB=/srv/ledger.db without them"),
    ],
)
def test_a_magsag_db_every_call_would_refuse_is_refused_at_start(monkeypatch, capsys, value, said):
    """Over stdio the ledger opens on the first call: the server started, answered ``initialize`` (a client shows it
    as working) and failed every call with the config_error; it is refused as it starts, as the other settings are."""
    monkeypatch.setenv("MAGSAG_DB", value)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # a client's pipe
    assert server_main.main(["--catalog", str(CATALOG)]) == 2
    assert said in capsys.readouterr().err.splitlines()[0]


@pytest.mark.usefixtures("unserved")
def test_a_db_option_stands_in_for_magsag_db(monkeypatch, tmp_path):
    """``--db`` given, MAGSAG_DB is not read: its spaces refuse nothing (the server starts)."""
    monkeypatch.setenv("MAGSAG_DB", "/srv/ledger.db ")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(pytest.fail.Exception, match="served"):
        server_main.main(["--catalog", str(CATALOG), "--db", str(tmp_path / "l.db")])


@pytest.mark.usefixtures("unserved")
def test_an_azure_trust_refused_stops_the_server_as_it_starts(monkeypatch, capsys):
    # it started, and failed every call as the service opened on it (over stdio, at the first call)
    monkeypatch.setenv("MAGSAG_AZURE_SERVED_TRUST", "1d")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert server_main.main(["--catalog", str(CATALOG)]) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert first == (
        "magsag-mcp: MAGSAG_AZURE_SERVED_TRUST='1d' is not a number; set it to e.g. 86400.0 (from 0 to 2592000)"
    )


@pytest.mark.usefixtures("unserved")
def test_every_server_option_variable_refused_is_named_at_one_start(monkeypatch, capsys):
    # doctor lists them all; the server named the first and stopped, the next said only at the next start (the docs
    # say it names every one, joined by "; also"). One given on the command line stands in for its variable.
    monkeypatch.setenv("MAGSAG_MCP_TRANSPORT", "htp")
    monkeypatch.setenv("MAGSAG_MCP_LOG_LEVEL", "verbose")
    monkeypatch.setenv("MAGSAG_MCP_LOG_FORMAT", "logfmt")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(SystemExit) as stopped:
        server_main.main(["--catalog", str(CATALOG), "--log-format", "text"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert (
        "MAGSAG_MCP_LOG_LEVEL='verbose' is not a log level; use one of DEBUG, INFO, WARNING, ERROR, CRITICAL (or pass "
        "--log-level); also MAGSAG_MCP_TRANSPORT='htp' is not a transport; use one of stdio, http (or pass --transport)"
    ) in err
    assert "MAGSAG_MCP_LOG_FORMAT" not in err


@pytest.mark.parametrize(
    "variable, value",
    [
        ("MAGSAG_MCP_TRANSPORT", " HTTP "),
        ("MAGSAG_MCP_TRANSPORT", "sse"),
        ("MAGSAG_MCP_TRANSPORT", "   "),
        ("MAGSAG_MCP_LOG_LEVEL", "debug\t"),
        ("MAGSAG_MCP_LOG_LEVEL", "warn"),
        ("MAGSAG_MCP_LOG_FORMAT", "Json"),
        ("MAGSAG_MCP_LOG_FORMAT", "json lines"),
    ],
)
def test_doctor_refuses_a_server_option_variable_exactly_when_the_server_does(monkeypatch, capsys, variable, value):
    # one reading of the variable for both (server_options._variable_value): doctor must not pass one the server
    # stops on, nor list one it starts on
    from magsag_mcp.mcp_server.server_options import parse_command_line, variables_refused

    monkeypatch.setenv(variable, value)
    try:
        parse_command_line([])
    except SystemExit:
        server_refused = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    else:
        server_refused = []
    doctor = variables_refused({variable: value})
    assert [f"magsag-mcp: error: {p}" for p in doctor] == server_refused


@pytest.mark.usefixtures("unserved")
def test_a_server_option_variable_and_a_setting_read_at_open_are_named_at_one_start(monkeypatch, capsys):
    # a bad MAGSAG_MCP_LOG_LEVEL stopped the start alone (the parser's refusal), and the bad MAGSAG_CALL_DEADLINE
    # beside it was said only at the next start, once the first was fixed; doctor lists both
    monkeypatch.setenv("MAGSAG_MCP_LOG_LEVEL", "verbose")
    monkeypatch.setenv("MAGSAG_CALL_DEADLINE", "abc")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(SystemExit) as stopped:
        server_main.main(["--catalog", str(CATALOG)])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "MAGSAG_MCP_LOG_LEVEL='verbose' is not a log level" in err
    assert "; also MAGSAG_CALL_DEADLINE='abc'" in err


@pytest.mark.usefixtures("unserved")
def test_every_setting_an_http_start_refuses_is_named_at_once(monkeypatch, capsys, tmp_path: Path):
    # MAGSAG_MCP_PORT no port stopped the start before the settings read at open were checked, and those before the
    # host and the token's file: three starts to see three mistakes that doctor lists together
    monkeypatch.setenv("MAGSAG_MCP_PORT", "80a")
    monkeypatch.setenv("MAGSAG_CALL_DEADLINE", "abc")
    monkeypatch.setenv("MAGSAG_MCP_HOST", "http://mybox.lan")
    monkeypatch.setenv("MAGSAG_MCP_TOKEN_FILE", str(tmp_path / "no-such-token"))
    assert server_main.main(["--transport", "http", "--catalog", str(CATALOG)]) == 2
    err = capsys.readouterr().err
    said = err.splitlines()[0]
    assert said.startswith("magsag-mcp: MAGSAG_MCP_PORT='80a' is not a TCP port"), err
    for part in ("; also MAGSAG_CALL_DEADLINE='abc'", "; also MAGSAG_MCP_HOST='http://mybox.lan' is not a host name"):
        assert part in said, said
    assert "MAGSAG_MCP_TOKEN_FILE" in said and "cannot be read" in said, said


@pytest.mark.usefixtures("unserved")
@pytest.mark.parametrize("host", ["localhost:8765", "http://mybox.lan"])
def test_a_host_refused_is_not_weighed_against_the_token(monkeypatch, capsys, host: str):
    # the host refused was also weighed as an address: 'MAGSAG_MCP_HOST='localhost:8765' carries a port; also refusing
    # to listen on localhost:8765: that is reachable beyond this machine and MAGSAG_MCP_TOKEN is not set', a second
    # refusal that is false (localhost is this machine) and fixed by fixing the first; doctor weighs no refused host
    monkeypatch.setenv("MAGSAG_MCP_HOST", host)
    monkeypatch.delenv("MAGSAG_MCP_TOKEN", raising=False)
    assert server_main.main(["--transport", "http", "--catalog", str(CATALOG)]) == 2
    said = capsys.readouterr().err.splitlines()[0]
    assert said.startswith(f"magsag-mcp: MAGSAG_MCP_HOST='{host}'"), said
    assert "reachable beyond this machine" not in said and "; also" not in said, said


@pytest.mark.usefixtures("unserved")
def test_a_port_option_out_of_range_is_named_with_the_other_refusals(monkeypatch, capsys):
    # --port 70000 stopped the start alone, and a bad MAGSAG_CALL_DEADLINE beside it was said at the next start
    monkeypatch.setenv("MAGSAG_CALL_DEADLINE", "abc")
    assert server_main.main(["--transport", "http", "--port", "70000", "--catalog", str(CATALOG)]) == 2
    said = capsys.readouterr().err.splitlines()[0]
    assert said.startswith("magsag-mcp: --port 70000 is not a TCP port (0-65535"), said
    assert "; also MAGSAG_CALL_DEADLINE='abc'" in said, said


@pytest.mark.usefixtures("unserved")
def test_a_catalog_not_found_is_named_with_the_other_refusals(monkeypatch, capsys, tmp_path: Path):
    # a --catalog that is no directory stopped the start alone, the bad MAGSAG_MCP_PORT beside it said at the next
    monkeypatch.setenv("MAGSAG_MCP_PORT", "80a")
    monkeypatch.setenv("MAGSAG_CALL_DEADLINE", "abc")
    assert server_main.main(["--transport", "http", "--catalog", str(tmp_path / "no-catalog")]) == 2
    said = capsys.readouterr().err.splitlines()[0]
    assert said.startswith("magsag-mcp: MAGSAG_MCP_PORT='80a' is not a TCP port"), said
    assert "; also --catalog points at" in said and "; also MAGSAG_CALL_DEADLINE='abc'" in said, said


@pytest.mark.usefixtures("unserved")
@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_a_bad_pinned_agent_is_named_with_the_other_refusals(monkeypatch, capsys, transport: str):
    # a MAGSAG_MCP_AGENT no call can be recorded under (longer than a name may be) stopped the start alone, said as
    # "agent is ... long" of no variable, and the bad MAGSAG_CALL_DEADLINE beside it was said at the next start
    monkeypatch.setenv("MAGSAG_MCP_AGENT", "a" * 300)
    monkeypatch.setenv("MAGSAG_CALL_DEADLINE", "abc")
    monkeypatch.setattr("sys.stdin", _Terminal())
    assert server_main.main(["--transport", transport, "--catalog", str(CATALOG)]) == 2
    said = capsys.readouterr().err.splitlines()[0]
    assert said.startswith("magsag-mcp: MAGSAG_CALL_DEADLINE='abc' is not a number"), said
    assert "; also MAGSAG_MCP_AGENT is 300 characters long, and a name is at most" in said, said
    assert "(MAGSAG_MCP_AGENT: the agent every call is recorded under)" in said, said


@pytest.mark.usefixtures("unserved")
def test_a_bad_agent_option_is_named_as_the_option(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", _Terminal())
    monkeypatch.setenv("MAGSAG_MCP_AGENT", "fine")  # (the option given wins: its value is the one refused)
    assert server_main.main(["--agent", "bad\x07agent", "--catalog", str(CATALOG)]) == 2
    said = capsys.readouterr().err.splitlines()[0]
    assert said.startswith("magsag-mcp: --agent "), said
    assert "(--agent: the agent every call is recorded under)" in said and "MAGSAG_MCP_AGENT" not in said, said


@pytest.mark.usefixtures("unserved")
def test_the_names_allowed_are_checked_with_a_host_refused(monkeypatch, capsys):
    # with the host refused, --allow-host was not checked in that start (its mistake said at the next), and of two
    # names refused the first alone was said
    monkeypatch.setenv("MAGSAG_MCP_TOKEN", "t" * 40)
    argv = ["--transport", "http", "--catalog", str(CATALOG), "--host", "http://mybox.lan"]
    argv += ["--allow-host", "https://mybox.lan/", "--allow-host", "ok.lan", "--allow-host", "mybox.lan:99999"]
    assert server_main.main(argv) == 2
    said = capsys.readouterr().err.splitlines()[0]
    assert said.startswith("magsag-mcp: --host 'http://mybox.lan' is not a host name"), said
    assert "; also --allow-host 'https://mybox.lan/' is not a host name" in said, said
    assert "; also --allow-host 'mybox.lan:99999': 99999 is not a TCP port" in said, said
    assert "ok.lan" not in said, said


@pytest.mark.usefixtures("unserved")
def test_the_names_allowed_from_their_variable_are_each_named(monkeypatch, capsys):
    monkeypatch.setenv("MAGSAG_MCP_TOKEN", "t" * 40)
    monkeypatch.setenv("MAGSAG_MCP_HOST", "0.0.0.0:80")
    monkeypatch.setenv("MAGSAG_MCP_ALLOW_HOSTS", "a.lan/x, b.lan")
    assert server_main.main(["--transport", "http", "--catalog", str(CATALOG)]) == 2
    said = capsys.readouterr().err.splitlines()[0]
    assert said.startswith("magsag-mcp: MAGSAG_MCP_HOST='0.0.0.0:80' carries a port"), said
    assert "; also MAGSAG_MCP_ALLOW_HOSTS='a.lan/x' is not a host name" in said, said


@pytest.mark.usefixtures("unserved")
def test_an_option_variable_refused_is_named_with_the_port_catalog_agent_and_host(monkeypatch, capsys, tmp_path: Path):
    # a bad MAGSAG_MCP_LOG_LEVEL stopped the start in the parser, with the settings read at open beside it: the bad
    # port, catalog, agent and host were each said at a next start
    monkeypatch.setenv("MAGSAG_MCP_LOG_LEVEL", "verbose")
    monkeypatch.setenv("MAGSAG_MCP_PORT", "80a")
    monkeypatch.setenv("MAGSAG_MCP_HOST", "http://mybox.lan")
    monkeypatch.setenv("MAGSAG_MCP_AGENT", "a" * 300)
    monkeypatch.setenv("MAGSAG_CALL_DEADLINE", "abc")
    monkeypatch.setattr("sys.stdin", _Terminal())
    with pytest.raises(SystemExit) as stopped:
        server_main.main(["--transport", "http", "--catalog", str(tmp_path / "no-catalog")])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "MAGSAG_MCP_LOG_LEVEL='verbose' is not a log level" in err, err
    for part in (
        "; also MAGSAG_MCP_PORT='80a' is not a TCP port",
        "; also --catalog points at",
        "; also MAGSAG_CALL_DEADLINE='abc'",
        "; also MAGSAG_MCP_AGENT is 300 characters long",
        "; also MAGSAG_MCP_HOST='http://mybox.lan' is not a host name",
    ):
        assert part in err, err


@pytest.mark.usefixtures("unserved")
@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_a_provider_every_call_would_refuse_is_named_at_start_with_the_others(monkeypatch, capsys, transport: str):
    # the server started, answered `initialize` and failed every call with the config_error (doctor listed it); a
    # bad MAGSAG_CALL_DEADLINE beside it was the start's one refusal
    monkeypatch.setenv("MAGSAG_PROVIDER", "opnai")
    monkeypatch.setenv("MAGSAG_CALL_DEADLINE", "abc")
    monkeypatch.setattr("sys.stdin", _Terminal())
    assert server_main.main(["--transport", transport, "--catalog", str(CATALOG)]) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith("magsag-mcp: MAGSAG_CALL_DEADLINE='abc' is not a number"), first
    said = "MAGSAG_PROVIDER='opnai': unknown provider 'opnai' (did you mean 'openai'?)"
    assert f"; also {said}" in first, first


_SOME_CALLS_REFUSE = [
    ("MAGSAG_MODEL", "  ", "MAGSAG_MODEL='  ' is blank; set it to a model"),
    ("MAGSAG_ALLOWED_BASE_URLS", "notaurl", "MAGSAG_ALLOWED_BASE_URLS: entry 1 ('notaurl') is not provider=URL"),
    ("MAGSAG_BILLED_COST_HOSTS", "https://gw.corp/v1", "MAGSAG_BILLED_COST_HOSTS: entry 1 ('https://gw.corp/v1')"),
]


@pytest.mark.usefixtures("unserved")
@pytest.mark.parametrize(("variable", "value", "said"), _SOME_CALLS_REFUSE)
def test_a_setting_only_some_calls_read_is_said_at_start_and_the_server_serves(
    monkeypatch, caplog, variable: str, value: str, said: str
):
    # a blank MAGSAG_MODEL refuses no call naming its own model (docs/configuration.md), a bad allow-list only a call
    # naming a base URL, a bad MAGSAG_BILLED_COST_HOSTS none (a gateway's costs stay unknown), and no `magsag`
    # command stops on them: refused at start, a client whose calls name their models had no server at all
    served = []
    monkeypatch.setattr("anyio.run", lambda fn, *args: served.append(fn))
    monkeypatch.setenv(variable, value)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # a client's pipe
    with caplog.at_level("WARNING"):
        assert server_main.main(["--catalog", str(CATALOG)]) == 0
    assert len(served) == 1
    assert any(record.getMessage().startswith(said) for record in caplog.records), caplog.text


@pytest.mark.usefixtures("unserved")
@pytest.mark.parametrize(("variable", "value", "said"), _SOME_CALLS_REFUSE)
def test_a_setting_only_some_calls_read_is_no_refusal_beside_one(monkeypatch, capsys, variable, value, said):
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("MAGSAG_CALL_DEADLINE", "abc")
    monkeypatch.setattr("sys.stdin", _Terminal())
    assert server_main.main(["--catalog", str(CATALOG)]) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert first == "magsag-mcp: MAGSAG_CALL_DEADLINE='abc' is not a number; set it to e.g. 300.0 (from 0.001 to 21600)"
