"""An interpreter exit raised through a call (Ctrl-C on a loop run without asyncio's runner, ``sys.exit`` in a progress
callback) once its request may have left: the attempt was given back as if never sent and the call not recorded, so
a request the vendor may bill vanished from the ledger, with the call's earlier attempts. Both are now recorded as a
cancelled call's are: the attempt ``cancelled``, its cost unknown and bounded by its reservation ("the provider may
still bill it"), its reservation going with that record."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.fake import FakeProvider, clear_scripts, script
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio

RETRIES = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002"}


@pytest.fixture(autouse=True)
def _no_scripts_left():
    yield
    clear_scripts()


async def _interrupted(catalog: Path, db: Path, *steps: object) -> BaseException:
    """Invoke ``fake:a`` (scripted ``steps``) under a run limit, so that each attempt holds a reservation; the
    exception the call raised."""
    (catalog / "prices.yaml").write_text('"fake:*": {input: 1.0, output: 1.0}\n')
    (catalog / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 1}\n"
    )
    script("a", *steps)
    svc = await Service.open(catalog=catalog, db=db, env=RETRIES)
    try:
        with pytest.raises(BaseException) as info:
            await svc.invoke_skill(
                "skill.analysis", {"data": "d", "model_config": {"model": "fake:a", "max_tokens": 100}}, run_id="r"
            )
    finally:
        await svc.aclose()
    return info.value


def _ledger(db: Path) -> tuple[list[tuple], list[tuple], int]:
    conn = sqlite3.connect(db)
    try:
        attempts = conn.execute(
            "SELECT outcome, error_class, error_message, cost_pusd, cost_bound_pusd FROM attempts ORDER BY id"
        ).fetchall()
        runs = conn.execute("SELECT run_id, calls, status, unpriced_calls, cost_bound_pusd FROM runs").fetchall()
        held = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    finally:
        conn.close()
    return attempts, runs, held


@pytest.mark.parametrize("exit_", [KeyboardInterrupt, SystemExit], ids=["ctrl-c", "sys-exit"])
async def test_an_exit_with_the_request_in_flight_records_it_as_may_be_billed(
    catalog_copy: Path, tmp_path: Path, exit_: type[BaseException]
):
    raised = await _interrupted(catalog_copy, tmp_path / "g.db", exit_())
    assert type(raised) is exit_  # the exit goes on as it was
    attempts, runs, held = _ledger(tmp_path / "g.db")
    # before: no attempt, no run, no reservation: the request the vendor may bill left no trace
    [(outcome, kind, message, cost, bound)] = attempts
    assert (outcome, kind, cost) == ("error", "cancelled", None)
    assert message == f"interrupted ({exit_.__name__}) while the request was in flight; the provider may still bill it"
    assert bound is not None and bound > 0  # at its reservation's worst case
    assert runs == [("r", 1, "cancelled", 1, bound)]
    assert held == 0  # the reservation went with the record


async def test_an_exit_records_the_calls_earlier_attempts_too(catalog_copy: Path, tmp_path: Path):
    # the first try cut in flight (its cost unknown), the retry interrupted: both attempts are the call's record
    first = E.ProviderTimeoutError("fake:a: no answer in time", provider="fake", model="a", maybe_billed=True)
    raised = await _interrupted(catalog_copy, tmp_path / "g.db", first, KeyboardInterrupt())
    assert type(raised) is KeyboardInterrupt
    attempts, runs, held = _ledger(tmp_path / "g.db")
    assert [(a[0], a[1], a[3]) for a in attempts] == [("error", "timeout", None), ("error", "cancelled", None)]
    bounds = [a[4] for a in attempts]
    assert runs == [("r", 1, "cancelled", 2, sum(bounds))]
    assert held == 0


async def test_an_exit_before_the_request_left_gives_its_reservation_back(
    catalog_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # the transport never marked the attempt as sent (the fake made a provider that sends through it, which it never
    # does): nothing can be billed, so no attempt is recorded for it and its reservation is given back, as before
    monkeypatch.setattr(FakeProvider, "sends_through_transport", True)
    raised = await _interrupted(catalog_copy, tmp_path / "g.db", KeyboardInterrupt())
    assert type(raised) is KeyboardInterrupt
    attempts, runs, held = _ledger(tmp_path / "g.db")
    assert (attempts, held) == ([], 0)
    assert runs == [("r", 1, "cancelled", 0, 0)]  # the call itself, as a call cancelled before sending is recorded
