"""What follows a stream's terminal event ([DONE], message_stop, the chunked encoding's end), read while it keeps
coming, and the events that only keep a connection alive: a relay's blank data line, a ping, the same event again.
Used by :meth:`~.base.HTTPProvider.call`'s stream reading.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ..deadline import Deadline, before_the_deadline
from ..sse import SSEEvent
from .wire_format import StreamAccumulator

if TYPE_CHECKING:
    from .base import ProgressCallback

#: how long what may follow a stream's terminal event ([DONE], message_stop, the chunked encoding's end) is waited
#: for, each event of it: read to its end, the connection goes back to the pool
AFTER_THE_END_SECONDS = 1.0


async def after_the_end(
    events: AsyncIterator[SSEEvent], acc: StreamAccumulator, progress: ProgressCallback | None, chars: int
) -> None:
    """The rest of a stream whose terminal event has come, read while it keeps coming: each event within
    :data:`AFTER_THE_END_SECONDS` of the last. A server (or a proxy) that holds the connection open once the answer
    is whole held the answer until the read timeout (120 s by default) or, when the call's deadline came first,
    failed it as a timeout: whole and billed, and asked for, and paid for, again. Events that do come are fed as
    before (an error event still fails the answer), and their text reaches ``progress``: a gateway that marks every
    chunk as the last (finishReason STOP on each) sends the answer on after it, which was cut a second in. Near the
    call's deadline each wait is half the time left at most: cut by that deadline, the whole answer was lost. A
    keep-alive (:func:`_keep_alive`) starts no new wait: a ping every half second, for as long as the connection is
    held, held the whole answer until the call's deadline."""
    clock = time.monotonic
    quiet_until = clock() + AFTER_THE_END_SECONDS
    last: SSEEvent | None = None
    while True:
        try:
            async with Deadline(before_the_deadline(max(quiet_until - clock(), 0.0))):
                event = await anext(events)
        except (TimeoutError, StopAsyncIteration):
            return  # held open: the connection is closed when the response is released, not put back in the pool
        # Chat Completions' end marker, which some servers of the other formats append (vLLM's Messages API): after
        # the terminal event it says only that the stream is over, and read as one of their events it is no JSON
        delta = "" if blank(event) or event.data == "[DONE]" else acc.feed(event)
        if delta or not _keep_alive(event, last):
            quiet_until = clock() + AFTER_THE_END_SECONDS
        last = event
        if delta and progress is not None:
            chars += len(delta)
            maybe = progress("delta", {"chars": chars, "text": delta})
            if maybe is not None:
                await maybe


#: what an event that only keeps a connection alive is named, or its data's "type" says (Anthropic's "ping")
_KEEP_ALIVE_NAMES = frozenset({"ping", "keepalive", "keep-alive", "heartbeat"})


def blank(event: SSEEvent) -> bool:
    """Whether ``event``'s data is empty (or blank): what relays and proxies in front of an API send to keep a long
    answer's connection alive (``data:`` and a blank line), which no API sends as an event of its own, and which is
    no JSON. Read as an event, it failed the answer under way as malformed."""
    data = event.data
    return not data or data.isspace()


def _keep_alive(event: SSEEvent, last: SSEEvent | None) -> bool:
    """Whether ``event`` only keeps the connection alive: a ping (by its name, or its data's type), data with
    nothing in it, or the very event that came before it again."""
    if event.event in _KEEP_ALIVE_NAMES or event.data.strip() in ("", "{}"):
        return True
    if last is not None and (event.event, event.data) == (last.event, last.data):
        return True
    data = event.data.lstrip()
    if data.startswith("{") and '"type"' in data:
        try:
            data = json.loads(data)
        except ValueError:  # (the accumulator has judged the event already)
            return False
        # (a "type" that is no string, a list or an object, is no keep-alive's, and cannot be looked up in a set)
        return isinstance(data, dict) and isinstance(kind := data.get("type"), str) and kind in _KEEP_ALIVE_NAMES
    return False
