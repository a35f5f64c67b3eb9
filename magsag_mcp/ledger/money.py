"""Money in the ledger: USD as exact integer pico-USD, so sums never round."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from decimal import Decimal
from typing import Any, overload

from ..exact_money import MONEY

PICO = Decimal("1e-12")
#: pico-USD in a USD: a coefficient of 1, so a product keeps the amount's digits and only moves its exponent
_PICO_PER_USD = Decimal("1e12")
_scaled = MONEY.multiply


def to_pusd(value: Decimal | None) -> int | None:
    """USD -> integer pico-USD (exact for prices quoted to six decimals per million tokens), the pico-USD rounded
    half to even.

    Run on every reservation and record (the ledger's writer thread too, in whatever context that thread has): the
    amount times 10**12 in MONEY, the same number the quotient by 10**-12 was, rounded by its own ``__round__``,
    which rounds half to even to an integer in one step, however few digits the thread's context keeps (rounding to
    an integer is bounded by no precision, and says nothing inexact). A division, a ``to_integral_value`` with its
    arguments parsed and an ``int()`` cost some 2,200 instructions more a conversion, two a call."""
    if value is None:
        return None
    return round(_scaled(value, _PICO_PER_USD))


@overload
def from_pusd(value: int) -> Decimal: ...
@overload
def from_pusd(value: None) -> None: ...
@overload
def from_pusd(value: int | None) -> Decimal | None: ...
def from_pusd(value: int | None) -> Decimal | None:
    if value is None:
        return None
    return MONEY.multiply(Decimal(value), PICO).normalize(MONEY) if value else Decimal(0)


#: the largest pico-USD amount one SQLite INTEGER holds (2**63 - 1 pUSD, about $9.22M)
MAX_PUSD = 2**63 - 1
_LOW_BITS = 32

#: ``sum(expr)`` -> the SQL of the two result columns that hold a pico-USD sum (see :func:`summed`)
SumSQL = Callable[[str], str]


def fast_sum(expr: str) -> str:
    """SQLite's own SUM, as :func:`exact_sum`'s two columns (the first 0): what every read runs first."""
    return f"0, coalesce(SUM({expr}), 0)"


def exact_sum(expr: str) -> str:
    """The exact sum of a pico-USD expression however large, as two columns: each value's high and low
    32 bits summed apart, two SUMs that cannot overflow below 2**31 rows (NULLs count as nothing).
    About twice the work of one SUM, so it is run only where :func:`fast_sum` overflowed."""
    return ", ".join(_exact_parts(expr))


def _exact_parts(expr: str) -> tuple[str, str]:
    return f"coalesce(SUM(({expr}) >> {_LOW_BITS}), 0)", f"coalesce(SUM(({expr}) & {(1 << _LOW_BITS) - 1}), 0)"


def named_sum(s: SumSQL, expr: str, name: str) -> str:
    """``s(expr)`` with its two columns named ``NAME_high`` and ``NAME_low``, for an outer query to read."""
    high, low = ("0", f"coalesce(SUM({expr}), 0)") if s is fast_sum else _exact_parts(expr)
    return f"{high} AS {name}_high, {low} AS {name}_low"


def scalar_sum(s: SumSQL, expr: str, source: str) -> str:
    """``s(expr)`` over ``source`` (``FROM table WHERE ...``) as scalar subqueries in a select list: one
    with :func:`fast_sum` (as cheap as before), one per column with :func:`exact_sum`."""
    if s is fast_sum:
        return f"0, (SELECT coalesce(SUM({expr}), 0) {source})"
    return ", ".join(f"(SELECT {part} {source})" for part in _exact_parts(expr))


def joined(high: int | None, low: int | None) -> int:
    """The sum held in the two columns of :func:`fast_sum` or :func:`exact_sum` (a Python int: no limit)."""
    return (int(high or 0) << _LOW_BITS) + int(low or 0)


def summed(conn: sqlite3.Connection, statement: Callable[[SumSQL], str], args: Any = ()) -> list[Any]:
    """The rows of ``statement(sum)``, whose pico-USD sums are written ``sum(expr)`` (two columns each,
    read back with :func:`joined`). SQLite's integer SUM fails with "integer overflow" past
    :data:`MAX_PUSD` (a year of a large organisation's spend, about $9.2M): the statement runs with
    SQLite's SUM, and again with :func:`exact_sum` only if that happened. So a read costs what it did
    (one more constant column per sum), and no total is ever wrong or refused."""
    try:
        return conn.execute(statement(fast_sum), args).fetchall()
    except sqlite3.OperationalError as exc:
        if str(exc) != "integer overflow":
            raise
    return conn.execute(statement(exact_sum), args).fetchall()


def checked_add(table: str, column: str) -> str:
    """An UPSERT's ``column = table.column + excluded.column`` that cannot store a wrong number: past
    :data:`MAX_PUSD` SQLite's ``+`` silently gives an inexact REAL, which the column would keep; here it
    gives NULL instead, which the column's NOT NULL refuses (see :func:`~.problems.use_error`)."""
    stored, added = f"{table}.{column}", f"excluded.{column}"
    return f"{column} = CASE WHEN {added} <= {MAX_PUSD} - {stored} THEN {stored} + {added} END"
