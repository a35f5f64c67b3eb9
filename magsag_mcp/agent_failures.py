"""What the ledger records of an agent run whose entrypoint raised (:func:`agent_failure`).

A run's row is made of its calls' records, so an agent that raised after calls that all succeeded (its SAG failed, its
own code broke) showed as ``ok``, and one that raised before any call showed nowhere. The runner has the service record
the run's end once its entrypoint raised: failed (``error``, or a governance refusal's own status), or ``cancelled``,
with the error said once here; a run that succeeds costs no record of its own. The caller gets the agent's exception
as it was raised: the error made here is the record's alone.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import AgentError, MagsagError
from .invoke_result import run_status


@dataclass(slots=True, frozen=True)
class FailedRun:
    """A run of an agent (run by another agent) whose entrypoint raised, as it was recorded: what it raised, the
    agent, its kind (``sag``, ``mag``), its run and the error recorded (None: cancelled, or not recorded)."""

    exc: BaseException
    agent: str
    kind: str
    run_id: str
    error: MagsagError | None


class _RecordedError(AgentError):
    """The error an agent's run is recorded with, of the kind of the error it ended with (a failed call's the agent let
    go on keeps its own: ``authentication_error``, ``budget_exceeded``, ...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)  # (redacted there, as every error's message is)
        self.kind = kind  # type: ignore[misc]


def cancelled(exc: BaseException) -> bool:
    """Whether ``exc`` stopped the agent as a cancellation (``arun``'s caller gave up, Ctrl-C, an exit), not as a
    failure: the agent's calls refused once its run was cancelled raise ``concurrent.futures.CancelledError``."""
    return isinstance(exc, concurrent.futures.CancelledError) or not isinstance(exc, Exception)


def agent_error_message(agent_id: str, exc: BaseException) -> str:
    """``agent 'my-sag' raised KeyError: 'data'``: an exception of the agent's own code, as its run's record and
    ``magsag run`` say it (redacted by whoever shows it)."""
    try:
        text = str(exc)
    except Exception:  # an exception whose __str__ itself fails: its class still says what it was
        text = "(its message could not be read)"
    return f"agent {agent_id!r} raised {type(exc).__name__}: {text}"


def agent_failure(
    agent_id: str, exc: BaseException, delegated: Sequence[FailedRun] = ()
) -> tuple[str, MagsagError | None]:
    """The status and error of the run of ``agent_id`` whose entrypoint raised ``exc``: cancelled with no error, as a
    cancelled call's run is; a failed call's error (a ``MagsagError``) with its own kind and status; any other as an
    ``agent_error`` naming the exception's class. ``delegated``: the runs of agents it ran that failed; where ``exc``
    is the error of one of them, or was raised from one (its cause or context), the message names that run and its
    error: a MAG failed by its SAG says so, not only what the SAG's call said."""
    if cancelled(exc):
        return "cancelled", None
    if isinstance(exc, MagsagError):
        status, kind, message = run_status(exc), exc.kind, exc.message
    else:
        status, kind, message = "error", AgentError.kind, agent_error_message(agent_id, exc)
    failed = _delegated_cause(exc, delegated)
    if failed is not None and failed.error is not None:
        named = f"{failed.kind.upper()} {failed.agent!r} (run {failed.run_id!r}) failed: {failed.error.message}"
        message = named if failed.exc is exc else f"{message}; after {named}"
    return status, _RecordedError(kind, message)


def _delegated_cause(exc: BaseException, delegated: Sequence[FailedRun]) -> FailedRun | None:
    """The failed run among ``delegated`` whose exception is ``exc`` or one it was raised from (the latest first)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while delegated and current is not None and id(current) not in seen:
        seen.add(id(current))
        for failed in reversed(delegated):
            if failed.exc is current:
                return failed
        cause = current.__cause__
        current = cause if cause is not None or current.__suppress_context__ else current.__context__
    return None
