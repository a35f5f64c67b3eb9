"""Calls in flight counted as calls: a call holds a budget reservation for each attempt not yet recorded (a cut
attempt held at its bound beside its retry's), and each row names its call (``budget_reservations.call_id``, given
by the service as the call starts), so check_budget's ``reserved_by`` and the ledger's notes count calls, not rows.
Coordinated by the loopback vendor's own arrivals, never by a sleep of a guessed length."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.governance import Governance
from magsag_mcp.ledger import Ledger
from magsag_mcp.service import Service
from tests.governance_helpers import FixedPricer, attempt_ctx, limits, run_limit
from tests.test_spend_under_concurrency import HeldUpstream, db_rows, limit_of, write_catalog

pytestmark = pytest.mark.anyio


class HeldFromSecond(HeldUpstream):
    """A loopback vendor that answers the first request at once (its planned step) and holds every later one until
    :meth:`let_go`."""

    async def _gate(self, request, vendor, model):  # type: ignore[no-untyped-def]
        if self.arrived == 0:
            self.arrived = 1
            return await super(HeldUpstream, self)._gate(request, vendor, model)
        return await super()._gate(request, vendor, model)


async def test_a_retried_calls_two_reservations_count_as_one_call_in_check_budget(tmp_path: Path):
    # one call: its first attempt cut after the vendor counted its prompt (held at its bound through the wait), then
    # its retry admitted: two rows, which reserved_by counted as {"calls": 2}
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_run_usd="1"), ledger, FixedPricer("0.1"))
        cut = await gov.admit(attempt_ctx("r", call_id="c1"))
        await gov.settle(cut, None, Decimal("0.2"))  # unknown cost, bounded above its hold
        gov.waiting(cut)
        await gov.admit(attempt_ctx("r", call_id="c1", prior_admissions=[cut]))
        await gov.admit(attempt_ctx("r", call_id="c2"))  # another call of the run
        rows = await ledger.read(lambda c: c.execute("SELECT call_id FROM budget_reservations ORDER BY id").fetchall())
        status = await gov.check_budget(run_id="r")
        # the process of call c1 stops: its reservations pass their expiry; c2's does not
        stop = "UPDATE budget_reservations SET expires_at = 1000 WHERE call_id = 'c1'"
        await ledger.submit(lambda c: c.execute(stop))
        stopped = await gov.check_budget(run_id="r")
    assert rows == [("c1",), ("c1",), ("c2",)]
    held = run_limit(status)
    assert held["reserved_usd"] == "0.4"  # every row's amount still counts: 0.2 (the bound) + 0.1 + 0.1
    assert held["reserved_by"]["calls"] == 2 and held["reserved_by"]["expired"] == 0
    assert run_limit(stopped)["reserved_by"]["calls"] == 2 and run_limit(stopped)["reserved_by"]["expired"] == 1


async def test_reservations_an_older_version_made_count_each_as_a_call(tmp_path: Path):
    # a row without a call id (made before 0019, or by an older version still running) is a call of its own, as before
    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_run_usd="1"), ledger, FixedPricer("0.1"))
        await gov.admit(attempt_ctx("r"))
        await gov.admit(attempt_ctx("r"))
        status = await gov.check_budget(run_id="r")
        note = await ledger.in_flight_note("run", "r")
    assert run_limit(status)["reserved_by"]["calls"] == 2
    assert note is not None and "2 calls of it in flight hold reservations" in note, note


async def test_a_service_call_names_itself_in_every_reservation_it_holds(catalog_copy: Path, tmp_path: Path):
    # Through the service: a call whose first attempt's connection dropped after the vendor had its request (unknown
    # cost, held at its worst case) retries; while the retry is at the vendor the call holds two reservations, and a
    # second call one. check_budget said 3 calls in flight, of two.
    write_catalog(catalog_copy, "max_cost_per_run_usd: 5, max_cost_per_agent_daily_usd: 5")
    up = HeldFromSecond(plans={"metered": ["drop"]})
    await up.start()
    db = tmp_path / "l.db"
    env = {**up.env(), "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002"}
    payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}
    try:
        svc = await Service.open(catalog=catalog_copy, db=db, env=env)
        try:
            retried = asyncio.create_task(svc.invoke_skill("skill.analysis", payload, run_id="r", agent="a"))
            await up.until_arrived(2)  # the retry is at the vendor: the dropped attempt still holds its reservation
            other = asyncio.create_task(svc.invoke_skill("skill.analysis", payload, run_id="r", agent="a"))
            await up.until_arrived(3)
            rows = db_rows(db, "SELECT call_id, COUNT(*) FROM budget_reservations GROUP BY call_id ORDER BY 2 DESC")
            status = await svc.check_budget(run_id="r", agent="a")
            note = await svc.ledger.in_flight_note("run", "r")
            up.let_go()
            await retried
            await other
        finally:
            await svc.aclose()
    finally:
        up.let_go()
        await up.stop()
    assert [n for _, n in rows] == [2, 1], rows
    assert all(re.fullmatch(r"[0-9a-f]{16}", call) for call, _ in rows) and rows[0][0] != rows[1][0], rows
    for kind in ("run", "agent_day"):
        assert limit_of(status, kind)["reserved_by"]["calls"] == 2, limit_of(status, kind)
    assert note is not None and "2 calls of it in flight hold reservations" in note, note
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0] == 0  # recorded, all dropped
        assert conn.execute("SELECT calls FROM runs WHERE run_id = 'r'").fetchone()[0] == 2
    finally:
        conn.close()


def test_call_ids_differ_between_calls_and_between_a_process_and_its_forked_child():
    # two calls in flight with one id would count as one (a forked child must not give the ids its parent gives next)
    import os

    from magsag_mcp.call_ids import new_call_id

    first, second = new_call_id(), new_call_id()
    assert first != second
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id, to the parent
        os.write(write, new_call_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    mine = new_call_id()
    assert len({first, second, child, mine}) == 4, (first, second, child, mine)


async def test_a_call_whose_process_died_holding_two_reservations_is_recorded_as_one_abandoned_call(tmp_path: Path):
    # The process died with a retry in flight beside its cut attempt's hold: each expired reservation became an
    # abandoned call of its own (the run's calls, the summary's calls and errors: 2), and the retry's, made later,
    # expired later, a second sweep's call. The call's reservations are now swept together, as that call's attempts.
    import time

    from magsag_mcp.records import AttemptRecord, RunRecord

    async with Ledger(tmp_path / "l.db") as ledger:
        gov = Governance(limits(max_cost_per_run_usd="1"), ledger, FixedPricer("0.1"))
        cut = await gov.admit(attempt_ctx("r", agent="a", call_id="c1"))
        await gov.settle(cut, None, Decimal("0.2"))
        gov.waiting(cut)
        retry = await gov.admit(attempt_ctx("r", agent="a", call_id="c1", prior_admissions=[cut]))
        # ... the process dies; the first reservation passes its expiry (the retry's, made later, not yet)
        first = "UPDATE budget_reservations SET expires_at = 1000 WHERE id = (SELECT MIN(id) FROM budget_reservations)"
        await ledger.submit(lambda c: c.execute(first))
        assert await ledger.record_expired_reservations() == 2  # two attempts
        swept = await ledger.summarize()
        left = await ledger.read(lambda c: c.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0])
        runs = await ledger.read(lambda c: c.execute("SELECT calls, unpriced_calls FROM runs").fetchall())
        # it was suspended, not dead: its record lands after all and replaces both stand-ins
        now = time.time()
        await ledger.record_call(
            RunRecord("r", "a", "skill.analysis", now, ended_at=now, status="ok"),
            [
                AttemptRecord(
                    "r", now, "compat", "metered", "skill.analysis", "a", "error", 0, 1, error_class="timeout",
                    cost_usd=None, cost_bound_usd=Decimal("0.2"), reservation_id=cut.reservation_id,
                ),
                AttemptRecord(
                    "r", now, "compat", "metered", "skill.analysis", "a", "ok", 0, 2, cost_usd=Decimal("0.05"),
                    reservation_id=retry.reservation_id,
                ),
            ],
        )  # fmt: skip
        recorded = await ledger.summarize()
        after = await ledger.read(lambda c: c.execute("SELECT calls, unpriced_calls, status FROM runs").fetchall())
    totals = swept["totals"]
    assert (totals["calls"], totals["errors"], totals["attempts"]) == (1, 1, 2), totals
    assert totals["unknown_cost_bound_usd"] == "0.3"  # each stand-in at what its reservation held: 0.2 and 0.1
    assert swept["model_stats"]["metered"]["calls"] == 1
    assert left == 0 and runs == [(1, 2)]
    totals = recorded["totals"]
    assert (totals["calls"], totals["errors"], totals["attempts"], totals["attempt_errors"]) == (1, 0, 2, 1), totals
    assert recorded["model_stats"]["metered"]["calls"] == 1
    assert after == [(1, 1, "ok")]


async def _a_first_call_in_flight(db: Path, *, retried: bool = False) -> None:
    """A ledger whose only call is in flight: its reservation held, nothing recorded (``retried``: its first attempt
    cut and held at its bound beside its retry's, two rows of one call)."""
    async with Ledger(db) as ledger:
        gov = Governance(limits(max_cost_per_run_usd="1"), ledger, FixedPricer("0.1"))
        first = await gov.admit(attempt_ctx("r-long", agent="alice", call_id="c1"))
        if retried:
            await gov.settle(first, None, Decimal("0.2"))
            gov.waiting(first)
            await gov.admit(attempt_ctx("r-long", agent="alice", call_id="c1", prior_admissions=[first]))


#: a recorded call's known cost (one of no known price gets a note of its own from flow summarize)
PAID = Decimal("0.001")
LEDGER_IN_FLIGHT = (
    "no call in this ledger is recorded yet: 1 call in flight holds a reservation (check_budget counts it)"
)


def test_the_cli_reads_of_a_ledger_whose_first_call_is_in_flight_say_it_is(tmp_path: Path, capsys):
    # `flow summarize` and `data query` (its table and its exports) of a ledger with no call recorded and one in
    # flight printed zeros and an empty table, and no word of the call under way; a run's filter said it
    import json

    import anyio

    from magsag_mcp.cli import main

    db = tmp_path / "l.db"
    anyio.run(_a_first_call_in_flight, db)
    for command in (["flow", "summarize"], ["data", "query"], ["data", "query", "--format", "json"]):
        assert main([*command, "--db", str(db)]) == 0
        out, err = capsys.readouterr()
        assert f"note: {LEDGER_IN_FLIGHT}; a call is read once recorded" in err, (command, err)
        assert err.count("note:") == 1, (command, err)
    assert json.loads(out) == []
    # a run's filter says it of the run, once: the ledger's is not said again
    assert main(["data", "query", "--run-id", "r-long", "--db", str(db)]) == 0
    err = capsys.readouterr().err
    assert "no call of run 'r-long' is recorded yet" in err and "in this ledger" not in err, err


def test_a_retried_first_call_in_flight_is_one_call_holding_two_reservations(tmp_path: Path, capsys):
    import anyio

    from magsag_mcp.cli import main

    db = tmp_path / "l.db"
    anyio.run(lambda: _a_first_call_in_flight(db, retried=True))
    assert main(["flow", "summarize", "--db", str(db)]) == 0
    err = capsys.readouterr().err
    assert "no call in this ledger is recorded yet: 1 call in flight holds 2 reservations (one for each attempt" in err


def test_a_ledger_with_recorded_calls_is_read_with_no_ledger_note(tmp_path: Path, capsys):
    # once a call is recorded, a read that shows it needs no note; one that matched nothing names its filter
    import anyio

    from magsag_mcp.cli import main
    from magsag_mcp.records import AttemptRecord, RunRecord

    db = tmp_path / "l.db"

    async def record_then_hold() -> None:
        await _a_first_call_in_flight(db)
        async with Ledger(db) as ledger:
            import time

            now = time.time()
            await ledger.record_call(
                RunRecord("r-done", "bob", "skill.analysis", now, ended_at=now, status="ok"),
                [AttemptRecord("r-done", now, "compat", "metered", "skill.analysis", "bob", "ok", 1, 1, cost_usd=PAID)],
            )

    anyio.run(record_then_hold)
    assert main(["flow", "summarize", "--db", str(db)]) == 0
    assert "note:" not in capsys.readouterr().err
    assert main(["data", "query", "--model", "nope", "--db", str(db)]) == 0
    err = capsys.readouterr().err
    assert "for model 'nope'" in err and "in flight" not in err, err


async def test_summarize_usage_and_query_runs_say_a_first_call_is_in_flight(tmp_path: Path):
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    db = tmp_path / "l.db"
    await _a_first_call_in_flight(db)
    catalog = Path(__file__).resolve().parent.parent / "catalog"
    async with Client(build_server(catalog=catalog, db=db, env={"MAGSAG_PROVIDER": "fake"})) as client:
        summary = await client.call_tool("summarize_usage", {})
        page = await client.call_tool("query_runs", {})
    for result in (summary, page):
        assert not result.is_error, result.content[0].text
        notes = result.structured_content["notes"]
        assert len(notes) == 1 and notes[0].startswith(LEDGER_IN_FLIGHT), notes
