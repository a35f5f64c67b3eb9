"""The cascade's waits: before a target is tried again (a retry), and how long a target is left alone after its
server named a wait that the call did not sit out (its rest, across calls).

A refusal that names its wait (a 429's or a 503's ``Retry-After`` or ``retry-after-ms``, the reset of the rate-limit
bucket that ran out, Gemini's ``RetryInfo.retryDelay``) is the server saying when it will take the next request. The
call that got it tries its fallback rather than wait; the next call, a second later, sent the same target the same
request all the same, to be refused again: a request spent against the limit that refused it (OpenAI counts refused
requests toward it), and a round trip more before the fallback answered. So the cascade keeps the wait, by provider,
model and endpoint, for the calls after it in this process: a target still resting is not sent (a skipped attempt,
at no cost, says why), the call's next target is tried, and with none left the rest is waited out as a server's
wait is (within ``MAGSAG_RETRY_MAX_DELAY`` and the call's deadline) or the call fails naming it. The rests themselves
(and the circuit breaker's, see :mod:`.breaker`) are kept in :mod:`.target_rests`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from .durations import against, compared, seconds, setting
from .errors import ProviderError, QuotaExhaustedError, RateLimitError
from .plurals import counted
from .settings import MAXIMA
from .target_rests import LONGEST_REST, TargetRests, Tripped, _Rest
from .types import Target

__all__ = ["LONGEST_REST", "TargetRests"]  # (kept where they were, beside the waits: see target_rests.py)

if TYPE_CHECKING:
    from .cascade_report import CascadeState
    from .records import AttemptRecord
    from .retry import RetryPolicy


def retry_wait(
    policy: RetryPolicy,
    exc: ProviderError,
    try_number: int,
    remaining: float,
    record: AttemptRecord,
    state: CascadeState,
    position: int,
    another_left: Callable[[], bool] | None = None,
    held: Any = None,
) -> float | None:
    """The wait before trying the same target again, or None to move on. Why a retryable error is
    not retried (beyond the deadline) goes into the attempt's warnings, and from there the trace.
    ``another_left``: asks whether another target would be tried after this one (None: none would).
    ``held``: the attempt's admission, whose hold is shrunk for the wait should the target be come back to."""
    label = f"{record.provider}:{record.model}"
    if remaining <= 0:
        return None
    if policy.too_long(exc.retry_after):  # (said first: not retried on the last target either)
        record.warnings.append(
            f"{label}: not retried: the server asked to wait {against(exc.retry_after, policy.max_delay)}, "
            f"longer than the retry cap of {setting(policy.max_delay)} (MAGSAG_RETRY_MAX_DELAY)"
        )
        state.gave_up = (exc, over_the_cap(policy, exc, label, sent=try_number > 0, remaining=remaining))
        return None
    if exc.retried_only_on_last_target and not state.revisited and another_left is not None and another_left():
        record.warnings.append(f"{label}: {exc.kind}, not retried: the next target is tried first")
        state.deferred, state.sent_after_deferral = (position, try_number, exc, record, held), False
        state.deferred_remaining = remaining
        return None
    wait = policy.backoff(try_number, exc.retry_after)
    # A timeout tried again gets no answer sooner than the first time: only worth it when the call
    # has a whole timeout left after the wait.
    timeout_s = getattr(exc, "timeout_s", None)
    if timeout_s and wait + timeout_s >= remaining:
        # what is compared is the wait and another timeout together: "after 120s, ... the deadline leaves 120.3s"
        # read as room enough, where the wait before it took the rest
        record.warnings.append(
            f"{label}: {exc.kind} after {seconds(timeout_s)}, not retried: the call's deadline leaves "
            f"{against(remaining, wait + timeout_s)}, no more than the wait ({seconds(wait)}) and another "
            f"{seconds(timeout_s)} take"
        )
        return None
    if wait >= remaining:
        waited, away = compared(wait, remaining)
        record.warnings.append(
            f"{label}: not retried: the wait of {waited} would {'reach' if waited == away else 'pass'} the call's "
            f"deadline, {away} away (MAGSAG_CALL_DEADLINE)"
        )
        if exc.retry_after is not None:  # (its server's wait: the call's error names the fix, said when it is made)
            state.gave_up = (exc, partial(past_the_deadline, policy, exc, label, try_number > 0, wait, remaining))
        return None
    return wait


def left_now(state: CascadeState, remaining: float) -> ProviderError:
    """The error of the target left for the next ones (``state.deferred``), now that it is come back to with
    ``remaining`` of the call's deadline left: its server's wait (``retry_after``: a refusal's, or a rest's left when
    it was skipped) less the time the targets after it took, which it had been waiting meanwhile. Waited whole, it
    was sent that much later than its server asked, and a wait that had shrunk within the retry cap was refused as
    over it."""
    exc: ProviderError = state.deferred[2]  # type: ignore[index]
    if exc.retry_after is not None:
        exc.retry_after = max(0.0, exc.retry_after - max(0.0, state.deferred_remaining - remaining))
    return exc


def long_wait_over_the_cap(
    policy: RetryPolicy, exc: ProviderError, record: AttemptRecord, state: CascadeState, remaining: float
) -> None:
    """``exc``, a 429 taken for a spent quota by its wait alone (see ``ProviderError.quota_by_wait``), whose wait is
    over the retry cap: not retried, as a rate limit's wait over the cap is not (:func:`retry_wait`), and the call's
    error names the fix, which would have it waited out (see :meth:`RetryPolicy.honour_long_wait`)."""
    label = f"{record.provider}:{record.model}"
    asked = cast(float, exc.retry_after)  # (a wait taken for a quota has one: see rate_limit_waits.long_wait)
    record.warnings.append(
        f"{label}: not retried: the server asked to wait {against(asked, policy.max_delay)}, longer than "
        f"the retry cap of {setting(policy.max_delay)} (MAGSAG_RETRY_MAX_DELAY); a rate limit's wait that long is "
        "taken for a spent quota unless the cap covers it"
    )
    # (the call's error says why its attempt reads quota_exhausted beside "rate limited")
    taken = _taken_for_a_quota()
    state.gave_up = (exc, over_the_cap(policy, exc, label, sent=True, remaining=remaining, taken=taken))


def _taken_for_a_quota() -> str:
    """What :func:`over_the_cap` says after the cap of a 429 taken for a spent quota by its wait alone."""
    from .providers.rate_limit_waits import LONG_WAIT_SECONDS

    return f", and a 429's wait over {seconds(LONG_WAIT_SECONDS)} is taken for a spent quota unless the cap covers it"


def past_the_deadline(
    policy: RetryPolicy, exc: ProviderError, label: str, sent: bool, wait: float, remaining: float
) -> str:
    """For the call's error, when ``exc`` is its last: ``label`` not tried again (or, left alone, not sent) as the
    wait its server asked for (``wait``: with the backoff's jitter), within the retry cap, would pass what the call's
    deadline left, and the fix. The attempt's warning alone said it: the call's error read "every target failed:
    openai:gpt-4o rate_limited; last error: ... HTTP 429", as if no setting could have waited it out."""
    asked = exc.retry_after if exc.retry_after is not None else wait
    spent = policy.deadline - remaining
    before = f" and the {seconds(spent)} the call took before it" if spent >= 1 else ""
    waited, away = compared(wait, remaining)
    passes = "reach" if waited == away else "pass"
    # a Retry-After of 0 (the backoff's jitter alone passed a deadline nearly spent) read "asked for 0s ... call again
    # in 0s"; a wait under a second is no time to name for calling again (as retries_spent says it)
    asked_said = seconds(asked)
    asked_for = "no wait" if asked_said == "0s" else asked_said
    again = f"call again in {asked_said}" if asked >= 1 else "call again later"
    why = (
        f"{label} was {_refused(exc)} and not tried again: the wait before another try, {waited} (its server asked "
        f"for {asked_for}),"
        if sent
        else f"{label} was not sent: its server's wait, {_refused(exc)}, has {waited} left, which"
    )
    if not _a_deadline_waits(spent + wait):  # told to set it, the user's next start refused the value
        return f"{why} would {passes} the call's deadline, {away} away; {_NO_DEADLINE_WAITS}; {again}"
    return (
        f"{why} would {passes} the call's deadline, {away} away; set MAGSAG_CALL_DEADLINE above it{before} (now "
        f"{setting(policy.deadline)}), or {again}"
    )


def _refused(exc: ProviderError) -> str:
    return "rate limited" if isinstance(exc, RateLimitError) else f"refused ({exc.kind})"


def over_the_cap(
    policy: RetryPolicy, exc: ProviderError, label: str, *, sent: bool, remaining: float | None = None, taken: str = ""
) -> str:
    """For the call's error, when ``exc`` is its last: ``label`` not tried again as its server's wait is over the
    retry cap, and the fix (the attempt's warning says the first half). ``sent`` False: ``exc`` stands for a target
    left alone for what an earlier call was asked (see :meth:`TargetRests.resting`), not sent in this call.
    ``remaining``: what the call's deadline left then (None: all of it). ``taken``: what the cascade took it for, said
    after the cap (a 429's long wait: a spent quota)."""
    wait: float = exc.retry_after  # type: ignore[assignment]  # (too_long: a wait was given)
    raised = _cap_that_waits(wait)
    fix = f"set {raised} to wait it out" if raised else _NO_CAP_WAITS
    # the wait would pass the call's deadline too: what it leaves, as retry_wait compares it once the cap allows the
    # wait, not the whole deadline (a wait of 50s after 15s spent, within a deadline of 60s, passes it)
    left = policy.deadline if remaining is None else remaining
    if raised and wait >= left:
        spent = policy.deadline - left
        before = f" and the {seconds(spent)} the call took before it" if spent >= 1 else ""
        if _a_deadline_waits(spent + wait):
            fix += f", and MAGSAG_CALL_DEADLINE above it{before} (now {setting(policy.deadline)})"
        else:  # the cap could wait it, no deadline could
            raised, fix = None, _NO_DEADLINE_WAITS
    said = against(wait, policy.max_delay)
    why = (
        f"{label} was {_refused(exc)} and not tried again: its server asked to wait {said}"
        if sent
        else f"{label} was not sent: its server's wait, {_refused(exc)}, has {said} left"
    )
    cap = f"the retry cap of {setting(policy.max_delay)} (MAGSAG_RETRY_MAX_DELAY)"
    return f"{why}, longer than {cap}{taken}; {fix}{', or' if raised else ';'} call again in {seconds(wait)}"


def _cap_that_waits(wait: float) -> str | None:
    """The retry cap that waits out ``wait`` (``MAGSAG_RETRY_MAX_DELAY to 45 or more``), or None past the largest
    the setting takes (:data:`~.settings.MAXIMA`): told to set 30000, the user's next start refused the value."""
    needed = math.ceil(wait)
    return f"MAGSAG_RETRY_MAX_DELAY to {needed} or more" if needed <= MAXIMA["MAGSAG_RETRY_MAX_DELAY"] else None


#: said where no retry cap waits a server's wait out
_NO_CAP_WAITS = (
    f"no setting waits it out (MAGSAG_RETRY_MAX_DELAY takes at most {setting(MAXIMA['MAGSAG_RETRY_MAX_DELAY'])})"
)
_NO_DEADLINE_WAITS = (
    f"no setting waits it out (MAGSAG_CALL_DEADLINE takes at most {setting(MAXIMA['MAGSAG_CALL_DEADLINE'])})"
)


def _a_deadline_waits(needed: float) -> bool:
    """Whether a call's deadline MAGSAG_CALL_DEADLINE takes (:data:`~.settings.MAXIMA`) is above ``needed``."""
    return needed < MAXIMA["MAGSAG_CALL_DEADLINE"]


def retries_spent(policy: RetryPolicy, exc: ProviderError, label: str) -> str | None:
    """For the call's error, when ``exc`` is its last: ``label`` still rate limited at its last try (its retries
    spent), and the fix; None for another error (a server's, a timeout: their attempts' kinds say them)."""
    if not isinstance(exc, RateLimitError):
        return None
    tries = policy.tries_per_target
    wait = exc.retry_after
    again = f"call again in {seconds(wait)}" if wait is not None and wait >= 1 else "call again later"
    retries = tries - 1
    which = (
        "its only try (MAGSAG_MAX_RETRIES=0: no retry)"
        if tries == 1
        else f"its last try, the {_ordinal(tries)} (MAGSAG_MAX_RETRIES={retries}: {retries} "
        f"{'retry' if retries == 1 else 'retries'} after the first)"
    )
    # at its bound, MAGSAG_MAX_RETRIES cannot be raised: told to, the user was then refused the value they set
    fix = "raise MAGSAG_MAX_RETRIES" if retries < MAXIMA["MAGSAG_MAX_RETRIES"] else ""
    # a retry more would not be taken either: its wait is over the cap (see retry_wait)
    if wait is not None and policy.too_long(wait):
        asked = f"its server asked to wait {against(wait, policy.max_delay)}"
        if (raised := _cap_that_waits(wait)) is None:  # (a retry more would not be taken whatever the retries)
            fix = f"{asked}, longer than the retry cap of {setting(policy.max_delay)}: {_NO_CAP_WAITS}"
        else:
            cap = f"{raised} ({asked}, longer than the retry cap of {setting(policy.max_delay)})"
            fix = f"{fix}, and {cap}" if fix else f"raise {cap}"
    joined = f"{fix}; " if fix.endswith(_NO_CAP_WAITS) else f"{fix}, or " if fix else ""
    return f"{label} was still rate limited at {which}; {joined}{again}"


def retries_spent_fix(policy: RetryPolicy, exc: ProviderError, label: str) -> Callable[[], str | None] | None:
    """What says :func:`retries_spent` when the call's error is made, for a rate limit (None for another error). The
    cascade keeps one for every 429 whose retries are spent, and a fallback answers most of those calls: built at
    once, the sentence (some 4,200 instructions) was made on every such call and thrown away."""
    if not isinstance(exc, RateLimitError):
        return None
    return partial(retries_spent, policy, exc, label)


def taken_for_a_quota(exc: BaseException | None) -> str | None:
    """For the call's error, when ``exc`` is its last: a 429 of a quota its server named spent (``quota_named``:
    OpenAI's ``insufficient_quota``, Gemini's ``QuotaFailure`` of a day's quota), whatever its wait, or another
    quota's 429 that asked for a wait over :data:`~.providers.rate_limit_waits.LONG_WAIT_SECONDS`: no retry setting
    waits for it; None else. (One taken for a quota by its wait alone is waited for under a cap raised to cover it:
    over the cap, the cascade names the cap's fix instead, as :func:`long_wait_over_the_cap` says it.)

    It said "a wait that long is taken for a spent quota" and "call again in 90s" of these too: false of a quota the
    server named whatever its wait, and of Gemini's per-day quota (its message says the reset, hours away) the wait of
    its ``RetryInfo``, which is no reset. The fix is the quota's: its plan, or a fallback that another quota serves.
    A named quota with a short wait or none (OpenAI's ``insufficient_quota`` most often comes with none) had no fix
    said at all beyond the vendor's words, the call's error reading as a rate limit's ("last error: ... HTTP 429")."""
    from .providers.rate_limit_waits import LONG_WAIT_SECONDS

    if not isinstance(exc, QuotaExhaustedError) or exc.quota_by_wait:
        return None  # (waited for within a cap raised to cover it; over it, the cap's fix is said instead)
    # (not a rate limit, unless a spent credit its server named: a 402, Anthropic's 400 "credit balance is too low";
    # a target left alone: its skip says the wait left)
    if (exc.status != 429 and not exc.quota_named) or not exc.reached:
        return None
    wait = exc.retry_after
    if not exc.quota_named and (wait is None or wait <= LONG_WAIT_SECONDS):
        return None  # (a request over the per-minute limit: its message says its own fix)
    # a quota of its own reset (Gemini's per day, one of 0, a month's): its message says when, not the wait asked
    own_reset = exc.rest is not None
    asked = "" if own_reset or wait is None or wait < 1 else f"its server asked to wait {seconds(wait)}, but "
    return (
        f"{exc.provider}:{exc.model} was refused on a spent quota that its server named, and not tried again: {asked}"
        "a named quota is not waited for, whatever MAGSAG_RETRY_MAX_DELAY says; check the quota and billing of the "
        "key's plan with the vendor, or add a fallback served by another quota (another provider or key) to the call"
    )


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def rest_wait(
    policy: RetryPolicy,
    resting: ProviderError,
    remaining: float,
    state: CascadeState,
    position: int,
    another_left: Callable[[], bool],
) -> float | None:
    """For a target left alone (its skip just recorded, the last of ``state.attempts``): the wait before sending it
    after all, when it is the last target left and its rest fits the retry cap and the deadline; else None, and the
    call moves on (coming back to it, as to a target left for the next one, when none of them was sent) or fails
    with ``resting``. Another target is tried first whatever the refusal was: this call was refused nothing yet."""
    record = state.attempts[-1]
    record.warnings.append(resting.message)  # (a skip says nothing in the result's warnings otherwise)
    if resting.left_by_breaker:  # (no server's wait: not waited for, sent once where nothing else answers)
        if another_left():
            state.deferred, state.sent_after_deferral = (position, 0, resting, record, None), False
            state.deferred_remaining = remaining
            return None
        record.warnings.append(sent_all_the_same(record))
        return 0.0
    if not resting.retryable:  # (a quota that no wait refills, say)
        if resting.quota_by_wait:  # (a 429's long wait over the cap: as the call it refused said, the cap's fix)
            label = f"{record.provider}:{record.model}"
            fix = over_the_cap(policy, resting, label, sent=False, remaining=remaining, taken=_taken_for_a_quota())
            state.gave_up = (resting, fix)
        return None
    if another_left():
        state.deferred, state.sent_after_deferral = (position, 0, resting, record, None), False
        state.deferred_remaining = remaining
        return None
    wait = retry_wait(policy, resting, 0, remaining, record, state, position)
    if wait is not None:
        record.warnings.append(
            f"{record.provider}:{record.model}: sent after {seconds(wait)}, once its server's wait was over"
        )
    return wait


def breaker_opened(rests: TargetRests, target: Target, label: str, tripped: Tripped) -> str:
    """The warning of the attempt whose failure opened the circuit breaker on ``target`` (``label``, as the trace
    names it): the call's last try there, whose failure made it one more call in a row that the target failed (see
    TargetRests.gave_up); or a probe, whose failure opens it again at once, not retried (one request was all it was
    to send: see TargetRests.note)."""
    rest = rests.rest_of(target)
    if tripped == "reopened":
        why, after = "its probe failed, and the circuit breaker opened again", ": not retried"
    else:
        calls = counted(rest.failures, "call")
        why = f"{calls} in a row that it failed with an error saying its server is unwell opened the circuit breaker"
        after = ""
    asked = seconds(rest.asked) + (", the wait its server asked for" if rest.by_server else "")
    return (
        f"{label}: {why}{after}; the calls that follow leave it alone for {asked}, then one call sends it "
        f"({rests.breaker.said()})"
    )


#: what a call does with a target the circuit breaker left alone, when it sends it
_ONCE = "sends it once, without retries,"


def sent_all_the_same(record: AttemptRecord) -> str:
    """The warning of a target the circuit breaker left alone that a call sends all the same (see rest_wait)."""
    return (
        f"{record.provider}:{record.model}: sent all the same, once and without retries, as no other target is left "
        "to answer: the circuit breaker's rest is a guess, not its server's word"
    )


def rest_then(policy: RetryPolicy, another_left: Callable[[], bool]) -> Callable[[_Rest, float], tuple[str, str]]:
    """What a call made now does about a target left alone, as :func:`rest_wait` decides it, said after the wait
    left (``then`` of :meth:`TargetRests.resting`, with the wait left as said beside it: "20.04s of that left, longer
    than the retry cap of 20s", not "20s"): for explain, where "not sent" alone read as never, while the last target
    left is sent once its wait is over when that fits the retry cap and the deadline. ``another_left``: asks whether a
    target after it would be tried. A rest no call waits out says until when (the time, UTC) and why: "a call now
    fails without sending it" alone read as for good, or for no reason a setting could change."""

    def then(rest: _Rest, left: float) -> tuple[str, str]:
        said = seconds(left)
        later = another_left()
        if rest.sent_all_the_same:  # (the breaker's: see rest_wait)
            if later:
                return said, f": a call now tries the targets after it, and {_ONCE} if none of them answers"
            return said, f": a call now {_ONCE} all the same, as no target after it is left"
        until = _until(left)
        if not rest.retryable:
            why = _not_waited(policy, rest)
            if later:
                return said, f": a call now passes it over for the targets after it {until}, as {why}"
            return said, f": a call now fails without sending it {until}, as no target after it is left and {why}"
        # a rest no call waits out (retry_wait), whether it is the last target left or come back to after the others
        if policy.too_long(left):
            said = against(left, policy.max_delay)
            unwaited = f", longer than the retry cap of {setting(policy.max_delay)} (MAGSAG_RETRY_MAX_DELAY)"
        elif left >= policy.deadline:
            said = against(left, policy.deadline)
            past = "past" if left > policy.deadline else "as long as"
            unwaited = f", {past} the call's deadline of {setting(policy.deadline)} (MAGSAG_CALL_DEADLINE)"
        else:
            unwaited = ""
        if later and unwaited:
            return said, f"{unwaited}: a call now tries the targets after it, and fails if none of them can be sent"
        if later:
            return said, (
                ": a call now tries the targets after it, and comes back to it after the wait if none can be sent"
            )
        if unwaited:
            return said, f"{unwaited}: a call now fails without sending it {until}, as no target after it is left"
        return said, ", which a call now waits out and then sends it, as no target after it is left"

    return then


def _until(left: float) -> str:
    """When a rest with ``left`` seconds left is over, on this machine's clock: ``until 2026-12-03 20:41:05 UTC``."""
    import time

    try:
        return f"until {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(time.time() + left))} UTC"
    except (OverflowError, OSError, ValueError):  # (a time no calendar holds; a rest is 10 minutes at most)
        return "until it is over"


def _not_waited(policy: RetryPolicy, rest: _Rest) -> str:
    """Why no call waits out a rest that is not retried (explain's, after "a call now fails without sending it ..."):
    a 429's long wait over the cap, taken for a spent quota (and the cap that would wait it out); a quota its server
    named, which is asked again once the rest is over; or its server's word that the request is not to be sent again."""
    if rest.by_wait:
        from .providers.rate_limit_waits import LONG_WAIT_SECONDS

        return (
            f"a 429's wait over {seconds(LONG_WAIT_SECONDS)} is taken for a spent quota while it is longer than the "
            f"retry cap of {setting(policy.max_delay)} (MAGSAG_RETRY_MAX_DELAY); "
            + (f"set {raised} to wait such a wait out" if (raised := _cap_that_waits(rest.asked)) else _NO_CAP_WAITS)
        )
    if rest.quota is not None or issubclass(rest.kind, QuotaExhaustedError):
        quota = f"a spent quota ({rest.quota})" if rest.quota is not None else "a spent quota"
        return (
            f"its server refused it on {quota}, which no retry setting waits for; then it is sent again, in case the "
            "quota was raised (check the quota and billing of the key's plan with the vendor, or add a fallback "
            "served by another quota)"
        )
    return "its server said not to send the request again (x-should-retry: false), so its wait is not waited out"
