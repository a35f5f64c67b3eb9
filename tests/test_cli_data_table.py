"""`magsag data query`'s table: what it reads of a run (its models, not every attempt) and what it lets reach the
terminal (control characters escaped)."""

from __future__ import annotations

import json
import time

import anyio

from magsag_mcp.cli import main
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord


def test_the_table_of_a_long_lived_run_reads_its_models_not_every_attempt(tmp_path, monkeypatch, capsys):
    """A `Magsag()` records every call it makes under one run (mg.run_id): a service that keeps one open for
    weeks has a run of hundreds of thousands of attempts. `magsag data query`'s table shows one line per run,
    yet read every attempt of it first (5.5 s and 400 MB for a run of 200,000; the line needs only the models
    it called). Now the table reads each run's models alone; the JSON and CSV exports still list every
    attempt."""
    from magsag_mcp.ledger import run_pages

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
    real = run_pages._attempt_dict
    monkeypatch.setattr(run_pages, "_attempt_dict", lambda row: read.append(1) or real(row))
    assert main(["data", "query"]) == 0
    lines = capsys.readouterr().out.splitlines()
    svc = next(line for line in lines if " svc " in line)
    assert svc.split()[-1] == "gpt-4o,claude-x" and svc.split()[5] == "100", svc  # a refused model: never called
    assert read == []
    assert main(["data", "query", "--format", "json"]) == 0  # the exports: every attempt, as before
    runs = json.loads(capsys.readouterr().out)
    assert [len(r["attempts"]) for r in runs] == [0, 100] and len(read) == 100


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


def test_the_table_lines_up_names_of_wide_and_combining_characters(tmp_path, monkeypatch, capsys):
    # an agent named 数据分析师 takes 10 columns on a terminal, and was padded as 5: every cell after it in its row
    # (skill, status, cost) stood 5 columns right of its header; a letter and its combining accent take one
    db = tmp_path / "wide.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    now = time.time()
    agents = ["数据分析师", "🤖bot", "e\u0301x", "ana"]

    async def fill() -> None:
        async with Ledger(db) as ledger:
            for i, agent in enumerate(agents):
                attempt = AttemptRecord(f"r{i}", now + i, "openai", "gpt-4o", "skill.analysis", agent, "ok", 0, 1)
                await ledger.record_call(RunRecord(f"r{i}", agent, "skill.analysis", now + i), [attempt])

    anyio.run(fill)
    assert main(["data", "query"]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    wide = {"数据分析师": 10, "🤖bot": 5, "e\u0301x": 2, "ana": 3}  # the columns each takes on a terminal
    skill_at = header.index("skill")
    for line, agent in zip(lines, reversed(agents), strict=True):
        before, _, _ = line.partition("skill.analysis")
        assert len(before) - len(agent) + wide[agent] == skill_at, (line, header)
