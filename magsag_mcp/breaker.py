"""The circuit breaker: a target whose server is unwell is left alone by the calls that follow, for a while.

A target that is simply down (its connection refused, no answer within a timeout, a run of 500s or 503s with no
``Retry-After``) named no wait, so nothing kept it from the next call: every call sent it the request again, paid its
retries and their backoff, and only then fell back. After :attr:`BreakerPolicy.failures` calls in a row that it
failed with an error saying its server is unwell (:func:`unwell`), the cascade leaves it alone for a cooldown, kept
with the rests its servers asked for (:class:`~.target_rests.TargetRests`): calls skip it to their next target at no
cost. When the cooldown is over one call sends it (the probe); the others skip it until that one's answer. An answer
closes the breaker; another failure opens it again, for twice as long as the time before (at most
:data:`LONGEST_BREAKER_REST`).

The count is of calls, not tries: a call counts one failure for a target once it gives the target up (its retries
spent, or its next target tried after one) on such an error, its last there, whatever its tries before; an answer
resets the count. Counting tries, one call whose only target met three 500s (the default 2 retries) opened it at
once, and every call of the next 30 s sent that target once, without retries: one bad moment cost a user with one
provider their retries. A call stopped before it gave the target up (cancelled mid-tries, its own deadline cutting a
try, which is the caller's time, not the server's failure) counts nothing; a call whose deadline leaves no room for
another try after such an error counts it (a server that times out every try is the down server the breaker is for).
A probe is one request: its failure opens the breaker again at once, not retried, for the longer of the breaker's
next rest and a wait its server named. Only the probing call's failure decides it: another call sending the target
meanwhile (below) neither closes it by a refusal of its own request nor opens it again (an answer closes it, whoever
got it: the target is up).

A target left alone so is still sent, once and without retries, by a call with no other target to try, or whose other
targets all failed: its cooldown is our guess, not its server's word, and a request that may be answered is worth
more to the caller than a failure that is certain. ``MAGSAG_BREAKER_FAILURES`` and ``MAGSAG_BREAKER_COOLDOWN`` set it
(``MAGSAG_BREAKER_FAILURES=0`` turns it off).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import (
    ConfigError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ServerError,
)
from .settings import env_float, given, setting_span

FAILURES_ENV = "MAGSAG_BREAKER_FAILURES"
COOLDOWN_ENV = "MAGSAG_BREAKER_COOLDOWN"
DEFAULT_FAILURES = 3
DEFAULT_COOLDOWN = 30.0
#: the longest a target is left alone by the breaker, however often it tripped (as a server's named wait is kept for
#: 10 minutes at most): a provider down for an hour is asked once every 10 minutes, by one call
LONGEST_BREAKER_REST = 600.0


@dataclass(slots=True, frozen=True)
class BreakerPolicy:
    #: calls in a row that failed at a target, each given it up on an error saying its server is unwell, that open
    #: the breaker (0: it never opens)
    failures: int = DEFAULT_FAILURES
    #: seconds of the first rest; each trip since the target last answered doubles it
    cooldown: float = DEFAULT_COOLDOWN

    def rest_for(self, trips: int) -> float:
        """The rest of the ``trips``-th trip in a row (from 1): the cooldown, doubled for each trip before it, at
        most :data:`LONGEST_BREAKER_REST` (or the cooldown, where that was set longer)."""
        return min(self.cooldown * 2.0 ** min(trips - 1, 16), max(self.cooldown, LONGEST_BREAKER_REST))

    def said(self) -> str:
        """The settings, as a skip and a warning name them."""
        return f"{FAILURES_ENV}={self.failures}, {COOLDOWN_ENV}={format(self.cooldown, 'g')}"


def unwell(exc: ProviderError) -> bool:
    """Whether ``exc`` says the target's server is unwell, which the next request would most likely meet too: a
    server error of its own (500, 502, 503, 529; not a 409's conflict or a 425, which are the request's), a timeout
    (not the call's own deadline: that is the caller's choice of time, see Cascade.run), a connection refused, reset
    or dropped, or a name lookup with no answer. Not a 400, 401, 403, 404, a content filter or a context too long
    (the request's or the configuration's fault, which a rest would not clear), a 429 (a limit, whose wait its server
    names: see TargetRests.note), an untrusted certificate or a host that does not exist (not retryable: only the
    configuration clears those), nor a bug of ours."""
    if isinstance(exc, ServerError):
        return exc.status is None or exc.status >= 500
    if isinstance(exc, ProviderTimeoutError):
        return not exc.call_deadline
    return isinstance(exc, ProviderConnectionError) and exc.retryable


def breaker_policy_from_env(env: Mapping[str, str]) -> BreakerPolicy:
    """``MAGSAG_BREAKER_FAILURES`` (a whole number from 0, which turns the breaker off, to 100) and
    ``MAGSAG_BREAKER_COOLDOWN`` (seconds, from 1 to 600), each refused naming the variable, its range and a value."""
    failures = env_float(env, FAILURES_ENV, DEFAULT_FAILURES, minimum=0)
    if failures != int(failures):
        raise ConfigError(
            f"{given(FAILURES_ENV, env[FAILURES_ENV])} must be a whole number; set it to e.g. {DEFAULT_FAILURES} "
            f"({setting_span(FAILURES_ENV, 0)}; 0 turns the circuit breaker off)"
        )
    return BreakerPolicy(int(failures), env_float(env, COOLDOWN_ENV, DEFAULT_COOLDOWN, minimum=1))
