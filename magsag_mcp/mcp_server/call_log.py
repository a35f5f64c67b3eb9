"""The server's log line for each ``invoke_skill`` call: the one record an operator's log holds of a call.

A server shared by a team logged a call that failed ("invoke_skill failed: KIND: MESSAGE") and none that answered:
the access log's ``POST /mcp 200`` is every MCP request alike (a tool's failure too, which MCP answers with 200), so
the log said nothing of who called what, which model answered, what it cost or how long it took, and a failed call's
line named neither its run nor its agent, to find it in the ledger by. Each call now gets one line at INFO, answered
or failed, saying its skill, run, agent, the provider and model that answered, its cost and its time; with
``--log-format json`` the same as fields of the line (``tool``, ``outcome``, ``skill``, ``run_id``, ``agent``,
``provider``, ``model``, ``cost_usd``, ``latency_ms``; a failure's ``error_type``), which a collector filters and
sums without parsing the message. Nothing of the prompt or the answer is logged, and every value is redacted as
each line is (:mod:`.log_format`). ``MAGSAG_MCP_LOG_LEVEL=WARNING`` leaves the lines out.

A call cancelled (its client sent ``notifications/cancelled``, timed out or went away, or the server stopped) got no
line at all, though the ledger records it (``cancelled``, its cost unknown, bounded by its worst case): it gets one
too, ``outcome`` ``cancelled``, its skill, run (the one it was recorded under; none for a call cancelled before the
service recorded it, which the ledger does not hold), agent and time until the cancel. So does every other tool's
call cancelled (``tool``, ``outcome`` and ``latency_ms``): a client timing out on a slow ledger read left no trace.
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import MagsagError
from ..redaction import redact_values
from ..result_dicts import InvokeResultDict

TOOL = "invoke_skill"
#: the tools that make a call, whose lines name its skill, run, agent and cost
CALLING_TOOLS = frozenset({TOOL, "continue_paused"})
#: the end of the answered line of a call cancelled once its record was handed to the ledger (see :func:`log_answered`)
CLIENT_CANCELLED = " (its record handed to the ledger as ok; its client cancelled before the answer reached it)"


def log_answered(
    logger: logging.Logger, result: InvokeResultDict, agent: str | None, *, cancelled: bool = False, tool: str = TOOL
) -> None:
    """The line of a call that answered (``result``, the tool's), made under ``agent`` (None: none). ``cancelled``:
    its client cancelled once its answer's record was handed to the ledger as ok, before the answer reached it. Said
    as the cancel unwinds, before that write ends: "recorded ok" was said of a write that then failed (a full disk;
    the record kept, to be written with the next), whose WARNING naming the run follows (see kept_records.py)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    cost = result["cost_usd"]
    fields: dict[str, Any] = {
        "tool": tool,
        "outcome": "ok",
        "skill": result["skill"],
        "run_id": result["run_id"],
        "agent": agent,
        "provider": result["provider"],
        "model": result["model"],
        "cost_usd": cost,
        "latency_ms": round(result["latency_ms"]),
    }
    if cancelled:
        fields["client_cancelled"] = True
    logger.info(
        "%s answered: skill %s, run %s, agent %s, %s %s, cost %s, %d ms%s",
        tool,
        result["skill"],
        result["run_id"],
        agent if agent is not None else "(none)",
        result["provider"],
        result["model"],
        f"{cost} USD" if cost is not None else "unknown",
        fields["latency_ms"],
        CLIENT_CANCELLED if cancelled else "",
        extra=redact_values(fields),  # (the message is redacted by the logger's filter; a handler may send these on)
    )


def failed_fields(name: str, exc: MagsagError, skill: str | None = None, agent: str | None = None) -> dict[str, Any]:
    """The fields of a failed call's line (``name``: the tool's), the run it was recorded under where it was."""
    fields: dict[str, Any] = {"tool": name, "outcome": "error", "error_type": exc.kind}
    if name in CALLING_TOOLS:
        cost = None if exc.cost_usd is None else str(exc.cost_usd)
        fields.update(skill=skill, run_id=exc.run_id, agent=agent, cost_usd=cost)
    return redact_values(fields)


def log_cancelled(
    logger: logging.Logger,
    name: str,
    latency_ms: float,
    *,
    skill: str | None = None,
    run_id: str | None = None,
    agent: str | None = None,
    recorded: bool = False,
) -> None:
    """The line of a call of the tool ``name`` cancelled after ``latency_ms``. An ``invoke_skill`` call's names its
    ``skill`` and ``agent``, and its ``run_id`` when the service ``recorded`` the call (it records one cancelled once
    the call is under way, before this): one cancelled sooner (the service still opening, the pinned client's run id
    being checked) left no record, and a run id said then was one the ledger lacks."""
    if not logger.isEnabledFor(logging.INFO):
        return
    fields: dict[str, Any] = {"tool": name, "outcome": "cancelled", "latency_ms": round(latency_ms)}
    if name != TOOL:
        logger.info("%s cancelled: after %d ms", name, fields["latency_ms"], extra=fields)
        return
    fields.update(skill=skill, run_id=run_id if recorded else None, agent=agent)
    said = (
        "the ledger records what it spent"
        if recorded
        else "before it was recorded: nothing was sent, and the ledger holds no run of it"
    )
    logger.info(
        "%s cancelled: skill %s, run %s, agent %s, after %d ms (%s)",
        TOOL,
        skill,
        fields["run_id"] if fields["run_id"] is not None else "(none)",
        agent if agent is not None else "(none)",
        fields["latency_ms"],
        said,
        extra=redact_values(fields),
    )
