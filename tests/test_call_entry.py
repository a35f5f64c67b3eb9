"""What every call of the service does on entering and leaving (``exact_money``, ``call_scoped``), and no more: the
call runs in a fresh copy of MONEY and leaves the caller's Decimal context as it was; the credentials it registers
are forgotten after it, and one that registers none sets nothing."""

from __future__ import annotations

import asyncio
import decimal
from decimal import Decimal, getcontext, localcontext

import pytest

from magsag_mcp import exact_money as exact_money_module
from magsag_mcp import redaction
from magsag_mcp.exact_money import MONEY, exact_money
from magsag_mcp.redaction import call_scoped, holds_secret, register_call_secret

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


class _Recording:
    """Stands for the context variable of a call's credentials, counting what is set on it."""

    def __init__(self, var) -> None:
        self.var = var
        self.sets = 0

    def get(self):
        return self.var.get()

    def set(self, value):
        self.sets += 1
        return self.var.set(value)

    def reset(self, token) -> None:
        self.var.reset(token)


def test_a_call_that_registers_no_credential_sets_nothing(monkeypatch):
    # Before: each call set the credentials known to the same tuple on entering, for a token to reset on leaving: two
    # writes of the task's context variables (about 1,800 instructions) on every call, where most register none
    recording = _Recording(redaction._CALL_SECRETS)
    monkeypatch.setattr(redaction, "_CALL_SECRETS", recording)

    @call_scoped
    def plain() -> str:
        return "done"

    @call_scoped
    def registering() -> bool:
        register_call_secret("qp7ZmR2xVt9LcW4nBy6dHu3")
        return holds_secret("x qp7ZmR2xVt9LcW4nBy6dHu3")

    assert plain() == "done" and recording.sets == 0
    assert registering() is True
    assert recording.sets == 2  # the key registered, then the ones known before set back
    assert not holds_secret("x qp7ZmR2xVt9LcW4nBy6dHu3")  # forgotten after the call


async def test_a_calls_credentials_are_forgotten_after_it_and_an_outer_calls_kept_through_an_inner_one():
    @call_scoped
    async def inner() -> None:
        register_call_secret("Lz5Xc7Vb1Nm3Qw9Er4Ty8U")
        await asyncio.sleep(0)

    @call_scoped
    async def outer() -> tuple[bool, bool]:
        register_call_secret("Wm4Rt8YuIo2PaS6dFgHj9K")
        await inner()
        return holds_secret("a Wm4Rt8YuIo2PaS6dFgHj9K"), holds_secret("a Lz5Xc7Vb1Nm3Qw9Er4Ty8U")

    assert await outer() == (True, False)
    assert not holds_secret("a Wm4Rt8YuIo2PaS6dFgHj9K")
    with pytest.raises(RuntimeError):

        @call_scoped
        async def failing() -> None:
            register_call_secret("Gh2Jk6Lp0Zx4Cv8Bn3Mq7W")
            raise RuntimeError("planned")

        await failing()
    assert not holds_secret("a Gh2Jk6Lp0Zx4Cv8Bn3Mq7W")


# --- service_call: both in one wrapper ---------------------------------------------------------------------------
#
# Before: `invoke_skill` and `explain` were `@exact_money` over `@call_scoped`, two wrappers (two coroutine frames for
# `invoke_skill`), the arguments packed and unpacked twice, some 2,500 instructions a call for the second. The tests
# below hold what the two did together: the same decimal context and credentials, whichever way the call ends.

_KEY = "Tq3Wz8Rn5Xv2Lp7Mk4Bj9Hc"
_OUTER_KEY = "Ys6Df1Gh8Jk3Lq5Wm2Nb7Vc"


def test_the_services_entry_points_are_one_wrapper_that_keeps_their_signature_and_doc():
    import inspect

    from magsag_mcp.service import Service

    for method in (Service.invoke_skill, Service.explain):
        inner = method.__wrapped__
        assert not hasattr(inner, "__wrapped__"), f"{method.__qualname__}: more than one wrapper"
        assert inner.__qualname__ == method.__qualname__ and method.__doc__ == inner.__doc__
        assert inspect.signature(method) == inspect.signature(inner)
        assert "skill_id" in inspect.signature(method).parameters
    assert inspect.iscoroutinefunction(Service.invoke_skill)
    assert not inspect.iscoroutinefunction(Service.explain)


def test_a_service_call_runs_in_a_fresh_copy_of_money_and_forgets_its_credentials_sync():
    from magsag_mcp.call_entry import service_call

    seen = []

    @service_call
    def call(fail: bool) -> Decimal:
        ctx = getcontext()
        seen.append(ctx)
        assert ctx is not MONEY and ctx.prec == 60 and not any(ctx.flags.values())
        register_call_secret(_KEY)
        assert holds_secret(f"x {_KEY}") and holds_secret(f"x {_OUTER_KEY}")
        ctx.prec = 3  # changes neither MONEY nor the caller's
        if fail:
            raise ValueError("planned")
        return Decimal(1) / Decimal(7)

    @call_scoped
    def outer() -> None:
        register_call_secret(_OUTER_KEY)
        with localcontext() as callers:
            callers.prec = 6
            assert call(False) == Decimal("0.143")
            assert getcontext() is callers and callers.prec == 6
            with pytest.raises(ValueError, match="planned"):
                call(True)
            assert getcontext() is callers and callers.prec == 6
        # the outer call's credential kept through the inner ones, theirs forgotten
        assert holds_secret(f"x {_OUTER_KEY}") and not holds_secret(f"x {_KEY}")

    outer()
    assert not holds_secret(f"x {_OUTER_KEY}")
    assert len(seen) == 2 and seen[0] is not seen[1] and MONEY.prec == 60


async def test_a_service_coroutine_holds_its_context_across_awaits_and_restores_all_when_it_returns_or_raises():
    from magsag_mcp.call_entry import service_call

    @service_call
    async def call(fail: bool) -> int:
        register_call_secret(_KEY)
        await asyncio.sleep(0)
        prec = getcontext().prec
        assert holds_secret(f"x {_KEY}")
        if fail:
            raise RuntimeError("planned")
        return prec

    with localcontext() as callers:
        callers.prec = 6
        assert await call(False) == 60
        assert getcontext() is callers and not holds_secret(f"x {_KEY}")
        with pytest.raises(RuntimeError, match="planned"):
            await call(True)
        assert getcontext() is callers and callers.prec == 6 and not holds_secret(f"x {_KEY}")


async def test_a_cancelled_service_coroutine_gives_the_callers_context_and_credentials_back():
    import anyio

    from magsag_mcp.call_entry import service_call

    inside = []

    @service_call
    async def call() -> None:
        register_call_secret(_KEY)
        inside.append(getcontext().prec)
        await anyio.sleep(30)  # cancelled here, in the same task as its caller

    register_call_secret(_OUTER_KEY)
    try:
        with localcontext() as callers:
            callers.prec = 6
            with anyio.CancelScope() as scope:
                scope.cancel()
                await call()
            assert scope.cancelled_caught and inside == [60]
            assert getcontext() is callers and callers.prec == 6
            assert holds_secret(f"x {_OUTER_KEY}") and not holds_secret(f"x {_KEY}")
    finally:
        redaction._CALL_SECRETS.set(())


def test_a_service_call_that_registers_no_credential_sets_nothing_and_switches_the_context_twice(monkeypatch):
    from magsag_mcp import call_entry
    from magsag_mcp.call_entry import service_call

    recording = _Recording(redaction._CALL_SECRETS)
    monkeypatch.setattr(redaction, "_CALL_SECRETS", recording)
    monkeypatch.setattr(call_entry, "_CALL_SECRETS", recording)
    switched = []
    monkeypatch.setattr(call_entry, "setcontext", lambda ctx: (switched.append(ctx), decimal.setcontext(ctx)))

    @service_call
    def plain() -> int:
        return getcontext().prec

    @service_call
    def registering() -> bool:
        register_call_secret(_KEY)
        return holds_secret(f"x {_KEY}")

    callers = getcontext()
    assert plain() == 60 and recording.sets == 0
    assert len(switched) == 2 and switched[0].prec == 60 and switched[1] is callers
    assert registering() is True
    assert recording.sets == 2  # the key registered, then the ones known before set back
    assert not holds_secret(f"x {_KEY}")
