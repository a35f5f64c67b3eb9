"""What a command does where its standard output cannot be written: its reader has gone (``magsag ... | head``), or
the file it was sent to cannot grow (a full disk, a quota, a file size limit). What is still buffered is sent to the
null device (:func:`point_at_nowhere`), so that Python's flush at exit raises no second error, and a full disk is said
in one line (:func:`cannot_write`).

Separate from the package's ``__init__`` (which runs a command and catches these), :mod:`.parsing` (whose help and
usage end so too) and :mod:`.output` (whose export cut back points stdout at nothing), which all use it: it imports
none of them, so that imports flow one way.
"""

from __future__ import annotations

import errno
import os
import sys

__all__ = ["OUTPUT_FULL", "cannot_write", "point_at_nowhere", "reader_left"]

#: the errors of writing to a file that cannot grow: no space left, a quota, a file size limit
OUTPUT_FULL = frozenset(getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG") if hasattr(errno, name))


def cannot_write(exc: OSError) -> str:
    """What a command says, after its name, of output it could not write for want of room (see :data:`OUTPUT_FULL`)."""
    if exc.errno == errno.EFBIG:  # (a disk with room: "free some space" was no fix)
        from ..ledger.problems import too_large_fix

        return f"cannot write the output: {exc.strerror}; {too_large_fix()}"
    return f"cannot write the output: {exc.strerror}; free some space, or write it elsewhere"


def reader_left() -> int:
    """Whoever read stdout has gone (or it cannot be written): what is still buffered goes nowhere, with
    no error at exit. 0, the status a command whose reader left exits with."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):  # no file descriptor (a stream in memory, None): nothing to flush
        return 0
    point_at_nowhere(fd)
    return 0


def point_at_nowhere(fd: int) -> None:
    """``fd`` pointed at /dev/null: what is still buffered for it (a reader gone, an export cut back) goes nowhere,
    with no error at exit."""
    nowhere = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(nowhere, fd)
    finally:
        os.close(nowhere)  # (fd is the device now: this one was only the way to it)
