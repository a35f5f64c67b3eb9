"""Properties of the ledger's reads (ledger.queries), searched by hypothesis for counterexamples: for any set of
recorded calls (attempts ok, failed, refused or skipped; costs known, unknown with a bound, unknown without), a
summary's totals are the sums of the attempts query_runs lists (calls, errors, tokens, known cost, unknown costs
counted as unknown, never as 0); and a summary over a window [since, until) counts exactly the attempts that started
in it, however the window's edges fall on the daily rollup's buckets."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import anyio
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.migrations import ROLLUP_BUCKET_SECONDS
from magsag_mcp.ledger.queries import query_runs, summarize
from magsag_mcp.records import AttemptRecord, RunRecord

#: modest (each example opens a ledger of its own); reproducible and untimed by the run's profile (tests/conftest.py)
PROPERTY = settings(max_examples=40)

DAY = ROLLUP_BUCKET_SECONDS
#: the first rollup bucket the examples' calls fall in: midnight UTC some days ago (the ledger's times are in the past)
T0 = (time.time() // DAY - 10) * DAY
#: (run, its agent, its skill)
RUNS = [("r1", "ag1", "skill.a"), ("r2", None, "skill.b"), ("r3", "ag2", None)]
#: outcomes of attempts that reached a provider, and of those that did not
SENT = ("ok", "error")
REFUSED = ("skipped", "budget_exceeded", "policy_denied")


@dataclass(frozen=True)
class Attempt:
    at: float
    model: str
    outcome: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost: Decimal | None
    bound: Decimal | None


@dataclass(frozen=True)
class Call:
    run: int
    attempts: tuple[Attempt, ...]


#: a time in the three days from T0, often right on a bucket's edge or a second either side
times = st.one_of(
    st.floats(min_value=T0, max_value=T0 + 3 * DAY, allow_nan=False),
    st.sampled_from([T0 + k * DAY + d for k in range(4) for d in (-1.0, -0.25, 0.0, 0.25, 1.0)]),
)
money = st.decimals(min_value=0, max_value=5, places=12)


@st.composite
def attempts(draw: st.DrawFn, at: float) -> Attempt:
    outcome = draw(st.sampled_from(SENT + REFUSED))
    model = draw(st.sampled_from(["m-alpha", "m-beta"]))
    if outcome in REFUSED:  # (nothing sent: no tokens, no cost)
        return Attempt(at, model, outcome, 0, 0, 0, 0, None, None)
    tin, tout = draw(st.integers(0, 10**6)), draw(st.integers(0, 10**5))
    cost = draw(st.none() | money)
    return Attempt(
        at,
        model,
        outcome,
        tin,
        tout,
        draw(st.integers(0, tin)),
        draw(st.integers(0, tout)),
        cost,
        draw(st.none() | money) if cost is None else None,
    )


@st.composite
def calls(draw: st.DrawFn) -> Call:
    start = draw(times)
    gaps = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 30.0, DAY / 2]), min_size=1, max_size=3))
    moments = [start + sum(gaps[:i]) for i in range(len(gaps))]
    return Call(draw(st.integers(0, len(RUNS) - 1)), tuple(draw(attempts(at)) for at in moments))


async def _record_all(ledger: Ledger, recorded: list[Call]) -> None:
    for call in recorded:
        run_id, agent, skill = RUNS[call.run]
        run = RunRecord(run_id=run_id, agent=agent, skill=skill, started_at=call.attempts[0].at)
        run.ended_at = call.attempts[-1].at
        run.status = "ok" if any(a.outcome == "ok" for a in call.attempts) else "error"
        # (totals over the call's attempts, as the service fills them when the call ends)
        run.input_tokens = sum(a.input_tokens for a in call.attempts)
        run.output_tokens = sum(a.output_tokens for a in call.attempts)
        records = [
            AttemptRecord(
                run_id=run_id,
                started_at=a.at,
                provider="compat",
                model=a.model,
                skill=skill,
                agent=agent,
                outcome=a.outcome,  # type: ignore[arg-type]
                fallback_position=0,
                attempt_number=i + 1 if a.outcome in SENT else 0,
                input_tokens=a.input_tokens,
                output_tokens=a.output_tokens,
                cached_tokens=a.cached_tokens,
                reasoning_tokens=a.reasoning_tokens,
                cost_usd=a.cost,
                cost_bound_usd=a.bound,
                price_source=None if a.cost is None else "catalog:prices.yaml",
            )
            for i, a in enumerate(call.attempts)
        ]
        await ledger.record_call(run, records)


def expected_totals(
    recorded: list[Call],
    since: float | None = None,
    until: float | None = None,
    *,
    model: str | None = None,
    agent: str | None = None,
) -> dict[str, object]:
    """A summary's totals as the guide defines them, from the calls themselves: attempts in [since, until) (of
    ``model``, of ``agent``'s runs) that reached a provider; each call once, under its last such attempt (and its
    model), failed where that attempt failed."""

    def inside(at: float) -> bool:
        return (since is None or at >= since) and (until is None or at < until)

    def chosen(call: Call, a: Attempt) -> bool:
        return inside(a.at) and (model is None or a.model == model) and (agent is None or RUNS[call.run][1] == agent)

    sent = [a for call in recorded for a in call.attempts if a.outcome in SENT and chosen(call, a)]
    ends = [last for call in recorded if (last := _last_sent(call)) is not None and chosen(call, last)]
    unknown = [a for a in sent if a.cost is None]
    known = sum((a.cost for a in sent if a.cost is not None), Decimal(0))
    totals: dict[str, object] = {
        "calls": len(ends),
        "errors": sum(1 for a in ends if a.outcome != "ok"),
        "attempts": len(sent),
        "attempt_errors": sum(1 for a in sent if a.outcome != "ok"),
        "input_tokens": sum(a.input_tokens for a in sent),
        "output_tokens": sum(a.output_tokens for a in sent),
        "cached_tokens": sum(a.cached_tokens for a in sent),
        "reasoning_tokens": sum(a.reasoning_tokens for a in sent),
        "known_cost_usd": known,
        "cost_usd_exact": None if unknown else known,
        "unpriced_attempts": len(unknown),
        "unknown_cost_bound_usd": sum((a.bound for a in unknown if a.bound is not None), Decimal(0)),
        "unbounded_attempts": sum(1 for a in unknown if a.bound is None),
    }
    for outcome in REFUSED:
        n = sum(1 for call in recorded for a in call.attempts if a.outcome == outcome and chosen(call, a))
        if n:
            totals[f"{outcome}_attempts"] = n
    return totals


def _last_sent(call: Call) -> Attempt | None:
    return next((a for a in reversed(call.attempts) if a.outcome in SENT), None)


def said_totals(summary: dict[str, object]) -> dict[str, object]:
    totals = summary["totals"]
    assert isinstance(totals, dict)
    said = {key: totals.get(key) for key in expected_totals([])}
    for key in ("known_cost_usd", "cost_usd_exact", "unknown_cost_bound_usd"):
        said[key] = None if said[key] is None else Decimal(str(said[key]))
    said.update({key: n for key, n in totals.items() if key.endswith("_attempts") and key.split("_attempts")[0] in
                 REFUSED})  # fmt: skip
    return said


@PROPERTY
@given(st.lists(calls(), min_size=1, max_size=8))
def test_a_summarys_totals_are_the_sums_of_the_attempts_query_runs_lists(recorded):
    async def read(db: Path) -> tuple[dict, list]:
        async with Ledger(db) as ledger:
            await _record_all(ledger, recorded)
            return await summarize(ledger), await query_runs(ledger, {"limit": 10_000})

    with tempfile.TemporaryDirectory() as folder:
        summary, runs = anyio.run(read, Path(folder) / "ledger.db")
    assert said_totals(summary) == expected_totals(recorded)
    # and query_runs lists the same attempts: the same sums read from its rows
    listed = [a for run in runs for a in run["attempts"]]
    assert len(listed) == sum(len(call.attempts) for call in recorded)
    sent = [a for a in listed if a["outcome"] in SENT]
    totals = summary["totals"]
    assert sum(a["input_tokens"] for a in sent) == totals["input_tokens"]
    assert sum(a["output_tokens"] for a in sent) == totals["output_tokens"]
    assert sum(Decimal(a["cost_usd"]) for a in sent if a["cost_usd"] is not None) == Decimal(totals["known_cost_usd"])
    assert sum(1 for a in sent if a["cost_usd"] is None) == totals["unpriced_attempts"]
    # each run's own figures are its attempts': the runs' sums are the totals (refused attempts hold nothing)
    assert sum(run["input_tokens"] for run in runs) == totals["input_tokens"]
    assert sum(Decimal(run["known_cost_usd"]) for run in runs) == Decimal(totals["known_cost_usd"])
    assert sum(run["unpriced_attempts"] for run in runs) == totals["unpriced_attempts"]
    # a run counts every call made, one none of whose attempts was sent too (the summary's calls reached a provider)
    assert sum(run["calls"] for run in runs) == len(recorded)


@PROPERTY
@given(st.lists(calls(), min_size=1, max_size=8), times, times)
def test_a_summary_over_a_window_counts_the_attempts_that_started_in_it_half_open(recorded, one, other):
    since, until = min(one, other), max(one, other)
    assume(since < until)  # (an empty window is refused, and said so: tests/test_ledger_summaries)

    async def read(db: Path) -> list[dict]:
        async with Ledger(db) as ledger:
            await _record_all(ledger, recorded)
            return [
                await summarize(ledger, {"since": since, "until": until}),
                await summarize(ledger, {"since": since}),
                await summarize(ledger, {"until": until}),
            ]

    with tempfile.TemporaryDirectory() as folder:
        both, after, before = anyio.run(read, Path(folder) / "ledger.db")
    assert said_totals(both) == expected_totals(recorded, since, until), (since, until)
    assert said_totals(after) == expected_totals(recorded, since=since), since
    assert said_totals(before) == expected_totals(recorded, until=until), until


@PROPERTY
@given(st.lists(calls(), min_size=1, max_size=8), times, times, st.sampled_from([("model", "m-alpha"), ("model",
       "m-beta"), ("agent", "ag1"), ("agent", "ag2")]))  # fmt: skip
def test_a_summary_of_a_model_or_an_agent_over_a_window_counts_its_attempts_in_it(recorded, one, other, narrowed):
    # the daily rollup keeps a row per (model, provider, agent, skill, outcome): a filter selects its rows within the
    # window's whole days and its attempts at the window's edges
    since, until = min(one, other), max(one, other)
    assume(since < until)
    name, value = narrowed

    async def read(db: Path) -> list[dict]:
        async with Ledger(db) as ledger:
            await _record_all(ledger, recorded)
            return [await summarize(ledger, {name: value, "since": since, "until": until}),
                    await summarize(ledger, {name: value})]  # fmt: skip

    with tempfile.TemporaryDirectory() as folder:
        window, whole = anyio.run(read, Path(folder) / "ledger.db")
    assert said_totals(window) == expected_totals(recorded, since, until, **{name: value}), (since, until)
    assert said_totals(whole) == expected_totals(recorded, **{name: value})


#: text as callers and vendors write it into the ledger: names with what a spreadsheet runs as a formula at their
#: start, and messages and warnings of any text (quotes, commas, a bare carriage return, a line break, a tab)
names = st.from_regex(r"\A[=+\-@A-Za-z0-9][A-Za-z0-9 ,;\"'=+\-@._/|]{0,14}[A-Za-z0-9\"'=+\-@._/]\Z")
any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)


@st.composite
def worded_calls(draw: st.DrawFn) -> tuple[str, str | None, str, list[str], Attempt]:
    """(run id, agent, the error's message, the warnings, the attempt)."""
    attempt = draw(attempts(draw(times)))
    return draw(names), draw(st.none() | names), draw(any_text), draw(st.lists(any_text, max_size=3)), attempt


def _cell(value: object) -> str:
    """What a CSV cell holds for a field's value (see cli/csv_rows): nothing for null, text a spreadsheet would run as
    a formula behind a ``'``."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(("=", "+", "-", "@", "\0", "\t", "\r")) else text


@settings(PROPERTY, max_examples=25, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(worded_calls(), min_size=1, max_size=5, unique_by=lambda c: c[0]))
def test_the_csv_and_json_exports_hold_the_rows_query_runs_reads(monkeypatch, capsys, worded):
    import csv
    import io
    import json

    from magsag_mcp.cli import main
    from magsag_mcp.cli.csv_rows import CSV_FIELDS
    from tests.conftest import CATALOG

    async def fill_and_read(db: Path) -> list[dict]:
        async with Ledger(db) as ledger:
            for run_id, agent, message, warnings, a in worded:
                run = RunRecord(run_id=run_id, agent=agent, skill="skill.a", started_at=a.at, ended_at=a.at)
                run.status = "ok" if a.outcome == "ok" else "error"
                record = AttemptRecord(run_id, a.at, "compat", a.model, "skill.a", agent, a.outcome,  # type: ignore[arg-type]
                                       0, 1, error_message=message or None, input_tokens=a.input_tokens,
                                       output_tokens=a.output_tokens, cost_usd=a.cost, cost_bound_usd=a.bound,
                                       warnings=warnings)  # fmt: skip
                await ledger.record_call(run, [record])
            return await query_runs(ledger, {"limit": 10_000})

    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "ledger.db"
        runs = anyio.run(fill_and_read, db)
        monkeypatch.setenv("MAGSAG_DB", str(db))
        monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
        capsys.readouterr()
        assert main(["data", "query", "--format", "json"]) == 0
        exported = json.loads(capsys.readouterr().out)
        assert main(["data", "query", "--format", "csv"]) == 0
        table = capsys.readouterr().out
    # JSON: the runs query_runs reads, every field as it reads it
    assert exported == json.loads(json.dumps(runs, default=str))
    # CSV: one row per attempt, in the same order, each cell the field's value (made inert where a formula would run)
    rows = list(csv.DictReader(io.StringIO(table, newline="")))
    expected = [(run, attempt) for run in runs for attempt in run["attempts"]]
    assert len(rows) == len(expected) == len(worded)
    for row, (run, attempt) in zip(rows, expected, strict=True):
        assert list(row) == list(CSV_FIELDS)
        for key in ("run_id", "agent", "parent_run_id"):
            assert row[key] == _cell(run[key]), key
        assert row["run_status"] == _cell(run["status"])
        for key in CSV_FIELDS:
            if key in attempt and key not in ("agent", "skill", "warnings"):
                assert row[key] == _cell(attempt[key]), (key, row[key], attempt[key])
        assert json.loads(row["warnings"].removeprefix("'")) == attempt["warnings"]


#: (run, the run it was delegated from): trees of one, two and three runs
TREES = [("t1", None), ("t2", "t1"), ("t3", "t1"), ("t4", None), ("t5", "t4"), ("t6", None)]


@st.composite
def tree_calls(draw: st.DrawFn) -> tuple[int, Call]:
    """A call of one of TREES' runs (its agent: ag1 for the first three, ag2 for the rest)."""
    call = draw(calls())
    return draw(st.integers(0, len(TREES) - 1)), call


async def _record_trees(ledger: Ledger, recorded: list[tuple[int, Call]]) -> None:
    for run, call in recorded:
        run_id, parent = TREES[run]
        agent = "ag1" if run < 3 else "ag2"
        record = RunRecord(run_id=run_id, agent=agent, skill="skill.a", started_at=call.attempts[0].at,
                           parent_run_id=parent)  # fmt: skip
        record.ended_at = call.attempts[-1].at
        record.status = "ok"
        attempts = [
            AttemptRecord(
                run_id,
                a.at,
                "compat",
                a.model,
                "skill.a",
                agent,
                a.outcome,  # type: ignore[arg-type]
                0,
                i + 1,
                cost_usd=a.cost,
                cost_bound_usd=a.bound,
            )  # fmt: skip
            for i, a in enumerate(call.attempts)
        ]
        await ledger.record_call(record, attempts)


def _tree_sums(recorded: list[tuple[int, Call]]) -> dict[str, tuple[Decimal, Decimal, int]]:
    """Each tree's (known cost, bound of its unknown costs, attempts of unknown cost with no bound), by its top run."""
    sums: dict[str, tuple[Decimal, Decimal, int]] = {}
    for run, call in recorded:
        run_id, parent = TREES[run]
        top = parent or run_id
        known, bound, unbounded = sums.get(top, (Decimal(0), Decimal(0), 0))
        for a in call.attempts:
            if a.cost is not None:
                known += a.cost
            elif a.outcome in SENT:  # (one never sent cost exactly 0)
                bound += a.bound or Decimal(0)
                unbounded += a.bound is None
        sums[top] = (known, bound, unbounded)
    return sums


@PROPERTY
@given(st.lists(tree_calls(), min_size=1, max_size=8))
def test_the_largest_run_is_the_costliest_tree_of_runs_with_its_delegated_ones(recorded):
    # flow gate's max_cost_per_run_usd check reads it: a tree of runs whose figures are not the costliest's, or not
    # its whole, would pass a gate its run limit refuses
    async def read(db: Path) -> dict:
        async with Ledger(db) as ledger:
            await _record_trees(ledger, recorded)
            return await summarize(ledger)

    with tempfile.TemporaryDirectory() as folder:
        summary = anyio.run(read, Path(folder) / "ledger.db")
    sums = _tree_sums(recorded)
    peak = summary["largest_run"]
    assert peak is not None
    known, bound, unbounded = sums[peak["run_id"]]
    assert (Decimal(peak["known_cost_usd"]), Decimal(peak["unknown_cost_bound_usd"])) == (known, bound), peak
    at_most = peak["at_most_usd"]
    assert (at_most is None) == bool(unbounded) and (at_most is None or Decimal(at_most) == known + bound), peak
    assert known + bound == max(k + b for k, b, _ in sums.values()), (peak, sums)
    delegated = {TREES[run][0] for run, _ in recorded if TREES[run][1] == peak["run_id"]}
    assert peak["delegated_runs"] == len(delegated), (peak, delegated)
