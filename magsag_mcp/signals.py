"""SIGTERM stops a command the way Ctrl-C does, so a call in flight still records what it spent.

Hosts stop processes with SIGTERM: an MCP client after closing the server's stdin, Docker, systemd.
Python's default for it is to die on the spot, so a call already sent (and perhaps billed) would
leave no record and hold its budget reservation until it expired. Turned into SIGINT, it takes the
path Ctrl-C takes: ``asyncio``'s runner cancels the main task, synchronous code gets
``KeyboardInterrupt``, and each cancelled call records its attempts on the way out.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

#: the signal that stopped the process, if one did (for its exit status: 128 + the number)
received: int | None = None


def sigterm_as_interrupt() -> None:
    """Handle SIGTERM as SIGINT from now on (only the main thread may set handlers), unless SIGINT is ignored."""
    if threading.current_thread() is not threading.main_thread():
        return
    # Started with SIGINT ignored (a script's background job, shielded from the terminal's Ctrl-C), a
    # SIGTERM turned into SIGINT would be dropped: the process would run on to its deadline. It keeps
    # SIGTERM's default then, stopping at once; a call in flight goes unrecorded, its reservation expires.
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGTERM, _interrupt)


def exit_status() -> int:
    """The exit status of a process stopped by a signal: 143 for SIGTERM, 130 for Ctrl-C."""
    return 128 + (received or signal.SIGINT)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    global received
    received = signum
    signal.raise_signal(signal.SIGINT)
