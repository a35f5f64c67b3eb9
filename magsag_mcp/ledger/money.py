"""Money in the ledger: USD as exact integer pico-USD, so sums never round."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

PICO = Decimal("1e-12")


def to_pusd(value: Decimal | None) -> int | None:
    """USD -> integer pico-USD (exact for prices quoted to six decimals per million tokens)."""
    if value is None:
        return None
    # the rounding given by position: a keyword costs Decimal's argument parsing ~1,000 instructions more
    return int((value / PICO).to_integral_value(ROUND_HALF_EVEN))


def from_pusd(value: int | None) -> Decimal | None:
    if value is None:
        return None
    return (Decimal(value) * PICO).normalize() if value else Decimal(0)
