"""Attempts of unknown cost in what the ledger commands show: never a number in the table, the bound they are counted
at where there is one, and a note on stderr where `flow summarize`'s JSON has a null a pipeline would add as 0."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import anyio

from magsag_mcp.cli import main
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.conftest import CATALOG, main_json


def test_query_table_never_shows_an_unknown_cost_as_a_number(ledger_db, capsys):
    assert main(["data", "query", "--format", "table", "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["started", "run_id", "agent"] and len(lines) == 3
    unpriced = next(line for line in lines if "r-unpriced" in line)
    assert ">=0 (1 unpriced)" in unpriced


def test_query_table_shows_what_a_cut_streams_unknown_cost_is_counted_at(tmp_path, monkeypatch, capsys):
    # a stream cut after Anthropic's message_start counted 10,000 prompt tokens: its cost is unknown, bounded at
    # $0.0525 (the prompt, and every output token allowed), which the limits count; the table said ">=0 (1 unpriced)",
    # as of a model of no known price, where `magsag budget` says "counted at up to $0.0525"
    db = tmp_path / "cut.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    now = time.time()

    async def fill() -> None:
        async with Ledger(db) as ledger:
            run = RunRecord("r-cut", "ana", "skill.analysis", now)
            cut = AttemptRecord(
                "r-cut", now, "anthropic", "claude-3-5-sonnet-20241022", run.skill, "ana", "error", 0, 1,
                error_class="connection_error", input_tokens=10_000, cost_usd=None, cost_bound_usd=Decimal("0.0525"),
            )  # fmt: skip
            await ledger.record_call(run, [cut])

    anyio.run(fill)
    assert main(["data", "query"]) == 0
    [row] = [line for line in capsys.readouterr().out.splitlines() if "r-cut" in line]
    assert ">=0 (1 of unknown cost, counted at up to 0.0525)" in row and "unpriced" not in row
    assert main(["budget", "--run-id", "r-cut"]) == 0
    assert "(1 attempt of unknown cost, counted at up to $0.0525)" in capsys.readouterr().out


def test_flow_summarize_says_on_stderr_when_a_cost_is_unknown(tmp_path, monkeypatch, capsys):
    """The guide's "Monitor daily costs", `magsag flow summarize | jq '.model_stats[].cost_usd' | awk '{s+=$1} END
    {print s}'`: a model with an attempt of unknown cost (a read timeout the vendor may bill) has cost_usd null,
    and awk adds null as 0, so one timeout took the model's whole known spend out of the sum, without a word. The
    JSON is unchanged (null is right); stderr, which the pipeline leaves on the terminal, says what the sum misses."""
    db = tmp_path / "timeout.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    now = time.time()

    async def fill() -> None:
        async with Ledger(db) as ledger:
            paid = {"input_tokens": 1000, "output_tokens": 100, "cost_usd": Decimal("0.0035")}
            cut = {"error_class": "timeout", "cost_usd": None, "cost_bound_usd": Decimal("0.0151")}
            unpriced = {"input_tokens": 10, "output_tokens": 10, "cost_usd": None}  # no price, so no bound
            attempts = [("gpt-4o", "ok", paid), ("gpt-4o", "ok", paid), ("gpt-4o", "error", cut)]
            attempts.append(("mystery-7b", "ok", unpriced))
            for i, (model, outcome, fields) in enumerate(attempts):
                run = RunRecord(f"r-{i}", "alice", "skill.analysis", now - 10 + i)
                attempt = AttemptRecord(run.run_id, now - 10 + i, "openai", model, run.skill, "alice", outcome, 0, 1)
                for key, value in fields.items():
                    setattr(attempt, key, value)
                await ledger.record_call(run, [attempt])

    anyio.run(fill)
    assert main(["flow", "summarize"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["model_stats"]["gpt-4o"]["cost_usd"] is None  # what the guide's awk sums as 0
    assert summary["totals"]["known_cost_usd"] == "0.007"
    assert err.startswith("note: ") and err.count("\n") == 1
    assert "2 attempts of unknown cost (gpt-4o, mystery-7b:" in err
    assert "$0.007 known" in err and "at most $0.0151 more" in err
    assert "1 of them of no known price, with no bound" in err
    assert "known_cost_usd" in err and "unknown_cost_bound_usd" in err and "null" in err
    assert main(["flow", "summarize", "--output", str(tmp_path / "summary.json")]) == 0
    err = capsys.readouterr().err
    assert err.startswith("note: 2 attempts of unknown cost") and err.endswith(f"wrote {tmp_path / 'summary.json'}\n")
    # a summary whose every cost is known says nothing more
    assert main(["flow", "summarize", "--until", str(now - 8.5)]) == 0
    assert capsys.readouterr().err == ""


def test_query_table_says_which_unknown_costs_have_no_bound(tmp_path, monkeypatch, capsys):
    # a run with a cut stream (bounded at $0.0525) and an answer of a model of no known price (no bound) read
    # ">=0 (2 of unknown cost, counted at up to 0.0525)": the bound shown was no bound of the second
    db = tmp_path / "mixed.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    now = time.time()

    async def fill() -> None:
        async with Ledger(db) as ledger:
            run = RunRecord("r-mixed", "ana", "skill.analysis", now)
            cut = AttemptRecord(
                "r-mixed", now, "anthropic", "claude-3-5-sonnet-20241022", run.skill, "ana", "error", 0, 1,
                error_class="connection_error", input_tokens=10_000, cost_usd=None, cost_bound_usd=Decimal("0.0525"),
            )  # fmt: skip
            unpriced = AttemptRecord(
                "r-mixed", now + 1, "compat", "mystery-7b", run.skill, "ana", "ok", 1, 1, cost_usd=None
            )
            await ledger.record_call(run, [cut, unpriced])

    anyio.run(fill)
    assert main(["data", "query"]) == 0
    [row] = [line for line in capsys.readouterr().out.splitlines() if "r-mixed" in line]
    assert ">=0 (2 of unknown cost: 1 counted at up to 0.0525, 1 with no bound)" in row, row
    runs = main_json(["data", "query", "--format", "json"], capsys)
    [run] = [r for r in (runs["runs"] if isinstance(runs, dict) else runs) if r["run_id"] == "r-mixed"]
    assert run["unpriced_calls"] == 2 and run["unbounded_calls"] == 1


def test_flow_summarize_says_on_stderr_when_a_model_of_no_known_price_is_summed_as_0(tmp_path, monkeypatch, capsys):
    """The guide's `flow summarize | jq '.model_stats[].cost_usd' | awk '{s+=$1} END {print s}'` beside a model of no
    known price (a local or compat model catalog/prices.yaml does not price): its cost_usd is null, which awk adds as
    0, and the sum printed gpt-4o's spend alone as if it were all, without a word. The note said nothing where the
    models of unknown cost had no known spend and no bound: the one case where the sum's 0 has nothing behind it."""
    db = tmp_path / "unpriced.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    now = time.time()

    async def fill() -> None:
        async with Ledger(db) as ledger:
            for i, (model, cost) in enumerate((("gpt-4o", Decimal("0.0035")), ("mystery-7b", None))):
                run = RunRecord(f"r-{i}", "alice", "skill.analysis", now - 10 + i)
                attempt = AttemptRecord(
                    run.run_id, now - 10 + i, "openai", model, run.skill, "alice", "ok", 0, 1, cost_usd=cost
                )
                await ledger.record_call(run, [attempt])

    anyio.run(fill)
    assert main(["flow", "summarize"]) == 0
    out, err = capsys.readouterr()
    stats = json.loads(out)["model_stats"]
    assert (stats["gpt-4o"]["cost_usd"], stats["mystery-7b"]["cost_usd"]) == (0.0035, None)  # awk: 0.0035
    assert err.startswith("note: 1 attempt of unknown cost (mystery-7b:") and err.count("\n") == 1, err
    assert "$0.0035 known" in err and "1 of them of no known price, with no bound" in err
