"""Money is computed in one Decimal context, whatever context the caller's code has set; an amount a
user wrote that is no number is explained (:func:`amount_problem`)."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    getcontext,
    setcontext,
)
from typing import Any, TypeVar

#: The context every money computation runs in, whatever the caller's. An application may lower Decimal's
#: precision for its own figures (``getcontext().prec = 6``); a cost computed, summed or converted in its
#: context was rounded to six digits, and recorded and counted against limits so. 60 digits hold any
#: amount the ledger can record (pico-USD in a 64-bit integer) and any rate times any token count exactly.
MONEY = Context(
    prec=60, rounding=ROUND_HALF_EVEN, Emin=-999_999, Emax=999_999, traps=[InvalidOperation, DivisionByZero, Overflow]
)

F = TypeVar("F", bound=Callable[..., Any])

#: The copies of MONEY the service's calls run in, while they run (:func:`~.call_entry.service_call` adds and
#: discards them). A function under :func:`exact_money` called in one runs in it as it is: the context is already
#: MONEY's own, and no caller's code changes it (a progress callback runs in a context of its own, see
#: caller_progress). Copying it again for each of the Pricer's methods a call asks (the reservation's worst case,
#: the price of the answer, the bound of an unknown cost) was some 16,000 instructions a call.
SERVICE_CONTEXTS: set[Context] = set()


def exact_money(fn: F) -> F:
    """``fn`` (a function or a coroutine function) run in a copy of :data:`MONEY`, the caller's context restored
    after (Decimal's context is a context variable: it holds across the coroutine's awaits, for its task alone).

    What ``with localcontext(MONEY):`` does (a copy of MONEY made current, the caller's made current again on the
    way out), without the context manager: its object, its keywords' check and its two method calls cost some 1,900
    instructions of its 7,000 on every call of the service. Inside a call of the service (its context one of
    :data:`SERVICE_CONTEXTS`), ``fn`` runs in that context, not in a copy of it."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            callers = getcontext()
            if callers in SERVICE_CONTEXTS:
                return await fn(*args, **kwargs)
            setcontext(MONEY.copy())  # a copy: code run inside (a progress callback) may change the current one
            try:
                return await fn(*args, **kwargs)
            finally:
                setcontext(callers)

        return run_async  # type: ignore[return-value]

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        callers = getcontext()
        if callers in SERVICE_CONTEXTS:
            return fn(*args, **kwargs)
        setcontext(MONEY.copy())
        try:
            return fn(*args, **kwargs)
        finally:
            setcontext(callers)

    return run  # type: ignore[return-value]


#: pydantic's error types for a value that is no (finite) number where an amount was expected
_NOT_AN_AMOUNT = frozenset({"decimal_parsing", "decimal_type", "finite_number", "float_parsing", "float_type"})
#: what people write around an amount: a currency sign or code, spaces
_DRESSING = re.compile(r"^\s*(US\$|USD|\$)?\s*(.*?)\s*(USD|\$)?\s*$", re.IGNORECASE)
_OTHER_CURRENCY = re.compile(r"[€£¥₹]|\b(?:EUR|GBP|JPY|CNY|INR|CHF|CAD|AUD)\b", re.IGNORECASE)
_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def amount_problem(err: Mapping[str, Any], unit: str) -> str | None:
    """For pydantic's error on an amount of money (a limit, a price): what was written and the plain
    number to write instead (``'$0.01'``: write 0.01), in words; None for any other error.

    A currency sign is never read past: the amount it dresses is suggested, not taken."""
    if err.get("type") not in _NOT_AN_AMOUNT:
        return None
    value = err.get("input")
    if not isinstance(value, str | bool | int | float):
        value = type(value).__name__  # a list, a mapping: named, not quoted
    how = f"write the amount as a plain number of {unit}, without a currency sign or separators"
    if isinstance(value, bool):
        return f"{value!r} is not an amount; {how}, e.g. 0.01"
    if err["type"] == "finite_number":
        return f"{value!r} is not a finite amount; {how}, e.g. 0.01"
    if isinstance(value, str) and _OTHER_CURRENCY.search(value):
        return f"{value!r} is not in US dollars: amounts here are {unit}; convert it, write a plain number (e.g. 0.01)"
    if isinstance(value, str) and (m := _DRESSING.match(value)) is not None:
        plain = m.group(2)
        if _THOUSANDS.match(plain):
            plain = plain.replace(",", "")
        try:
            if plain and Decimal(plain).is_finite() and plain != value.strip():
                return f"{value!r} is not a plain number; write {plain} ({unit}, without a currency sign or separators)"
        except InvalidOperation:
            pass
    return f"{value!r} is not a number; {how}, e.g. 0.01"
