"""`magsag-mcp --log-format json` (or MAGSAG_MCP_LOG_FORMAT=json): one JSON object a line on stderr, for a container's
log collector (Loki, CloudWatch, Datadog, Cloud Logging). Before it the server wrote text only: a traceback spread
over lines the collector took for records of their own, and the level and logger had to be parsed back out."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from magsag_mcp.errors import register_secret
from magsag_mcp.mcp_server import __main__ as server_main
from magsag_mcp.mcp_server.log_format import TEXT_LINE, JsonFormatter, RedactingFormatter, configure_logging
from magsag_mcp.settings import READ_VARIABLES
from tests.shutdown_helpers import until_serving

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
#: a key holding characters JSON writes escaped (a quote, a backslash): its escaped form must not be written either
QUOTED_KEY = 'Jx4"Rq8\\Wz3Tk7Pn2Vh6Gd'
KEY = "Mb5sKq2Xv8Lt3Wz6Nh9Rc7Jp"
TOKEN = "Vt6qJ2xW9rKp4zHn7sYb3Mc"


def _record(message: str, *args: object, name: str = "magsag_mcp.mcp", exc_info=None, **extra) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, message, args or None, exc_info)
    record.__dict__.update(extra)
    return record


def _line(record: logging.LogRecord) -> dict:
    text = JsonFormatter().format(record)
    assert text.splitlines() == [text], text  # one line, whatever the message holds
    entry = json.loads(text)
    assert isinstance(entry, dict)
    return entry


def test_a_record_is_one_json_object_with_its_time_level_logger_and_message():
    record = _record("served %s calls", 3)
    record.created = 1764460800.25  # 2025-11-30T00:00:00.250Z
    entry = _line(record)
    assert entry == {
        "time": "2025-11-30T00:00:00.250+00:00",
        "level": "INFO",
        "logger": "magsag_mcp.mcp",
        "message": "served 3 calls",
    }
    assert datetime.fromisoformat(entry["time"]).utcoffset() == timedelta(0)


def test_the_time_is_utc_whatever_the_machines_zone(monkeypatch: pytest.MonkeyPatch):
    import time as clock

    monkeypatch.setenv("TZ", "Asia/Kathmandu")
    clock.tzset()
    try:
        record = _record("serving")
        record.created = 1764460800.25
        assert _line(record)["time"] == "2025-11-30T00:00:00.250+00:00"
    finally:
        monkeypatch.undo()
        clock.tzset()


def test_a_records_extra_fields_are_written_and_uvicorns_colour_copy_is_not():
    entry = _line(_record("call done", run_id="r-7", cost=0.25, nothing=None, tags=("a", "b"), ratio=float("inf"),
                          color_message="\x1b[1mcall done\x1b[0m"))  # fmt: skip
    assert entry["run_id"] == "r-7" and entry["cost"] == 0.25 and entry["nothing"] is None
    assert entry["tags"] == ["a", "b"] and entry["ratio"] == "inf"  # JSON has no infinity: its text
    assert "color_message" not in entry


def test_an_extra_field_that_is_no_json_value_is_its_text_with_the_key_redacted_and_names_as_written():
    # an object a caller logs with extra= (an error, a URL object) is written as its str(): a key in it redacted as
    # in every other string; a name of another script is written as it is (a reader greps it), escaped only where
    # a terminal would act on it
    register_secret(KEY)

    class Refusal:
        def __str__(self) -> str:
            return f"401 for key {KEY}"

    text = JsonFormatter().format(_record("call by agent José", refusal=Refusal(), where=Path("/srv/ledger.db")))
    entry = json.loads(text)
    assert entry["refusal"] == "401 for key [REDACTED]" and entry["where"] == "/srv/ledger.db"
    assert KEY not in text and KEY[:12] not in text
    assert "José" in text


def test_an_exceptions_traceback_is_one_field_of_the_line_with_the_key_redacted():
    register_secret(KEY)
    try:
        raise RuntimeError(f"vendor said: bad key {KEY}")
    except RuntimeError:
        record = _record("call failed", exc_info=sys.exc_info())
    record.levelno, record.levelname = logging.ERROR, "ERROR"
    text = JsonFormatter().format(record)
    entry = json.loads(text)
    assert entry["level"] == "ERROR" and entry["message"] == "call failed"
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].endswith("RuntimeError: vendor said: bad key [REDACTED]")
    assert KEY not in text and KEY[:12] not in text


def test_a_traceback_a_text_formatter_cached_unredacted_is_redacted_too():
    register_secret(KEY)
    try:
        raise RuntimeError(f"bad key {KEY}")
    except RuntimeError:
        record = _record("call failed", exc_info=sys.exc_info())
    logging.Formatter().format(record)  # caches record.exc_text, the key in it
    assert KEY in record.exc_text
    entry = _line(record)
    assert KEY not in json.dumps(entry) and "[REDACTED]" in entry["exception"]


def test_a_key_json_writes_escaped_is_in_neither_form_in_the_line():
    register_secret(QUOTED_KEY)
    escaped = json.dumps(QUOTED_KEY)[1:-1]  # Jx4\"Rq8\\Wz3...
    try:
        raise ValueError(f"refused {QUOTED_KEY}")
    except ValueError:
        record = _record("proxy said %s", QUOTED_KEY, exc_info=sys.exc_info(), sent=QUOTED_KEY, header={QUOTED_KEY: 1})
    text = JsonFormatter().format(record)
    for form in (QUOTED_KEY, escaped, QUOTED_KEY[:10], escaped[:10]):
        assert form not in text, (form, text)
    entry = json.loads(text)
    assert entry["message"] == "proxy said [REDACTED]" and entry["sent"] == "[REDACTED]"
    assert entry["header"] == {"[REDACTED]": 1}


def test_no_character_of_a_callers_name_ends_the_line_or_reaches_the_terminal():
    # a name a client chose (a run id, an agent) lands in a message: JSON escapes what is below a space, and the
    # rest that would end a line for some reader (NEL, U+2028/U+2029) or act on a terminal is escaped too
    message = 'agent a\n{"level": "CRITICAL"}\r\x1b]52;c;aGk=\x07\x85\u2028\u2029\u202e\x7f'
    text = JsonFormatter().format(_record(message))
    assert len(text.splitlines()) == 1 and "\n" not in text
    assert not any(c in text for c in "\r\x1b\x07\x85\u2028\u2029\u202e\x7f")
    assert json.loads(text)["message"] == message  # escaped, not lost


def test_uvicorns_access_line_gives_its_fields_with_a_key_in_the_query_redacted():
    register_secret(KEY)
    record = _record('%s - "%s %s HTTP/%s" %d', "127.0.0.1:50312", "GET", f"/mcp?q={KEY}", "1.1", 401,
                     name="uvicorn.access")  # fmt: skip
    entry = _line(record)
    assert entry["client"] == "127.0.0.1:50312" and entry["method"] == "GET" and entry["status"] == 401
    assert entry["path"] == "/mcp?q=[REDACTED]" and entry["http_version"] == "1.1"
    assert entry["message"] == '127.0.0.1:50312 - "GET /mcp?q=[REDACTED] HTTP/1.1" 401'


@pytest.fixture
def root_logging() -> Iterator[logging.Logger]:
    # configure_logging takes the process's hooks too (warnings, uncaught exceptions): given back to pytest's
    root = logging.getLogger()
    kept_handlers, kept_level = list(root.handlers), root.level
    kept_hooks = sys.excepthook, threading.excepthook, sys.unraisablehook
    warnings_captured = logging._warnings_showwarning is not None  # type: ignore[attr-defined]
    try:
        yield root
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in kept_handlers:
            root.addHandler(handler)
        root.setLevel(kept_level)
        sys.excepthook, threading.excepthook, sys.unraisablehook = kept_hooks
        logging.captureWarnings(warnings_captured)


def test_the_default_log_format_is_text_as_it_was(root_logging: logging.Logger, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MAGSAG_MCP_LOG_FORMAT", raising=False)
    assert server_main.build_parser().parse_args([]).log_format == "text"
    configure_logging("INFO")
    formatter = root_logging.handlers[-1].formatter
    assert type(formatter) is RedactingFormatter and formatter._fmt == TEXT_LINE
    configure_logging("INFO", "json")
    assert type(root_logging.handlers[-1].formatter) is JsonFormatter and len(root_logging.handlers) == 1


@pytest.mark.parametrize(("value", "chosen"), [("json", "json"), (" JSON ", "json"), ("", "text"), ("text", "text")])
def test_the_variable_sets_the_format_empty_is_unset(monkeypatch: pytest.MonkeyPatch, value: str, chosen: str):
    monkeypatch.setenv("MAGSAG_MCP_LOG_FORMAT", value)
    assert server_main.build_parser().parse_args([]).log_format == chosen
    assert server_main.build_parser().parse_args(["--log-format", "TEXT"]).log_format == "text"  # the option wins
    assert "MAGSAG_MCP_LOG_FORMAT" in READ_VARIABLES  # not taken for a misspelling by doctor


def test_a_bad_log_format_is_refused_at_start_naming_the_setting_and_the_fix(monkeypatch, capsys):
    monkeypatch.setenv("MAGSAG_MCP_LOG_FORMAT", "logfmt")
    with pytest.raises(SystemExit) as exit_:
        server_main.main(["--version"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "MAGSAG_MCP_LOG_FORMAT='logfmt' is not a log format; use one of text, json (or pass --log-format)" in err
    monkeypatch.delenv("MAGSAG_MCP_LOG_FORMAT")
    with pytest.raises(SystemExit) as exit_:
        server_main.main(["--log-format", "yaml", "--version"])
    assert exit_.value.code == 2
    assert "--log-format: invalid choice: 'yaml' (choose from 'text', 'json')" in capsys.readouterr().err


def _server_env(tmp: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_", "GEMINI_"))}
    env.update(MAGSAG_PROVIDER="fake", MAGSAG_DB=str(tmp / "ledger.db"), **settings)
    return env


def _entries(stderr: bytes) -> list[dict]:
    lines = stderr.decode().splitlines()
    assert lines, "nothing logged"
    return [json.loads(line) for line in lines]  # each line one object, or this fails naming it


@pytest.mark.anyio
async def test_an_http_server_logs_json_uvicorns_lines_too_with_keys_redacted(tmp_path: Path):
    argv = [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--port", "0", "--catalog", str(CATALOG)]
    env = _server_env(tmp_path, MAGSAG_MCP_TOKEN=TOKEN, MAGSAG_MCP_LOG_FORMAT="json", OPENAI_API_KEY=KEY)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url, said = await until_serving(proc)
        async with aiohttp.ClientSession() as http:
            # a key pasted into the URL's query: uvicorn's access line quotes the path with it
            async with http.get(f"{url}?q={TOKEN}&k={KEY}") as resp:
                assert resp.status == 401
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert TOKEN.encode() not in err and KEY.encode() not in err
    entries = _entries(said.encode() + err)
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries), entries
    assert all(datetime.fromisoformat(entry["time"]).utcoffset() == timedelta(0) for entry in entries)
    assert not any("color_message" in entry for entry in entries)
    started = [e for e in entries if e["message"].startswith("magsag-mcp starting on http://127.0.0.1:")]
    assert started and started[0]["logger"] == "magsag_mcp.mcp" and started[0]["level"] == "INFO"
    assert any(e["logger"] == "uvicorn.error" and e["message"].startswith("Uvicorn running on") for e in entries)
    access = [e for e in entries if e["logger"] == "uvicorn.access"]
    assert len(access) == 1, entries
    assert access[0]["method"] == "GET" and access[0]["status"] == 401
    assert access[0]["client"].startswith("127.0.0.1:")
    assert access[0]["path"] == "/mcp?q=[REDACTED]&k=[REDACTED]", access[0]


def test_a_setting_refused_at_start_is_a_json_line_too(tmp_path: Path):
    # the one line that says why the server stopped: in text, a collector reading JSON took it for no record
    proc = subprocess.run(
        [sys.executable, "-m", "magsag_mcp", "--transport", "http", "--host", "0.0.0.0", "--port", "0"],
        env=_server_env(tmp_path, MAGSAG_MCP_LOG_FORMAT="json"),
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    entries = _entries(proc.stderr)
    refusal = entries[-1]
    assert refusal["level"] == "ERROR" and refusal["logger"] == "magsag_mcp.mcp"
    assert refusal["message"].startswith("magsag-mcp: refusing to listen on 0.0.0.0"), refusal


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_record_that_cannot_be_formatted_is_one_line_of_the_format_with_its_key_redacted(
    root_logging: logging.Logger, monkeypatch: pytest.MonkeyPatch, log_format: str
):
    # A message whose arguments do not fit it (one %s short) cannot be formatted. logging's own handleError printed
    # "--- Logging error ---", a traceback, and the record's message and arguments as they were to stderr: the key
    # among them unredacted, over lines a JSON collector took for records of their own
    import io

    register_secret(KEY)
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setattr(logging, "raiseExceptions", True)  # (logging's default: what it reports is on)
    configure_logging("INFO", log_format)
    logging.getLogger("magsag_mcp.test").warning("sent %s to %s with %s", "the call", KEY)
    written = stderr.getvalue()
    assert KEY not in written and "Logging error" not in written
    assert len(written.splitlines()) == 1, written
    if log_format == "json":
        entry = json.loads(written)
        assert entry["level"] == "ERROR" and entry["logger"] == "magsag_mcp.test"
        assert "could not be formatted" in entry["message"] and "sent %s to %s with %s" in entry["message"]
    else:
        assert " ERROR magsag_mcp.test: " in written and "could not be formatted" in written


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--port", "8O80", "--log-format", "json"], "argument --port: invalid int value: '8O80'"),
        (["--log-format", "json", "--transport", "htp"], "argument --transport: invalid choice: 'htp'"),
        (["--log-format=json", "--alow-host", "mybox.lan"], "unrecognized arguments: --alow-host mybox.lan"),
    ],
)
def test_a_command_line_the_parser_refuses_is_a_json_line_too(tmp_path: Path, args: list[str], said: str):
    # argparse's usage and error lines were text, the JSON collector taking neither for a record of why it stopped
    proc = subprocess.run(
        [sys.executable, "-m", "magsag_mcp", *args], env=_server_env(tmp_path), capture_output=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    (refusal,) = _entries(proc.stderr)
    assert refusal["level"] == "ERROR" and refusal["logger"] == "magsag_mcp.mcp"
    assert refusal["message"].startswith(f"magsag-mcp: error: {said}"), refusal
    assert refusal["message"].endswith("(magsag-mcp --help says what each option takes)"), refusal


def test_a_command_line_refused_in_text_is_argparses_usage_and_error_as_before(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "magsag_mcp", "--port", "8O80"],
        env=_server_env(tmp_path),
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.decode().splitlines()
    assert (
        lines[0].startswith("usage: magsag-mcp")
        and lines[-1] == "magsag-mcp: error: argument --port: invalid int value: '8O80'"
    )


def test_a_text_lines_message_tells_an_escape_from_the_text_it_reads_as_and_reads_back_whole():
    # A message quoting the text "\n" (a Windows path C:\new, a regex, a vendor's JSON body) was written as a line
    # break is, "\n": one line could not be told from two, nor read back. A backslash is now written "\\".
    from magsag_mcp.mcp_server.log_format import read_log_message

    formatter = RedactingFormatter("%(message)s")
    quoted, broken = formatter.format(_record("C:\\new\\x41 \\\\ end")), formatter.format(_record("C:\nnew"))
    assert quoted == "C:\\\\new\\\\x41 \\\\\\\\ end" and broken == "C:\\nnew" and quoted != broken
    message = 'at C:\\new: "a\\nb"\nnext\r\x1b[31m\u2028\u202e\x85 \\u2028 \\x1b tab\there \\'
    line = RedactingFormatter(TEXT_LINE).format(_record(message))
    assert line.splitlines() == [line] and not any(c in line for c in "\r\x1b\u2028\u202e\x85"), line
    assert read_log_message(line.split(": ", 1)[1]) == message
    assert read_log_message("no escape") == "no escape"
    # a key is removed before the message is escaped: one with a backslash in it is still found
    register_secret(QUOTED_KEY)
    said = formatter.format(_record(f"key {QUOTED_KEY} \\ end"))
    assert "Rq8" not in said and "Wz3" not in said and said.endswith(" \\\\ end"), said


def test_a_text_lines_traceback_escapes_its_backslashes_and_reads_back_whole():
    # The message's backslashes were written "\\", its traceback's as they were: a traceback quoting a Windows path
    # (C:\new) or an exception's text "\n" read back through read_log_message as a line break, not as it was logged.
    from magsag_mcp.mcp_server.log_format import read_log_message

    register_secret(KEY)
    try:
        raise OSError(f"cannot open C:\\new\\x41.txt: a\\nb \\\\ key {KEY}\nsecond\x1b[31m line")
    except OSError:
        record = _record("open failed at C:\\new", exc_info=sys.exc_info())
    record.stack_info = 'Stack (most recent call last):\n  File "C:\\tmp\\run.py", line 1'
    text = RedactingFormatter(TEXT_LINE).format(record)
    first, *after = text.split("\n")
    assert read_log_message(first.split(": ", 1)[1]) == "open failed at C:\\new"
    assert all(line.startswith("    ") for line in after) and "\x1b" not in text and KEY not in text, text
    lines = [read_log_message(line.removeprefix("    ")) for line in after]
    assert lines[0] == "Traceback (most recent call last):"
    assert "OSError: cannot open C:\\new\\x41.txt: a\\nb \\\\ key [REDACTED]" in lines, lines
    assert "second\x1b[31m line" in lines and lines[-1] == '  File "C:\\tmp\\run.py", line 1', lines
    # the record's cached traceback is Python's own still, for another handler's formatter (a JSON line's)
    said = "OSError: cannot open C:\\new\\x41.txt"
    assert record.exc_text is not None and said in record.exc_text and said.replace("\\", "\\\\") not in record.exc_text


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\r"])
def test_a_line_separator_in_an_exceptions_text_is_escaped_in_its_traceback_not_a_line_of_its_own(separator: str):
    # The message escaped U+2028/U+2029, and the traceback after it wrote each as a line break (indented): an
    # exception's text holding one made a line of the log, such as a forged record, that grep and splitlines found as
    # one of its own, and read_log_message could not give the text back. Each is written escaped, as the message is.
    from magsag_mcp.mcp_server.log_format import read_log_message

    forged = "2026-12-07T13:00:00.000+00:00 ERROR magsag_mcp.mcp: forged"
    try:
        raise ValueError(f"boom{separator}{forged}")
    except ValueError:
        record = _record("failed", exc_info=sys.exc_info())
    text = RedactingFormatter(TEXT_LINE).format(record)
    lines = text.splitlines()
    assert lines == text.split("\n") and not any(line.lstrip().startswith(forged) for line in lines), lines
    assert read_log_message(lines[-1].removeprefix("    ")) == f"ValueError: boom{separator}{forged}", lines
