"""What an attempt carries through governance: the :class:`AttemptContext` the cascade hands
:meth:`~magsag_mcp.governance.Governance.admit` before each attempt, and the :class:`Admission` it gets back, which
holds the attempt's budget reservation until it is settled or released. Apart from the guard so that the modules that
read a call's earlier admissions (prior_attempts) or word a refusal of its target (refusals) need not import it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..types import Target


@dataclass(slots=True)
class Admission:
    reservation_id: int | None
    #: the attempt's worst case, when a limit applied and its price is known
    reserved_usd: Decimal | None
    #: the real cost, once settled
    actual_usd: Decimal | None = None
    #: its attempt holds a reservation and has not been settled or released yet
    running: bool = False
    #: settled below its worst case, and its reservation shrunk to that in the ledger (see Governance.admit)
    shrunk: bool = False
    #: its reservation has held its whole worst case since it was made: nothing shrank it, not even for a
    #: moment (a shrink rolled back may have freed budget meanwhile), so the call's next attempt may take it over
    whole: bool = False
    #: the limits its reservation counts in (see :meth:`~magsag_mcp.governance.Governance._limits`): only an attempt
    #: counted in the same ones may take it over
    scoped: Any = None
    #: settled at an unknown cost: the bound its record counts it at, when above reserved_usd (a stream cut after its
    #: vendor counted a prompt dearer than the reservation estimated: see attempt_cost.cut_in_flight)
    bound_usd: Decimal | None = None
    #: the run its attempt is recorded under, which names the sweep's stand-in for its reservation should that expire
    #: first (see :meth:`~magsag_mcp.governance.Governance.release`)
    run_id: str | None = None
    #: the wall-clock time its reservation was made at, which chose the day and month its limits read (see sent_at)
    reserved_at: float | None = None


def sent_at(admission: Any, wall: float) -> float:
    """The time an attempt admitted with ``admission`` is recorded as started at, its clock reading ``wall`` as it is
    sent: never before its reservation was made. The attempt's spend lands in the day (and month) of that time, and the
    reservation was checked against the windows of its own: a wall clock set back between the two (NTP stepping it, a
    laptop's clock corrected) put the spend in a day whose limit never counted it (reserved at 00:00:05, sent at
    23:59:55 the day before, whose limit it passed). A later day's limit counted the call while it was in flight (every
    open reservation counts in every window), so a spend landing at or after its reservation's time is within every
    limit that reservation was checked for."""
    at = getattr(admission, "reserved_at", None)
    return at if at is not None and wall < at else wall


@dataclass(slots=True)
class AttemptContext:
    run_id: str
    agent: str | None
    skill: str | None
    #: the call's data classes (the skill's, then the caller's if it declared a different one)
    data_class: str | Sequence[str] | None
    target: Target
    estimated_input_tokens: int
    max_output_tokens: int
    explicit: bool
    #: where the target came from (route_resolution.Source): "env" is MAGSAG_MODEL, "call" the call's own override,
    #: "provider_default" routing's provider_defaults for a provider MAGSAG_PROVIDER or the call named
    source: str | None = None
    #: the run this one was delegated from: its run limit is the one that applies
    parent_run_id: str | None = None
    #: the admissions of this call's earlier attempts (retries and fallback hops), so the call limit
    #: bounds the whole call: each counts at its settled cost (a rejected request settles at 0, an
    #: unusable answer at its billed tokens), or at its worst case while its cost is unknown
    prior_admissions: Sequence[Admission] = ()
    #: chosen by the environment: MAGSAG_MODEL (source "env") or MAGSAG_PROVIDER over routing's models
    by_env: bool = False
    #: the routing policy's own target this one serves under another provider (routing.Candidate.routed)
    routed: Target | None = None
    #: the parent the call named, whose top run is ``parent_run_id``: the reservation checks again that the run is not
    #: placed elsewhere (see delegation.placed_elsewhere)
    delegated_from: str | None = None
    #: the call's id (see Service.invoke_skill), which its reservations carry: check_budget counts calls by it
    call_id: str | None = None
    #: one of the call's own fallbacks (routing.Candidate.fallback): a refusal names them as what chose it
    fallback: bool = False
    #: the times to live the request's cache markers ask (attempt_cost.marked_ttls), which its worst case holds the
    #: writes at; None: the target's params say (a context made without its request)
    cache_ttls: frozenset[str] | None = None
    #: the vendor params its request sends (LLMRequest.extra: the call's own, the target's filling what it left open),
    #: where its worst case reads where inference is asked to run and the tier (worst_cases.request_asks); None: the
    #: target's params say (a context made without its request)
    params: Mapping[str, Any] | None = None
    #: the part of ``estimated_input_tokens`` that is pictures, at the most their vendor bills
    #: (attempt_cost.input_tokens_reserved_parts): its worst case adds them once to the reach of the text's estimate
    picture_tokens: int = 0
