"""What every call of the service does on entering and leaving (``exact_money``), and no more: the call runs in a
fresh copy of MONEY and leaves the caller's Decimal context as it was."""

from __future__ import annotations

import asyncio
import decimal
from decimal import Decimal, getcontext, localcontext

import pytest

from magsag_mcp import exact_money as exact_money_module
from magsag_mcp.exact_money import MONEY, exact_money

pytestmark = pytest.mark.anyio


def test_a_money_call_runs_in_a_fresh_copy_of_money_and_gives_the_callers_context_back():
    seen = []

    @exact_money
    def inside() -> Decimal:
        ctx = getcontext()
        seen.append((ctx, any(ctx.flags.values())))
        ctx.prec = 3  # code run inside (a progress callback) changing it changes neither MONEY nor the caller's
        return Decimal(1) / Decimal(7)

    with localcontext() as callers:
        callers.prec = 6
        assert inside() == Decimal("0.143")
        assert getcontext() is callers and callers.prec == 6
        inside()
    (first, _), (second, flagged) = seen
    assert first is not MONEY and first is not second
    assert MONEY.prec == 60 and MONEY.flags[decimal.Inexact] is False
    assert not flagged  # each call's copy starts with its flags clear, the first's division's Inexact not in it


async def test_a_money_coroutine_holds_its_context_across_awaits_and_restores_the_callers_after_an_error():
    @exact_money
    async def inside(fail: bool) -> int:
        await asyncio.sleep(0)
        prec = getcontext().prec
        if fail:
            raise ValueError("planned")
        return prec

    with localcontext() as callers:
        callers.prec = 6
        assert await inside(False) == 60
        with pytest.raises(ValueError):
            await inside(True)
        assert getcontext() is callers and callers.prec == 6


def test_a_money_call_makes_no_context_manager(monkeypatch):
    # Before: `with localcontext(MONEY):` on every call of the service: a context manager made, its keywords checked,
    # its __enter__ and __exit__ called (some 1,900 instructions of the 7,000 its switch cost); now the copy is made
    # current by setcontext and the caller's set back by it
    switched = []
    monkeypatch.setattr(exact_money_module, "setcontext", lambda ctx: (switched.append(ctx), decimal.setcontext(ctx)))
    monkeypatch.setattr(exact_money_module, "localcontext", None, raising=False)

    @exact_money
    def inside() -> int:
        return getcontext().prec

    callers = getcontext()
    assert inside() == 60
    assert len(switched) == 2 and switched[0].prec == 60 and switched[1] is callers
