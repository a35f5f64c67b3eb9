"""The status a run is recorded with: given back when an abandoned call's stand-in is replaced by its record, kept
failed while another stand-in or a bug of ours failed it."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.records import AttemptRecord, RunRecord
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("earlier", ["ok", "failed"])
def test_a_late_record_replacing_an_abandoned_stand_in_gives_the_run_back_the_status_its_calls_have(
    tmp_path: Path, earlier: str
):
    """A run whose calls had all succeeded, and whose next call's reservation another process swept as abandoned
    (its process suspended, not dead), showed status 'error' for good once that call recorded after all: the
    stand-in was taken back from every count but the run's status. A run a call of its own had failed stays failed."""
    from magsag_mcp.ledger.abandoned import record_abandoned
    from magsag_mcp.ledger.migrations import migrate
    from magsag_mcp.ledger.writes import RecordWrite

    now = 1_796_198_667.0
    conn = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
    migrate(conn)

    def call(status: str, reservation: int | None = None, error: E.MagsagError | None = None) -> RecordWrite:
        attempt = AttemptRecord(
            run_id="r",
            started_at=now,
            provider="openai",
            model="gpt-4o",
            skill="s",
            agent="ag",
            outcome="ok" if status == "ok" else "error",
            fallback_position=0,
            attempt_number=1,
            cost_usd=Decimal("0.05"),
            reservation_id=reservation,
        )
        return RecordWrite.of(RunRecord("r", "ag", "s", now, ended_at=now + 1, status=status), [attempt], error)

    if earlier == "ok":
        call("ok")(conn)
    else:
        call("error", error=E.ProviderError("the vendor failed"))(conn)
    conn.execute(
        "INSERT INTO budget_reservations (id, run_id, agent, created_at, expires_at, amount_pusd, state, provider,"
        " model, skill) VALUES (7, 'r', 'ag', ?, ?, 100000000000, 'held', 'openai', 'gpt-4o', 's')",
        (now, now + 1),
    )
    assert record_abandoned(conn, now + 10) == 1
    assert conn.execute("SELECT status FROM runs").fetchone() == ("error",)  # the stand-in failed the run
    call("ok", reservation=7)(conn)  # the call it stood for records after all, succeeded
    status, error_class, calls = conn.execute("SELECT status, error_class, calls FROM runs").fetchone()
    assert calls == 2
    if earlier == "ok":
        assert (status, error_class) == ("ok", None)
    else:
        assert status == "error" and error_class is not None


def test_a_run_keeps_its_failed_status_while_another_abandoned_stand_in_is_left_in_it(tmp_path: Path):
    """Two calls of a run swept as abandoned (their reservations expired): the first call's record lands after all,
    the second's never does. The run's status was given back as 'ok' when the first stand-in was taken back, though the
    second (a call that may have been billed, its cost unknown) still failed the run."""
    from magsag_mcp.ledger.abandoned import record_abandoned
    from magsag_mcp.ledger.migrations import migrate
    from magsag_mcp.ledger.writes import RecordWrite

    now = 1_796_198_667.0
    conn = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
    migrate(conn)

    def call(reservation: int | None = None) -> RecordWrite:
        attempt = AttemptRecord(
            "r", now, "openai", "gpt-4o", "s", "ag", "ok", 0, 1, cost_usd=Decimal("0.05"), reservation_id=reservation
        )
        return RecordWrite.of(RunRecord("r", "ag", "s", now, ended_at=now + 1, status="ok"), [attempt])

    call()(conn)
    for rid in (7, 8):
        conn.execute(
            "INSERT INTO budget_reservations (id, run_id, agent, created_at, expires_at, amount_pusd, state, provider,"
            " model, skill) VALUES (?, 'r', 'ag', ?, ?, 100000000000, 'held', 'openai', 'gpt-4o', 's')",
            (rid, now, now + 1),
        )
    assert record_abandoned(conn, now + 10) == 2
    call(reservation=7)(conn)  # the first swept call records after all; the second never does
    assert conn.execute("SELECT status, calls FROM runs").fetchone() == ("error", 3)
    assert conn.execute("SELECT COUNT(*) FROM attempts WHERE error_class = 'abandoned'").fetchone() == (1,)
    call(reservation=8)(conn)  # and once the second records too, the run's calls have all succeeded
    assert conn.execute("SELECT status, calls FROM runs").fetchone() == ("ok", 3)
    conn.close()


@pytest.mark.anyio
async def test_a_call_a_bug_failed_keeps_its_run_failed_after_a_stand_in_is_replaced(tmp_path: Path, monkeypatch):
    """A call that a bug of ours failed (an exception outside errors.py's tree) was recorded with no error kind: the
    same mark the abandoned stand-in leaves, so when another call of the run, swept as abandoned, recorded after all
    and succeeded, the run was turned back to 'ok', the bug hidden; and a query showed the failure with no reason."""
    from magsag_mcp.ledger.abandoned import record_abandoned
    from magsag_mcp.ledger.writes import RecordWrite

    catalog = Path(__file__).resolve().parent.parent / "catalog"
    db = tmp_path / "l.db"
    async with await Service.open(catalog=catalog, db=db, env={"MAGSAG_PROVIDER": "fake"}) as svc:

        def broken(*args: object, **kwargs: object) -> None:
            raise KeyError("the plan's missing key")

        monkeypatch.setattr(svc, "plan", broken)
        # raised as the tree's error (kind error) naming the run, from the KeyError (tests/test_our_bugs.py)
        with pytest.raises(E.MagsagError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x"}, run_id="r", agent="ag")
        assert isinstance(info.value.__cause__, KeyError) and info.value.kind == "error"
    conn = sqlite3.connect(db, isolation_level=None)
    status, error_class, message = conn.execute("SELECT status, error_class, error_message FROM runs").fetchone()
    assert (status, error_class) == ("error", "error")
    assert "unexpected KeyError in magsag-mcp (a bug)" in message and "the plan's missing key" in message
    now = time.time()
    conn.execute(
        "INSERT INTO budget_reservations (id, run_id, agent, created_at, expires_at, amount_pusd, state, provider,"
        " model, skill) VALUES (7, 'r', 'ag', ?, ?, 100000000000, 'held', 'openai', 'gpt-4o', 's')",
        (now, now + 1),
    )
    assert record_abandoned(conn, now + 10) == 1
    attempt = AttemptRecord(
        run_id="r",
        started_at=now,
        provider="openai",
        model="gpt-4o",
        skill="s",
        agent="ag",
        outcome="ok",
        fallback_position=0,
        attempt_number=1,
        cost_usd=Decimal("0.05"),
        reservation_id=7,
    )
    RecordWrite.of(RunRecord("r", "ag", "s", now, ended_at=now + 1, status="ok"), [attempt], None)(conn)
    assert conn.execute("SELECT status, error_class, calls FROM runs").fetchone() == ("error", "error", 2)


@pytest.mark.anyio
async def test_a_bug_while_the_result_is_built_is_not_recorded_as_ok(tmp_path: Path, monkeypatch):
    """The call's record said 'ok' before its result was built: a bug there (its warnings, its output) reached the
    caller as an exception while the ledger kept the run as succeeded. Now the result is built first, and a bug in
    it records the run failed, with the bug's kind and message."""
    import magsag_mcp.service as service_module

    def broken(*args: object, **kwargs: object) -> list[str]:
        raise TypeError("a warning that could not be built")

    catalog = Path(__file__).resolve().parent.parent / "catalog"
    db = tmp_path / "l.db"
    async with await Service.open(catalog=catalog, db=db, env={"MAGSAG_PROVIDER": "fake"}) as svc:
        monkeypatch.setattr(service_module, "result_warnings", broken)
        # raised as the tree's error (kind error) naming the run, from the TypeError (tests/test_our_bugs.py)
        with pytest.raises(E.MagsagError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x"}, run_id="r")
        assert isinstance(info.value.__cause__, TypeError) and info.value.run_id == "r"
    conn = sqlite3.connect(db)
    status, error_class, message = conn.execute("SELECT status, error_class, error_message FROM runs").fetchone()
    assert (status, error_class) == ("error", "error") and "unexpected TypeError" in message
    assert conn.execute("SELECT outcome FROM attempts").fetchall() == [("ok",)]  # (the answer came, and is paid for)
