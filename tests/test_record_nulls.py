"""A record's NULLs (ledger/writes.py ``_NAN``): the columns a call leaves empty (no error, no warnings, no bound, no
service tier, no agent...) are bound as NaN, which SQLite stores as NULL, not as None, which the sqlite3 module binds
through its adapter registry at some 1,100 instructions each (7 to 9 a recorded call). What is written must not
change: every such column reads NULL (not a REAL NaN, not the text 'nan'), read back by the ledger's own reads as None,
inline and through the group commit; and a process that adapts floats itself (which would be handed the NaN) gets
its NULLs bound as None, as before."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio

#: the columns a call that succeeded, with no agent of its own, leaves NULL
_RUN_NULLS = ("agent", "parent_run_id", "error_class", "error_message")
_ATTEMPT_NULLS = ("agent", "error_class", "error_message", "warnings", "cost_bound_pusd", "service_tier")


def _call(run_id: str, *, agent: str | None = None, failed: bool = False) -> tuple[RunRecord, list[AttemptRecord]]:
    now = time.time()
    run = RunRecord(run_id, agent, "skill.analysis", now, ended_at=now + 1, status="error" if failed else "ok")
    attempt = AttemptRecord(run_id, now, "openai", "gpt-4o", "skill.analysis", agent, "ok", 0, 1, input_tokens=20,
                            output_tokens=5, cost_usd=Decimal("0.0001"), price_source="genai-prices")  # fmt: skip
    if failed:  # no price known, a bound: its cost NULL and its price source none
        attempt.outcome, attempt.error_class, attempt.error_message = "error", "server_error", "upstream said: 500"
        attempt.cost_usd, attempt.cost_bound_usd, attempt.price_source = None, Decimal("0.002"), None
    return run, [attempt]


def _types(db: Path, table: str, columns: tuple[str, ...], run_id: str) -> dict[str, str]:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute(
            f"SELECT {', '.join(f'typeof({c})' for c in columns)} FROM {table} WHERE run_id = ?", (run_id,)
        ).fetchone()
    finally:
        conn.close()
    return dict(zip(columns, row, strict=True))


@pytest.mark.parametrize("alone", [True, False], ids=["inline", "group-commit"])
async def test_the_columns_a_call_leaves_empty_are_written_null(tmp_path: Path, alone: bool):
    db = tmp_path / "l.db"
    async with Ledger(db) as ledger:
        await ledger.record_call(*_call("r-ok"), alone=alone)
        error = E.MagsagError("all targets failed")
        await ledger.record_call(*_call("r-failed", failed=True), error=error, alone=alone)
        attempts = await ledger.attempts_by_id(await ledger.run_attempt_ids("r-ok", 10))
    assert set(_types(db, "runs", _RUN_NULLS, "r-ok").values()) == {"null"}
    assert set(_types(db, "attempts", (*_ATTEMPT_NULLS, "call_cost_pusd"), "r-ok").values()) == {"null", "integer"}
    assert set(_types(db, "attempts", _ATTEMPT_NULLS, "r-ok").values()) == {"null"}
    failed = _types(db, "attempts", ("cost_pusd", "price_source", "warnings", "service_tier"), "r-failed")
    assert set(failed.values()) == {"null"}
    run = _types(db, "runs", ("parent_run_id", "error_class", "error_message", "agent"), "r-failed")
    assert run == {"parent_run_id": "null", "error_class": "text", "error_message": "text", "agent": "null"}
    # and read back as the ledger reads them
    (a,) = attempts
    assert (a["error_class"], a["error_message"], a["service_tier"], a["agent"]) == (None, None, None, None)
    assert a["warnings"] == [] and a["cost_bound_usd"] is None


async def test_a_recorded_call_binds_no_none_but_its_parent_and_reservation(tmp_path: Path, monkeypatch):
    """The cut itself: a None bound goes through sqlite3's adapter registry (counted here by an adapter of our own);
    the run's parent and the attempt's reservation id, which the record's statements read in Python, stay None."""
    seen: list[Any] = []

    def adapt_none(value: None) -> None:
        seen.append(value)
        return value

    monkeypatch.setitem(sqlite3.adapters, (type(None), sqlite3.PrepareProtocol), adapt_none)
    db = tmp_path / "l.db"
    async with Ledger(db) as ledger:
        seen.clear()  # (what opening the ledger bound)
        await ledger.record_call(*_call("r-ok"), alone=True)
    assert len(seen) == 2  # the run's parent and the attempt's reservation id (before: 11)


async def test_a_process_that_adapts_floats_gets_its_nulls_bound_as_none(tmp_path: Path, monkeypatch):
    """An adapter for float (an application's own, registered process-wide) would be handed the NaN and could write
    it as anything (here its text): the record's rows then bind None, and every empty column is still NULL."""
    monkeypatch.setitem(sqlite3.adapters, (float, sqlite3.PrepareProtocol), repr)
    db = tmp_path / "l.db"
    async with Ledger(db) as ledger:
        await ledger.record_call(*_call("r-ok"), alone=True)
    assert set(_types(db, "runs", _RUN_NULLS, "r-ok").values()) == {"null"}
    assert set(_types(db, "attempts", _ATTEMPT_NULLS, "r-ok").values()) == {"null"}
