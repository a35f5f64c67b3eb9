"""Cancel a call at each of its steps in turn, for N = 1, 2, ... until the call finishes before its cancellation.

    async for step, outcome in cancelled_at_each_step(lambda: svc.invoke_skill(...), by="steps", how="scope"):
        ...  # outcome: the call's result, CANCELLED, or what else it raised

``by`` says what N counts:

- ``"steps"``: the call's own resumptions (one run of its task between two suspensions). It is cancelled during its
  Nth, and the cancellation lands at the await that suspends it next: each N stops it at its next await. Counted on
  the call's coroutine, not on passes of the loop, one pass of which runs as many of the call's steps as are ready.
- ``"passes"``: passes of the event loop (each one ``asyncio.sleep(0)`` of the sweeping task) since the call began:
  the same await, reached at different moments of what it waits on (the ledger's writer, the vendor's bytes).

``how`` says what cancels it:

- ``"task"``: ``task.cancel()``, asyncio's own, delivered once (a CancelledError at one await; an await in the
  handler of it runs on).
- ``"scope"``: an anyio cancel scope around the call, cancelled: as an MCP client's ``notifications/cancelled`` or a
  closing session cancels a handler. Level-triggered: every await inside the scope is cancelled again until it exits,
  so a record written on the way out without a shield is cut too. A call cancelled so ends as :data:`CANCELLED`.

How many steps a call takes varies with the machine (a read that found its data at once, or waited); what each step
checks does not.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from typing import Any

import anyio

#: a bound on the steps swept, so that a call that never finishes fails the test instead of hanging it
MAX_STEPS = 2000
#: the outcome of a call its cancel scope stopped (the scope took the cancellation: nothing was raised past it)
CANCELLED = "cancelled by its scope"


@types.coroutine
def _counted(coro: Coroutine[Any, Any, Any], on_step: Callable[[], None]) -> Generator[Any, Any, Any]:
    """``await coro``, with ``on_step()`` called each time the task resumes it (as ``yield from`` drives it)."""
    value: Any = None
    thrown: BaseException | None = None
    while True:
        on_step()
        try:
            yielded = coro.send(value) if thrown is None else coro.throw(thrown)
        except StopIteration as stop:
            return stop.value
        try:
            value, thrown = (yield yielded), None
        except BaseException as exc:  # a cancellation thrown into the task goes on into the call
            value, thrown = None, exc


class _Call:
    """One run of the call, in a task of its own, and what cancels it."""

    def __init__(self, call: Callable[[], Awaitable[Any]], how: str, on_step: Callable[[], None] | None) -> None:
        self.call, self.how, self.on_step = call, how, on_step
        self.scope: anyio.CancelScope | None = None
        self.cancelled = False
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> Any:
        if self.on_step is None:
            return await self._scoped()
        return await _counted(self._scoped(), self.on_step)  # type: ignore[arg-type]

    async def _scoped(self) -> Any:
        if self.how == "task":
            return await self.call()
        with anyio.CancelScope() as self.scope:
            if self.cancelled:  # cancelled in its first step, before the scope was entered
                self.scope.cancel()
            return await self.call()
        return CANCELLED

    def cancel(self) -> None:
        self.cancelled = True
        if self.how == "task":
            self.task.cancel()
        elif self.scope is not None:
            self.scope.cancel()

    async def outcome(self) -> tuple[bool, Any]:
        try:
            outcome = await self.task
        except BaseException as exc:  # what the call raised is the outcome a sweep checks
            outcome = exc
        return self.cancelled, outcome


async def cancelled_at(call: Callable[[], Awaitable[Any]], step: int, how: str = "task") -> tuple[bool, Any]:
    """``call()`` cancelled during its ``step``-th step: (whether it was cancelled, its outcome). A call that finished
    in fewer steps was not cancelled."""
    steps = 0

    def on_step() -> None:
        nonlocal steps
        steps += 1
        if steps == step:
            run.cancel()

    run = _Call(call, how, on_step)
    return await run.outcome()


async def cancelled_after_passes(
    call: Callable[[], Awaitable[Any]], passes: int, how: str = "task"
) -> tuple[bool, Any]:
    """``call()`` cancelled after ``passes`` passes of the event loop: (whether it was cancelled, its outcome)."""
    run = _Call(call, how, None)
    for _ in range(passes):
        await asyncio.sleep(0)
        if run.task.done():
            break
    if not run.task.done():
        run.cancel()
    return await run.outcome()


async def cancelled_at_each_step(
    call: Callable[[], Awaitable[Any]], *, by: str = "steps", how: str = "task", max_steps: int = MAX_STEPS
) -> AsyncIterator[tuple[int, Any]]:
    """``(step, outcome)`` for each step from 1 on, the call cancelled there, until the call finishes before its
    cancellation (that last outcome included: the call uncancelled)."""
    cancel = {"steps": cancelled_at, "passes": cancelled_after_passes}[by]
    for step in range(1, max_steps + 1):
        cancelled, outcome = await cancel(call, step, how)
        yield step, outcome
        if not cancelled:
            return
    raise AssertionError(f"the call had not finished after {max_steps} steps")
