"""The answer cache's requests in flight in this process (single flight): a call whose answers are cached and whose
request another call of this process is sending right now, to the same target for the same agent (the same key of
:func:`~.answer_cache.request_key`), waits for that call instead of paying for the same answer a second time; it is
then answered from the cache as any hit is.

The first call to ask for a key leads it (:meth:`Flights.lead`) from before its look-up until it is answered from the
cache, its answer is stored, it goes on to its next target (looked up or not), or it ends whichever way (failed,
cancelled): :meth:`Flights.land` then wakes the calls waiting for it. Its answer stored (``answered``), they look it
up at once. Else (it failed, was cancelled, went on, its answer was cut at max_tokens) the first of them to wake leads
the key in its place and sends, and the others wait for that one in turn: against a flaky upstream, N calls asking the
same request pay for one failure and one answer, not N. A waiter's cancellation is its own (it waits on an event,
which the leader neither awaits nor owns), it waits no longer than its call's deadline, and it asks the policies
again each time it is woken. Only calls whose answers are cached lead or wait: the others never come here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import anyio


@dataclass(slots=True, eq=False)
class Flight:
    """One key being sent by the call that leads it; ``landed`` is set when it is over, ``answered`` whether its
    answer was stored then (its waiters look it up) or not (one of them leads the key next)."""

    key: str
    landed: asyncio.Event = field(default_factory=asyncio.Event)
    answered: bool = False


class Flights:
    """The keys led by a call of this process right now (key -> its :class:`Flight`): each is taken out when it lands,
    so that the map holds no more than the calls in flight."""

    __slots__ = ("leading",)

    def __init__(self) -> None:
        self.leading: dict[str, Flight] = {}

    def ahead(self, key: str) -> Flight | None:
        """The flight of another call sending ``key`` now, else None."""
        return self.leading.get(key)

    def lead(self, key: str) -> Flight:
        """``key`` led by the calling call from now until it :meth:`land` s it."""
        flight = self.leading[key] = Flight(key)
        return flight

    def land(self, flight: Flight, *, answered: bool = False) -> None:
        """The flight is over, its answer stored (``answered``: found in the cache, or stored by its call) or none to
        be: its waiters are woken, and its key freed."""
        if self.leading.get(flight.key) is flight:
            del self.leading[flight.key]
        flight.answered = answered
        flight.landed.set()

    @staticmethod
    async def wait(flight: Flight, seconds: float) -> bool:
        """Wait for ``flight`` to land, no longer than ``seconds`` (what the waiting call's deadline leaves); whether
        it landed. Cancelled, only the waiter is: the leader goes on, and wakes the others."""
        if seconds <= 0:
            return flight.landed.is_set()
        with anyio.move_on_after(seconds):
            await flight.landed.wait()
        return flight.landed.is_set()
