"""A call's worst case (Pricer.worst_case, what its budget reserves before it is sent) is never below what its answer
is then priced at: examples of counterexamples test_properties_pricing found."""

from __future__ import annotations

from decimal import Decimal

from magsag_mcp.pricing import Pricer, UnitPrices
from magsag_mcp.types import Usage


def test_a_cache_read_rate_above_the_input_rate_is_in_the_worst_case():
    # prices.yaml takes any cache_read rate: one above the input rate (a typo, a gateway's own price list) was left
    # out of the ceiling, and a call whose prompt was all cache reads cost more than the reservation held for it
    pricer = Pricer([("compat:m-entry", UnitPrices(Decimal(1), Decimal(2), cache_read=Decimal(3)))])
    worst = pricer.worst_case("compat", "m-entry", 1000, 10)
    cost = pricer.price("compat", "m-entry", Usage(1000, 10, cached_tokens=1000)).cost_usd
    assert cost == Decimal("0.00302")
    assert worst is not None and worst >= cost
