"""Reading the ledger's runs: a page of them, newest first, each with its attempts (``query_runs``), and the models
each run called (the table of ``magsag data query``). The summary is queries.py's; search: search.py, prune: prune.py.

(Split from queries.py, unchanged: a test that pages by model patches :data:`COMMON_ATTEMPTS` here, and one that
counts the attempts read patches ``_attempt_dict`` here, where the page reads them.)"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from .dead_runs import called_within_window, errored_runs, runs_as_recorded, selected_by_name, shown_as_recorded
from .filters import MAX_OFFSET, UsageFilters, parse_since, read_window_start
from .money import from_pusd
from .paging import check_same_filters, encode_cursor, filters_digest
from .pruned_runs import calls_cutoff, oldest_attempt, run_pruned
from .run_window import page_rows
from .spaced_names import refuse_spaced_names
from .times import iso_time
from .unrecorded import stand_in_calls

if TYPE_CHECKING:
    from .reports import LedgerReports
    from .store import Ledger

_ATTEMPT_COLS = (
    "run_id, started_at, provider, model, skill, agent, outcome, error_class, error_message, input_tokens,"
    " output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, total_tokens, cost_pusd, price_source,"
    " latency_ms, attempt_number, fallback_position, warnings, cost_bound_pusd, service_tier, cache_write_1h_tokens,"
    " input_audio_tokens, output_audio_tokens, served_model, data_classes, endpoint,"
    " output_image_tokens, inference_geo, server_tool_uses, cache_write_ttl_unsaid_tokens,"
    " cache_write_split_past_tokens, paused_id, continues_paused_id"
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
        served,
        classes,
        endpoint,
        images_out,
        geo,
        tool_uses,
        written_unsaid,
        split_past,
        paused_id,
        continues_paused_id,
    ) = row
    return {
        "time": iso_time(started),
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
        # of cache_write_tokens, those whose time to live the answer did not say (0033; None: recorded before it
        # with cache writes, not counted then; an attempt with none wrote none of them, whenever recorded)
        "cache_write_ttl_unsaid_tokens": 0 if written_unsaid is None and not written else written_unsaid,
        # how many more cache writes the answer's split by time to live counted than its total of them, priced at the
        # split's (0036; None: recorded before it with cache writes; one with none wrote none)
        "cache_write_split_past_tokens": 0 if split_past is None and not written else split_past,
        "input_audio_tokens": audio_in,
        "output_audio_tokens": audio_out,
        # what else its cost follows from (0030), None where the answer did not say, and for older rows: of
        # output_tokens, images; where inference ran; its per-use server tool calls by kind
        "output_image_tokens": images_out,
        "inference_geo": geo,
        "server_tool_uses": json.loads(tool_uses) if tool_uses else None,
        "service_tier": tier,
        "served_model": served,
        # the data classes the call was held to (0027): [] for one of none, or recorded before they were kept
        "data_classes": json.loads(classes) if classes else [],
        # the endpoint an Azure attempt went to (0029: its host, never a key); None for others, and older rows
        "endpoint": endpoint,
        "cost_usd": None if cost is None else format(from_pusd(cost), "f"),
        "cost_bound_usd": None if bound is None else format(from_pusd(bound), "f"),
        "price_source": source,
        "latency_ms": latency,
        "attempt_number": attempt_no,
        "fallback_position": position,
        "warnings": json.loads(warnings) if warnings else [],
        # a paused turn's story (0037): the id this attempt's answer left its turn paused under, and the paused_id
        # its call continued; None for every other attempt, and those recorded before
        "paused_id": paused_id,
        "continues_paused_id": continues_paused_id,
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
    # a cursor names a place among the runs its page's filters selected: with others, refused (see paging.py)
    digest = filters_digest(f)
    check_same_filters(f.cursor, digest)
    # "24h" read once for the pages that follow this one: see paging.pinned_since
    start, window = read_window_start(f.since, f.cursor)
    f = f.model_copy(update={"since": start})

    def q(conn: sqlite3.Connection) -> dict[str, Any]:
        refuse_spaced_names(conn, f)
        # a read-only ledger's calls of dead processes, which it cannot record: a run they go to is listed as a
        # writable read lists it once they are recorded (a status filter reading it so too), see dead_runs.py
        # (a writable ledger has just recorded them: nothing of this is read or worked out for it)
        now = time.time()
        dead = runs_as_recorded(conn, stand_in_calls(conn, now)) if ledger.read_only else {}
        selecting = f
        if dead:
            errored, called, named = errored_runs(dead), called_within_window(dead, f), selected_by_name(dead, f)
            selecting = f.with_dead_calls(errored, called, named) if errored or called or named else f
        runs = page_rows(
            conn,
            selecting,
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
                    "started_at": iso_time(started),
                    "ended_at": iso_time(ended),
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
            if run_id in dead:
                shown_as_recorded(out[-1], dead[run_id], now, attempts_per_run, _attempt_dict)
        last = runs[-1] if runs else None
        cursor = None if not has_more or last is None else encode_cursor(last[4], last[0], since=window, filters=digest)
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
