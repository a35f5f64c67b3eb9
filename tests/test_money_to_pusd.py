"""USD to the ledger's integer pico-USD (``to_pusd``): exact, half to even at the pico-USD, whatever Decimal
context the thread converting has (the caller's, or the ledger's writer thread's)."""

from __future__ import annotations

import decimal
import random
import threading
from decimal import Context, Decimal, localcontext
from fractions import Fraction

import pytest

from magsag_mcp.ledger.money import MAX_PUSD, from_pusd, to_pusd

#: a context no money may be computed in: three digits, rounded down, every signal trapped
HOSTILE = Context(
    prec=3,
    rounding=decimal.ROUND_DOWN,
    traps=[decimal.Inexact, decimal.Rounded, decimal.InvalidOperation, decimal.Overflow, decimal.Underflow],
)


def amounts() -> list[Decimal]:
    """Amounts of up to 60 digits (MONEY's precision), ties at half a pico-USD of both parities and signs among them."""
    rng = random.Random(34)
    fixed = [
        Decimal("0"),
        Decimal("-0"),
        Decimal("0.0000000000005"),  # half a pico-USD: to 0, the even one
        Decimal("0.0000000000015"),  # to 2
        Decimal("0.0000000000025"),  # to 2
        Decimal("-0.0000000000025"),
        Decimal("-0.0000000000035"),
        Decimal("2.5E-13"),
        Decimal("0.000315"),
        Decimal("1E+5"),
        Decimal("9223372.036854775807"),  # the largest amount one SQLite INTEGER holds
        Decimal("1.23456789012345678901234567890123456789"),
        Decimal("5E-1000"),
    ]
    drawn = [Decimal(rng.randint(-(10**40), 10**40)).scaleb(rng.randint(-45, 5)) for _ in range(500)]
    ties = [Decimal(rng.randint(0, 10**15) * 2 + 1).scaleb(-13) * (-1) ** k for k in range(2) for _ in range(250)]
    return fixed + drawn + ties


def exact(value: Decimal) -> int:
    """The pico-USD of ``value`` by rational arithmetic: no Decimal context at all (Python rounds half to even)."""
    return round(Fraction(value) * 10**12)


def test_pico_usd_exact_and_half_to_even_in_any_callers_context() -> None:
    values = amounts()
    with localcontext(HOSTILE) as ctx:
        got = [to_pusd(v) for v in values]
        flags = {signal for signal, raised in ctx.flags.items() if raised}
    assert got == [exact(v) for v in values]
    assert flags == set()  # the caller's context is neither rounded in nor signalled
    assert to_pusd(None) is None
    assert to_pusd(Decimal("0.0000000000015")) == 2 and to_pusd(Decimal("0.0000000000025")) == 2
    assert to_pusd(Decimal("-0.0000000000035")) == -4


def test_pico_usd_exact_on_another_thread_whose_context_keeps_few_digits() -> None:
    """The ledger's writer thread converts records in its own context, which the application may have lowered
    (``decimal.DefaultContext`` is where a new thread's comes from)."""
    values = amounts()
    got: list[int | None] = []

    def convert() -> None:
        decimal.setcontext(HOSTILE.copy())
        got.extend(to_pusd(v) for v in values)

    worker = threading.Thread(target=convert)
    worker.start()
    worker.join()
    assert got == [exact(v) for v in values]


def test_pico_usd_round_trips_the_ledgers_integers() -> None:
    for pusd in (0, 1, -1, 315_000_000, MAX_PUSD, -MAX_PUSD):
        assert to_pusd(from_pusd(pusd)) == pusd


@pytest.mark.parametrize(("value", "error"), [("NaN", ValueError), ("Infinity", OverflowError)])
def test_no_number_is_no_pico_usd(value: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        to_pusd(Decimal(value))
