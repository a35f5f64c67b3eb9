"""Summaries of the ledger: one snapshot, equal to a scan of every attempt (across the rollups' day edges),
unknown costs counted and never zeroed, one model under either of its names."""

from __future__ import annotations

import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.records import AttemptRecord, RunRecord
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio


async def test_a_summary_reads_one_snapshot_while_another_process_records(tmp_path: Path, monkeypatch):
    """A summary is several statements (the rollup, the period, the largest run and day). Run one by one
    in autocommit, each saw the ledger as it was at that statement, so a call another process recorded
    in between counted in some parts and not others: under a writer process, about half the summaries
    said the largest day cost more than the whole total. Every read must see one snapshot."""
    from magsag_mcp.ledger import queries
    from magsag_mcp.ledger.writes import RecordWrite

    db = tmp_path / "l.db"
    now = time.time()

    def call(run_id: str) -> RecordWrite:
        run = RunRecord(run_id, "ag", "s", now, ended_at=now, status="ok")
        attempt = AttemptRecord(
            run_id=run_id,
            started_at=now,
            provider="openai",
            model="gpt-4o",
            skill="s",
            agent="ag",
            outcome="ok",
            fallback_position=0,
            attempt_number=1,
            cost_usd=Decimal("0.25"),
        )
        return RecordWrite.of(run, [attempt])

    real = queries.largest_days
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)  # another process's connection

    def meanwhile(conn, f, zone=None, dead=None):  # another process commits a call between the summary's statements
        other.execute("BEGIN IMMEDIATE")
        call("r-meanwhile")(other)
        other.execute("COMMIT")
        return real(conn, f, zone, dead)

    async with Ledger(db) as ledger:
        await ledger.submit(call("r-first"))
        monkeypatch.setattr(queries, "largest_days", meanwhile)
        summary = await ledger.summarize()
        monkeypatch.setattr(queries, "largest_days", real)
        after = await ledger.summarize()
    other.close()
    # the snapshot the summary started with: one call, in every part of it
    assert summary["totals"]["known_cost_usd"] == "0.25"
    assert summary["largest_day"]["known_cost_usd"] == "0.25"
    assert summary["largest_run"]["known_cost_usd"] == "0.25"
    assert after["totals"]["known_cost_usd"] == after["largest_day"]["known_cost_usd"] == "0.5"


async def test_a_gemini_model_named_by_its_resource_name_is_summarized_as_the_model(tmp_path: Path, upstream):
    """Google's docs name a model models/gemini-1.5-pro, and magsag calls, prices and governs it under either name
    (the result's model is gemini-1.5-pro either way). Its attempts were recorded under the name the call gave:
    the guide's model_stats split one model's calls and spend in two, and `flow summarize --model gemini-1.5-pro`
    (or a gate of it) left out the calls written the other way."""
    svc = await Service.open(db=tmp_path / "l.db", env=upstream.env())
    try:
        for model in ("models/gemini-1.5-pro", "gemini-1.5-pro", "google:models/gemini-1.5-pro"):
            result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": model}})
            assert result.model == "gemini-1.5-pro"
        stats = (await svc.summarize(UsageFilters()))["model_stats"]
        assert list(stats) == ["gemini-1.5-pro"] and stats["gemini-1.5-pro"]["calls"] == 3
        for named in ("gemini-1.5-pro", "google:gemini-1.5-pro"):
            narrowed = await svc.summarize(UsageFilters(model=named))
            assert narrowed["totals"]["calls"] == 3, named
        # the resource name as a filter is read as the recorder reads it (it selected nothing, told the model it is)
        for filters in (
            UsageFilters(model="models/gemini-1.5-pro"),
            UsageFilters(model="google:models/gemini-1.5-pro"),
            UsageFilters(model="models/gemini-1.5-pro", provider="gemini"),
        ):
            narrowed = await svc.summarize_noted(filters)
            assert narrowed["totals"]["calls"] == 3 and narrowed["notes"] == [], filters
            page = await svc.query_runs(filters)
            assert len(page) == 3, filters
        # another provider's models/... is recorded as written: its filter is kept so
        assert UsageFilters(model="models/gemini-1.5-pro", provider="compat").model == "models/gemini-1.5-pro"
        assert UsageFilters(model="models/other").model == "models/other"  # no provider can be told: as written
    finally:
        await svc.aclose()


async def test_unpriced_calls_are_counted_not_zeroed(tmp_path: Path):
    async with Ledger(tmp_path / "l.db") as ledger:
        now = time.time()
        run = RunRecord("r1", "a", "s", now)
        attempts = [
            AttemptRecord("r1", now, "compat", "mystery", "s", "a", "ok", 0, 1, input_tokens=5, output_tokens=5),
            AttemptRecord(
                "r1",
                now,
                "openai",
                "gpt-4o",
                "s",
                "a",
                "ok",
                1,
                1,
                input_tokens=5,
                output_tokens=5,
                cost_usd=Decimal("0.00001"),
            ),
        ]
        await ledger.record_call(run, attempts)
        s = await ledger.summarize()
    mystery = s["model_stats"]["mystery"]
    assert mystery["unpriced_calls"] == 1 and mystery["cost_complete"] is False
    # never a figure that leaves the unknown cost out: null, with the known part beside it
    assert (mystery["cost_usd"], mystery["cost_usd_exact"], mystery["known_cost_usd"]) == (None, None, "0")
    assert s["totals"]["unpriced_calls"] == 1 and s["totals"]["cost_complete"] is False
    assert s["totals"]["known_cost_usd"] == "0.00001" and s["totals"]["cost_usd"] is None


async def test_rollup_summaries_equal_a_scan_of_every_attempt(tmp_path: Path):
    """Summaries read daily rollups plus the partial days at the edges; they must equal a full scan."""
    import random

    rnd = random.Random(3)
    base = 1_760_000_000.0
    async with Ledger(tmp_path / "l.db") as ledger:
        for i in range(60):
            t = base + rnd.random() * 4 * 86400
            run = RunRecord(f"r{i}", f"a{i % 3}", "s", t)
            attempts = [
                AttemptRecord(
                    run.run_id,
                    t + k,
                    "openai",
                    f"m{(i + k) % 2}",
                    f"s{i % 2}",
                    run.agent,
                    rnd.choice(["ok", "ok", "error", "budget_exceeded"]),
                    k,
                    1,
                    input_tokens=rnd.randint(1, 999),
                    output_tokens=rnd.randint(1, 99),
                    cost_usd=Decimal(rnd.randint(1, 10**6)) / 10**9,
                )
                for k in range(rnd.randint(1, 3))
            ]
            for a in attempts:
                if a.outcome != "ok":
                    a.input_tokens = a.output_tokens = 0
                    a.cost_usd = None
                    # an unknown cost, bounded by its worst case or (an unknown price) not at all
                    a.cost_bound_usd = rnd.choice([None, Decimal(rnd.randint(1, 10**6)) / 10**9])
            await ledger.record_call(run, attempts)
        conn = sqlite3.connect(tmp_path / "l.db")
        cases = [
            {},
            {"since": base + 1234.5},
            {"until": base + 7777.7},
            {"since": base + 100, "until": base + 200},  # inside one bucket
            {"since": base + 950, "until": base + 3 * 86400 + 17, "agent": "a1"},
            {"since": base + 86400, "until": base + 2.5 * 86400, "model": "m0"},
            {"since": base - 86400 * 3, "until": base + 86400 * 9},
        ]
        for case in cases:
            s = await ledger.summarize(UsageFilters(**case))
            clauses, args = ["outcome IN ('ok', 'error')"], []
            if "since" in case:
                clauses.append("started_at >= ?")
                args.append(case["since"])
            if "until" in case:
                clauses.append("started_at < ?")
                args.append(case["until"])
            for key in ("agent", "model"):
                if key in case:
                    clauses.append(f"{key} = ?")
                    args.append(case[key])
            rows = conn.execute(
                "SELECT model, SUM(call_cost_pusd IS NOT NULL), SUM(call_cost_pusd IS NOT NULL AND outcome = 'error'),"
                " COUNT(*), SUM(outcome = 'error'), SUM(input_tokens), SUM(output_tokens),"
                " SUM(cost_pusd IS NULL), SUM(cost_pusd IS NULL AND cost_bound_pusd IS NULL),"
                " coalesce(SUM(cost_pusd), 0), coalesce(SUM(cost_bound_pusd), 0)"
                f" FROM attempts WHERE {' AND '.join(clauses)} GROUP BY model",
                args,
            ).fetchall()
            expected = {m: (*counts, Decimal(c) / 10**12, Decimal(b) / 10**12) for m, *counts, c, b in rows}
            got = {
                m: (
                    v["calls"],  # the calls ending at the model (their last attempt that reached a provider)
                    v["errors"],
                    v["attempts"],
                    v["attempt_errors"],
                    v["input_tokens"],
                    v["output_tokens"],
                    v["unpriced_calls"],
                    v["unbounded_calls"],
                    Decimal(v["known_cost_usd"]),
                    Decimal(v["unknown_cost_bound_usd"]),
                )
                for m, v in s["model_stats"].items()
            }
            assert got == expected, case
            if not case:  # the data has unknown costs both with a bound and without one
                assert sum(v[6] for v in got.values()) > sum(v[7] for v in got.values()) > 0
                # retries and calls that failed are both there: the call counts differ from the attempt counts
                assert sum(v[2] for v in got.values()) > sum(v[0] for v in got.values())
                assert sum(v[1] for v in got.values()) > 0


async def test_a_since_a_fraction_of_a_second_past_midnight_leaves_that_day_to_the_scan(tmp_path: Path):
    midnight = 20371 * 86400.0
    async with Ledger(tmp_path / "l.db") as ledger:
        for i, at in enumerate((midnight - 0.4, midnight + 0.2, midnight + 0.9, midnight + 5000)):
            run = RunRecord(f"r{i}", "a", "s", at)
            await ledger.record_call(run, [AttemptRecord(run.run_id, at, "openai", "m", "s", "a", "ok", 0, 1)])
        calls = {}
        for name, case in {
            "since": {"since": midnight + 0.95},
            "until": {"until": midnight + 0.5},
            "both": {"since": midnight - 0.5, "until": midnight + 0.95},
        }.items():
            calls[name] = (await ledger.summarize(UsageFilters(**case)))["totals"]["calls"]
    assert calls == {"since": 1, "until": 2, "both": 3}  # before: since counted 3 (the day's whole bucket)
