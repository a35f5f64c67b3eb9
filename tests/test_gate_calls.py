"""`flow gate` checks max_cost_per_call_usd against each model's costliest call, which `flow summarize` names
(``model_stats[M].largest_call``, and the window's ``largest_call``), kept in the usage rollup as calls are
recorded and backfilled from the attempts of a ledger recorded before (0016_costliest_call)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.cli import main
from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.ledger.migrations import MIGRATIONS
from magsag_mcp.records import AttemptRecord, RunRecord

DAY = 1_762_000_000.0  # 2025-11-01 (UTC)
POLICY = "policies:\n  - name: limits\n    thresholds: {max_cost_per_call_usd: 1.0}\n"


def _attempt(run_id: str, at: float, model: str, outcome: str = "ok", cost: str | None = "0.01", **kw: Any):
    return AttemptRecord(
        run_id,
        at,
        kw.pop("provider", "openai"),
        model,
        None,
        kw.pop("agent", "ana"),
        outcome,  # type: ignore[arg-type]
        kw.pop("position", 0),
        kw.pop("number", 1),
        cost_usd=None if cost is None else Decimal(cost),
        **kw,
    )


async def _record(db: Path, calls: list[tuple[str, list[AttemptRecord]]]) -> None:
    async with Ledger(db) as ledger:
        for run_id, attempts in calls:
            at = attempts[0].started_at
            await ledger.record_call(RunRecord(run_id, "ana", None, at, ended_at=at + 1, status="ok"), attempts)


def _gate(tmp_path: Path, capsys, summary: dict[str, Any], policy: str = POLICY) -> tuple[int, str]:
    path, pol = tmp_path / "summary.json", tmp_path / "policy.yaml"
    path.write_text(json.dumps(summary))
    pol.write_text(policy)
    capsys.readouterr()
    code = main(["flow", "gate", str(path), "--policy", str(pol)])
    return code, capsys.readouterr().out


def _summarize(tmp_path: Path, capsys, *filters: str) -> dict[str, Any]:
    out = tmp_path / "summary.json"
    assert main(["flow", "summarize", "--db", str(tmp_path / "l.db"), *filters, "--output", str(out)]) == 0
    capsys.readouterr()
    return json.loads(out.read_text())


def test_one_costly_call_among_cheap_ones_fails_the_call_limit_naming_it(tmp_path: Path, capsys):
    """Before: the gate checked each model's average, so one $3 call among 20 of a cent passed a $1 call limit
    ($0.15 a call on average). The call's real cost can pass its reservation (the input is estimated; a
    vendor may report more), a policy can be tightened after the calls, and a summary can come from another
    machine: the gate is where a user finds out, and it now names the call."""
    cheap = [(f"r{i}", [_attempt(f"r{i}", DAY + i, "gpt-4o")]) for i in range(20)]
    asyncio.run(_record(tmp_path / "l.db", [*cheap, ("big", [_attempt("big", DAY + 100, "gpt-4o", cost="3")])]))
    summary = _summarize(tmp_path, capsys)
    big = {
        "run_id": "big",
        "time": "2025-11-01T12:28:20+00:00",
        "at_most_usd": "3",
        "counted_usd": "3",
        "unbounded_attempts": 0,
    }
    assert summary["model_stats"]["gpt-4o"]["largest_call"] == big
    assert summary["largest_call"] == big
    code, out = _gate(tmp_path, capsys, summary)
    assert code == 1, out
    assert (
        "FAIL limits: a call to gpt-4o in run big at 2025-11-01T12:28:20+00:00 cost $3 (its attempts together, an "
        "unknown cost at its bound), above max_cost_per_call_usd $1.0; `magsag data query --run-id big --format "
        "json` lists its attempts"
    ) in out
    assert "NOTE" not in out and "averaged" not in out
    code, out = _gate(tmp_path, capsys, summary, POLICY.replace("1.0", "3"))
    assert (code, out) == (0, "gate: pass\n")


def test_a_calls_retries_and_fallbacks_count_together_under_its_last_model(tmp_path: Path, capsys):
    """The call limit bounds a call's attempts together: a call whose first attempt was cut after it reached the
    vendor (unknown cost, bounded at $0.60) and whose fallback cost $0.60 counts $1.20, under the model that
    answered; none of its attempts alone passes $1. A refused hop after the answer does not move it."""
    call = [
        _attempt("mixed", DAY, "gpt-4o", "error", cost=None, cost_bound_usd=Decimal("0.6")),
        _attempt("mixed", DAY + 5, "claude-3-5-sonnet", position=1, cost="0.6", provider="anthropic"),
    ]
    asyncio.run(_record(tmp_path / "l.db", [("mixed", call), ("r1", [_attempt("r1", DAY + 50, "gpt-4o")])]))
    summary = _summarize(tmp_path, capsys)
    stats = summary["model_stats"]
    assert stats["claude-3-5-sonnet"]["largest_call"]["at_most_usd"] == "1.2"
    assert stats["claude-3-5-sonnet"]["largest_call"]["run_id"] == "mixed"
    assert stats["gpt-4o"]["largest_call"] == {
        "run_id": "r1",
        "time": "2025-11-01T12:27:30+00:00",
        "at_most_usd": "0.01",
        "counted_usd": "0.01",
        "unbounded_attempts": 0,
    }
    code, out = _gate(tmp_path, capsys, summary)
    assert code == 1 and "FAIL limits: a call to claude-3-5-sonnet in run mixed at" in out and "cost $1.2 " in out
    # narrowed to the model, the summary still holds the call whole (its attempts on other models included)
    assert _summarize(tmp_path, capsys, "--model", "claude-3-5-sonnet")["largest_call"]["at_most_usd"] == "1.2"


@pytest.mark.parametrize("window", [(), ("--since", "2025-11-01T12:00:00+00:00"), ("--run-id", "two")])
def test_a_summary_read_from_the_attempts_names_the_same_call(tmp_path: Path, capsys, window):
    """A window that starts inside a day, and a run filter, are read from the attempts, not the rollup."""
    calls = [
        ("one", [_attempt("one", DAY + 10, "gpt-4o", cost="0.5")]),
        ("two", [_attempt("two", DAY + 20, "gpt-4o", cost="0.2"), _attempt("two", DAY + 21, "gpt-4o", number=2)]),
        ("two", [_attempt("two", DAY + 30, "gpt-4o", cost="2")]),
    ]
    asyncio.run(_record(tmp_path / "l.db", calls))
    summary = _summarize(tmp_path, capsys, *window)
    assert summary["largest_call"] == {
        "run_id": "two",
        "time": "2025-11-01T12:27:10+00:00",
        "at_most_usd": "2",
        "counted_usd": "2",
        "unbounded_attempts": 0,
    }


def test_a_summary_written_before_largest_call_was_kept_gates_on_the_average_and_says_so(tmp_path: Path, capsys):
    summary = {"model_stats": {"gpt-4o": {"calls": 4, "errors": 0, "cost_usd_exact": "2", "providers": ["openai"]}}}
    code, out = _gate(tmp_path, capsys, summary)
    assert code == 0
    assert (
        "NOTE this summary has no largest_call in model_stats (written by an older magsag): max_cost_per_call_usd "
        "$1.0 was checked against each model's average cost per call, which one costlier call can exceed unseen; "
        "write the summary again with `magsag flow summarize` to check each call"
    ) in out
    summary["model_stats"]["gpt-4o"]["calls"] = 1
    code, out = _gate(tmp_path, capsys, summary)
    assert code == 1 and "FAIL limits: gpt-4o averaged $2.000000 per call, above max_cost_per_call_usd $1.0" in out


def test_a_summary_without_largest_call_gates_a_model_a_call_left_for_another_without_dividing_by_zero(
    tmp_path: Path, capsys
):
    """A summary whose model_stats give attempts but no largest_call (trimmed by hand, or by jq): the model a call
    fell back from has attempts and no call, and the average per call divided its cost by 0 calls, a traceback
    (decimal.InvalidOperation) where the gate promises an answer. It has no call to average over; the model that
    answered has, and is checked."""
    summary = {
        "model_stats": {
            "gpt-4o": {"calls": 0, "errors": 0, "attempts": 1, "attempt_errors": 1, "cost_usd_exact": "0.5"},
            "o1": {"calls": 1, "errors": 0, "attempts": 1, "attempt_errors": 0, "cost_usd_exact": "2"},
        }
    }
    code, out = _gate(tmp_path, capsys, summary)
    assert code == 1, out
    assert out.count("FAIL") == 1 and "FAIL limits: o1 averaged $2.000000 per call, above max_cost_per_call_usd" in out
    summary["model_stats"]["gpt-4o"]["cost_usd_exact"] = "0"
    code, out = _gate(tmp_path, capsys, summary)
    assert code == 1 and out.count("FAIL") == 1 and "o1 averaged" in out


def test_a_model_whose_attempts_ended_no_call_has_none_to_check(tmp_path: Path, capsys):
    summary = {
        "model_stats": {
            "gpt-4o": {"calls": 1, "errors": 1, "cost_usd_exact": "5", "largest_call": None},
            "o1": {"calls": 1, "errors": 0, "cost_usd_exact": "0.5", "largest_call": {"at_most_usd": "5.5"}},
        }
    }
    code, out = _gate(tmp_path, capsys, summary)
    assert code == 1 and out.count("FAIL") == 1 and "FAIL limits: a call to o1 cost $5.5" in out
    summary["model_stats"]["o1"]["largest_call"] = {"at_most_usd": "lots"}
    code, out = _gate(tmp_path, capsys, summary)
    assert code == 2


@pytest.mark.anyio
async def test_prune_and_a_late_record_of_an_abandoned_call_keep_the_costliest_call_right(tmp_path: Path):
    """The rollup's costliest call is rebuilt where its day is rebuilt (a prune's cutoff day), and a stand-in
    for a call whose process seemed dead is taken back when the call's own record lands."""
    from magsag_mcp.ledger.abandoned import record_abandoned

    db = tmp_path / "l.db"
    async with Ledger(db) as ledger:
        await ledger.record_call(RunRecord("old", "ana", None, DAY), [_attempt("old", DAY, "gpt-4o", cost="4")])
        await ledger.record_call(RunRecord("new", "ana", None, DAY), [_attempt("new", DAY + 3600, "gpt-4o", cost="2")])
        err = _attempt("err", DAY + 5000, "gpt-4o", "error", cost="0.5")  # in the row the stand-in joins below
        await ledger.record_call(RunRecord("err", "ana", None, DAY + 5000), [err])
        conn = sqlite3.connect(db, isolation_level=None)
        from magsag_mcp.ledger import prune as P

        P._delete_before(conn, DAY + 1800, cutoff=True, runs_before=DAY + 1800)
        assert conn.execute("SELECT call_max_pusd, call_max_run_id FROM usage_rollup ORDER BY outcome").fetchall() == [
            (5 * 10**11, "err"),
            (2 * 10**12, "new"),
        ]
        conn.execute(
            "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state,"
            " attempt_run_id, provider, model) VALUES ('late', 'ana', ?, ?, ?, 'held', 'late', 'openai', 'gpt-4o')",
            (DAY + 7200, DAY + 7300, 9 * 10**12),
        )
        conn.execute("BEGIN IMMEDIATE")
        assert record_abandoned(conn, DAY + 8000) == 1
        conn.execute("COMMIT")
        rid = conn.execute("SELECT reservation_id FROM attempts WHERE run_id = 'late'").fetchone()[0]
        assert (await ledger.summarize())["largest_call"]["run_id"] == "late"  # the stand-in's $9 bound
        late = _attempt("late", DAY + 7200, "gpt-4o", "error", cost="0", reservation_id=rid)
        await ledger.record_call(RunRecord("late", "ana", None, DAY + 7200), [late])
        summary = await ledger.summarize(UsageFilters())
        assert summary["largest_call"]["run_id"] == "new" and summary["largest_call"]["at_most_usd"] == "2"
        assert conn.execute(
            "SELECT call_max_pusd, call_max_run_id FROM usage_rollup WHERE outcome = 'error'"
        ).fetchall() == [(5 * 10**11, "err")]
        conn.close()


@pytest.mark.anyio
async def test_a_ledger_recorded_before_0016_has_its_calls_backfilled_from_its_attempts(tmp_path: Path, monkeypatch):
    """A run's calls are told apart by their first attempt (the first target's first try); a call's retries,
    fallbacks and refused hops join it, and it counts under its last attempt that reached a provider."""
    from magsag_mcp.ledger import migrations

    db = tmp_path / "v15.db"
    conn = sqlite3.connect(db, isolation_level=None)
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS[:15])
    migrations.migrate(conn)
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)
    rows = [  # run, at, model, outcome, position, number, cost, bound (pico-USD)
        ("s", DAY, "gpt-4o", "error", 0, 1, None, 600),  # call 1: cut, bounded at 600
        ("s", DAY + 1, "gpt-4o", "error", 0, 2, 0, None),  # its retry failed for nothing
        ("s", DAY + 2, "claude", "ok", 1, 1, 700, None),  # its fallback answered: call 1 is 1,300, on claude
        ("s", DAY + 3, "o1", "budget_exceeded", 2, 1, 0, None),  # (a refused hop counts in no model)
        ("s", DAY + 10, "gpt-4o", "ok", 0, 1, 900, None),  # call 2: 900 on gpt-4o
        ("t", DAY + 20, "gpt-4o", "skipped", 0, 0, 0, None),  # call 3: the first target skipped, then
        ("t", DAY + 21, "gpt-4o", "ok", 1, 1, 1_000, None),  # 1,000 on gpt-4o (another day's row: below)
        ("u", DAY + 86400, "gpt-4o", "ok", 0, 1, 50, None),
    ]
    for run_id, at, model, outcome, position, number, cost, bound in rows:
        conn.execute(
            "INSERT INTO attempts (run_id, started_at, provider, model, agent, outcome, fallback_position,"
            " attempt_number, cost_pusd, cost_bound_pusd) VALUES (?, ?, 'openai', ?, 'ana', ?, ?, ?, ?, ?)",
            (run_id, at, model, outcome, position, number, cost, bound),
        )
    conn.execute(MIGRATIONS[13][1].split(";")[1].replace("rollup_0014", "usage_rollup"))  # 0014's rollup fill
    conn.close()
    async with Ledger(db) as ledger:
        summary = await ledger.summarize()
        day2 = await ledger.summarize({"since": "2025-11-02"})
    stats = summary["model_stats"]
    assert stats["claude"]["largest_call"] == {
        "run_id": "s",
        "time": "2025-11-01T12:26:42+00:00",
        "at_most_usd": "0.0000000013",
        "counted_usd": "0.0000000013",
        "unbounded_attempts": 0,
    }
    assert (
        stats["gpt-4o"]["largest_call"]["run_id"] == "t"
        and stats["gpt-4o"]["largest_call"]["at_most_usd"] == "0.000000001"
    )
    assert summary["largest_call"]["run_id"] == "s"
    assert day2["largest_call"]["run_id"] == "u"
