"""The cascade's side of governance: the :class:`Guard` it asks before each try (policy, then a worst-case budget
reservation) and settles after, the :class:`~.governance.AttemptContext` it asks with (:func:`attempt_context`), and
what the ledger refusing a reservation's write (another process holding its lock) leaves in the caller's error: a
reservation not made (:func:`reservation_refused`), or one not given back (:func:`release_unrecorded`).

A refusal by a policy or a limit is the cascade's own flow (a skip, or the call's end: see
:func:`~.governance.refusal_ends_call`); the refusals themselves are :mod:`.governance`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .attempt_cost import input_tokens_reserved_parts, marked_ttls, output_tokens_reserved
from .cascade_errors import all_failed
from .cascade_report import CascadeState, record_skip
from .errors import AllTargetsFailed, LedgerError, MagsagError, redacting_logger
from .governance import AttemptContext  # (here: imported in attempt_context, ~5,700 instructions an attempt)
from .routing import Candidate, Plan
from .types import LLMRequest, Target

if TYPE_CHECKING:
    from .governance.policy import PolicySet

log = redacting_logger("magsag_mcp.cascade")


@runtime_checkable
class Guard(Protocol):
    """What the cascade asks before each try and tells after it (:class:`~.governance.Governance`, or None: no
    policy and no limit): ``admit`` (a policy, then a reservation at the try's worst case), ``settle`` (at what it
    cost), ``release`` (a hold no record will carry), ``waiting`` (a hold shrunk to its cost while a retry waits).

    And what it asks of a target with no attempt (which targets are left, which one is cached, why one is skipped):
    ``allowed`` (the policies' verdict), ``spend_verdict`` (a cost limit's, whatever was spent) and ``policies``
    (their ``unreached_refusal`` of a local target whose server was not reached). Each is required: a guard without
    one had that check passed over, unsaid; a guard under no policy answers each that nothing is refused."""

    policies: PolicySet

    async def admit(self, ctx: Any) -> Any: ...
    async def settle(self, admission: Any, actual_cost: Decimal | None, bound: Decimal | None = None) -> None: ...
    async def release(self, admission: Any) -> None: ...
    def waiting(self, admission: Any) -> None: ...
    def allowed(
        self, target: Target, data_class: str | Sequence[str] | None
    ) -> tuple[bool, str | None, str | None]: ...
    def spend_verdict(
        self, target: Target, worst: Decimal | None, *, agent: str | None = None
    ) -> tuple[bool, str | None, str | None]: ...


def attempt_context(
    plan: Plan,
    cand: Candidate,
    request: LLMRequest,
    run_id: str,
    agent: str | None,
    parent_run_id: str | None,
    admissions: list[Any],
    delegated_from: str | None = None,
    call_id: str | None = None,
) -> Any:
    """What the guard is asked to admit for a try of ``cand``: the call's run, agent and skill, the target and the
    tokens its reservation is made for, where the target came from, and this call's ``admissions`` so far (the call
    limit bounds its retries and fallback hops together)."""
    tokens_in, pictures = input_tokens_reserved_parts(request, cand.target)
    # positional, in the field order: a class called with keywords builds and unpacks a dict of them
    # (Python 3.11), several microseconds for a class this size, on every attempt
    return AttemptContext(
        run_id,
        agent,
        plan.skill_id,
        plan.data_classes,  # data_class
        cand.target,
        tokens_in,  # estimated_input_tokens
        output_tokens_reserved(request, cand.target),  # max_output_tokens
        cand.explicit,
        cand.source,
        parent_run_id,
        tuple(admissions),  # prior_admissions
        cand.by_env,
        cand.routed,
        delegated_from,
        call_id,
        cand.fallback,
        marked_ttls(request, cand.target),  # cache_ttls
        request.extra,  # params
        pictures,  # picture_tokens
    )


async def release_unrecorded(guard: Any, admission: Any, target: Target, error: BaseException) -> None:
    """Give back the reservation of an attempt that ended in ``error`` and that no record carries (a caller's error,
    an interpreter exit). A write of its own, which a lock another process holds past the busy timeout refuses: the
    caller still gets ``error`` (the cascade raises it on), the refusal kept in it (``release_error``, a note) and
    logged. In its place, the ledger's "stayed locked; retry" hid what to fix, and a retry met the same lock. The
    reservation is then dropped by the process's next reservation or its close (see ``Governance.release``)."""
    held = getattr(admission, "reservation_id", None)  # (release forgets it before its write)
    try:
        await guard.release(admission)
    except LedgerError as refused:
        said = (
            f"the budget reservation of its attempt at {target.label} was not given back ({refused.message}): it "
            "counts against the budget limits until this process's next reservation or its close gives it back (or, "
            "should neither write pass, it expires)"
        )
        log.warning("reservation %s, of an attempt that ended in %s: %s", held, type(error).__name__, said)
        error.add_note(said)
        if isinstance(error, MagsagError):
            error.details["release_error"] = refused.to_dict()


def reservation_refused(
    state: CascadeState,
    position: int,
    target: Target,
    try_number: int,
    refused: LedgerError,
) -> AllTargetsFailed:
    """The error of a call whose retry or fallback the ledger could not reserve (another process held its lock past
    the busy timeout) after an attempt of it failed: that attempt's error, as when no target is left, the target not
    sent recorded as skipped and the refusal kept in the error (``reservation_error``, a note) and logged. The
    ledger's "stayed locked; retry" in its place hid what happened to the call (the vendor's 500, a timeout), which
    the caller read nowhere but in the ledger."""
    why = f"not sent: its budget reservation could not be made ({refused.message})"
    record_skip(state, position, target, why, None, None, try_number=try_number)
    error = all_failed(state.plan, state, state.last_error)
    error.details["reservation_error"] = refused.to_dict()
    said = f"{target.label} was not tried: its budget reservation could not be made ({refused.message})"
    error.add_note(said)
    log.warning("run %s: %s", state.run_id, said)
    return error
