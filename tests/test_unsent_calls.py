"""Calls that sent no request (every target refused before one: no API key set, a policy refused it): a summary of
them had zero calls, tokens and cost and no word why, which reads as "nothing happened", and `flow gate` said the
summary was "written from an empty ledger". The summary counts them (``totals.unsent_calls``) and its notes say so,
with the commonest reason and its fix, in Python, the CLI and the MCP tool alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magsag_mcp import Magsag
from magsag_mcp.cli import main
from magsag_mcp.errors import MagsagError
from magsag_mcp.governance.gate import check_summary_with_notes
from magsag_mcp.governance.gate_notes import no_calls_note
from magsag_mcp.governance.policy_files import load_policy_file
from tests.conftest import CATALOG

NO_KEY = "2 calls sent no request: every target of each was refused or skipped before one was sent"


def _two_unsent_calls(db: Path) -> None:
    """Two calls with no provider configured (env={}: no key): each skips its every target."""
    with Magsag(catalog=CATALOG, db=db, env={}) as mg:
        for _ in range(2):
            with pytest.raises(MagsagError):
                mg.skills.invoke("skill.analysis", {"data": "x"})


def test_python_summary_says_the_calls_sent_nothing_and_why(tmp_path: Path):
    db = tmp_path / "l.db"
    _two_unsent_calls(db)
    with Magsag(catalog=CATALOG, db=db, env={}) as mg:
        summary = mg.summarize()
    assert summary["totals"]["calls"] == 0 and summary["totals"]["unsent_calls"] == 2
    [note] = [n for n in summary["notes"] if "sent no request" in n]
    assert note.startswith(NO_KEY)
    assert "not configured: openai: no API key; set OPENAI_API_KEY" in note


def test_cli_summarize_notes_it_and_the_gate_does_not_call_the_ledger_empty(tmp_path: Path, capsys):
    db = tmp_path / "l.db"
    _two_unsent_calls(db)
    assert main(["flow", "summarize", "--db", str(db), "--catalog", str(CATALOG)]) == 0
    out, err = capsys.readouterr()
    assert f"note: {NO_KEY}" in err and "set OPENAI_API_KEY" in err
    summary = json.loads(out)
    assert summary["totals"]["unsent_calls"] == 2
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies:\n  - name: p\n    thresholds: {max_cost_per_call_usd: 1}\n")
    violations, notes = check_summary_with_notes(summary, load_policy_file(policy))
    assert violations == []
    said = " ".join(notes)
    assert "empty ledger" not in said
    assert "2 calls were recorded and none sent a request" in said


def test_the_gate_reads_refused_attempts_of_a_summary_without_unsent_calls(tmp_path: Path):
    # a summary written before unsent_calls was counted still shows its refused attempts in totals
    summary = {
        "model_stats": {},
        "totals": {"calls": 0, "skipped_attempts": 3},
        "period": {"from": None, "to": None, "filters": {}},
    }
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies:\n  - name: p\n    thresholds: {max_cost_per_call_usd: 1}\n")
    _, notes = check_summary_with_notes(summary, load_policy_file(policy))
    said = " ".join(notes)
    assert "empty ledger" not in said and "3 attempts" in said


@pytest.mark.anyio
async def test_mcp_summarize_usage_notes_it(tmp_path: Path):
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    db = tmp_path / "l.db"
    async with Client(build_server(catalog=CATALOG, db=db, env={})) as client:
        for _ in range(2):
            await client.call_tool("invoke_skill", {"skill_id": "skill.analysis", "payload": {"data": "x"}})
        summary = (await client.call_tool("summarize_usage", {"filters": {}})).structured_content
    assert summary["totals"]["unsent_calls"] == 2
    assert any(n.startswith(NO_KEY) and "set OPENAI_API_KEY" in n for n in summary["notes"])


def test_a_summary_of_sent_calls_has_no_such_note(ledger_db: Path, capsys):
    assert main(["flow", "summarize", "--db", str(ledger_db), "--catalog", str(CATALOG)]) == 0
    out, err = capsys.readouterr()
    assert "sent no request" not in err and json.loads(out)["totals"].get("unsent_calls") is None


@pytest.mark.anyio
async def test_a_call_refused_by_policy_beside_one_sent_is_counted_alone(tmp_path: Path):
    from decimal import Decimal

    from magsag_mcp.ledger import Ledger, UsageFilters
    from magsag_mcp.records import AttemptRecord, RunRecord

    day = 1_762_000_000.0
    refused = "policy 'prod' does not allow openai:gpt-4o; allowed: claude-*"
    sent = AttemptRecord("sent", day, "openai", "gpt-4o", "skill.analysis", "ana", "ok", 0, 1, cost_usd=Decimal("0.01"))
    denied = AttemptRecord(
        "denied", day + 5, "openai", "gpt-4o", "skill.brief", "ana", "policy_denied", 0, 0,
        cost_usd=Decimal(0), error_message=refused,
    )  # fmt: skip
    # a call whose first target a policy refused and whose fallback answered sent a request: not counted
    hop = [
        AttemptRecord(
            "hop", day + 9, "openai", "gpt-4o", "skill.analysis", "ana", "policy_denied", 0, 0,
            cost_usd=Decimal(0), error_message=refused,
        ),
        AttemptRecord(
            "hop", day + 10, "anthropic", "claude-x", "skill.analysis", "ana", "ok", 1, 1, cost_usd=Decimal(0)
        ),
    ]  # fmt: skip
    async with Ledger(tmp_path / "l.db") as ledger:
        for run_id, attempts in (("sent", [sent]), ("denied", [denied]), ("hop", hop)):
            await ledger.record_call(RunRecord(run_id, "ana", attempts[0].skill, attempts[0].started_at), attempts)
        for window in ({}, {"since": day - 60, "until": day + 60}):
            # beside calls that sent one, not counted (it would read every attempt): null, and no note
            summary = await ledger.summarize(UsageFilters(**window))
            assert summary["totals"]["calls"] == 2 and "unsent_calls" not in summary["totals"], window
            assert await ledger.unsent_note(UsageFilters(**window), summary) is None
            # the refused call alone (a window around it): counted, its fallback past a refusal (sent) left out
            # (a skill's summary is read from the daily rollup, a window inside a day from the attempts)
            alone = UsageFilters(since=day + 4, until=day + 9.5) if window else UsageFilters(skill="skill.brief")
            summary = await ledger.summarize(alone)
            assert summary["totals"]["calls"] == 0 and summary["totals"]["unsent_calls"] == 1, window
            note = await ledger.unsent_note(alone, summary)
            assert note is not None and note.startswith("1 call sent no request: every target of it was refused")
            assert note.endswith(f"(the first target's, of 1 call): {refused}")
        outside = await ledger.summarize(UsageFilters(since=day + 11))  # after every call: none to count
        assert outside["totals"]["unsent_calls"] == 0


def test_query_runs_says_its_calls_count_calls_that_sent_nothing_too():
    # a run's calls is its record's: every call, one that sent no request (each target refused or skipped, or the
    # call refused before any: an invalid payload) too, where summarize_usage's calls count none of those
    from magsag_mcp.mcp_server.ledger_models import RunOut

    said = RunOut.model_fields["calls"].description or ""
    assert "sent no request" in said and "unsent_calls" in said
    from tests.docs_helpers import doc, with_details

    # docs/mcp.md's row, with the subsection it links to for the rest of what it says
    mcp = doc("mcp.md")
    [row] = [with_details(mcp, line) for line in mcp.splitlines() if line.startswith("| `query_runs(")]
    assert "sent no request" in row and "unsent_calls" in row


def test_summarize_usage_says_its_notes_tell_of_calls_that_sent_nothing():
    from magsag_mcp.mcp_server.ledger_models import UsageSummaryResult

    said = UsageSummaryResult.model_fields["notes"].description or ""
    assert "sent no request" in said and "unsent_calls" in said


def test_data_query_table_says_a_run_sent_no_request(tmp_path: Path, capsys):
    # its models cell was empty beside `error` and 1 call: no word that nothing was sent, nor where to read why
    db = tmp_path / "l.db"
    _two_unsent_calls(db)
    assert main(["data", "query", "--db", str(db), "--catalog", str(CATALOG)]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    [row] = rows  # (a Magsag's calls are of its one run)
    assert row.split()[3:5] == ["error", "2"] and row.endswith("(no request sent)")  # (no agent: an empty cell)


def test_the_gate_does_not_call_a_ledger_of_refused_payloads_empty(tmp_path: Path, capsys):
    # a call refused before any target (an invalid payload) records its run and no attempt: the summary's zeros
    # name that run as largest_run, and the gate said "written from an empty ledger"
    db = tmp_path / "l.db"
    with Magsag(catalog=CATALOG, db=db, env={}) as mg:
        with pytest.raises(MagsagError):
            mg.skills.invoke("skill.analysis", {"text": "x"})
    assert main(["flow", "summarize", "--db", str(db), "--catalog", str(CATALOG)]) == 0
    summary = json.loads(capsys.readouterr().out)
    run = summary["largest_run"]["run_id"]
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies:\n  - name: p\n    thresholds: {max_cost_per_call_usd: 1}\n")
    _, notes = check_summary_with_notes(summary, load_policy_file(policy))
    said = " ".join(notes)
    assert "empty ledger" not in said and f"magsag data query --run-id {run}" in said


def test_the_gate_note_counts_one_refused_attempt_as_one():
    # (a summary written before unsent_calls was kept: its refused attempts, by outcome)
    def said(**totals: int) -> str:
        return no_calls_note({"totals": {"calls": 0, **totals}, "period": {"filters": {}}})

    assert "its 1 attempt was refused or skipped before a request" in said(skipped_attempts=1)
    assert "its 2 attempts were all refused or skipped" in said(skipped_attempts=1, policy_denied_attempts=1)
    assert "its 3 attempts were all refused" in said(budget_exceeded_attempts=3, skipped_attempts=0)
