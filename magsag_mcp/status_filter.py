"""The status filter: a run's status as the ledger records it, taken in any case, and what an unknown one is told.
One type for the ledger's filters (:class:`~magsag_mcp.ledger.filters.UsageFilters`: the CLI's ``--status`` and
Python's ``status=``) and the MCP tools' ``filters.status`` (which imports no ledger), so the two cannot drift."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator

#: the statuses a run is recorded with, in the order a refusal lists them
RUN_STATUSES = ("ok", "error", "policy_denied", "budget_exceeded", "cancelled", "running")


def _recorded_status(value: Any) -> Any:
    """A status in any case as the ledger records it (``OK``, ``Error``, as a shell variable or a form writes one):
    ``--provider`` took any case while ``--status OK`` was refused. Any other value is left to the literal to refuse."""
    if isinstance(value, str) and value.lower() in RUN_STATUSES:
        return value.lower()
    return value


StatusFilter = Annotated[
    Literal["ok", "error", "policy_denied", "budget_exceeded", "cancelled", "running"] | None,
    BeforeValidator(_recorded_status),
]


def status_refusal(value: Any, name: str) -> str:
    """What a status filter no run has is told, named as the caller wrote it (``--status``, ``status``): the value
    given (its repr: a terminal's escape sequence is shown as ``\\x1b``, never sent; cut short, secrets removed), the
    statuses taken, and the one it was nearly written for (``errors``, ``failed``: ``error``) if any."""
    from .redaction import excerpt
    from .suggest import nearest, status_word

    shown = excerpt(repr(value), 80)
    close = None
    if isinstance(value, str) and len(value) <= 200:
        close = nearest(value.casefold(), RUN_STATUSES) or status_word(value, RUN_STATUSES)
    listed = ", ".join(repr(s) for s in RUN_STATUSES[:-1]) + f" or {RUN_STATUSES[-1]!r}"
    hint = f" (did you mean {close!r}?)" if close else ""
    return f"{name} {shown} is not a run status: give one of {listed}, in any case{hint}"
