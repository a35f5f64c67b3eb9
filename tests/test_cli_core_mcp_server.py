"""`magsag-mcp`'s command line: its options and MAGSAG_* settings, refused or warned of before serving."""

from __future__ import annotations

import pytest


def test_mcp_server_warns_that_port_and_host_mean_nothing_on_stdio(monkeypatch, caplog):
    from magsag_mcp.mcp_server import __main__ as server_main

    served = []
    monkeypatch.setattr(server_main, "configure_logging", lambda level, log_format: None)
    monkeypatch.setattr("magsag_mcp.mcp_server.stdio.serve_stdio", lambda server: served.append(server))
    monkeypatch.setattr("magsag_mcp.mcp_server.server.build_server", lambda **kw: "server")
    monkeypatch.setattr("anyio.run", lambda fn, *args: fn(*args))
    with caplog.at_level("WARNING", logger="magsag_mcp.mcp"):
        assert server_main.main(["--transport", "stdio", "--port", "8000"]) == 0
    assert served == ["server"]
    assert "--port applies to --transport http only; ignored with stdio" in caplog.text


def _stdio_started(monkeypatch, caplog, capsys, *, terminal, level="INFO", args=(), stderr_terminal=False):
    """The log records and the stderr of a stdio start whose stdin is (``terminal``) a terminal or not, logging from
    ``level`` up (as ``--log-level`` sets it: configure_logging is the process's, left alone here)."""
    from magsag_mcp.mcp_server import __main__ as server_main

    monkeypatch.setattr(server_main, "configure_logging", lambda level, log_format: None)
    monkeypatch.setattr(server_main, "_in_a_terminal", lambda: terminal)
    monkeypatch.setattr(server_main, "_stderr_a_terminal", lambda: stderr_terminal)
    monkeypatch.setattr("magsag_mcp.mcp_server.stdio.serve_stdio", lambda server: None)
    monkeypatch.setattr("magsag_mcp.mcp_server.server.build_server", lambda **kw: "server")
    monkeypatch.setattr("anyio.run", lambda fn, *args: fn(*args))
    with caplog.at_level(level, logger="magsag_mcp.mcp"):
        assert server_main.main(["--transport", "stdio", *args]) == 0
    said = [r.getMessage() for r in caplog.records if r.name == "magsag_mcp.mcp"]
    return said, capsys.readouterr()


@pytest.mark.parametrize("terminal", [True, False])
def test_the_stdio_server_run_at_a_terminal_says_what_it_waits_for(monkeypatch, caplog, capsys, terminal):
    # `magsag-mcp` typed in a shell said "serving on stdio" and nothing more, waiting for JSON-RPC no one sends:
    # a new user took it for hung. A client's stdin is a pipe, whose logs stay as they were.
    from magsag_mcp.mcp_server.__main__ import AT_A_TERMINAL

    said, written = _stdio_started(monkeypatch, caplog, capsys, terminal=terminal)
    assert said == ["magsag-mcp serving on stdio"] and written.out == ""
    if terminal:
        assert written.err == f"magsag-mcp: {AT_A_TERMINAL}\n"
        assert "`magsag demo`" in AT_A_TERMINAL and "--transport http" in AT_A_TERMINAL and "Ctrl-C" in AT_A_TERMINAL
    else:
        assert written.err == ""


def test_the_stdio_server_at_a_terminal_says_what_it_waits_for_whatever_the_log_level(monkeypatch, caplog, capsys):
    # logged at INFO, `magsag-mcp --log-level WARNING` hid it: the person at the terminal saw a server wait in silence
    from magsag_mcp.mcp_server.__main__ import AT_A_TERMINAL

    said, written = _stdio_started(
        monkeypatch, caplog, capsys, terminal=True, level="WARNING", args=["--log-level", "WARNING"]
    )
    assert said == [] and written.out == ""
    assert written.err == f"magsag-mcp: {AT_A_TERMINAL}\n"


@pytest.mark.parametrize("stderr_terminal", [True, False])
def test_the_terminal_line_with_json_logs_is_a_record_only_where_stderr_is_no_terminal(
    monkeypatch, caplog, capsys, stderr_terminal
):
    # `magsag-mcp --log-format json 2>server.log` at a terminal: a line of text among the JSON lines is no JSON
    from magsag_mcp.mcp_server.__main__ import AT_A_TERMINAL

    said, written = _stdio_started(
        monkeypatch, caplog, capsys, terminal=True, args=["--log-format", "json"], stderr_terminal=stderr_terminal
    )
    if stderr_terminal:
        assert said == ["magsag-mcp serving on stdio"] and written.err == f"magsag-mcp: {AT_A_TERMINAL}\n"
    else:
        assert said == ["magsag-mcp serving on stdio", AT_A_TERMINAL] and written.err == ""


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

    monkeypatch.setattr(server_main, "configure_logging", lambda level, log_format: None)
    monkeypatch.setattr("magsag_mcp.mcp_server.stdio.serve_stdio", lambda server: pytest.fail("served"))
    monkeypatch.setattr("anyio.run", lambda fn, *args: fn(*args))
    monkeypatch.setenv("MAGSAG_CATALOG", str(tmp_path / "nope"))
    assert server_main.main([]) == 2
    assert "MAGSAG_CATALOG points at" in capsys.readouterr().err


def test_the_mcp_server_refuses_a_file_name_too_long_in_one_line(tmp_path, monkeypatch, capsys):
    from magsag_mcp.mcp_server import __main__ as server_main

    monkeypatch.setattr(server_main, "configure_logging", lambda level, log_format: None)
    monkeypatch.setattr("magsag_mcp.mcp_server.stdio.serve_stdio", lambda server: pytest.fail("served"))
    assert server_main.main(["--catalog", "x" * 300]) == 2
    err = capsys.readouterr().err
    assert err.startswith("magsag-mcp: the path 'xxxx") and "holds a name too long" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        (
            "MAGSAG_CALL_DEADLINE",
            "abc",
            "MAGSAG_CALL_DEADLINE='abc' is not a number; set it to e.g. 300.0 (from 0.001 to 21600)",
        ),
        (
            "MAGSAG_RETRY_MAX_DELAY",
            "2 min",
            "MAGSAG_RETRY_MAX_DELAY='2 min' is not a number; set it to e.g. 20.0 (from 0 to 21600; a bare "
            "number of seconds, without a unit: 120)",
        ),
        (
            "MAGSAG_MAX_RETRIES",
            "1.5",
            "MAGSAG_MAX_RETRIES='1.5' must be a whole number; set it to e.g. 2 (from 0 to 10)",
        ),
        (
            "MAGSAG_READ_TIMEOUT",
            "-1",
            "MAGSAG_READ_TIMEOUT='-1' must be >= 0.001; set it to e.g. 120.0 (from 0.001 to 3600)",
        ),
        # a value longer than any setting's (a password pasted into the wrong variable) is said by its length alone
        (
            "MAGSAG_CONNECT_TIMEOUT",
            "correct horse battery staple",
            "MAGSAG_CONNECT_TIMEOUT (a value of 28 characters, not shown) is not a number; set it to e.g. 10.0 "
            "(from 0.001 to 300)",
        ),
    ],
)
def test_the_stdio_server_refuses_at_start_a_setting_its_service_refuses(monkeypatch, capsys, name, value, said):
    # over stdio the service opens on the first call: the server started ("serving on stdio"), answered the client's
    # initialize, and failed every call with the config_error, a client showing it as running
    from pathlib import Path

    from magsag_mcp.mcp_server import __main__ as server_main

    catalog = Path(__file__).resolve().parent.parent / "catalog"
    monkeypatch.setattr(server_main, "configure_logging", lambda level, log_format: None)
    monkeypatch.setattr("magsag_mcp.mcp_server.stdio.serve_stdio", lambda server: pytest.fail("served"))
    monkeypatch.setattr("anyio.run", lambda fn, *args: fn(*args))
    monkeypatch.setenv(name, value)
    assert server_main.main(["--catalog", str(catalog)]) == 2
    # changed on purpose: a second line says where a client's settings are (tests/test_mcp_start_refusals.py)
    assert capsys.readouterr().err == f"magsag-mcp: {said}\n{server_main.CLIENT_CONFIG}\n"


def test_the_stdio_server_names_every_setting_it_refuses_at_start(monkeypatch, capsys):
    from pathlib import Path

    from magsag_mcp.mcp_server import __main__ as server_main

    catalog = Path(__file__).resolve().parent.parent / "catalog"
    monkeypatch.setattr(server_main, "configure_logging", lambda level, log_format: None)
    monkeypatch.setattr("magsag_mcp.mcp_server.stdio.serve_stdio", lambda server: pytest.fail("served"))
    monkeypatch.setenv("MAGSAG_CALL_DEADLINE", "abc")
    monkeypatch.setenv("MAGSAG_RETRY_BASE_DELAY", "nan")
    assert server_main.main(["--catalog", str(catalog)]) == 2
    assert capsys.readouterr().err == (
        "magsag-mcp: MAGSAG_RETRY_BASE_DELAY='nan' is not a finite number; set it to e.g. 0.5 (from 0 to 60); also "
        "MAGSAG_CALL_DEADLINE='abc' is not a number; set it to e.g. 300.0 (from 0.001 to 21600)\n"
        f"{server_main.CLIENT_CONFIG}\n"
    )  # (changed on purpose: the second line, as above)


def _version_written_to(stdout: int) -> tuple[int, str]:
    """`python -m magsag_mcp --version` run with ``stdout`` as its stdout: its exit status and stderr."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "magsag_mcp", "--version"], stdout=stdout, stderr=subprocess.PIPE, env=env, check=False
    )
    return done.returncode, done.stderr.decode("utf-8", "replace")


@pytest.mark.skipif(__import__("sys").platform == "win32", reason="pipes as POSIX has them")
def test_mcp_server_version_into_a_pipe_whose_reader_left_ends_quietly():
    """`magsag-mcp --version | true` (a script that reads nothing): print's BrokenPipeError came out as a traceback with
    exit 1, where `magsag --version` (and any Unix tool) ends quietly."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before anything is written
    try:
        code, err = _version_written_to(write_end)
    finally:
        os.close(write_end)
    assert (code, err) == (0, "")


@pytest.mark.skipif(not __import__("os").path.exists("/dev/full"), reason="needs /dev/full")
def test_mcp_server_version_to_a_full_disk_says_so_in_one_line():
    """`magsag-mcp --version > /dev/full`: an OSError traceback; now one line and exit 1, as `magsag --version`."""
    with open("/dev/full", "wb") as full:
        code, err = _version_written_to(full.fileno())
    assert code == 1
    assert (
        err == "magsag-mcp: cannot write the output: No space left on device; free some space, or write it elsewhere\n"
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        # Claude Desktop's "args": ["--agent claude-desktop"]: a client passes each string whole, a shell would split it
        (
            ["--agent claude-desktop"],
            "unrecognized arguments: --agent claude-desktop; '--agent claude-desktop' is one argument holding an "
            'option and its value, as an MCP client\'s "args" passes each of its strings whole: write them as two '
            'strings, "args": ["--agent", "claude-desktop"]',
        ),
        (
            ["--agent", "claude-desktop", "--log-level INFO"],
            "'--log-level INFO' is one argument holding an option and its value, as an MCP client's \"args\" passes "
            'each of its strings whole: write them as two strings, "args": ["--log-level", "INFO"]',
        ),
        # two options with their values in one string: four strings to write (it was ["--transport", "http --port
        # 8000"], a transport the server refuses); a value with a space in it, a path's, stays one
        (
            ["--transport http --port 8000"],
            "'--transport http --port 8000' is one argument holding options and their values, as an MCP client's "
            '"args" passes each of its strings whole: write them as four strings, "args": ["--transport", "http", '
            '"--port", "8000"]',
        ),
        (
            ["--db /my files/ledger.db"],
            'write them as two strings, "args": ["--db", "/my files/ledger.db"]',
        ),
        # its spaces as given: "/my  files" (two) is another folder than "/my files"
        (
            ["--db /my  files/ledger.db  --agent a"],
            'write them as four strings, "args": ["--db", "/my  files/ledger.db", "--agent", "a"]',
        ),
        # a misspelt option is told the one it means, as `magsag`'s commands are
        (["--agnet", "claude-desktop"], "unrecognized arguments: --agnet claude-desktop; did you mean --agent?"),
        # `python -m magsag_mcp flow summarize`: magsag's command given to the server, told "unrecognized arguments"
        # alone (`data query --since 1d`: "did you mean --version?"), with no word of the tool that has it
        (
            ["data", "query", "--since", "1d"],
            "unrecognized arguments: data query --since 1d; 'data' is a command of magsag, the command-line tool: run "
            "`magsag data query --since 1d`; magsag-mcp (python -m magsag_mcp) is the MCP server, which takes options "
            "only",
        ),
        # the command to run is one a shell runs as given: `magsag flow summarize --since 2026-12-01 10:00` read
        # 10:00 as a second argument, `--payload {"data": "x"}` split the JSON at its space
        (
            ["invoke", "skill.analysis", "--payload", '{"data": "x"}'],
            """run `magsag invoke skill.analysis --payload '{"data": "x"}'`;""",
        ),
    ],
)
def test_the_server_says_how_to_write_an_option_given_with_its_value_as_one_argument(monkeypatch, capsys, args, said):
    # argparse said "unrecognized arguments: --agent claude-desktop", naming an option the server takes, with no word
    # of why: the client's configuration had written the option and its value as one string
    from magsag_mcp.mcp_server.__main__ import build_parser

    monkeypatch.setenv("OPENAI_API_KEY", "fake-key-for-tests-0123456789abcdef")
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(args)
    assert exit_.value.code == 2
    assert said in capsys.readouterr().err


def test_a_key_given_in_the_one_argument_is_not_shown_in_the_strings_to_write(monkeypatch, capsys):
    from magsag_mcp.mcp_server.__main__ import build_parser

    monkeypatch.setenv("OPENAI_API_KEY", "fake-key-for-tests-0123456789abcdef")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--agent fake-key-for-tests-0123456789abcdef"])
    err = capsys.readouterr().err
    assert "fake-key-for-tests" not in err and '"args": ["--agent", "[REDACTED]"]' in err


@pytest.mark.parametrize(
    ("variable", "meant"),
    [("MAGSAG_DB_PATH", "MAGSAG_DB"), ("MAGSAG_PROVDER", "MAGSAG_PROVIDER"), ("MAGSAG_DATABASE", "MAGSAG_DB")],
)
def test_the_server_warns_as_it_starts_of_a_magsag_variable_it_does_not_read(monkeypatch, caplog, variable, meant):
    # MAGSAG_DB_PATH in a client's configuration changed nothing (the ledger went to the default file), and only
    # `magsag doctor` said so: the server said nothing at its start, nor (too far from MAGSAG_DB) at its first call
    from magsag_mcp.mcp_server import __main__ as server_main

    built = []
    monkeypatch.setenv(variable, "value-never-said")
    monkeypatch.setattr(server_main, "configure_logging", lambda level, log_format: None)
    monkeypatch.setattr("magsag_mcp.mcp_server.stdio.serve_stdio", lambda server: None)
    monkeypatch.setattr("magsag_mcp.mcp_server.server.build_server", lambda **kw: built.append(kw) or "server")
    monkeypatch.setattr("anyio.run", lambda fn, *args: fn(*args))
    with caplog.at_level("INFO", logger="magsag_mcp.mcp"):
        assert server_main.main(["--transport", "stdio"]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        f"{variable} is set, but magsag reads no such variable: did you mean {meant}? As set, it changes nothing: "
        f"rename it to {meant}"
    ]
    assert "value-never-said" not in caplog.text
    assert built[0]["variables_said"] is True  # not said again as the service opens


def test_the_server_warns_as_it_starts_of_a_magsag_variable_near_none_it_reads_as_magsag_commands_do(
    monkeypatch, caplog, capsys
):
    # MAGSAG_SPEND_LIMIT_USD (a limit magsag sets in the catalog's policies) changes nothing: `magsag` commands said
    # so, and the server, where it mattered most, said nothing (it warned of misspelt names alone). The same lines.
    import argparse

    from magsag_mcp.cli.misspelt import warn_of_unread_variables
    from magsag_mcp.mcp_server import __main__ as server_main

    monkeypatch.setenv("MAGSAG_SPEND_LIMIT_USD", "5-never-said")
    monkeypatch.setenv("MAGSAG_PROVDER", "local-never-said")
    monkeypatch.setattr(server_main, "configure_logging", lambda level, log_format: None)
    monkeypatch.setattr("magsag_mcp.mcp_server.stdio.serve_stdio", lambda server: None)
    monkeypatch.setattr("magsag_mcp.mcp_server.server.build_server", lambda **kw: "server")
    monkeypatch.setattr("anyio.run", lambda fn, *args: fn(*args))
    with caplog.at_level("INFO", logger="magsag_mcp.mcp"):
        assert server_main.main(["--transport", "stdio"]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    warn_of_unread_variables(argparse.Namespace(command="summarize", catalog=None))
    said = [line.removeprefix("magsag: warning: ") for line in capsys.readouterr().err.splitlines()]
    assert warnings == said and len(warnings) == 2, (warnings, said)
    assert any(w.startswith("MAGSAG_SPEND_LIMIT_USD is set, but magsag reads no such variable (") for w in warnings)
    assert "never-said" not in caplog.text + "".join(said)


def _stdio_start_warnings(monkeypatch, caplog, args):
    """The WARNING records of a stdio start with ``args`` (served: exit 0), and whether it served."""
    from magsag_mcp.mcp_server import __main__ as server_main

    served = []
    monkeypatch.setattr(server_main, "configure_logging", lambda level, log_format: None)
    monkeypatch.setattr("magsag_mcp.mcp_server.stdio.serve_stdio", lambda server: served.append(server))
    monkeypatch.setattr("magsag_mcp.mcp_server.server.build_server", lambda **kw: "server")
    monkeypatch.setattr("anyio.run", lambda fn, *args: fn(*args))
    with caplog.at_level("INFO", logger="magsag_mcp.mcp"):
        assert server_main.main(["--transport", "stdio", *args]) == 0
    assert served == ["server"]  # a warning, not a refusal: reads (summarize_usage) may still work
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


def test_the_stdio_server_warns_as_it_starts_of_a_ledger_no_call_can_make(monkeypatch, caplog, tmp_path):
    # over stdio the ledger opens at the first call: the server started in silence, and each call then failed with
    # the ledger_error ("cannot be made"); the log of the start, where a user looks first, said nothing
    (tmp_path / "notes.txt").write_text("a file, not a folder\n")
    db = tmp_path / "notes.txt" / "ledger.db"
    warnings = _stdio_start_warnings(monkeypatch, caplog, ["--db", str(db)])
    assert warnings == [
        f"the ledger at {db} cannot be made: {tmp_path / 'notes.txt'} is a file, not a folder, so every call fails "
        "before it is sent (ledger_error); give --db (or MAGSAG_DB) a file's path in a folder this user can write to"
    ]


def test_the_stdio_server_warns_as_it_starts_of_a_ledger_folder_this_user_cannot_write(monkeypatch, caplog, tmp_path):
    import os

    folder = tmp_path / "shared"
    folder.mkdir()
    db = folder / "ledger.db"
    real_access = os.access
    # as an unprivileged user sees a 0555 folder (root, which runs these tests in a container, may write any)
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if str(path).startswith(str(folder)) else
                        real_access(path, mode, **kw))  # fmt: skip
    monkeypatch.setenv("MAGSAG_DB", str(db))
    warnings = _stdio_start_warnings(monkeypatch, caplog, [])
    assert warnings == [
        f"the ledger at {db} cannot be made: this user cannot write in {folder}, so every call fails before it is "
        "sent (ledger_error); give MAGSAG_DB a file's path in a folder this user can write to, or make the folder "
        "writable"
    ]


def test_the_stdio_server_warns_as_it_starts_of_a_ledger_there_it_cannot_write(monkeypatch, caplog, tmp_path):
    import os

    db = tmp_path / "ledger.db"
    db.write_bytes(b"")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if str(path) == str(db) else
                        real_access(path, mode, **kw))  # fmt: skip
    warnings = _stdio_start_warnings(monkeypatch, caplog, ["--db", str(db)])
    assert len(warnings) == 1
    assert warnings[0].startswith(f"the ledger at {db} is read-only, or its folder is: magsag-mcp writes the file")
    assert warnings[0].endswith("; until then every call fails before it is sent (ledger_error)")


@pytest.mark.parametrize("given", ["--db", "MAGSAG_DB"])
def test_the_stdio_server_warns_as_it_starts_of_a_ledger_in_memory(monkeypatch, caplog, tmp_path, given):
    # ':memory:' is a path whose folder (the working one) can be written, so the start said nothing; every call then
    # refused it as the ledger (doctor said so, the start did not)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAGSAG_DB", raising=False)
    if given == "MAGSAG_DB":
        monkeypatch.setenv("MAGSAG_DB", ":memory:")
    warnings = _stdio_start_warnings(monkeypatch, caplog, ["--db", ":memory:"] if given == "--db" else [])
    assert len(warnings) == 1
    assert warnings[0].startswith("':memory:' names a SQLite database in memory, and the ledger is a file")
    assert warnings[0].endswith("; until then every call fails before it is sent (ledger_error)")
    assert not (tmp_path / ":memory:").exists()  # the check makes nothing


def test_the_stdio_server_says_nothing_of_a_ledger_it_can_write(monkeypatch, caplog, tmp_path):
    (tmp_path / "there.db").write_bytes(b"")
    for db in (tmp_path / "new" / "ledger.db", tmp_path / "there.db"):
        caplog.clear()
        assert _stdio_start_warnings(monkeypatch, caplog, ["--db", str(db)]) == []


def test_the_ledger_warning_goes_to_stderr_never_to_stdout_the_protocols(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "notes.txt").write_text("a file\n")
    db = tmp_path / "notes.txt" / "ledger.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "MAGSAG_DB": str(db)}
    done = subprocess.run(
        [sys.executable, "-m", "magsag_mcp.mcp_server"],
        stdin=subprocess.DEVNULL,  # (no client: the server ends at its stdin's end)
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )
    assert done.stdout == ""
    assert f"WARNING magsag_mcp.mcp: the ledger at {db} cannot be made: " in done.stderr
