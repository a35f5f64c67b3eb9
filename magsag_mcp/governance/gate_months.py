"""What ``magsag flow gate`` finds of a policy's month limits in a summary (``max_cost_per_month_usd``, and
``max_cost_per_agent_monthly_usd`` for each agent), its months being the summary's days' (``period.timezone``).

A summary keeps no peak of a month: a summary all of whose calls fall in one calendar month (``period.from`` and
``period.to``) is that month's spend, checked whole (each agent's ``by_agent[A]`` cost against the agent's limit; not
the calls made without an agent, which the budget holds to the month of all calls alone). One over several months
cannot be split by month: its costliest day is checked (a day over a month's limit is a month over it; in a summary
written before its days' peaks were kept, its whole cost, as its day limits are) and a note says what was checked and
how to check each month whole. A window that starts or ends inside a month holds only part of it: a note says so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import InputError
from .gate_notes import add_note
from .gate_summary import NO_AGENT, _Summary

#: a month limit's threshold -> whether it is each agent's
MONTH_THRESHOLDS = {"max_cost_per_month_usd": False, "max_cost_per_agent_monthly_usd": True}


def _month(value: Any, zone: str) -> tuple[int, int] | None:
    """The (year, month) in ``zone`` of a summary's ``period.from`` or ``period.to`` (an ISO time), or None."""
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    local = at.astimezone(ZoneInfo(zone))
    return local.year, local.month


def _cuts_a_month(value: Any, zone: str) -> bool:
    """Whether a ``since`` or ``until`` bound falls inside a month of ``zone``, not at its first midnight (see
    :func:`~..ledger.times.cuts_a_day`, whose days it reads the same way)."""
    from ..ledger.times import cuts_a_day, parse_since

    if value is None or isinstance(value, bool):
        return False
    if cuts_a_day(value, zone):
        return True
    try:
        seconds = parse_since(value, now=0.0)
    except InputError:
        return False
    return seconds is not None and datetime.fromtimestamp(seconds, ZoneInfo(zone)).day != 1


def check_months(
    violations: list[str], notes: list[str], policy: Any, parsed: _Summary, summary: dict[str, Any], total: Any,
    zone: str,
) -> None:  # fmt: skip
    """``policy``'s month limits against the summary: violations and notes added to the lists."""
    t = policy.thresholds
    limits = [(name, getattr(t, name), by_agent) for name, by_agent in MONTH_THRESHOLDS.items()]
    limits = [(name, value, by_agent) for name, value, by_agent in limits if value is not None]
    if not limits:
        return
    period = _period(summary)
    first, last = _month(period.get("from"), zone), _month(period.get("to"), zone)
    names = " and ".join(name for name, _, _ in limits)
    if first is None or last is None:
        if not total.used and not total.cost:  # no call in the summary: no month spent
            return
        # calls, and no month they fall in (a period written by hand or cut down): "gate: pass" alone read as checked
        checked = _check_largest_days(violations, policy, parsed, limits, zone, total)
        add_note(
            notes,
            f"{policy.name}: this summary's period has no valid from and to (ISO times of its first and last call), "
            f"so no month of it is known: {names} checked only {checked}; write the "
            "summary with `magsag flow summarize --output FILE` (one month: --since its first day, --until the next "
            f"month's first day, --timezone {zone}) to check the month whole",
        )
        return
    agents = {a: s for a, s in (parsed.by_agent or {}).items() if a != NO_AGENT}
    if first == last:
        month = f"{first[0]:04d}-{first[1]:02d} ({zone})"
        for name, value, by_agent in limits:
            limit = f"{name} ${value:f}"
            if not by_agent:
                if total.cost > value:
                    violations.append(f"{policy.name}: {month} cost {total.shown()} exceeds {limit}")
                continue
            for agent, a in agents.items():
                if a.cost > value:
                    violations.append(f"{policy.name}: agent {agent!r} in {month} cost {a.shown()} exceeds {limit}")
        written = period.get("filters")
        filters: dict[str, Any] = written if isinstance(written, dict) else {}
        cut = {k: filters[k] for k in ("since", "until") if _cuts_a_month(filters.get(k), zone)}
        if cut:
            by = ", ".join(f"{k}={v!r}" for k, v in cut.items())
            add_note(
                notes,
                f"{policy.name}: this summary's window ({by}) holds only part of {month}: {names} checked against "
                f"that part, not the whole month; to check the month whole, give --since {first[0]:04d}-"
                f"{first[1]:02d}-01 and --until the next month's first day (in {zone} with --timezone {zone})",
            )
        return
    # several months: the costliest day is a lower bound on its month's spend
    checked = _check_largest_days(violations, policy, parsed, limits, zone, total)
    add_note(
        notes,
        f"{policy.name}: this summary spans several months ({first[0]:04d}-{first[1]:02d} to {last[0]:04d}-"
        f"{last[1]:02d}, {zone}) and a summary keeps no month's spend: {names} checked only {checked}; write one "
        f"summary a month (`magsag flow summarize --since {last[0]:04d}-{last[1]:02d}-01 "
        f"--until` the next month's first day, --timezone {zone}) to check each month whole",
    )


def checked_by_days(summary: dict[str, Any], total: Any, zone: str) -> bool:
    """Whether the month limits are checked against the summary's costliest days (:func:`_check_largest_days`), not
    its whole spend: a summary of calls whose period is no one known month."""
    period = _period(summary)
    first, last = _month(period.get("from"), zone), _month(period.get("to"), zone)
    if first is None or last is None:
        return bool(total.used or total.cost)
    return first != last


def _period(summary: dict[str, Any]) -> dict[str, Any]:
    said = summary.get("period")
    return said if isinstance(said, dict) else {}


#: what the month limits were checked against in a summary of no one month, by whether it kept its costliest days
_BY_DAYS = "that no day of it alone exceeds the limit"
_BY_TOTALS = (
    "against {what}, not day by day (it has no largest_day: written by an older magsag), which may span "
    "several months and fail a limit no month broke"
)


def _check_largest_days(
    violations: list[str], policy: Any, parsed: _Summary, limits: list[tuple[str, Any, bool]], zone: str, total: Any
) -> str:
    """The month limits against the summary's costliest day, and each agent's: a lower bound on its month's spend
    (a day over a month's limit is a month over it), all a summary of no one known month can be checked for. A
    summary written before its days' peaks were kept is checked against its totals instead, as its day limits are (an
    upper bound, where its missing days had let it be checked against nothing while said checked day by day). Returns
    what was checked, as the note says it."""
    agents = {a: s for a, s in (parsed.by_agent or {}).items() if a != NO_AGENT}
    old_agents = any("largest_day" not in a.model_fields_set for a in agents.values())
    whole = [
        what
        for what, old in (
            ("its whole cost", any(not by for _, _, by in limits) and "largest_day" not in parsed.model_fields_set),
            ("each agent's whole cost", any(by for _, _, by in limits) and old_agents),
        )
        if old
    ]
    for name, value, by_agent in limits:
        limit = f"{name} ${value:f}"
        if not by_agent:
            if "largest_day" not in parsed.model_fields_set:
                if total.cost > value:
                    violations.append(f"{policy.name}: total cost {total.shown()} exceeds {limit}")
            elif (day := parsed.largest_day) is not None and day.cost > value:
                violations.append(f"{policy.name}: {day.date} ({zone}) alone cost {day.shown()}, which exceeds {limit}")
            continue
        for agent, a in agents.items():
            if "largest_day" not in a.model_fields_set:
                if a.cost > value:
                    violations.append(f"{policy.name}: agent {agent!r} cost {a.shown()} exceeds {limit}")
            elif (day := a.largest_day) is not None and day.cost > value:
                violations.append(
                    f"{policy.name}: agent {agent!r} on {day.date} ({zone}) alone cost {day.shown()}, which exceeds "
                    f"{limit}"
                )
    if not whole:
        return _BY_DAYS
    return _BY_TOTALS.format(what=" and ".join(whole))
