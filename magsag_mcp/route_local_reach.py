"""What ``explain`` says of where a local target's model runs: a call asks its server (``POST /api/show``, see
:mod:`.providers.local_reach`) before its first attempt of the name, and refuses, under a glob of local models, one the
server made from a cloud model. ``magsag explain``, the MCP tool ``explain_route`` and the Python API's
``skills.aexplain`` ask it too, bounded as the call asks it (:func:`ask_local_servers`); the Python API's sync
``explain``, which does not wait on a server, says where it did not (:func:`unasked_warnings`), as does any explain
whose asking failed: "allowed" read as "the call goes" where the call would be refused."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .providers.local_reach import known, unsure
from .routing import Plan

if TYPE_CHECKING:
    from .providers.base import ProgressCallback


async def ask_local_servers(providers: Any, plan: Plan, progress: ProgressCallback | None = None) -> None:
    """Ask each local target's server, at once, where it runs the model, as a call asks before its attempt (once per
    server and name in the process; each ask bounded in time, see :func:`~.providers.local_reach.learn`): what the
    policies then judge it by is what the call's would be. ``progress``: told ``asking`` before each is asked."""
    asks = []
    for cand in plan.candidates:
        if cand.target.provider != "local" or cand.refused is not None:
            continue
        learn = getattr(providers.get("local"), "learn_where_it_runs", None)
        if learn is not None:
            asks.append(learn(cand.target, progress))
    if asks:
        await asyncio.gather(*asks)


def unasked_warnings(governance: Any, plan: Plan, targets: Sequence[Mapping[str, Any]]) -> list[str]:
    """One warning, for every local target shown allowed whose server was not asked where it runs the model in this
    process (or whose answer failed) and that a policy admits by a glob alone: that the call, which asks, is refused
    if the server runs it off this machine, and how to have it asked first. One per target was as many warnings
    saying the same as a route has local targets, on every explain until the process had called each. Not for one the
    call cannot send (its ``unavailable``), whose server the call asks nothing."""
    reach = getattr(governance, "local_reach", None)
    if reach is None:
        return []
    unsure_of: list[tuple[str, str, str]] = []  # each target's label, why it is unsure, the glob admitting it
    for cand, entry in zip(plan.candidates, targets, strict=False):
        target = cand.target
        if target.provider != "local" or not entry["policy"]["allowed"] or reach.off_machine(target) is not None:
            continue
        if entry.get("unavailable"):  # (not sent, so not asked: what it lacks is said, not where it would run)
            continue
        try:
            base = reach.base_url(target)
        except Exception:  # (a base URL that cannot be read: the call says so)
            continue
        failed = unsure(base, target.model)
        if known(base, target.model) and failed is None:
            continue
        where = governance.policies.admitted_by_glob(target, plan.data_classes)
        if where is None:
            continue
        asked = "its server was not asked" if failed is None else f"its server's /api/show {failed}"
        unsure_of.append((target.label, asked, where))
    if not unsure_of:
        return []
    ask_first = "`magsag explain`, the MCP tool explain_route and the Python API's skills.aexplain ask it first"
    glob_refuses = (
        "which refuses the call if the server runs the model off this machine (made from an Ollama cloud model)"
    )
    if len(unsure_of) == 1:
        [(label, asked, where)] = unsure_of
        return [
            f"{label}: unsure where it runs: {asked} (POST /api/show, which the call asks before its first attempt of "
            f"the name; {ask_first}); it is allowed by a glob of {where} alone, {glob_refuses}; name {label} there "
            "to allow it wherever it runs"
        ]
    each = "; ".join(f"{label}: {asked}, allowed by a glob of {where} alone" for label, asked, where in unsure_of)
    return [
        f"{len(unsure_of)} local targets: unsure where they run ({each}): the call asks each one's server "
        f"(POST /api/show) before its first attempt of the name ({ask_first}); a glob alone admits each, "
        f"{glob_refuses}; name each there to allow it wherever it runs"
    ]
