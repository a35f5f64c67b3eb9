"""Which process holds a budget reservation, and whether it still runs (0024_reservation_owner).

A reservation is written with its process: the place its process id means something (``owner_host``), the id
(``owner_pid``) and when that process started (``owner_started``). A process that finds a reservation held by a
process of its own place that no longer runs (SIGKILLed, crashed, out of memory) need not wait out the reservation's
expiry (15 minutes or more) to record the call it stood for as abandoned: nothing can record it any more.

The place is Linux's boot id with the process id namespace: a process id names the same process only on one boot of
one kernel, seen from one pid namespace (each container has its own, and a container sharing the host's network,
hostname included, still sees other ids). Anywhere else (macOS, Windows, a /proc that cannot be read) no owner is
written, and the reservation keeps its expiry, as does one another place holds (another host on a shared folder,
another container): its process cannot be seen from here. The start time tells a process from a later one given
the same id (ids are reused): a different start, or none (no such process, or a zombie, which runs no more code),
is the owner gone. A process stopped (SIGSTOP, a suspended job, a laptop asleep) still runs in this sense, and its
reservation keeps its expiry."""

from __future__ import annotations

import os
import sqlite3

#: ``(place, pid, start)`` of this process, or ``(None, None, None)`` where it cannot be known
Owner = tuple[str | None, int | None, int | None]
NO_OWNER: Owner = (None, None, None)

#: the reservations held by processes of one place whose expiry has not come: the ones a look at /proc may end early
HELD_HERE = (
    "SELECT id, owner_pid, owner_started FROM budget_reservations"
    " WHERE state = 'held' AND owner_host = ? AND expires_at >= ?"
)
#: ends a reservation's hold as of when it was made: its process is gone, and the sweep records it as it records an
#: expired one (see .abandoned.EXPIRED_RESERVATIONS), in the same transaction
EXPIRE_NOW = "UPDATE budget_reservations SET expires_at = created_at WHERE id = ?"

_owner: Owner | None = None
_place: str | None = None
_place_read = False


def _read(path: str) -> str | None:
    # read as bytes, decoded by the interpreter's built-in Latin-1: a text file's codec is looked up and imported, which
    # a process that dropped to a user who cannot read the interpreter's library (a read-only summary, which reads
    # this now) could not do ("unknown encoding: ascii"). Latin-1, not ASCII: a process's name (comm, in its stat)
    # is bytes, UTF-8 where it is named so, and a stat read as ASCII was no text (its process's start unreadable)
    try:
        with open(path, "rb") as f:
            return f.read().decode("latin-1")
    except (OSError, ValueError):
        return None


def this_place() -> str | None:
    """Where a process id names one process: this boot of this kernel and this process's pid namespace; None where
    that cannot be read (not Linux)."""
    global _place, _place_read
    if not _place_read:
        boot = _read("/proc/sys/kernel/random/boot_id")
        try:
            namespace = os.readlink("/proc/self/ns/pid")
        except OSError:
            namespace = None
        _place = f"{boot.strip()}/{namespace}" if boot and boot.strip() and namespace else None
        _place_read = True
    return _place


#: what :func:`started` says of a process that runs but whose start this process may not read (another user's,
#: under /proc's ``hidepid``): not gone, whatever start a reservation names
UNREADABLE = -1


def started(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (/proc's ``starttime``); None where there is no such
    process, or a zombie (exited, not yet waited for); :data:`UNREADABLE` for a process that runs but whose start
    cannot be read."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        try:
            os.kill(pid, 0)  # (signal 0 sends nothing: it asks whether the process exists)
        except ProcessLookupError:
            return None
        except OSError:  # PermissionError: it exists, another user's
            pass
        return UNREADABLE
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so the fields are read after its last ')'
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    try:
        return int(fields[19])  # field 22 of the whole line
    except ValueError:
        return UNREADABLE


def _gone(now_started: int | None, start: int) -> bool:
    """Whether the process a reservation names as started at ``start`` is gone, its id's process now started at
    ``now_started`` (see :func:`started`)."""
    return now_started is None or (now_started != UNREADABLE and now_started != start)


def this_owner() -> Owner:
    """This process, as a reservation it makes names it (read once per process: a forked child reads its own)."""
    global _owner
    if _owner is None:
        place = this_place()
        pid = os.getpid()
        # /proc must be this process's pid namespace's (a /proc mounted for another one names others by these ids)
        own = _read("/proc/self/stat") if place is not None else None
        start = started(pid) if own is not None and own.split(" ", 1)[0] == str(pid) else None
        _owner = (place, pid, start) if start is not None and start != UNREADABLE else NO_OWNER
    return _owner


def _forget_owner() -> None:
    global _owner
    _owner = None


if hasattr(os, "register_at_fork"):  # a child of fork() is another process, with an id of its own
    os.register_at_fork(after_in_child=_forget_owner)


def gone_owners(conn: sqlite3.Connection | sqlite3.Cursor, now: float) -> list[tuple[int]]:
    """The ids of the reservations not yet expired whose process, of this place, no longer runs."""
    place, pid_here, start_here = this_owner()  # (no place where this process's /proc cannot tell: it judges none gone)
    if place is None:
        return []
    # Each process's start is read once per look, and this process's not at all: a batch's holds are hundreds of one
    # process's, and the sweep reads them in the write transaction, every other process's writes waiting on it.
    now_started: dict[int, int | None] = {pid_here: start_here} if pid_here is not None else {}
    gone: list[tuple[int]] = []
    for rid, pid, start in conn.execute(HELD_HERE, (place, now)):
        if pid not in now_started:
            now_started[pid] = started(pid)
        if _gone(now_started[pid], start):
            gone.append((rid,))
    return gone


def expire_gone_owners(conn: sqlite3.Connection | sqlite3.Cursor, now: float) -> int:
    """End the hold of each reservation of a process of this place that no longer runs, so that the sweep after it
    (in the same transaction) records its call as abandoned now rather than at its expiry. Returns how many."""
    gone = gone_owners(conn, now)
    if gone:
        conn.executemany(EXPIRE_NOW, gone)
    return len(gone)
