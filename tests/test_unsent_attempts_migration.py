"""0022_unsent_attempts_cost_zero: a ledger the version before this one recorded holds its attempts never sent
(skipped, policy_denied, budget_exceeded) given no cost as NULL, an unknown cost of no bound, counted among the unpriced
attempts of their runs (runs.unpriced_calls) and rollup rows (usage_rollup.unpriced). This version writes them at $0
(8883ccdc), and summaries ignored them, but check_budget (a run limit's scope, a day's), query_runs and the rollup
still counted them as of unknown cost. Migrated, the ledger answers as one where they were written at $0 from the
start: row for row, and through check_budget, summarize and query_runs."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.governance import Governance
from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.ledger.migrations import MIGRATIONS
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.governance_helpers import FixedPricer, limits
from tests.ledger_schema_helpers import ledger_of_schema, open_at_once, since_set_apart, when_0027_ran
from tests.older_version import attempts_as_read_after_0033

pytestmark = pytest.mark.anyio

NAME = "0022_unsent_attempts_cost_zero"
#: the migrations of the version before 0022
BEFORE = MIGRATIONS[: [name for name, _ in MIGRATIONS].index(NAME)]
UNSENT = ("skipped", "policy_denied", "budget_exceeded")


def _attempt(run: str, at: float, outcome: str, fallback: int, agent: str | None, **extra: Any) -> AttemptRecord:
    provider, model = extra.pop("target", ("openai", "gpt-4o"))
    error = None if outcome == "ok" else (extra.pop("error", outcome), "refused")
    return AttemptRecord(
        run, at, provider, model, "skill.analysis", agent, outcome, fallback, 0 if outcome == "skipped" else 1,
        *(error or (None, None)), **extra,
    )  # fmt: skip


def _calls(now: float) -> list[tuple[RunRecord, list[AttemptRecord]]]:
    """Calls of today and of yesterday (a full day a summary reads from the rollup): attempts never sent given no cost
    (what 0022 sets to $0) beside priced ones, a sent one of no known price (no bound: stays unknown) and one never
    sent given a bound (an unknown cost by its caller's word: stays unknown)."""
    yesterday = now - 86400
    ok = {"target": ("fake", "m"), "input_tokens": 10, "output_tokens": 5}
    return [
        (  # skipped (no key), refused by a policy, then answered by the last fallback
            RunRecord("top", "ana", "skill.analysis", now - 300, ended_at=now - 299, status="ok"),
            [
                _attempt("top", now - 300, "skipped", 0, "ana"),
                _attempt("top", now - 300, "policy_denied", 1, "ana"),
                _attempt("top", now - 300, "ok", 2, "ana", cost_usd=Decimal("0.25"), **ok),
            ],
        ),
        (  # delegated from top, refused by a limit: no request left
            RunRecord(
                "sub",
                "ana",
                "skill.analysis",
                now - 200,
                parent_run_id="top",
                ended_at=now - 200,
                status="budget_exceeded",
            ),
            [_attempt("sub", now - 200, "budget_exceeded", 0, "ana")],
        ),
        (  # sent to a model of no known price (unknown, no bound), a skip given a bound, then a priced answer
            RunRecord("dark", "ana", "skill.analysis", now - 100, ended_at=now - 99, status="ok"),
            [
                _attempt("dark", now - 100, "error", 0, "ana", target=("compat", "mystery"), error="timeout"),
                _attempt("dark", now - 100, "skipped", 1, "ana", cost_bound_usd=Decimal("0.05")),
                _attempt("dark", now - 100, "ok", 2, "ana", cost_usd=Decimal("0.1"), **ok),
            ],
        ),
        (  # yesterday: a skip, then a priced answer
            RunRecord("old", "bo", "skill.analysis", yesterday, ended_at=yesterday + 1, status="ok"),
            [
                _attempt("old", yesterday, "skipped", 0, "bo"),
                _attempt("old", yesterday, "ok", 1, "bo", cost_usd=Decimal("0.5"), **ok),
            ],
        ),
        (  # the same run's second call, refused by a policy
            RunRecord("old", "bo", "skill.analysis", yesterday + 10, ended_at=yesterday + 10, status="policy_denied"),
            [_attempt("old", yesterday + 10, "policy_denied", 0, "bo")],
        ),
        (  # no agent, nothing configured: skipped
            RunRecord("bare", None, "skill.analysis", now - 50, ended_at=now - 50, status="error"),
            [_attempt("bare", now - 50, "skipped", 0, None)],
        ),
    ]


async def _record(db: Path, now: float) -> None:
    async with Ledger(db) as ledger:
        for run, attempts in _calls(now):
            await ledger.record_call(run, attempts)


@contextmanager
def _the_version_before(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """This process as the version before 0022 (it knows every migration from 0022 on), until the block ends."""
    from magsag_mcp.ledger import connection, migrations
    from tests.older_version import (
        reserve_without_owners,
        serve_without_memory,
        summarize_without_cache_hits,
        write_without_served_model,
    )

    with monkeypatch.context() as m:
        m.setattr(migrations, "MIGRATIONS", BEFORE)
        m.setattr(connection, "MIGRATIONS", BEFORE)
        write_without_served_model(m.setattr)
        serve_without_memory(m.setattr)
        reserve_without_owners(m.setattr)
        summarize_without_cache_hits(m.setattr)
        yield m


async def _older(db: Path, now: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger the version before 0022 recorded: its attempts never sent given no cost written NULL."""
    from tests.older_version import write_unsent_at_null

    with _the_version_before(monkeypatch) as m:
        write_unsent_at_null(m.setattr)
        await _record(db, now)


#: every table a call's record writes, row for row (schema_migrations aside: its times differ)
TABLES = {
    "attempts": "SELECT * FROM attempts ORDER BY id",
    "runs": "SELECT * FROM runs ORDER BY run_id",
    "usage_rollup": "SELECT * FROM usage_rollup ORDER BY bucket, model, provider, agent, skill, outcome",
    "agent_spend": "SELECT * FROM agent_spend ORDER BY agent, bucket",
    "day_spend": "SELECT * FROM day_spend ORDER BY bucket",
    "budget_reservations": "SELECT * FROM budget_reservations ORDER BY id",
}


def _tables(db: Path, *, recorded_before_0033: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of each table; ``recorded_before_0033``: its attempts as this version reads them (older_version's
    attempts_as_read_after_0033)."""
    conn = sqlite3.connect(db)
    try:
        tables = {table: conn.execute(sql).fetchall() for table, sql in TABLES.items()}
        if recorded_before_0033:
            tables["attempts"] = attempts_as_read_after_0033(conn, tables["attempts"])
        return tables
    finally:
        conn.close()


async def _answers(db: Path, now: float) -> dict[str, Any]:
    """What check_budget (a run limit, an agent's day, every call's day), summarize (whole, by run, by agent, a part of
    today read from the attempts, yesterday read from the rollup) and query_runs say of the ledger (``now``: when the
    calls were made)."""
    out: dict[str, Any] = {}
    async with Ledger(db) as ledger:
        gov = Governance(
            limits(max_cost_per_run_usd="5", max_cost_per_agent_daily_usd="5", max_cost_per_day_usd="5"),
            ledger,
            FixedPricer("0.1"),
        )
        for agent, run in (("ana", "top"), ("ana", "sub"), ("ana", "dark"), ("bo", "old"), (None, "bare")):
            out[f"budget {agent} {run}"] = await gov.check_budget(agent=agent, run_id=run)
        for name, filters in {
            "all": {},
            "top": {"run_id": "top"},
            "ana": {"agent": "ana"},
            "today": {"since": str(now - 250)},
            "yesterday": {"until": str(now - 3600)},
        }.items():
            out[f"summary {name}"] = await ledger.summarize(filters)
        out["runs"] = await ledger.query_runs(UsageFilters(limit=50))
        out["spend top"] = (await ledger.run_spend("top")).to_dict()
    return out


async def test_an_older_ledgers_attempts_never_sent_are_set_to_zero_and_no_counter_counts_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    now = time.time()
    fresh, older = tmp_path / "fresh.db", tmp_path / "older.db"
    await _record(fresh, now)
    await _older(older, now, monkeypatch)

    # what the version before left: six attempts NULL, each counted unpriced in its run and rollup row
    conn = sqlite3.connect(older)
    assert NAME not in {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
    nulls = conn.execute(
        "SELECT run_id, outcome FROM attempts WHERE cost_pusd IS NULL AND cost_bound_pusd IS NULL"
        " AND outcome != 'error' ORDER BY id"
    ).fetchall()
    assert nulls == [
        ("top", "skipped"), ("top", "policy_denied"), ("sub", "budget_exceeded"), ("old", "skipped"),
        ("old", "policy_denied"), ("bare", "skipped"),
    ]  # fmt: skip
    unpriced = dict(conn.execute("SELECT run_id, unpriced_calls FROM runs").fetchall())
    assert unpriced == {"top": 2, "sub": 1, "dark": 2, "old": 2, "bare": 1}
    assert conn.execute("SELECT SUM(unpriced), SUM(bounded) FROM usage_rollup").fetchone() == (8, 1)
    conn.close()
    before, want = _tables(older), _tables(fresh)
    assert before != want
    # the state this migration exists for: the version before's figures count them, as no fresh ledger does
    old_answers = await _answers_unmigrated(older, now, monkeypatch)
    run_limit = next(lim for lim in old_answers["budget ana top"]["limits"] if lim["limit"] == "run")
    counted = (run_limit["unpriced_attempts"], run_limit["unbounded_attempts"], run_limit["cost_complete"])
    assert counted == (3, 3, False)  # top's skip and refusal, sub's refusal

    answers = await _answers(older, now)  # (the open migrates it)
    assert _tables(older, recorded_before_0033=True) == want
    expected = await _answers(fresh, now)
    # each ledger's data_classes_since is when its own 0027 ran (both hold calls begun before it: yesterday's), the
    # rest the same
    assert since_set_apart(answers, when_0027_ran(older)) == since_set_apart(expected, when_0027_ran(fresh))
    run_limit = next(lim for lim in answers["budget ana top"]["limits"] if lim["limit"] == "run")
    assert (run_limit["unpriced_attempts"], run_limit["cost_complete"], run_limit["spent_usd"]) == (0, True, "0.25")
    # what stays unknown: the sent attempt of no known price, and the skip given a bound
    dark = next(lim for lim in answers["budget ana dark"]["limits"] if lim["limit"] == "run")
    assert (dark["unpriced_attempts"], dark["unbounded_attempts"], dark["unknown_cost_bound_usd"]) == (2, 1, "0.05")
    assert {r["run_id"]: r["unpriced_attempts"] for r in answers["runs"]} == {
        "top": 0, "sub": 0, "dark": 2, "old": 0, "bare": 0,
    }  # fmt: skip


async def _answers_unmigrated(db: Path, now: float, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """:func:`_answers` as the version before 0022 reads the ledger (it is left unmigrated)."""
    with _the_version_before(monkeypatch):
        return await _answers(db, now)


def _migration_sql() -> str:
    return dict(MIGRATIONS)[NAME]


async def test_the_migration_made_again_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # applied once per ledger (schema_migrations, under BEGIN IMMEDIATE); its statements made a second time (a
    # ledger whose record of it was lost) find nothing left to change: no counter is lowered twice
    from magsag_mcp.ledger.migrations import migrate

    now = time.time()
    db = tmp_path / "older.db"
    await _older(db, now, monkeypatch)
    async with Ledger(db):
        pass
    once = _tables(db)
    conn = sqlite3.connect(db, isolation_level=None)
    assert migrate(conn) == []
    conn.execute("BEGIN IMMEDIATE")
    for statement in (s.strip() for s in _migration_sql().split(";")):
        if statement:
            conn.execute(statement)
    conn.execute("COMMIT")
    conn.close()
    assert _tables(db) == once


async def test_processes_opening_an_older_ledger_at_once_lower_its_counters_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    now = time.time()
    fresh, older = tmp_path / "fresh.db", tmp_path / "older.db"
    await _record(fresh, now)
    await _older(older, now, monkeypatch)
    assert open_at_once(older, 4) == [0] * 4
    assert _tables(older, recorded_before_0033=True) == _tables(fresh)
    conn = sqlite3.connect(older)
    assert conn.execute("SELECT COUNT(*) FROM schema_migrations WHERE name = ?", (NAME,)).fetchone()[0] == 1
    assert conn.execute("SELECT COUNT(*) FROM events WHERE event = 'opened'").fetchone()[0] == 4
    conn.close()


async def test_a_rollup_row_whose_attempts_are_gone_is_righted_by_its_own_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # A never-sent outcome's row counts in unpriced its attempts of unknown cost, in bounded those of them with a
    # bound: the rest were written NULL with no bound, so the row is righted even where its attempts are gone. A
    # rollup row keeps its bounded attempts (a skip given a bound stays an unknown cost)
    now = time.time()
    db = tmp_path / "older.db"
    await _older(db, now, monkeypatch)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DELETE FROM attempts WHERE run_id = 'old'")  # yesterday's attempts alone are gone
    conn.close()
    async with Ledger(db) as ledger:
        yesterday = await ledger.summarize({"until": str(now - 3600)})
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT outcome, SUM(attempts), SUM(unpriced), SUM(bounded) FROM usage_rollup"
        " WHERE outcome IN ('skipped', 'policy_denied', 'budget_exceeded') GROUP BY outcome ORDER BY outcome"
    ).fetchall()
    conn.close()
    assert rows == [("budget_exceeded", 1, 0, 0), ("policy_denied", 2, 0, 0), ("skipped", 4, 1, 1)]
    assert yesterday["totals"]["unpriced_attempts"] == 0


@pytest.mark.parametrize("version", [7, 13, 21])
def test_a_ledger_of_an_earlier_schema_gets_its_attempts_never_sent_at_zero(tmp_path: Path, version: int):
    # from 0007 (the bound's column) on, a never-sent attempt of no cost was written NULL (0006 set those recorded
    # before it to $0) and counted in its run's and rollup row's unpriced: the migration reads no later column
    from magsag_mcp.ledger import migrations

    conn = ledger_of_schema(tmp_path / f"v{version}.db", MIGRATIONS[:version])
    day = 20_390
    conn.executescript(
        f"""
        INSERT INTO attempts (run_id, started_at, provider, model, agent, outcome, cost_pusd)
            VALUES ('r', {day * 86400.0 + 5}, 'openai', 'gpt-4o', 'a', 'skipped', NULL),
                   ('r', {day * 86400.0 + 5}, 'openai', 'gpt-4o', 'a', 'ok', 7);
        INSERT INTO runs (run_id, agent, started_at, status, calls, cost_pusd, unpriced_calls)
            VALUES ('r', 'a', {day * 86400.0 + 5}, 'ok', 1, 7, 1);
        INSERT INTO usage_rollup (bucket, model, provider, agent, skill, outcome, attempts, cost_pusd, unpriced)
            VALUES ({day}, 'gpt-4o', 'openai', 'a', '', 'skipped', 1, 0, 1),
                   ({day}, 'gpt-4o', 'openai', 'a', '', 'ok', 1, 7, 0);
        """
    )
    assert NAME in migrations.migrate(conn)  # (and the migrations after it)
    assert conn.execute("SELECT outcome, cost_pusd FROM attempts ORDER BY id").fetchall() == [("skipped", 0), ("ok", 7)]
    assert conn.execute("SELECT unpriced_calls, cost_pusd FROM runs").fetchall() == [(0, 7)]
    assert conn.execute("SELECT outcome, unpriced FROM usage_rollup ORDER BY outcome").fetchall() == [
        ("ok", 0),
        ("skipped", 0),
    ]
    conn.close()


def test_the_migration_names_the_outcomes_the_writer_takes_for_never_sent():
    from magsag_mcp.ledger.writes import NEVER_SENT

    sql = _migration_sql()
    listed = "('skipped', 'policy_denied', 'budget_exceeded')"
    assert sql.count(listed) == 2 and set(UNSENT) == NEVER_SENT
