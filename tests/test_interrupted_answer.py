"""An interpreter exit (Ctrl-C raised on the loop's thread, ``SystemExit``) that lands once the cascade has returned a
paid answer and before the call's record is written (while its result is built). Nothing caught it there: the call
left no run and no attempt, and its budget reservation stayed held until it expired, when a sweep recorded it as an
abandoned attempt at its worst case, "the provider may bill it", for an answer whose usage was known. The call is now
recorded as an interrupted one is: its attempt at its real cost, its reservation going with the record."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.kept_records import KeptRecords
from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.money import to_pusd
from magsag_mcp.providers.fake import clear_scripts, script
from magsag_mcp.records import AttemptRecord, RunRecord
from magsag_mcp.service import Service
from tests.shutdown_helpers import exit_once_queued

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _no_scripts_left():
    yield
    clear_scripts()


def _ledger(db: Path) -> tuple[list[tuple], list[tuple], int]:
    conn = sqlite3.connect(db)
    try:
        attempts = conn.execute(
            "SELECT outcome, error_class, input_tokens, output_tokens, cost_pusd, cost_bound_pusd FROM attempts"
        ).fetchall()
        runs = conn.execute("SELECT run_id, calls, status, unpriced_calls, cost_pusd FROM runs").fetchall()
        held = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    finally:
        conn.close()
    return attempts, runs, held


def _paid_answer_under_a_run_limit(catalog_copy: Path) -> None:
    """fake:a answers 40 in, 120 out, priced (a dollar a million tokens each way: $0.00016) and under a run limit,
    so that the attempt holds a reservation."""
    (catalog_copy / "prices.yaml").write_text('"fake:*": {input: 1.0, output: 1.0}\n')
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 1}\n"
    )
    script("a", {"text": "paid for", "usage": {"input_tokens": 40, "output_tokens": 120}})


async def _invoked_interrupted(svc: Service, exit_: type[BaseException]) -> None:
    """skill.analysis of fake:a in run r, which the exit ``exit_`` leaves."""
    with pytest.raises(exit_):
        await svc.invoke_skill(
            "skill.analysis", {"data": "d", "model_config": {"model": "fake:a", "max_tokens": 300}}, run_id="r"
        )


@pytest.mark.parametrize("exit_", [KeyboardInterrupt, SystemExit], ids=["ctrl-c", "sys-exit"])
async def test_an_exit_after_the_answer_records_it_at_its_cost(
    catalog_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exit_: type[BaseException]
):
    _paid_answer_under_a_run_limit(catalog_copy)

    def interrupted(*_: object) -> None:  # (the exit lands while the result is built)
        raise exit_()

    db = tmp_path / "g.db"
    svc = await Service.open(catalog=catalog_copy, db=db)
    monkeypatch.setattr(svc, "_result", interrupted)
    try:
        await _invoked_interrupted(svc, exit_)
    finally:
        await svc.aclose()
    attempts, runs, held = _ledger(db)
    cost = to_pusd(Decimal(160) / 1_000_000)
    # before: no attempt and no run, the reservation held (to be swept at its worst case once it expired)
    assert attempts == [("ok", None, 40, 120, cost, None)]
    assert runs == [("r", 1, "cancelled", 0, cost)]
    assert held == 0


async def test_an_exit_while_the_answers_record_is_built_keeps_it_for_the_close(
    catalog_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # The exit lands while the record of the call that answered is built, before it is handed to the ledger: the
    # record was dropped with the kept ones (taken out of the kept list first), and the reservation left to the sweep.
    # It is kept, and the close writes it, as it writes a record the ledger refused.
    from magsag_mcp.ledger import recording

    _paid_answer_under_a_run_limit(catalog_copy)
    build = recording.RecordWrite.of
    built: list[str] = []

    def interrupted_once(run, attempts, error=None):  # type: ignore[no-untyped-def]
        built.append(run.run_id)
        if len(built) == 1:
            raise KeyboardInterrupt
        return build(run, attempts, error)

    monkeypatch.setattr(recording.RecordWrite, "of", interrupted_once)
    db = tmp_path / "g.db"
    svc = await Service.open(catalog=catalog_copy, db=db)
    try:
        await _invoked_interrupted(svc, KeyboardInterrupt)
    finally:
        await svc.aclose()
    attempts, runs, held = _ledger(db)
    cost = to_pusd(Decimal(160) / 1_000_000)
    # before: nothing recorded, the reservation held (swept at its worst case once it expired)
    assert attempts == [("ok", None, 40, 120, cost, None)]
    assert runs == [("r", 1, "ok", 0, cost)]
    assert held == 0


class _ExitAfterTheRecordsCommit:
    """The inline connection's cursor (see Ledger.try_now), whose COMMIT of a call's record is followed by a
    KeyboardInterrupt: a SIGINT arriving while the COMMIT runs (its fsync, the longest part of a durable write) is
    raised as the COMMIT returns, inside try_now, with the record committed."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor
        self.fired = False

    def __getattr__(self, name: str) -> object:
        return getattr(self._cursor, name)

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        out = self._cursor.execute(sql, *args)
        if sql == "COMMIT" and not self.fired:
            if self._cursor.connection.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]:
                self.fired = True
                raise KeyboardInterrupt
        return out


async def test_an_exit_as_the_answers_record_commits_does_not_write_it_again_at_close(
    catalog_copy: Path, tmp_path: Path
):
    _paid_answer_under_a_run_limit(catalog_copy)
    db = tmp_path / "g.db"
    svc = await Service.open(catalog=catalog_copy, db=db)
    cursor = svc.ledger._inline_cursor = _ExitAfterTheRecordsCommit(svc.ledger._inline_cursor)
    try:
        await _invoked_interrupted(svc, KeyboardInterrupt)
    finally:
        await svc.aclose()
    assert cursor.fired  # (the record was written inline, alone)
    attempts, runs, held = _ledger(db)
    cost = to_pusd(Decimal(160) / 1_000_000)
    # before: the committed record was kept all the same, and the close wrote it again: two attempts, the run's two
    # calls and its cost counted twice in every limit and report
    assert attempts == [("ok", None, 40, 120, cost, None)]
    assert runs == [("r", 1, "ok", 0, cost)]
    assert held == 0


async def test_an_exit_once_the_record_is_queued_does_not_write_it_again_at_close(tmp_path: Path):
    db = tmp_path / "q.db"
    ledger = Ledger(db)
    await ledger.open()
    kept = KeptRecords(ledger)
    attempt = AttemptRecord("r", 1.0, "openai", "m", "s", None, "ok", 0, 1, cost_usd=Decimal("0.01"))
    try:
        exit_once_queued(ledger)
        with pytest.raises(KeyboardInterrupt):
            await kept.write((RunRecord("r", None, "s", 1.0, ended_at=2.0, status="ok"), [attempt], None))
        # before: kept all the same, and written twice: by the writer, and again by the close
        assert kept.pending == []
        await kept.write_at_close()
    finally:
        await ledger.close()
    attempts, runs, _ = _ledger(db)
    assert len(attempts) == 1
    assert runs == [("r", 1, "ok", 0, to_pusd(Decimal("0.01")))]
