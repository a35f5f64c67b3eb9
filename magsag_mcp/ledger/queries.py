"""Reading the ledger: summarize (the guide's ``model_stats``), query runs (search: search.py, prune: prune.py)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import InputError, redact_values
from .cache_hits import cache_summary
from .filters import MAX_OFFSET, UsageFilters, parse_since, read_window_start
from .migrations import ROLLUP_BUCKET_SECONDS
from .money import from_pusd, joined
from .paging import encode_cursor
from .patterns import MAX_PATTERN_CHARS as MAX_PATTERN_CHARS  # where callers have read it
from .peaks import CostliestCalls, known_zone, largest_days, largest_run
from .pruned_runs import calls_cutoff, oldest_attempt, run_pruned
from .rollup_reads import (
    ATTEMPT_CACHE_WRITES,
    ATTEMPT_CALL_MAX,
    ATTEMPT_CALLS,
    attempt_money,
    attempts_where,
    grouped_rows,
)
from .run_window import page_rows
from .spaced_names import refuse_spaced_names
from .unsent import unsent_calls

if TYPE_CHECKING:
    from .reports import LedgerReports
    from .store import Ledger

BUCKET = ROLLUP_BUCKET_SECONDS


def _money(pusd: int | None) -> tuple[float, str]:
    exact = from_pusd(pusd or 0)
    return float(exact), format(exact, "f")


_STAT_KEYS = (
    "ok",
    "errors",
    "calls",
    "failed_calls",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    "cost_pusd",
    "unpriced",
    "cost_bound_pusd",
    "bounded",
)


def _rollup_rows(conn: sqlite3.Connection, f: UsageFilters) -> list[tuple[Any, ...]]:
    """(model, provider, agent, skill, outcome, attempts, in, out, cached, reasoning, cost, unpriced, bound,
    bounded, costliest call, its run, its time, calls, cache writes, their 1-hour part) groups (see
    :func:`~.rollup_reads.grouped_rows`)."""
    rows = grouped_rows(
        conn,
        f,
        rollup_select=lambda s: (
            "model, provider, agent, skill, outcome, SUM(attempts), SUM(input_tokens),"
            f" SUM(output_tokens), SUM(cached_tokens), SUM(reasoning_tokens), {s('cost_pusd')}, SUM(unpriced),"
            f" {s('cost_bound_pusd')}, SUM(bounded), MAX(call_max_pusd), call_max_run_id, call_max_at, SUM(calls),"
            " SUM(cache_write_tokens), SUM(cache_write_1h_tokens)"
        ),
        attempts_select=lambda s: (
            "model, provider, coalesce(agent, ''), coalesce(skill, ''), outcome, COUNT(*),"
            " SUM(input_tokens), SUM(output_tokens), SUM(cached_tokens), SUM(reasoning_tokens), "
            + attempt_money(s)
            + f", {ATTEMPT_CALL_MAX}, {ATTEMPT_CALLS}, {ATTEMPT_CACHE_WRITES}"
        ),
        group_by="1, 2, 3, 4, 5",
    )
    # each pico-USD sum came as two columns (see money.summed); then the costliest call (-1: none), its run, time,
    # the calls ending in the group, and its cache writes and their 1-hour part
    return [(*r[:10], joined(r[10], r[11]), r[12], joined(r[13], r[14]), *r[15:22]) for r in rows]


#: the filters that may select some of a call's attempts and not others (its run, agent and skill are its attempts')
_NARROWING = ("model", "provider", "since", "until")


def _stats(acc: dict[str, int]) -> dict[str, Any]:
    number, exact = _money(acc["cost_pusd"])
    complete = acc["unpriced"] == 0
    unbounded = acc["unpriced"] - acc["bounded"]
    return {
        # the guide's "calls: Number of invocations" and "errors: Failed calls": calls, each counted once (under its
        # last attempt that reached a provider), however many tries and fallback hops it took; those tries are
        # `attempts`, and the ones that failed `attempt_errors` (a call answered on its retry failed none)
        "calls": acc["calls"],
        "errors": acc["failed_calls"],
        "attempts": acc["ok"] + acc["errors"],
        "attempt_errors": acc["errors"],
        "input_tokens": acc["input_tokens"],
        "output_tokens": acc["output_tokens"],
        "total_tokens": acc["input_tokens"] + acc["output_tokens"],
        # null, not the known part, when any cost is unknown: a sum of cost_usd must not pass for the spend
        "cost_usd": number if complete else None,
        "cost_usd_exact": exact if complete else None,
        "known_cost_usd": exact,
        "cost_complete": complete,
        "unpriced_attempts": acc["unpriced"],
        "unpriced_calls": acc["unpriced"],  # (attempts: the first name, kept for the clients that read it)
        "unknown_cost_bound_usd": _money(acc["cost_bound_pusd"])[1],
        "unbounded_attempts": unbounded,
        "unbounded_calls": unbounded,  # (attempts: the first name, kept for the clients that read it)
        "cached_tokens": acc["cached_tokens"],
        # cache writes (Anthropic's cache_creation_input_tokens, part of input_tokens as cached_tokens are, at 1.25x
        # the input rate) and, of them, those written to a 1-hour cache (at 2x)
        "cache_write_tokens": acc["cache_write_tokens"],
        "cache_write_1h_tokens": acc["cache_write_1h_tokens"],
        "reasoning_tokens": acc["reasoning_tokens"],
    }


async def summarize(
    ledger: LedgerReports, filters: UsageFilters | dict[str, Any] | None = None, timezone: str | None = None
) -> dict[str, Any]:
    """The guide's shape: ``{"model_stats": {MODEL: {calls, errors, input_tokens, output_tokens,
    total_tokens, cost_usd}}}``, plus totals, breakdowns by provider/agent/skill and the period.

    ``cost_usd`` is a JSON number (so ``jq '.model_stats[].cost_usd'`` sums it) and ``cost_usd_exact``
    the exact decimal string. ``unpriced_attempts`` counts attempts whose cost is unknown (an answer of
    unknown price, or an attempt cut after it reached the vendor, which may bill it); where there are
    any, ``cost_complete`` is false and ``cost_usd`` and ``cost_usd_exact`` are null, never a figure
    that leaves them out. ``known_cost_usd`` is always the exact sum of the known costs.
    ``unknown_cost_bound_usd`` is those attempts' worst case as estimated before sending, where the
    model's price is known; ``unbounded_attempts`` counts the ones with no bound (an unknown price).
    ``unpriced_calls`` and ``unbounded_calls`` are the same counts under their first names (attempts, not calls).
    ``calls`` counts calls (``errors`` of them failed), each under the model of its last attempt that reached a
    provider (a call that fell back from one model to another counts under the second); ``attempts`` counts the
    attempts that reached a provider, retries and fallback hops each one (``attempt_errors`` of them failed), so a
    model a call left for another has attempts and no call. Attempts refused by policy or budget, or skipped, are
    counted in ``totals`` by outcome. ``cached_tokens`` (read from a prompt cache), ``cache_write_tokens`` (written to
    it) and ``cache_write_1h_tokens`` (of those, written for an hour) are parts of ``input_tokens``, and
    ``reasoning_tokens`` of ``output_tokens``, in totals too.

    For ``flow gate``'s limits: ``largest_run``, the costliest run with the runs it delegated (``run_id``,
    ``delegated_runs``, ``known_cost_usd``, ``unknown_cost_bound_usd``, ``at_most_usd``); ``largest_day``, the
    costliest day (``date``, the same costs; a day of ``timezone``, default UTC: ``period.timezone``), and each
    ``by_agent`` entry's; ``largest_call``, the costliest call (:class:`~.peaks.CostliestCalls`), and each model's.
    Each says ``unbounded_attempts``, the attempts of no known cost nor bound it leaves out (see peaks.py).
    """
    zone = known_zone(timezone)
    # a date without an offset is a midnight of the zone whose days the summary counts
    f = UsageFilters.build(filters if isinstance(filters, dict | UsageFilters) else None, zone=zone)

    # "7d" resolved once: every read below must cover the same period
    fixed = f.model_copy(update={"since": parse_since(f.since), "until": parse_since(f.until, field="until")})

    def q(conn: sqlite3.Connection) -> dict[str, Any]:
        refuse_spaced_names(conn, f)
        rows = _rollup_rows(conn, fixed)
        groups: dict[str, dict[str, dict[str, int]]] = {"model": {}, "provider": {}, "agent": {}, "skill": {}}
        providers_of: dict[str, set[str]] = {}
        refused: dict[str, int] = {}
        blank = dict.fromkeys(_STAT_KEYS, 0)
        total = dict(blank)
        costliest = CostliestCalls()
        for model, provider, agent, skill, outcome, n, *numbers in rows:
            tin, tout, cached, reasoning, cost, unpriced, bound, bounded, *call, calls, written, written_1h = numbers
            costliest.add(model, *call)
            if outcome not in ("ok", "error"):
                refused[outcome] = refused.get(outcome, 0) + int(n)
                continue
            providers_of.setdefault(model, set()).add(provider)
            for dim, key in (
                ("model", model),
                ("provider", provider),
                ("agent", agent or "(none)"),
                ("skill", skill or "(none)"),
            ):
                for acc in (groups[dim].setdefault(key, dict(blank)),) + ((total,) if dim == "model" else ()):
                    acc["ok" if outcome == "ok" else "errors"] += int(n)
                    acc["calls"] += int(calls or 0)
                    if outcome != "ok":
                        acc["failed_calls"] += int(calls or 0)
                    acc["input_tokens"] += int(tin or 0)
                    acc["output_tokens"] += int(tout or 0)
                    acc["cached_tokens"] += int(cached or 0)
                    acc["cache_write_tokens"] += int(written or 0)
                    acc["cache_write_1h_tokens"] += int(written_1h or 0)
                    acc["reasoning_tokens"] += int(reasoning or 0)
                    acc["cost_pusd"] += int(cost or 0)
                    acc["unpriced"] += int(unpriced or 0)
                    acc["cost_bound_pusd"] += int(bound or 0)
                    acc["bounded"] += int(bounded or 0)
        unbounded = total["unpriced"] - total["bounded"]
        # which peaks leave them out (see peaks.py). A filter (a model, a window) may leave a peak call's unbounded
        # attempt out of the summary's (its fallback's first model, its try before the window) while the call is
        # counted whole: its at_most_usd was that whole's figure, none counted; the peaks are read then too
        if unbounded or any(getattr(fixed, name) is not None for name in _NARROWING):
            counts: dict[str | None, int] = {m: acc["unpriced"] - acc["bounded"] for m, acc in groups["model"].items()}
            costliest.mark_unbounded(conn, {**counts, None: unbounded}, fixed)
        period = _period(conn, fixed)
        largest_day, agent_days = largest_days(conn, fixed, zone)
        by_agent = {k: _stats(v) for k, v in sorted(groups["agent"].items())}
        for agent, peak in agent_days.items():
            if agent in by_agent:
                by_agent[agent]["largest_day"] = peak
        totals = _stats(total)  # (reasoning_tokens too, as each breakdown gives them: they were dropped here alone)
        totals.update({f"{outcome}_attempts": n for outcome, n in sorted(refused.items())})
        # calls none of whose targets was sent (no key set, a policy refused it): in no `calls`, so a summary of them
        # alone read as "nothing happened" (see unsent.py). Counted where the summary holds no call that sent one:
        # beside such calls it would read every attempt of the period, where the summary reads the daily rollup
        if not total["calls"]:
            totals["unsent_calls"] = unsent_calls(conn, fixed) if refused else 0
        model_stats = {k: _stats(v) for k, v in sorted(groups["model"].items())}
        for key, names in providers_of.items():
            model_stats[key]["providers"] = sorted(names)  # lets the gate check provider:model policies
        for key, stats in model_stats.items():  # null: none of the model's attempts ended a call
            stats["largest_call"] = costliest.of(key)
        return {
            "model_stats": model_stats,
            "totals": totals,
            "by_provider": {k: _stats(v) for k, v in sorted(groups["provider"].items())},
            "by_agent": by_agent,
            "by_skill": {k: _stats(v) for k, v in sorted(groups["skill"].items())},
            "largest_run": largest_run(conn, fixed, unbounded),
            "largest_day": largest_day,
            "largest_call": costliest.of(None),
            "cache": cache_summary(conn, fixed),  # the calls answered from the answer cache, and what they saved
            "period": {
                "from": _iso(period[0]),
                "to": _iso(period[1]),
                # as given, but a key pasted as one (--agent "$THE_WRONG_VARIABLE") is not written back out
                "filters": redact_values(f.model_dump(exclude_none=True, exclude={"limit", "offset", "cursor"})),
                "timezone": zone or "UTC",  # the days of largest_day and by_agent's
            },
        }

    return await ledger.read(q)


#: the filters whose attempts an index keeps in time order (attempts_model, attempts_agent), or every attempt
#: (attempts_started): the first and the last of them are each one step down it
_TIME_ORDERED: tuple[set[str], ...] = ({"model"}, {"agent"}, set())


def _period(conn: sqlite3.Connection, f: UsageFilters) -> tuple[Any, Any]:
    """(the first, the last ``started_at``) of the attempts ``f`` selects. SQLite reads a MIN or a MAX alone from one
    end of an index, and the two in one SELECT from every attempt: a summary of 1,000,000 attempts spent 9,000,000 of
    its 10,700,000 SQLite steps (about 100 ms) on its period. Apart where an index serves the filters in time order;
    together otherwise (a run's, a skill's attempts: one read of them, not two)."""
    source, where, args = attempts_where(conn, f)
    given = {name for name in ("agent", "run_id", "skill", "model", "provider", "status") if getattr(f, name)}
    if given in _TIME_ORDERED:
        sql = f"SELECT (SELECT MIN(started_at) FROM {source}{where}), (SELECT MAX(started_at) FROM {source}{where})"
        return conn.execute(sql, [*args, *args]).fetchone()
    return conn.execute(f"SELECT MIN(started_at), MAX(started_at) FROM {source}{where}", args).fetchone()


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


_ATTEMPT_COLS = (
    "run_id, started_at, provider, model, skill, agent, outcome, error_class, error_message, input_tokens,"
    " output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, total_tokens, cost_pusd, price_source,"
    " latency_ms, attempt_number, fallback_position, warnings, cost_bound_pusd, service_tier, cache_write_1h_tokens,"
    " input_audio_tokens, output_audio_tokens"
)


def _attempt_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    (
        run_id,
        started,
        provider,
        model,
        skill,
        agent,
        outcome,
        error_class,
        error_message,
        tin,
        tout,
        cached,
        written,
        reasoning,
        total,
        cost,
        source,
        latency,
        attempt_no,
        position,
        warnings,
        bound,
        tier,
        written_1h,
        audio_in,
        audio_out,
    ) = row
    return {
        "time": _iso(started),
        "provider": provider,
        "model": model,
        "skill": skill,
        "agent": agent,
        "outcome": outcome,
        "error_class": error_class,
        "error_message": error_message,
        "input_tokens": tin,
        "output_tokens": tout,
        "cached_tokens": cached,
        "cache_write_tokens": written,
        "reasoning_tokens": reasoning,
        "total_tokens": total,
        "cache_write_1h_tokens": written_1h,
        "input_audio_tokens": audio_in,
        "output_audio_tokens": audio_out,
        "service_tier": tier,
        "cost_usd": None if cost is None else format(from_pusd(cost), "f"),
        "cost_bound_usd": None if bound is None else format(from_pusd(bound), "f"),
        "price_source": source,
        "latency_ms": latency,
        "attempt_number": attempt_no,
        "fallback_position": position,
        "warnings": json.loads(warnings) if warnings else [],
    }


#: a model or provider with at least this many attempts (in the time range) pages runs by time
COMMON_ATTEMPTS = 1000


def _common_attempts(conn: sqlite3.Connection, f: UsageFilters) -> bool:
    """Whether the model or provider filter selects many attempts, so that a page of runs is best read
    newest first, each run's attempts looked up, stopping once the page is full: 0.2-1.7 ms for a
    page of a year-long 1,000,000-attempt ledger, where the list of every run with such an attempt
    took 190-720 ms. For a model with few attempts (a typo: none) that walk would visit every run
    (1.0 s), and the list is cheap. Counted on attempts_model (a provider has no index: its scan
    stops at :data:`COMMON_ATTEMPTS`, and a rare one costs what its list would have)."""
    named = [(f"{name} = ?", getattr(f, name)) for name in ("model", "provider") if getattr(f, name) is not None]
    if not named:
        return False
    clauses, args = [c for c, _ in named], [v for _, v in named]  # both given: attempts with both, a guess
    for clause, t in (("started_at >= ?", parse_since(f.since)), ("started_at < ?", parse_since(f.until))):
        if t is not None:
            clauses.append(clause)
            args.append(t)
    n = conn.execute(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM attempts WHERE {' AND '.join(clauses)} LIMIT ?)", [*args, COMMON_ATTEMPTS]
    ).fetchone()[0]
    return bool(n >= COMMON_ATTEMPTS)


async def query_runs(ledger: Ledger, filters: UsageFilters | dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Runs, newest first, each with its attempts."""
    return (await query_runs_page(ledger, filters))["runs"]


async def query_runs_page(
    ledger: LedgerReports,
    filters: UsageFilters | dict[str, Any] | None = None,
    attempts_per_run: int | None = None,
    *,
    inline: int | None = None,
    inline_page: int | None = None,
) -> dict[str, Any]:
    """``{"runs", "has_more", "next_cursor"}``: a page of runs, newest first, after ``filters.cursor``
    (see paging.py); ``next_cursor`` (null on the last page) is where the next page starts. With
    ``attempts_per_run``, a run lists its latest attempts only, and ``attempts_omitted`` counts the others.
    With ``inline`` (an export), a run of more attempts than that lists none, ``attempts_omitted`` counts them,
    and ``attempt_bound`` is the last attempt recorded as the page was read (see :mod:`.exports`); with
    ``inline_page`` too, so does a run of more attempts than the page has left of that many in all."""
    from .exports import attempts_beyond

    f = UsageFilters.build(filters if isinstance(filters, dict | UsageFilters) else None)
    _check_attempts_per_run(attempts_per_run)
    # "24h" read once for the pages that follow this one: see paging.pinned_since
    start, window = read_window_start(f.since, f.cursor)
    f = f.model_copy(update={"since": start})

    def q(conn: sqlite3.Connection) -> dict[str, Any]:
        refuse_spaced_names(conn, f)
        runs = page_rows(
            conn,
            f,
            "run_id, agent, skill, parent_run_id, started_at, ended_at, status, calls, input_tokens, output_tokens,"
            " cost_pusd, unpriced_calls, error_class, error_message, cost_bound_pusd",
            attempt_per_run=_common_attempts(conn, f),
            rows=f.limit + 1,  # one more than asked: whether there is a next page
        )
        has_more = len(runs) > f.limit
        runs = runs[: f.limit]
        out = []
        oldest: list[float | None] = []  # the ledger's oldest attempt, read once a page if a run needs it
        cutoff: list[float | None] = []  # pruned_runs.calls_cutoff, the same
        left = inline_page  # the attempts the page may still list with its runs (None: no total)
        for row in runs:
            run_id, agent, skill, parent, started, ended, status, calls, tin, tout, cost, unpriced = row[:12]
            error_class, error_message, bound = row[12:]
            most = inline if left is None or inline is None else min(inline, left)
            beyond = None if most is None else attempts_beyond(conn, run_id, most)
            attempts, omitted = ([], beyond) if beyond else _run_attempts(conn, run_id, attempts_per_run)
            left = None if left is None else left - len(attempts)
            # a cost its row keeps (its run limit counts it) that its attempts left do not add up to: pruned
            # (its attempts listed whole are added up as read: a run of 1,000,000 attempts is a read of them more)
            whole = attempts if not beyond and not omitted else None
            # not listed whole, a run begun at or after the oldest attempt is not added up again: no prune took from it
            if whole is None and not oldest:
                oldest.append(oldest_attempt(conn))
            prunable = whole is not None or oldest[0] is None or started < oldest[0]
            # and of more calls than attempts left, begun before the calls' cutoff: a prune took a call's attempts
            if calls > len(whole if whole is not None else attempts) and not cutoff:
                cutoff.append(calls_cutoff(conn))
            calls_taken = calls if cutoff and cutoff[0] is not None and started < cutoff[0] else 0
            pruned, unbounded = run_pruned(
                conn, run_id, cost, unpriced, bound, whole, prunable=prunable, calls=calls_taken
            )
            # or tokens it keeps with no attempt left to show them (only an attempt gives tokens: a free local
            # model's, at $0, leaves no cost to add up)
            pruned = pruned or (not attempts and not omitted and bool(tin or tout))
            out.append(
                {
                    "run_id": run_id,
                    "agent": agent,
                    "skill": skill,
                    "parent_run_id": parent,
                    "started_at": _iso(started),
                    "ended_at": _iso(ended),
                    "status": status,
                    "calls": calls,
                    "input_tokens": tin,
                    "output_tokens": tout,
                    "total_tokens": tin + tout,
                    # null while any attempt's cost is unknown, as in summarize; the known part beside it
                    "cost_usd": None if unpriced else format(from_pusd(cost), "f"),
                    "known_cost_usd": format(from_pusd(cost), "f"),
                    "cost_complete": not unpriced,
                    "unpriced_attempts": unpriced,
                    "unpriced_calls": unpriced,  # (attempts: the first name, kept for the clients that read it)
                    "cost_bound_usd": format(from_pusd(bound or 0), "f"),
                    # those of no known price, which cost_bound_usd does not bound (as summarize's unbounded_attempts)
                    "unbounded_attempts": unbounded,
                    "unbounded_calls": unbounded,
                    "error": None if error_class is None else {"type": error_class, "message": error_message},
                    "attempts": [_attempt_dict(a) for a in attempts],
                    **({} if omitted is None else {"attempts_omitted": omitted}),
                    **({"attempts_pruned": True} if pruned else {}),
                }
            )
        last = runs[-1] if runs else None
        cursor = encode_cursor(last[4], last[0], since=window) if has_more and last is not None else None
        page = {"runs": out, "has_more": has_more, "next_cursor": cursor}
        if inline is not None:
            page["attempt_bound"] = conn.execute("SELECT coalesce(MAX(id), 0) FROM attempts").fetchone()[0]
        return page

    return await ledger.read(q)


def _check_attempts_per_run(most: Any) -> None:
    """Refuse an ``attempts_per_run`` that is no count of attempts: a negative one was SQLite's LIMIT of it (-1 no
    attempt and one more omitted than the run has, -5 every attempt but the first), a float SQLite's "datatype
    mismatch" reported as the ledger's error, and True a count of 1."""
    if most is None or (type(most) is int and 0 <= most <= MAX_OFFSET):
        return
    raise InputError(
        f"attempts_per_run must be a whole number of attempts, 0 (none listed; attempts_omitted counts them) or more, "
        f"or None for every attempt; got {most!r}"
    )


def _run_attempts(conn: sqlite3.Connection, run_id: str, most: int | None) -> tuple[list[Any], int | None]:
    """A run's attempts in order (with ``most``: its latest ``most``) and how many earlier ones were left out."""
    if most is None:
        sql = f"SELECT {_ATTEMPT_COLS} FROM attempts WHERE run_id = ? ORDER BY started_at, id"
        return conn.execute(sql, (run_id,)).fetchall(), None
    sql = f"SELECT {_ATTEMPT_COLS} FROM attempts WHERE run_id = ? ORDER BY started_at DESC, id DESC LIMIT ?"
    latest = conn.execute(sql, (run_id, most + 1)).fetchall()[::-1]  # one more: whether any were left out
    if len(latest) <= most:
        return latest, 0
    total = conn.execute("SELECT COUNT(*) FROM attempts WHERE run_id = ?", (run_id,)).fetchone()[0]
    return latest[1:], total - most


#: the models a run called (its attempts that reached a provider), in the order it first called each
_RUN_MODELS = (
    "SELECT model FROM attempts WHERE run_id = ? AND outcome IN ('ok', 'error') GROUP BY model"
    " ORDER BY MIN(started_at), MIN(id)"
)


async def run_models(ledger: LedgerReports, run_ids: list[str]) -> dict[str, list[str]]:
    """Each run's models, as ``query_runs`` would list them from its attempts, without reading its attempts: a
    run of a long-lived ``Magsag`` holds every call it made, hundreds of thousands of attempts."""
    return await ledger.read(lambda conn: {r: [m for (m,) in conn.execute(_RUN_MODELS, (r,))] for r in run_ids})
