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


def test_an_azure_deployment_that_answered_as_a_dearer_model_is_reserved_at_that_models_worst_case():
    # a deployment's name is the operator's: "gpt-4o-mini" may serve gpt-4o, "prod-chat" names no model. Once one has
    # answered as a model, its calls are bounded by the dearer of the two (by that model's where the name has none)
    from pathlib import Path

    pricer = Pricer.from_catalog(Path(__file__).resolve().parent.parent / "catalog", {})
    served = pricer.worst_case("azure", "gpt-4o-2024-08-06", 1000, 100)
    named = pricer.worst_case("azure", "gpt-4o-mini", 1000, 100)
    assert served is not None and named is not None and named < served
    assert pricer.worst_case("azure", "prod-chat", 1000, 100) is None
    for deployment in ("gpt-4o-mini", "prod-chat"):
        answer = Usage(input_tokens=1000, output_tokens=100, answering_model="gpt-4o-2024-08-06")
        assert pricer.price("azure", deployment, answer).cost_usd is not None
        assert pricer.worst_case("azure", deployment, 1000, 100) == served, deployment
