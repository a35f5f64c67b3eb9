"""Governance: allowed models, data residency and budgets, checked before every attempt.

:class:`Governance` is the cascade's guard: :meth:`Governance.admit` runs before each attempt (the
first and every fallback hop) for the target about to be called, and raises
:class:`~magsag_mcp.errors.PolicyDenied` or :class:`~magsag_mcp.errors.BudgetExceeded`, or returns an
:class:`Admission` holding the attempt's budget reservation (both in :mod:`.attempts`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from .. import settings
from ..errors import LedgerError, PolicyDenied
from ..ledger.abandoned import give_back
from ..ledger.money import to_pusd
from ..providers.local_reach import LocalReach
from ..rates import bare_model
from ..served_models import ServedModels
from ..types import Target
from ..worst_cases import WorstCasePricing
from .attempts import Admission, AttemptContext
from .budget import Carry, Reservation, reservation_ttl, sweep_later
from .call_limit import check_call_limits
from .policy import ALSO_REFUSED_BY, BY_AGENT, Limit, Policy, PolicySet
from .policy_files import load_policies, load_policy_file, validate_policies
from .prior_attempts import carriable, shrinkable, unshrink
from .refusals import allowed_models_fix, refusal_ends_call, unpriced_refusal
from .served_memory import ServedMemory, when

__all__ = [
    "Governance",
    "AttemptContext",
    "Admission",
    "refusal_ends_call",
    "Policy",
    "PolicySet",
    "load_policies",
    "load_policy_file",
    "validate_policies",
]


class Governance:
    """``call_deadline`` is the service's ``MAGSAG_CALL_DEADLINE`` (read from ``os.environ`` when not
    given): a reservation outlives it, so none expires while its call may still be running."""

    def __init__(
        self,
        policies: PolicySet,
        ledger: Any,
        pricer: Any,
        *,
        call_deadline: float | None = None,
        env: Mapping[str, str] | None = None,
        served: ServedModels | None = None,
    ) -> None:
        self.policies = policies
        self.ledger = ledger
        self.pricer = pricer
        #: what each Azure deployment was seen serving, by this process or (read from the ledger) another: ``served``,
        #: the pricer's memory of it (one by endpoint and deployment, which sizes the reservations: the same facts),
        #: as the service passes it. Not given, a Pricer's own: a memory of Governance's own beside it went unread by
        #: the pricer that learns from each answer, and a deployment seen serving a forbidden model was not refused.
        #: A memory of its own only for a pricer that keeps none (a test's stand-in)
        if served is None and isinstance(pricer, WorstCasePricing):
            served = pricer.served
        self.served = ServedMemory(ServedModels(os.environ if env is None else env) if served is None else served)
        # what an Azure deployment's answers say it serves, which the policies check beside its name
        policies.answered_as = self.served.models
        #: where a local target's prompt goes (the pricer's, as the service opens them: one memory of what the local
        #: servers said), which the policies check a data class's glob of local models against
        reach = getattr(pricer, "local_reach", None)
        self.local_reach = reach if isinstance(reach, LocalReach) else LocalReach(os.environ if env is None else env)
        policies.off_machine = self.local_reach.judged_where
        if call_deadline is None:  # MAGSAG_CALL_DEADLINE, parsed and checked as the service parses it
            call_deadline = settings.call_deadline(os.environ if env is None else env)
        self.call_deadline = call_deadline
        self.reservation_ttl = reservation_ttl(self.call_deadline)
        #: attempts admitted with a reservation and still running, in this process
        self._running = 0
        #: reservations made for callers gone (see _drop_orphan) whose drop the ledger refused, with the run each names:
        #: the next one drops them
        self._orphans: list[tuple[int, str | None]] = []
        #: (has a run, has an agent) -> the limits that apply (see _limits); the policies never change
        self._limits_for: dict[tuple[bool, bool], tuple[list[Limit], list[Limit]]] = {}

    # --- pure checks -----------------------------------------------------------------------------

    def allowed(self, target: Target, data_class: str | Sequence[str] | None) -> tuple[bool, str | None, str | None]:
        """(allowed, policy name, reason): :meth:`PolicySet.allowed` without the rule."""
        ok, policy, reason, _rule = self.policies.allowed(target, data_class)
        return ok, policy, reason

    def data_class_models(self) -> dict[str, list[str]]:
        return self.policies.data_class_models()

    def served_refusal(self, target: Target, data_class: str | Sequence[str] | None) -> str | None:
        """What an Azure deployment's answer just said, when the model it named is one the policies forbid (see
        :meth:`PolicySet.allowed`): said beside the answer, which was paid for before anything could know."""
        ok, policy, reason, rule = self.policies.allowed(target, data_class)
        if ok or rule != "served_model":
            return None
        return (
            f"policy {policy!r} forbids {target.label} from now on: {reason}. This answer came from it; its next "
            "calls are refused"
        )

    def spend_verdict(
        self, target: Target, worst: Decimal | None, *, agent: str | None = None
    ) -> tuple[bool, str | None, str | None]:
        """(allowed, policy name, reason) of the limits for a call's first attempt at ``target`` whose
        worst case is ``worst``, before any spend is looked at: what :meth:`admit` refuses whatever was
        spent (no known price under a limit that does not allow it; a worst case above a limit's amount)."""
        limits = [lim for lim in self.policies.limits if lim.kind not in BY_AGENT or agent]
        if worst is None:
            refusal = unpriced_refusal(limits, target, self.pricer)
            return (True, None, None) if refusal is None else (False, refusal.policy, refusal.message)
        for lim in limits:
            if worst > lim.amount:
                limit = f"{lim.kind.replace('_', '-')} limit ${lim.amount:f}"
                return False, lim.policy, f"{target.label} may cost up to ${worst:f}, above the {limit}"
        return True, None, None

    def _limits(self, ctx: AttemptContext) -> tuple[list[Limit], list[Limit]]:
        """(the limits that apply to the attempt, those of them with a scope in the ledger). They depend
        only on whether it has a run and an agent, so each of the four cases is worked out once."""
        key = (bool(ctx.run_id), bool(ctx.agent))
        found = self._limits_for.get(key)
        if found is None:
            limits = [
                limit
                for limit in self.policies.limits
                if limit.kind in ("call", "day", "month")
                or (limit.kind == "run" and key[0])
                or (limit.kind in BY_AGENT and key[1])
            ]
            found = self._limits_for[key] = (limits, [lim for lim in limits if lim.kind != "call"])
        return found

    # --- the guard -------------------------------------------------------------------------------

    def served_answered(self, target: Target, model: str | None) -> None:
        """An Azure deployment's answer named the model that served it: kept in the ledger for the next process (queued,
        not waited for: see :meth:`~.served_memory.ServedMemory.answered`)."""
        if model:
            self.served.answered(self.ledger, target, model)

    def served_seen(self, target: Target, reason: str | None) -> str:
        """What a refusal by the model a deployment serves adds when another process saw it (the ledger's row):
        where, when, and how the refusal lifts."""
        for model in self.served.models(target):
            seen = self.served.seen(target, model)
            if seen is None or f"answered as {model}," not in (reason or ""):
                continue
            endpoint, at = seen
            return (
                f". Nothing was sent: the ledger records deployment {target.model!r} of {endpoint} answering as "
                f"{model} at {when(at)}, trusted until {when(at + self.served.trusted_for)}, when one call is sent to "
                f"learn again; once the deployment is re-pointed, `magsag azure forget {target.model}` lets the next "
                "call learn it now"
            )
        return ""

    async def admit(self, ctx: AttemptContext) -> Admission:
        if ctx.target.provider == "azure":
            # what the deployment was last seen serving, by any process: read before this process's first call to it
            await self.served.look(self.ledger, ctx.target)
        ok, policy, reason, rule = self.policies.allowed(ctx.target, ctx.data_class)
        if not ok:
            # a model routing chose, served by a provider MAGSAG_PROVIDER or the call named: when the policy
            # refuses routing's own target too, it refuses routing's choice, which is skipped as routing's are
            by_routing = ctx.routed is not None and not self.policies.allowed(ctx.routed, ctx.data_class)[0]
            explicit = ctx.explicit and not by_routing
            how = (
                "the call's fallbacks"
                if ctx.fallback
                else "MAGSAG_MODEL in the environment"
                if ctx.source == "env"
                else "MAGSAG_PROVIDER in the environment"
                if ctx.by_env and explicit
                else "an explicit override"
                if explicit
                else "routing"
            )
            if ctx.source == "provider_default" and explicit:
                # the model is routing's word for the provider named: where to change it is that mapping
                how += f", with the model from routing's provider_defaults.{ctx.target.provider}"
            fix = allowed_models_fix(self.policies, policy, ctx) if rule == "allowed_models" and explicit else ""
            if rule == "served_model":
                fix = self.served_seen(ctx.target, reason)
            # (the first policy's fix after its own reason, before the other policies' lines, each one its own)
            own, lines, also = (reason or "").partition(ALSO_REFUSED_BY)
            denied = PolicyDenied(
                f"policy {policy!r} forbids {ctx.target.label} (chosen by {how}): {own}{fix}{lines}{also}",
                policy=policy or "",
                rule=rule,
                target=ctx.target.label,
            )
            denied.by_routing = by_routing
            raise denied
        limits, scoped = self._limits(ctx)
        if not limits:
            return Admission(None, None) if ctx.delegated_from is None else await self._placing(ctx, None, scoped)
        target = ctx.target
        worst = self._worst_case(ctx)
        if worst is None:
            refusal = unpriced_refusal(limits, ctx.target, self.pricer)
            if refusal:
                raise refusal
            # Every limit allows it, counted at $0: its placeholder says a call of no bound is in flight all the same,
            # which another process's strict limit on the same run, agent or day refuses for (see
            # budget.unbounded_in_scope); with none, that limit could not see it. With no scoped limit there is no
            # scope to say it in (a delegated call's placement still needs one).
            if ctx.delegated_from is None and not scoped:
                return Admission(None, None)
            return await self._placing(ctx, None, scoped)
        check_call_limits(limits, ctx, worst)
        prior = ctx.prior_admissions
        if not scoped:
            return Admission(None, worst) if ctx.delegated_from is None else await self._placing(ctx, worst, scoped)
        model = bare_model(target.provider, target.model)  # as the attempt its reservation stands for is recorded
        skill = ctx.skill
        if prior:
            # An earlier attempt of the call that cost nothing (a 500 before any billed token) still holds its
            # worst case: when that covers this one's, this attempt takes its reservation over, shrunk to this
            # worst case and named after this target, with no limit read again (the hold never grew).
            held = carriable(prior, worst, scoped)
            if held is not None:
                rid = await self._carry(held, prior, worst, target.provider, model)
                if rid is not None:
                    self._running += 1
                    return Admission(rid, worst, None, True, False, True, scoped, None, ctx.run_id, held.reserved_at)
        # positional, in the parameter order: keywords to a class call build and unpack a dict (Python 3.11)
        op = Reservation(
            scoped,
            worst,
            ctx.run_id,
            ctx.agent,
            ctx.parent_run_id,
            self.reservation_ttl,
            target.provider,
            model,
            skill,
            ctx.delegated_from,
            ctx.call_id,
        )
        rid = await self._reserve(op, prior)
        return Admission(rid, worst, None, True, False, True, scoped, None, ctx.run_id, op.at)  # positional (see above)

    def _worst_case(self, ctx: AttemptContext) -> Decimal | None:
        """The most ``ctx``'s attempt may cost, as its reservation (or its placeholder's bound) holds it."""
        return self.pricer.reserved_worst_case(  # type: ignore[no-any-return]
            ctx.target,
            ctx.estimated_input_tokens,
            ctx.max_output_tokens,
            ctx.cache_ttls,
            params=ctx.params,
            picture_tokens=ctx.picture_tokens,
        )

    async def _placing(self, ctx: AttemptContext, reserved: Decimal | None, scoped: Any) -> Admission:
        """The admission of an attempt of a delegated call that no limit counts in the ledger (a model of unknown price
        every limit allows, call limits alone, no limit): a reservation all the same, counted in no limit, holding its
        worst case with no limit read (0 where none is known, marked as no bound: swept after its process died, its
        attempt is recorded with no bound, not at most $0; and refused by a limit in its scope that has nothing left,
        which counts it at $0). A delegated call's reservation checks in its own
        transaction that the run was not placed under another parent since the call read where it was, and marks it
        placed while the call is in flight (see delegation.placed_elsewhere); with none, two calls placing one new
        run under two parents both went on, and one's spend landed in the other's tree, outside its own parent's
        limit. An undelegated call's attempt of a model of unknown price under limits that all allow one holds such a
        placeholder too, so that another process's strict limit sees a call of no bound in flight (see :meth:`admit`).
        ``reserved``: what the call limit counts the attempt at, as without the reservation."""
        target = ctx.target
        worst = self._worst_case(ctx)
        # scoped is empty but for a model of unknown price that every limit allows, counting it at $0: its placeholder
        # is checked against them, and one with nothing left refuses it, as it refuses a call of any price
        op = Reservation(
            scoped,
            worst,
            ctx.run_id,
            ctx.agent,
            ctx.parent_run_id,
            self.reservation_ttl,
            target.provider,
            bare_model(target.provider, target.model),
            ctx.skill,
            ctx.delegated_from,
            ctx.call_id,
        )
        rid = await self._reserve(op, ctx.prior_admissions)
        # never carried over to the call's next attempt (whole False): it holds no limit's worst case
        return Admission(rid, reserved, None, True, False, False, scoped, None, ctx.run_id, op.at)

    async def _reserve(self, op: Reservation, prior: Sequence[Admission]) -> int:
        """Make ``op``, shrinking the call's earlier attempts' holds (``prior``) in its transaction; its id."""
        if prior:
            # The call's earlier attempts that failed for less than their worst case (a 503 costs
            # nothing) still hold that worst case until the call is recorded: held whole, it would
            # crowd this retry or fallback out of a run's, agent's or day's limit. This transaction
            # shrinks them to what they cost first (none of a transaction of its own).
            op.shrink = shrinkable(prior)
        if self._orphans:
            op.drop, self._orphans = tuple(self._orphans), []
        # Alone, the reservation is made inline: its own small transaction costs less than a trip to the
        # writer thread. With other attempts running it joins the group commit instead, where the
        # batch's reservations share one read of each scope (Reservation.apply_all) and one commit; so it
        # does behind writes still queued there (another call's release, or shrink while it waits): made
        # inline, it overtook them, read the hold whole, and a call near a limit was refused for it.
        try:
            done, rid = (False, None) if self._running or not self.ledger.writer_idle() else self.ledger.try_now(op)
            if not done:
                rid = await self._queued(op)
        except BaseException:
            if op.shrink:  # refused (or failed) alone, the shrink was rolled back with it: the next one makes it
                unshrink(prior, op.shrink)
            if op.drop:  # (rolled back too, or made: a drop of a reservation gone does nothing)
                self._orphans += op.drop
            if op.swept:  # its sweep of abandoned reservations, rolled back with it: made on its own
                sweep_later(self.ledger)
            raise
        self._running += 1
        return rid  # type: ignore[return-value]

    async def _carry(
        self, held: Admission, prior: Sequence[Admission], worst: Decimal, provider: str, model: str
    ) -> int | None:
        """Hand ``held``'s reservation on to the attempt at ``provider:model`` (see :class:`~.budget.Carry`) and return
        its id; None when its row is gone (expired and recorded as abandoned): a new reservation is made then. Made
        inline or through the group commit as a reservation is (see :meth:`admit`), and waited for: a write queued
        behind it (a shrink of this hold for a retry's wait) must not be overtaken, or the hold would grow back."""
        rid = held.reservation_id
        held.reservation_id, held.whole = None, False  # handed on: no shrink or release of the earlier attempt's
        op = Carry(rid, to_pusd(worst) or 0, provider, model, self.reservation_ttl)  # type: ignore[arg-type]
        op.shrink = shrinkable(prior)  # the call's other attempts settled below their worst case, in its write
        try:
            done, found = (False, 0) if self._running or not self.ledger.writer_idle() else self.ledger.try_now(op)
            if not done:
                found = await self.ledger.submit(op, durable=False)
        except BaseException:
            held.reservation_id = rid  # its record names it: the call's record drops it (not whole: it may be written)
            unshrink(prior, op.shrink)
            raise
        if not found:
            held.reservation_id = rid
            return None
        return rid

    async def _queued(self, op: Reservation) -> int:
        """``op`` through the group commit. The writer makes a queued reservation even if its caller was
        cancelled meanwhile; nobody would then hold its id and it would block budget until it expired,
        so the ledger hands it back to be dropped."""
        return await self.ledger.submit(op, durable=False, orphaned=lambda rid: self._drop_orphan(rid, op.run_id))

    def _drop_orphan(self, reservation_id: int, run_id: str | None) -> None:
        """Drop a reservation made for a caller gone (cancelled while it waited, most often for a lock another process
        held). Refused (that lock held again past the busy timeout), the drop was forgotten: the reservation held its
        worst case until it expired, then became an "abandoned" attempt of unknown cost, "the provider may bill it",
        for a request never sent. It is now made with this process's next reservation, before that reads the
        limits, or at close. ``run_id``: the run its attempt would have been recorded under, which names the stand-in
        of it a sweep may record meanwhile (the process suspended past its expiry), taken back with it."""
        held: list[tuple[int, str | None]] = [(reservation_id, run_id)]

        def kept_out(_: BaseException) -> None:
            self._orphans += held

        try:
            self.ledger.enqueue(lambda conn: give_back(conn, held), durable=False, failed=kept_out)
        except LedgerError:
            pass  # the ledger closed first: the reservation then expires on its own

    async def drop_orphans(self) -> None:
        """At close, those :meth:`_drop_orphan` left to a next reservation (still refused, they expire)."""
        ids, self._orphans = self._orphans, []
        if ids:
            with contextlib.suppress(LedgerError):
                await self.ledger.submit(lambda conn: give_back(conn, ids), durable=False)

    @property
    def reservations_in_flight(self) -> int:
        """Attempts admitted with a budget reservation and still running, in this process (read by /metrics)."""
        return self._running

    def _ended(self, admission: Admission) -> None:
        if admission.running:
            admission.running = False
            self._running -= 1

    async def settle(self, admission: Admission, actual_cost: Decimal | None, bound: Decimal | None = None) -> None:
        """The attempt's real cost. Its reservation is replaced by it when the attempt is recorded (one
        transaction), which is when its call ends; a retry or fallback of the same call shrinks it to
        that cost before then, in its own reservation's transaction (see :meth:`admit`). ``bound``: an unknown
        cost's bound as its record counts it, which the call limit counts the attempt at where it is above the
        reservation (a cut stream's counted prompt), for the rest of the call."""
        admission.actual_usd = actual_cost
        reserved = admission.reserved_usd
        if actual_cost is None and bound is not None and reserved is not None and bound > reserved:
            admission.bound_usd = bound
        self._ended(admission)

    def waiting(self, admission: Admission) -> None:
        """The attempt failed and its call waits before trying again: a reservation held at the attempt's
        worst case through the wait (the backoff, or a server's Retry-After) would refuse other calls near a
        limit for spend that never happened (a 429 costs nothing). It is shrunk to the attempt's cost now,
        on the event loop when the write lock is free (else in the next group commit); the retry's own
        reservation shrinks it again in its transaction, so that one is never read unshrunk. An attempt of unknown
        cost whose bound is above its reservation (see :meth:`settle`) is held at that bound now, as the retry's
        reservation holds it: held at its reservation through the wait, other calls took what it may have cost."""
        rid, reserved, actual = admission.reservation_id, admission.reserved_usd, admission.actual_usd
        if rid is None or admission.shrunk or reserved is None:
            return
        if actual is None:
            if admission.bound_usd is None:
                return
            amount = to_pusd(admission.bound_usd) or 0
        elif actual < reserved:
            amount = to_pusd(actual) or 0
        else:
            return
        admission.whole = False  # shrunk now or soon: what it frees meanwhile may be spent by other calls

        def shrink(conn: Any) -> None:
            conn.execute("UPDATE budget_reservations SET amount_pusd = ? WHERE id = ?", (amount, rid))

        try:
            if not self.ledger.try_now(shrink)[0]:
                self.ledger.enqueue(shrink, durable=False)
        except (LedgerError, sqlite3.Error):
            # A ledger that cannot be written (closed, or a raw disk error on this inline write): the shrink
            # is a courtesy to other calls (a hold raised to its bound is raised by the retry's own reservation too,
            # as before), and the retry's own reservation meets the same error, converted.
            pass

    async def release(self, admission: Admission) -> None:
        """Drop a reservation whose attempt will never be recorded: nothing was sent (a progress callback
        raised, or the caller was cancelled before sending), or the caller that asked for it is gone."""
        self._ended(admission)
        if admission.reservation_id is not None:
            rid, admission.reservation_id = admission.reservation_id, None
            held = [(rid, admission.run_id)]  # (a stand-in of it, should a sweep have recorded it, goes too)
            try:
                # not durable (see submit): lost to a power cut, the hold (or the stand-in) stays, counted as before
                await self.ledger.submit(lambda conn: give_back(conn, held), durable=False)
            except LedgerError:  # (a lock): dropped as a refused orphan's drop is, not left to expire into a stand-in
                self._orphans += held  # call beside the call's own record, at its worst case (see _drop_orphan)
                raise

    # --- status ----------------------------------------------------------------------------------

    async def check_budget(
        self, agent: str | None = None, run_id: str | None = None, parent_run_id: str | None = None
    ) -> dict[str, Any]:
        """Each limit that applies: limit, spent, reserved, remaining, status (see :func:`.status.budget_status`)."""
        from .status import budget_status

        return await budget_status(self.policies, self.ledger, agent, run_id, parent_run_id)
