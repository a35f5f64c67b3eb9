"""`magsag-mcp`'s command line: its options and MAGSAG_* settings, refused or warned of before serving."""

from __future__ import annotations

import pytest


def test_mcp_server_warns_that_port_and_host_mean_nothing_on_stdio(monkeypatch, caplog):
    from magsag_mcp.mcp_server import __main__ as server_main

    served = []
    monkeypatch.setattr(server_main, "configure_logging", lambda level: None)
    monkeypatch.setattr("magsag_mcp.mcp_server.stdio.serve_stdio", lambda server: served.append(server))
    monkeypatch.setattr("magsag_mcp.mcp_server.server.build_server", lambda **kw: "server")
    monkeypatch.setattr("anyio.run", lambda fn, *args: fn(*args))
    with caplog.at_level("WARNING", logger="magsag_mcp.mcp"):
        assert server_main.main(["--transport", "stdio", "--port", "8000"]) == 0
    assert served == ["server"]
    assert "--port applies to --transport http only; ignored with stdio" in caplog.text


@pytest.mark.parametrize(("value", "level"), [("", "INFO"), (" debug ", "DEBUG")])
def test_mcp_server_log_level_variable_empty_is_unset_and_spaces_are_no_part_of_it(monkeypatch, value, level):
    # MAGSAG_MCP_LOG_LEVEL="" (unset in an env file) stopped the server, even `magsag-mcp --version`
    from magsag_mcp.mcp_server.__main__ import build_parser

    monkeypatch.setenv("MAGSAG_MCP_LOG_LEVEL", value)
    assert build_parser().parse_args([]).log_level == level


def test_mcp_server_names_the_log_level_variable_it_refuses(monkeypatch, capsys):
    from magsag_mcp.mcp_server import __main__ as server_main

    monkeypatch.setenv("MAGSAG_MCP_LOG_LEVEL", "verbose")
    with pytest.raises(SystemExit) as exit_:
        server_main.main(["--version"])
    assert exit_.value.code == 2
    assert "MAGSAG_MCP_LOG_LEVEL='verbose' is not a log level; use one of DEBUG," in capsys.readouterr().err


def test_mcp_server_refuses_a_magsag_catalog_that_is_no_directory_at_start(tmp_path, monkeypatch, capsys):
    # --catalog was checked at start, MAGSAG_CATALOG not: the server said "serving on stdio" and every
    # tool call failed on it
    from magsag_mcp.mcp_server import __main__ as server_main

    monkeypatch.setattr(server_main, "configure_logging", lambda level: None)
    monkeypatch.setattr("magsag_mcp.mcp_server.stdio.serve_stdio", lambda server: pytest.fail("served"))
    monkeypatch.setattr("anyio.run", lambda fn, *args: fn(*args))
    monkeypatch.setenv("MAGSAG_CATALOG", str(tmp_path / "nope"))
    assert server_main.main([]) == 2
    assert "MAGSAG_CATALOG points at" in capsys.readouterr().err


def test_the_mcp_server_refuses_a_file_name_too_long_in_one_line(tmp_path, monkeypatch, capsys):
    from magsag_mcp.mcp_server import __main__ as server_main

    monkeypatch.setattr(server_main, "configure_logging", lambda level: None)
    monkeypatch.setattr("magsag_mcp.mcp_server.stdio.serve_stdio", lambda server: pytest.fail("served"))
    assert server_main.main(["--catalog", "x" * 300]) == 2
    err = capsys.readouterr().err
    assert err.startswith("magsag-mcp: the path 'xxxx") and "holds a name too long" in err and "Traceback" not in err
