"""A summary's peaks (largest_call, each model's, largest_run, largest_day, each agent's) say when an attempt of unknown
cost with no bound (a model of no known price, admitted by a policy's ``allow_unpriced``) is among those they were
chosen from: their figures leave it out. Before, a call to such a model was summarized as ``"at_most_usd": "0"``,
its run and day too, and a JSON reader took "at most $0" for a bound on a cost nobody knows."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.cli import main
from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.mcp_server.ledger_models import UsageSummaryResult
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.test_call_fit import open_service, setup

DAY = 1_762_000_000.0  # 2025-11-01 (UTC)
UNPRICED = {"provider": "compat", "model": "unknown-model", "max_tokens": 10}
METERED = {"provider": "compat", "model": "metered", "max_tokens": 10}


@pytest.mark.anyio
async def test_a_call_of_no_known_price_is_no_peak_of_at_most_0(catalog_copy, tmp_path, upstream):
    # through the service and the loopback upstream: one call to a model neither genai-prices nor prices.yaml
    # prices (admitted by allow_unpriced), one to a priced model in another run
    setup(catalog_copy, "max_cost_per_run_usd: 5", extra="    allow_unpriced: true\n")
    svc = await open_service(catalog_copy, tmp_path, upstream)
    try:
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": UNPRICED}, run_id="dark")
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": METERED}, run_id="lit")
        summary = await svc.summarize()
        priced = await svc.summarize({"model": "metered"})
    finally:
        await svc.aclose()
    stats = summary["model_stats"]
    assert stats["unknown-model"]["unbounded_attempts"] == 1 and summary["totals"]["unbounded_attempts"] == 1
    # the call of no known price: no figure bounds it (its known costs and bounds, counted_usd, are $0)
    dark = stats["unknown-model"]["largest_call"]
    assert (dark["run_id"], dark["at_most_usd"], dark["counted_usd"]) == ("dark", None, "0")
    assert dark["unbounded_attempts"] == 1
    # the priced model's calls hold none: its figure is the bound it was
    lit = stats["metered"]["largest_call"]
    assert lit["at_most_usd"] == lit["counted_usd"] and Decimal(lit["at_most_usd"]) > 0
    assert (lit["run_id"], lit["unbounded_attempts"]) == ("lit", 0)
    # the window's costliest call is the priced one, chosen from calls one of which has no bound: said so
    assert summary["largest_call"] == {**lit, "unbounded_attempts": 1}
    # its run likewise; the day holds the call of no known price itself: no at_most_usd
    run, day = summary["largest_run"], summary["largest_day"]
    assert (run["run_id"], run["at_most_usd"], run["unbounded_attempts"]) == ("lit", lit["at_most_usd"], 1)
    assert (day["at_most_usd"], day["known_cost_usd"], day["unbounded_attempts"]) == (None, lit["at_most_usd"], 1)
    assert summary["by_agent"]["(none)"]["largest_day"] == day
    UsageSummaryResult.model_validate({**summary, "notes": []})  # the MCP tool's result carries them
    # a summary of priced calls alone: the figures as they were, and 0
    for peak in (priced["largest_call"], priced["largest_run"], priced["largest_day"]):
        assert peak["at_most_usd"] == lit["at_most_usd"] and peak["unbounded_attempts"] == 0, peak


def _attempt(run_id: str, at: float, model: str, outcome: str = "ok", cost: str | None = "0.01", **kw: Any):
    return AttemptRecord(
        run_id, at, "compat", model, None, kw.pop("agent", "ana"), outcome, kw.pop("position", 0),  # type: ignore[arg-type]
        kw.pop("number", 1), cost_usd=None if cost is None else Decimal(cost), **kw,
    )  # fmt: skip


async def _record(db: Path, calls: list[tuple[RunRecord, list[AttemptRecord]]]) -> None:
    async with Ledger(db) as ledger:
        for run, attempts in calls:
            await ledger.record_call(run, attempts)


def _run(run_id: str, at: float, parent: str | None = None, agent: str = "ana") -> RunRecord:
    return RunRecord(run_id, agent, None, at, parent_run_id=parent, ended_at=at + 1, status="ok")


def _fell_back_summary(tmp_path: Path, filters: dict) -> dict:
    """The summary (``filters``) of one call whose first attempt, on a model of no price, was cut after the vendor had
    it (unknown cost, no bound) and whose fallback on a priced model answered for $0.2."""
    call = [
        _attempt("fell", DAY + 10, "mystery", "error", cost=None, error_class="timeout"),
        _attempt("fell", DAY + 12, "metered", cost="0.2", position=1),
    ]
    asyncio.run(_record(tmp_path / "l.db", [(_run("fell", DAY + 10), call)]))

    async def read() -> dict:
        async with Ledger(tmp_path / "l.db") as ledger:
            return await ledger.summarize(UsageFilters(**filters))

    return asyncio.run(read())


@pytest.mark.parametrize("filters", [{}, {"since": "2025-11-01T06:00:00+00:00"}, {"run_id": "fell"}])
def test_a_call_that_fell_back_from_a_model_of_no_known_price_is_no_bound_under_the_model_it_ended_on(
    tmp_path: Path, filters: dict
):
    # its first attempt, on a model of no price, was cut after the vendor had it (unknown cost, no bound); the call
    # counts under the model that answered, whose own attempts all have a price: that model's peak leaves it out
    summary = _fell_back_summary(tmp_path, filters)
    stats = summary["model_stats"]
    assert stats["metered"]["unbounded_attempts"] == 0 and stats["mystery"]["unbounded_attempts"] == 1
    assert stats["mystery"]["largest_call"] is None  # no call ended on it
    # a peak's unbounded_attempts are those on its model (the window's: all) and the call's own that those leave out:
    # the model the call ended on holds none, the call itself one, so no figure bounds it and 1 says why (it said 0
    # beside the null at_most_usd: changed on purpose, see test_a_call_of_two_unbounded_attempts_counts_each_once)
    metered, window = stats["metered"]["largest_call"], summary["largest_call"]
    assert (metered["at_most_usd"], metered["counted_usd"], metered["unbounded_attempts"]) == (None, "0.2", 1)
    assert (window["at_most_usd"], window["counted_usd"], window["unbounded_attempts"]) == (None, "0.2", 1)


@pytest.mark.parametrize("filters", [{"model": "metered"}, {"provider": "compat", "since": str(DAY + 11)}])
def test_a_peak_call_holding_an_unbounded_attempt_the_filters_leave_out_is_still_no_bound(
    tmp_path: Path, filters: dict
):
    # the call's unbounded attempt (on another model, or before the window) is not among the summary's attempts, so
    # the summary counts none; the call is still counted whole (counted_usd, what the call limit checks), and the
    # "0.2" it was given as at_most_usd left out a cost nobody knows. Its unbounded_attempts counts it (it said 0
    # beside the null at_most_usd: changed on purpose)
    summary = _fell_back_summary(tmp_path, filters)
    assert summary["totals"]["unbounded_attempts"] == 0 and "mystery" not in summary["model_stats"]
    metered, window = summary["model_stats"]["metered"]["largest_call"], summary["largest_call"]
    for peak in (metered, window):
        assert (peak["run_id"], peak["at_most_usd"], peak["counted_usd"], peak["unbounded_attempts"]) == (
            "fell", None, "0.2", 1
        ), peak


def test_the_costliest_day_and_run_say_an_unbounded_attempt_of_another_day_and_run(tmp_path: Path):
    # day 1: $2 known (run big, delegating run kid); day 2: a call of no known price (run dark, agent bo). The day and
    # the run of $2 are the costliest that can be counted, not a bound on the day or run of unknown cost
    calls = [
        (_run("big", DAY), [_attempt("big", DAY, "metered", cost="1.5")]),
        (_run("kid", DAY + 5, parent="big"), [_attempt("kid", DAY + 5, "metered", cost="0.5")]),
        (_run("dark", DAY + 86400, agent="bo"), [_attempt("dark", DAY + 86400, "mystery", cost=None, agent="bo")]),
    ]
    asyncio.run(_record(tmp_path / "l.db", calls))

    async def read(timezone: str | None = None, filters: Any = None) -> dict:
        async with Ledger(tmp_path / "l.db") as ledger:
            return await ledger.summarize(filters, timezone)

    for summary in (asyncio.run(read()), asyncio.run(read("Europe/Berlin"))):
        assert summary["largest_day"] == {
            "date": "2025-11-01",
            "known_cost_usd": "2",
            "unknown_cost_bound_usd": "0",
            "at_most_usd": "2",
            "unbounded_attempts": 1,
        }
        assert summary["largest_run"] == {
            "run_id": "big",
            "delegated_runs": 1,
            "known_cost_usd": "2",
            "unknown_cost_bound_usd": "0",
            "at_most_usd": "2",
            "unbounded_attempts": 1,
        }
        # each agent's days are its own: ana's hold no unknown cost, bo's one day is the call of no price
        assert summary["by_agent"]["ana"]["largest_day"]["unbounded_attempts"] == 0
        bo = summary["by_agent"]["bo"]["largest_day"]
        assert (bo["at_most_usd"], bo["unbounded_attempts"]) == (None, 1)
    # the run of no known price, alone: its own figure bounds nothing
    alone = asyncio.run(read(filters={"run_id": "dark"}))
    assert (alone["largest_run"]["run_id"], alone["largest_run"]["at_most_usd"]) == ("dark", None)
    # delegated: a tree holding a delegated run's attempt of no price has no at_most_usd, whatever the filter
    dim = [_attempt("dim", DAY + 7, "x", cost=None)]
    asyncio.run(_record(tmp_path / "l.db", [(_run("dim", DAY + 7, parent="big"), dim)]))
    run = asyncio.run(read())["largest_run"]
    assert (run["run_id"], run["at_most_usd"], run["known_cost_usd"]) == ("big", None, "2")
    assert run["unbounded_attempts"] == 2
    # the model filter leaves dim's attempt out of the summary's, not out of the tree counted whole: counted (it was 0
    # beside the null at_most_usd, see test_unbounded_run_peak)
    run = asyncio.run(read(filters={"model": "metered"}))["largest_run"]
    assert (run["run_id"], run["at_most_usd"], run["unbounded_attempts"]) == ("big", None, 1)


@pytest.mark.parametrize("filters", [{}, {"model": "mystery2"}, {"since": str(DAY + 11)}, {"until": str(DAY + 11)}])
def test_a_call_of_two_unbounded_attempts_counts_each_once(tmp_path: Path, filters: dict):
    # a call cut on a model of no price, then answered by another of no price: each peak counts both, the summary's
    # and the call's own that the filters leave out, never one twice (the window before 11 s holds the first alone,
    # and no call ends in it: no peak)
    call = [
        _attempt("two", DAY + 10, "mystery", "error", cost=None, error_class="timeout"),
        _attempt("two", DAY + 12, "mystery2", cost=None, position=1),
    ]
    asyncio.run(_record(tmp_path / "l.db", [(_run("two", DAY + 10), call)]))

    async def read() -> dict:
        async with Ledger(tmp_path / "l.db") as ledger:
            return await ledger.summarize(UsageFilters(**filters))

    summary = asyncio.run(read())
    if "until" in filters:
        assert summary["largest_call"] is None and summary["totals"]["unbounded_attempts"] == 1
        return
    for peak in (summary["model_stats"]["mystery2"]["largest_call"], summary["largest_call"]):
        assert (peak["run_id"], peak["at_most_usd"], peak["counted_usd"], peak["unbounded_attempts"]) == (
            "two", None, "0", 2
        ), peak  # fmt: skip


POLICY = "policies:\n  - name: limits\n    allow_unpriced: true\n    thresholds: {max_cost_per_call_usd: 1.0}\n"


def _gate(tmp_path: Path, capsys, summary: dict[str, Any]) -> tuple[int, str]:
    path, pol = tmp_path / "summary.json", tmp_path / "policy.yaml"
    path.write_text(json.dumps(summary))
    pol.write_text(POLICY)
    capsys.readouterr()
    code = main(["flow", "gate", str(path), "--policy", str(pol)])
    return code, capsys.readouterr().out


def test_flow_gate_checks_a_call_of_no_at_most_by_what_it_counts(tmp_path: Path, capsys):
    # a call whose cut first attempt was bounded at $1.50, then answered by a model of no known price: its counted
    # $1.50 is over the $1 call limit (as the budget counts it); the summary says no at_most_usd of it
    call = [
        _attempt("c", DAY, "metered", "error", cost=None, cost_bound_usd=Decimal("1.5"), error_class="timeout"),
        _attempt("c", DAY + 3, "mystery", cost=None, position=1),
    ]
    asyncio.run(_record(tmp_path / "l.db", [(_run("c", DAY), call)]))
    out_file = tmp_path / "s.json"
    assert main(["flow", "summarize", "--db", str(tmp_path / "l.db"), "--output", str(out_file)]) == 0
    summary = json.loads(out_file.read_text())
    peak = summary["model_stats"]["mystery"]["largest_call"]
    assert (peak["at_most_usd"], peak["counted_usd"], peak["unbounded_attempts"]) == (None, "1.5", 1)
    code, out = _gate(tmp_path, capsys, summary)
    assert code == 1, out
    assert (
        "FAIL limits: a call to mystery in run c at 2025-11-01T12:26:43+00:00 cost $1.5 (its attempts together, an "
        "unknown cost at its bound, and an attempt of no known price left out), above max_cost_per_call_usd $1.0"
    ) in out
    assert "allow_unpriced admits" in out
    # under the limit: passed, with the note that its limits were checked without the attempt of no price
    summary["model_stats"]["mystery"]["largest_call"]["counted_usd"] = "0.5"
    code, out = _gate(tmp_path, capsys, summary)
    assert code == 0 and "allow_unpriced admits" in out, out


def test_a_peak_call_is_told_apart_from_the_calls_of_its_run_before_it(tmp_path: Path):
    # one run of many calls: each of the first fell back from a model of no price; the last, the costliest, did not.
    # Its figure bounds it (the walk back from its last attempt stops at the call before's end), the others' do not;
    # and the walk reads the call's own rows, not the run's: as many SQLite steps for 40 calls before it as for 400
    import sqlite3

    from magsag_mcp.ledger.peaks import _call_unbounded_attempts

    def ledger(calls: int) -> tuple[Path, dict]:
        db = tmp_path / f"long-{calls}.db"
        fell = [
            [
                _attempt("long", DAY + 10 * i, "mystery", "error", cost=None, error_class="timeout"),
                _attempt("long", DAY + 10 * i + 1, "metered", cost="0.2", position=1),
            ]
            for i in range(calls)
        ]
        last = [_attempt("long", DAY + 10 * calls, "metered", cost="0.5")]
        asyncio.run(_record(db, [(_run("long", DAY), c) for c in [*fell, last]]))

        async def read() -> dict:
            async with Ledger(db) as led:
                return await led.summarize()

        return db, asyncio.run(read())

    steps = []
    for calls in (40, 400):
        db, summary = ledger(calls)
        peak = summary["model_stats"]["metered"]["largest_call"]
        assert (peak["at_most_usd"], peak["unbounded_attempts"]) == ("0.5", 0), peak
        window = summary["largest_call"]
        assert (window["at_most_usd"], window["unbounded_attempts"]) == ("0.5", calls)
        conn = sqlite3.connect(db)
        count = [0]

        def step(count: list[int] = count) -> int:
            count[0] += 1
            return 0

        conn.set_progress_handler(step, 10)
        assert not _call_unbounded_attempts(conn, "long", DAY + 10 * calls)
        assert _call_unbounded_attempts(conn, "long", DAY + 10 * (calls - 1) + 1)  # the call before: it fell back
        steps.append(count[0])
        conn.close()
    assert steps[1] <= steps[0] + 5, steps


@pytest.mark.parametrize("filters", [{}, {"model": "metered"}])
def test_flow_gate_names_the_figures_it_checked_without_an_attempt_of_no_known_price(
    tmp_path: Path, capsys, filters: dict
):
    # the fell-back call ($0.2 counted, its cut first attempt on a model of no price): the call limit ($1) is checked
    # against its counted_usd. The NOTE said "its cost limits were checked without them" and named no figure; under
    # the model filter, which leaves that attempt out of the summary's counts, it said nothing at all ("gate: pass")
    summary = _fell_back_summary(tmp_path, filters)
    code, out = _gate(tmp_path, capsys, summary)
    assert code == 0, out
    [note] = [line for line in out.splitlines() if "allow_unpriced admits" in line]
    head = (
        "1 attempt (mystery) has no known cost and no bound on it"
        if not filters
        else "attempts of no known cost and no bound on it, left out of this summary's counts by its filters, are held "
        "by figures it checks"
    )
    assert note == (
        f"NOTE limits: {head}, which allow_unpriced admits: its cost limits were checked without them, so they may "
        f"have been exceeded unseen; price {'those' if not filters else 'their'} models in the prices.yaml of your "
        "catalog (magsag doctor names the catalog in use) to count them. Checked without one they hold (their "
        "at_most_usd is null, their unbounded_attempts counts it): "
        "max_cost_per_call_usd against model_stats['metered'].largest_call.counted_usd ($0.2, run fell); "
        "`magsag data query --run-id fell --format json` lists the attempts of run fell, with their models; once "
        "priced, `magsag flow summarize` writes their at_most_usd"
    )
    # a policy that does not admit them: the limit cannot be checked, filtered or not
    pol = tmp_path / "strict.yaml"
    pol.write_text(POLICY.replace("    allow_unpriced: true\n", ""))
    assert main(["flow", "gate", str(tmp_path / "summary.json"), "--policy", str(pol)]) == 1
    out = capsys.readouterr().out
    assert "so the cost limits cannot be checked" in out, out


def test_the_gates_note_names_five_models_and_four_figures_and_counts_the_rest():
    # a ledger of many unpriced models (a gateway's names) and many figures holding them: the note lists the first
    # ones and says how many more, rather than a line as long as the ledger
    from types import SimpleNamespace

    from magsag_mcp.governance.gate_notes import listed, unbounded_note

    figures = [(f"model_stats['m{i}'].largest_call.counted_usd", f"run-q{i}") for i in range(7)]
    assert listed(figures[:4]) == "; ".join(what for what, _ in figures[:4])
    assert listed(figures) == "; ".join(what for what, _ in figures[:4]) + "; and 3 more"
    assert listed(figures[:5]) == "; ".join(what for what, _ in figures[:4]) + "; and 1 more"
    stats = {f"m{i}": SimpleNamespace(unbounded=1, unbounded_calls=1) for i in range(7)}
    note = unbounded_note("ci", 7, stats, figures)
    assert "7 attempts (m0, m1, m2, m3, m4 and 2 more) have no known cost" in note, note
    assert "m5" not in note.split("have no known cost")[0]
    assert "; and 3 more;" in note and "(and of run-q1, run-q2)" in note, note
    # the run of the first figure is named with its command; one or two more runs after it
    assert "(and of" not in unbounded_note("ci", 7, stats, figures[:1])
    assert "lists the attempts of run run-q0 (and of run-q1), with" in unbounded_note("ci", 7, stats, figures[:2])
    five = {model: stats[model] for model in list(stats)[:5]}
    assert "5 attempts (m0, m1, m2, m3, m4) have" in unbounded_note("ci", 5, five, figures), five
    six = {model: stats[model] for model in list(stats)[:6]}
    assert "6 attempts (m0, m1, m2, m3, m4 and 1 more) have" in unbounded_note("ci", 6, six, figures), six
