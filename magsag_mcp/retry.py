"""How a call retries: how often per target, how long between tries, and the call's deadline.

A retryable failure is tried again after the server's ``Retry-After`` when it gave one (a little
jitter added, never past the cap), else after exponential backoff with full jitter; a server's wait
beyond the cap is not slept, the call moves on to its next target. A 429 whose wait is over a minute is taken for a
spent quota, unless the cap was raised to cover it: then it is a rate limit, waited out like one (within the call's
deadline). ``MAGSAG_MAX_RETRIES``,
``MAGSAG_RETRY_BASE_DELAY``, ``MAGSAG_RETRY_MAX_DELAY`` and ``MAGSAG_CALL_DEADLINE`` set it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeGuard, TypeVar

from .errors import ConfigError, ProviderError, QuotaExhaustedError, RateLimitError
from .settings import DEFAULT_CALL_DEADLINE, call_deadline, env_float, given, setting_span

_Made = TypeVar("_Made", bound=ProviderError)


@dataclass(slots=True, frozen=True)
class RetryPolicy:
    tries_per_target: int = 3
    base_delay: float = 0.5
    max_delay: float = 20.0
    #: seconds for the whole call, all targets and waits included
    deadline: float = DEFAULT_CALL_DEADLINE
    #: requests that continue a turn Claude paused (pause_turn) at most, each an attempt of its own; 0: none, a paused
    #: turn is the answer (see cascade_paused.py). ``MAGSAG_PAUSE_CONTINUATIONS``; a call's context.pause_continuations
    continuations: int = 3

    def backoff(self, try_number: int, server_wait: float | None) -> float:
        if server_wait is not None:
            # The server knows when it will take us again; a little jitter spreads the herd, but never
            # past the cap (a wait beyond it is not waited for at all: see too_long).
            jittered = server_wait + random.uniform(0, min(1.0, self.base_delay))
            return min(jittered, max(self.max_delay, server_wait))
        # the exponent is capped: past ~1025 tries (a RetryPolicy made in code has no bound on its tries) 2**n is an
        # int too large for a float, and the product raised OverflowError instead of reaching the cap
        return random.uniform(0, min(self.max_delay, self.base_delay * (2 ** min(try_number - 1, 64))))

    def too_long(self, server_wait: float | None) -> TypeGuard[float]:
        """A server's wait beyond ``max_delay`` is not slept: the call moves on to the next target
        (another vendor, or another deployment with its own limits) rather than sit idle."""
        return server_wait is not None and server_wait > self.max_delay

    def honour_long_wait(self, exc: ProviderError) -> ProviderError:
        """A 429 taken for a spent quota by its wait alone (over a minute, no quota named: ``quota_by_wait``) is a
        rate limit still, retried as one, where ``max_delay`` covers its wait: a user who raised
        ``MAGSAG_RETRY_MAX_DELAY`` past a minute asked for such waits to be waited out, and was refused them as
        quotas whatever the cap. Under the cap, it stays the spent quota the provider took it for.

        Covered, a :class:`RateLimitError` (kind ``rate_limited``) is made from it, the same error otherwise (its
        fields, its traceback, ``__cause__`` the quota it was): the ledger's attempt, the target's rest and the call's
        error say what the cascade did with it, a rate limit waited out. Kept a ``QuotaExhaustedError`` made
        retryable, it was recorded ``quota_exhausted`` beside "still rate limited at its last try", and a caller's
        ``except QuotaExhaustedError`` took a wait it had asked for as a quota. Made, not the quota's class changed in
        place: a caller (a test's script) raising one error object twice saw it a rate limit the second time.

        A provider's own subclass of it (its class may hold state or a kind of its own, which no RateLimitError made
        in its place would) is made retryable on the last target left, as before: left as it was, the cascade waited
        none of it and the call's error said its wait was "longer than the retry cap" that covered it. A copy of it is,
        of its own class, the original its cause and left as it was: changed in place, one error object raised twice
        (a plugin's cached refusal, a test's script) was a retryable one the second time, before any cap covered it."""
        if not exc.quota_by_wait or self.too_long(exc.retry_after):
            return exc
        if type(exc) is QuotaExhaustedError:
            # (a class with no state of its own: kind, retryable and last-target-only are its class's alone)
            return _as_rate_limit(exc)
        if exc.retryable:
            return exc
        retried = _made_as(type(exc), exc)
        retried.retryable = True  # type: ignore[misc]  # (this one error's, over its class's)
        retried.retried_only_on_last_target = True  # type: ignore[misc]
        return retried


def _as_rate_limit(exc: QuotaExhaustedError) -> RateLimitError:
    """A :class:`RateLimitError` with ``exc``'s fields (its message, details, provider, status, wait, what it cost),
    its traceback, and ``exc`` as its cause; ``exc`` is left as it was."""
    return _made_as(RateLimitError, exc)


def _made_as(cls: type[_Made], exc: ProviderError) -> _Made:
    """A ``cls`` with ``exc``'s fields, its traceback, and ``exc`` as its cause; ``exc`` is left as it was."""
    made = cls.__new__(cls)
    Exception.__init__(made, *exc.args)
    made.__dict__.update(exc.__dict__)
    made.details = dict(exc.details)  # (its own: a detail added to one is not the other's)
    made.attempts = list(exc.attempts)
    made.__cause__, made.__traceback__ = exc, exc.__traceback__
    return made


def retry_policy_from_env(env: Mapping[str, str]) -> RetryPolicy:
    tries = env_float(env, "MAGSAG_MAX_RETRIES", 2, minimum=0)
    if tries != int(tries):
        said = given("MAGSAG_MAX_RETRIES", env["MAGSAG_MAX_RETRIES"])
        raise ConfigError(f"{said} must be a whole number; set it to e.g. 2 ({setting_span('MAGSAG_MAX_RETRIES', 0)})")
    return RetryPolicy(
        tries_per_target=int(tries) + 1,
        continuations=pause_continuations(env),
        base_delay=env_float(env, "MAGSAG_RETRY_BASE_DELAY", 0.5),
        max_delay=env_float(env, "MAGSAG_RETRY_MAX_DELAY", 20.0),
        deadline=call_deadline(env),
    )


def pause_continuations(env: Mapping[str, str]) -> int:
    """``MAGSAG_PAUSE_CONTINUATIONS``: how many requests may continue a paused turn (0 to 20, default 3)."""
    name = "MAGSAG_PAUSE_CONTINUATIONS"
    most = env_float(env, name, 3, minimum=0)
    if most != int(most):
        fix = f"set it to e.g. 3 ({setting_span(name, 0)})"
        raise ConfigError(f"{given(name, env[name])} must be a whole number; {fix}")
    return int(most)
