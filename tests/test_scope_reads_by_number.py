"""A reservation's reads of its scopes (governance/scope_sums.py) bind their parameters by number, from a tuple: a dict
binds each name through a string made from it and looked up, with the GIL released around SQLite's lookup of the name
(some 1,500 instructions a parameter, four on every call with a run and an agent's daily limit). What they read is
the same, which the budget tests check; here, that the statements a lone reservation and a batch run are given no
named parameters, and that a run's scope read so still counts its delegated runs and its holds."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.governance import budget
from magsag_mcp.governance.policy import Limit
from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.run_scope import RUN_SCOPE_ROWS, run_scope_rows
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio

LIMITS = [
    Limit("run", Decimal("5"), "cap", False),
    Limit("day", Decimal("50"), "cap", False),
    Limit("agent_day", Decimal("20"), "cap", False, "Europe/Paris"),
]


class _Seen(sqlite3.Cursor):
    given: list[tuple[str, Any]] = []

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # type: ignore[override]
        self.given.append((sql, parameters))
        return super().execute(sql, parameters)


class _Watched(sqlite3.Connection):
    def cursor(self, factory: Any = _Seen) -> Any:  # type: ignore[override]
        return super().cursor(factory)


async def _ledger(tmp_path: Path) -> Path:
    """A ledger where run p (agent alice) has spent $1 through its delegated run c."""
    db = tmp_path / "l.db"
    async with Ledger(db) as ledger:
        run = RunRecord("c", "alice", "skill.analysis", 1.0, parent_run_id="p", ended_at=2.0, status="ok")
        attempt = AttemptRecord("c", 1.0, "openai", "gpt-4o", "skill.analysis", "alice", "ok", 0, 1,
                                cost_usd=Decimal(1), price_source="genai-prices")  # fmt: skip
        await ledger.record_call(run, [attempt], alone=True)
    return db


def _reserve(db: Path, reservations: list[budget.Reservation]) -> tuple[list[tuple[bool, Any]], list[Any]]:
    _Seen.given = []
    conn = sqlite3.connect(db, factory=_Watched, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        results = budget.Reservation.apply_all(conn, reservations)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return results, [params for sql, params in _Seen.given if sql.lstrip().upper().startswith("SELECT")]


async def test_a_lone_reservations_scope_reads_bind_no_names(tmp_path: Path):
    db = await _ledger(tmp_path)
    results, reads = _reserve(db, [budget.Reservation(LIMITS, Decimal("3.5"), "p", "alice")])
    assert results[0][0] is True
    assert len(reads) == 3 and all(isinstance(params, tuple) for params in reads)  # before: dicts, {"run": "p"}...
    # p's scope counts c's $1 and the $3.50 just held: a second hold of $1 passes its $5 limit
    results, _ = _reserve(db, [budget.Reservation(LIMITS, Decimal("1"), "p", "alice")])
    assert results[0][0] is False and "run" in str(results[0][1])


async def test_a_batchs_scope_reads_bind_no_names(tmp_path: Path):
    db = await _ledger(tmp_path)
    batch = [
        budget.Reservation(LIMITS, Decimal("2"), "p", "alice"),
        budget.Reservation(LIMITS, Decimal("2"), "q", "bob"),
    ]
    results, reads = _reserve(db, batch)
    assert [ok for ok, _ in results] == [True, True]
    assert reads and all(not isinstance(params, dict) for params in reads)


def test_a_run_scopes_rows_are_one_definition_named_or_numbered():
    assert run_scope_rows(":run") == RUN_SCOPE_ROWS
    assert run_scope_rows("?1") == RUN_SCOPE_ROWS.replace(":run", "?1")
