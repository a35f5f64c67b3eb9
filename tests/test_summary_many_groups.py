"""A summary over many agents x skills (a rollup group per model, provider, agent, skill and outcome, near a row per
attempt): every breakdown is the attempts' own sums, and the read of what Azure deployments served reads those
deployments' attempts alone, not every attempt of the period. Speed itself is measured by
``python -m benchmarks.ledger_scale --attempts 200000`` (200 agents x 12 skills), never asserted here."""

from __future__ import annotations

import random
import re
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio

T = TypeVar("T")
DAY = 1_762_000_000.0  # 2025-11-01 (UTC), 12:26:40
TARGETS = [("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4"), ("azure", "prod-chat"), ("local", "llama3")]


def _calls(rng: random.Random, n: int) -> list[tuple[RunRecord, list[AttemptRecord]]]:
    out = []
    for i in range(n):
        agent, skill = f"agent-{rng.randrange(40)}", rng.choice([None, *(f"skill.s{k}" for k in range(6))])
        at = DAY + rng.randrange(20) * 86400 + rng.random() * 3600
        run = RunRecord(f"r{i}", agent, skill, at)
        attempts = []
        hops = rng.choice([1, 1, 2])
        for hop in range(hops):
            provider, model = rng.choice(TARGETS)
            ok = hop == hops - 1 and rng.random() > 0.2
            cost = None if provider == "local" else Decimal(rng.randint(1, 900)) / 10**6
            attempts.append(
                AttemptRecord(
                    run.run_id, at + hop, provider, model, skill, agent, "ok" if ok else "error", hop, 1,
                    input_tokens=rng.randint(1, 500), output_tokens=rng.randint(1, 90) if ok else 0,
                    cost_usd=cost if ok else (None if provider == "local" else Decimal(0)),
                    cost_bound_usd=Decimal("0.001") if provider == "local" and rng.random() < 0.5 else None,
                    served_model="gpt-4o-2024-08-06" if provider == "azure" and ok else None,
                )
            )  # fmt: skip
        out.append((run, attempts))
    return out


def _plain_sums(calls: list[tuple[RunRecord, list[AttemptRecord]]], key: Callable[[AttemptRecord], str]) -> dict:
    sums: dict[str, dict[str, int]] = {}
    for _, attempts in calls:
        for a in attempts:
            acc = sums.setdefault(key(a), {"attempts": 0, "attempt_errors": 0, "input_tokens": 0, "calls": 0})
            acc["attempts"] += 1
            acc["attempt_errors"] += a.outcome == "error"
            acc["input_tokens"] += a.input_tokens
        acc["calls"] += 1  # (each call's last attempt reached a provider: it carries the call)
    return sums


async def test_every_breakdown_of_many_agents_and_skills_is_its_attempts_sums(tmp_path: Path):
    calls = _calls(random.Random(75), 400)
    async with Ledger(tmp_path / "ledger.db") as ledger:
        for run, attempts in calls:
            await ledger.record_call(run, attempts)
        summary = await ledger.summarize({})
    for name, key in (
        ("model_stats", lambda a: a.model),
        ("by_provider", lambda a: a.provider),
        ("by_agent", lambda a: a.agent or "(none)"),
        ("by_skill", lambda a: a.skill or "(none)"),
    ):
        got = {
            k: {n: v[n] for n in ("attempts", "attempt_errors", "input_tokens", "calls")}
            for k, v in summary[name].items()
        }
        assert got == _plain_sums(calls, key), name
    assert summary["totals"]["attempts"] == sum(len(attempts) for _, attempts in calls)
    assert summary["model_stats"]["prod-chat"]["served_as"] == {
        "gpt-4o-2024-08-06": sum(a.outcome == "ok" for _, at in calls for a in at if a.provider == "azure")
    }


async def test_what_azure_deployments_served_is_read_from_their_attempts_alone(tmp_path: Path):
    # the read named the provider alone: SQLite walked attempts_model whole, every attempt of the period, to find a
    # deployment's few (0.1-0.2 s of a summary over a year's 200,000 attempts)
    statements: list[str] = []
    async with Ledger(tmp_path / "ledger.db") as ledger:
        for run, attempts in _calls(random.Random(7), 60):
            await ledger.record_call(run, attempts)
        read = ledger.read

        async def traced(fn: Callable[[sqlite3.Connection], T], **kw: Any) -> T:
            def run(conn: sqlite3.Connection) -> T:
                conn.set_trace_callback(statements.append)
                try:
                    return fn(conn)
                finally:
                    conn.set_trace_callback(None)

            return await read(run, **kw)

        ledger.read = traced  # type: ignore[method-assign]
        summary = await ledger.summarize({})
        # served_as, and served_as_by_endpoint (0029) beside it: each read so (by_data_class's names served_model
        # too, grouped by its classes)
        reads = [s for s in statements if re.search(r"GROUP BY a\.model, (a\.endpoint, )?a\.served_model", s)]
        plans = [
            await read(lambda conn, s=s: [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + s)]) for s in reads
        ]
    assert summary["model_stats"]["prod-chat"]["served_as"]
    assert len(plans) == 2 and any("a.endpoint" in s for s in reads)
    for plan in plans:
        assert any("attempts_model (model=?)" in step for step in plan), plan


async def test_more_azure_deployments_than_sqlite_takes_variables_are_each_read(tmp_path: Path):
    # the deployments are named in the read, one variable each: past SQLite's limit on them (999 in builds before
    # 3.32, 32766 since; set lower here, as such a build's) the summary failed with "too many SQL variables"
    deployments = [f"dep-{i:03d}" for i in range(130)]
    async with Ledger(tmp_path / "ledger.db") as ledger:
        for i, deployment in enumerate(deployments):
            at = DAY + i * 60
            run = RunRecord(f"r{i}", "ana", None, at)
            answers = [
                AttemptRecord(
                    run.run_id, at, "azure", deployment, None, "ana", "ok", 0, 1, input_tokens=10, output_tokens=1,
                    cost_usd=None if i % 7 == 0 else Decimal("0.001"), served_model=f"gpt-4o-{i % 3}",
                    endpoint="res-a.openai.azure.com",
                )
            ]  # fmt: skip
            await ledger.record_call(run, answers)
        read = ledger.read

        async def limited(fn: Callable[[sqlite3.Connection], T], **kw: Any) -> T:
            def run(conn: sqlite3.Connection) -> T:
                was = conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 50)
                try:
                    return fn(conn)
                finally:
                    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, was)

            return await read(run, **kw)

        ledger.read = limited  # type: ignore[method-assign]
        summary = await ledger.summarize({"agent": "ana", "since": "2025-11-01"})
    for i, deployment in enumerate(deployments):
        assert summary["model_stats"][deployment]["served_as"] == {f"gpt-4o-{i % 3}": 1}, deployment
        # (and by the endpoint each went to, read the same way)
        by_endpoint = summary["model_stats"][deployment]["served_as_by_endpoint"]
        assert by_endpoint == {"res-a.openai.azure.com": {f"gpt-4o-{i % 3}": 1}}, deployment
