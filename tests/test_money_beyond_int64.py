"""Totals past SQLite's largest integer: 2**63-1 pico-USD, about $9.22M.

Costs are integer pico-USD, and SQLite's integer SUM fails with "integer overflow" past that: a large
organisation's year-long summary, a day limit's spend, a run's spend. Every such sum is exact however
large; a running total the ledger stores (a run's, a quarter-hour's, a day's usage) that would pass it
refuses the record with a LedgerError saying so, and never keeps an inexact number. Huge costs are
inserted directly; the reads are the ones users make.
"""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.errors import BudgetExceeded, LedgerError
from magsag_mcp.governance.budget import Reservation, spent_and_reserved
from magsag_mcp.governance.policy import Limit
from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.migrations import ROLLUP_BUCKET_SECONDS, SPEND_BUCKET_SECONDS
from magsag_mcp.records import AttemptRecord, RunRecord
from magsag_mcp.service import Service
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

# noon (clock_at_noon): each test writes a day's spend at the time it reads, then reserves or reads on the clock; a
# UTC midnight in between left the day it wrote out of the day it checked ("DID NOT RAISE BudgetExceeded")
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("clock_at_noon")]

DAY = ROLLUP_BUCKET_SECONDS
MILLION = 10**6 * 10**12  # $1M in pico-USD
MAX_PUSD = 2**63 - 1  # SQLite's largest integer


def _usd(pusd: int) -> str:
    return format(Decimal(pusd) / 10**12, "f")


async def _write(ledger: Ledger, sql: str, rows: list[tuple]) -> None:
    await ledger.submit(lambda conn: conn.executemany(sql, rows))


async def _write_run_tree_past_int64(ledger: Ledger, now: float) -> None:
    """Run ``top`` ($5M + 1 pico-USD) and its delegated runs ``c1`` ($3M, a 7 pico-USD bound) and ``c2`` ($3M), each
    of one call at ``now``: the tree's $11M spend is past SQLite's integer, each row's is not."""
    await _write(
        ledger,
        "INSERT INTO runs (run_id, parent_run_id, started_at, status, calls, cost_pusd, cost_bound_pusd)"
        " VALUES (?, ?, ?, 'ok', 1, ?, ?)",
        [
            ("top", None, now, 5 * MILLION + 1, 0),
            ("c1", "top", now, 3 * MILLION, 7),
            ("c2", "top", now, 3 * MILLION, 0),
        ],
    )


async def test_summarize_adds_a_years_spend_past_sqlites_integer_exactly(tmp_path: Path):
    """Before: LedgerError "ledger error at ...: integer overflow" from summarize (and flow gate)."""
    today = int(time.time() // DAY)
    days = [today - 30, today - 20, today - 10]
    async with Ledger(tmp_path / "l.db") as ledger:
        # three whole days of $4M known spend and $3M of bounds, in the rollup summaries read
        await _write(
            ledger,
            "INSERT INTO usage_rollup (bucket, model, provider, agent, skill, outcome, attempts, cost_pusd, unpriced,"
            " cost_bound_pusd, bounded) VALUES (?, 'm', 'p', 'a', 's', 'ok', 2, ?, 1, ?, 1)",
            [(d, 4 * MILLION + d, 3 * MILLION) for d in days],
        )
        # and a run's attempts, read from attempts under a run filter
        await _write(
            ledger,
            "INSERT INTO attempts (run_id, started_at, provider, model, agent, outcome, cost_pusd, cost_bound_pusd)"
            " VALUES ('big', ?, 'p', 'm', 'a', 'ok', ?, ?)",
            [(d * DAY + 60, 4 * MILLION + 1, None) for d in days] + [(days[0] * DAY + 90, None, 5 * MILLION)],
        )
        everything = await ledger.summarize({})
        one_run = await ledger.summarize({"run_id": "big"})
    known = sum(4 * MILLION + d for d in days)
    stats = everything["model_stats"]["m"]
    assert stats["known_cost_usd"] == _usd(known) and stats["unknown_cost_bound_usd"] == _usd(9 * MILLION)
    assert everything["by_agent"]["a"]["known_cost_usd"] == _usd(known)
    assert everything["largest_day"]["known_cost_usd"] == _usd(4 * MILLION + days[2])
    run_stats = one_run["model_stats"]["m"]
    assert run_stats["known_cost_usd"] == _usd(3 * (4 * MILLION + 1))
    assert run_stats["unknown_cost_bound_usd"] == _usd(5 * MILLION)
    assert one_run["largest_day"]["at_most_usd"] == _usd(9 * MILLION + 1)


async def test_a_delegating_runs_spend_past_sqlites_integer_is_exact(tmp_path: Path):
    """A run limit's scope (the run and its delegated runs), obs.get_current_cost() and the summary's
    largest_run. Before: "integer overflow", or SQLite's + turned the tree's cost into an inexact REAL."""
    now = time.time()
    async with Ledger(tmp_path / "l.db") as ledger:
        await _write_run_tree_past_int64(ledger, now)
        spend = await ledger.run_spend("top")
        summary = await ledger.summarize({})
        cost = await ledger.read(
            lambda conn: spent_and_reserved(conn, _limit("run"), run_id="top", agent=None, now=now)
        )
    assert spend.known_usd == Decimal(11 * MILLION + 1) / 10**12 and spend.unknown_cost_bound_usd == Decimal("7e-12")
    assert summary["largest_run"] == {
        "run_id": "top",
        "delegated_runs": 2,
        "known_cost_usd": _usd(11 * MILLION + 1),
        "unknown_cost_bound_usd": _usd(7),
        "at_most_usd": _usd(11 * MILLION + 8),
        "unbounded_attempts": 0,
        # (its rows are written with no attempt, as a prune leaves a kept run's: the figure says so)
        "attempts_pruned": True,
    }
    assert cost == (11 * MILLION + 1, 7, 0)


async def test_a_run_limit_read_with_the_runs_recorded_parent_counts_past_sqlites_integer_exactly(tmp_path: Path):
    """A reservation for a run joined by its id alone reads the run's recorded parent with the run's scope, in one
    statement: past SQLite's integer it is read again with the exact sums, the parent with them."""
    now = time.time()
    async with Ledger(tmp_path / "l.db") as ledger:
        await _write_run_tree_past_int64(ledger, now)
        fits = await ledger.submit(Reservation([_limit("run")], Decimal(8_900_000), "top", None))
        for run_id in ("top", "c1"):  # top's own scope overflows; c1's does not, its parent's (top's) does
            with pytest.raises(BudgetExceeded) as info:
                await ledger.submit(Reservation([_limit("run")], Decimal(200_000), run_id, None))
            details = info.value.details
            assert Decimal(details["spent_usd"]) == Decimal(11 * MILLION + 1) / 10**12, run_id
            assert Decimal(details["reserved_usd"]) == 8_900_000, run_id
        held = await ledger.read(lambda conn: conn.execute("SELECT id, run_id FROM budget_reservations").fetchall())
    assert held == [(fits, "top")]


async def test_a_batchs_run_limits_read_past_sqlites_integer_exactly(tmp_path: Path):
    """A batch reads each run's parent and spend in one statement and the holds of every run at once: past SQLite's
    integer the spend is read again with the exact sums, the parent with it, and the holds are exact as summed."""
    now = time.time()
    async with Ledger(tmp_path / "l.db") as ledger:
        await _write_run_tree_past_int64(ledger, now)
        asks = [("top", 8_900_000), ("top", 200_000), ("c1", 200_000)]
        batch = [Reservation([_limit("run")], Decimal(usd), run_id, None) for run_id, usd in asks]
        made = await ledger.submit(lambda conn: Reservation.apply_all(conn, batch))
        held = await ledger.read(lambda conn: conn.execute("SELECT id, run_id FROM budget_reservations").fetchall())
    assert [ok for ok, _ in made] == [True, False, False]
    for _, refused in made[1:]:  # top's own scope overflows; c1's does not, its parent's (top's) does
        assert Decimal(refused.details["spent_usd"]) == Decimal(11 * MILLION + 1) / 10**12
        assert Decimal(refused.details["unknown_cost_bound_usd"]) == Decimal(7) / 10**12
        assert Decimal(refused.details["reserved_usd"]) == 8_900_000
    assert held == [(made[0][1], "top")]


def _other_quarter_today(quarter: int) -> int:
    """Another quarter-hour of the same UTC day as ``quarter``: the one before it, unless ``quarter`` is the
    day's first (from 00:00 to 00:15 UTC the one before was yesterday's, which a day limit does not count:
    these tests failed there)."""
    return quarter - 1 if quarter % (86_400 // SPEND_BUCKET_SECONDS) else quarter + 1


def _limit(kind: str, usd: int = 20_000_000) -> Limit:
    return Limit(kind, Decimal(usd), "big-org", allow_unpriced=False)  # type: ignore[arg-type]


async def test_a_day_limit_counts_a_days_spend_past_sqlites_integer_and_refuses_with_the_exact_figure(tmp_path: Path):
    """Before: every reservation under the day limit failed with "integer overflow", so no call could be
    made, and check_budget failed too."""
    now = time.time()
    quarter = int(now // SPEND_BUCKET_SECONDS)
    other = _other_quarter_today(quarter)
    async with Ledger(tmp_path / "l.db") as ledger:
        await _write(
            ledger, "INSERT INTO day_spend VALUES (?, ?, ?)", [(other, 6 * MILLION, 1), (quarter, 6 * MILLION, 2)]
        )
        await _write(
            ledger,
            "INSERT INTO agent_spend VALUES ('a', ?, ?, ?)",
            [(other, 6 * MILLION, 0), (quarter, 6 * MILLION, 0)],
        )
        await _write(
            ledger,
            "INSERT INTO budget_reservations (run_id, agent, created_at, expires_at, amount_pusd, state)"
            " VALUES ('r', 'a', ?, ?, ?, 'held')",
            [(now, now + 900, 5 * MILLION), (now, now + 900, 5 * MILLION)],
        )
        for kind, bound in (("day", 3), ("agent_day", 0)):
            got = await ledger.read(
                lambda conn, k=kind: spent_and_reserved(conn, _limit(k), run_id=None, agent="a", now=now)
            )
            assert got == (12 * MILLION, bound, 10 * MILLION), kind
        reservation = Reservation([_limit("day", 30_000_000)], Decimal(8_000_000), "r2", "a")
        with pytest.raises(BudgetExceeded) as info:
            await ledger.submit(reservation)
    details = info.value.details
    assert Decimal(details["spent_usd"]) == 12_000_000 and Decimal(details["reserved_usd"]) == 10_000_000


async def test_the_reservation_reads_stay_one_statement_and_sum_as_before_below_the_limit(tmp_path: Path):
    """The hot path: one statement per limit, SQLite's own SUM (no split sums) unless it overflowed."""
    now = time.time()
    quarter = int(now // SPEND_BUCKET_SECONDS)
    async with Ledger(tmp_path / "l.db") as ledger:

        def traced(conn: sqlite3.Connection, kind: str) -> list[str]:
            statements: list[str] = []
            conn.set_trace_callback(statements.append)
            try:
                spent_and_reserved(conn, _limit(kind), run_id="r", agent="a", now=now)
            finally:
                conn.set_trace_callback(None)
            return statements

        for kind in ("run", "day", "agent_day"):
            statements = await ledger.read(lambda conn, k=kind: traced(conn, k), snapshot=False)
            assert len(statements) == 1 and ">>" not in statements[0], (kind, statements)
        await _write(
            ledger,
            "INSERT INTO day_spend VALUES (?, ?, 0)",
            [(q, MAX_PUSD) for q in (quarter, _other_quarter_today(quarter))],
        )
        statements = await ledger.read(lambda conn: traced(conn, "day"), snapshot=False)
    assert len(statements) == 2 and ">>" in statements[1]  # SUM overflowed: read again, split


def _call(
    run_id: str, cost: Decimal, agent: str = "a", at: float | None = None
) -> tuple[RunRecord, list[AttemptRecord]]:
    at = time.time() if at is None else at
    run = RunRecord(run_id, agent, "s", at, status="ok", ended_at=at)
    attempt = AttemptRecord(run_id, at, "p", "m", "s", agent, "ok", 0, 1, input_tokens=1, cost_usd=cost)
    return run, [attempt]


@pytest.mark.parametrize(
    "table, key, named",
    [
        ("runs", "run_id = 'r'", "a run's total"),
        ("agent_spend", "agent = 'a'", "an agent's spend in one quarter-hour"),
        ("day_spend", "1", "the spend of all calls in one quarter-hour"),
        ("usage_rollup", "1", "one day's total for a model, agent and skill"),
    ],
)
async def test_a_running_total_that_would_pass_sqlites_integer_refuses_the_record(tmp_path: Path, table, key, named):
    """Before: SQLite's + past 2**63-1 gives an inexact REAL, which the column kept: every summary and
    limit from then on read a wrong number, silently."""
    # both calls in the middle of one quarter-hour (the spend tables' bucket), in the past: taken at the clock's
    # time, a run within a second of a quarter-hour put the second call in the next bucket, with nothing to pass
    now = time.time() // SPEND_BUCKET_SECONDS * SPEND_BUCKET_SECONDS - SPEND_BUCKET_SECONDS / 2
    async with Ledger(tmp_path / "l.db") as ledger:
        await ledger.record_call(*_call("r", Decimal(1), at=now))
        await _write(ledger, f"UPDATE {table} SET cost_pusd = {MAX_PUSD - 10**12} WHERE {key}", [()])
        with pytest.raises(LedgerError) as info:
            await ledger.record_call(*_call("r" if table == "runs" else "r2", Decimal(2), at=now + 1))
        stored = await ledger.read(
            lambda conn: conn.execute(f"SELECT cost_pusd, typeof(cost_pusd) FROM {table} WHERE {key}").fetchall()
        )
        attempts = await ledger.read(lambda conn: conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0])
    assert f"{named} would pass $9223372.036854775807" in info.value.message, info.value.message
    assert "nothing of it was written" in info.value.message and "prices.yaml" in info.value.message
    # (the ledger knows no catalog: not "catalog/prices.yaml", right only in a clone's folder)
    assert info.value.message.endswith(
        "check the model's price in the prices.yaml of your catalog (magsag doctor names the catalog in use)"
    ), info.value.message
    assert info.value.details["overflow"] is True
    assert stored == [(MAX_PUSD - 10**12, "integer")] and attempts == 1  # the record, whole, was refused


async def test_one_attempt_costing_more_than_the_ledger_holds_is_a_clear_ledger_error(tmp_path: Path):
    """Before: OverflowError "Python int too large to convert to SQLite INTEGER" out of the ledger."""
    async with Ledger(tmp_path / "l.db") as ledger:
        with pytest.raises(LedgerError, match=r"a cost is above \$9223372\.036854775807, the largest amount it stores"):
            await ledger.record_call(*_call("r", Decimal(10_000_000)))
        await ledger.record_call(*_call("r2", Decimal(1)))  # the next record is written as ever


async def test_a_paid_call_whose_record_cannot_fit_is_not_kept_to_fail_every_later_record(
    fake_openai: FakeOpenAI, tmp_path: Path
):
    """A record refused because it can never fit is not kept for the next call to write with its own:
    that would fail every call after it. The paid answer still travels with the error."""
    fake_openai.queue(R.reply("the paid answer"), R.reply("second"))
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    payload = {"data": "numbers", "model_config": {"provider": "openai", "model": "gpt-4o"}}
    svc = await Service.open(db=tmp_path / "l.db", env=env)
    try:
        # today's usage of agent a's calls of gpt-4o for the skill, at the most the ledger stores
        await _write(
            svc.ledger,
            "INSERT INTO usage_rollup (bucket, model, provider, agent, skill, outcome, attempts, cost_pusd)"
            " VALUES (?, 'gpt-4o', 'openai', 'a', 'skill.analysis', 'ok', 1, ?)",
            [(int(time.time() // DAY), MAX_PUSD)],
        )
        with pytest.raises(LedgerError) as info:
            await svc.invoke_skill("skill.analysis", payload, run_id="first", agent="a")
        assert info.value.result.output == "the paid answer"
        assert "one day's total for a model, agent and skill would pass" in info.value.message
        assert "so it is not kept" in info.value.message
        second = await svc.invoke_skill("skill.analysis", payload, run_id="next", agent="b")
        assert second.output == "second"
    finally:
        await svc.aclose()
    conn = sqlite3.connect(tmp_path / "l.db")
    runs = conn.execute("SELECT run_id FROM runs").fetchall()
    rollup = conn.execute("SELECT agent, cost_pusd, typeof(cost_pusd) FROM usage_rollup ORDER BY agent").fetchall()
    conn.close()
    assert runs == [("next",)] and rollup[0] == ("a", MAX_PUSD, "integer") and rollup[1][0] == "b"


async def test_a_record_that_cannot_fit_beside_a_kept_one_is_dropped_alone(fake_openai: FakeOpenAI, tmp_path: Path):
    """A record that can never fit, written with one kept from an earlier refusal (a locked ledger), was
    kept with it: every later call's record was written with both and refused too, for good, each paid
    answer reported unrecorded. Now each is tried alone: the one that cannot fit is dropped, the rest written."""
    fake_openai.queue(R.reply("one"), R.reply("two"), R.reply("three"))
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    payload = {"data": "numbers", "model_config": {"provider": "openai", "model": "gpt-4o"}}
    svc = await Service.open(db=tmp_path / "l.db", env=env)
    try:
        real, refusals = svc.ledger.record_call, iter([True])

        async def record_call(*args, **kw):
            if next(refusals, False):
                raise LedgerError("the ledger is locked", db="l.db")
            await real(*args, **kw)

        svc.ledger.record_call = record_call  # type: ignore[method-assign]
        with pytest.raises(LedgerError, match="locked"):
            await svc.invoke_skill("skill.analysis", payload, run_id="kept", agent="b")
        await _write(
            svc.ledger,
            "INSERT INTO usage_rollup (bucket, model, provider, agent, skill, outcome, attempts, cost_pusd)"
            " VALUES (?, 'gpt-4o', 'openai', 'a', 'skill.analysis', 'ok', 1, ?)",
            [(int(time.time() // DAY), MAX_PUSD)],
        )
        with pytest.raises(LedgerError) as info:
            await svc.invoke_skill("skill.analysis", payload, run_id="too-large", agent="a")
        assert "so it is not kept" in info.value.message and info.value.result.output == "two"
        third = await svc.invoke_skill("skill.analysis", payload, run_id="next", agent="c")
        assert third.output == "three"
    finally:
        await svc.aclose()
    conn = sqlite3.connect(tmp_path / "l.db")
    runs = conn.execute("SELECT run_id FROM runs ORDER BY run_id").fetchall()
    conn.close()
    assert runs == [("kept",), ("next",)]


async def test_a_month_limit_counts_its_earlier_days_past_sqlites_integer_exactly(tmp_path: Path):
    """A month's quarter-hours before its last two hours are summed apart (sealed_spend) by the same read as the rest
    (scope_sums._sums_read): $12M in its first two quarter-hours is past SQLite's integer, read exactly, and the live
    quarter-hour's $1M added."""
    from magsag_mcp.governance.scope_sums import month_bounds

    now = time.time()
    quarter = int(now // SPEND_BUCKET_SECONDS)
    first = int(month_bounds(now, "UTC")[0] // SPEND_BUCKET_SECONDS)
    async with Ledger(tmp_path / "l.db") as ledger:
        rows = [(first, 6 * MILLION, 1), (first + 1, 6 * MILLION, 2), (quarter, MILLION, 0)]
        await _write(ledger, "INSERT INTO day_spend VALUES (?, ?, ?)", rows)
        await _write(ledger, "INSERT INTO agent_spend VALUES ('a', ?, ?, ?)", rows)
        for kind in ("month", "agent_month"):
            got = await ledger.read(
                lambda conn, k=kind: spent_and_reserved(conn, _limit(k), run_id=None, agent="a", now=now)
            )
            assert got == (13 * MILLION, 3, 0), kind
