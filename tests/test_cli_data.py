"""`magsag data query|search|prune`, `flow summarize` and `budget` through main(): what a user types."""

from __future__ import annotations

import json
import time

import anyio
import pytest

from magsag_mcp.cli import main
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord


def test_the_table_of_a_long_lived_run_reads_its_models_not_every_attempt(tmp_path, monkeypatch, capsys):
    """A `Magsag()` records every call it makes under one run (mg.run_id): a service that keeps one open for
    weeks has a run of hundreds of thousands of attempts. `magsag data query`'s table shows one line per run,
    yet read every attempt of it first (5.5 s and 400 MB for a run of 200,000; the line needs only the models
    it called). Now the table reads each run's models alone; the JSON and CSV exports still list every
    attempt."""
    from magsag_mcp.ledger import queries

    db = tmp_path / "long.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    now = time.time()

    async def fill() -> None:
        async with Ledger(db) as ledger:
            models = ["gpt-4o", "claude-x", "gpt-4o", "gpt-4o-mini", "claude-x"]
            for i, model in enumerate(models * 20):
                outcome = "policy_denied" if model == "gpt-4o-mini" else "ok" if i % 3 else "error"
                attempt = AttemptRecord("svc", now + i, "openai", model, "skill.analysis", "svc", outcome, 0, 1)
                await ledger.record_call(RunRecord("svc", "svc", "skill.analysis", now), [attempt])
            await ledger.record_call(RunRecord("other", "x", "s", now + 500), [])

    anyio.run(fill)
    read: list[int] = []
    real = queries._attempt_dict
    monkeypatch.setattr(queries, "_attempt_dict", lambda row: read.append(1) or real(row))
    assert main(["data", "query"]) == 0
    lines = capsys.readouterr().out.splitlines()
    svc = next(line for line in lines if " svc " in line)
    assert svc.split()[-1] == "gpt-4o,claude-x" and svc.split()[5] == "100", svc  # a refused model: never called
    assert read == []
    assert main(["data", "query", "--format", "json"]) == 0  # the exports: every attempt, as before
    runs = json.loads(capsys.readouterr().out)
    assert [len(r["attempts"]) for r in runs] == [0, 100] and len(read) == 100


def test_bad_search_pattern_and_bad_date_exit_2_with_the_fix(ledger_db, capsys):
    assert main(["data", "search", "(unclosed"]) == 2
    assert main(["data", "query", "--since", "last tuesday"]) == 2
    err = capsys.readouterr().err
    assert "(unclosed" in err and "last tuesday" in err


def test_reading_usage_needs_no_catalog(ledger_db, tmp_path, monkeypatch, capsys):
    # A user mid-way through fixing a skill can still see what was spent: the ledger commands read
    # the ledger alone (before, one bad template made every one of them a catalog_error).
    broken = tmp_path / "broken-catalog"
    (broken / "skills").mkdir(parents=True)
    (broken / "skills" / "bad.yaml").write_text("id: skill.bad\ndescription: d\ntask_type: t\nprompt: {user: '{'}\n")
    monkeypatch.setenv("MAGSAG_CATALOG", str(broken))
    assert main(["flow", "summarize"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["calls"] > 0
    assert main(["data", "query", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)
    assert main(["data", "search", "gpt"]) == 0
    capsys.readouterr()
    assert main(["invoke", "skill.bad", "--payload", "{}"]) == 2  # what needs the catalog still says why
    assert "catalog_error" in capsys.readouterr().err


def test_the_table_shows_control_characters_escaped_not_sent_to_the_terminal(tmp_path, monkeypatch, capsys):
    # run ids, agent and model names come from callers (an MCP client names its run_id and agent): an
    # escape sequence in one went to the operator's terminal as it was (OSC 52 writes the clipboard, CSI
    # clears or hides), and a line break or carriage return drew rows or costs of its own in the table
    db = tmp_path / "ansi.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    now = time.time()
    agent = "bob\x1b]52;c;ZWNobyBvd25lZA==\x07\x1b[8m"
    run_id = "run-1\r\nrun-forged  0.00"

    async def fill() -> None:
        async with Ledger(db) as ledger:
            run = RunRecord(run_id, agent, "skill.analysis", now)
            attempt = AttemptRecord(run_id, now, "local", "llama\x1b[2J", "skill.analysis", agent, "ok", 0, 1)
            await ledger.record_call(run, [attempt])

    anyio.run(fill)
    assert main(["data", "query"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and "\x07" not in out
    assert len(out.splitlines()) == 2  # the header and the one run
    assert "bob\\x1b]52;c;ZWNobyBvd25lZA==\\x07\\x1b[8m" in out and "run-1\\r\\nrun-forged" in out


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["data", "query", "--limit", "0"], "argument --limit: 0 runs per page: give 1 to 10000"),
        (["data", "query", "--limit", "-3", "--format", "csv"], "argument --limit: -3 runs per page: give 1 to 10000"),
        (["data", "query", "--limit", "10001"], "argument --limit: 10001 runs per page: give 1 to 10000"),
        (["data", "query", "--offset", "-1"], "argument --offset: -1 runs to skip: give 0 or more"),
        (["data", "search", "shard", "--limit", "0"], "argument --limit: 0 hits: give 1 to 10000"),
        (["data", "query", "--limit", "ten"], "argument --limit: 'ten' is not a whole number: give 1 to 10000"),
    ],
)
def test_a_count_out_of_its_range_is_refused_naming_the_option_and_its_range(ledger_db, capsys, args, named):
    """`magsag data query --limit 0` answered "invalid filters: limit: Input should be greater than or equal to 1":
    pydantic's words, of a "filter", naming neither the option nor its upper bound (`data search --limit 0` said
    "limit must be between 1 and 10000, got 0", naming no option either). Each is refused as bad input by the
    parser, naming the option, its range and what leaving it out does."""
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert named in err and "filter" not in err and "Input should" not in err
    if args[:2] == ["data", "query"] and "--limit" in args:
        assert "leave --limit out" in err  # what a user meaning "no limit" writes instead
