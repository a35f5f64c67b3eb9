"""Which call of the history a tool result answers, for the APIs that pair them otherwise than by a unique id.

A result names its call by id, and ids may repeat: a server may give parallel calls one id (``call_0`` for each), and
one that gives its calls none has them named ``call_<n>`` in every answer. The results of a turn of calls come in the
calls' order (each API's rule, and what invoke's callers send): a result answers the first call of its id in the turn
before it that no result has answered yet; one result more than the calls, the latest call of its id.
:class:`SentCallIds` sends each call under an id of its own and each result under its call's, for the APIs that
refuse an id given twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
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


class SentCallIds(ABC):
    """The tool call ids of a request's history as sent: each as the API takes it (:meth:`fitted`), and one no earlier
    call of the request has (a repeated one is sent with a suffix, within ``limit``: the longest id the API takes, None
    for none); each result under the id, as sent, of the call it answers (:class:`OpenCalls`). The same on every
    turn, so a cached prompt's prefix stays the same."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.sent: set[str] = set()
        self.calls: OpenCalls[str] = OpenCalls()

    @abstractmethod
    def fitted(self, call_id: str | None) -> str:
        """``call_id`` as the API takes it (each API's class says how)."""

    def call(self, call_id: str | None) -> str:
        wire = base = self.fitted(call_id)
        n = 1
        while wire in self.sent:
            n += 1
            suffix = f"_{n}"
            wire = (base if self.limit is None else base[: self.limit - len(suffix)]) + suffix
        self.sent.add(wire)
        self.calls.called(call_id, wire)
        return wire

    def result(self, call_id: str | None) -> str:
        """The id a tool result of ``call_id`` goes under: its call's as sent (a result of no call: its own)."""
        return self.calls.answered(call_id) or self.fitted(call_id)

    def user_spoke(self) -> None:
        self.calls.close()
