"""The status filter: a run's status as the ledger records it, taken in any case, and what an unknown one is told.
One type for the ledger's filters (:class:`~magsag_mcp.ledger.filters.UsageFilters`: the CLI's ``--status`` and
Python's ``status=``) and the MCP tools' ``filters.status`` (which imports no ledger), so the two cannot drift."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, WithJsonSchema

#: the statuses a run is recorded with, in the order a refusal lists them
RUN_STATUSES = ("ok", "error", "policy_denied", "budget_exceeded", "cancelled", "running")


def _recorded_status(value: Any) -> Any:
    """A status in any case as the ledger records it (``OK``, ``Error``, as a shell variable or a form writes one):
    ``--provider`` took any case while ``--status OK`` was refused. Any other value is left to the literal to refuse."""
    if isinstance(value, str) and value.isascii() and value.lower() in RUN_STATUSES:
        return value.lower()
    return value


def any_case(word: str) -> str:
    """``[oO][kK]``: ``word`` in any case, for a JSON Schema pattern (ECMA-262 has no inline flag a client's
    validator is sure to take, so each letter is its pair). ASCII case only, as the server folds it: ``str.lower``
    also made the Kelvin sign (U+212A) a ``k``, which no pattern of pairs takes."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


#: what the published schemas say a status is: any of :data:`RUN_STATUSES` in any case, as :func:`_recorded_status`
#: takes it. An enum of the lower-case names told a client that checks its arguments against the schema to refuse
#: ``OK``, which the server takes. Only JSON Schema's recommended subset of ECMA-262 (classes, simple groups, ``|``,
#: anchors), which every client's validator reads: ``(?:...)`` is not in it
STATUS_PATTERN = "^(" + "|".join(any_case(s) for s in RUN_STATUSES) + ")$"

#: the lengths a status has, each its own: Python's ``$`` (its jsonschema's, a client's) also ends a match before a
#: final newline, so :data:`STATUS_PATTERN` alone took ``"ok\\n"``, which the server refuses. The recommended subset
#: has no end anchor exact in every engine (``\\Z`` and lookaheads are not in it) and Gemini's Schema has no ``not``:
#: a string of a status's length that the pattern takes is that status, with nothing after it
STATUS_LENGTHS = [{"type": "string", "minLength": n, "maxLength": n} for n in sorted({len(s) for s in RUN_STATUSES})]

#: the statuses as a description lists them, the schema's pattern being no list a reader (or a model) reads easily
STATUSES_LISTED = ", ".join(RUN_STATUSES[:-1]) + f" or {RUN_STATUSES[-1]}, any case"

StatusFilter = Annotated[
    Annotated[
        Literal["ok", "error", "policy_denied", "budget_exceeded", "cancelled", "running"],
        WithJsonSchema({"pattern": STATUS_PATTERN, "anyOf": STATUS_LENGTHS}),
    ]
    | None,
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
