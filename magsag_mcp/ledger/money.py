"""Money in the ledger: USD as exact integer pico-USD, so sums never round."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from ..exact_money import MONEY

PICO = Decimal("1e-12")


def to_pusd(value: Decimal | None) -> int | None:
    """USD -> integer pico-USD (exact for prices quoted to six decimals per million tokens)."""
    if value is None:
        return None
    # the rounding given by position: a keyword costs Decimal's argument parsing ~1,000 instructions more
    # in MONEY explicitly: this runs on the ledger's writer thread too, in whatever context that thread has
    return int(MONEY.divide(value, PICO).to_integral_value(ROUND_HALF_EVEN, MONEY))


def from_pusd(value: int | None) -> Decimal | None:
    if value is None:
        return None
    return MONEY.multiply(Decimal(value), PICO).normalize(MONEY) if value else Decimal(0)
