"""What every call of the service does on entering and leaving, in one wrapper: :func:`service_call`.

A call of the service (``invoke_skill``, ``explain``) runs in a copy of :data:`~.exact_money.MONEY`, the caller's
Decimal context made current again after it (what :func:`~.exact_money.exact_money` does), and forgets the
credentials it registered with :func:`~.redaction.register_call_secret` when it ends (what
:func:`~.redaction.call_scoped` does). Stacked, the two decorators were two wrapper frames (two coroutines for
``invoke_skill``), the arguments packed and unpacked twice: some 3,300 instructions a call for the second. Here
both are done in one frame, on the same terms and in the same order: the copy of MONEY made current first and the
caller's context set back last, the credentials known before set back only when the call registered any. While the
call runs its copy is one of :data:`~.exact_money.SERVICE_CONTEXTS`: the Pricer's methods it asks run in it as it is.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from decimal import getcontext, setcontext
from typing import Any, TypeVar

from .exact_money import MONEY, SERVICE_CONTEXTS

# The call's credentials' variable, read here directly: a function of redaction's to open the scope and another to
# close it were two more calls on every call of the service.
from .redaction import _CALL_SECRETS

#: a function :func:`service_call` wraps: a type checker sees the wrapped one's signature, not an Any
F = TypeVar("F", bound=Callable[..., Any])


def service_call(fn: F) -> F:
    """``fn`` (a function or a coroutine function: one call of the service) as ``exact_money(call_scoped(fn))``, in
    one wrapper: run in a fresh copy of MONEY (it holds across a coroutine's awaits, for its task alone), the
    caller's Decimal context made current again after it; the credentials it registers forgotten when it returns,
    raises or is cancelled, and none set when it registered none."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            known = _CALL_SECRETS.get()
            callers = getcontext()
            money = MONEY.copy()  # a copy: its flags and any change made to it are the call's own
            setcontext(money)
            SERVICE_CONTEXTS.add(money)  # (the context exact_money's functions then run in as it is)
            try:
                return await fn(*args, **kwargs)
            finally:
                if _CALL_SECRETS.get() is not known:
                    _CALL_SECRETS.set(known)
                SERVICE_CONTEXTS.discard(money)
                setcontext(callers)

        return run_async  # type: ignore[return-value]

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        known = _CALL_SECRETS.get()
        callers = getcontext()
        money = MONEY.copy()
        setcontext(money)
        SERVICE_CONTEXTS.add(money)
        try:
            return fn(*args, **kwargs)
        finally:
            if _CALL_SECRETS.get() is not known:
                _CALL_SECRETS.set(known)
            SERVICE_CONTEXTS.discard(money)
            setcontext(callers)

    return run  # type: ignore[return-value]
