"""Which of a plan's targets a cascade passes over, and why: the skips a call tells and records (no key, no endpoint,
a feature the target lacks, a context window no larger than one already too small), and whether any target after a
position would still be tried (what a retry's wait and a resting target ask before they decide to wait).

A mixin of :class:`~magsag_mcp.cascade.Cascade`, apart from its flow of one call: it reads the cascade's providers,
pricer and guard and changes nothing. ``explain_route`` asks the same questions of it without a call."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .attempt_cost import Pricing, refused_whatever_was_spent
from .cascade_report import CascadeState
from .errors import (
    ConfigError,
    ContextTooLongError,
    NotConfiguredError,
    ProviderConnectionError,
    ProviderError,
    UnsupportedFeatureError,
)
from .predictions import unsent_prediction
from .providers import ProviderSet
from .providers.capabilities import cannot_honour
from .providers.local_reach import UnreachedSlowly
from .routing import Candidate, Plan
from .types import Target

if TYPE_CHECKING:
    from .cascade_guard import Guard


class TargetSkips:
    providers: ProviderSet
    pricer: Pricing
    guard: Guard | None

    def _left(self, plan: Plan, position: int, state: CascadeState, agent: str | None) -> Callable[[], bool]:
        """What asks, when a wait needs it, whether another target would be tried after ``position`` in a call of
        ``agent``."""
        return lambda: self._another_target_left(plan, position, state, agent)

    def _allowed(self, target: Target, plan: Plan, agent: str | None = None) -> bool:
        """Whether the policy allows ``target`` for this call (the guard's check; no guard: no policy), and no cost
        limit refuses it whatever was spent (no known price, a worst case above a limit, ``agent``'s daily limit among
        them for a call of an agent, as its admission reads them: read from no ledger). A resting target either refuses
        is refused at once rather than left for its rest: its admission after the wait would refuse it all the same."""
        if self.guard is not None and not self.guard.allowed(target, plan.data_classes)[0]:
            return False
        return refused_whatever_was_spent(self.guard, self.pricer, target, plan.request_for(target), agent) is None

    def _server_not_running(
        self, target: Target, plan: Plan, another_left: Callable[[], bool], *, come_back: bool = False
    ) -> ProviderConnectionError | None:
        """The error of a local target the policies refuse only because its server could not be reached to ask where
        it runs the model (:class:`~.providers.local_reach.Unreached`: most often not started), or None. The call
        could not have reached it either: skipped as that, it fails (or moves on) as a call to a server not running
        does, naming that fix (`ollama serve`), not as a policy's refusal naming the policy's fixes, which would not
        help. Nothing is sent either way; a refusal for another reason is the policy's, as it was. One the policies
        allow whose server could not be reached all the same is skipped as that too, where another target is left
        (``another_left``), or where it was found down after a wait (:class:`~.providers.local_reach.UnreachedSlowly`),
        but for a target ``come_back`` to: its retry, the call's own choice, is made as a retry on the last target is
        (skipped as the server its own first try found down, nothing was sent).
        """
        provider: Any = self.providers.get(target.provider)  # (the local provider, where it has unreached_error)
        said = getattr(provider, "unreached_error", None)
        if said is None:
            return None
        policies = None if self.guard is None else self.guard.policies  # (no guard: no policy refuses it)
        why = None if policies is None else policies.unreached_refusal(target, plan.data_classes)
        if why is None:
            # allowed whatever the server says (the policies name it itself), its server not reached all the same,
            # this call (or, found after a wait, lately: see local_reach.DOWN_FOR_S): sent, it connected a second
            # time to be refused again. Sent still where no other target is left, whose retries are for a server
            # restarting (see transport_failures.on_loopback)
            why = provider.unreached(target)
            if why is None or (policies is not None and not policies.allowed(target, plan.data_classes)[0]):
                return None
            if isinstance(why, UnreachedSlowly):
                if come_back:
                    return None
                down: ProviderConnectionError = provider.down_error(target, why)
                return down
            if not another_left():
                return None
            named: ProviderConnectionError = said(target, why.server_words, asked_for_glob=False)
            return named
        error: ProviderConnectionError = said(target, why.server_words)
        return error

    def _another_target_left(self, plan: Plan, position: int, state: CascadeState, agent: str | None = None) -> bool:
        """Whether a candidate after ``position`` would be tried in a call of ``agent``: not skipped for lack of a
        key, an endpoint, a feature or a large enough window, allowed by policy (models, residency), and not refused
        by a cost limit whatever was spent (:meth:`_allowed`). One a cost limit refuses outright is no target left: a
        resting target passed over for it was come back to after the refusals, and after the same wait. What was
        spent is not asked: that needs the ledger, and a reservation may be released meanwhile."""
        return any(
            cand.refused is None
            and self.skip_reason(cand, plan, agent) is None
            and self._window_skip(state, cand.target) is None
            and self._allowed(cand.target, plan, agent)
            for cand in plan.candidates[position + 1 :]
        )

    def _window_skip(self, state: CascadeState, target: Target) -> tuple[str, ProviderError] | None:
        """After "context too long", only a target with a larger known window is worth a try."""
        if not state.too_long:
            return None
        window = self.pricer.context_window(target.provider, target.model)
        if window is None:
            return None  # unknown: it may be larger, so it is tried
        for small in state.too_long:
            small_window = self.pricer.context_window(small.provider, small.model)
            if small_window is not None and window <= small_window:
                reason = (
                    f"its context window ({window:,} tokens) is no larger than that of {small.label} "
                    f"({small_window:,}), which was too small for this request"
                )
                return reason, ContextTooLongError(reason, provider=target.provider, model=target.model)
        return None

    def skip_reason(self, cand: Candidate, plan: Plan, agent: str | None = None) -> tuple[str, ProviderError] | None:
        """Why a target is not tried at all, and the error that stands for it when no target answers:
        the provider's own (no key: :class:`AuthenticationError`; no endpoint:
        :class:`NotConfiguredError`), or :class:`UnsupportedFeatureError` for a feature it lacks. ``agent``: the
        call's, whose daily limit is among the cost limits a target not configured is said to meet once it is."""
        target = cand.target
        try:
            provider = self.providers.get(target.provider)
        except ConfigError as exc:
            return exc.message, NotConfiguredError(exc.message, provider=target.provider, model=target.model)
        err = provider.unavailable_error(target)
        missing: list[str] = []
        # a routing target MAGSAG_PROVIDER swapped onto another provider keeps its params, which parsing checked for
        # the provider it named: its prediction may now go to an API without the field
        unsent = unsent_prediction(target) if target.params else None
        if err is None and unsent is None:
            # asked of every target of every call, and most calls need no feature a target may lack: a configured
            # target is then passed without its capabilities or the guard's policy check looked up (~500 ns a target)
            needs = plan.request.needs()
            if not needs:
                return None
            missing = provider.capabilities(target).missing(needs)
            if not missing:
                return None
        elif err is None:
            missing = provider.capabilities(target).missing(plan.request.needs())
        if self.guard is not None and not self.guard.allowed(target, plan.data_classes)[0]:
            return None  # forbidden however it is configured: the guard refuses it, naming the policy
        if err is not None:
            # a cost limit that refuses it once configured too (its price unknown, its worst case above a limit) is
            # named beside the fix: told only one, the user who made the fix is refused for the other on the next call
            costly = refused_whatever_was_spent(self.guard, self.pricer, target, plan.request_for(target), agent)
            return f"not configured: {err.message}" + (f"; once it is, {costly}" if costly else ""), err
        if missing:
            reason = cannot_honour(missing)
            return reason, UnsupportedFeatureError(reason, provider=target.provider, model=target.model)
        if unsent is not None:
            return unsent, UnsupportedFeatureError(unsent, provider=target.provider, model=target.model)
        return None
