"""A ledger that cannot be migrated where it is, read from a migrated copy.

An older version's ledger (recorded before this version's latest migrations: before 0017, say, which renames
Google's ``models/gemini-...`` rows) that this user cannot write (an auditor's read-only copy of last quarter's
ledger, a CI artifact mounted read-only, a file opened with ``read_only=True``), or that is on a full disk, was
refused for reading: its reads need the tables and columns the migrations add, and migrating it means writing it.
It is now read from a copy made in a temporary folder (``TMPDIR``) and migrated there: the ledger itself is left
as it is, byte for byte, and the copy is removed when the ledger closes (or its open fails, or is stopped). The
copy is a snapshot: calls recorded to the ledger afterwards (by its owner's older magsag-mcp) are not read. Its
writes are refused as any read-only ledger's are (:meth:`~.read_only.ReadOnlyMode.read_only_error`).

Copying costs what the ledger weighs (its -wal file too): a ledger too large for the temporary folder's free
space is refused, naming both, before anything is written. A ledger a newer version migrated is never copied:
it is refused with the fix (upgrade magsag-mcp), as at every open.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anyio

from ..errors import LedgerError
from .connection import file_version, open_read_only, read_only_uri
from .copies import _copy
from .problems import _NEARLY_FULL_BYTES, free_bytes, log_file, opened_file, out_of_space


def ledger_bytes(path: Path) -> int:
    """What a copy of the ledger at ``path`` weighs at most: its file and its -wal file, whose pages it holds."""
    total = 0
    for file in (opened_file(path), log_file(path)):
        try:
            total += file.stat().st_size
        except OSError:
            pass
    return total


def size_text(n: int) -> str:
    """``n`` bytes as a person reads them."""
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.1f} KiB"


def cannot_migrate(ledger: Any) -> tuple[str, str]:
    """Why the ledger cannot be migrated where it is, and what lets it be read in place."""
    cause = ledger._read_only_cause
    if cause is not None and out_of_space(cause, ledger.path):
        return f"is on a full disk ({cause})", "free some space beside it (the migrations are made as it opens)"
    why = "cannot be written here" if cause is not None or not ledger.asked_read_only else "was opened read-only"
    return why, "open it once with this version where it can be written, which migrates it"


#: how many times a ledger is copied while a writer keeps changing it under the copy (see _copy_as_of_one_moment)
COPY_TRIES = 3


class _KeptChanging(Exception):
    """The ledger was written while each copy of it was made."""


def _copy_as_of_one_moment(path: Path, busy_timeout_ms: int, folder: str, abandoned: threading.Event) -> Path:
    """The ledger at ``path`` copied into ``folder`` and migrated there (:func:`~.copies._copy`). With no -wal file
    there (no writer at work) SQLite reads the file as immutable, trusting it not to change: a writer that began
    meanwhile (its owner's older magsag-mcp) and checkpointed into it could leave a copy that mixes pages of two
    moments, so the copy is made again when the file changed or a -wal file came while it was made."""
    for _ in range(COPY_TRIES):
        immutable, version = read_only_uri(path)[1], file_version(path)
        copy = _copy(path, busy_timeout_ms, folder, abandoned, migrated=True)
        if not immutable or (file_version(path) == version and not log_file(path).exists()):
            return copy
        for made in Path(folder).iterdir():
            made.unlink()
    raise _KeptChanging()


async def read_a_migrated_copy(ledger: Any, pending: list[str]) -> None:
    """Open ``ledger`` (read-only, made by an older version: it lacks ``pending``) on a migrated copy of its file
    (see the module's docstring); its :attr:`copied_from` is then its path, which stays the ledger's."""
    path = ledger.path
    why, fix = cannot_migrate(ledger)
    lacks = f"lacks schema migration(s) {', '.join(pending)} of this magsag-mcp, which its reads need"
    size, temp = ledger_bytes(path), tempfile.gettempdir()
    free = free_bytes(Path(temp))
    if free is not None and free < size + _NEARLY_FULL_BYTES:
        raise LedgerError(
            f"cannot read the ledger at {path}: it {why} and {lacks}, so it is read from a migrated copy, made in "
            f"{temp}, which needs about {size_text(size)} and has {size_text(free)} free; free some space there or "
            f"set TMPDIR to a folder with room, or {fix}",
            db=str(path),
            migrations=pending,
        )
    abandoned = threading.Event()
    folder = None
    try:
        folder = ledger.copy_folder = tempfile.mkdtemp(prefix="magsag-ledger-copy-")  # removed if the open fails
        copy = await anyio.to_thread.run_sync(_copy_as_of_one_moment, path, ledger.busy_timeout_ms, folder, abandoned)
    except BaseException as exc:
        abandoned.set()  # stopped meanwhile (Ctrl-C): the copy's thread removes what it wrote when it ends
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, _KeptChanging):
            raise LedgerError(
                f"cannot read the ledger at {path}: it {why} and {lacks}, so it is read from a migrated copy, and "
                f"a process wrote it while it was copied, {COPY_TRIES} times over; retry once that process is done, "
                f"or {fix}",
                db=str(path),
                migrations=pending,
            ) from None
        if not isinstance(exc, sqlite3.Error | OSError):
            raise
        raise LedgerError(
            f"cannot read the ledger at {path}: it {why} and {lacks}, so it is read from a migrated copy, which "
            f"could not be made in {temp} ({exc}; the copy needs about {size_text(size)}); free some space there "
            f"or set TMPDIR to a folder with room, or {fix}",
            db=str(path),
            migrations=pending,
        ) from None
    ledger._reader, _ = await open_read_only(copy, ledger.busy_timeout_ms, None)
    # a snapshot: never reopened for a writer of the ledger come since (it would reopen the ledger, not the copy)
    ledger._writer_log = ledger._read_version = None
    ledger.copied_from, ledger.copy_behind = path, pending
    ledger.copy_reason = (
        f"the ledger at {path} {why} and {lacks}; so a copy of it, migrated, was read ({size_text(copy.stat().st_size)}"
        f" in {temp}, made at {time.strftime('%H:%M:%S UTC', time.gmtime())}, removed when done: calls recorded to "
        f"the ledger since are not in it), and the ledger was left as it was; to read it in place, {fix}"
    )
