"""A year of traffic in a ledger, built through the ledger's own write path, and every read timed on it.

``python -m benchmarks.ledger_scale [--attempts N] [--repeats R]`` prints one JSON object: the time of
each read a user can make (summaries with each filter, query pages deep into history, searches,
budget checks, opening the file), median of R runs. ``benchmarks/ledger_bench.py`` times the two
reads the targets name on a synthetic month; this one is the operator's view after a year:

- 365 days of calls, busier in working hours; 200 agents (a few busy, many quiet), 12 skills, 9
  models from 5 providers (one model served by two), fallback hops and retries, a few attempts of
  unknown cost (no price, or cut after sending with a bound), refused calls;
- a fifth of the runs delegate child runs, and one run (``big-parent``) delegated 3,000 over a week;
- events (``obs.log``) beside the calls.

Rows are written by :class:`~magsag_mcp.ledger.writes.RecordWrite`, the statements a live call uses,
so ``runs``, ``usage_rollup``, ``agent_spend`` and ``day_spend`` hold what a year of calls leaves in
them. No ``ANALYZE``: magsag never runs it, so the query planner sees what it sees on a user's ledger.
The file is kept in the temp directory between runs, keyed by its size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from magsag_mcp.ledger import Ledger
from magsag_mcp.ledger.writes import RecordWrite
from magsag_mcp.records import AttemptRecord, RunRecord

DAY = 86400
MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("openai", "o3"),
    ("anthropic", "claude-sonnet-4"),
    ("anthropic", "claude-haiku-3-5"),
    ("google", "gemini-2.5-pro"),
    ("google", "gemini-2.5-flash"),
    ("azure", "gpt-4o"),  # the same model from a second provider
    ("local", "llama3.1:70b"),  # no price: its costs are unknown
]
AGENTS = [f"agent-{i:03d}" for i in range(200)]
SKILLS = [f"skill.{name}" for name in ("analysis", "summarize", "code", "extract", "translate", "classify")] + [
    f"skill.team{i}" for i in range(6)
]
ERRORS = [
    ("server_error", "HTTP 500 from upstream: internal error"),
    ("rate_limited", "HTTP 429 rate limit exceeded, retry after 20s"),
    ("timeout", "no answer within 60s (read timeout)"),
    ("bad_request", "HTTP 400 context length exceeded: 131072 tokens"),
]
EVENTS = ["model_success", "tool_call", "retrieval", "checkpoint", "handoff"]


def _attempt(rnd: random.Random, run: RunRecord, t: float, target: tuple[str, str], ok: bool, **kw: Any) -> Any:
    provider, model = target
    tin, tout = rnd.randint(50, 8000), rnd.randint(10, 2000)
    if not ok:
        cls, msg = rnd.choice(ERRORS)
        cut = cls == "timeout"  # cut after it reached the vendor: unknown cost, bounded by its worst case
        return AttemptRecord(
            run.run_id, t, provider, model, run.skill, run.agent, "error", kw.get("pos", 0), kw.get("n", 1),
            error_class=cls, error_message=msg, cost_usd=None if cut else Decimal(0),
            cost_bound_usd=Decimal(tin * 3 + tout * 12) / 10**6 if cut else None, latency_ms=rnd.random() * 60000,
        )  # fmt: skip
    unpriced = provider == "local"
    return AttemptRecord(
        run.run_id, t, provider, model, run.skill, run.agent, "ok", kw.get("pos", 0), kw.get("n", 1),
        input_tokens=tin, output_tokens=tout, cached_tokens=rnd.randint(0, tin) if rnd.random() < 0.3 else 0,
        reasoning_tokens=rnd.randint(0, tout) if model == "o3" else 0,
        cost_usd=None if unpriced else Decimal(tin * 25 + tout * 100) / 10**7,
        price_source=None if unpriced else "genai-prices", latency_ms=rnd.random() * 5000,
    )  # fmt: skip


def _call(rnd: random.Random, run: RunRecord, t: float) -> list[AttemptRecord]:
    """A call's attempts: mostly one answer; some fallback hops, retries, refusals."""
    r = rnd.random()
    first = MODELS[min(int(rnd.expovariate(0.5)), len(MODELS) - 1)]
    if r < 0.01:
        run.status = "policy_denied"
        return [AttemptRecord(run.run_id, t, *first, run.skill, run.agent, "policy_denied", 0, 0)]
    if r < 0.015:
        run.status = "budget_exceeded"
        return [AttemptRecord(run.run_id, t, *first, run.skill, run.agent, "budget_exceeded", 0, 0)]
    hops = 1 if r < 0.85 else 2 if r < 0.95 else 3
    out = []
    for i in range(hops):
        target = first if i == 0 else rnd.choice(MODELS)
        last = i == hops - 1
        ok = last and rnd.random() > 0.03
        out.append(_attempt(rnd, run, t + i * rnd.uniform(0.5, 40), target, ok, pos=i))
    run.status = "ok" if out[-1].outcome == "ok" else "error"
    return out


def build(path: Path, attempts: int, seed: int = 11) -> None:
    async def migrate() -> None:
        async with Ledger(path):
            pass

    asyncio.run(migrate())
    rnd = random.Random(seed)
    now = time.time()
    start = now - 365 * DAY
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    weights = [1 / (i + 1) for i in range(len(AGENTS))]  # a few agents make most calls
    calls = int(attempts / 1.2)
    times = sorted(start + rnd.random() * 365 * DAY for _ in range(calls))
    big_parent = calls // 2  # the run that delegates 3,000 children over the following week
    writes: list[RecordWrite] = []
    events: list[tuple[Any, ...]] = []
    made = 0
    parent: tuple[str, float, str, int] | None = None  # (run id, its time, its agent, children left)
    for n, t in enumerate(times):
        if made >= attempts:
            break
        agent = rnd.choices(AGENTS, weights)[0]
        skill = rnd.choice(SKILLS) if rnd.random() > 0.05 else None
        parent_id = None
        if n == big_parent:
            run_id = "big-parent"
            parent = None
        elif parent is not None and parent[3] > 0 and rnd.random() < 0.5:
            parent_id, agent = parent[0], parent[2]
            parent = (parent[0], parent[1], parent[2], parent[3] - 1)
            run_id = f"{parent_id}.c{parent[3]}"
        else:
            run_id = f"r{n:07d}"
            if rnd.random() < 0.2:
                parent = (run_id, t, agent, rnd.randint(1, 10))
        run = RunRecord(run_id, agent, skill, t, parent_run_id=parent_id, status="ok")
        rows = _call(rnd, run, t)
        _end(run, rows)
        writes.append(RecordWrite.of(run, rows))
        made += len(rows)
        if rnd.random() < 0.25:
            data = json.dumps({"model": rows[-1].model, "step": rnd.randint(1, 20), "note": rnd.choice(EVENTS)})
            events.append((run_id, agent, t + 0.5, rnd.choice(EVENTS), data))
        if len(writes) >= 5000:
            _flush(conn, writes, events)
            writes, events = [], []
    # big-parent's 3,000 children, over the week after it started
    t0 = conn.execute("SELECT started_at FROM runs WHERE run_id = 'big-parent'").fetchone()[0]
    for i in range(3000):
        t = t0 + rnd.random() * 7 * DAY
        run = RunRecord(f"big-parent.c{i}", "agent-000", "skill.analysis", t, parent_run_id="big-parent")
        rows = _call(rnd, run, t)
        _end(run, rows)
        writes.append(RecordWrite.of(run, rows))
    _flush(conn, writes, events)
    conn.close()


def _end(run: RunRecord, rows: list[AttemptRecord]) -> None:
    run.ended_at = rows[-1].started_at + 1
    run.input_tokens = sum(a.input_tokens for a in rows)
    run.output_tokens = sum(a.output_tokens for a in rows)


def _flush(conn: sqlite3.Connection, writes: list[RecordWrite], events: list[tuple[Any, ...]]) -> None:
    conn.execute("BEGIN")
    RecordWrite.apply_all(conn, writes)
    conn.executemany("INSERT INTO events (run_id, agent, at, event, data) VALUES (?,?,?,?,?)", events)
    conn.execute("COMMIT")


async def _timed(fn: Callable[[], Awaitable[Any]], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = await fn()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 2), out


def _day_edge(now: float, days_back: int, hour: float = 0.0) -> str:
    t = (int(now // DAY) - days_back) * DAY + hour * 3600
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def reads(path: Path, now: float) -> dict[str, Callable[[Ledger], Awaitable[Any]]]:
    """Every read a user can make, by name: ``fn(ledger)``."""
    mid_since, mid_until = _day_edge(now, 60, 13.5), _day_edge(now, 30, 9.25)
    s = {
        "summarize": {},
        "summarize agent": {"agent": "agent-007"},
        "summarize skill": {"skill": "skill.code"},
        "summarize model": {"model": "gpt-4o"},
        "summarize provider": {"provider": "anthropic"},
        "summarize status": {"status": "error"},
        "summarize run big-parent": {"run_id": "big-parent"},
        "summarize run plain": {"run_id": "r0100000"},
        "summarize since 7d": {"since": "7d"},
        "summarize since 1h": {"since": "1h"},
        "summarize day edges": {"since": _day_edge(now, 30), "until": _day_edge(now, 0)},
        "summarize mid-day": {"since": mid_since, "until": mid_until},
        "summarize inside one day": {"since": _day_edge(now, 3, 2), "until": _day_edge(now, 3, 20)},
        "summarize agent+model+30d": {"agent": "agent-001", "model": "gpt-4o", "since": "30d"},
        "summarize status+agent": {"status": "error", "agent": "agent-003"},
        "summarize status+since 1h": {"status": "ok", "since": "1h"},
        "summarize run+since": {"run_id": "big-parent", "since": _day_edge(now, 400)},
    }
    q = {
        "query": {},
        "query agent+7d": {"agent": "agent-007", "since": "7d"},
        "query quiet agent": {"agent": "agent-199"},
        "query skill": {"skill": "skill.code"},
        "query model": {"model": "o3"},
        "query provider": {"provider": "azure"},
        "query status": {"status": "policy_denied"},
        "query run big-parent": {"run_id": "big-parent"},
        "query since 1h": {"since": "1h"},
        "query offset 10k": {"offset": 10_000},
        "query offset 300k": {"offset": 300_000},
        "query agent offset 5k": {"agent": "agent-000", "offset": 5_000},
        "query model old window": {
            "model": "claude-haiku-3-5", "since": _day_edge(now, 300), "until": _day_edge(now, 290)
        },
    }  # fmt: skip
    out: dict[str, Callable[[Ledger], Awaitable[Any]]] = {}
    for name, f in s.items():
        out[name] = lambda ledger, f=f: ledger.summarize(f)
    for name, f in q.items():
        out[name] = lambda ledger, f=f: ledger.query_runs(f)
    for name, (pattern, since) in {
        "search common": ("timeout", None),
        "search rare": ("context length", None),
        "search none": ("no-such-thing-anywhere", None),
        "search none 7d": ("no-such-thing-anywhere", "7d"),
        "search agent 30d": ("agent-150", "30d"),
    }.items():
        out[name] = lambda ledger, p=pattern, s=since: ledger.search(p, 50, s)
    return out


async def run_reads(path: Path, repeats: int, only: list[str] | None) -> dict[str, Any]:
    now = time.time()
    results: dict[str, Any] = {}
    async with Ledger(path) as ledger:
        for name, fn in reads(path, now).items():
            if only and not any(o in name for o in only):
                continue
            ms, out = await _timed(lambda fn=fn: fn(ledger), repeats)
            size = len(out) if isinstance(out, list) else out["totals"]["attempts"]  # (as before 0018: attempts)
            results[name] = {"ms": ms, "n": size}
    return results


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ledger_scale")
    p.add_argument("--attempts", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--only", nargs="*", help="run only the reads whose names contain one of these")
    p.add_argument("--db", help="an existing ledger to time (default: built in the temp directory)")
    a = p.parse_args()
    path = Path(a.db) if a.db else Path(tempfile.gettempdir()) / f"magsag-scale-ledger-{a.attempts}.db"
    out: dict[str, Any] = {"attempts": a.attempts}
    if not path.exists():
        t0 = time.perf_counter()
        build(path, a.attempts)
        out["build_s"] = round(time.perf_counter() - t0, 1)
    out["reads"] = asyncio.run(run_reads(path, a.repeats, a.only))
    print(json.dumps(out, indent=1), flush=True)


if __name__ == "__main__":
    main()
