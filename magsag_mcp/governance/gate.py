"""``magsag flow gate``: check a ``flow summarize`` output against a policy's thresholds and models.

What each threshold means for a summary: ``max_cost_per_run_usd`` bounds the summary's costliest run
(``largest_run``: a run with the runs it delegated, as a run's budget limit counts it);
``max_cost_per_day_usd`` bounds its costliest day (``largest_day``), the month limits (``max_cost_per_month_usd``,
``max_cost_per_agent_monthly_usd``) a summary of one month's calls whole (:mod:`.gate_months`), and
``max_cost_per_agent_daily_usd`` each agent's costliest day (``by_agent[A].largest_day``; not the calls
made without an agent, ``by_agent["(none)"]``, which the budget too holds to the day limit alone), days
being the summary's (``period.timezone``: UTC unless written with ``--timezone``; a note says when they
are not the policy's ``timezone``'s); ``max_cost_per_call_usd`` bounds each model's costliest call
(``model_stats[M].largest_call``: a call's attempts together, as the call limit counts them, under the
model of its last attempt that reached a provider), named by its run and time. A summary written before
those peaks were kept is checked against its totals (the whole summary, each agent's whole cost; for the
call limit, each model's average cost an attempt) and the gate says so in a note: a summary of many runs
or days may then fail limits no single run or day broke, and one costly call among cheap ones may pass
the call limit unseen. A summary narrowed by filters (``--agent``, ``--skill``, ...) holds only the
calls they select, so its run and days may lack some that a limit counts (a SAG's delegated run under
its own agent; a run filter naming a delegated run, whose run limit is its parent's); a note says which
limits. An attempt of unknown cost cut after it reached the vendor (which may bill it) counts at its
estimated worst case (``unknown_cost_bound_usd``), as budget
limits count it. One with no bound (an unknown price; or any unknown cost, in a summary written before
bounds were kept) is a violation under a cost threshold unless the policy sets ``allow_unpriced``, when a note says
its limits were checked without it, and which figures checked hold one (a peak whose ``at_most_usd`` is null, a call
checked by its ``counted_usd``): the summary's cost is then only a lower bound. A peak counted whole may hold one that
the summary's filters left out of its counts (a call's fallback hop on another model): the same holds. Every model with
attempts must be allowed (one a call left for another has attempts and no call).

The summary's shape is validated first: a field of the wrong type is an :class:`InputError` naming
the field (exit 2), never a crash nor a policy violation. What the gate says beside its verdict, the notes, is
:mod:`.gate_notes`'; the check of a policy's ``requirements`` (where each data class's calls went) is
:mod:`.gate_requirements`'.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..catalog_edits import UNKNOWN_POLICIES
from ..errors import ConfigError, InputError, redact
from ..plurals import counted, has
from ..types import Target
from .gate_months import MONTH_THRESHOLDS, check_months, checked_by_days
from .gate_notes import (
    OLD_SUMMARY,
    add_note,
    deployment_names_note,
    listed,
    named_for_a_model,
    no_calls_note,
    note_narrowed,
    note_window_cut,
    unbounded_note,
)
from .gate_requirements import check_requirements
from .gate_summary import HOW as HOW  # (the CLI imports it from here)
from .gate_summary import NO_AGENT, _Stats, _Summary, parse_summary
from .model_patterns import admits_off_machine, matches, model_matches, runs_in_ollamas_cloud, served_unallowed
from .policy import PolicySet

#: why a summary names model 'unknown' via 'unknown': a call whose process died in flight is recorded, once its
#: reservation expires, as the attempt the reservation stood for, and reservations made before schema 0009 did not
#: say their target (the gate cannot tell that the model was an allowed one, so it fails, and says why)
_UNNAMED = (
    ": a call abandoned in flight (its process died), recorded from a budget reservation an earlier version of "
    "magsag made, which did not name its model; `magsag data query --model unknown --provider unknown` lists it"
)


#: answers recorded without their endpoint (an Azure resource, or a gateway's path to one: before 0029, or in a summary
#: written before it): the summary counts each endpoint's deployment of one name together, and what it says is of the
#: name; the ledger's rows of what each was last seen serving are by endpoint
_AT_ANY_ENDPOINT = (
    "(at any endpoint: these attempts were recorded without the endpoint they went to (by a magsag before the "
    "ledger's 0029, or a summary written before it), so deployments of that name at several are counted together; "
    "`magsag azure served` lists each endpoint's, with the model it was last seen serving)"
)


def _off_machine_why(model: str, hosts: dict[str, int]) -> str:
    """Why a glob of local models did not pass ``model``: some of its attempts went off this machine, to ``hosts``
    (host -> attempts)."""
    went = ", ".join(f"{counted(n, 'attempt')} to {host}" for host, n in sorted(hosts.items()))
    return (
        f": {went}, off this machine (the local server runs it there, as its /api/show said, or the local base URL is "
        f"there), which a glob of local models does not admit; add local:{model} itself to allow it"
    )


def check_summary(summary: Any, policies: PolicySet) -> list[str]:
    """The violations (see :func:`check_summary_with_notes`)."""
    return check_summary_with_notes(summary, policies)[0]


def check_summary_with_notes(summary: Any, policies: PolicySet) -> tuple[list[str], list[str]]:
    """(violations, notes): a note says how a limit was checked where that is not the obvious way."""
    parsed = parse_summary(summary)
    stats = parsed.model_stats
    violations: list[str] = []
    notes: list[str] = []
    total = _Stats.model_construct(  # sums of validated entries: no per-entry range applies
        cost_usd_exact=sum((s.known for s in stats.values()), Decimal(0)),
        unknown_cost_bound_usd=sum((s.bound for s in stats.values()), Decimal(0)),
    )
    unpriced = sum(s.unpriced_calls for s in stats.values())
    unbounded = sum(s.unbounded for s in stats.values())
    has_peaks = parsed.model_fields_set
    narrowed = _narrowing(summary)
    served = _served_by(narrowed)
    zone = _zone(summary)
    cut = _window_cuts(summary, zone)
    if not any(_checks(p) for p in policies.policies):
        # "gate: pass" alone read as the spend checked: a CI job given the wrong policy file passed anything
        add_note(
            notes,
            "the policy file sets no allowed_models, no thresholds and no requirements, so the gate checked nothing; "
            f"give --policy the file with the limits, as in {UNKNOWN_POLICIES}",
        )
    else:
        for p in policies.policies:
            if p.requirements:
                check_requirements(violations, notes, p, summary, parsed)
    if not any(s.used for s in stats.values()):
        # "gate: pass" alone read as the spend checked: a CI job whose summarize read another ledger than the
        # server's (a mistyped or relative MAGSAG_DB) passed, summarize's own note left in another step's log
        add_note(notes, no_calls_note(summary))
    by_name: dict[str, list[str]] = {}  # policy -> the Azure deployments it passed by their names
    recorded = any(s.served_as is not None for s in stats.values())  # (a summary that shows what served answers)
    # a summary that names no provider of any model (an older magsag's, or one written by hand) whose by_provider
    # says Azure served some of its calls: any model of a deployment's name may be one, passed by that name
    some_azure = served is None and not any(s.providers for s in stats.values()) and _azure_served_some(summary)
    for model, s in stats.items():
        # as the ledger records them ("Azure", written by hand, is azure), as a provider filter is read
        providers = [_canonical(prov) for prov in s.providers]
        for p in policies.policies:
            if p.allowed_models is None or not s.used:  # (a model a call left for another was called too)
                continue
            via = providers or ([served] if served is not None else [])
            cloud = off = False
            left = None
            if providers:  # summaries written by magsag say which providers served the model
                ok = all(matches(p.allowed_models, Target(prov, model)) for prov in providers)
                # an Ollama cloud model a glob of local models (production_models' local:*) matches runs on
                # ollama.com: admitted by its name alone, as each call is (see PolicySet.allowed)
                cloud = ok and any(
                    runs_in_ollamas_cloud(Target(prov, model))
                    and not admits_off_machine(p.allowed_models, Target(prov, model))
                    for prov in providers
                )
                ok = ok and not cloud
                # a local model the server runs off this machine (made from a cloud one, or a base URL on
                # ollama.com): its attempts said where they went, and a glob of local models does not pass them
                left = s.off_machine if "local" in providers and not cloud else None
                off = bool(ok and left) and not admits_off_machine(p.allowed_models, Target("local", model))
                ok = ok and not off
            elif served is not None:  # a summary of one provider's calls (its filters say which)
                ok = matches(p.allowed_models, Target(served, model))
            else:
                ok = model_matches(p.allowed_models, model)
            if ok and s.served_as is not None and "azure" in via:
                # judged by the models its answers said served them, as each call was (see PolicySet.allowed): at
                # each endpoint apart, where the attempts recorded it (two resources' deployments of one name may
                # serve two models), and those recorded without it together
                for endpoint, served_as in _served_by_endpoint(s.served_as, s.served_as_by_endpoint):
                    for name in served_unallowed(p.allowed_models, model, served_as):
                        ok = False
                        at = f" at {endpoint}" if endpoint is not None else ""
                        violations.append(
                            f"{p.name}: Azure deployment {model!r}{at} answered as {name} "
                            f"({counted(served_as[name], 'attempt')}), which is not in allowed_models: a "
                            "deployment's name is its operator's choice, and this is the model that served it "
                            + (_AT_ANY_ENDPOINT if endpoint is None else _AT_ENDPOINT.format(model=model))
                        )
                if ok and s.served_unknown and named_for_a_model(model):  # (answers recorded without it: by name)
                    by_name.setdefault(p.name, []).append(model)
                continue
            if ok and ("azure" in via or some_azure) and named_for_a_model(model):
                by_name.setdefault(p.name, []).append(model)
            if not ok:
                where = f" (via {', '.join(via)})" if via else ""
                count = counted(s.calls, "call") + (
                    f", {counted(s.attempts, 'attempt')}" if s.attempts is not None else ""
                )
                why = _UNNAMED if model == "unknown" and via == ["unknown"] else ""
                if cloud:
                    why = (
                        ": an Ollama cloud model, run on ollama.com, which a glob of local models does not admit; "
                        f"add local:{model} itself to allow it"
                    )
                if off and left:
                    why = _off_machine_why(model, left)
                violations.append(f"{p.name}: model {model!r}{where} is not in allowed_models ({count}){why}")
    for policy, deployments in by_name.items():
        add_note(notes, deployment_names_note(policy, deployments, maybe=some_azure, unrecorded=recorded))
    for p in policies.policies:
        t = p.thresholds
        if t is None:
            continue
        # the figures checked that leave such an attempt out: under a filter (a model, a window) the summary's counts
        # may hold none of them (a call's fallback hop on another model) while a peak counted whole does
        held = _held_unbounded(parsed, t, by_days=checked_by_days(summary, total, zone))
        if unbounded and not p.allow_unpriced:
            what = "no known cost" if unbounded == unpriced else "no known cost nor a bound on it"
            violations.append(  # (attempts: a call retried after an answer of unknown price has two)
                f"{p.name}: {counted(unbounded, 'attempt')} {has(unbounded)} {what}, so the cost limits cannot be "
                "checked"
            )
        elif held and not p.allow_unpriced:
            violations.append(
                f"{p.name}: figures it checks hold an attempt of no known cost nor a bound on it (their at_most_usd is "
                f"null), which this summary's filters left out of its counts, so the cost limits cannot be checked: "
                f"{listed(held)}"
            )
        elif (unbounded or held) and any(v is not None for v in dict(t).values()):
            # admitted by allow_unpriced, and checked at $0: "gate: pass" alone read as their spend checked
            add_note(notes, unbounded_note(p.name, unbounded, stats, held))
        if t.max_cost_per_run_usd is not None:
            limit = f"max_cost_per_run_usd ${t.max_cost_per_run_usd:f}"
            if "largest_run" not in has_peaks:
                _check_total(violations, notes, p.name, t.max_cost_per_run_usd, limit, total, "largest_run", "runs")
            elif (run := parsed.largest_run) is not None and run.cost > t.max_cost_per_run_usd:
                delegated = f" (with {counted(run.delegated_runs, 'delegated run')})" if run.delegated_runs else ""
                violations.append(f"{p.name}: run {run.run_id}{delegated} cost {run.shown()} exceeds {limit}")
        if t.max_cost_per_day_usd is not None:
            limit = f"max_cost_per_day_usd ${t.max_cost_per_day_usd:f}"
            if "largest_day" not in has_peaks:
                _check_total(violations, notes, p.name, t.max_cost_per_day_usd, limit, total, "largest_day", "days")
            elif (day := parsed.largest_day) is not None and day.cost > t.max_cost_per_day_usd:
                violations.append(f"{p.name}: {day.date} ({zone}) cost {day.shown()} exceeds {limit}")
        if t.max_cost_per_agent_daily_usd is not None:
            limit = f"max_cost_per_agent_daily_usd ${t.max_cost_per_agent_daily_usd:f}"
            for agent, a in (parsed.by_agent or {}).items():
                if agent == NO_AGENT:  # calls without an agent: the budget holds them to the day limit alone
                    continue
                if "largest_day" not in a.model_fields_set:
                    what = "largest_day in by_agent"
                    add_note(notes, OLD_SUMMARY.format(field=what, limit=limit, instead="its whole cost", what="days"))
                    if a.cost > t.max_cost_per_agent_daily_usd:
                        violations.append(f"{p.name}: agent {agent!r} cost {a.shown()} exceeds {limit}")
                elif (day := a.largest_day) is not None and day.cost > t.max_cost_per_agent_daily_usd:
                    on = f"on {day.date} ({zone})"
                    violations.append(f"{p.name}: agent {agent!r} {on} cost {day.shown()} exceeds {limit}")
        check_months(violations, notes, p, parsed, summary, total, zone)
        if narrowed:
            note_narrowed(notes, p.name, t, narrowed)
        if t.max_cost_per_run_usd is not None and (top := _delegated_from(parsed, narrowed)) is not None:
            run = narrowed["run_id"]
            add_note(
                notes,
                f"{p.name}: this summary's run filter names run {run!r}, delegated from run {top!r}, whose run limit "
                f"counts every run of its tree: max_cost_per_run_usd was checked against {run!r} alone; write the "
                f"summary with --run-id {top} to check it whole",
            )
        daily = t.max_cost_per_day_usd is not None or t.max_cost_per_agent_daily_usd is not None
        monthly = any(getattr(t, name) is not None for name in MONTH_THRESHOLDS)
        if daily and cut:
            note_window_cut(notes, p.name, t, cut, zone)
        if (daily or monthly) and _utc(p.timezone or "UTC") != _utc(zone):
            # its days are not the policy's: a day over the limit may be split between two of them, each under it
            what = "day and month" if daily and monthly else "day" if daily else "month"
            add_note(
                notes,
                f"{p.name}: the summary's days are {zone} days; the policy's budget counts days in "
                f"{p.timezone or 'UTC'}, so its {what} limits were checked on other days than its own; write the "
                f"summary with `magsag flow summarize --timezone {p.timezone or 'UTC'}` to check them on its days",
            )
        if t.max_cost_per_call_usd is not None:
            _check_calls(violations, notes, p.name, t.max_cost_per_call_usd, stats)
    # redacted as every other message: the summary is a file from anywhere (a CI job's artifact, another tool's), and
    # the model names, agents and run ids they quote were printed as written, a key pasted into one with them
    return [redact(v) for v in violations], [redact(n) for n in notes]


def _check_total(
    violations: list[str],
    notes: list[str],
    policy: str,
    most: Decimal,
    limit: str,
    total: _Stats,
    field: str,
    what: str,
) -> None:
    """A run or day limit in a summary written before its peak (``field``) was kept: checked against the summary's
    total, with the note that says so (a summary of many runs or days may fail a limit no single one broke)."""
    add_note(notes, OLD_SUMMARY.format(field=field, limit=limit, instead="the total", what=what))
    if total.cost > most:
        violations.append(f"{policy}: total cost {total.shown()} exceeds {limit}")


#: what a served-model FAIL of one endpoint's deployment adds: where its attempts are listed
_AT_ENDPOINT = (
    "(`magsag data query --provider azure --model {model} --format csv` lists its attempts, each with its endpoint and "
    "served_model)"
)


def _served_by_endpoint(
    served_as: dict[str, int], by_endpoint: dict[str, dict[str, int]] | None
) -> list[tuple[str | None, dict[str, int]]]:
    """A deployment's answers by the model each said served it, as (endpoint, {model: attempts}): each endpoint's
    apart, and (None, ...) for those recorded without one (all of them, from a summary written before 0029)."""
    if by_endpoint is None:
        return [(None, served_as)]
    out: list[tuple[str | None, dict[str, int]]] = [(e, models) for e, models in sorted(by_endpoint.items())]
    rest = {m: left for m, n in served_as.items() if (left := n - sum(e.get(m, 0) for e in by_endpoint.values())) > 0}
    if rest:
        out.append((None, rest))
    return out


def _check_calls(violations: list[str], notes: list[str], policy: str, most: Decimal, stats: dict[str, Any]) -> None:
    """``max_cost_per_call_usd`` against each model's costliest call; against its average cost an attempt (with a
    note) in a summary written before it was kept: one costly call among cheap ones passed under the average."""
    limit = f"max_cost_per_call_usd ${most:f}"
    for model, s in stats.items():
        if not s.used:
            continue
        if "largest_call" in s.model_fields_set:
            # null: none of the model's attempts ended a call (each fell back to another model, where it counts)
            if (call := s.largest_call) is not None and call.counted > most:
                run = f" in run {call.run_id}" if call.run_id is not None else ""
                when = f" at {call.time}" if call.time is not None else ""
                find = (
                    f"; `magsag data query --run-id {call.run_id} --format json` lists its attempts"
                    if call.run_id is not None
                    else ""
                )
                # a call with an attempt of no known price: its figure leaves that out, and is above the limit anyway
                unbounded = "" if call.at_most_usd is not None else ", and an attempt of no known price left out"
                violations.append(
                    f"{policy}: a call to {model}{run}{when} cost ${call.counted:f} (its attempts together, an "
                    f"unknown cost at its bound{unbounded}), above {limit}{find}"
                )
            continue
        add_note(
            notes,
            f"this summary has no largest_call in model_stats (written by an older magsag): {limit} was checked "
            "against each model's average cost per call, which one costlier call can exceed unseen; write the "
            "summary again with `magsag flow summarize` to check each call",
        )
        if not s.calls:  # a model every call left for another: no call to average its cost over (0 calls)
            continue
        if s.cost / s.calls > most:
            up_to = "up to " if s.bound else ""
            violations.append(
                f"{policy}: {model} averaged {up_to}${(s.cost / s.calls).quantize(Decimal('0.000001'))} per "
                f"call, above {limit}"
            )


#: the filters a summary records (``period.filters``) that select calls, not a time range
_NARROWING = ("agent", "run_id", "skill", "model", "provider", "status")


def _narrowing(summary: dict[str, Any]) -> dict[str, Any]:
    """The filters that selected the summary's calls, other than its time range (``flow summarize
    --agent X`` writes ``period.filters``): its peaks then hold those calls alone."""
    period = summary.get("period")
    filters = period.get("filters") if isinstance(period, dict) else None
    if not isinstance(filters, dict):
        return {}
    return {k: filters[k] for k in _NARROWING if filters.get(k) is not None}


def _served_by(narrowed: dict[str, Any]) -> str | None:
    """The provider every call of a summary was served by, where its filters name one (``--provider compat``), as
    the ledger records it (an alias, written by hand, is that provider); else None."""
    provider = narrowed.get("provider")
    return _canonical(provider) if isinstance(provider, str) else None


def _canonical(provider: str) -> str:
    """A provider's name as the ledger records it (``Azure``, ``gemini``: azure, google); one of no provider as
    written."""
    from ..providers import canonical_provider

    try:
        return canonical_provider(provider)
    except ConfigError:
        return provider


def _azure_served_some(summary: Any) -> bool:
    """Whether a summary's ``by_provider`` names Azure (in any case)."""
    by_provider = summary.get("by_provider") if isinstance(summary, dict) else None
    return isinstance(by_provider, dict) and any(
        isinstance(name, str) and _canonical(name) == "azure" for name in by_provider
    )


def _delegated_from(parsed: _Summary, narrowed: dict[str, Any]) -> str | None:
    """The run that the run a summary's run filter names was delegated from, if it was: a delegated run spends
    its parent's run limit, and the summary's costliest run is then that parent's tree, of the named run's calls
    alone (a run filter naming a top run selects its tree whole, and names its costliest run)."""
    run = parsed.largest_run
    named = narrowed.get("run_id")
    if run is None or not isinstance(named, str) or run.run_id is None or run.run_id == named:
        return None
    return run.run_id


def _held_unbounded(parsed: _Summary, t: Any, *, by_days: bool) -> list[tuple[str, str | None]]:
    """The figures a threshold of ``t`` is checked against that leave out an attempt of no known cost and no bound,
    held by the peak itself (its ``at_most_usd`` null), each as (the limit and the figure, as a note names them; the run
    whose attempts show it, if one does). ``by_days``: the month limits are checked against the costliest days too
    (a summary of no one month: :func:`.gate_months.checked_by_days`)."""
    held: list[tuple[str, str | None]] = []
    if t.max_cost_per_call_usd is not None:
        for model, s in parsed.model_stats.items():
            if (call := s.largest_call) is not None and call.at_most_usd is None:
                of_run = f", run {call.run_id}" if call.run_id is not None else ""
                figure = f"model_stats[{model!r}].largest_call.counted_usd (${call.counted:f}{of_run})"
                held.append((f"max_cost_per_call_usd against {figure}", call.run_id))
    if t.max_cost_per_run_usd is not None and (run := parsed.largest_run) is not None and run.holds_unbounded:
        held.append((f"max_cost_per_run_usd against largest_run (${run.cost:f}, run {run.run_id})", run.run_id))
    if t.max_cost_per_day_usd is not None and (day := parsed.largest_day) is not None and day.holds_unbounded:
        held.append((f"max_cost_per_day_usd against largest_day (${day.cost:f}, {day.date})", None))
    if t.max_cost_per_agent_daily_usd is not None:
        for agent, a in (parsed.by_agent or {}).items():
            if agent != NO_AGENT and (day := a.largest_day) is not None and day.holds_unbounded:
                what = f"by_agent[{agent!r}].largest_day (${day.cost:f}, {day.date})"
                held.append((f"max_cost_per_agent_daily_usd against {what}", None))
    if not by_days:
        return held
    if t.max_cost_per_month_usd is not None and (day := parsed.largest_day) is not None and day.holds_unbounded:
        held.append((f"max_cost_per_month_usd against largest_day (${day.cost:f}, {day.date})", None))
    if t.max_cost_per_agent_monthly_usd is not None:
        for agent, a in (parsed.by_agent or {}).items():
            if agent != NO_AGENT and (day := a.largest_day) is not None and day.holds_unbounded:
                what = f"by_agent[{agent!r}].largest_day (${day.cost:f}, {day.date})"
                held.append((f"max_cost_per_agent_monthly_usd against {what}", None))
    return held


def _checks(policy: Any) -> bool:
    """Whether the gate checks anything of ``policy``: its allowed models, a cost threshold or its requirements."""
    t = policy.thresholds
    if policy.allowed_models is not None or policy.requirements:
        return True
    return t is not None and any(v is not None for v in dict(t).values())


def _zone(summary: dict[str, Any]) -> str:
    """The time zone of the summary's days (``period.timezone``: `flow summarize --timezone`); UTC if it names
    none (written before it was kept, or by hand) or one that is not a zone."""
    from ..ledger.peaks import known_zone

    period = summary.get("period")
    zone = period.get("timezone") if isinstance(period, dict) else None
    try:
        return (known_zone(zone) or "UTC") if isinstance(zone, str) else "UTC"
    except InputError:
        return "UTC"


def _utc(zone: str) -> str:
    """``zone``, or "UTC" for any of UTC's names (GMT, Etc/UTC, Zulu: the same days)."""
    from ..zones import is_utc

    return "UTC" if is_utc(zone) else zone


def _window_cuts(summary: dict[str, Any], zone: str) -> dict[str, Any]:
    """The bounds of the summary's time window (``period.filters``' ``since`` and ``until``) that fall inside
    a day of ``zone``: the summary's first or last day then holds only the part of that day's calls within it."""
    from ..ledger.filters import cuts_a_day

    period = summary.get("period")
    filters = period.get("filters") if isinstance(period, dict) else None
    if not isinstance(filters, dict):
        return {}
    return {k: filters[k] for k in ("since", "until") if cuts_a_day(filters.get(k), zone)}
