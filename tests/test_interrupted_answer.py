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

from magsag_mcp.ledger.money import to_pusd
from magsag_mcp.providers.fake import clear_scripts, script
from magsag_mcp.service import Service

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


@pytest.mark.parametrize("exit_", [KeyboardInterrupt, SystemExit], ids=["ctrl-c", "sys-exit"])
async def test_an_exit_after_the_answer_records_it_at_its_cost(
    catalog_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exit_: type[BaseException]
):
    # priced (a dollar a million tokens each way) and under a run limit, so that the attempt holds a reservation
    (catalog_copy / "prices.yaml").write_text('"fake:*": {input: 1.0, output: 1.0}\n')
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 1}\n"
    )
    script("a", {"text": "paid for", "usage": {"input_tokens": 40, "output_tokens": 120}})

    def interrupted(*_: object) -> None:  # (the exit lands while the result is built)
        raise exit_()

    db = tmp_path / "g.db"
    svc = await Service.open(catalog=catalog_copy, db=db)
    monkeypatch.setattr(svc, "_result", interrupted)
    try:
        with pytest.raises(exit_):
            await svc.invoke_skill(
                "skill.analysis", {"data": "d", "model_config": {"model": "fake:a", "max_tokens": 300}}, run_id="r"
            )
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

    (catalog_copy / "prices.yaml").write_text('"fake:*": {input: 1.0, output: 1.0}\n')
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 1}\n"
    )
    script("a", {"text": "paid for", "usage": {"input_tokens": 40, "output_tokens": 120}})
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
        with pytest.raises(KeyboardInterrupt):
            await svc.invoke_skill(
                "skill.analysis", {"data": "d", "model_config": {"model": "fake:a", "max_tokens": 300}}, run_id="r"
            )
    finally:
        await svc.aclose()
    attempts, runs, held = _ledger(db)
    cost = to_pusd(Decimal(160) / 1_000_000)
    # before: nothing recorded, the reservation held (swept at its worst case once it expired)
    assert attempts == [("ok", None, 40, 120, cost, None)]
    assert runs == [("r", 1, "ok", 0, cost)]
    assert held == 0
