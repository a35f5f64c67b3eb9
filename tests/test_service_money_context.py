"""A call of the service prices in its own copy of MONEY: the Pricer's methods it asks (the reservation's worst
case, the price of the answer) run in that context as it is, not each in a copy of their own, while a Pricer used
directly, or a money function run after the call ended, still makes its own copy."""

from __future__ import annotations

import decimal
from decimal import Decimal, getcontext
from pathlib import Path

import pytest

from magsag_mcp import exact_money as exact_money_module
from magsag_mcp.call_entry import service_call
from magsag_mcp.exact_money import MONEY, SERVICE_CONTEXTS, exact_money
from magsag_mcp.pricing import Pricer
from magsag_mcp.service import Service
from magsag_mcp.types import Usage
from tests import test_attempt_cost
from tests.fakes.openai_server import FakeOpenAI
from tests.test_attempt_cost import call, rows, spy_reservations

#: the service over the loopback OpenAI (a fixture), as test_attempt_cost.py's tests have it
service = test_attempt_cost.service

pytestmark = pytest.mark.anyio


def _switches(monkeypatch: pytest.MonkeyPatch) -> list[decimal.Context]:
    """The contexts exact_money's wrappers make current, in order."""
    switched: list[decimal.Context] = []
    monkeypatch.setattr(exact_money_module, "setcontext", lambda ctx: (switched.append(ctx), decimal.setcontext(ctx)))
    return switched


async def test_a_calls_pricing_runs_in_the_calls_own_context(
    service: Service, fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Before: each of the Pricer's methods the call asked copied MONEY and switched to the copy and back (some
    # 16,000 instructions a call); the call's context is a copy of MONEY already
    switched = _switches(monkeypatch)
    reserved = spy_reservations(service)
    await call(service, "r-priced")
    (row,) = rows(tmp_path / "cost.db", "r-priced")
    assert reserved and all(r > 0 for r in reserved)  # the worst case was asked
    assert row[-2] is not None and row[-2] > 0  # and the answer priced
    assert switched == []
    assert not SERVICE_CONTEXTS  # the call's context is forgotten when it ends
    # a Pricer used directly, outside any call of the service, still prices in a copy of its own
    assert Pricer().price("openai", "gpt-4o", Usage(10, 10)).cost_usd is not None
    assert len(switched) == 2 and switched[0] is not MONEY and switched[0].prec == 60


def test_a_money_function_inside_a_service_call_runs_in_its_context_and_after_it_in_a_copy(monkeypatch):
    switched = _switches(monkeypatch)
    seen: list[decimal.Context] = []

    @exact_money
    def priced() -> Decimal:
        seen.append(getcontext())
        return Decimal(1) / Decimal(7)

    @service_call
    def call_of_the_service() -> decimal.Context:
        assert priced() == Decimal(1) / Decimal(7)
        return getcontext()

    calls = call_of_the_service()
    assert seen == [calls] and switched == [] and not SERVICE_CONTEXTS
    priced()  # after the call: its context is no longer the service's, so a copy of MONEY is made
    assert seen[1] is not calls and len(switched) == 2 and seen[1].prec == 60


def test_a_service_call_that_raises_forgets_its_context():
    @service_call
    def failing() -> None:
        assert getcontext() in SERVICE_CONTEXTS
        raise ValueError("planned")

    with pytest.raises(ValueError, match="planned"):
        failing()
    assert not SERVICE_CONTEXTS
