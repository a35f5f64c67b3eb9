"""The targets left alone by the calls that follow, across calls, and until when: those whose server named a wait
(a 429's or a 503's ``Retry-After``, a spent quota's reset: see :mod:`.cascade_waits` for what a call does about one),
and those the circuit breaker left alone after calls in a row that they failed with an error saying their server is
unwell (see
:mod:`.breaker`). One map of rests serves both, so that a call skips either the same way, at no cost, saying why, and
``explain_route`` says either."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .breaker import BreakerPolicy, unwell
from .durations import seconds
from .errors import ProviderError, ProviderTimeoutError, excerpt
from .plurals import counted
from .types import Target

#: the longest a target is left alone, whatever it asked: a day's quota (Azure's "retry after 86400 seconds") is
#: asked again after this, in case it was raised meanwhile (one refused request, not every call's)
LONGEST_REST = 600.0
#: the most targets kept resting (calls may name endpoints of their own): past it, those whose rest has passed are
#: forgotten, then, while every one is still live, the one nearest its end (see TargetRests.note)
_PRUNE_AT = 256

_Key = tuple[str, str, "str | None"]
#: what a call's failure did to the circuit breaker: nothing, opened it (the call had given the target up: the rest is
#: for the calls that follow), or opened it again on the failure of its probe (not retried: one request was all the
#: probe was to send)
Tripped = Literal["", "opened", "reopened"]


@dataclass(slots=True)
class _Rest:
    """What a refusal said, kept without the exception (whose traceback holds its call's frames, and their answer)."""

    since: float
    until: float
    asked: float
    kind: type[ProviderError]
    retryable: bool
    said: str
    #: the quota that refused it, where that, not a wait, says how long it rests (see ProviderError.rest)
    quota: str | None = None
    #: a 429 taken for a spent quota by its wait alone (see ProviderError.quota_by_wait): the call failing on its rest
    #: names the cap that would wait it, as the call it refused did (see rest_wait)
    by_wait: bool = False
    #: left alone by the circuit breaker, not by its server's word: the breaker's trips in a row (0: a named wait)
    tripped: int = 0
    #: the calls in a row that failed at it that opened the breaker (a failed probe is one more)
    failures: int = 0
    #: the call sending it now, the breaker's rest over (the probe; None: no call is): ``until`` is when that call's
    #: deadline ends, after which, its answer never noted (a call stopped in a way the cascade missed), the next call
    #: sends it; a call stopped before its answer (cancelled, its callback raising, its reservation refused) hands it
    #: on at once. Only this call's failure decides the probe: another call sending it meanwhile (one with no other
    #: target, sent all the same) neither closes the breaker by a refusal of its own request nor opens it again
    prober: object | None = None
    #: a failed probe's rest lengthened to the wait its server named (a 503's ``Retry-After`` longer than the breaker's
    #: rest): still the breaker's, probed by one call when it is over; meanwhile its server's word, which a call with no
    #: other target waits out (see rest_wait), not a cooldown of ours that it sends all the same
    by_server: bool = False

    @property
    def sent_all_the_same(self) -> bool:
        """Whether a call with no other target sends it once all the same: a rest of the breaker's (``tripped``), its
        cooldown our guess, not its server's word; a rest its server's wait lengthened is waited out as any wait it
        named, while no call probes it."""
        return bool(self.tripped) and (self.prober is not None or not self.by_server)


@dataclass(slots=True)
class _Health:
    """The calls in a row that gave a target up on an error saying its server is unwell (one each, whatever its
    tries: see TargetRests.gave_up), and the breaker's trips since it last answered."""

    failures: int = 0
    trips: int = 0


class TargetRests:
    """The targets left alone, and until when (on the cascade's clock): for the wait their server asked for, or by the
    circuit breaker (``breaker``; ``probe_hold``: how long a probe may take, the call's deadline)."""

    __slots__ = ("_rests", "breaker", "failing", "probe_hold")

    def __init__(self, breaker: BreakerPolicy | None = None, probe_hold: float = 300.0) -> None:
        self._rests: dict[_Key, _Rest] = {}
        self.breaker = breaker if breaker is not None else BreakerPolicy()
        self.probe_hold = probe_hold
        #: the targets that failed calls in a row (asked on every answer, as ``if rests.failing``: most often empty)
        self.failing: dict[_Key, _Health] = {}

    def note(
        self,
        target: Target,
        exc: ProviderError,
        now: float,
        counted: set[_Key] | None = None,
        call: object | None = None,
    ) -> Tripped:
        """``target`` refused a try of ``call`` with ``exc``: left alone for the wait it names, if it names one; and,
        were ``call`` the breaker's probe (the one :meth:`resting` let send it), the breaker closed or opened again
        (what that did is returned; the probe's failure counted, its key goes into its call's ``counted``, see
        :meth:`gave_up`). Another call's try during the probe decides nothing of it. The breaker counts a call's
        failures once the call gives the target up (:meth:`gave_up`), not at each try."""
        key = (target.provider, target.model, target.base_url)
        # (before the wait's rest: a probe's claim is on the rest that a named wait may replace)
        rest = self._rests.get(key)
        probe = rest is not None and rest.prober is not None and rest.prober is call and self.breaker.failures
        opened = self._probed(key, exc, now) if probe else ""
        if opened and counted is not None:
            counted.add(key)
        wait, quota = exc.rest if exc.rest is not None else (exc.retry_after, None)
        if wait is None or not wait > 0:
            return opened
        until = now + min(wait, LONGEST_REST)
        rest = self._rests.get(key)
        if opened and rest is not None and rest.until < until:
            # a failed probe whose server named a longer wait: the breaker's rest, for that wait. Not retried after it
            # (a probe is one request, and the call has its next target), and probed by one call when it is over,
            # where the server's own rest let every call send it at once
            rest.until, rest.asked, rest.by_server = until, until - now, True
            return opened
        if rest is None or rest.until < until:
            if rest is None and len(self._rests) >= _PRUNE_AT:
                self._make_room(now)
            said = excerpt(exc.message, 300)
            self._rests[key] = _Rest(now, until, wait, type(exc), exc.retryable, said, quota, exc.quota_by_wait)
            opened = ""  # (its server's wait rests it, longer than the breaker would)
        return opened

    def gave_up(self, target: Target, exc: ProviderError, now: float, counted: set[_Key] | None = None) -> Tripped:
        """A call gave ``target`` up after ``exc``, its last failure there (its retries spent, or its next target tried
        after it): if ``exc`` says the server is unwell, that call is one more in a row that failed at it, whatever
        its tries before (a 500 then a 400 counts nothing; a 429 then a 500, one), and the breaker opens at the
        policy's count ("opened" returned). The count is of calls, not tries: one call's retries are its own, and a
        single bad moment did not leave the target alone, without retries, for every call of the next cooldown. A call
        stopped before it gave the target up (cancelled mid-tries, its deadline cutting a try, which is not the
        server's failure: see :func:`~.breaker.unwell`) counts nothing; nor does a failed probe, counted as it failed
        (:meth:`note`). ``counted``: the keys its call was counted at already (a failed probe; a target come back to;
        another target of the same model and endpoint, with other params), not counted again; this one added."""
        if not self.breaker.failures or not unwell(exc):
            return ""
        key = (target.provider, target.model, target.base_url)
        if counted is not None:
            if key in counted:
                return ""
            counted.add(key)
        health = self._health(key)
        health.failures += 1
        rest = self._rests.get(key)
        if health.failures < self.breaker.failures or (rest is not None and rest.until > now):
            return ""  # (below the count, or left alone already: a call with no other target sent it anyway)
        return self._tripped(key, health, exc, now, "opened")

    def _probed(self, key: _Key, exc: ProviderError, now: float) -> Tripped:
        """The breaker's probe of ``key`` failed with ``exc``: one that says the server is unwell opens it again at
        once (for twice the rest before); another error closes it, where its server answered (a 400, a 429: it is up),
        or leaves the probe to the next call, where nothing reached it or its call's own deadline cut it (the caller's
        time, no answer: as a probe whose call was cancelled)."""
        if not unwell(exc):
            if exc.reached and not (isinstance(exc, ProviderTimeoutError) and exc.call_deadline):
                self._closed(key)
            else:
                self._unclaimed(key, now)
            return ""
        health = self._health(key)
        health.failures += 1
        return self._tripped(key, health, exc, now, "reopened")

    def _health(self, key: _Key) -> _Health:
        health = self.failing.get(key)
        if health is None:
            if len(self.failing) >= _PRUNE_AT:  # (the targets left alone kept: their trips set their next rest)
                self.failing = {k: h for k, h in self.failing.items() if k in self._rests}
            health = self.failing[key] = _Health()
        return health

    def _tripped(self, key: _Key, health: _Health, exc: ProviderError, now: float, how: Tripped) -> Tripped:
        """The breaker opens on ``key`` after ``exc``, for the rest of its trips in a row."""
        health.trips += 1
        cooldown = self.breaker.rest_for(health.trips)
        if key not in self._rests and len(self._rests) >= _PRUNE_AT:
            self._make_room(now)
        said = excerpt(exc.message, 300)
        self._rests[key] = _Rest(
            now, now + cooldown, cooldown, type(exc), True, said, tripped=health.trips, failures=health.failures
        )
        return how

    def unsent(self, target: Target, now: float, call: object) -> None:
        """``target``'s attempt of ``call`` was not sent after all (a budget or a policy refused it, the call's deadline
        passed): were ``call`` its probe, the next call probes it, rather than every call passing it over until this
        one's deadline. A call whose probe was closed meanwhile (another call's answer), and taken again since by
        another call, hands on nothing: that probe is the other call's."""
        key = (target.provider, target.model, target.base_url)
        rest = self._rests.get(key)
        if rest is not None and rest.prober is call:
            self._unclaimed(key, now)

    def probing(self, target: Target, call: object) -> bool:
        """Whether ``call`` is ``target``'s probe now (asked by the call that :meth:`resting` just let send it)."""
        if not self._rests:  # (most of the time no target rests)
            return False
        rest = self._rests.get((target.provider, target.model, target.base_url))
        return rest is not None and rest.prober is not None and rest.prober is call

    def _unclaimed(self, key: _Key, now: float) -> None:
        rest = self._rests.get(key)
        if rest is not None and rest.prober is not None:
            rest.prober, rest.until = None, now

    def answered(self, target: Target) -> None:
        """``target`` answered: the calls it failed in a row are forgotten and the breaker's rest, if any, is over.
        (Asked only while some target is ``failing``.)"""
        key = (target.provider, target.model, target.base_url)
        if self.failing.pop(key, None) is not None:
            self._closed(key)

    def rest_of(self, target: Target) -> _Rest:
        """The rest ``target`` is kept for (one there is: see :func:`~.cascade_waits.breaker_opened`)."""
        return self._rests[(target.provider, target.model, target.base_url)]

    def rest_why(self, rest: _Rest) -> str:
        """Why the breaker's ``rest`` is as long as it is, where not its first cooldown: its server named a longer
        wait, or its trips since the target last answered doubled it; "" else."""
        if rest.by_server:
            breakers = seconds(self.breaker.rest_for(rest.tripped))
            return f"the wait its server asked for, longer than the breaker's {breakers}"
        return "" if rest.tripped == 1 else f"its {rest.tripped} trips since it last answered doubling it"

    def _closed(self, key: _Key) -> None:
        self.failing.pop(key, None)
        rest = self._rests.get(key)
        if rest is not None and rest.tripped:
            del self._rests[key]

    def _make_room(self, now: float) -> None:
        """Room for one more rest: the rests that have passed forgotten, and while every one is still live (as many
        endpoints refused within minutes), the one nearest its end, which spares the fewest refused requests. Pruned
        of the passed ones alone, the map grew past its bound with every refusal, rebuilt whole at each. The new rest
        is kept whatever its length: it is the refusal the next call would most likely repeat."""
        rests = self._rests
        if any(r.until <= now for r in rests.values()):
            self._rests = rests = {k: r for k, r in rests.items() if r.until > now}
        while len(rests) >= _PRUNE_AT:
            del rests[min(rests, key=lambda k: rests[k].until)]

    def resting(
        self,
        target: Target,
        now: float,
        then: Callable[[_Rest, float], tuple[str, str]] | None = None,
        *,
        probe: object | None = None,
    ) -> ProviderError | None:
        """The error that stands for ``target`` while it rests (its class the refusal's, ``retry_after`` the rest
        left), or None when it is not resting. ``then``: the wait left as said beside what a call does about the rest
        (explain's :func:`rest_then`), and that, said after it. ``probe``: the call asking (its state: explain only
        asks), which sends it if its breaker's rest is over, the calls after it passing it over until its answer is
        noted (see :meth:`probing`)."""
        if not self._rests:  # (every attempt asks: most of the time no target rests)
            return None
        key = (target.provider, target.model, target.base_url)
        rest = self._rests.get(key)
        if rest is None:
            return None
        left = rest.until - now
        if left <= 0:
            if not rest.tripped:
                del self._rests[key]
            elif probe is not None:  # the breaker's rest is over: this call sends it, the others wait for its answer
                rest.prober, rest.until = probe, now + self.probe_hold
            return None
        left_said, done = (seconds(left), "") if then is None else then(rest, left)
        if rest.tripped:
            return self._breaker_rest(target, rest, now, left, left_said, done)
        if rest.quota is not None:  # (no wait asked: the quota's reset, or the longest rest)
            why = f"its server refused it {seconds(now - rest.since)} ago on {rest.quota}: left alone for "
            why += seconds(rest.until - rest.since)
        else:
            why = f"its server asked {seconds(now - rest.since)} ago to be left alone for {seconds(rest.asked)}"
            why += f", kept for {seconds(LONGEST_REST)}" if rest.asked > LONGEST_REST else ""
        message = (
            f"{target.label}: not sent: {why} ({rest.kind.kind}), {left_said} of that left{done}; it said: {rest.said}"
        )
        error = _standing_for(rest, message, target, left)
        if rest.by_wait:
            error.quota_by_wait = True
        return error

    def _breaker_rest(
        self, target: Target, rest: _Rest, now: float, left: float, left_said: str, done: str
    ) -> ProviderError:
        """The error that stands for ``target`` while the circuit breaker leaves it alone, or one call probes it."""
        failed = f"{counted(rest.failures, 'call')} in a row that it failed with an error saying its server is unwell "
        failed += f"({rest.kind.kind})"
        if rest.prober is not None:
            why = (
                f"another call is sending it now, the first since the circuit breaker left it alone after {failed}; "
                f"it is passed over until that call's answer"
            )
            if done:
                why += done
        else:
            trip = self.rest_why(rest)
            trip = f" ({trip})" if trip else ""
            why = (
                f"the circuit breaker left it alone {seconds(now - rest.since)} ago for {seconds(rest.asked)}{trip}, "
                f"after {failed}, {left_said} of that left{done}; then one call sends it ({self.breaker.said()})"
            )
        error = _standing_for(rest, f"{target.label}: not sent: {why}; it said: {rest.said}", target, left)
        error.left_by_breaker = rest.sent_all_the_same
        return error


def _standing_for(rest: _Rest, message: str, target: Target, left: float) -> ProviderError:
    """The refusal's class (a rate limit, an overload, a quota), which says what the caller may do about it; made
    without its own __init__, whose arguments differ by class: its attributes are ProviderError's and class
    defaults."""
    error = rest.kind.__new__(rest.kind)
    ProviderError.__init__(error, message, provider=target.provider, model=target.model, retry_after=left)
    if error.retryable != rest.retryable:  # (x-should-retry: false made the refusal not retryable)
        error.retryable = rest.retryable  # type: ignore[misc]
    error.reached = False  # nothing was sent
    return error
