"""Ledger benchmarks: insert rate under concurrent writers, and queries over 1,000,000 attempts.

``python -m benchmarks.ledger_bench [--rows N]`` prints one JSON line. The big database is generated
with direct SQL in the ledger's own schema (after the real migrations) and kept in the temp directory
between runs, keyed by its row count and by a hash of the migrations and of this file, so that a
ledger built by other code is never reused. No ``ANALYZE``: magsag never runs it, so the query
planner sees what it sees on a user's ledger (as in ``ledger_scale``).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sqlite3
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.records import AttemptRecord, RunRecord

MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-3-5-sonnet-20241022"),
    ("google", "gemini-1.5-pro"),
    ("local", "llama3.1:70b"),
]
AGENTS = [f"agent-{i}" for i in range(50)]
INSERT_ATTEMPTS = (
    "INSERT INTO attempts (run_id, started_at, provider, model, skill, agent, outcome, error_class, error_message,"
    " input_tokens, output_tokens, total_tokens, cost_pusd) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
SKILLS = ["skill.analysis", "skill.summarization", "skill.coding", "skill.extraction"]


async def insert_rate(writers: int = 200, per_writer: int = 25) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="magsag-ledger-"))
    async with Ledger(tmp / "l.db") as ledger:

        async def writer(w: int) -> None:
            for i in range(per_writer):
                now = time.time()
                run = RunRecord(f"r{w}-{i}", "a", "s", now, ended_at=now, status="ok")
                att = AttemptRecord(
                    run.run_id,
                    now,
                    "openai",
                    "gpt-4o",
                    "s",
                    "a",
                    "ok",
                    0,
                    1,
                    input_tokens=100,
                    output_tokens=20,
                    cost_usd=Decimal("0.00045"),
                )
                await ledger.record_call(run, [att])

        t0 = time.perf_counter()
        await asyncio.gather(*(writer(w) for w in range(writers)))
        wall = time.perf_counter() - t0
    n = writers * per_writer
    return {"calls": n, "writers": writers, "calls_per_s": round(n / wall, 1)}


def build(path: Path, rows: int) -> None:
    async def migrate() -> None:
        async with Ledger(path):
            pass

    asyncio.run(migrate())
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    rnd = random.Random(7)
    now = time.time()
    conn.execute("BEGIN")
    batch, runs = [], []
    for i in range(rows):
        provider, model = MODELS[i % len(MODELS)]
        run_id = f"run-{i // 3}"
        agent = AGENTS[(i // 3) % len(AGENTS)]
        skill = SKILLS[(i // 3) % len(SKILLS)]
        t = now - rnd.random() * 30 * 86400
        ok = rnd.random() > 0.05
        tin, tout = rnd.randint(50, 5000), rnd.randint(10, 1000)
        batch.append(
            (
                run_id,
                t,
                provider,
                model,
                skill,
                agent,
                "ok" if ok else "error",
                None if ok else "server_error",
                None if ok else "HTTP 500",
                tin if ok else 0,
                tout if ok else 0,
                tin + tout if ok else 0,
                (tin * 2_500_000 + tout * 10_000_000) if ok else None,
            )
        )
        if i % 3 == 0:
            runs.append((run_id, agent, skill, t, t + 1, "ok"))
        if len(batch) >= 50_000:
            conn.executemany(
                INSERT_ATTEMPTS,
                batch,
            )
            conn.executemany(
                "INSERT INTO runs (run_id, agent, skill, started_at, ended_at, status) VALUES (?,?,?,?,?,?)", runs
            )
            batch, runs = [], []
    if batch:
        conn.executemany(
            INSERT_ATTEMPTS,
            batch,
        )
        conn.executemany(
            "INSERT INTO runs (run_id, agent, skill, started_at, ended_at, status) VALUES (?,?,?,?,?,?)", runs
        )
    conn.execute("COMMIT")
    # the rollups the ledger maintains on every write, built from the attempts as its migrations backfill
    # them (0004's own INSERT names no columns: 0007 added two, so it no longer fits the table)
    from magsag_mcp.ledger.migrations import MIGRATIONS
    from magsag_mcp.ledger.rollup_reads import ATTEMPT_CALL_MAX, ATTEMPT_CALLS, ATTEMPT_MONEY

    for name, sql in MIGRATIONS:
        if name in ("0003_agent_spend_rollup", "0010_day_spend"):
            conn.execute(sql.split(";")[-1])  # the migration's backfill INSERT ... SELECT
    conn.execute(
        "INSERT INTO usage_rollup (bucket, model, provider, agent, skill, outcome, attempts, input_tokens,"
        " output_tokens, cached_tokens, reasoning_tokens, cost_pusd, unpriced, cost_bound_pusd, bounded, call_max_pusd,"
        " call_max_run_id, call_max_at, calls)"
        " SELECT CAST(started_at / 86400 AS INTEGER), model, provider, coalesce(agent, ''), coalesce(skill, ''),"
        " outcome, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cached_tokens), SUM(reasoning_tokens),"
        f" {ATTEMPT_MONEY}, {ATTEMPT_CALL_MAX}, {ATTEMPT_CALLS} FROM attempts GROUP BY 1, 2, 3, 4, 5, 6"
    )
    conn.close()


def db_path(rows: int) -> Path:
    """Where the benchmark ledger of ``rows`` attempts is kept between runs: its name holds a hash of the
    ledger's migrations and of this file, so a change to either builds a new one."""
    from magsag_mcp.ledger.migrations import MIGRATIONS

    digest = hashlib.sha256(repr(MIGRATIONS).encode() + Path(__file__).read_bytes()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"magsag-bench-ledger-{rows}-{digest}.db"


async def queries(path: Path, repeats: int = 5) -> dict[str, float]:
    async with Ledger(path) as ledger:
        summarize_ms, query_ms = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            s = await ledger.summarize(UsageFilters())
            summarize_ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            runs = await ledger.query_runs(UsageFilters(agent="agent-7", since="7d", limit=50))
            query_ms.append((time.perf_counter() - t0) * 1000)
        assert s["totals"]["attempts"] > 0 and runs  # (its attempts carry no call's cost: no call ends in them)
    return {
        "summarize_ms": round(statistics.median(summarize_ms), 1),
        "filtered_query_ms": round(statistics.median(query_ms), 2),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--writers", type=int, default=200)
    a = p.parse_args()
    path = db_path(a.rows)
    t0 = time.perf_counter()
    if not path.exists():
        build(path, a.rows)
    build_s = time.perf_counter() - t0
    out = {"rows": a.rows, "build_s": round(build_s, 1)}
    out.update(asyncio.run(queries(path)))
    out["insert"] = asyncio.run(insert_rate(a.writers, 25))
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
