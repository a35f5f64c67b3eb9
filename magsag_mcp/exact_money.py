"""Money is computed in one Decimal context, whatever context the caller's code has set."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Context, DivisionByZero, InvalidOperation, Overflow, localcontext
from typing import Any, TypeVar

#: The context every money computation runs in, whatever the caller's. An application may lower Decimal's
#: precision for its own figures (``getcontext().prec = 6``); a cost computed, summed or converted in its
#: context was rounded to six digits, and recorded and counted against limits so. 60 digits hold any
#: amount the ledger can record (pico-USD in a 64-bit integer) and any rate times any token count exactly.
MONEY = Context(
    prec=60, rounding=ROUND_HALF_EVEN, Emin=-999_999, Emax=999_999, traps=[InvalidOperation, DivisionByZero, Overflow]
)

F = TypeVar("F", bound=Callable[..., Any])


def exact_money(fn: F) -> F:
    """``fn`` (a function or a coroutine function) run in :data:`MONEY`, the caller's context restored after
    (Decimal's context is a context variable: it holds across the coroutine's awaits, for its task alone)."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            with localcontext(MONEY):
                return await fn(*args, **kwargs)

        return run_async  # type: ignore[return-value]

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with localcontext(MONEY):
            return fn(*args, **kwargs)

    return run  # type: ignore[return-value]
