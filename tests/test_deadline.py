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
