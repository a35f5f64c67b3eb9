"""summarize_usage's per-key maps cut to the costliest ``top`` entries each, for a client whose answer goes into a
model's context.

A summary has one entry per agent, skill, model and provider the period saw. Agents are free names (a sub-agent each,
a user each): a ledger of 200 agents answered summarize_usage with 109 KB of JSON, 2,000 with a megabyte, all of it in
the calling model's context window. The tool lists the costliest ``top`` of each map (its known cost and the bound on
its unknown costs, then its calls; the name breaks a tie), counts what it left out in ``omitted`` and says in a note
how to see the rest. ``totals`` and the largest call, run and day still count every call. The Python API takes
``top`` too (``mg.summarize(top=20)``), the service cutting the summary for both; without it, it returns the whole
summary, as ``magsag flow summarize`` prints it without ``--top`` (with it, cut the same way, its notes naming the
command's options). ``magsag flow gate`` refuses a cut summary: a model left out is one its allowed_models never saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from .plurals import agreeing, counted

#: the maps cut, each with what its entries are and the filter that names one
CUT_MAPS: dict[str, tuple[str, str]] = {
    "model_stats": ("model", "filters.model"),
    "by_provider": ("provider", "filters.provider"),
    "by_agent": ("agent", "filters.agent"),
    "by_skill": ("skill", "filters.skill"),
}
#: the default of summarize_usage's ``top``, and its most
TOP_DEFAULT = 20
TOP_MAX = 10_000


def _money(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):  # (a summary's are exact decimal strings; none: counted as nothing)
        return Decimal(0)


def _costliest_first(item: tuple[str, Mapping[str, Any]]) -> tuple[Decimal, int, int, str]:
    name, stats = item
    at_most = _money(stats.get("known_cost_usd", 0)) + _money(stats.get("unknown_cost_bound_usd", 0))
    # negated for one ascending sort: the costliest, then an entry of unbounded cost, then the busiest, then by name
    return (-at_most, -int(stats.get("unbounded_attempts") or 0), -int(stats.get("calls") or 0), name)


def checked_top(top: Any) -> int | None:
    """``top`` as given (None: the whole summary), refused naming what it takes where it is no count of entries."""
    if top is None:
        return None
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= TOP_MAX:
        from .errors import InputError

        raise InputError(
            f"top must be a whole number of entries from 1 to {TOP_MAX} (e.g. {TOP_DEFAULT}), the most each of "
            f"model_stats, by_provider, by_agent and by_skill lists, or left out for all of them; not {top!r}"
        )
    return top


#: how `magsag flow summarize` names what the tool's and the API's notes call filters.model, ..., and top
CLI_NAMES = {"filters.model": "--model", "filters.provider": "--provider", "filters.agent": "--agent"}
CLI_NAMES |= {"filters.skill": "--skill", "top": "--top"}


def top_entries(summary: Mapping[str, Any], top: int, *, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``summary`` with each of :data:`CUT_MAPS` holding its ``top`` costliest entries (costliest first), ``omitted``
    counting the entries each map left out (empty when none did) and a note for each map cut. ``names``: how the
    notes name a filter and ``top`` (:data:`CLI_NAMES` for the command line's options), as given otherwise."""
    named = names or {}
    cut: dict[str, Any] = dict(summary)
    omitted: dict[str, int] = {}
    notes: list[str] = []
    for key, (noun, named_by) in CUT_MAPS.items():
        entries = summary.get(key)
        if not isinstance(entries, Mapping) or len(entries) <= top:
            continue
        kept = sorted(entries.items(), key=_costliest_first)[:top]
        cut[key] = dict(kept)
        left_out = omitted[key] = len(entries) - top
        notes.append(
            f"{key} lists the {top} costliest {agreeing(top, noun)} (known cost plus the bound on unknown costs, then "
            f"calls) of the {counted(len(entries), noun)} the filters matched; the other {left_out} (omitted.{key}) "
            f"are counted in totals: name one with {named.get(named_by, named_by)}, or raise "
            f"{named.get('top', 'top')} (at most {TOP_MAX}), to see them"
        )
    cut["omitted"] = omitted
    if notes:
        cut["notes"] = [*summary.get("notes", []), *notes]
    return cut
