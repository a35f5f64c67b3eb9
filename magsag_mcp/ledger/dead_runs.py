"""The runs of a read-only ledger as a writable read records them: the calls of dead processes (expired reservations,
see unrecorded.py) that it cannot record each add to a run's row, as :func:`~.abandoned.record_abandoned`'s upsert
adds to it (writes._UPSERT_RUN): an attempt of unknown cost per stand-in at its bound, a call, the status 'error'
where the run was 'ok' (or still running), and a run of their own where none was recorded. Read from the
reservations (a handful: the calls in flight) and the runs they name, by key: nothing is written.

``largest_run`` (what `flow gate`'s run limits check) reads the runs they touch from here, and the rest of the ledger
as it is (:func:`~.peaks.largest_run`); a status filter reads the runs they turn to 'error' as errors
(filters.UsageFilters._errored_runs); ``query_runs`` shows a listed run as it would be recorded; ``run_spend`` counts
them in a run's scope. A run of dead calls alone is in no list of runs (placed among the recorded ones by its time, a
page and its cursor would differ from the writable read's), which the read-only note says."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .filters import UsageFilters, parse_since
from .unrecorded import TURNED_TO_ERROR, StandIn, stand_in_calls, stand_in_selected

if TYPE_CHECKING:
    from .run_scope import RunSpend


@dataclass
class RunAsRecorded:
    """A run's row once its dead calls are recorded: ``existed`` whether a row was recorded before them, and the
    stand-ins added to it (each of its dead calls' attempts, in order)."""

    run_id: str
    agent: str | None
    skill: str | None
    parent: str | None
    started_at: float
    status: str
    calls: int
    cost: int
    bound: int
    unpriced: int
    existed: bool
    stand_ins: list[StandIn] = field(default_factory=list)
    #: recorded 'ok' (or 'running'), which its dead calls turn to 'error'
    errored: bool = False

    @property
    def top(self) -> str:
        """The top of its run tree (a delegated run's parent holds it)."""
        return self.parent if self.parent is not None and self.parent != self.run_id else self.run_id


_RUN_ROW = "SELECT agent, skill, parent_run_id, started_at, status, calls, cost_pusd, cost_bound_pusd, unpriced_calls"


def runs_as_recorded(conn: sqlite3.Connection, calls: list[list[StandIn]]) -> dict[str, RunAsRecorded]:
    """Each run a dead call of ``calls`` (:func:`~.unrecorded.stand_in_calls`) goes to, as its row would be once
    they are recorded: record_abandoned's run record per call (its first stand-in's run, agent, skill and time, its
    budget's run as its parent, status 'error', 1 call) upserted, a call at a time, as writes._UPSERT_RUN does."""
    runs: dict[str, RunAsRecorded] = {}
    for call in calls:
        first = call[0]
        run = runs.get(first.run_id)
        if run is None:
            row = conn.execute(f"{_RUN_ROW} FROM runs WHERE run_id = ?", (first.run_id,)).fetchone()
            if row is not None:
                agent, skill, parent, started, status, n, cost, bound, unpriced = row
                run = RunAsRecorded(first.run_id, agent, skill, parent, started, status, n, cost, bound, unpriced, True)
        if run is None:  # inserted as the call's run record has it
            parent = first.budget if first.budget and first.budget != first.run_id else None
            run = RunAsRecorded(
                first.run_id, first.agent, first.skill, _topped(conn, parent), first.at, "error", 1, 0, 0, 0, False
            )
        else:  # the upsert's ON CONFLICT: added to the row (recorded, or made by an earlier dead call)
            run.started_at = min(run.started_at, first.at)
            run.errored = run.errored or (run.existed and run.status in TURNED_TO_ERROR)
            run.status = "error" if run.status in TURNED_TO_ERROR else run.status
            run.calls += 1
            run.skill = run.skill if run.skill is not None and run.skill == first.skill else None
            run.agent = run.agent if run.agent is not None else first.agent
        runs[first.run_id] = run
        run.unpriced += len(call)
        run.bound += sum(s.bound or 0 for s in call)
        run.stand_ins += call
    return runs


def _topped(conn: sqlite3.Connection, parent: str | None) -> str | None:
    """The parent a new run is recorded under: the top of ``parent``'s tree (see run_scope.topped)."""
    if parent is None:
        return None
    row = conn.execute("SELECT parent_run_id FROM runs WHERE run_id = ?", (parent,)).fetchone()
    return row[0] if row is not None and row[0] is not None and row[0] != parent else parent


def run_selected(
    conn: sqlite3.Connection, f: UsageFilters, run: RunAsRecorded, since: float | None, until: float | None
) -> bool:
    """Whether ``f`` (``since`` and ``until`` its times, resolved) selects ``run`` as it would select its row once its
    dead calls are recorded (filters.sql_where over runs, and run_window.begun_before: a run begun before the window
    that made a call within it)."""
    if f.agent is not None and run.agent != f.agent:
        return False
    if f.run_id is not None and f.run_id not in (run.run_id, run.parent):
        return False
    if f.status is not None and run.status != f.status:
        return False
    if f.skill is not None and run.skill != f.skill:
        if run.skill is not None or not _called(conn, run, "skill", f.skill):
            return False
    for name in ("model", "provider"):
        value = getattr(f, name)
        if value is not None and not _called(conn, run, name, value):
            return False
    if until is not None and run.started_at >= until:
        return False
    if since is None or run.started_at >= since:
        return True
    # begun before the window: selected if it made a call within it (under an agent filter, a call of the agent)
    within = [s for s in run.stand_ins if s.at >= since and (until is None or s.at < until)]
    if any(f.agent in (None, s.agent) for s in within):
        return True
    if not run.existed:
        return False
    sql = "SELECT 1 FROM attempts WHERE run_id = ? AND started_at >= ?"
    sql += "" if until is None else " AND started_at < ?"
    args: list[Any] = [run.run_id, since, *(() if until is None else (until,))]
    if f.agent is not None:
        sql, args = sql + " AND agent = ?", [*args, f.agent]
    return conn.execute(sql + " LIMIT 1", args).fetchone() is not None


def _called(conn: sqlite3.Connection, run: RunAsRecorded, name: str, value: str) -> bool:
    """Whether ``run`` holds an attempt (a stand-in, or one recorded) whose ``name`` (skill, model, provider) is
    ``value``."""
    if any(getattr(s, name) == value for s in run.stand_ins):
        return True
    sql = f"SELECT 1 FROM attempts WHERE run_id = ? AND {name} = ? LIMIT 1"
    return run.existed and conn.execute(sql, (run.run_id, value)).fetchone() is not None


def touched_trees(
    conn: sqlite3.Connection,
    f: UsageFilters,
    runs: dict[str, RunAsRecorded],
    cond: str,
    args: list[Any],
    before: str | None,
    times: tuple[float | None, float | None],
) -> list[tuple[str, int, int, int]]:
    """(top run, known cost, bound on the unknown, delegated runs) of each run tree that ``runs`` (a read-only
    ledger's runs with dead calls, as recorded) touch, counted as :func:`~.peaks.largest_run` counts a tree: the
    runs of it the filters select, each whole (``cond`` with ``args``, SQL over runs ``r``, and ``before``, the runs
    begun before the window that called within it, select the runs the dead calls leave as they are)."""
    from .run_window import among

    out = []
    for top in dict.fromkeys(run.top for run in runs.values()):
        sql = (
            "SELECT r.run_id, r.cost_pusd, r.cost_bound_pusd, r.parent_run_id FROM runs r WHERE (r.run_id = ? OR"
            f" (r.parent_run_id = ? AND r.run_id != ?)) AND (({cond})"
            + ("" if before is None else f" OR {among('r')}")
            + ")"
        )
        chosen = {
            run_id: (cost, bound, parent)
            for run_id, cost, bound, parent in conn.execute(
                sql, [top, top, top, *args, *(() if before is None else (before,))]
            )
            if run_id not in runs
        }
        for run in runs.values():
            if run.top == top and run_selected(conn, f, run, *times):
                chosen[run.run_id] = (run.cost, run.bound, run.parent)
        if not chosen:
            continue
        delegated = sum(1 for run_id in chosen if run_id != top)
        own = chosen.get(top)
        if not delegated and (own is None or own[2] not in (None, top)):
            continue  # (a delegated run alone is counted in its top's tree, as largest_run's SQL counts it)
        out.append((top, sum(c for c, _, _ in chosen.values()), sum(b for _, b, _ in chosen.values()), delegated))
    return out


def tree_dead_unbounded(
    conn: sqlite3.Connection, f: UsageFilters, runs: dict[str, RunAsRecorded], top: str, times: tuple[Any, Any]
) -> tuple[int, int]:
    """(the stand-ins of no bound in the tree of ``top``, how many of them ``f`` leaves out), as
    :func:`~.peaks._tree_unbounded` counts the attempts recorded."""
    held = [s for run in runs.values() if run.top == top for s in run.stand_ins if s.bound is None]
    return len(held), sum(1 for s in held if not stand_in_selected(conn, f, s, *times))


def errored_runs(runs: dict[str, RunAsRecorded]) -> tuple[str, ...]:
    """The recorded runs of ``runs`` that their dead calls turn to 'error' (see filters.UsageFilters._errored_runs)."""
    return tuple(run_id for run_id, run in runs.items() if run.errored)


def shown_as_recorded(
    listed: dict[str, Any], run: RunAsRecorded, now: float, attempts_per_run: int | None, attempt: Any
) -> None:
    """``listed``, a run of a page of ``query_runs`` (run_pages.py), made what a writable read would list once its
    dead calls are recorded: its status, calls, unknown costs and bounds, its end (the read's time, as the record's),
    and their stand-ins among its attempts, in time order (``attempts_per_run``: its latest that many, the others
    counted in ``attempts_omitted``). ``attempt``: run_pages' row -> attempt dict, given a row of its columns."""
    from .abandoned import ABANDONED
    from .money import from_pusd
    from .times import iso_time

    held = [s for s in run.stand_ins if s.bound is None]
    unpriced = listed["unpriced_attempts"] + len(run.stand_ins)
    bound = run.bound
    listed.update(
        {
            "skill": run.skill,
            "agent": run.agent,
            "started_at": iso_time(run.started_at),
            "ended_at": iso_time(max(now, run.started_at)),
            "status": run.status,
            "calls": run.calls,
            "cost_usd": None,
            "cost_complete": False,
            "unpriced_attempts": unpriced,
            "unpriced_calls": unpriced,
            "cost_bound_usd": format(from_pusd(bound), "f"),
            "unbounded_attempts": listed["unbounded_attempts"] + len(held),
            "unbounded_calls": listed["unbounded_attempts"] + len(held),
        }
    )
    if not listed["attempts"] and listed.get("attempts_omitted"):  # an export's run listing none (too many)
        listed["attempts_omitted"] = listed.get("attempts_omitted", 0) + len(run.stand_ins)
        return
    warnings = json.dumps([ABANDONED])
    added = [
        attempt(
            (s.run_id, s.at, s.provider, s.model, s.skill, s.agent, "error", "abandoned", ABANDONED, 0, 0, 0, 0, 0, 0)
            # (no answer: no served_model nor parts of a bill; a reservation keeps no data classes nor endpoint)
            + (None, None, 0.0, 0, 0, warnings, s.bound, None, 0, 0, 0, None, None, None, None, None, None, 0, 0)
            # (a reservation keeps no paused_id: 0037's two links read empty, as the abandoned row's are written)
            + (None, None)
        )
        for s in run.stand_ins
    ]
    # in time order, a stand-in after the attempts of its time (recorded after them); the times as listed are ISO
    # strings of one form, which sort as the times do
    merged = sorted([*listed["attempts"], *added], key=lambda a: a["time"])
    omitted = listed.get("attempts_omitted")
    if attempts_per_run is not None and len(merged) > attempts_per_run:
        omitted = (omitted or 0) + len(merged) - attempts_per_run
        merged = merged[len(merged) - attempts_per_run :]
    listed["attempts"] = merged
    if omitted is not None:
        listed["attempts_omitted"] = omitted


def called_within_window(runs: dict[str, RunAsRecorded], f: UsageFilters) -> tuple[str, ...]:
    """The recorded runs of ``runs`` that a dead call, recorded, would give a call within ``f``'s window (of its agent,
    under an agent filter): a run begun before the window is selected by such a call (see run_window.begun_before)."""
    since, until = parse_since(f.since), parse_since(f.until, field="until")
    if since is None:
        return ()
    return tuple(
        run_id
        for run_id, run in runs.items()
        if run.existed
        and any(s.at >= since and (until is None or s.at < until) and f.agent in (None, s.agent) for s in run.stand_ins)
    )


def selected_by_name(runs: dict[str, RunAsRecorded], f: UsageFilters) -> dict[str, tuple[str, ...]]:
    """Filter name -> the recorded runs of ``runs`` that ``f``'s filter by that name (agent, skill, model, provider)
    selects once their dead calls are recorded, on runs (filters.sql_where): the agent the upsert leaves the run
    (its own, else its first dead call's), a skill, model or provider of a stand-in, and ``until`` by its start
    (a dead call's may be earlier). Read from the recorded row alone, a run recorded of gpt-4o whose dead call was
    of claude-x was in no list of claude-x's runs."""
    out: dict[str, tuple[str, ...]] = {}
    for name in ("agent", "skill", "model", "provider"):
        value = getattr(f, name)
        if value is None:
            continue
        ids = tuple(
            run_id
            for run_id, run in runs.items()
            if run.existed
            and (run.agent == value if name == "agent" else any(getattr(s, name) == value for s in run.stand_ins))
        )
        if ids:
            out[name] = ids
    # a dead call begun before its run's first recorded call (a process that died mid-call, its run continued by
    # another) moves the run's start back, as the upsert's MIN does: begun before ``until`` once recorded
    until = parse_since(f.until, field="until")
    if until is not None and (begun := tuple(r for r, run in runs.items() if run.existed and run.started_at < until)):
        out["until"] = begun
    return out


def dead_in_scope(conn: sqlite3.Connection, spend: RunSpend, run_id: str, now: float) -> RunSpend:
    """``spend``, a run's scope as recorded (run_scope.run_spend_in), with the dead calls of a read-only ledger in it
    (the run's, and those of runs delegated from it) counted as a writable read records them: each stand-in an
    attempt of unknown cost at its bound, or of none."""
    from .money import from_pusd, to_pusd
    from .run_scope import RunSpend

    runs = runs_as_recorded(conn, stand_in_calls(conn, now))
    held = [s for run in runs.values() if run_id in (run.run_id, run.parent) for s in run.stand_ins]
    if not held:
        return spend
    return RunSpend(
        spend.known_usd,
        from_pusd((to_pusd(spend.unknown_cost_bound_usd) or 0) + sum(s.bound or 0 for s in held)),
        spend.unknown_attempts + len(held),
        spend.unbounded_attempts + sum(1 for s in held if s.bound is None),
    )
