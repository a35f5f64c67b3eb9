"""Which call of the history a tool result answers, for the APIs that pair them otherwise than by a unique id.

A result names its call by id, and ids may repeat: a server may give parallel calls one id (``call_0`` for each), and
one that gives its calls none has them named ``call_<n>`` in every answer. The results of a turn of calls come in the
calls' order (each API's rule, and what invoke's callers send): a result answers the first call of its id in the turn
before it that no result has answered yet; one result more than the calls, the latest call of its id.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class OpenCalls(Generic[T]):
    """The calls of the turn that tool results answer (each with what a result needs of it: its id as sent, its
    name), by id, in order."""

    def __init__(self) -> None:
        self.latest: dict[str | None, T] = {}
        self.waiting: dict[str | None, list[T]] = {}
        #: a result or the user's message came since the last call: the next call begins a turn of its own
        self.closed = False

    def called(self, call_id: str | None, value: T) -> None:
        if self.closed:
            self.waiting, self.closed = {}, False
        self.latest[call_id] = value
        self.waiting.setdefault(call_id, []).append(value)

    def close(self) -> None:
        """The user spoke: the calls before are no turn the next results answer."""
        self.closed = True

    def answered(self, call_id: str | None) -> T | None:
        """What of the call a result of ``call_id`` answers, or None (no call of that id)."""
        self.closed = True
        waiting = self.waiting.get(call_id)
        return waiting.pop(0) if waiting else self.latest.get(call_id)
