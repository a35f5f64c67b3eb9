"""What `magsag` writes for a person to read, and what it makes of options as a shell script passes them."""

from __future__ import annotations

import io
import json
import sys
import time
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp.cli import main
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


class _AsciiTerminal(io.TextIOWrapper):
    """stdout whose locale cannot encode most names: LANG=C (ASCII) on a server, a cp1252 console."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="ascii")

    def written(self) -> str:
        self.flush()
        return self.buffer.getvalue().decode("ascii")  # type: ignore[attr-defined]


@pytest.fixture
def named_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ledger with one run whose agent and run id are not ASCII, priced so that budgets show spend."""
    for name in ("MAGSAG_PROVIDER", "MAGSAG_MODEL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "names.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    now = time.time()

    async def fill() -> None:
        async with Ledger(db) as ledger:
            run = RunRecord("r-日本", "café", "skill.analysis", now)
            ok = AttemptRecord("r-日本", now, "openai", "gpt-4o", "skill.analysis", "café", "ok", 0, 1)
            ok.cost_usd = Decimal("0.0035")
            await ledger.record_call(run, [ok])

    anyio.run(fill)
    return db


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "query"],  # the table
        ["budget", "--agent", "café", "--run-id", "r-日本"],
    ],
)
def test_text_output_to_a_terminal_that_cannot_encode_a_name_shows_its_escape(named_ledger, monkeypatch, argv):
    """Under an ASCII (LANG=C) or cp1252 locale, the table and `budget` died with a UnicodeEncodeError
    traceback at the first agent or run id they could not encode, and printed none of the rest."""
    out = _AsciiTerminal()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(argv) == 0
    text = out.written()
    assert "caf\\xe9" in text and "r-\\u65e5\\u672c" in text


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["data", "prune", "--older-than", "1d", "--db", ""], "--db"),  # would have pruned the default ledger
        (["flow", "summarize", "--db", " "], "--db"),
        (["catalog", "validate", "--catalog", ""], "--catalog"),  # validated another catalog: "ok"
        (["invoke", "skill.analysis", "--catalog", "", "--payload", '{"data": "x"}'], "--catalog"),
        (["budget", "--agent", ""], "--agent"),  # left the agent's limit out, silently
        (["budget", "--run-id", ""], "--run-id"),
        (["invoke", "skill.analysis", "--run-id", "", "--payload", '{"data": "x"}'], "--run-id"),
        (["flow", "gate", "s.json", "--policy", ""], "--policy"),
        (["flow", "summarize", "--output", ""], "--output"),
    ],
)
def test_an_option_given_empty_is_refused_not_taken_for_its_default(
    named_ledger, tmp_path, monkeypatch, capsys, argv, option
):
    """`--db "$LEDGER"` with LEDGER unset: an empty --db or --catalog was taken as no option at all, so
    the command read (or pruned) the default ledger, or ran under the default catalog's policies, and
    said nothing. An empty value is bad input (exit 2) naming the option; the default ledger is untouched."""
    default = tmp_path / "default.db"
    monkeypatch.setenv("MAGSAG_DB", str(default))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: is empty" in err and "leave the option out" in err
    assert not default.exists()


@pytest.mark.parametrize("option", ["--db", "--catalog"])
def test_the_mcp_server_refuses_an_empty_db_or_catalog_too(capsys, option):
    # `magsag-mcp --db "$LEDGER"` in a client's configuration: the server recorded into the default ledger
    from magsag_mcp.mcp_server.__main__ import build_parser

    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([option, ""])
    assert exited.value.code == 2 and f"argument {option}: is empty" in capsys.readouterr().err


def test_a_paged_export_goes_on_from_its_cursor_without_repeating_runs_recorded_meanwhile(named_ledger, capsys):
    """`data query --format csv --limit N` said "the next ones: --offset N": runs recorded between two pages
    pushed the older ones down, so the next page began with runs the first had exported (the same rows
    twice in an audit file). The note names the page's cursor, which `--cursor` goes on from."""
    import csv
    import re

    now = time.time()

    async def record(*runs: tuple[str, int]) -> None:
        async with Ledger(named_ledger) as ledger:
            for run_id, later in runs:
                at = now + later
                attempt = AttemptRecord(run_id, at, "fake", "echo", "skill.analysis", "cli", "ok", 0, 1)
                await ledger.record_call(RunRecord(run_id, "cli", "skill.analysis", at), [attempt])

    anyio.run(record, ("r-2", 1), ("r-3", 2))
    assert main(["data", "query", "--format", "csv", "--limit", "2"]) == 0
    out, err = capsys.readouterr()
    assert [r["run_id"] for r in csv.DictReader(io.StringIO(out))] == ["r-3", "r-2"]
    cursor = re.search(r"--cursor (\S+?)[;\s]", err)
    assert cursor is not None, err
    anyio.run(record, ("r-4", 3))  # recorded between the two pages
    assert main(["data", "query", "--format", "csv", "--limit", "2", "--cursor", cursor.group(1)]) == 0
    out, err = capsys.readouterr()
    assert [r["run_id"] for r in csv.DictReader(io.StringIO(out))] == ["r-日本"] and err == ""
    assert main(["data", "query", "--cursor", "not-a-cursor"]) == 2
    assert "--cursor 'not-a-cursor' is not one `magsag data query` gave" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["data", "query", "--cursor", "not-a-cursor"], "`magsag data query` gave"),
        (["data", "query", "--format", "csv", "--cursor", "not-a-cursor"], "`magsag data query` gave"),
        (["data", "search", "gpt", "--cursor", "not-a-cursor"], "`magsag data search` gave"),
        # a page of runs' cursor given to search (two commands' notes in one terminal): another command's
        (["data", "search", "gpt", "--cursor", "WzE3OTY1Mjg3MDUuNDUzODkzMiwiciJd"], "`magsag data search` gave"),
    ],
)
def test_a_cursor_no_page_named_is_refused_in_the_command_lines_words(named_ledger, capsys, argv, named):
    """`magsag data query --cursor x` was told "cursor 'x' is not one query_runs gave: pass the previous page's
    next_cursor unchanged, or leave cursor out": an MCP tool and a field of its answer, which the command line
    never shows. It names the option, the command and the note on stderr that gives a cursor."""
    assert main(argv) == 2
    said = capsys.readouterr()
    assert said.out == ""
    message = json.loads(said.err)["error"]["message"]
    assert message.startswith("--cursor '") and named in message and "note on stderr" in message
    assert "leave --cursor out" in message
    assert "query_runs" not in message and "search_usage" not in message and "next_cursor" not in message


def test_a_page_cut_at_limit_names_the_filters_its_cursor_must_be_given_with(named_ledger, capsys):
    """The note said "the next ones: --cursor C" alone; a cursor holds where the page ended, none of its filters, so
    `data query --cursor C` as the note wrote it listed every run after it: those of other agents, and those older
    than the --since window. It names the filters to give again; `data search`'s its pattern and --since."""
    import re
    import shlex

    now = time.time()

    async def record(*runs: tuple[str, str, float]) -> None:
        async with Ledger(named_ledger) as ledger:
            for run_id, agent, ago in runs:
                at = now - ago
                attempt = AttemptRecord(run_id, at, "fake", "echo", "skill.analysis", agent, "ok", 0, 1)
                await ledger.record_call(RunRecord(run_id, agent, "skill.analysis", at), [attempt])

    anyio.run(record, ("a-1", "ana", 60), ("b-1", "bob", 90), ("a-2", "ana", 120), ("a-old", "ana", 7200))
    assert main(["data", "query", "--agent", "ana", "--since", "1h", "--limit", "1"]) == 0
    err = capsys.readouterr().err
    note = r"next ones: --cursor (\S+) \(or --offset 1, [^)]*\); give it with the same filters \(([^)]*)\);"
    said = re.search(note, err)
    assert said is not None, err
    assert said.group(2) == "--agent ana --since 1h"
    # the next page, as the note says to read it: ana's runs of the last hour after a-1, not bob's, not a-old
    assert main(["data", "query", "--cursor", said.group(1), *shlex.split(said.group(2)), "--format", "json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == ["a-2"]
    assert main(["data", "query", "--limit", "1"]) == 0
    assert "the same filters" not in capsys.readouterr().err  # none given, none to give again
    assert main(["data", "search", "echo", "--since", "1h", "--limit", "1"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"--cursor \S+; give it with the same pattern and --since 1h;", err), err


def test_json_files_saved_with_a_byte_order_mark_are_read(named_ledger, tmp_path, capsys, monkeypatch):
    """A JSON file written by Windows PowerShell 5 (`Out-File -Encoding utf8`, `Set-Content`) or Notepad
    starts with a UTF-8 byte order mark, which JSON readers may ignore (RFC 8259): `--payload-file` said
    "Unexpected UTF-8 BOM (decode using utf-8-sig)" and the gate "is not JSON", fixes a user cannot make."""
    import json

    bom = b"\xef\xbb\xbf"
    summary = tmp_path / "summary.json"
    assert main(["flow", "summarize", "--output", str(summary)]) == 0
    summary.write_bytes(bom + summary.read_bytes())
    capsys.readouterr()
    assert main(["flow", "gate", str(summary), "--policy", str(CATALOG / "policies" / "model_governance.yaml")]) == 0
    assert "gate: pass" in capsys.readouterr().out
    payload = tmp_path / "payload.json"
    payload.write_bytes(bom + json.dumps({"data": "x", "model_config": {"model": "fake:echo"}}).encode())
    for source in ([str(payload)], ["-"]):
        if source == ["-"]:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(payload.read_bytes()), encoding="utf-8"))
        assert main(["invoke", "skill.analysis", "--payload-file", *source]) == 0, capsys.readouterr().err
        assert json.loads(capsys.readouterr().out)["model"] == "echo"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_the_gate_reads_a_summary_that_a_powershell_redirect_wrote_in_utf16(named_ledger, tmp_path, capsys, encoding):
    """Windows PowerShell 5 (GitHub Actions' `shell: powershell`) writes `magsag flow summarize > summary.json`
    as UTF-16 with a byte order mark, as JSON readers may accept (RFC 8259 reads it by its BOM): the gate
    refused it, "is not UTF-8 text (invalid start byte)", exit 2, a CI step failing with a fix no one could
    see. The summary is read whatever Unicode encoding its byte order mark names, and checked as written."""
    summary = tmp_path / "summary.json"
    assert main(["flow", "summarize", "--output", str(summary)]) == 0
    text = summary.read_text(encoding="utf-8")
    summary.write_bytes(("\ufeff" + text).encode(encoding) if encoding == "utf-16-be" else text.encode(encoding))
    capsys.readouterr()
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies:\n  - name: tight\n    thresholds: {max_cost_per_run_usd: 0.001}\n")
    assert main(["flow", "gate", str(summary), "--policy", str(policy)]) == 1
    out = capsys.readouterr().out
    assert "FAIL tight: run r-日本 cost $0.0035 exceeds max_cost_per_run_usd $0.001" in out, out
    summary.write_bytes(b"\xff\xfe\xff\xfe")  # a BOM, then no JSON: still bad input, said as such
    assert main(["flow", "gate", str(summary), "--policy", str(policy)]) == 2
    assert "is not JSON" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "usage", "hint"),
    [
        (["data", "query", "--limt", "5"], "magsag data query", "did you mean --limit?"),
        (["flow", "summarize", "--outptu=s.json"], "magsag flow summarize", "did you mean --output?"),
        (["invoke", "skill.analysis", '{"data": "x"}'], "magsag invoke", "--payload"),
        (["data", "search", "--", "-429", "--limit", "1"], "magsag data search", "--limit before '--'"),
        # another command's way to ask for an output format: said as this command's, where `--json` was offered
        # `--since` (spelt alike) and `--format json` nothing
        (["data", "query", "--json"], "magsag data query", "--json; did you mean --format json?"),
        (["flow", "daily", "--csv"], "magsag flow daily", "--csv; did you mean --format csv?"),
        (["flow", "daily", "--table"], "magsag flow daily", "did you mean --format csv or json?"),
        (["budget", "--format", "json"], "magsag budget", "--format json; did you mean --json?"),
        (["doctor", "--format=json"], "magsag doctor", "--format=json; did you mean --json?"),
        (["flow", "summarize", "--json"], "magsag flow summarize", "--json; its output is JSON already: leave"),
        # the output --format was given, not JSON whatever it asked: `budget --format csv` was told --json
        (["budget", "--format", "csv"], "magsag budget", "--format csv; it writes no csv: text, or JSON with --json"),
        (["doctor", "--format=table"], "magsag doctor", "--format=table; it writes no table: text, or JSON with"),
        (["budget", "--format=JSON"], "magsag budget", "--format=JSON; did you mean --json?"),
        (["invoke", "skill.analysis", "--csv"], "magsag invoke", "--csv; its output is JSON already: leave"),
    ],
)
def test_an_argument_a_command_does_not_take_is_named_with_that_commands_usage(capsys, argv, usage, hint):
    """`magsag data query --limt 5` answered with the top level's usage ("usage: magsag [-h] [--version]
    COMMAND ...", none of the command's options) and no hint; the command's own parser says it now."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: {usage} ") and f"{usage}: error: unrecognized arguments: " in err and hint in err


def test_help_says_what_each_exit_status_means(capsys):
    """Scripts branch on the exit status: `magsag --help` said nothing of it (only `flow gate`'s did)."""
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Exit status: 0 success; 1 the operation failed" in out and "2 bad input" in out and "130" in out
    # budget's no, as flow gate's violation: exit 1 (said in docs/cli.md beside it)
    assert "`budget` a limit exceeded or (--skill) a call that does not fit" in out
    # each status a signal's stop exits with (signals.py's, docs/cli.md's): SIGHUP's 129 was left out
    assert "130 interrupted (Ctrl-C), 143 stopped by SIGTERM, 129 the terminal closed (SIGHUP)." in out


def test_a_payload_file_that_cannot_be_read_says_what_to_give(named_ledger, tmp_path, capsys):
    # Before: "cannot read --payload-file payload.json: No such file or directory", naming no fix
    for path in (tmp_path / "payload.json", tmp_path):
        assert main(["invoke", "skill.analysis", "--payload-file", str(path)]) == 2
        err = capsys.readouterr().err
        assert f"cannot read --payload-file {path}: " in err
        assert "; give --payload-file a JSON file ('-' for stdin), or --payload" in err


def test_magsag_without_a_command_fails_on_stderr_not_stdout(capsys):
    # `magsag` alone exited 2 with its help on stdout (what a script reads) and nothing on stderr said why it failed
    assert main([]) == 2
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err.startswith("usage: magsag ") and "COMMAND" in said.err
    assert said.err.endswith("magsag: error: give a command (`magsag COMMAND --help` says what it does)\n")


def test_ctrl_c_while_the_commands_are_still_loading_exits_130_without_a_traceback(monkeypatch, capsys):
    """Ctrl-C in the first half second of `magsag data query --format csv` (the command modules still being
    imported, to build the parser) ended in a KeyboardInterrupt traceback of some 30 lines: main() took Ctrl-C
    only once the command had begun. It exits 130 as a Ctrl-C a moment later does, with nothing on stdout."""
    import importlib

    import magsag_mcp.cli as cli

    def import_module(name: str, package: str | None = None) -> object:
        if name == ".data":  # the user's Ctrl-C, arriving as this module is imported
            raise KeyboardInterrupt
        return importlib.import_module(name, package)

    monkeypatch.setattr(cli, "importlib", type("Importer", (), {"import_module": staticmethod(import_module)}))
    assert main(["data", "query", "--format", "csv"]) == 130
    said = capsys.readouterr()
    assert said.out == "" and "Traceback" not in said.err and "KeyboardInterrupt" not in said.err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["invoke", "skill.analysis", "--payload", '{"data": "x"}', "--agent", "a\tb"], "--agent 'a\\tb' holds"),
        (
            ["invoke", "skill.analysis", "--payload", '{"data": "x"}', "--run-id", "r" * 300],
            "--run-id is 300 characters",
        ),
        (
            ["explain", "skill.analysis", "--payload", '{"data": "x"}', "--agent", "bob "],
            "--agent 'bob ' begins or ends",
        ),
        (["run", "my-mag", "--payload", '{"data": "x"}', "--run-id", "a\tb"], "--run-id 'a\\tb' holds"),
    ],
)
def test_a_name_a_call_cannot_be_recorded_under_is_refused_naming_its_option(named_ledger, capsys, argv, named):
    """`magsag invoke ... --run-id 'a<TAB>b'` was told "run_id 'a\\tb' holds the control or invisible character":
    the call's field, as an MCP tool's argument is named, for the option the user gave (so were --agent and a
    --run-id too long). Refused naming --run-id or --agent, exit 2, nothing recorded."""
    assert main(argv) == 2
    said = capsys.readouterr()
    message = json.loads(said.err)["error"]["message"]
    assert said.out == "" and message.startswith(named), message
    assert main(["data", "query", "--format", "json"]) == 0
    assert [run["run_id"] for run in json.loads(capsys.readouterr().out)] == ["r-日本"]  # nothing recorded


def test_a_payload_on_stdin_is_read_as_utf8_whatever_the_locale(named_ledger, capsys, monkeypatch):
    """`... | magsag invoke SKILL --payload-file -` read stdin in the locale's encoding, unlike a payload
    file (UTF-8): under a Latin-1 locale or a Windows console's cp1252 a UTF-8 "café" became "cafÃ©",
    sent to the model and recorded, without a word."""
    import json

    payload = {"data": "café ☕", "model_config": {"model": "fake:echo"}}
    stdin = io.TextIOWrapper(io.BytesIO(json.dumps(payload, ensure_ascii=False).encode()), encoding="latin-1")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["invoke", "skill.analysis", "--payload-file", "-"]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["output"].endswith("café ☕")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"data": "caf\xe9"}'), encoding="latin-1"))
    assert main(["invoke", "skill.analysis", "--payload-file", "-"]) == 2
    assert "is not UTF-8 text" in capsys.readouterr().err


def test_a_payload_file_dash_on_a_closed_stdin_is_an_input_error(named_ledger, capsys, monkeypatch):
    """`magsag invoke SKILL --payload-file - <&-`: sys.stdin is None, and reading it was an AttributeError
    traceback. It is a payload that cannot be read (exit 2), said as a file that cannot be read is."""
    monkeypatch.setattr(sys, "stdin", None)
    assert main(["invoke", "skill.analysis", "--payload-file", "-"]) == 2
    err = capsys.readouterr().err
    assert "cannot read --payload-file -: stdin is closed" in err and "Traceback" not in err


def test_the_gates_lines_show_a_callers_control_characters_escaped(tmp_path, capsys):
    """Run ids and model names come from callers (an MCP client names its run_id, a model_config its
    model). The gate printed them as they were into the CI log or terminal: a run id holding "\\r" and an
    erase-line sequence overwrote its own FAIL line with "gate: pass" on screen. The table escapes them;
    the gate's lines now do too."""
    import json

    forged = "r-1\r\x1b[2Kgate: pass"
    model = "gpt-4o\x1b]52;c;ZWNobyBvd25lZA==\x07"
    stats = {"calls": 1, "errors": 0, "cost_usd_exact": "2", "known_cost_usd": "2", "providers": ["openai"]}
    summary = {
        "model_stats": {model: stats},
        "largest_run": {"run_id": forged, "known_cost_usd": "2"},
        "largest_day": {"date": "2026-01-01", "known_cost_usd": "2"},
        "by_agent": {},
    }
    (tmp_path / "s.json").write_text(json.dumps(summary))
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "policies:\n  - name: caps\n    thresholds: {max_cost_per_run_usd: 1, max_cost_per_call_usd: 1}\n"
    )
    assert main(["flow", "gate", str(tmp_path / "s.json"), "--policy", str(policy)]) == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and "\x07" not in out
    assert "run r-1\\r\\x1b[2Kgate: pass" in out and "gpt-4o\\x1b]52;c;ZWNobyBvd25lZA==\\x07 averaged" in out


class _RecordedWrites(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.sizes.append(len(data))
        return super().write(data)


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_large_export_is_written_as_it_is_encoded_not_built_whole_first(tmp_path, monkeypatch, fmt):
    """`data query --limit 10000 --format json` built the whole export as one string, then its UTF-8 bytes,
    beside the runs themselves: 30 MB of JSON took 280 MB (json.dumps with an indent keeps every small
    piece in a list before joining them). It is written in pieces as it is encoded, and reads back whole."""
    import csv
    import json

    db = tmp_path / "big.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    now = time.time() - 3600
    error = "upstream overloaded; retry later " * 40

    async def fill() -> None:
        async with Ledger(db, sync="normal") as ledger:
            for i in range(150):
                run_id = f"run-{i:04d}"
                attempts = [
                    AttemptRecord(
                        run_id, now + i, "openai", "gpt-4o", "skill.analysis", "a", "error", 0, n, error_message=error
                    )
                    for n in (1, 2, 3)
                ]
                await ledger.record_call(RunRecord(run_id, "a", "skill.analysis", now + i), attempts)

    anyio.run(fill)
    raw = _RecordedWrites()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="utf-8"))
    assert main(["data", "query", "--format", fmt, "--limit", "10000"]) == 0
    sys.stdout.flush()
    written = raw.getvalue().decode("utf-8")
    if fmt == "json":
        assert len(json.loads(written)) == 150
    else:
        assert len(list(csv.DictReader(io.StringIO(written)))) == 450
    assert len(written) > 500_000 and max(raw.sizes) < len(written) // 4


def test_a_catalog_or_policy_file_that_is_not_utf8_is_a_problem_naming_it_not_a_traceback(tmp_path, capsys):
    """A skill or policy file saved in Latin-1 or cp1252 (an editor's default on Windows: "résumé" as
    b"r\\xe9sum\\xe9") killed `catalog validate`, every command that loads the catalog, and `flow gate`
    with a UnicodeDecodeError traceback. It is a catalog problem that names the file and the fix."""
    import json
    import shutil

    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    skill = catalog / "skills" / "resume.yaml"
    skill.write_bytes(b"id: skill.resume\ndescription: r\xe9sum\xe9\nprompt: {user: 'x'}\n")
    assert main(["catalog", "validate", "--catalog", str(catalog)]) == 1
    out = capsys.readouterr().out
    assert f"{skill}: is not UTF-8 text" in out and "save it as UTF-8" in out
    assert main(["catalog", "skills", "--catalog", str(catalog)]) == 2
    err = json.loads(capsys.readouterr().err)["error"]
    assert err["type"] == "catalog_error" and "is not UTF-8 text" in err["message"]
    policy = tmp_path / "policy.yaml"
    policy.write_bytes(b"policies:\n  - name: r\xe9sum\xe9\n    allowed_models: [gpt-4o]\n")
    summary = tmp_path / "s.json"
    summary.write_text(json.dumps({"model_stats": {}}))
    assert main(["flow", "gate", str(summary), "--policy", str(policy)]) == 2
    assert f"{policy}: is not UTF-8 text" in capsys.readouterr().err


def test_a_db_written_with_a_tilde_is_the_same_ledger_for_calls_and_reads(tmp_path, monkeypatch, capsys):
    """`--db ~/ledger.db` where no shell expands the "~" (`--db=~/...`, an MCP client's JSON args): calls
    (invoke, the MCP server) recorded into a folder named "~" in the working directory, while `data query`,
    `flow summarize` and `budget` read the home folder's ledger and found nothing there."""
    import json

    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    payload = json.dumps({"data": "x", "model_config": {"model": "fake:echo"}})
    assert main(["invoke", "skill.analysis", "--payload", payload, "--db=~/ledger.db", "--run-id", "r-home"]) == 0
    capsys.readouterr()
    assert list(work.iterdir()) == [] and (home / "ledger.db").exists()
    assert main(["data", "query", "--db=~/ledger.db", "--format", "json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == ["r-home"]


class _FullDisk(io.BytesIO):
    def write(self, data: bytes) -> int:  # type: ignore[override]
        import errno

        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("fmt", ["csv", "json", "table"])
def test_an_export_to_a_full_disk_says_so_in_one_line(named_ledger, monkeypatch, capsys, fmt):
    """`magsag data query --format csv > audit.csv` on a full disk (or past a quota) ended in a Python
    traceback; a small table's failure came only at exit, as "Exception ignored ..." and exit 120."""
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(_FullDisk(), encoding="utf-8"))
    assert main(["data", "query", "--format", fmt]) == 1
    err = capsys.readouterr().err
    assert err == "magsag: cannot write the output: No space left on device; free some space, or write it elsewhere\n"


@pytest.mark.parametrize("argv", [["--version"], ["data", "query", "--format", "json"], ["data", "query"]])
def test_a_command_started_with_stdout_closed_writes_nothing_and_succeeds(named_ledger, monkeypatch, argv):
    """`magsag ... >&-`: Python starts with sys.stdout None, where print() writes nothing; JSON output
    (and the final flush) raised AttributeError: 'NoneType' object has no attribute ... instead."""
    monkeypatch.setattr(sys, "stdout", None)
    assert main(argv) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "query", "sk-proj-PASTEDKEY0123456789abcdef"],  # unrecognized argument
        ["data", "query", "--format", "sk-proj-PASTEDKEY0123456789abcdef"],  # invalid choice
    ],
)
def test_a_key_pasted_where_an_argument_goes_is_not_echoed(named_ledger, capsys, argv):
    """argparse quotes what it refuses: a key pasted in place of an argument reached stderr (and the CI log)."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "[REDACTED]" in err
    assert "PASTEDKEY" not in err


def test_a_configured_key_of_no_known_shape_is_not_echoed_either(named_ledger, monkeypatch, capsys):
    # a gateway's key, in an environment variable magsag reads keys from, shaped like no vendor's
    monkeypatch.setenv("MAGSAG_COMPAT_API_KEY", "gw-live-7f3a9c2e5b1d")
    with pytest.raises(SystemExit):
        main(["budget", "gw-live-7f3a9c2e5b1d"])
    assert "7f3a9c2e5b1d" not in capsys.readouterr().err


def test_the_mcp_server_does_not_echo_a_key_given_as_an_option_value(capsys):
    from magsag_mcp.mcp_server.__main__ import build_parser

    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--transport", "sk-ant-PASTEDKEY0123456789"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "PASTEDKEY" not in err and "invalid choice" in err


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["data", "query", "--format", "csv", "--limit", "1", "--agent", "cafe"], 0),  # a note: no such agent
        (["flow", "summarize", "--model", "gpt4o"], 0),  # a note: no such model
        (["invoke", "skill.analysis", "--payload", "{oops"], 2),  # the JSON error
    ],
)
def test_a_command_started_with_stderr_closed_keeps_its_notes_and_errors_out_of_stdout(
    named_ledger, monkeypatch, capsys, argv, code
):
    """`magsag data query --format csv 2>&- > audit.csv`: Python starts with sys.stderr None, and
    print(..., file=sys.stderr) writes to stdout when its file is None: the notes and the JSON error went into
    the export (a note as the CSV's first line). They go nowhere now, as stderr was closed; stdout is the output."""
    monkeypatch.setattr(sys, "stderr", None)
    assert main(argv) == code
    out = capsys.readouterr().out
    assert "note:" not in out and '"error"' not in out, out
    if argv[0] == "invoke":
        assert out == ""


def test_the_mcp_server_started_with_stderr_closed_writes_nothing_to_stdout(tmp_path):
    """On stdio, stdout is the protocol's: with stderr closed (`2>&-`), the server's error for a bad --catalog
    (and its log lines) went there, where a client reads only JSON-RPC."""
    import subprocess

    # a process of its own: the server configures the root logger, which would stay so for the tests after this one
    server = [sys.executable, "-m", "magsag_mcp", "--catalog", str(tmp_path / "none"), "--db", str(tmp_path / "l.db")]
    proc = subprocess.run(
        ["sh", "-c", 'exec "$@" 2>&-', "sh", *server], stdin=subprocess.DEVNULL, capture_output=True, timeout=60
    )
    assert (proc.returncode, proc.stdout) == (2, b"")


@pytest.mark.parametrize(
    ("argv", "fix"),
    [
        (["data", "search", "-preview"], "magsag data search -- -preview"),
        (["data", "search", "--limit", "5", "-(mini|nano)"], "magsag data search --limit 5 -- '-(mini|nano)'"),
    ],
)
def test_a_search_pattern_that_begins_with_a_dash_is_told_to_follow_a_double_dash(capsys, argv, fix):
    """`magsag data search -preview` (a model suffix) said only "the following arguments are required: pattern",
    for the pattern given, which argparse took for an option: nothing said why, or how to search for it."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "the following arguments are required: pattern" in err
    assert f"begins with '-', so it was read as an option: put '--' before it ({fix})" in err
    # an option mistyped there is still no pattern, and is not taken for one
    with pytest.raises(SystemExit):
        main(["data", "search", "--limt"])
    assert "begins with '-'" not in capsys.readouterr().err


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_a_payload_file_a_powershell_redirect_wrote_in_utf16_is_read(
    named_ledger, tmp_path, capsys, monkeypatch, encoding
):
    """Windows PowerShell 5 writes `'{"data": ...}' > payload.json` as UTF-16 with a byte order mark (as the gate
    reads a summary written so): `--payload-file` refused it, "is not UTF-8 text; give it a JSON file", for a file
    that is JSON, as RFC 8259 lets a reader take it. A payload file, or stdin, is read in the Unicode encoding
    its byte order mark names, or that the nulls of a file without one show (as json.loads reads bytes)."""
    import json

    payload = tmp_path / "payload.json"
    text = json.dumps({"data": "café ☕", "model_config": {"model": "fake:echo"}}, ensure_ascii=False)
    payload.write_bytes(text.encode(encoding) if encoding != "utf-16-le" else ("\ufeff" + text).encode(encoding))
    assert main(["invoke", "skill.analysis", "--payload-file", str(payload)]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["output"].endswith("café ☕")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(payload.read_bytes()), encoding="utf-8"))
    assert main(["invoke", "skill.analysis", "--payload-file", "-"]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["output"].endswith("café ☕")
    payload.write_bytes(b"\xff\xfe" + b"\x00\xd8")  # a UTF-16 BOM, then half a surrogate pair: no text
    assert main(["invoke", "skill.analysis", "--payload-file", str(payload)]) == 2
    assert "give it a JSON file (its first bytes say UTF-16, which it is not either)" in capsys.readouterr().err


def test_another_patterns_cursor_is_refused_in_the_command_lines_words(named_ledger, capsys):
    """`magsag data search OTHER --cursor C` (C from a search for another pattern) was told the ledger's words,
    "... or leave cursor out": the MCP tool's argument. It names --cursor, --since and --limit, as the command does."""
    import re

    now = time.time()

    async def record() -> None:
        async with Ledger(named_ledger) as ledger:
            for n in range(3):
                at = now - 60 * (n + 1)
                attempt = AttemptRecord(f"r-{n}", at, "fake", "echo", "skill.analysis", "ana", "ok", 0, 1)
                await ledger.record_call(RunRecord(f"r-{n}", "ana", "skill.analysis", at), [attempt])

    anyio.run(record)
    assert main(["data", "search", "echo", "--limit", "1"]) == 0
    cursor = re.search(r"--cursor (\S+);", capsys.readouterr().err)
    assert cursor is not None
    assert main(["data", "search", "r-", "--cursor", cursor.group(1)]) == 2
    said = capsys.readouterr()
    message = json.loads(said.err)["error"]["message"]
    assert said.out == "" and message.startswith("--cursor '"), message
    assert "another pattern" in message and "leave --cursor out" in message, message
    assert "(--since and --limit may differ)" in message, message
    assert "leave cursor out" not in message and " cursor '" not in message, message


def test_another_filters_cursor_and_a_broken_hit_cursor_are_refused_in_the_command_lines_words(named_ledger, capsys):
    """`magsag data query --agent bob --cursor C` (C from a page of ana's runs) was told the ledger's words, "... these
    (agent, run_id, ...) ... or leave cursor out": the MCP tool's. It names --cursor and the filters as the command
    line's options. A --cursor `data search` never gave was to be given "with the same pattern and --since", when
    --since may differ (only the pattern must be the same)."""
    import re

    now = time.time()

    async def record() -> None:
        async with Ledger(named_ledger) as ledger:
            for n, agent in enumerate(("ana", "ana", "bob")):
                at = now - 60 * (n + 1)
                attempt = AttemptRecord(f"r-{n}", at, "fake", "echo", "skill.analysis", agent, "ok", 0, 1)
                await ledger.record_call(RunRecord(f"r-{n}", agent, "skill.analysis", at), [attempt])

    anyio.run(record)
    assert main(["data", "query", "--agent", "ana", "--limit", "1"]) == 0
    cursor = re.search(r"--cursor (\S+) ", capsys.readouterr().err)
    assert cursor is not None
    assert main(["data", "query", "--agent", "bob", "--cursor", cursor.group(1)]) == 2
    said = capsys.readouterr()
    message = json.loads(said.err)["error"]["message"]
    assert said.out == "" and message.startswith("--cursor '"), message
    assert "(--agent, --run-id, --skill, --model, --provider, --status)" in message, message
    assert "(a window, --limit and --offset may differ)" in message and "leave --cursor out" in message, message
    assert "leave cursor out" not in message and "run_id" not in message, message
    assert main(["data", "search", "echo", "--cursor", "not-a-cursor"]) == 2
    message = json.loads(capsys.readouterr().err)["error"]["message"]
    assert "unchanged and with the same pattern, or leave --cursor out" in message, message
