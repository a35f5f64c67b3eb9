"""The largest run, day and agent-day in a summary's scope: what ``flow gate`` checks its per-run and
per-day limits against, where a summary's total may cover many runs and many days.

A run here is what a run limit covers: the run and the runs delegated from it (``runs.parent_run_id``
holds the top of the tree), each counted whole. Days are UTC days (``usage_rollup``'s buckets), cut
to the summary's period at its edges. Costs count an attempt of unknown cost at its bound, as limits do.

An attempt of unknown cost with no bound (a model of no known price, admitted by a policy's ``allow_unpriced``) adds
nothing to a peak's figures, which then bound nothing: each peak counts those among the attempts it was chosen from
(``unbounded_attempts``: the summary's, an agent's, a model's calls'), and its ``at_most_usd`` is null where the peak
itself (the run's tree, the day, the call) holds one, never a figure that leaves an unknown cost out. A call and a run,
counted whole, also count their own that those they were chosen from leave out (a fallback hop on another model, a
delegated run's call outside the window): a peak's ``unbounded_attempts`` is never 0 beside a null ``at_most_usd``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..errors import InputError
from ..zones import is_utc, zone_problem
from .dead_runs import touched_trees, tree_dead_unbounded
from .filters import UsageFilters, parse_since, rows_in_range, sql_where
from .migrations import SPEND_BUCKET_SECONDS
from .money import from_pusd, joined, named_sum, summed
from .pruned_runs import tree_pruned, tree_pruned_unbounded
from .rollup_reads import ATTEMPT_DAY, BUCKET, attempts_where, grouped_rows
from .run_window import among, called_within

if TYPE_CHECKING:
    from .dead_runs import RunAsRecorded
    from .unrecorded import DeadCalls

#: a run delegated from none: the top of its tree
_TOP = "(r.parent_run_id IS NULL OR r.parent_run_id = r.run_id)"


#: the unbounded attempts among those that reached a provider (as a summary's ``unbounded_attempts`` counts them)
UNBOUNDED = "a.cost_pusd IS NULL AND a.cost_bound_pusd IS NULL AND a.outcome IN ('ok', 'error')"


def _money(known: int, bound: int, *, own: int = 0, scope: int = 0) -> dict[str, Any]:
    """A peak's costs; ``own``: its unbounded attempts (its ``at_most_usd`` is then null), ``scope``: those of the
    scope it was chosen from (``unbounded_attempts``: while any, no figure here bounds the peak)."""
    return {
        "known_cost_usd": format(from_pusd(known), "f"),
        "unknown_cost_bound_usd": format(from_pusd(bound), "f"),
        "at_most_usd": None if own else format(from_pusd(known + bound), "f"),
        "unbounded_attempts": scope,
    }


def largest_run(
    conn: sqlite3.Connection, f: UsageFilters, unbounded: int = 0, dead: dict[str, RunAsRecorded] | None = None
) -> dict[str, Any] | None:
    """The costliest run tree among the runs the filters select: ``run_id`` (the top run),
    ``delegated_runs``, ``known_cost_usd``, ``unknown_cost_bound_usd``, ``at_most_usd`` (null if the tree holds an
    attempt of unbounded cost), ``unbounded_attempts`` (``unbounded``, the selected attempts', and the tree's own that
    the filters leave out: :func:`_tree_unbounded`); None if none.
    A time window selects the runs begun within it and those begun before it that made a call within it
    (:func:`~.run_window.called_within`: a long-lived run spending in the window is counted whole, as its
    run limit counts it).

    Two indexed reads instead of grouping every run by its tree: the costliest top run (runs_cost,
    read from the top down to the first run the filters select) and the trees that delegated
    (runs_parent holds only delegated runs), each with its top run's own cost added.

    ``dead``: a read-only ledger's runs holding calls of dead processes, as a writable read records them
    (:func:`~.dead_runs.runs_as_recorded`): the trees they touch are counted from them
    (:func:`~.dead_runs.touched_trees`), the rest as read here, those runs left out.
    """
    where, args = sql_where(f, table="r")
    cond = where.removeprefix(" WHERE ") or "1"
    every, every_args = cond, list(args)  # (the runs the filters select, the dead calls' left in)
    before = called_within(conn, f)
    touched: list[tuple[str, int, int, int]] = []
    if dead:
        touched = touched_trees(conn, f, dead, cond, args, before, _times(f))
        cond, args = f"({cond}) AND NOT {among('r')}", [*args, json.dumps(list(dead))]
        kept = [] if before is None else [run for run in json.loads(before) if run not in dead]
        before = json.dumps(kept) if kept else None
    # a run filter selects a run and its children by primary key and runs_parent: no walk down runs_cost
    lone = _costliest_top_run(conn, cond, args, window=f.run_id is None)
    if before is not None:
        other = conn.execute(
            f"SELECT r.run_id, r.cost_pusd, r.cost_bound_pusd, 0, r.rowid FROM runs r WHERE {among('r')} AND {_TOP}"
            " ORDER BY r.cost_pusd + r.cost_bound_pusd + 0 DESC, r.rowid DESC LIMIT 1",
            [before],
        ).fetchone()
        if other is not None and (lone is None or (other[1] + other[2], other[4]) > (lone[1] + lone[2], lone[4])):
            lone = other
    # The top run's own cost joins the tree's sums once (as correlated subqueries, ordering by their
    # sum evaluated them twice a tree: 1.9 -> 2.8 s under a model filter). ORDER BY names the sums: in
    # "ORDER BY 2 + 3" only a bare integer names a column, so it was the constant 5 and ranked the
    # trees by id, reporting the first, not the costliest.
    own_where, own_args = sql_where(f, table="o")
    own_clause = own_where.removeprefix(" WHERE ") or "1"
    if dead:
        own_clause, own_args = f"({own_clause}) AND NOT {among('o')}", [*own_args, json.dumps(list(dead))]
    delegated = "r.parent_run_id IS NOT NULL AND r.parent_run_id != r.run_id"
    runs, runs_args = f"runs r{_by_time(conn, f)} WHERE {cond} AND {delegated}", list(args)
    if before is not None:  # the delegated runs begun before the window too, and a top run of them
        columns = "r.run_id, r.parent_run_id, r.cost_pusd, r.cost_bound_pusd"
        runs = (
            f"(SELECT {columns} FROM {runs} UNION ALL SELECT {columns} FROM runs r WHERE {among('r')} AND {delegated})"
            " AS r"
        )
        runs_args.append(before)
        own_clause = f"(({own_clause}) OR {among('o')})"
        own_args.append(before)
    # The sums come in two columns each (see money.summed) and are added up here, exactly: SQLite's + past
    # 2**63-1 gives an inexact REAL. Ranked in integers (a REAL only past that, where ties cannot matter).
    trees = summed(
        conn,
        lambda s: (
            "SELECT t.root, t.cost_high, t.cost_low, coalesce(o.cost_pusd, 0), t.bound_high, t.bound_low,"
            " coalesce(o.cost_bound_pusd, 0), t.delegated FROM"
            f" (SELECT r.parent_run_id AS root, {named_sum(s, 'r.cost_pusd', 'cost')},"
            f" {named_sum(s, 'r.cost_bound_pusd', 'bound')},"
            f" COUNT(*) AS delegated FROM {runs} GROUP BY r.parent_run_id) AS t"
            f" LEFT JOIN runs o ON o.run_id = t.root AND {own_clause}"
            " ORDER BY (t.cost_high + t.bound_high) * 4294967296 + t.cost_low + t.bound_low"
            " + coalesce(o.cost_pusd, 0) + coalesce(o.cost_bound_pusd, 0) DESC, t.root LIMIT 1"
        ),
        [*runs_args, *own_args],
    )
    tree = None
    if trees:
        root, cost_high, cost_low, own_cost, bound_high, bound_low, own_bound, delegated_runs = trees[0]
        tree = (root, joined(cost_high, cost_low) + own_cost, joined(bound_high, bound_low) + own_bound, delegated_runs)
    # a tree the dead calls touch is counted whole from them, the part of it read above (its other runs) dropped
    tops = {row[0] for row in touched}
    candidates = [row[:4] for row in (lone, tree) if row is not None and row[0] not in tops] + touched
    if not candidates:
        return None
    run_id, known, bound, count = max(candidates, key=lambda row: (row[1] + row[2], row[3]))
    held = tree_dead_unbounded(conn, f, dead, run_id, _times(f)) if dead else (0, 0)
    own, left_out = _tree_unbounded(conn, run_id, f, unbounded, held)
    money = _money(int(known), int(bound), own=own, scope=unbounded + left_out)
    out = {"run_id": run_id, "delegated_runs": int(count), **money}
    # a run of the tree the filters select (its row in the figures) that keeps a cost, which the tree's run limit
    # counts, or calls, that its attempts left do not hold (none left, or some): a prune took them, and the totals,
    # read from what is left, do not hold it; decided as query_runs decides it (pruned_runs.tree_pruned)
    if tree_pruned(conn, run_id, every, every_args):
        out["attempts_pruned"] = True
    return out


def _times(f: UsageFilters) -> tuple[float | None, float | None]:
    return parse_since(f.since), parse_since(f.until, field="until")


#: the filters that select some of a run tree's attempts and not others (a run filter naming the tree selects it whole)
_PART_OF_A_TREE = ("agent", "skill", "model", "provider", "status", "since", "until")


def _tree_unbounded(
    conn: sqlite3.Connection, root: str, f: UsageFilters, unbounded: int, dead: tuple[int, int] = (0, 0)
) -> tuple[int, int]:
    """(the attempts of unknown cost with no bound in the tree of ``root``, counted whole as its figures count it;
    how many of them the filters leave out of the summary's ``unbounded``, those of the attempts it selects).
    ``dead``: the same two counts of a read-only ledger's stand-ins in the tree
    (:func:`~.dead_runs.tree_dead_unbounded`), which are in ``unbounded`` where selected, and in no attempt read.

    Where the summary's attempts are the tree's (a run filter naming the tree, no other), its count is the tree's: no
    read (a tree of 3,000 delegated runs was read again, run by run, and its summary took twice as long). Otherwise
    the tree's runs holding an unknown cost (runs.unpriced_calls) are read, and their attempts of no bound, each
    told apart by the filters (a run's status looked up by its key, not the list of every run of that status)."""
    # those a prune took, which the tree's rows still count (its figures count them) and no filter selects: only those
    # left were counted, too few in a pruned tree. An indexed read of the runs begun before the oldest attempt: none
    # in a ledger never pruned
    taken = tree_pruned_unbounded(conn, root)
    narrowed = any(getattr(f, name) is not None for name in _PART_OF_A_TREE)
    if not narrowed and f.run_id == root:
        return unbounded + taken, taken
    if not narrowed and f.run_id is None and not unbounded:  # every attempt left selected, none of them unbounded
        return taken, taken
    where, args = sql_where(f, table="a", status_per_row=True)
    selected = where.removeprefix(" WHERE ") or "1"
    total, chosen = conn.execute(
        f"SELECT COUNT(*), coalesce(SUM({selected}), 0) FROM attempts a WHERE {UNBOUNDED} AND a.run_id IN"
        " (SELECT run_id FROM runs WHERE run_id = ? AND unpriced_calls > 0 UNION ALL SELECT run_id FROM runs"
        " WHERE parent_run_id = ? AND run_id != ? AND unpriced_calls > 0)",
        [*args, root, root, root],
    ).fetchone()
    return int(total) + taken + dead[0], int(total) - int(chosen) + taken + dead[1]


#: a time range with fewer runs than this reads the delegated runs by runs_started
NARROW_RUNS = 100_000


def _by_time(conn: sqlite3.Connection, f: UsageFilters) -> str:
    """``INDEXED BY runs_started`` when the filters' time range holds few runs and no agent or run
    filter has a better index. The planner (no ANALYZE statistics) otherwise reads every delegated
    run by runs_parent and filters by time: 140 ms on 308,000 delegated runs for the last hour's 0,
    where runs_started reads them in 0.3 ms (9 ms for the last 7 days, 42 for 30; about even at 120
    days, a third of a year-long ledger). Counting is cheap: the range of one index, LIMIT-ed."""
    if f.agent is not None or f.run_id is not None or (f.since is None and f.until is None):
        return ""
    since, until = parse_since(f.since), parse_since(f.until, field="until")
    n = rows_in_range(conn, "runs", since, until, NARROW_RUNS)
    return " INDEXED BY runs_started" if n < NARROW_RUNS else ""


#: how far down runs_cost the costliest run is looked for before the filter's own index is used
TOP_WINDOW = 2000


def _costliest_top_run(
    conn: sqlite3.Connection, cond: str, args: list[Any], *, window: bool = True
) -> tuple[Any, ...] | None:
    """(run_id, cost, bound, 0, rowid) of the costliest run the filters select that was delegated from none;
    of equal costs, the last recorded (the highest rowid).

    Read from runs_cost from the top: the first run there that the filters select is the answer. Under
    a narrow filter (the last hour, a quiet agent) there may be none for a long way, and that walk
    visited every run of the ledger (2 s on 836,000 runs for a summary of the last hour, which has
    none); so it stops after :data:`TOP_WINDOW` runs and then reads the runs the filters select by
    their own index (runs_started, runs_agent), sorted.
    """
    top = _TOP
    row = (
        None
        if not window
        else conn.execute(
            "SELECT r.run_id, r.cost_pusd, r.cost_bound_pusd, 0, r.rid FROM (SELECT runs.*, runs.rowid AS rid,"
            " runs.cost_pusd + runs.cost_bound_pusd AS cost FROM runs INDEXED BY runs_cost"
            f" ORDER BY runs.cost_pusd + runs.cost_bound_pusd DESC, runs.rowid DESC LIMIT {TOP_WINDOW}) AS r"
            f" WHERE {cond} AND {top} ORDER BY r.cost DESC, r.rid DESC LIMIT 1",
            args,
        ).fetchone()
    )
    if row is not None:
        return row
    return conn.execute(
        f"SELECT r.run_id, r.cost_pusd, r.cost_bound_pusd, 0, r.rowid FROM runs r WHERE {cond} AND {top}"
        " ORDER BY r.cost_pusd + r.cost_bound_pusd + 0 DESC, r.rowid DESC LIMIT 1",  # + 0: not by runs_cost
        args,
    ).fetchone()


def largest_days(
    conn: sqlite3.Connection, f: UsageFilters, zone: str | None = None, dead: DeadCalls | None = None
) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """(the costliest day of all selected calls, each agent's costliest day), each as ``date``,
    ``known_cost_usd``, ``unknown_cost_bound_usd``, ``at_most_usd`` (null if the day holds an attempt of unbounded
    cost), ``unbounded_attempts`` (those of every day it was chosen from); agents keyed as ``by_agent`` is. Days are
    UTC days, or with ``zone`` (an IANA name) that zone's, as a policy's ``timezone`` counts its day limits."""
    by_day, by_agent_day = day_costs(conn, f, zone, dead)

    def peak(days: dict[date, list[int]]) -> dict[str, Any]:
        # the earliest of ties
        day, (known, bound, own) = max(days.items(), key=lambda item: (item[1][0] + item[1][1], -item[0].toordinal()))
        return {"date": day.isoformat(), **_money(known, bound, own=own, scope=sum(acc[2] for acc in days.values()))}

    per_agent: dict[str, dict[date, list[int]]] = {}
    for (agent, day), acc in by_agent_day.items():
        per_agent.setdefault(agent, {})[day] = acc
    return (peak(by_day) if by_day else None), {agent: peak(days) for agent, days in per_agent.items()}


def agent_days(
    conn: sqlite3.Connection, f: UsageFilters, zone: str | None = None, dead: DeadCalls | None = None
) -> list[dict[str, Any]]:
    """Each agent's spend on each day it spent (``magsag flow daily``), by day then agent: ``date``, ``agent``, and
    the money of a peak (``known_cost_usd``, ``unknown_cost_bound_usd``, ``at_most_usd``, null where the day holds
    an attempt of unbounded cost, and ``unbounded_attempts``, that day's). Days as :func:`largest_days` counts them."""
    rows = sorted(day_costs(conn, f, zone, dead)[1].items(), key=lambda item: (item[0][1], item[0][0]))
    return [
        {"date": day.isoformat(), "agent": agent, **_money(known, bound, own=own, scope=own)}
        for (agent, day), (known, bound, own) in rows
    ]


def day_costs(
    conn: sqlite3.Connection, f: UsageFilters, zone: str | None = None, dead: DeadCalls | None = None
) -> tuple[dict[date, list[int]], dict[tuple[str, date], list[int]]]:
    """The selected attempts' [known cost, bound on the unknown, unbounded attempts] by day and by (agent, day), in
    pico-USD; days as :func:`largest_days` counts them. ``dead``: a read-only ledger's calls of dead processes, counted
    on their days as the abandoned attempts a writable read records them as (see unrecorded.py)."""
    unknown = "CASE WHEN cost_pusd IS NULL THEN cost_bound_pusd END"
    # the rest only where the cost is unknown (few rows): as one AND, SQLite evaluated all three on every attempt,
    # 61,000 of a run-filtered summary's 720,000 steps (a tree of 3,000 delegated runs)
    unbounded = f"SUM(CASE WHEN a.cost_pusd IS NULL THEN {UNBOUNDED.removeprefix('a.cost_pusd IS NULL AND ')} END)"
    if zone is None:
        reached = "outcome IN ('ok', 'error')"  # (a refused or skipped attempt's row counts none: as the summary's)
        rows = grouped_rows(
            conn,
            f,
            rollup_select=lambda s: (
                f"bucket, agent, SUM(CASE WHEN {reached} THEN unpriced - bounded ELSE 0 END),"
                f" {s('cost_pusd')}, {s('cost_bound_pusd')}"
            ),
            attempts_select=lambda s: (
                f"{ATTEMPT_DAY}, coalesce(agent, ''), {unbounded}, {s('cost_pusd')}, {s(unknown)}"
            ),
            group_by="1, 2",
        )
        day_of: Callable[[int], date] = _utc_day
    else:
        # usage_rollup's buckets are UTC days: a zone's days are summed from the attempts' 15-minute buckets,
        # on whose edges every real zone's midnight falls (as the budget's own day limits sum them)
        source, where, args = attempts_where(conn, f)
        rows = summed(
            conn,
            lambda s: (
                f"SELECT CAST(a.started_at / {SPEND_BUCKET_SECONDS} AS INTEGER), coalesce(a.agent, ''), {unbounded},"
                f" {s('a.cost_pusd')}, {s(unknown.replace('cost', 'a.cost'))} FROM {source}{where} GROUP BY 1, 2"
            ),
            args,
        )
        day_of = _zone_day(zone)
    by_day: dict[date, list[int]] = {}  # day -> [known, bound, unbounded attempts]
    by_agent_day: dict[tuple[str, date], list[int]] = {}
    for bucket, agent, unbounded_here, *money in rows:
        day = day_of(bucket)
        known, bound = joined(*money[:2]), joined(*money[2:])
        for acc in (by_day.setdefault(day, [0, 0, 0]), by_agent_day.setdefault((agent or "(none)", day), [0, 0, 0])):
            acc[0] += known
            acc[1] += bound
            acc[2] += int(unbounded_here or 0)
    for row, at in zip(dead.rows, dead.at, strict=True) if dead is not None else ():
        day = day_of(int(at // (BUCKET if zone is None else SPEND_BUCKET_SECONDS)))
        agent, bound, bounded = row[2], row[12], row[13]
        for acc in (by_day.setdefault(day, [0, 0, 0]), by_agent_day.setdefault((agent or "(none)", day), [0, 0, 0])):
            acc[1] += bound
            acc[2] += 1 - bounded
    return by_day, by_agent_day


def known_zone(zone: str | None, given_as: str = "timezone") -> str | None:
    """``zone`` if it names a time zone other than UTC (None for UTC or none); :class:`InputError` otherwise, naming
    ``given_as``, where the caller gave it: the CLI's ``--timezone``, else the MCP tool's argument and Python's keyword,
    ``timezone`` (a policy's own is checked as the catalog loads, as ``policies.N.timezone``)."""
    if zone is None or is_utc(zone):
        return None
    if problem := zone_problem(zone):
        raise InputError(f"{given_as}: {problem}")
    return zone


@cache
def _utc_day(bucket: int) -> date:
    """The date of a usage_rollup bucket (a UTC day): worked out once a bucket, as :func:`_zone_day`'s, where a
    summary of 200 agents reads a row per agent and day (35,000 of them over a year, each a datetime)."""
    return datetime.fromtimestamp(bucket * BUCKET, UTC).date()


def _zone_day(zone: str) -> Callable[[int], date]:
    """The date in ``zone`` of a 15-minute bucket (worked out once a bucket)."""
    tz = ZoneInfo(zone)

    @cache
    def day(bucket: int) -> date:
        return datetime.fromtimestamp(bucket * SPEND_BUCKET_SECONDS, tz).date()

    return day


class CostliestCalls:
    """Each model's costliest call and the whole window's, from the summary's groups: a call's attempts together
    (what max_cost_per_call_usd bounds), counted under its last attempt that reached a provider (see
    0016_costliest_call). Of equal costs the earliest, as a summary written again finds it."""

    def __init__(self) -> None:
        #: model (None: the window) -> (cost in pico-USD, run, time)
        self.peaks: dict[str | None, tuple[int, str, float]] = {}
        #: model (None: the window) -> the attempts of unbounded cost on it (:meth:`mark_unbounded`)
        self.unbounded: dict[str | None, int] = {}
        #: the calls (run, time, as :attr:`peaks` names them) holding such an attempt -> each one's model and whether
        #: the summary's filters select it
        self.unbounded_calls: dict[tuple[str, float], list[tuple[str, bool]]] = {}

    def mark_unbounded(
        self,
        conn: sqlite3.Connection,
        counts: dict[str | None, int],
        f: UsageFilters,
        dead: dict[tuple[str, float], list[tuple[str, str, float]]] | None = None,
    ) -> None:
        """Where the summary counts attempts of unbounded cost: ``counts``, model (None: the window) -> those on it
        (the summary's own figures), and which peak calls hold one (their ``at_most_usd`` is then null), each told
        apart by ``f``, the summary's filters. Only the peaks are read, a few rows each: placing every such attempt
        on its call read the attempts of every model holding one, and took a summary of 1,000,000 attempts from 150
        to 420 ms. ``dead``: a read-only ledger's dead calls' stand-ins of no bound, by call (see
        :class:`~.unrecorded.DeadCalls`), none of which is in the attempts read."""
        self.unbounded = counts
        since, until = parse_since(f.since), parse_since(f.until, field="until")
        for _, run_id, at in set(self.peaks.values()):
            if held := (dead or {}).get((run_id, at)) or _call_unbounded_attempts(conn, run_id, at):
                # the filters that select part of a call (its agent, skill, run and status are all its attempts')
                self.unbounded_calls[(run_id, at)] = [
                    (
                        model,
                        f.model in (None, model)
                        and f.provider in (None, provider)
                        and (since is None or started >= since)
                        and (until is None or started < until),
                    )
                    for model, provider, started in held
                ]

    def add(self, model: str, cost: int | None, run_id: str | None, at: float | None) -> None:
        if cost is None or cost < 0 or run_id is None or at is None:  # -1: no call ended in the group
            return
        for key in (model, None):
            have = self.peaks.get(key)
            if have is None or (cost, -at) > (have[0], -have[2]):
                self.peaks[key] = (int(cost), run_id, at)

    def of(self, model: str | None) -> dict[str, Any] | None:
        """``{run_id, time (of its last attempt, as its run lists it), at_most_usd, counted_usd, unbounded_attempts}``;
        None if no call. ``counted_usd``: its attempts' known costs and bounds, what the call limit counts;
        ``at_most_usd`` the same, or null where an attempt of the call has no bound; ``unbounded_attempts``: those
        on the model (the window's: all of them), while any of which the figure bounds no call of the model's, and
        the call's own that those leave out (a fallback hop on another model, a try before the window): never 0
        beside a null ``at_most_usd``."""
        peak = self.peaks.get(model)
        if peak is None:
            return None
        cost, run_id, at = peak
        when = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
        counted = format(from_pusd(cost), "f")
        held = self.unbounded_calls.get((run_id, at), [])
        left_out = sum(1 for on, chosen in held if not (chosen and model in (None, on)))
        return {
            "run_id": run_id,
            "time": when,
            "at_most_usd": None if held else counted,
            "counted_usd": counted,
            "unbounded_attempts": self.unbounded.get(model, 0) + left_out,
        }


def _call_unbounded_attempts(conn: sqlite3.Connection, run_id: str, at: float) -> list[tuple[str, str, float]]:
    """The attempts of unknown cost with no bound (model, provider, time) of the call whose last attempt that reached a
    provider began at ``at`` in ``run_id`` (a peak, as :class:`CostliestCalls` names it). A call's attempts are one
    record's rows, inserted together (writes.py's executemany): read back from its last, to the row of another run or
    another call's end."""
    row = conn.execute(
        "SELECT id FROM attempts WHERE started_at = ? AND run_id = ? AND call_cost_pusd IS NOT NULL"
        " ORDER BY id DESC LIMIT 1",
        (at, run_id),
    ).fetchone()
    held: list[tuple[str, str, float]] = []
    if row is None:
        return held
    below, first = row[0] + 1, True
    while True:
        rows = conn.execute(
            "SELECT id, run_id, call_cost_pusd, cost_pusd IS NULL AND cost_bound_pusd IS NULL"
            " AND outcome IN ('ok', 'error'), model, provider, started_at FROM attempts WHERE id < ?"
            " ORDER BY id DESC LIMIT 16",
            (below,),
        ).fetchall()
        for rowid, run, ends, unbounded, model, provider, started in rows:
            if run != run_id or (ends is not None and not first):
                return held
            if unbounded:
                held.append((model, provider, started))
            below, first = rowid, False
        if len(rows) < 16:
            return held
