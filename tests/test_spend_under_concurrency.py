"""Spend under concurrency, with real processes on one ledger and a loopback vendor that holds its answers until the
test lets them go: a process killed mid-call, callers cancelled among 200 in flight, processes started together
against shared limits, and a write lock another process holds. Coordinated by the vendor's own arrivals and by pipes,
never by a sleep of a guessed length."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from magsag_mcp import errors as E
from magsag_mcp.loopback import LoopbackUpstream
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio

PICO = Decimal(10) ** 12
ROOT = Path(__file__).resolve().parent.parent


class HeldUpstream(LoopbackUpstream):
    """A loopback vendor that answers only once :meth:`let_go` is called: every request is counted as it arrives
    (``arrived``), then waits."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.arrived = 0
        self._arrival = asyncio.Condition()
        self._go = asyncio.Event()

    async def _gate(self, request, vendor, model):  # type: ignore[no-untyped-def]
        async with self._arrival:
            self.arrived += 1
            self._arrival.notify_all()
        await self._go.wait()
        return await super()._gate(request, vendor, model)

    async def until_arrived(self, n: int) -> None:
        async with self._arrival:
            await self._arrival.wait_for(lambda: self.arrived >= n)

    def let_go(self) -> None:
        self._go.set()


@pytest.fixture
async def held():
    up = HeldUpstream()
    await up.start()
    yield up
    up.let_go()
    await up.stop()


def write_catalog(catalog: Path, thresholds: str) -> None:
    (catalog / "prices.yaml").write_text('"compat:metered": {input: 1.0, output: 1.0}\n')
    (catalog / "policies" / "model_governance.yaml").write_text(
        f"policies:\n  - name: caps\n    thresholds: {{{thresholds}}}\n"
    )


def child_env() -> dict[str, str]:
    """The worker processes import this checkout's magsag_mcp, whatever the venv's editable install points at, and
    read the clock this process reads: where a test moved ``time.time`` (to a midnight), tests/shared_clock moves
    theirs as far."""
    paths = [str(ROOT), os.environ.get("PYTHONPATH")]
    moved = time.time() - time.clock_gettime(time.CLOCK_REALTIME)
    shared = {}
    if abs(moved) > 1:  # (a clock not moved reads the same but for the moment between the two readings)
        paths.insert(0, str(ROOT / "tests" / "shared_clock"))
        shared = {"MAGSAG_TESTS_CLOCK_OFFSET": repr(moved)}
    return {**os.environ, **shared, "PYTHONPATH": os.pathsep.join(filter(None, paths))}


def db_rows(db: Path, sql: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def limit_of(status: dict, kind: str) -> dict:
    return next(lim for lim in status["limits"] if lim["limit"] == kind)


def used(entry: dict) -> Decimal:
    return sum((Decimal(entry[k]) for k in ("spent_usd", "unknown_cost_bound_usd", "reserved_usd")), Decimal(0))


ONE_CALL_WORKER = """
import json, sys, anyio
from magsag_mcp.service import Service

if len(sys.argv) > 4:  # a process of another machine or container: its reservations name that place, not this one
    from magsag_mcp.ledger import reservation_owners
    reservation_owners._place, reservation_owners._place_read = sys.argv[4], True

async def main():
    catalog, db, env = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    svc = await Service.open(catalog=catalog, db=db, env=env)
    payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}
    await svc.invoke_skill("skill.analysis", payload, run_id="killed-run", agent="desktop")

anyio.run(main)
"""
#: where ONE_CALL_WORKER's process runs, given as its fourth argument: another container, whose process ids this
#: process cannot see (see reservation_owners)
ANOTHER_CONTAINER = "another-boot-id/pid:[4026532999]"


async def test_a_process_killed_mid_call_leaves_a_reservation_the_next_process_counts(catalog_copy, tmp_path, held):
    """A server in one container is SIGKILLed while its call is at the vendor. The next process, in another container
    on the same ledger (whose process ids it cannot see), reads it: check_budget counts the dead call's reservation,
    in flight and not expired, in each limit, and a call that would cross what is left is refused for it; once it
    expires it is recorded as the attempt it stood for, of unknown cost bounded by what it held, and check_budget and
    the summary agree on that bound. (On one machine it is recorded at once: see test_reservation_owners.py.)"""
    write_catalog(
        catalog_copy,
        "max_cost_per_run_usd: 0.001, max_cost_per_agent_daily_usd: 0.001, max_cost_per_day_usd: 0.001",
    )
    db = tmp_path / "shared.db"
    env = json.dumps(held.env())
    proc = subprocess.Popen(
        [sys.executable, "-c", ONE_CALL_WORKER, str(catalog_copy), str(db), env, ANOTHER_CONTAINER], env=child_env()
    )
    try:
        await held.until_arrived(1)  # the request is at the vendor: its reservation was made before it was sent
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    [(amount, expires)] = db_rows(db, "SELECT amount_pusd, expires_at FROM budget_reservations")
    reserved = Decimal(amount) / PICO

    svc = await Service.open(catalog=catalog_copy, db=db, env=held.env())
    try:
        status = await svc.check_budget(run_id="killed-run", agent="desktop")
        for kind in ("run", "agent_day", "day"):
            entry = limit_of(status, kind)
            assert Decimal(entry["reserved_usd"]) == reserved, (kind, entry)
            assert entry["spent_usd"] == "0" and entry["reserved_by"]["calls"] == 1, entry
            assert entry["reserved_by"]["expired"] == 0, entry
        summary = await svc.summarize()
        assert summary["totals"]["calls"] == 0  # in flight, not yet an attempt: the summary leaves it to the limits
        # what is left is the limit less the dead call's hold: a call whose worst case does not fit is refused
        payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 900}}
        with pytest.raises(E.BudgetExceeded) as info:
            await svc.invoke_skill("skill.analysis", payload, run_id="other-run", agent="desktop")
        assert Decimal(info.value.details["reserved_usd"]) == reserved
        assert held.arrived == 1  # the refused call sent nothing

        # the reservation's time runs out (the call's deadline and its margin pass)
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("UPDATE budget_reservations SET expires_at = ?", (expires - 10**6,))
        conn.close()
        before = await svc.check_budget(run_id="killed-run", agent="desktop")
        assert limit_of(before, "day")["reserved_by"]["expired"] == 1
        summary = await svc.summarize()  # a read of spend records it
        assert summary["totals"]["calls"] == 1 and summary["totals"]["errors"] == 1
        assert Decimal(summary["totals"]["unknown_cost_bound_usd"]) == reserved
        after = await svc.check_budget(run_id="killed-run", agent="desktop")
        for kind in ("run", "agent_day", "day"):
            entry, was = limit_of(after, kind), limit_of(before, kind)
            assert entry["reserved_usd"] == "0" and Decimal(entry["unknown_cost_bound_usd"]) == reserved, entry
            assert used(entry) == used(was) == reserved
            assert entry["remaining_usd"] == was["remaining_usd"]
    finally:
        await svc.aclose()
    assert db_rows(db, "SELECT error_class, cost_pusd, cost_bound_pusd FROM attempts WHERE run_id = 'killed-run'") == [
        ("abandoned", None, amount)
    ]
    assert db_rows(db, "SELECT COUNT(*) FROM budget_reservations") == [(0,)]


async def test_cancelling_some_of_200_callers_in_flight_releases_exactly_their_reservations(
    catalog_copy, tmp_path, held, clock_at_noon
):
    """200 calls at once, every one held at the vendor (or waiting for a connection to it); then every third caller
    gives up. Each cancelled call is recorded as one cancelled attempt of unknown cost bounded by its reservation, and
    its reservation goes with that record; the other calls' reservations stay, each exactly once, and check_budget's
    reserved is their sum. Let go, those calls finish and nothing is held."""
    # noon: the day limits read at the end count the bounds recorded before; a UTC midnight between left them out
    write_catalog(catalog_copy, "max_cost_per_day_usd: 100, max_cost_per_agent_daily_usd: 100")
    db = tmp_path / "l.db"
    svc = await Service.open(catalog=catalog_copy, db=db, env=held.env())
    payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}
    scopes = {i: anyio.CancelScope() for i in range(200)}
    outcomes: dict[int, str] = {}

    async def one(i: int) -> None:
        with scopes[i]:
            await svc.invoke_skill("skill.analysis", payload, run_id=f"run-{i}", agent="ide")
            outcomes[i] = "ok"
            return
        outcomes[i] = "cancelled"

    def holders() -> list[str]:
        return [r for (r,) in db_rows(db, "SELECT attempt_run_id FROM budget_reservations ORDER BY attempt_run_id")]

    try:
        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(one, i)
            while len(holders()) < 200:  # every call has reserved (most are at the vendor, the rest queued for it)
                await anyio.sleep(0.01)
            await held.until_arrived(50)
            gone = [i for i in range(200) if i % 3 == 0]
            for i in gone:
                scopes[i].cancel()
            while len(outcomes) < len(gone):
                await anyio.sleep(0.01)
            assert sorted(outcomes) == gone and set(outcomes.values()) == {"cancelled"}
            staying = sorted(f"run-{i}" for i in range(200) if i % 3)
            assert holders() == staying  # exactly the cancelled callers' reservations went
            cancelled = db_rows(
                db,
                "SELECT run_id, outcome || ':' || coalesce(error_class, ''), cost_pusd, cost_bound_pusd,"
                " reservation_id FROM attempts ORDER BY run_id",
            )
            assert sorted(r for r, *_ in cancelled) == sorted(f"run-{i}" for i in gone)  # one attempt each
            [(amount,)] = db_rows(db, "SELECT DISTINCT amount_pusd FROM budget_reservations")
            for run, outcome, cost, bound, _ in cancelled:
                # at the vendor or not yet sent: of unknown cost bounded by its reservation, or a skip at 0
                sent, not_sent = ("error:cancelled", None, amount), ("skipped:cancelled", 0, None)
                assert (outcome, cost, bound) in (sent, not_sent), run
            status = await svc.check_budget(agent="ide")
            for kind in ("day", "agent_day"):
                entry = limit_of(status, kind)
                assert Decimal(entry["reserved_usd"]) == Decimal(amount * len(staying)) / PICO, entry
                assert entry["reserved_by"]["calls"] == len(staying)
                bounds = sum(b or 0 for *_, b, _ in cancelled)
                assert Decimal(entry["unknown_cost_bound_usd"]) == Decimal(bounds) / PICO, entry
            held.let_go()
    finally:
        held.let_go()
        await svc.aclose()
    assert sorted(i for i, o in outcomes.items() if o == "ok") == [i for i in range(200) if i % 3]
    assert holders() == []
    assert db_rows(db, "SELECT COUNT(*) FROM attempts WHERE outcome = 'ok'") == [(len(staying),)]


MIXED_WORKER = """
import json, random, sys, anyio
from magsag_mcp import errors as E
from magsag_mcp.service import Service

async def main():
    catalog, db, env, tag = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
    svc = await Service.open(catalog=catalog, db=db, env=env)
    rng = random.Random(tag)
    counts = {}
    print("ready", flush=True)
    sys.stdin.readline()  # the test starts every process's calls at once
    async def one(i):
        first, *rest = rng.sample(["m1", "m2", "m3"], k=rng.randint(1, 3))
        mc = {"provider": "compat", "model": first, "max_tokens": rng.choice([40, 80, 120]),
              "fallbacks": [{"provider": "compat", "model": m} for m in rest], "stream": rng.random() < 0.5}
        run = rng.choice(["shared", "shared", tag])
        kind = "gave up"
        try:
            with anyio.move_on_after(rng.choice([None, None, 0.002, 0.01]) or 1e9):
                await svc.invoke_skill("skill.analysis", {"data": "d" * 40, "model_config": mc}, run_id=run,
                                       agent=rng.choice(["desktop", "ide"]))
                kind = "ok"
        except E.MagsagError as exc:
            kind = exc.kind
        counts[kind] = counts.get(kind, 0) + 1
    async with anyio.create_task_group() as tg:
        for i in range(60):
            tg.start_soon(one, i)
    await svc.aclose()
    print(json.dumps(counts), flush=True)

anyio.run(main)
"""


async def test_three_processes_started_together_never_pass_a_shared_limit_whenever_it_is_read(catalog_copy, tmp_path):
    """Claude Desktop's server, the IDE's and a script: three processes on one ledger, their calls started at the same
    moment (retries of 429s and 503s, fallbacks after 500s, dropped connections, streams, callers giving up), against
    one run's, two agents' and the day's limits. Read all along by a fourth (check_budget and summarize): spend and
    holds never pass a limit, what is counted as spent never goes down, and at the end the summary, check_budget and
    the vendor's own books agree."""
    models = ("m1", "m2", "m3")
    (catalog_copy / "prices.yaml").write_text("".join(f'"compat:{m}": {{input: 1.0, output: 1.0}}\n' for m in models))
    limits = {"run": Decimal("0.004"), "agent_day": Decimal("0.006"), "day": Decimal("0.01")}
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: caps\n    thresholds: {max_cost_per_run_usd: 0.004,"
        " max_cost_per_agent_daily_usd: 0.006, max_cost_per_day_usd: 0.01}\n"
    )
    up = LoopbackUpstream(latency_ms=2)
    for m in models:
        up.plan(m, *([200, 503, 200, 500, 429, 200, "drop", 200] * 40))
    await up.start()
    db = tmp_path / "shared.db"
    env = json.dumps({**up.env(), "MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_RETRY_MAX_DELAY": "0.002"})
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIXED_WORKER, str(catalog_copy), str(db), env, tag],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        for tag in ("desktop", "ide", "script")
    ]
    reader = await Service.open(catalog=catalog_copy, db=db, env=up.env())
    peaks: list[tuple] = []
    last: dict[tuple[str, str], Decimal] = {}
    try:
        for p in procs:
            assert await anyio.to_thread.run_sync(p.stdout.readline) == "ready\n"  # type: ignore[union-attr]
        for p in procs:
            p.stdin.write("go\n")  # type: ignore[union-attr]
            p.stdin.flush()  # type: ignore[union-attr]
        done = anyio.Event()

        async def wait_all() -> None:
            for p in procs:
                await anyio.to_thread.run_sync(p.wait)
            done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait_all)
            while not done.is_set():
                for agent, run in (("desktop", "shared"), ("ide", "shared")):
                    status = await reader.check_budget(agent=agent, run_id=run)
                    for entry in status["limits"]:
                        kind = entry["limit"]
                        if used(entry) > limits[kind]:
                            peaks.append((agent, entry))
                        counted = Decimal(entry["spent_usd"]) + Decimal(entry["unknown_cost_bound_usd"])
                        key = (agent if kind == "agent_day" else "", kind)
                        if counted < last.get(key, Decimal(0)):
                            peaks.append(("went down", key, last[key], entry))
                        last[key] = counted
                totals = (await reader.summarize())["totals"]  # a summary read meanwhile: it only grows too
                for key, value in (("calls", totals["calls"]), ("attempts", totals["attempts"])):
                    if value < last.get(("summary", key), 0):
                        peaks.append(("summary went down", key, last[("summary", key)], totals))
                    last[("summary", key)] = value
                await anyio.sleep(0.005)
        results = [json.loads(p.stdout.read().splitlines()[-1]) for p in procs]  # type: ignore[union-attr]
        assert all(p.returncode == 0 for p in procs), results
        assert not peaks, peaks[:3]
        summary = await reader.summarize()
        status = await reader.check_budget(agent="desktop", run_id="shared")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        await reader.aclose()
        await up.stop()
    assert sum(r.get("ok", 0) for r in results) >= 1 and sum(r.get("budget_exceeded", 0) for r in results) >= 1
    day = limit_of(status, "day")
    assert day["reserved_usd"] == "0"
    assert Decimal(day["spent_usd"]) == Decimal(summary["totals"]["known_cost_usd"])
    assert Decimal(day["unknown_cost_bound_usd"]) == Decimal(summary["totals"]["unknown_cost_bound_usd"])
    billed = sum(Decimal(n_in + n_out) for _, n_in, n_out in up.log) / 10**6
    assert billed <= Decimal(day["spent_usd"]) + Decimal(day["unknown_cost_bound_usd"]) <= limits["day"]
    assert db_rows(db, "SELECT COUNT(*) FROM budget_reservations") == [(0,)]


async def test_a_call_that_joins_a_delegated_run_in_flight_by_its_id_alone_spends_the_parents_limit(
    catalog_copy, tmp_path, held
):
    """An agent delegates run 'child' from run 'parent' (whose limit covers both); while that first call is at the
    vendor, another call continues 'child' by its run_id alone (MCP's run_id, `magsag invoke --run-id`). check_budget
    already counted it under the parent; the reservation read only the parent the ledger had recorded (none yet), so
    the second call reserved against a run limit of 'child' of its own, both passed, and the parent's tree spent twice
    its limit's worth. Its record then made 'child' a top run, so the first call's spend left the parent's tree too."""
    write_catalog(catalog_copy, "max_cost_per_run_usd: 0.0003")  # one call's worst case ($0.000197), not two
    db = tmp_path / "l.db"
    svc = await Service.open(catalog=catalog_copy, db=db, env=held.env())
    payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: svc.invoke_skill("skill.analysis", payload, run_id="child", parent_run_id="parent"))
            await held.until_arrived(1)
            status = await svc.check_budget(run_id="child")
            assert limit_of(status, "run")["budget_run_id"] == "parent"
            with pytest.raises(E.BudgetExceeded, match="run parent"):
                await svc.invoke_skill("skill.analysis", payload, run_id="child")
            assert held.arrived == 1
            held.let_go()
        status = await svc.check_budget(run_id="parent")
    finally:
        await svc.aclose()
    assert db_rows(db, "SELECT run_id, parent_run_id FROM runs ORDER BY run_id") == [("child", "parent")]
    run = limit_of(status, "run")
    assert Decimal(run["spent_usd"]) > 0 and used(run) <= Decimal("0.0003"), run


LOCK_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")  # another process's write (a prune's step, a long batch) holds the lock
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


async def test_a_reservation_the_lock_keeps_out_fails_the_call_before_anything_is_sent(catalog_copy, tmp_path, held):
    """Another process holds the ledger's write lock past the busy timeout while calls want to reserve: each call fails
    with a LedgerError that names the lock and what to do, none is sent to the vendor unreserved, check_budget (a
    reader, which WAL lets through) shows nothing held for them, and once the lock is gone their records land and the
    next call reserves and is sent as usual."""
    write_catalog(catalog_copy, "max_cost_per_day_usd: 1")
    db = tmp_path / "l.db"
    svc = await Service.open(catalog=catalog_copy, db=db, env=held.env())
    await svc.ledger._writer.execute("PRAGMA busy_timeout = 200")  # the other process's lock outlasts it
    svc.ledger.busy_timeout_ms = 200
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}
    errors: list[E.MagsagError] = []
    try:
        assert await anyio.to_thread.run_sync(holder.stdout.readline) == "locked\n"  # type: ignore[union-attr]

        async def one(i: int) -> None:
            try:
                await svc.invoke_skill("skill.analysis", payload, run_id=f"locked-{i}")
            except E.MagsagError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(one, i)
        status = await svc.check_budget()
        holder.stdin.write("\n")  # type: ignore[union-attr]
        holder.stdin.close()  # type: ignore[union-attr]
        holder.wait()
        held.let_go()
        await svc.invoke_skill("skill.analysis", payload, run_id="after")
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        await svc.aclose()
    assert [type(e) for e in errors] == [E.LedgerError] * 5
    said = "stayed locked for 0.2s by another process; retry, or stop the process holding it"
    assert all(said in e.message for e in errors), [e.message for e in errors]
    assert held.arrived == 1  # the call after the lock, alone
    day = limit_of(status, "day")
    assert day["reserved_usd"] == "0" and day["spent_usd"] == "0"
    assert db_rows(db, "SELECT COUNT(*) FROM budget_reservations") == [(0,)]
    runs = dict(db_rows(db, "SELECT run_id, status FROM runs"))
    assert runs == {**{f"locked-{i}": "error" for i in range(5)}, "after": "ok"}


def test_a_batch_looks_up_the_delegated_runs_in_flight_once_not_once_per_reservation_or_record(tmp_path):
    """Where a run not recorded yet is delegated from is read from the reservations in flight (an unindexed table:
    migration 0005 keeps it so), once per batch of reservations or of records, not once for each: a batch of 200 calls,
    each a run of its own, read 200 x 200 rows. Counted in statements run and in SQLite's own steps (deterministic),
    with as many other calls in flight as the batch holds: a record's work must not grow with the batch."""
    from magsag_mcp.governance import budget
    from magsag_mcp.governance.policy import Policy, PolicySet
    from magsag_mcp.ledger.migrations import migrate
    from magsag_mcp.ledger.writes import RecordWrite
    from magsag_mcp.records import AttemptRecord, RunRecord

    caps = PolicySet([Policy(name="caps", thresholds={"max_cost_per_run_usd": "100", "max_cost_per_day_usd": "1e4"})])
    scoped = [lim for lim in caps.limits if lim.kind != "call"]

    def record(run: str, rid: int) -> RecordWrite:
        attempt = AttemptRecord(
            run_id=run, started_at=1e9, provider="compat", model="m", skill="s", agent=None, outcome="ok",
            fallback_position=0, attempt_number=1, cost_usd=Decimal("0.001"), reservation_id=rid,
        )  # fmt: skip
        return RecordWrite.of(RunRecord(run, None, "s", 1e9), [attempt])

    def per_batch(n: int) -> tuple[int, int, float]:
        """(reads of the reservations by the run they were made for, while reserving; the same, while recording;
        SQLite steps per record)"""
        conn = sqlite3.connect(tmp_path / f"{n}.db", isolation_level=None)
        migrate(conn)
        others = [budget.Reservation(scoped, Decimal("0.01"), run_id=f"other-{i}", agent=None) for i in range(n)]
        conn.execute("BEGIN IMMEDIATE")  # the other calls in flight, each a run of its own
        budget.Reservation.apply_all(conn, others)
        conn.execute("COMMIT")
        reads, steps = [0], [0]

        def traced(sql: str) -> None:  # a read of the reservations in flight for the run they were made for
            reads[0] += sql.startswith("SELECT") and "attempt_run_id" in sql and "FROM budget_reservations" in sql

        conn.set_trace_callback(traced)
        conn.execute("BEGIN IMMEDIATE")
        made = budget.Reservation.apply_all(
            conn, [budget.Reservation(scoped, Decimal("0.01"), run_id=f"run-{i}", agent=None) for i in range(n)]
        )
        conn.execute("COMMIT")
        reserving, reads[0] = reads[0], 0
        assert all(ok for ok, _ in made)
        conn.execute("BEGIN IMMEDIATE")
        conn.set_progress_handler(lambda: steps.__setitem__(0, steps[0] + 1), 10)
        RecordWrite.apply_all(conn, [record(f"run-{i}", rid) for i, (_, rid) in enumerate(made)])
        conn.set_progress_handler(None, 10)
        conn.execute("COMMIT")
        conn.close()
        return reserving, reads[0], steps[0] / n

    few, many = per_batch(40), per_batch(320)
    assert few[:2] == many[:2] == (1, 1), (few, many)
    assert many[2] < 1.3 * few[2], (few, many)


@pytest.mark.parametrize("then", ["next call", "close"])
async def test_a_reservation_made_for_callers_gone_is_dropped_though_the_lock_kept_its_drop_out(
    catalog_copy, tmp_path, held, then
):
    """Two callers give up while their reservations wait for a write lock another process holds; the writer makes them
    once the lock is free, for nobody, and drops them by a write of its own, which the other process's lock keeps out
    again. That drop was forgotten: each held its worst case until it expired, then became an "abandoned" attempt of
    unknown cost ("the provider may bill it") for a request never sent. The next reservation drops them before it
    reads the limits, or the close does."""
    write_catalog(catalog_copy, "max_cost_per_day_usd: 0.0005")  # two worst cases ($0.000197 each), not three
    db = tmp_path / "l.db"
    svc = await Service.open(catalog=catalog_copy, db=db, env=held.env())
    await svc.ledger._writer.execute("PRAGMA busy_timeout = 500")  # the other process's lock outlasts it
    svc.ledger.busy_timeout_ms = 500
    other = sqlite3.connect(db, isolation_level=None)
    drop, dropping = svc.governance._drop_orphan, anyio.Event()

    def drop_under_lock(reservation_id: int, run_id: str | None) -> None:
        if not other.in_transaction:
            other.execute("BEGIN IMMEDIATE")  # the other process's next write takes the lock again
        drop(reservation_id, run_id)
        dropping.set()

    svc.governance._drop_orphan = drop_under_lock  # type: ignore[method-assign]
    payload = {"data": "d" * 40, "model_config": {"provider": "compat", "model": "metered", "max_tokens": 100}}
    scopes = [anyio.CancelScope() for _ in range(2)]

    async def caller(scope: anyio.CancelScope) -> None:
        with scope:
            await svc.invoke_skill("skill.analysis", payload, run_id="gone")

    try:
        other.execute("BEGIN IMMEDIATE")
        async with anyio.create_task_group() as tg:
            for scope in scopes:
                tg.start_soon(caller, scope)
            while not svc.ledger._batch_in_flight:  # the writer waits for the lock with both reservations
                await anyio.sleep(0.001)
            for scope in scopes:
                scope.cancel()
            other.execute("ROLLBACK")  # the writer makes them, for nobody
        await dropping.wait()
        await svc.ledger.settled()  # their drop, refused: the lock is held again
        assert len(db_rows(db, "SELECT id FROM budget_reservations")) == 2
        other.execute("ROLLBACK")
        if then == "next call":  # it fits only once the holds of the callers gone are dropped
            held.let_go()
            await svc.invoke_skill("skill.analysis", payload, run_id="next")
            assert db_rows(db, "SELECT COUNT(*) FROM budget_reservations") == [(0,)]
    finally:
        held.let_go()
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()
        await svc.aclose()
    assert held.arrived == (1 if then == "next call" else 0)
    assert db_rows(db, "SELECT COUNT(*) FROM budget_reservations") == [(0,)]
    assert db_rows(db, "SELECT COUNT(*) FROM attempts WHERE run_id = 'gone' AND cost_pusd IS NULL") == [(0,)]


@pytest.mark.parametrize("order", ["by_id_alone_first", "delegated_first"])
def test_a_delegated_run_recorded_in_one_batch_with_a_call_that_joined_it_by_its_id_alone_stays_delegated(
    tmp_path, order
):
    """Run 'child' has two calls in flight: its first, delegated from 'top', and one that continued it by its run_id
    alone (reserved against top's limit, as the first was). Both end together and are recorded in one batch. The
    batch deleted its reservations before it read where the runs in flight are delegated from: the call without a
    parent, recorded first, found none and made 'child' a top run for good (a record keeps the parent it was first
    written with), and both calls' spend left top's tree and limit."""
    from magsag_mcp.governance import budget
    from magsag_mcp.governance.policy import Policy, PolicySet
    from magsag_mcp.ledger.migrations import migrate
    from magsag_mcp.ledger.writes import RecordWrite
    from magsag_mcp.records import AttemptRecord, RunRecord

    caps = PolicySet([Policy(name="caps", thresholds={"max_cost_per_run_usd": "100"})])
    scoped = [lim for lim in caps.limits if lim.kind != "call"]
    conn = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
    migrate(conn)

    def reserve(parent: str | None) -> int:
        conn.execute("BEGIN IMMEDIATE")
        [(ok, rid)] = budget.Reservation.apply_all(
            conn, [budget.Reservation(scoped, Decimal("0.01"), "child", None, parent_run_id=parent)]
        )
        conn.execute("COMMIT")
        assert ok
        return rid  # type: ignore[return-value]

    def record(parent: str | None, rid: int) -> RecordWrite:
        attempt = AttemptRecord(
            run_id="child", started_at=1e9, provider="compat", model="m", skill="s", agent=None, outcome="ok",
            fallback_position=0, attempt_number=1, cost_usd=Decimal("0.001"), reservation_id=rid,
        )  # fmt: skip
        return RecordWrite.of(RunRecord("child", None, "s", 1e9, parent_run_id=parent), [attempt])

    delegated = record("top", reserve("top"))
    by_id_alone = record(None, reserve(None))
    assert conn.execute("SELECT DISTINCT run_id FROM budget_reservations").fetchall() == [("top",)]
    conn.execute("BEGIN IMMEDIATE")
    RecordWrite.apply_all(conn, [by_id_alone, delegated] if order == "by_id_alone_first" else [delegated, by_id_alone])
    conn.execute("COMMIT")
    try:
        assert conn.execute("SELECT run_id, parent_run_id, calls FROM runs").fetchall() == [("child", "top", 2)]
    finally:
        conn.close()
