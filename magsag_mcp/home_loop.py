"""A :class:`~magsag_mcp.api.Magsag`'s event loop on a thread of its own, and its close: :class:`HomeLoop`, and the
finaliser (:class:`Closing`) that closes a Magsag asked to, dropped, or left open when the interpreter exits.

The interpreter's exit, in order: its non-daemon threads joined, its atexit hooks run (last registered first), then
its finalisation, where every other thread is frozen for good. A Magsag is closed by the exit hook of weakref's
finalisers; one opened after that hook ran (in a user's exit hook registered before it) can still be closed in that
hook (``with Magsag() as mg:``), but nothing runs after the hooks to close one left open: see :func:`said_if_left_open`.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import os
import sys
import threading
import warnings
import weakref
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread

if TYPE_CHECKING:
    from .bridge import Bridge
    from .service import Service

#: set as the interpreter exits, before the finalisers of the Magsags left open run (see note_exit)
EXITING = threading.Event()
_exit_noted = False


def note_exit() -> None:
    """Have ``EXITING`` set at the interpreter's exit, before weakref's finalisers run there. (weakref's own
    ``finalize._shutdown`` is set only once they have all run: read in one, it never said the interpreter was
    exiting, and a script's Magsag left open, which docs/money-records-budgets.md promises to close at exit, was
    warned of as garbage-collected.) Called once a finaliser exists, so weakref's exit hook is registered already,
    and this one, registered after it, runs before it (atexit runs its hooks last registered first)."""
    global _exit_noted
    if not _exit_noted:  # (two Magsags made at once may both register it: setting the event twice is harmless)
        _exit_noted = True
        atexit.register(EXITING.set)


class HomeLoop:
    """An asyncio loop on a daemon thread, and a :class:`~anyio.from_thread.BlockingPortal` to it: what anyio's
    ``start_blocking_portal`` makes, held by an object rather than a generator. A generator's ``finally`` runs
    whenever the generator is collected, and that one's waits for the loop's thread: a Magsag left open past the
    exit hooks (opened in a user's hook that ran after magsag's own) was collected as the interpreter finalised, with
    that thread frozen, and the interpreter hung for ever."""

    def __init__(self) -> None:
        started: concurrent.futures.Future[anyio.from_thread.BlockingPortal] = concurrent.futures.Future()

        async def serve() -> None:
            async with anyio.from_thread.BlockingPortal() as portal:
                started.set_result(portal)
                await portal.sleep_until_stopped()

        def run() -> None:
            try:
                anyio.run(serve, backend="asyncio")
            except BaseException as exc:
                if not started.done():  # (after it started, the loop's failure is the portal's to report)
                    started.set_exception(exc)

        self.thread = threading.Thread(target=run, daemon=True, name="magsag-loop")
        self.thread.start()
        self.portal = started.result()

    def stop(self, cancel_remaining: bool = False) -> None:
        """Stop the portal (its tasks left cancelled when ``cancel_remaining``) and wait for the loop's thread."""
        try:
            self.portal.call(self.portal.stop, cancel_remaining)
        except RuntimeError:  # stopped already
            pass
        self.thread.join()


class Closing:
    """What closing a :class:`~magsag_mcp.api.Magsag` does, done once whoever asks first: :meth:`Magsag.close`, the
    finaliser of its bridge (collected, or at the interpreter's exit), or :func:`said_if_left_open`'s watch. Holds
    the Magsag's parts and its bridge weakly: the finaliser that holds this must not keep the bridge alive (a weak
    reference marks it closed while something still holds it). ``done`` is set once it has closed, for a second
    close to wait on; ``asked`` once :meth:`Magsag.close` was called: unset, the garbage collector is closing it,
    which is said (not at the interpreter's exit, where docs/money-records-budgets.md promises the close of a
    script's Magsag left open)."""

    def __init__(self, bridge: Bridge, home: HomeLoop, service: Service) -> None:
        self.bridge = weakref.ref(bridge)
        self.home = home
        self.service = service
        self.pid = bridge.pid
        self.done = threading.Event()
        self.asked = threading.Event()
        self._begun = False
        self._once = threading.Lock()

    def __call__(self) -> None:
        with self._once:
            begun, self._begun = self._begun, True
        if not begun:
            self._shut_down()

    def _shut_down(self) -> None:
        dropped = not self.asked.is_set() and not EXITING.is_set() and os.getpid() == self.pid
        self.asked.set()  # said once: dropped on its own loop, this runs again on a thread of its own
        try:
            self._close_parts()
        finally:
            # Said once it is closed: under `python -W error` (a test suite's warnings made errors) the warning
            # raises, and said first, it skipped the close: the loop's thread ran on, its calls in flight went
            # unrecorded, and the interpreter hung at exit for ever.
            if dropped:
                warnings.warn(
                    "a Magsag was garbage-collected without being closed, and is closed now (its calls in flight "
                    "recorded); use `with Magsag() as mg:` (or `async with`), or call mg.close() when done with it",
                    ResourceWarning,
                    stacklevel=3,
                )

    def _close_parts(self) -> None:
        bridge = self.bridge()
        if bridge is not None:
            bridge.closed = True  # every Skills, Runner and Observer of this Magsag shares the bridge
        if os.getpid() != self.pid:
            return  # a forked copy: the loop, connections and HTTP sessions are the parent's to close
        if threading.get_ident() == self.home.thread.ident:  # dropped on its own loop, which cannot wait for itself
            threading.Thread(target=self._shut_down, name="magsag-close").start()
            return
        try:
            self.home.portal.call(self.service.aclose)
        finally:
            try:
                self.home.stop()
            finally:
                self.done.set()


#: the weak references by which Magsags opened past magsag's exit hook are watched (see said_if_left_open)
_WATCHED: set[weakref.ref[Any]] = set()


def said_if_left_open(bridge: Bridge, closing: Closing) -> None:
    """Watch a Magsag opened while the exit hooks run (in a user's hook run after magsag's own), which weakref's
    finaliser may no longer close: once its exit hook has run, a finaliser does nothing. Collected during the hooks
    (dropped in the one that opened it), it is closed as at exit; collected as the interpreter finalises, left open,
    it cannot be (its loop's thread is frozen by then: nothing runs after the hooks), and that is said. The calls
    it answered were recorded as they returned; a call in flight and a record the ledger refused are not."""

    def collected(ref: weakref.ref[Any]) -> None:
        _WATCHED.discard(ref)
        if closing.done.is_set():
            return
        if not sys.is_finalizing():
            closing()
            return
        warnings.warn(
            "a Magsag opened while the interpreter was exiting (in an atexit hook run after magsag's own) was left "
            "open, and cannot be closed now that its event loop's thread has stopped with the interpreter: the calls "
            "it answered are recorded, but not a call still in flight, nor a record the ledger refused and kept for "
            "the close; close it in the hook that opens it: `with Magsag() as mg:`, or mg.close() before it returns",
            RuntimeWarning,
            stacklevel=2,
        )

    _WATCHED.add(weakref.ref(bridge, collected))
