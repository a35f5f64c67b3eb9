"""A month's reconciliation, as a FinOps analyst does it against the vendors' invoices: the audit export's attempts
(``data query --format csv|json``), summed, are ``flow summarize``'s totals to the picodollar (known costs, the bounds
of the unknown ones, the count of each), across a fallback whose first try was billed, retries, an answer of no known
price, an attempt cut in flight, a refused and a skipped target, and an answer from the answer cache (which costs $0
and is no attempt that reached a provider)."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime
from decimal import Decimal as D

import anyio

from magsag_mcp.cli import main
from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.conftest import CATALOG

#: costs down to the picodollar, the ledger's unit, so that any rounding on either side shows
BILLED_FIRST = D("0.001234567891")
ANSWERED = D("0.000000000007")
RETRIED = D("3.141592653589")
CLAUDE = D("0.020000000001")
BOUND_UNKNOWN_PRICE = D("0.5")
BOUND_CUT = D("0.012345678901")


def _fill(db, now: float) -> None:
    async def fill() -> None:
        async with Ledger(db) as ledger:

            def attempt(run: RunRecord, target: str, outcome, position: int, n: int, **fields) -> AttemptRecord:
                provider, model = target.split(":", 1)
                return AttemptRecord(
                    run.run_id, now, provider, model, run.skill, run.agent, outcome, position, n, **fields
                )

            # a fallback: the first answer was unusable and billed, the second model answered
            run = RunRecord("r-fallback", "alice", "skill.report", now)
            await ledger.record_call(
                run,
                [
                    attempt(
                        run,
                        "openai:gpt-4o",
                        "error",
                        0,
                        1,
                        error_class="invalid_output",
                        input_tokens=400,
                        output_tokens=100,
                        cost_usd=BILLED_FIRST,
                        price_source="genai-prices",
                    ),
                    attempt(
                        run,
                        "anthropic:claude-sonnet-4-5",
                        "ok",
                        1,
                        1,
                        input_tokens=3,
                        output_tokens=1,
                        cost_usd=ANSWERED,
                        price_source="genai-prices",
                    ),
                ],
            )
            # retries on one target: an overload (never billed, $0), then the answer on priority
            run = RunRecord("r-retried", "alice", "skill.report", now)
            await ledger.record_call(
                run,
                [
                    attempt(run, "openai:gpt-5", "error", 0, 1, error_class="rate_limited", cost_usd=D(0)),
                    attempt(
                        run,
                        "openai:gpt-5",
                        "ok",
                        0,
                        2,
                        input_tokens=90_000,
                        output_tokens=20_000,
                        cached_tokens=40_000,
                        reasoning_tokens=15_000,
                        service_tier="priority",
                        cost_usd=RETRIED,
                        price_source="genai-prices",
                    ),
                ],
            )
            # an answer of no known price, counted at its bound; a model of no price at all, unbounded
            run = RunRecord("r-unknown", "bob", "skill.report", now)
            await ledger.record_call(
                run,
                [
                    attempt(
                        run,
                        "openai:gpt-4o",
                        "ok",
                        0,
                        1,
                        input_tokens=10,
                        output_tokens=5,
                        service_tier="flex",
                        cost_bound_usd=BOUND_UNKNOWN_PRICE,
                    )
                ],
            )
            run = RunRecord("r-mystery", "bob", "skill.report", now)
            await ledger.record_call(
                run, [attempt(run, "compat:mystery-7b", "ok", 0, 1, input_tokens=10, output_tokens=5)]
            )
            # cut in flight (unknown, bounded), then refused by policy and skipped: the call failed
            run = RunRecord("r-cut", "carol", "skill.report", now, status="error")
            await ledger.record_call(
                run,
                [
                    attempt(
                        run,
                        "anthropic:claude-sonnet-4-5",
                        "error",
                        0,
                        1,
                        error_class="timeout",
                        cost_bound_usd=BOUND_CUT,
                    ),
                    attempt(run, "anthropic:claude-opus-4-6", "policy_denied", 1, 1, cost_usd=D(0)),
                    attempt(run, "google:gemini-2.5-pro", "skipped", 2, 0, cost_usd=D(0)),
                ],
            )
            # Anthropic's 1-hour cache writes, priced
            run = RunRecord("r-claude", "carol", "skill.report", now)
            await ledger.record_call(
                run,
                [
                    attempt(
                        run,
                        "anthropic:claude-sonnet-4-5",
                        "ok",
                        0,
                        1,
                        input_tokens=6000,
                        output_tokens=500,
                        cache_write_tokens=3000,
                        cache_write_1h_tokens=2000,
                        cached_tokens=2000,
                        cost_usd=CLAUDE,
                        price_source="genai-prices",
                    )
                ],
            )
            # an answer from the answer cache: $0, what it had cost beside
            run = RunRecord("r-cached", "alice", "skill.report", now)
            await ledger.record_call(
                run,
                [
                    attempt(
                        run,
                        "openai:gpt-5",
                        "ok",
                        0,
                        1,
                        cost_usd=D(0),
                        price_source="cache",
                        saved_usd=RETRIED,
                        cached_from="r-retried",
                    )
                ],
            )

    anyio.run(fill)


def _run(args: list[str], capsys) -> str:
    assert main(args) == 0
    return capsys.readouterr().out


def _exact(value) -> D | None:
    return None if value in (None, "") else D(str(value))


def test_the_exports_attempts_add_up_to_the_summary_to_the_picodollar(tmp_path, monkeypatch, capsys):
    db = tmp_path / "month.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    _fill(db, time.time())
    rows = list(csv.DictReader(io.StringIO(_run(["data", "query", "--format", "csv"], capsys))))
    runs = json.loads(_run(["data", "query", "--format", "json"], capsys))
    summary = json.loads(_run(["flow", "summarize"], capsys))
    attempts = [a for run in runs for a in run["attempts"]]
    assert len(rows) == len(attempts) == 11
    # the CSV and the JSON export say the same costs, as exact decimal text (no float's rounding)
    assert sorted(
        (
            (r["run_id"], r["attempt_number"], r["model"], _exact(r["cost_usd"]), _exact(r["cost_bound_usd"]))
            for r in rows
        ),
        key=str,
    ) == sorted(
        (
            (run["run_id"], str(a["attempt_number"]), a["model"], _exact(a["cost_usd"]), _exact(a["cost_bound_usd"]))
            for run in runs
            for a in run["attempts"]
        ),
        key=str,
    )
    known = sum((_exact(r["cost_usd"]) or D(0) for r in rows), D(0))
    unknown = [r for r in rows if r["cost_usd"] == ""]
    bounds = sum((_exact(r["cost_bound_usd"]) or D(0) for r in unknown), D(0))
    assert known == BILLED_FIRST + ANSWERED + RETRIED + CLAUDE  # the cache's answer cost $0, as did the refusals
    assert bounds == BOUND_UNKNOWN_PRICE + BOUND_CUT
    totals = summary["totals"]
    assert D(totals["known_cost_usd"]) == known
    assert D(totals["unknown_cost_bound_usd"]) == bounds
    assert totals["unpriced_attempts"] == len(unknown) == 3
    assert totals["unbounded_attempts"] == sum(1 for r in unknown if r["cost_bound_usd"] == "") == 1
    assert totals["cost_complete"] is False and totals["cost_usd"] is None
    # each breakdown adds up to the same: by model, by provider, by agent
    for breakdown, column in (("model_stats", "model"), ("by_provider", "provider"), ("by_agent", "agent")):
        entries = summary[breakdown]
        assert sum((D(e["known_cost_usd"]) for e in entries.values()), D(0)) == known, breakdown
        for name, entry in entries.items():
            mine = [r for r in rows if r[column] == name]
            assert mine, (breakdown, name)
            assert D(entry["known_cost_usd"]) == sum((_exact(r["cost_usd"]) or D(0) for r in mine), D(0)), name
    # each run's own figures are its attempts' (the JSON export's run level, which an invoice line is matched to)
    for run in runs:
        costs = [_exact(a["cost_usd"]) for a in run["attempts"]]
        if None in costs:
            assert run["cost_usd"] is None and run["cost_complete"] is False, run["run_id"]
        else:
            assert D(run["cost_usd"]) == sum(costs, D(0)), run["run_id"]
        assert D(run["known_cost_usd"]) == sum((c or D(0) for c in costs), D(0)), run["run_id"]
        assert D(run["cost_bound_usd"]) == sum(
            (_exact(a["cost_bound_usd"]) or D(0) for a in run["attempts"] if a["cost_usd"] is None), D(0)
        ), run["run_id"]
    # the answer cache's saving is said apart, and counted in no cost
    assert summary["cache"]["hits"] == 1 and D(summary["cache"]["saved_usd"]) == RETRIED


def test_a_months_export_filtered_to_its_attempts_times_is_its_summary(tmp_path, monkeypatch, capsys):
    # `data query --since --until` lists the runs that made a call in the window, each with all its attempts (a
    # long-lived run's before the window too, a run's after it): the attempts whose `time` is in the window are the
    # month's, and summed they are `flow summarize`'s for the same window, to the picodollar
    db = tmp_path / "month.db"
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("MAGSAG_CATALOG", str(CATALOG))
    day = 86400
    start = (int(time.time()) // day - 40) * day  # a UTC midnight
    end = start + 30 * day
    hour = 3600

    async def fill() -> None:
        async with Ledger(db) as ledger:
            # a session begun the month before, calling on both sides of its start
            run = RunRecord("r-session", "alice", "skill.report", start - hour)
            for n, (at, cost) in enumerate(((start - hour, D("1.000000000001")), (start + hour, D("0.25")))):
                attempt = AttemptRecord(
                    run.run_id, at, "openai", "gpt-5", run.skill, run.agent, "ok", 0, n + 1, cost_usd=cost
                )
                await ledger.record_call(run, [attempt])
            # a run of the month whose last call is after its end, and one in its last quarter second (`time` is
            # written to the second, truncated: 23:59:59, in the month)
            run = RunRecord("r-late", "bob", "skill.report", end - hour)
            for n, (at, cost, bound) in enumerate(
                ((end - hour, None, D("0.000000000003")), (end + hour, D("7"), None), (end - 0.25, D("0.1"), None))
            ):
                attempt = AttemptRecord(
                    run.run_id,
                    at,
                    "anthropic",
                    "claude-sonnet-4-5",
                    run.skill,
                    run.agent,
                    "ok",
                    0,
                    n + 1,
                    cost_usd=cost,
                    cost_bound_usd=bound,
                )
                await ledger.record_call(run, [attempt])
            # mid-month: a fallback whose first try was billed
            run = RunRecord("r-mid", "carol", "skill.report", start + 15 * day + 7)
            await ledger.record_call(
                run,
                [
                    AttemptRecord(
                        run.run_id,
                        run.started_at,
                        "google",
                        "gemini-2.5-pro",
                        run.skill,
                        run.agent,
                        "error",
                        0,
                        1,
                        error_class="invalid_output",
                        cost_usd=D("0.000000000009"),
                    ),
                    AttemptRecord(
                        run.run_id,
                        run.started_at,
                        "openai",
                        "gpt-4o",
                        run.skill,
                        run.agent,
                        "ok",
                        1,
                        1,
                        cost_usd=D("0.3333"),
                    ),
                ],
            )

    anyio.run(fill)
    window = ["--since", str(start), "--until", str(end)]
    rows = list(csv.DictReader(io.StringIO(_run(["data", "query", *window, "--format", "csv"], capsys))))
    assert {r["run_id"] for r in rows} == {"r-session", "r-late", "r-mid"} and len(rows) == 7  # all their attempts
    since, until = (datetime.fromtimestamp(t, UTC) for t in (start, end))
    month = [r for r in rows if since <= datetime.fromisoformat(r["time"]) < until]
    assert len(month) == 5
    totals = json.loads(_run(["flow", "summarize", *window], capsys))["totals"]
    known = sum((_exact(r["cost_usd"]) or D(0) for r in month), D(0))
    assert D(totals["known_cost_usd"]) == known == D("0.25") + D("0.1") + D("0.000000000009") + D("0.3333")
    assert D(totals["unknown_cost_bound_usd"]) == D("0.000000000003")
    assert totals["attempts"] == len(month) and totals["unpriced_attempts"] == 1
