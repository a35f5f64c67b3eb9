"""The deadline an attempt runs under behaves as asyncio.timeout does (the cascade used that before)."""

from __future__ import annotations

import asyncio

import pytest

from magsag_mcp.deadline import Deadline

pytestmark = pytest.mark.anyio

BOTH = pytest.mark.parametrize("timeout", [Deadline, asyncio.timeout], ids=["Deadline", "asyncio.timeout"])


@BOTH
async def test_a_body_past_its_deadline_is_cut_as_a_timeout_and_the_task_carries_on(timeout):
    task = asyncio.current_task()
    with pytest.raises(TimeoutError) as info:
        async with timeout(0.01):
            await asyncio.sleep(30)
    assert isinstance(info.value.__cause__, asyncio.CancelledError)
    assert task.cancelling() == 0  # its own cancellation taken back: the task is not left cancelled
    await asyncio.sleep(0)


@BOTH
async def test_a_body_done_in_time_is_left_alone_after_it(timeout):
    async with timeout(0.05):
        await asyncio.sleep(0)
    await asyncio.sleep(0.1)  # past the deadline it had: nothing cancels the task now
    assert asyncio.current_task().cancelling() == 0


@BOTH
async def test_no_time_left_cuts_the_body_at_its_first_wait(timeout):
    with pytest.raises(TimeoutError):
        async with timeout(0.0):
            await asyncio.sleep(30)


@BOTH
async def test_a_deadline_already_past_cuts_the_body_at_its_first_wait(timeout):
    # (a cascade's deadline left to an attempt is never below 0, but a Deadline of the library's may be)
    with pytest.raises(TimeoutError):
        async with timeout(-1.0):
            await asyncio.sleep(30)


@BOTH
async def test_a_cancellation_from_elsewhere_stays_a_cancellation(timeout):
    started = asyncio.Event()

    async def attempt() -> None:
        async with timeout(30):
            started.set()
            await asyncio.sleep(30)

    task = asyncio.ensure_future(attempt())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@BOTH
async def test_a_cancellation_from_elsewhere_at_the_deadline_is_not_taken_for_it(timeout):
    task = asyncio.current_task()
    with pytest.raises(asyncio.CancelledError):
        async with timeout(0.0):
            task.cancel()  # the caller gives up just as the deadline passes
            await asyncio.sleep(30)
    assert task.uncancel() == 0


@BOTH
async def test_what_the_body_raises_passes_through(timeout):
    with pytest.raises(KeyError):
        async with timeout(30):
            raise KeyError("x")


async def test_calls_one_after_another_arm_the_loops_timer_once(monkeypatch):
    """A timer per deadline was a handle made, pushed on the loop's heap and cancelled on every attempt, for a deadline
    minutes away that almost never passes: the deadlines of one loop share a timer, armed at the earliest."""
    loop = asyncio.get_running_loop()
    armed: list[float] = []
    real_call_at = loop.call_at

    def counting(when, callback, *args, **kwargs):
        armed.append(when)
        return real_call_at(when, callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_at", counting)
    for _ in range(50):
        async with Deadline(30):
            await asyncio.sleep(0)
    assert len(armed) <= 1


async def test_a_nearer_deadline_entered_after_a_later_one_expires_in_its_own_time():
    async def long_wait() -> str:
        async with Deadline(30):
            await asyncio.sleep(5)
        return "finished"

    later = asyncio.ensure_future(long_wait())
    await asyncio.sleep(0)  # the 30 s deadline is the loop's earliest now
    with pytest.raises(TimeoutError):  # cut at its deadline (its sleep, left to end, would have raised nothing)
        async with Deadline(0.02):
            await asyncio.sleep(5)
    assert not later.done()  # the other deadline is left alone
    later.cancel()
    with pytest.raises(asyncio.CancelledError):
        await later


async def test_a_deadline_after_one_left_early_still_expires():
    """The shared timer stays armed at a deadline left early: its firing expires nothing and arms the next one."""
    async with Deadline(0.01):
        pass
    with pytest.raises(TimeoutError):
        async with Deadline(0.05):
            await asyncio.sleep(5)
    async with Deadline(0.01):
        pass
    await asyncio.sleep(0.03)  # the timer fires with no deadline left, and is forgotten
    with pytest.raises(TimeoutError):
        async with Deadline(0.02):
            await asyncio.sleep(5)


async def test_deadlines_of_many_tasks_expire_each_at_its_own_time():
    async def attempt(delay: float, sleep: float) -> str:
        try:
            async with Deadline(delay):
                await asyncio.sleep(sleep)
        except TimeoutError:
            return "timed out"
        return "done"

    # A body meant to finish in time has a deadline seconds past its end, not tens of milliseconds: with (0.08, 0.01)
    # a loaded machine that held the process for 70 ms after the body began saw both timers due at once, the
    # deadline's handled before the body's task resumed, and the body that was done "timed out"
    outcomes = await asyncio.gather(
        attempt(0.05, 5), attempt(30, 0.1), attempt(0.01, 5), attempt(30, 0), attempt(20, 0.01)
    )
    assert outcomes == ["timed out", "done", "timed out", "done", "done"]


def test_a_loop_run_to_its_end_with_the_timer_armed_is_not_kept_alive():
    """The shared timer is found through a registry that holds the loop weakly, and the timer's registry weakly."""
    import gc
    import weakref

    async def main() -> None:
        async with Deadline(30):
            await asyncio.sleep(0)

    loop = asyncio.new_event_loop()
    loop.run_until_complete(main())
    loop.close()
    gone = weakref.ref(loop)
    del loop
    gc.collect()
    assert gone() is None


async def test_the_shared_timer_keeps_no_calls_context():
    """The timer outlives the deadline that armed it: it runs in a context of its own, not in the call's (whose
    credentials, a call's own key, it would keep for as long as it is armed)."""
    from contextvars import ContextVar

    secret: ContextVar[str] = ContextVar("secret", default="")

    async def call() -> None:
        secret.set("sk-the-calls-own-key")
        async with Deadline(30):
            pass

    await asyncio.ensure_future(call())
    loop = asyncio.get_running_loop()
    armed = [h for h in loop._scheduled if not h.cancelled()]  # (the loop's timers)
    assert armed  # the shared timer, still armed for the deadline left
    assert all(h._context.get(secret, "") == "" for h in armed)


async def test_it_says_whether_a_timeout_error_that_left_it_is_its_own():
    # asyncio.timeout's expired() says so too; the cascade asks, so that another timer's TimeoutError raised inside
    # (a provider's own, left unconverted) is not reported as the call's deadline
    inner = Deadline(30)
    with pytest.raises(TimeoutError):
        async with inner:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(30)
    assert not inner.expired
    own = Deadline(0.01)
    with pytest.raises(TimeoutError):
        async with own:
            await asyncio.sleep(30)
    assert own.expired
    assert not Deadline(30).expired  # (never entered)


async def test_entered_and_left_by_hand_it_behaves_as_async_with_does():
    # The cascade enters an attempt's deadline by hand (Deadline.enter / leave, not `async with`: the fiftieth round of
    # benchmarks/ROUNDS.md): cut past it as a timeout from the cancellation, the task not left cancelled; the attempt
    # in force inside it only; a body's own error passes through it; one done in time is left alone after it.
    from magsag_mcp.deadline import attempt_in_force

    task = asyncio.current_task()
    mark = object()
    within = Deadline(0.01, mark)
    within.enter()
    assert attempt_in_force() is mark
    try:
        await asyncio.sleep(30)
    except BaseException as ended:
        with pytest.raises(TimeoutError) as info:
            within.leave(ended)
    assert isinstance(info.value.__cause__, asyncio.CancelledError) and within.expired
    assert task.cancelling() == 0 and attempt_in_force() is None

    own = ValueError("the body's own")
    within = Deadline(30.0)
    within.enter()
    within.leave(own)  # (not raised: the caller raises what ended the block)
    assert not within.expired

    within = Deadline(0.05)
    within.enter()
    await asyncio.sleep(0)
    within.leave(None)
    await asyncio.sleep(0.1)  # past the deadline it had: nothing cancels the task now
    assert task.cancelling() == 0 and not within.expired
