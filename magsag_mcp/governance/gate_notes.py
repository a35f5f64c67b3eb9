"""What ``magsag flow gate`` says beside its verdict: how a limit was checked where that is not the obvious way.

:mod:`.gate` reads a summary and decides its violations; these are its notes' words: a summary with no call that
spent (and why it may hold none), a limit checked against another figure than its own (a summary written by an older
magsag, one narrowed by filters, one whose window cuts a day), and attempts of no known cost that ``allow_unpriced``
let through.
"""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..catalog_edits import UNKNOWN_PRICES_FILE
from ..plurals import counted, has

#: what the gate says when a summary lacks the peaks a limit is checked against
OLD_SUMMARY = (
    "this summary has no {field} (written by an older magsag): {limit} was checked against {instead}, "
    "which may span many {what}; write the summary again with `magsag flow summarize` to check it exactly"
)


def no_calls_note(summary: dict[str, Any]) -> str:
    """What the gate says of a summary that holds no calls, with the filters that selected none, if any."""
    period = summary.get("period")
    filters = period.get("filters") if isinstance(period, dict) else None
    given = {k: v for k, v in filters.items() if v is not None} if isinstance(filters, dict) else {}
    unsent = _unsent(summary)
    if unsent:
        # calls were made: every target of each refused or skipped before a request (no key set, a policy), which
        # "an empty ledger" sent a reader looking for the wrong ledger
        return (
            f"this summary holds no call that spent: {unsent} (each target refused or skipped before one was "
            "sent), so the gate checked nothing; `magsag flow summarize` says on stderr why (the commonest "
            "reason, such as a provider's key not set), and `magsag data query` shows each call's attempts"
        )
    run = summary.get("largest_run")
    run_id = run.get("run_id") if isinstance(run, dict) else None
    if isinstance(run_id, str) and not given:
        # a run with no call that reached a provider (a call refused before any target: an invalid payload)
        return (
            "this summary holds no call that spent: its runs' calls sent no request, so the gate checked nothing; "
            f"`magsag data query --run-id {shlex.quote(run_id)}` shows why (one of them)"
        )
    why = (
        f"its filters ({', '.join(f'{k}={v!r}' for k, v in given.items())}) select no call of the ledger it was "
        "written from"
        if given
        else "it was written from an empty ledger"
    )
    return (
        f"this summary holds no calls: {why}, so the gate checked nothing; if calls were made, check that "
        "`magsag flow summarize` read the ledger they are recorded in (the --db or MAGSAG_DB that magsag-mcp or "
        "`magsag invoke` is given, as an absolute path)"
    )


def _unsent(summary: dict[str, Any]) -> str:
    """What a summary's totals say of the calls that sent no request ("" if none): their count (``unsent_calls``),
    or in a summary written before it was kept, the attempts refused or skipped before a request (by outcome)."""
    totals = summary.get("totals")
    if not isinstance(totals, dict):
        return ""
    calls = totals.get("unsent_calls")
    if isinstance(calls, int) and not isinstance(calls, bool) and calls > 0:
        return f"{counted(calls, 'call')} {'was' if calls == 1 else 'were'} recorded and none sent a request"
    refused = sum(
        n
        for key in ("skipped_attempts", "policy_denied_attempts", "budget_exceeded_attempts")
        if isinstance(n := totals.get(key), int) and not isinstance(n, bool) and n > 0
    )
    every = "was" if refused == 1 else "were all"
    return f"its {counted(refused, 'attempt')} {every} refused or skipped before a request" if refused else ""


def listed(held: list[tuple[str, str | None]]) -> str:
    shown = [what for what, _ in held[:4]]
    return "; ".join(shown) + (f"; and {len(held) - 4} more" if len(held) > 4 else "")


def unbounded_note(policy: str, unbounded: int, stats: dict[str, Any], held: list[tuple[str, str | None]]) -> str:
    """What the gate says of the attempts of no known cost and no bound that a policy's ``allow_unpriced`` lets
    through: its cost limits were checked without them; which figures checked hold one (``held``: see
    :func:`.gate._held_unbounded`), where to find it, and how to count it."""
    models = [m for m, s in stats.items() if s.unbounded]
    shown = ", ".join(models[:5]) + (f" and {len(models) - 5} more" if len(models) > 5 else "")
    # a summary from before bounds were kept counts a call cut in flight (a priced model's) among them: a price
    # would not count it, a summary written again counts it at its bound
    old = any(stats[m].unbounded_calls is None for m in models)
    if unbounded:
        head = f"{counted(unbounded, 'attempt')} ({shown}) {has(unbounded)} no known cost and no bound on it"
    else:  # the summary's filters left them out of its counts: it names no model of theirs
        head = (
            "attempts of no known cost and no bound on it, left out of this summary's counts by its filters, are held "
            "by figures it checks"
        )
    fix = f"price {'those' if unbounded else 'their'} models in {UNKNOWN_PRICES_FILE} to count them"
    runs = list(dict.fromkeys(run for _, run in held if run is not None))
    where = (
        ""
        if not runs
        else f"; `magsag data query --run-id {runs[0]} --format json` lists the attempts of run {runs[0]}"
        + (f" (and of {', '.join(runs[1:3])})" if len(runs) > 1 else "")
        + ", with their models"
    )
    return (
        f"{policy}: {head}, which allow_unpriced admits: its cost limits were checked without them, so they may have "
        f"been exceeded unseen; {fix}"
        + (
            "; this summary has no unbounded_calls (written by an older magsag), so a call cut in flight is among "
            "them too: write the summary again with `magsag flow summarize` to count those at their bound"
            if old
            else ""
        )
        + (
            ". Checked without one they hold (their at_most_usd is null, their unbounded_attempts counts it): "
            f"{listed(held)}{where}; once priced, `magsag flow summarize` writes their at_most_usd"
            if held
            else ""
        )
    )


def note_window_cut(notes: list[str], policy: str, t: Any, cut: dict[str, Any], zone: str) -> None:
    """A day limit checked on a summary whose window starts or ends inside one of its days saw part of that day (the
    nightly ``--since 24h``: each night's gate sees part of yesterday, and a day that spent past the limit in
    two parts passed both)."""
    limits = [
        name
        for name, value in (
            ("max_cost_per_day_usd", t.max_cost_per_day_usd),
            ("max_cost_per_agent_daily_usd", t.max_cost_per_agent_daily_usd),
        )
        if value is not None
    ]
    where = " and ".join(w for k, w in (("since", "starts"), ("until", "ends")) if k in cut)
    by = ", ".join(f"{k}={v!r}" for k, v in cut.items())
    was = "was" if len(limits) == 1 else "were"
    # a date alone is a midnight of the summary's --timezone (a UTC one without), or of the offset a time gives
    dates = "as dates (e.g. --since 2025-11-01 --until 2025-11-02)"
    example = (
        dates
        if zone == "UTC"
        else f"{dates} with `magsag flow summarize --timezone {zone}`, or as midnights in {zone} with its UTC "
        f"offset (e.g. --since {datetime(2025, 11, 1, tzinfo=ZoneInfo(zone)).isoformat()})"
    )
    add_note(
        notes,
        f"{policy}: this summary's window ({by}) {where} inside a {'UTC' if zone == 'UTC' else zone} day, and holds "
        f"only the part of that day within it: {' and '.join(limits)} {was} checked against that part, not the whole "
        f"day; to check whole days, give --since and --until {example}",
    )


def note_narrowed(notes: list[str], policy: str, t: Any, narrowed: dict[str, Any]) -> None:
    """A limit counts calls the summary's filters may have left out: a run limit the run's delegated runs
    (a SAG's runs carry its own agent and skill) unless the filter is the run's; the day limit every call
    of the day; an agent's day limit the agent's other calls unless the filter is the agent alone."""
    partial = [
        name
        for name, value, whole_under in (
            ("max_cost_per_run_usd", t.max_cost_per_run_usd, {"run_id"}),
            ("max_cost_per_day_usd", t.max_cost_per_day_usd, set()),
            ("max_cost_per_agent_daily_usd", t.max_cost_per_agent_daily_usd, {"agent"}),
            ("max_cost_per_month_usd", t.max_cost_per_month_usd, set()),
            ("max_cost_per_agent_monthly_usd", t.max_cost_per_agent_monthly_usd, {"agent"}),
        )
        if value is not None and not set(narrowed) <= whole_under
    ]
    if partial:
        by = ", ".join(f"{k}={v!r}" for k, v in narrowed.items())
        was, counts, them = ("was", "it counts", "it") if len(partial) == 1 else ("were", "they count", "them")
        add_note(
            notes,
            f"{policy}: this summary holds only the calls its filters select ({by}): {' and '.join(partial)} "
            f"{was} checked against those alone, not every call {counts} (a run's delegated runs, a day's other "
            f"calls); write the summary without those filters to check {them} whole",
        )


def named_for_a_model(deployment: str) -> bool:
    """Whether an Azure deployment's name reads as a model (``gpt-4o-mini``), which its operator may have pointed at
    another; one named for none (``prod-chat``) passes a policy only by a pattern naming the deployment itself."""
    from ..genai_rates import genai_model

    return genai_model("azure", deployment) is not None


def deployment_names_note(policy: str, deployments: list[str], *, maybe: bool = False, unrecorded: bool = False) -> str:
    """What the gate says of Azure deployments a policy's ``allowed_models`` passed by their names: a summary keeps the
    deployment's name, the operator's choice, never the model its answers said served them, so "gate: pass" did not
    check that model (an audit read it as checked). ``maybe``: the summary names no model's providers, only that
    Azure served some of its calls (``by_provider``), so which of these were Azure's it cannot say. ``unrecorded``: the
    summary shows the model that served each answer recorded with it (``served_as``), which the gate checked, and these
    deployments have answers recorded without it (by a magsag before the ledger's 0026, or pruned)."""
    names = ", ".join(repr(d) for d in deployments)
    which = f"{'Azure deployment' if len(deployments) == 1 else 'Azure deployments'} {names}"
    if maybe:
        which = (
            f"this summary names no model's providers (written by an older magsag) and Azure served some of its "
            f"calls: any of {names} that an Azure deployment of that name served"
        )
    return (
        f"{policy}: {which} passed "
        "allowed_models by name, and a deployment's name is its operator's choice: "
        + (
            "some of their answers were recorded without the model that served them (served_unknown: by a magsag "
            "that did not record it), and the gate checked those by name alone"
            if unrecorded
            else "a summary does not show the model that served its calls, so the gate did not check it"
        )
        + "; an answer that named another model says so in its "
        "attempt's warnings ('azure:NAME answered as MODEL'): `magsag data search 'azure:.* answered as'` finds them "
        "(`magsag data query --provider azure --format csv` lists them in its warnings column), and `magsag azure "
        "served` the model each deployment was last seen serving (a deployment seen serving a model the policies "
        "forbid is refused before its calls are sent)"
    )


def add_note(notes: list[str], note: str) -> None:
    """``note`` added to ``notes`` once: each policy's checks may say the same of the summary."""
    if note not in notes:
        notes.append(note)
