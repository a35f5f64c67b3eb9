"""Reading the ledger: summarize (the guide's ``model_stats``). Runs: run_pages.py (``query_runs`` is re-exported
here, where callers have imported it), search: search.py, prune: prune.py."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import redact_values
from .azure_served import served_as, served_at_endpoints
from .cache_hits import cache_summary
from .data_class_reads import by_data_class, classes_kept_since
from .dead_runs import errored_runs, runs_as_recorded
from .filters import UsageFilters, parse_since
from .local_off_machine import local_off_machine
from .money import from_pusd, joined
from .patterns import MAX_PATTERN_CHARS as MAX_PATTERN_CHARS  # where callers have read it
from .peaks import CostliestCalls, known_zone, largest_days, largest_run
from .rollup_reads import (
    ATTEMPT_BILLING_PARTS,
    ATTEMPT_CACHE_WRITES,
    ATTEMPT_CALL_MAX,
    ATTEMPT_CALLS,
    ROLLUP_PART_COLUMNS,
    ROLLUP_TOOL_KINDS,
    attempt_money,
    attempts_where,
    grouped_rows,
    other_tool_uses,
)
from .run_pages import query_runs as query_runs  # where callers have imported it
from .spaced_names import refuse_spaced_names
from .times import iso_time
from .ttl_uncounted import ttl_uncounted
from .unrecorded import dead_calls
from .unsent import unsent_calls

if TYPE_CHECKING:
    from .reports import LedgerReports


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
    *ROLLUP_PART_COLUMNS,
)


#: the parts of a bill (0031) each group sums, from usage_rollup and from attempts (after a comma)
_ROLLUP_PARTS = "".join(f", SUM({column})" for column in ROLLUP_PART_COLUMNS)
_ATTEMPT_PARTS = f", {ATTEMPT_BILLING_PARTS}"


def _rollup_rows(conn: sqlite3.Connection, f: UsageFilters) -> list[tuple[Any, ...]]:
    """(model, provider, agent, skill, outcome, attempts, in, out, cached, reasoning, cost, unpriced, bound,
    bounded, costliest call, its run, its time, calls, cache writes, their 1-hour part, then the parts of a bill:
    :data:`~.rollup_reads.ROLLUP_PART_COLUMNS`) groups (see :func:`~.rollup_reads.grouped_rows`)."""
    rows = grouped_rows(
        conn,
        f,
        rollup_select=lambda s: (
            "model, provider, agent, skill, outcome, SUM(attempts), SUM(input_tokens),"
            f" SUM(output_tokens), SUM(cached_tokens), SUM(reasoning_tokens), {s('cost_pusd')}, SUM(unpriced),"
            f" {s('cost_bound_pusd')}, SUM(bounded), MAX(call_max_pusd), call_max_run_id, call_max_at, SUM(calls),"
            f" SUM(cache_write_tokens), SUM(cache_write_1h_tokens){_ROLLUP_PARTS}"
        ),
        attempts_select=lambda s: (
            "model, provider, coalesce(agent, ''), coalesce(skill, ''), outcome, COUNT(*),"
            " SUM(input_tokens), SUM(output_tokens), SUM(cached_tokens), SUM(reasoning_tokens), "
            + attempt_money(s)
            + f", {ATTEMPT_CALL_MAX}, {ATTEMPT_CALLS}, {ATTEMPT_CACHE_WRITES}{_ATTEMPT_PARTS}"
        ),
        group_by="1, 2, 3, 4, 5",
    )
    # each pico-USD sum came as two columns (see money.summed); then the costliest call (-1: none), its run, time,
    # the calls ending in the group, its cache writes and their 1-hour part, and the parts of its bill
    return [(*r[:10], joined(r[10], r[11]), r[12], joined(r[13], r[14]), *r[15:]) for r in rows]


@dataclass
class _Folded:
    """A summary's rollup rows folded into each breakdown: ``by[dim][key]`` and ``total``, the sums named by
    :data:`_STAT_KEYS`; the attempts refused or skipped by outcome; each model's providers; each Azure deployment's
    answered attempts."""

    by: dict[str, dict[str, dict[str, int]]]
    total: dict[str, int]
    refused: dict[str, int]
    providers_of: dict[str, set[str]]
    azure_answers: dict[str, int]


def _folded(rows: list[tuple[Any, ...]], costliest: CostliestCalls) -> _Folded:
    """Each row's numbers as one vector in :data:`_STAT_KEYS`' order, listed under its key in each breakdown, and
    each list summed a column at a time once all are read (``sum(zip(...))``, in C). A summary of 200 agents x 12
    skills holds a group per (model, provider, agent, skill, outcome), some 30,000 over a year's 200,000 attempts:
    adding each number to four dicts by name, 1,700,000 dict steps, took 0.4-0.6 s of the summary's 1.3-1.7 s."""
    vectors: dict[str, dict[str, list[tuple[int, ...]]]] = {"model": {}, "provider": {}, "agent": {}, "skill": {}}
    by_model, by_provider, by_agent, by_skill = (vectors[dim] for dim in ("model", "provider", "agent", "skill"))
    reached: list[tuple[int, ...]] = []
    refused: dict[str, int] = {}
    providers_of: dict[str, set[str]] = {}
    azure_answers: dict[str, int] = {}
    for model, provider, agent, skill, outcome, n, *numbers in rows:
        tin, tout, cached, reasoning, cost, unpriced, bound, bounded, *call = numbers[:11]
        calls, written, written_1h, *parts = numbers[11:]
        costliest.add(model, *call)
        n = int(n)
        if outcome not in ("ok", "error"):
            refused[outcome] = refused.get(outcome, 0) + n
            continue
        providers_of.setdefault(model, set()).add(provider)
        ok = outcome == "ok"
        if ok and provider == "azure":
            azure_answers[model] = azure_answers.get(model, 0) + n
        calls = int(calls or 0)
        vector = (
            n if ok else 0, 0 if ok else n, calls, 0 if ok else calls, int(tin or 0), int(tout or 0),
            int(cached or 0), int(written or 0), int(written_1h or 0), int(reasoning or 0), int(cost or 0),
            int(unpriced or 0), int(bound or 0), int(bounded or 0), *(int(n or 0) for n in parts),
        )  # fmt: skip
        reached.append(vector)
        by_model.setdefault(model, []).append(vector)
        by_provider.setdefault(provider, []).append(vector)
        by_agent.setdefault(agent or "(none)", []).append(vector)
        by_skill.setdefault(skill or "(none)", []).append(vector)

    def sums(listed: list[tuple[int, ...]]) -> dict[str, int]:
        if not listed:
            return dict.fromkeys(_STAT_KEYS, 0)
        return dict(zip(_STAT_KEYS, map(sum, zip(*listed, strict=True)), strict=True))

    by = {dim: {key: sums(listed) for key, listed in groups.items()} for dim, groups in vectors.items()}
    return _Folded(by, sums(reached), refused, providers_of, azure_answers)


#: the filters that may select some of a call's attempts and not others (its run, agent and skill are its attempts')
_NARROWING = ("model", "provider", "since", "until")


#: server tool calls of kinds outside ROLLUP_TOOL_KINDS: (breakdown, its key) -> kind -> calls; the totals' under
#: ("totals", "")
_OtherUses = dict[tuple[str, str], dict[str, int]]


def _other_uses(conn: sqlite3.Connection, f: UsageFilters) -> _OtherUses:
    """The server tool calls of kinds the rollup has no column for (see :func:`~.rollup_reads.other_tool_uses`), by
    breakdown and kind, and in the totals."""
    out: _OtherUses = {}
    for model, provider, agent, skill, kind, n in other_tool_uses(conn, f):
        for where in (
            ("model", model), ("provider", provider), ("agent", agent or "(none)"), ("skill", skill or "(none)"),
            ("totals", ""),
        ):  # fmt: skip
            kinds = out.setdefault(where, {})
            kinds[kind] = kinds.get(kind, 0) + n
    return out


def _stats(acc: dict[str, int], others: dict[str, int] | None = None, uncounted: int = 0) -> dict[str, Any]:
    number, exact = _money(acc["cost_pusd"])
    complete = acc["unpriced"] == 0
    unbounded = acc["unpriced"] - acc["bounded"]
    return {
        # the guide's "calls: Number of invocations" and "errors: Failed calls": calls, each counted once (under its
        # last attempt that reached a provider), however many tries and fallback hops it took; those tries are
        # `attempts`, and the ones that failed `attempt_errors` (a call answered on its retry failed none)
        "calls": acc["calls"],
        "errors": acc["failed_calls"],
        "attempts": (attempts := acc["ok"] + acc["errors"]),
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
        # of the cache writes, those whose time to live the answer did not say (0033: counted since), priced at the
        # one the request's markers asked, or of unknown cost; and the attempts recorded before 0033 that wrote to the
        # cache, whose such writes it cannot count (ttl_uncounted.py): the figure leaves them out, and says so
        "cache_write_ttl_unsaid_tokens": acc["cache_write_ttl_unsaid_tokens"],
        "cache_write_ttl_uncounted_attempts": uncounted,
        # how many more cache writes the answers' splits by time to live counted than their totals (0036: counted
        # since), priced at the splits' figures, the larger: a bill that may be less than the cost recorded
        "cache_write_split_past_tokens": acc["cache_write_split_past_tokens"],
        "reasoning_tokens": acc["reasoning_tokens"],
        **_billing_parts(acc, attempts, others),
    }


def _billing_parts(acc: dict[str, int], attempts: int, others: dict[str, int] | None = None) -> dict[str, Any]:
    """The parts of a bill its tokens alone do not give (0030), summed over the attempts whose answers said each
    (0031_usage_rollup_billing_parts): a part none of them said is null, never 0, and beside each is how many of the
    ``attempts`` did not say it (an unknown cost's rule: the known part, and how many are not in it). ``others``: the
    server tool calls of kinds the rollup has no column for, read from the attempts (:func:`_other_uses`)."""
    uses = {kind: n for kind in ROLLUP_TOOL_KINDS if (n := acc[f"{kind}_uses"])}
    if others:
        uses = dict(sorted({**uses, **others}.items()))
    return {
        # of output_tokens, images (Gemini's, billed at an image rate)
        "output_image_tokens": acc["output_image_tokens"] if acc["output_image_said"] else None,
        "output_image_unsaid_attempts": attempts - acc["output_image_said"],
        # the attempts whose inference ran in the US only (Anthropic's inference_geo "us", billed at 1.1x the tokens)
        "us_inference_attempts": acc["us_inference"] if acc["geo_said"] else None,
        "inference_geo_unsaid_attempts": attempts - acc["geo_said"],
        # the server tool calls billed per use beside the tokens, by the tool's API name ({}: counts of none)
        "server_tool_uses": uses if acc["tool_uses_said"] else None,
        "server_tool_uses_unsaid_attempts": attempts - acc["tool_uses_said"],
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
    fixed_as_given = f.model_copy(update={"since": parse_since(f.since), "until": parse_since(f.until, field="until")})
    now = time.time()

    def q(conn: sqlite3.Connection) -> dict[str, Any]:
        refuse_spaced_names(conn, f)
        # a read-only ledger's calls of dead processes, which it cannot record: counted as a writable read records
        # them (see unrecorded.py), so that the two reads of one ledger agree and `flow gate` fails the incomplete one;
        # the runs they go to as they would be recorded (dead_runs.py), a status filter reading those they turn to
        # 'error' as errors
        dead = dead_calls(conn, fixed_as_given, now) if ledger.read_only else None
        runs = runs_as_recorded(conn, dead.calls) if dead is not None else None
        fixed = fixed_as_given if not runs else fixed_as_given.with_dead_calls(errored_runs(runs))
        rows = _rollup_rows(conn, fixed)
        if dead is not None:
            rows += dead.rows
        groups = _folded(rows, costliest := CostliestCalls())
        # (a summary of no attempt that said its server tool calls reads no more)
        others = _other_uses(conn, fixed) if groups.total["tool_uses_said"] else {}
        # (a summary of no attempt that wrote to the cache reads no more)
        uncounted = ttl_uncounted(conn, fixed) if groups.total["cache_write_tokens"] else {}
        providers_of, azure_answers, refused = groups.providers_of, groups.azure_answers, groups.refused
        total = groups.total
        unbounded = total["unpriced"] - total["bounded"]
        # which peaks leave them out (see peaks.py). A filter (a model, a window) may leave a peak call's unbounded
        # attempt out of the summary's (its fallback's first model, its try before the window) while the call is
        # counted whole: its at_most_usd was that whole's figure, none counted; the peaks are read then too
        if unbounded or any(getattr(fixed, name) is not None for name in _NARROWING):
            counts: dict[str | None, int] = {
                m: acc["unpriced"] - acc["bounded"] for m, acc in groups.by["model"].items()
            }
            costliest.mark_unbounded(conn, {**counts, None: unbounded}, fixed, dead.unbounded_of if dead else None)
        period = _period(conn, fixed)
        if dead is not None and dead.rows:
            period = (_earliest(period[0], dead.first), _latest(period[1], dead.last))
        largest_day, agent_days = largest_days(conn, fixed, zone, dead)
        by_agent = {
            k: _stats(v, others.get(("agent", k)), uncounted.get(("agent", k), 0))
            for k, v in sorted(groups.by["agent"].items())
        }
        for agent, peak in agent_days.items():
            if agent in by_agent:
                by_agent[agent]["largest_day"] = peak
        # (reasoning_tokens too, as each breakdown gives them: they were dropped here alone)
        totals = _stats(total, others.get(("totals", "")), uncounted.get(("totals", ""), 0))
        totals.update({f"{outcome}_attempts": n for outcome, n in sorted(refused.items())})
        # calls none of whose targets was sent (no key set, a policy refused it): in no `calls`, so a summary of them
        # alone read as "nothing happened" (see unsent.py). Counted where the summary holds no call that sent one:
        # beside such calls it would read every attempt of the period, where the summary reads the daily rollup
        if not total["calls"]:
            totals["unsent_calls"] = unsent_calls(conn, fixed) if refused else 0
        model_stats = {
            k: _stats(v, others.get(("model", k)), uncounted.get(("model", k), 0))
            for k, v in sorted(groups.by["model"].items())
        }
        for key, names in providers_of.items():
            model_stats[key]["providers"] = sorted(names)  # lets the gate check provider:model policies
        for key, stats in model_stats.items():  # null: none of the model's attempts ended a call
            stats["largest_call"] = costliest.of(key)
        if azure_answers:  # (read only where Azure answered: a summary of other providers' calls reads nothing more)
            selected = attempts_where(conn, fixed)
            served = served_as(conn, *selected, sorted(azure_answers))
            at_endpoints = served_at_endpoints(conn, *selected, sorted(azure_answers))
            for deployment, answered in azure_answers.items():
                # what the deployment's answers said served them, which `flow gate` checks against allowed_models;
                # those recorded without it (an older version's, a pruned attempt's) are counted apart
                known = served.get(deployment, {})
                model_stats[deployment]["served_as"] = dict(sorted(known.items()))
                model_stats[deployment]["served_unknown"] = max(0, answered - sum(known.values()))
                # and by the endpoint each went to (0029): deployments of one name at two resources may serve two
                # models; served_as counts them together (and those recorded before 0029, which are here in none)
                model_stats[deployment]["served_as_by_endpoint"] = {
                    endpoint: dict(sorted(models.items()))
                    for endpoint, models in sorted(at_endpoints.get(deployment, {}).items())
                }
        if any("local" in names for names in providers_of.values()):  # (a summary of no local calls reads no more)
            # the local models whose attempts went off this machine (Ollama's cloud under a local name), and where:
            # `flow gate` does not let a glob of local models in allowed_models pass them
            for model, hosts in local_off_machine(conn, *attempts_where(conn, fixed)).items():
                if model in model_stats:
                    model_stats[model]["off_machine"] = hosts
        # where each data class's calls went, which `flow gate` checks against the policies' requirements, and what
        # their Azure deployments answered as (judged by the model that served them, as allowed_models is)
        classes, classes_served, classes_off = by_data_class(conn, *attempts_where(conn, fixed))
        # since when the ledger keeps them, where it holds calls from before (an upgraded ledger's), which
        # by_data_class cannot place: a period reaching back before it is not checked whole. None: every call it
        # holds has its classes (a ledger this version made, or one whose earlier calls were pruned)
        kept_since = classes_kept_since(conn) if classes is not None else None
        return {
            "model_stats": model_stats,
            "totals": totals,
            "by_data_class": classes,
            "by_data_class_served": classes_served,
            # of each class's local attempts, those sent off this machine (Ollama's cloud), whatever their name said
            "by_data_class_off_machine": classes_off,
            # (to the second, as period.from: a period from that second on reads as held whole)
            "data_classes_since": None if kept_since is None else iso_time(kept_since),
            "by_provider": {
                k: _stats(v, others.get(("provider", k)), uncounted.get(("provider", k), 0))
                for k, v in sorted(groups.by["provider"].items())
            },
            "by_agent": by_agent,
            "by_skill": {
                k: _stats(v, others.get(("skill", k)), uncounted.get(("skill", k), 0))
                for k, v in sorted(groups.by["skill"].items())
            },
            "largest_run": largest_run(conn, fixed, unbounded, runs),
            "largest_day": largest_day,
            "largest_call": costliest.of(None),
            "cache": cache_summary(conn, fixed),  # the calls answered from the answer cache, and what they saved
            "period": {
                "from": iso_time(period[0]),
                "to": iso_time(period[1]),
                "filters": _shown_filters(f),
                "timezone": zone or "UTC",  # the days of largest_day and by_agent's
            },
        }

    return await ledger.read(q)


#: the start of a filter's value that ``period.filters`` shows where the value is longer than any recorded name
_SHOWN_START = 40


def _shown_filters(f: UsageFilters) -> dict[str, Any]:
    """The filters as given, but a key pasted as one (--agent "$THE_WRONG_VARIABLE") is not written back out, and a
    value longer than any name the ledger records (:data:`~..text.MODEL_MAX`, a model's) is its start and its length:
    it selects nothing (the report's notes say so, naming it by its length), and written back whole a megabyte sent
    as a filter was a megabyte of every report, to an MCP client or a CI log."""
    from ..text import MODEL_MAX

    shown = redact_values(f.model_dump(exclude_none=True, exclude={"limit", "offset", "cursor"}))
    for key, value in shown.items():
        if isinstance(value, str) and len(value) > MODEL_MAX:
            shown[key] = f"{value[:_SHOWN_START]}... ({len(value):,} characters)"
    return shown


def _earliest(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


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
