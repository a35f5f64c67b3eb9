"""A ledger this user can only read, holding the expired reservations of calls whose process died mid-call: its
summary counts each as the abandoned attempt of unknown cost a writable read records it as, so that the two reads
of one ledger agree, and `flow gate` fails the read-only one as it fails the other."""

from __future__ import annotations

import shutil
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio

_RESERVE = (
    "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state, attempt_run_id,"
    " provider, model, skill, call_id, unbounded) VALUES (?, ?, ?, ?, ?, 'held', ?, ?, ?, ?, ?, ?)"
)


async def _ledger_with_dead_calls(db: Path) -> None:
    async with Ledger(db) as ledger:
        now = time.time()
        at = now - 600
        paid = AttemptRecord("r1", at, "openai", "gpt-4o", "skill.analysis", "ana", "ok", 0, 1, cost_usd=Decimal(".25"))
        await ledger.record_call(RunRecord("r1", "ana", "skill.analysis", at), [paid])
        rows = [
            # a call of one attempt, bounded by what it reserved
            ("r2", "ana", now - 2000, now - 1000, 600_000_000, "r2", "openai", "gpt-4o", "skill.analysis", "c2", 0),
            # a call cut on its first attempt (expired), its fallback's reservation made later (not expired yet):
            # both its attempts, the call counted once, under the last (anthropic's)
            ("r3", "bo", now - 1900, now - 900, 700_000_000, "r3", "openai", "gpt-4o", "skill.summary", "c3", 0),
            ("r3", "bo", now - 1800, now + 600, 800_000_000, "r3", "anthropic", "claude-x", "skill.summary", "c3", 0),
            # a model of unknown price's placeholder, two hours ago, of no agent nor skill: no bound at all
            ("r4", None, now - 7200, now - 6000, 0, "r4", "compat", "mystery-model", None, "c4", 1),
        ]
        for row in rows:
            await ledger.submit(lambda c, row=row: c.execute(_RESERVE, row))


@pytest.fixture
async def twins(tmp_path: Path) -> tuple[Path, Path]:
    """The same closed ledger twice: one to read read-only, one to read writable (which records the dead calls)."""
    (tmp_path / "a").mkdir()
    db = tmp_path / "a" / "ledger.db"
    await _ledger_with_dead_calls(db)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    return db, tmp_path / "b" / "ledger.db"


_PEAKS = ("largest_call",)


def _counts(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary's counts and costs: totals and each breakdown's, its costliest day and each agent's, and its period
    (the costliest run and call apart)."""
    out: dict[str, Any] = {k: summary[k] for k in ("totals", "period", "largest_day")}
    for part in ("model_stats", "by_provider", "by_agent", "by_skill"):
        out[part] = {k: {f: v for f, v in s.items() if f not in _PEAKS} for k, s in summary[part].items()}
    return out


@pytest.mark.parametrize(
    "filters",
    [
        None,
        {"model": "gpt-4o"},
        {"provider": "anthropic"},
        {"agent": "ana"},
        {"skill": "skill.summary"},
        {"run_id": "r3"},
        {"since": "1h"},
        {"status": "error"},
        {"status": "ok"},
    ],
)
@pytest.mark.parametrize("zone", [None, "Asia/Tokyo"])
async def test_a_read_only_summary_counts_dead_calls_as_the_writable_read_records_them(twins, filters, zone):
    read_only, writable = twins
    async with Ledger(read_only, read_only=True) as ledger:
        assert ledger.read_only
        seen = await ledger.summarize(filters, zone)
        seen_days = await ledger.agent_days(filters, zone)
    async with Ledger(writable) as ledger:
        recorded = await ledger.summarize(filters, zone)
        recorded_days = await ledger.agent_days(filters, zone)
    assert _counts(seen) == _counts(recorded)
    assert seen_days == recorded_days  # (`magsag flow daily`)


async def test_the_unfiltered_read_only_summary_is_incomplete_and_the_gate_fails_it(twins):
    from magsag_mcp.governance import Policy, PolicySet
    from magsag_mcp.governance.gate import check_summary

    read_only, _ = twins
    before = {p.name: p.read_bytes() for p in read_only.parent.iterdir()}
    async with Ledger(read_only, read_only=True) as ledger:
        summary = await ledger.summarize()
    totals = summary["totals"]
    assert totals["cost_complete"] is False and totals["cost_usd"] is None
    assert totals["unpriced_attempts"] == 4 and totals["unbounded_attempts"] == 1
    assert totals["calls"] == 4 and totals["errors"] == 3 and totals["attempts"] == 5
    assert totals["known_cost_usd"] == "0.25" and totals["unknown_cost_bound_usd"] == "0.0021"
    assert summary["model_stats"]["claude-x"]["calls"] == 1 and summary["model_stats"]["gpt-4o"]["calls"] == 2
    violations = check_summary(summary, PolicySet([Policy(name="caps", thresholds={"max_cost_per_run_usd": "1"})]))
    assert any("no known cost" in v for v in violations), violations
    # nothing written: the ledger's folder is as it was, byte for byte
    assert {p.name: p.read_bytes() for p in read_only.parent.iterdir()} == before


def test_flow_summarize_of_a_read_only_ledger_into_flow_gate_fails(tmp_path: Path, monkeypatch, capsys):
    """`magsag flow summarize | magsag flow gate` of a ledger this user cannot write: it passed (cost_complete true, the
    dead call of no known price left out, said on stderr alone); it fails, as the same ledger read writable does."""
    import anyio

    from magsag_mcp.cli import main
    from magsag_mcp.ledger import opening

    (tmp_path / "a").mkdir()
    db = tmp_path / "a" / "ledger.db"
    anyio.run(_ledger_with_dead_calls, db)
    monkeypatch.setattr(opening, "file_writable", lambda path: False)  # (as for a user who cannot write it)
    summary = tmp_path / "summary.json"
    assert main(["flow", "summarize", "--db", str(db), "--output", str(summary)]) == 0
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies:\n  - name: caps\n    thresholds: {max_cost_per_run_usd: 1}\n")
    capsys.readouterr()
    assert main(["flow", "gate", str(summary), "--policy", str(policy)]) == 1
    out = capsys.readouterr().out
    assert "caps: 1 attempt has no known cost" in out, out
