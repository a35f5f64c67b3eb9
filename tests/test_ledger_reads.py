"""The ledger's faster read and prune paths give exactly what a plain computation over the raw rows gives.

Each test builds a small ledger with the edge cases (runs across midnight, delegated runs, unknown
costs with and without a bound, refused calls, days with nothing) and compares the fast path's answer
with a straightforward SQL over ``attempts`` / ``runs``. Timings are in BENCHMARKS.md, not here.
"""

from __future__ import annotations

import random
import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp.ledger import Ledger
from magsag_mcp.records import AttemptRecord, RunRecord

pytestmark = pytest.mark.anyio

DAY = 86400


async def _fill(ledger: Ledger, base: float, days: int, seed: int = 5) -> None:
    """Calls over ``days`` days before ``base``, with gaps, midnight-spanning runs and delegations."""
    rnd = random.Random(seed)
    parents: list[str] = []
    for i in range(240):
        day = rnd.choice([d for d in range(days) if d % 7 != 3])  # every seventh day empty
        t = base - day * DAY - rnd.random() * DAY
        if i % 17 == 0:
            t = (int(t // DAY) + 1) * DAY - 5  # starts 5 s before midnight; its second attempt lands after
        parent = rnd.choice(parents) if parents and rnd.random() < 0.3 else None
        run = RunRecord(f"r{i}", f"a{i % 4}", f"s{i % 3}" if i % 5 else None, t, parent_run_id=parent)
        if parent is None and rnd.random() < 0.3:
            parents.append(run.run_id)
        attempts = []
        for k in range(1 + (i % 17 == 0) + rnd.randint(0, 1)):
            outcome = rnd.choice(["ok", "ok", "ok", "error", "budget_exceeded"])
            a = AttemptRecord(
                run.run_id, t + 10 * k, rnd.choice(["openai", "azure"]), f"m{rnd.randint(0, 2)}", run.skill,
                run.agent, outcome, k, 1, input_tokens=rnd.randint(1, 999), output_tokens=rnd.randint(1, 99),
                cost_usd=Decimal(rnd.randint(1, 10**6)) / 10**9,
            )  # fmt: skip
            if outcome != "ok" or rnd.random() < 0.1:
                a.cost_usd = None if rnd.random() < 0.5 else Decimal(0)
                a.cost_bound_usd = rnd.choice([None, Decimal(rnd.randint(1, 10**6)) / 10**9])
            attempts.append(a)
        last = attempts[-1].outcome
        run.status = "ok" if last == "ok" else "budget_exceeded" if last == "budget_exceeded" else "error"
        if i % 29 == 0:
            attempts = []  # failed before any attempt (an invalid payload): a run row alone
            run.status = "error"
        await ledger.record_call(run, attempts)
        if rnd.random() < 0.3:
            await ledger.log_event(run.run_id, run.agent, "step", {"i": i})


def _rollup_from_scratch(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT CAST(started_at / 86400 AS INTEGER), model, provider, coalesce(agent, ''), coalesce(skill, ''),"
        " outcome, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cached_tokens), SUM(reasoning_tokens),"
        " coalesce(SUM(cost_pusd), 0), SUM(cost_pusd IS NULL),"
        " coalesce(SUM(CASE WHEN cost_pusd IS NULL THEN cost_bound_pusd END), 0),"
        " SUM(cost_pusd IS NULL AND cost_bound_pusd IS NOT NULL) FROM attempts"
        " GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6"
    ).fetchall()


def _rollup(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT bucket, model, provider, agent, skill, outcome, attempts, input_tokens, output_tokens, cached_tokens,"
        " reasoning_tokens, cost_pusd, unpriced, cost_bound_pusd, bounded FROM usage_rollup ORDER BY 1, 2, 3, 4, 5, 6"
    ).fetchall()


async def test_prune_in_steps_leaves_what_one_delete_would(tmp_path: Path, monkeypatch):
    """Pruned a few UTC days per transaction (the write lock is freed between them), the ledger ends as a
    single delete of everything before the cutoff would leave it, the cutoff's own day rebuilt."""
    from magsag_mcp.ledger import prune

    monkeypatch.setattr(prune, "STEP_ATTEMPTS", 20)
    db = tmp_path / "l.db"
    now = time.time()
    async with Ledger(db) as ledger:
        await _fill(ledger, now, 40)
        conn = sqlite3.connect(db)
        cutoff_days = 20.37  # mid-day
        cutoff = now - cutoff_days * DAY
        keep_attempts = conn.execute("SELECT id FROM attempts WHERE started_at >= ? ORDER BY id", (cutoff,)).fetchall()
        # a run that started since, or has calls since; and a run delegating to one of those (its budget run)
        kept = "started_at >= :cut OR run_id IN (SELECT run_id FROM attempts WHERE started_at >= :cut)"
        keep_runs = conn.execute(
            f"SELECT run_id FROM runs WHERE {kept} OR run_id IN"
            f" (SELECT parent_run_id FROM runs WHERE parent_run_id != run_id AND ({kept})) ORDER BY run_id",
            {"cut": cutoff},
        ).fetchall()
        keep_events = conn.execute("SELECT id FROM events WHERE at >= ? ORDER BY id", (cutoff,)).fetchall()
        first_spend = int(cutoff // 900) - prune.SPEND_KEEP_BUCKETS  # 33 days: the longest local month and a day
        keep_agent_spend = conn.execute("SELECT * FROM agent_spend WHERE bucket >= ? ORDER BY 1, 2", (first_spend,))
        keep_agent_spend = keep_agent_spend.fetchall()
        keep_day_spend = conn.execute("SELECT * FROM day_spend WHERE bucket >= ? ORDER BY 1", (first_spend,)).fetchall()
        runs_before = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        old_attempts = conn.execute("SELECT COUNT(*) FROM attempts WHERE started_at < ?", (cutoff,)).fetchone()[0]
        old_events = conn.execute("SELECT COUNT(*) FROM events WHERE at < ?", (cutoff,)).fetchone()[0]

        transactions = 0
        submit = ledger.submit

        async def counting(fn, **kw):
            nonlocal transactions
            transactions += 1
            return await submit(fn, **kw)

        ledger.submit = counting  # type: ignore[method-assign]
        counts = await ledger.prune(cutoff_days * DAY)

        assert counts == {
            "attempts": old_attempts,
            "runs": runs_before - len(keep_runs),
            "events": old_events,
            "answers": 0,  # (no answer cache here)
        }
        assert conn.execute("SELECT id FROM attempts ORDER BY id").fetchall() == keep_attempts
        assert conn.execute("SELECT run_id FROM runs ORDER BY run_id").fetchall() == keep_runs
        left = conn.execute("SELECT id, at, event FROM events ORDER BY id").fetchall()
        assert [(i,) for i, _, event in left if event != "ledger_pruned"] == keep_events
        # and the one event a prune adds: its mark at its cutoff, the ledger's oldest event from then on
        marks = [at for _, at, event in left if event == "ledger_pruned"]
        assert len(marks) == 1 and cutoff <= marks[0] == min(at for _, at, _ in left)
        assert conn.execute("SELECT * FROM agent_spend ORDER BY 1, 2").fetchall() == keep_agent_spend
        assert conn.execute("SELECT * FROM day_spend ORDER BY 1").fetchall() == keep_day_spend
        assert _rollup(conn) == _rollup_from_scratch(conn) != []
        # steps of about 20 attempts (some 200 are pruned), each up to a midnight, then the cutoff's day
        assert 5 <= transactions <= 15


def _largest_run_by_hand(conn: sqlite3.Connection, f, unbounded: int = 0) -> dict | None:
    """The costliest run tree among the runs a filter selects, from the run rows one by one: a run
    delegated from none counts alone; a tree counts its selected delegated runs and its top run, if
    selected. Of equal costs: the last recorded run alone, else the first tree by id. ``unbounded``: the
    summary's attempts of no known cost and no bound; at_most_usd is null where the tree (whole) holds one, and
    unbounded_attempts adds those of the tree the filters leave out."""
    from magsag_mcp.ledger.filters import sql_where

    where, args = sql_where(f, table="r")
    if f.since is not None:  # a window selects too the runs begun before it that made a call within it
        others, other_args = sql_where(f.model_copy(update={"since": None}), table="r")
        called = "SELECT run_id FROM attempts WHERE started_at >= ?" + (" AND started_at < ?" if f.until else "")
        where = f"{where} OR (r.run_id IN ({called}){others.replace(' WHERE ', ' AND ', 1)})"
        args += [f.since, *([f.until] if f.until else []), *other_args]
    rows = conn.execute(f"SELECT rowid, run_id, parent_run_id, cost_pusd, cost_bound_pusd FROM runs r{where}", args)
    selected = {run_id: (rowid, parent, cost, bound) for rowid, run_id, parent, cost, bound in rows.fetchall()}
    alone = [(c + b, rowid, run_id, c, b) for run_id, (rowid, p, c, b) in selected.items() if p in (None, run_id)]
    trees: dict[str, list[int]] = {}
    for run_id, (_, parent, cost, bound) in selected.items():
        if parent not in (None, run_id):
            tree = trees.setdefault(parent, [0, 0, 0])
            tree[0], tree[1], tree[2] = tree[0] + cost, tree[1] + bound, tree[2] + 1
    for root, tree in trees.items():
        if root in selected:
            tree[0] += selected[root][2]
            tree[1] += selected[root][3]
    candidates = []
    if alone:
        _, _, run_id, cost, bound = max(alone)
        candidates.append((run_id, cost, bound, 0))
    if trees:
        root, (cost, bound, n) = min(trees.items(), key=lambda item: (-(item[1][0] + item[1][1]), item[0]))
        candidates.append((root, cost, bound, n))
    if not candidates:
        return None
    run_id, cost, bound, n = max(candidates, key=lambda c: (c[1] + c[2], c[3]))
    tree = [r for (r,) in conn.execute("SELECT run_id FROM runs WHERE run_id = ? OR parent_run_id = ?", (run_id,) * 2)]
    # the tree's attempts of no known cost and no bound that reached a provider (as the summary counts them), each
    # told apart by the filters in Python: those the filters leave out add to the summary's unbounded_attempts
    own = left_out = 0
    for r in tree:
        for agent, skill, model, provider, at, status, parent in conn.execute(
            "SELECT a.agent, a.skill, a.model, a.provider, a.started_at, r.status, r.parent_run_id FROM attempts a"
            " JOIN runs r ON r.run_id = a.run_id WHERE a.run_id = ? AND a.cost_pusd IS NULL"
            " AND a.cost_bound_pusd IS NULL AND a.outcome IN ('ok', 'error')",
            (r,),
        ):
            own += 1
            chosen = (
                all(
                    want is None or want == have
                    for want, have in (
                        (f.agent, agent), (f.skill, skill), (f.model, model), (f.provider, provider), (f.status, status)
                    )
                )
                and (f.run_id is None or f.run_id in (r, parent))
                and (f.since is None or at >= f.since)
                and (f.until is None or at < f.until)
            )  # fmt: skip
            left_out += not chosen
    return {
        "run_id": run_id,
        "delegated_runs": n,
        "known_cost_usd": format(Decimal(cost) / 10**12, "f"),
        "unknown_cost_bound_usd": format(Decimal(bound) / 10**12, "f"),
        "at_most_usd": None if own else format(Decimal(cost + bound) / 10**12, "f"),
        "unbounded_attempts": unbounded + left_out,
    }


@pytest.mark.parametrize(("window", "narrow"), [(3, 10**9), (2000, 0)])
async def test_largest_run_equals_the_run_rows_read_one_by_one(tmp_path: Path, monkeypatch, window, narrow):
    """``largest_run`` (what flow gate checks max_cost_per_run_usd against) under each filter. It reads
    the top of runs_cost, then (nothing selected there) the filter's own index: with a window of 3 most
    filters take the second way, with 2,000 the first. Delegated runs in a time range are read by
    runs_started (any range is narrow under 10**9 runs) or runs_parent (none is narrow under 0). The runs
    begun before a window that called within it are read once and named by id."""
    from magsag_mcp.ledger import UsageFilters, peaks
    from magsag_mcp.ledger.filters import parse_since

    monkeypatch.setattr(peaks, "TOP_WINDOW", window)
    monkeypatch.setattr(peaks, "NARROW_RUNS", narrow)
    db = tmp_path / "l.db"
    now = time.time()
    async with Ledger(db) as ledger:
        await _fill(ledger, now, 12)
        conn = sqlite3.connect(db)
        cases = [
            {},
            {"since": "1h"},
            {"since": now - 3.5 * DAY, "until": now - 1.2 * DAY},
            # at a midnight: runs begun 5 s before it call again after it
            *({"since": (now // DAY - d) * DAY, "until": (now // DAY - d + 2) * DAY} for d in range(2, 12, 2)),
            {"since": (now // DAY - 3) * DAY, "agent": "a2"},
            {"agent": "a1"},
            {"agent": "a1", "since": "2d"},
            {"skill": "s2"},
            {"model": "m1"},
            {"provider": "azure", "since": "5d"},
            {"status": "error"},  # failed before any attempt: all $0, ties everywhere
            {"status": "ok", "agent": "a3"},
            {"run_id": "r0"},
            {"agent": "nobody"},
        ]
        parent = conn.execute("SELECT parent_run_id FROM runs WHERE parent_run_id IS NOT NULL LIMIT 1").fetchone()[0]
        cases += [{"run_id": parent}, {"run_id": parent, "model": "m1"}, {"provider": "openai", "agent": "a2"}]
        for case in cases:
            f = UsageFilters(**case)
            fixed = f.model_copy(update={"since": parse_since(f.since), "until": parse_since(f.until, field="until")})
            summary = await ledger.summarize(fixed)
            unbounded = summary["totals"]["unbounded_attempts"]
            assert summary["largest_run"] == _largest_run_by_hand(conn, fixed, unbounded), case


def _summary_by_hand(conn: sqlite3.Connection, status: str, since: float | None, until: float | None) -> dict:
    """Per model, from the attempts of the runs with ``status`` in [since, until), joined by hand."""
    clauses, args = ["r.status = ?"], [status]
    for clause, t in (("a.started_at >= ?", since), ("a.started_at < ?", until)):
        if t is not None:
            clauses.append(clause)
            args.append(t)
    where = " AND ".join(clauses)
    join = f"FROM attempts a JOIN runs r ON r.run_id = a.run_id WHERE {where}"
    models = {
        m: (calls, failed, n, err, tin, unknown, unbounded, Decimal(cost) / 10**12, Decimal(bound) / 10**12)
        for m, calls, failed, n, err, tin, unknown, unbounded, cost, bound in conn.execute(
            # a call counts under its last attempt that reached a provider, the one that carries its cost
            "SELECT a.model, SUM(a.call_cost_pusd IS NOT NULL),"
            " SUM(a.call_cost_pusd IS NOT NULL AND a.outcome = 'error'), COUNT(*), SUM(a.outcome = 'error'),"
            " SUM(a.input_tokens), SUM(a.cost_pusd IS NULL),"
            " SUM(a.cost_pusd IS NULL AND a.cost_bound_pusd IS NULL), coalesce(SUM(a.cost_pusd), 0),"
            f" coalesce(SUM(CASE WHEN a.cost_pusd IS NULL THEN a.cost_bound_pusd END), 0) {join}"
            " AND a.outcome IN ('ok', 'error') GROUP BY 1",
            args,
        )
    }
    refused = dict(
        conn.execute(f"SELECT a.outcome, COUNT(*) {join} AND a.outcome NOT IN ('ok', 'error') GROUP BY 1", args)
    )
    first, last = conn.execute(f"SELECT MIN(a.started_at), MAX(a.started_at) {join}", args).fetchone()
    return {"models": models, "refused": refused, "period": (first, last)}


@pytest.mark.parametrize("per_row_below", [0, 10**9])
async def test_status_with_a_time_range_equals_a_join_of_attempts_and_runs(tmp_path: Path, monkeypatch, per_row_below):
    """A status filter reads its runs as a list (0: always) or looks each attempt's run up (10**9:
    whenever a time range is given); both give what joining attempts to runs by hand gives."""
    from datetime import UTC, datetime

    from magsag_mcp.ledger import UsageFilters, rollup_reads

    monkeypatch.setattr(rollup_reads, "STATUS_PER_ROW_BELOW", per_row_below)
    db = tmp_path / "l.db"
    now = time.time()
    midnight = (int(now // DAY) - 2) * DAY
    async with Ledger(db) as ledger:
        await _fill(ledger, now, 10)
        conn = sqlite3.connect(db)
        windows = [
            (now - 3600, None),
            (now - 2 * DAY, None),
            (None, now - 5 * DAY),
            (midnight - 7, midnight + 9),  # across a midnight: runs that started before it
            (midnight - 3.3 * DAY, midnight - 0.6 * DAY),  # mid-day to mid-day
            (None, None),
        ]
        checked = 0
        for status in ("ok", "error", "budget_exceeded"):
            for since, until in windows:
                s = await ledger.summarize(UsageFilters(status=status, since=since, until=until))
                want = _summary_by_hand(conn, status, since, until)
                got = {
                    m: (
                        v["calls"], v["errors"], v["attempts"], v["attempt_errors"], v["input_tokens"],
                        v["unpriced_calls"], v["unbounded_calls"],
                        Decimal(v["known_cost_usd"]), Decimal(v["unknown_cost_bound_usd"]),
                    )
                    for m, v in s["model_stats"].items()
                }  # fmt: skip
                assert got == want["models"], (status, since, until)
                checked += bool(got)
                # each refused outcome's attempts (unpriced_attempts and unbounded_attempts count costs, not outcomes)
                outcomes = ("policy_denied_attempts", "budget_exceeded_attempts", "skipped_attempts")
                refused = {k.removesuffix("_attempts"): v for k, v in s["totals"].items() if k in outcomes}
                assert refused == want["refused"]
                iso = [
                    None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")
                    for t in want["period"]
                ]
                assert [s["period"]["from"], s["period"]["to"]] == iso
        assert checked >= 12  # most cases select some attempts


@pytest.mark.parametrize("common", [0, 10**9])
async def test_query_runs_by_model_or_provider_pages_as_a_plain_query(tmp_path: Path, monkeypatch, common):
    """A page of runs with a model or provider filter reads the runs newest first, each one's attempts
    looked up (every filter is common under 0), or the list of runs with such an attempt (under 10**9):
    both give the page a plain query over runs and attempts gives, at any offset."""
    from magsag_mcp.ledger import UsageFilters, run_pages

    monkeypatch.setattr(run_pages, "COMMON_ATTEMPTS", common)
    db = tmp_path / "l.db"
    now = time.time()
    async with Ledger(db) as ledger:
        await _fill(ledger, now, 10)
        conn = sqlite3.connect(db)
        cases = [
            {"model": "m1"},
            {"model": "m2", "limit": 7, "offset": 30},
            {"provider": "azure", "limit": 5, "offset": 11},
            {"model": "m0", "provider": "openai", "limit": 20, "offset": 3},
            {"model": "m1", "since": now - 2.5 * DAY, "until": now - 0.5 * DAY},
            {"model": "no-such-model"},
            {"provider": "azure", "agent": "a2", "offset": 2},
        ]
        for case in cases:
            got = [r["run_id"] for r in await ledger.query_runs(UsageFilters(**case))]
            clauses, args = [], []
            for name in ("model", "provider"):
                if name in case:
                    clauses.append(f"run_id IN (SELECT run_id FROM attempts WHERE {name} = ?)")
                    args.append(case[name])
            for clause, key in (("agent = ?", "agent"), ("started_at >= ?", "since"), ("started_at < ?", "until")):
                if key in case:
                    clauses.append(clause)
                    args.append(case[key])
            want = conn.execute(
                f"SELECT run_id FROM runs WHERE {' AND '.join(clauses)}"
                " ORDER BY started_at DESC, run_id LIMIT ? OFFSET ?",
                [*args, case.get("limit", 50), case.get("offset", 0)],
            ).fetchall()
            assert got == [r[0] for r in want], case
            assert got or case["model"] == "no-such-model"


async def test_a_skill_filter_selects_the_runs_that_called_the_skill_among_others(tmp_path: Path):
    """A run that called several skills (a Magsag session, a MAG) records no skill of its own; a skill
    filter on runs selects it by its attempts, as summarize counts those attempts."""
    from magsag_mcp.ledger import UsageFilters

    now = time.time()
    async with Ledger(tmp_path / "l.db") as ledger:
        for i, skill in enumerate(("skill.analysis", "skill.summarization")):  # two calls of one run
            run = RunRecord("session", "mag", skill, now + i, status="ok")
            attempt = AttemptRecord(
                "session", now + i, "openai", "m", skill, "mag", "ok", 0, 1, cost_usd=Decimal(i + 1)
            )
            await ledger.record_call(run, [attempt])
        lone = RunRecord("lone", "mag", "skill.analysis", now - 5, status="error")
        await ledger.record_call(lone, [])  # failed before any attempt: selected by its own skill
        only = RunRecord("other", "mag", "skill.coding", now - 9, status="ok")
        await ledger.record_call(
            only, [AttemptRecord("other", now - 9, "openai", "m", "skill.coding", "mag", "ok", 0, 1)]
        )
        runs = await ledger.query_runs(UsageFilters(skill="skill.analysis"))
        assert [r["run_id"] for r in runs] == ["session", "lone"]
        assert runs[0]["skill"] is None and len(runs[0]["attempts"]) == 2
        assert [r["run_id"] for r in await ledger.query_runs(UsageFilters(skill="skill.coding"))] == ["other"]
        summary = await ledger.summarize(UsageFilters(skill="skill.summarization"))
        assert summary["totals"]["calls"] == 1
        assert summary["largest_run"]["run_id"] == "session"  # the run the skill's spend is in, counted whole


async def test_a_time_window_selects_the_runs_that_began_or_called_within_it(tmp_path: Path):
    """A window selects the runs begun within it and those begun before it with an attempt within it (a run
    begun 5 s before midnight calls again after it), newest first by when each began, at any offset; as a plain
    query over runs and attempts selects them."""
    from magsag_mcp.ledger import UsageFilters

    db = tmp_path / "l.db"
    now = time.time()
    midnight = (now // DAY) * DAY
    async with Ledger(db) as ledger:
        # the calls end at yesterday's noon whatever the clock says: filled back from `now`, which runs begin 5 s
        # before the windows' midnights depended on the time of day (between 00:00 and about 00:50 UTC two did, and
        # the count of them below failed)
        await _fill(ledger, midnight - DAY // 2, 10)
        conn = sqlite3.connect(db)
        cases = [
            {"since": midnight - 3 * DAY},
            {"since": midnight - 3 * DAY, "until": midnight - DAY, "limit": 7, "offset": 4},
            {"since": midnight - 5 * DAY, "agent": "a1", "limit": 3},
            {"since": midnight - 6 * DAY, "until": midnight - 2 * DAY, "model": "m1"},
            {"since": midnight - 4 * DAY, "run_id": "r0"},
            {"since": midnight - 2 * DAY, "offset": 10_000},
        ]
        spanning = 0
        for case in cases:
            limit, offset = case.get("limit", 50), case.get("offset", 0)
            got = [r["run_id"] for r in await ledger.query_runs(UsageFilters(**case))]
            until = case.get("until", now + DAY)
            clauses = ["(started_at >= :since AND started_at < :until OR run_id IN (SELECT run_id FROM attempts"
                       " WHERE started_at >= :since AND started_at < :until))"]  # fmt: skip
            if "agent" in case:
                clauses.append("agent = :agent")
            if "model" in case:
                clauses.append("run_id IN (SELECT run_id FROM attempts WHERE model = :model)")
            if "run_id" in case:
                clauses.append("(run_id = :run_id OR parent_run_id = :run_id)")
            want = conn.execute(
                f"SELECT run_id FROM runs WHERE {' AND '.join(clauses)}"
                " ORDER BY started_at DESC, run_id LIMIT :limit OFFSET :offset",
                {**case, "until": until, "limit": limit, "offset": offset},
            ).fetchall()
            assert got == [r[0] for r in want], case
            # by cursor, a page at a time: the same runs
            paged, cursor = [], None
            while True:
                page = await ledger.query_runs_page(UsageFilters(**{**case, "limit": 4, "offset": 0, "cursor": cursor}))
                paged += [r["run_id"] for r in page["runs"]]
                if not page["has_more"]:
                    break
                cursor = page["next_cursor"]
            everything = conn.execute(
                f"SELECT run_id, started_at < :since FROM runs WHERE {' AND '.join(clauses)}"
                " ORDER BY started_at DESC, run_id",
                {**case, "until": until},
            ).fetchall()
            assert paged == [r[0] for r in everything], case
            spanning += sum(r[1] for r in everything)
        assert spanning >= 3  # the cases hold runs begun before their window
