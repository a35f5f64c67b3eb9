"""Whether a local server is taken as down: found not reachable only after a wait (its connect timed out, its name
did not resolve), it is not waited for again by every call for :data:`DOWN_FOR_S` (per server, per process): a
cascade's calls each paid the connect timeout (3-5 s) or the lookup before moving on. A refused connection costs
nothing to find again and is never remembered here: a server started (``ollama serve``) is believed at the next call.

Three things keep the memory from refusing calls that would have reached the server:

- it is said with the connect timeout of the caller that found it (:func:`went_down`), and applies only to callers
  allowing themselves that long or less (:func:`down`): one service's tiny ``MAGSAG_CONNECT_TIMEOUT`` does not refuse
  another's calls in the same process, which wait longer and may connect;
- a server found down is asked again cheaply once :data:`REPROBE_AFTER_S` has passed since (:func:`reprobe`): a short
  request, one at a time per server (the calls meanwhile wait for its word), any answer ending the memory. A server
  back within the 10 s (a restart, a laptop woken, a VPN back) is seen by the next call, not 10 s late;
- any answer from the server ends it (:func:`answered`).

And the first ask of a server this process has not seen answer yet goes alone (:func:`first_ask`): 200 calls at once
for as many models on one server that does not answer paid 200 connect timeouts before the first of them said it was
down; now one pays it and the others learn it from it. A server seen answering is asked by all at once, unqueued.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from .. import connect_watch
from ..deadline import Deadline, before_the_deadline
from ..errors import ProviderError, ProviderTimeoutError
from ..transport import Timeouts, Transport

#: how long a server found down after a wait is taken as down without a call's own request (see the module)
DOWN_FOR_S = 10.0
#: how long after a server was found down (or last asked again) the next call asks it again, cheaply
REPROBE_AFTER_S = 1.0
#: the connect timeout of that ask: a server up on the operator's machines or network connects in milliseconds; one
#: that does not within it stays taken as down, as it was (the ask costs a call no more than this, and its read)
REPROBE_CONNECT_S = 0.5
#: the read timeout of that ask: connected, the server is reachable whatever it answers
REPROBE_READ_S = 1.0
#: the most servers kept (a process names few; a caller naming ever new ones is not kept for)
KEPT = 4096


@dataclass(slots=True)
class _Down:
    #: why it could not be reached (the transport's words, prefixed as :class:`~.local_reach.Unreached` is)
    why: str
    #: until when it is taken as down
    until: float
    #: the longest connect timeout of a caller that found it down: it is taken as down for callers allowing that long
    #: or less (math.inf: a name DNS said does not exist, whatever the wait)
    connect_s: float
    #: when it was found down, or last asked again (:func:`reprobe`)
    asked_at: float


#: the server's root -> how it was found down
_DOWN: dict[str, _Down] = {}
#: the servers' roots that answered in this process since they were last found down: asked by all at once
_SEEN_UP: set[str] = set()
#: (event loop, the server's root) -> set once the first ask of a server not seen up, or its re-probe, has its word
_ASKING: dict[tuple[asyncio.AbstractEventLoop, str], _Asking] = {}
#: the clock the memory is timed by (a test moves it instead of waiting)
_clock = time.monotonic


def server_root(base_url: str) -> str:
    """The server's root, below which Ollama's own API is (``/api/show``): the OpenAI API's base without ``/v1``."""
    return base_url.rstrip("/").removesuffix("/v1")


def forget() -> None:
    """Drop every server's state (a test's fresh start; a process keeps them)."""
    _DOWN.clear()
    _SEEN_UP.clear()


def down_why(base_url: str, connect_s: float = 0.0) -> str | None:
    """Why the server of ``base_url`` is taken as down for a caller connecting within ``connect_s``, or None: ask it.
    A caller allowing itself longer than the one that found it down is not refused (see the module)."""
    if not _DOWN:
        return None
    root = server_root(base_url)
    found = _DOWN.get(root)
    if found is None:
        return None
    if _clock() >= found.until:
        del _DOWN[root]
        return None
    return found.why if connect_s <= found.connect_s else None


def went_down(base_url: str, why: str, connect_s: float = math.inf) -> None:
    """The server of ``base_url`` could not be reached, slowly (``why``: the transport's words), by a caller
    connecting within ``connect_s``: taken as down for :data:`DOWN_FOR_S` for callers allowing that long or less."""
    root = server_root(base_url)
    now = _clock()
    before = _DOWN.get(root)
    if before is not None and now < before.until:
        if connect_s <= before.connect_s:
            # (found by a wait as long or longer: its words stay, not a shorter wait's, nor those of a connect told
            # to stop by it, which waited nothing out)
            why = before.why
        connect_s = max(connect_s, before.connect_s)  # (found down by a longer wait too: still so for it)
    elif len(_DOWN) >= KEPT:
        _DOWN.clear()
    _DOWN[root] = _Down(why, now + DOWN_FOR_S, connect_s, now)
    _SEEN_UP.discard(root)
    # the other connects to it in flight, each waiting its own connect timeout (as long or shorter) for a host that
    # does not answer, are told and stop
    connect_watch.give_up(root, connect_s, "another call connecting to it timed out within as long or longer")


def answered(base_url: str) -> bool:
    """The server of ``base_url`` answered: no longer taken as down, and asked by all at once from now on. Whether it
    was taken as down until then."""
    root = server_root(base_url)
    if root not in _SEEN_UP:
        if len(_SEEN_UP) >= KEPT:
            _SEEN_UP.clear()
        _SEEN_UP.add(root)
    return bool(_DOWN) and _DOWN.pop(root, None) is not None


def seen_up(base_url: str) -> bool:
    """Whether the server of ``base_url`` answered in this process since it was last found down."""
    return server_root(base_url) in _SEEN_UP


def being_asked(base_url: str) -> bool:
    """Whether a call on this event loop is making the first ask of the server of ``base_url`` (or its re-probe),
    which :func:`first_ask` waits for."""
    return bool(_ASKING) and (asyncio.get_running_loop(), server_root(base_url)) in _ASKING


def ask_began(base_url: str) -> float | None:
    """When the first ask of the server of ``base_url`` being made on this loop (or its re-probe) began (the loop's
    time), or None: none is being made."""
    asking = _ASKING.get((asyncio.get_running_loop(), server_root(base_url))) if _ASKING else None
    return None if asking is None else asking.began


def reprobe_due(base_url: str) -> bool:
    """Whether the server of ``base_url``, taken as down, is due to be asked again (:data:`REPROBE_AFTER_S`)."""
    found = _DOWN.get(server_root(base_url)) if _DOWN else None
    return found is not None and _clock() - found.asked_at >= REPROBE_AFTER_S


async def reprobe(transport: Transport, base_url: str, headers: Mapping[str, str]) -> None:
    """Ask the server of ``base_url``, taken as down, again, cheaply (a GET of its root within
    :data:`REPROBE_CONNECT_S` to connect): any answer, or a connection refused (found again at once), ends its being
    taken as down; no connection in time leaves it so, asked again :data:`REPROBE_AFTER_S` later. One ask at a time
    per server: the calls meanwhile wait for its word (at most its two short timeouts)."""
    try:
        # bounded as a whole (the wait for another call's ask too, and an answer dribbled in within each read's
        # timeout), and to half what is left of a deadline around the call: the ask is for good measure, and a call
        # whose deadline it ran past failed with that deadline rather than with the server's state
        async with Deadline(before_the_deadline(REPROBE_CONNECT_S + REPROBE_READ_S)):
            await _reprobe(transport, base_url, headers)
    except TimeoutError:  # (not asked in time: taken as down, as it was)
        return


async def _reprobe(transport: Transport, base_url: str, headers: Mapping[str, str]) -> None:
    from .local_reach import found_slowly  # (local_reach reads this memory: imported when first asked)

    async with first_ask(base_url, alone=True) as first:
        if not first or not reprobe_due(base_url):  # (asked by another call meanwhile: its word stands)
            return
        root = server_root(base_url)
        _DOWN[root].asked_at = _clock()  # (its entry, there while it is due: taken on no await since)
        timeouts = Timeouts(REPROBE_CONNECT_S, REPROBE_READ_S, from_settings=False)
        try:
            await transport.get(root + "/", headers=headers, timeouts=timeouts, max_body_bytes=64 * 1024)
        except ProviderError as exc:
            if found_slowly(exc) or (isinstance(exc, ProviderTimeoutError) and exc.call_deadline):
                return  # (still not reached in time, or not asked in time: taken as down, as it was)
            if not exc.reached:  # (refused: nothing listens yet, found again at once by the call, never remembered)
                _DOWN.pop(root, None)
                return
        answered(base_url)


@asynccontextmanager
async def first_ask(base_url: str, *, alone: bool = False) -> AsyncIterator[bool]:
    """Around an ask of the server of ``base_url``: where this process has not seen it answer (or ``alone``), the
    first ask goes alone and the others wait for it to end (on their own loop: an event is its loop's), then go
    themselves, having learnt what it found (:func:`down_why`). Yields whether this one was the first. A server seen
    answering is asked by all at once: nothing is waited for."""
    root = server_root(base_url)
    if not alone and root in _SEEN_UP:
        yield True
        return
    key = (asyncio.get_running_loop(), root)
    waited = False
    while (asking := _ASKING.get(key)) is not None:
        await asking.wait()
        # (the one asking stopped before its word, its call cancelled or its ask cut by our own bound: the next to
        # wake asks alone in its stead, the others waiting on it, rather than all of them at once)
        waited = not asking.stopped
    if waited:
        yield False
        return
    event = _ASKING[key] = _Asking()
    event.began = asyncio.get_running_loop().time()
    try:
        yield True
    except BaseException:
        event.stopped = True
        raise
    finally:
        del _ASKING[key]
        event.set()


class _Asking(asyncio.Event):
    """Set once the first ask of a server (or its re-probe) ended; ``stopped``: it ended before its word."""

    stopped = False
    #: when it began (the loop's time)
    began = 0.0
