"""A refusal for a limit that calls in flight hold says what holds the reservation, and where to see until when.

Claude Desktop's server is SIGKILLed while its call is at the vendor; the IDE's server, on the same ledger, is
refused next. Its refusal said "spent $0, reserved $0.00094" and nothing more, while nothing ran: the hold of a
process gone, which lasts until the reservation expires (then the call is counted at what it held, its cost unknown).
``check_budget`` and ``magsag budget`` said so; the refusal, which is what the caller sees, did not point there.
Coordinated by the vendor's own arrival of the request, never by a sleep."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service
from tests.test_spend_under_concurrency import (
    ANOTHER_CONTAINER,
    ONE_CALL_WORKER,
    PICO,
    child_env,
    db_rows,
    held,
    write_catalog,
)

pytestmark = pytest.mark.anyio
__all__ = ["held"]  # (the fixture, imported to be used here)


async def test_a_refusal_for_a_stopped_processs_hold_says_what_holds_it(catalog_copy, tmp_path, held):
    write_catalog(catalog_copy, "max_cost_per_run_usd: 0.001, max_cost_per_day_usd: 0.001")
    db = tmp_path / "shared.db"
    proc = subprocess.Popen(
        # a server of another container (a pid namespace of its own): this one cannot see it is gone
        [sys.executable, "-c", ONE_CALL_WORKER, str(catalog_copy), str(db), json.dumps(held.env()), ANOTHER_CONTAINER],
        env=child_env(),
    )
    try:
        await held.until_arrived(1)  # at the vendor: its reservation is made
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    [(amount, expires)] = db_rows(db, "SELECT amount_pusd, expires_at FROM budget_reservations")
    until = datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds")
    reserved = format(Decimal(amount) / PICO, "f")

    svc = await Service.open(catalog=catalog_copy, db=db, env=held.env())
    try:
        payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 900}}
        for run_id, kind in (("killed-run", "run"), ("other-run", "day")):
            with pytest.raises(E.BudgetExceeded) as info:
                await svc.invoke_skill("skill.analysis", payload, run_id=run_id, agent="ide")
            refused = info.value
            assert refused.details["limit"] == kind
            assert Decimal(refused.details["reserved_usd"]) == Decimal(amount) / PICO
            message = refused.message
            # (and the file and key that set the limit: it named the policy alone)
            # (before: "... spent $0, reserved $0.00094, this attempt reserves up to ...; or raise ..." and no more)
            assert f"reserved ${reserved}, this attempt reserves up to" in message  # as before
            assert (
                f"or raise max_cost_per_{kind}_usd on policy 'caps' ({catalog_copy / 'policies'}/"
                f"model_governance.yaml: policies.0.thresholds.max_cost_per_{kind}_usd); the ${reserved} reserved is "
                "held by calls in "
                "flight until each is recorded (it then gives back "
                "what it did not spend); one whose process stopped mid-call (killed, crashed) holds it until a "
                "process on its machine sees it gone (its next call or read, within 30 s) or, from another machine or "
                "container, until it expires, then counts at what it held: check_budget shows what holds it and until "
                "when)"
            ) in message, message
        # which says who holds it, and until when
        status = await svc.check_budget(run_id="killed-run")
        assert all(lim["reserved_by"] == {"calls": 1, "expired": 0, "held_until": until} for lim in status["limits"])
    finally:
        await svc.aclose()
    assert held.arrived == 1  # the refused calls sent nothing
