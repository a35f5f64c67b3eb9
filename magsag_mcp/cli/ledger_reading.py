"""The ledger a command that reads what was spent opens: never one made by the reading (a mistyped --db is refused, a
ledger not there yet is read as an empty one of its own, with a note), on the ledger alone or through a service."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from ..errors import InputError, redact
from ..signals import stopped_by_sigterm
from .runs_table import shown


def existing_ledger(args: argparse.Namespace) -> Path:
    """The ledger a command that reads what was spent reads. A ``--db`` with no file there is refused:
    opening it would create an empty ledger and report nothing spent, which reads as "no spend" (or a
    whole budget left) when the path was mistyped; so is a file there that holds no ledger (empty, a
    blank SQLite database), which opening it made one. ``MAGSAG_DB`` and the default path may name a
    ledger that does not exist yet (set up before the first call): nothing was spent (see :func:`_reading`). A path
    one of whose folders is a file is neither: no ledger can ever be made there, which is said with the fix."""
    from ..ledger import default_db_path

    path = Path(args.db).expanduser() if args.db else default_db_path()
    if not path.exists():
        from ..errors import LedgerError
        from ..ledger.connection import where_ledger_is
        from ..ledger.problems import file_in_the_way

        # a folder of it is a file: no ledger can ever be there, not "none yet" (MAGSAG_DB) nor "check the path" (--db)
        where = where_ledger_is(path)
        if (in_the_way := file_in_the_way(where)) is not None:
            raise LedgerError(f"cannot open the ledger at {where}: it {in_the_way}", db=str(where))
        if args.db:
            # a relative one names the file in this folder (as note_no_ledger_yet says of a relative MAGSAG_DB)
            relative = not path.is_absolute()
            looked = f" ({where}, relative to the folder this runs in)" if relative else ""
            raise InputError(
                f"no ledger at --db {args.db}{looked}: nothing has been recorded there; check the path (the ledger "
                "that magsag-mcp and `magsag invoke` write to is the one their --db or MAGSAG_DB names)"
                + ("; give --db as an absolute path" if relative else "")
            )
    return path


def note_no_ledger_yet(path: Path) -> None:
    """A note on stderr when the ledger that ``MAGSAG_DB`` or the default path names holds nothing yet: the
    figures that follow are zeros, which read as "nothing spent" (and pass ``flow gate``) when MAGSAG_DB was
    mistyped, or set otherwise than for the server whose calls were meant."""
    from ..ledger.connection import where_ledger_is

    source = "MAGSAG_DB" if (os.environ.get("MAGSAG_DB") or "").strip() else "the default path; MAGSAG_DB is unset"
    fix = ""
    if not path.is_absolute():  # the file looked for, and why the server's (in the folder it started in) was not
        source = f"MAGSAG_DB={path}, relative to the folder this runs in"
        fix = "; give MAGSAG_DB as an absolute path"
    # redacted, as doctor's report is: a key swapped into MAGSAG_DB (two values of a config swapped) is a path here
    where = redact(f"{where_ledger_is(path)} ({source})")
    print(
        f"note: no ledger at {shown(where)} yet: nothing has been recorded there; calls are recorded in the ledger "
        f"magsag-mcp or `magsag invoke` was given (its --db or MAGSAG_DB): check that it is this one{fix}",
        file=sys.stderr,
    )


@contextlib.asynccontextmanager
async def _reading(
    args: argparse.Namespace, open_at: Callable[..., Any], *, writes: bool = False
) -> AsyncIterator[Any]:
    """What ``open_at(path, create=..., blank_is_absent=...)`` opens (a ledger, a service) on the ledger to
    read, making none. Where ``MAGSAG_DB`` or the default path holds no ledger yet (no file, an empty one),
    a note says so and the command reads an empty ledger of its own, thrown away after: made there, as it
    was, the first run's note was the last (every later run read that empty ledger with no word, zeros that
    ``flow gate`` passed), and an empty file an install made for the first call was changed. A ``--db``
    with no ledger is refused (:func:`existing_ledger`, and ``Ledger(create=False)`` for an empty file). Unless the
    command ``writes`` (a prune), a ledger on a full disk is read (the ledger's ``reading``)."""
    from ..ledger.copies import copy_note

    path = existing_ledger(args)
    async with open_at(path, create=False, blank_is_absent=not args.db, reading=not writes) as opened:
        ledger = getattr(opened, "ledger", opened)
        if not ledger.absent:
            note = copy_note(ledger)  # an older magsag-mcp writes to it: a migrated copy was read
            if note is not None:
                print(f"note: {shown(note)}", file=sys.stderr)
            yield opened
            return
    note_no_ledger_yet(path)
    with tempfile.TemporaryDirectory(prefix="magsag-no-ledger-") as tmp:
        async with open_at(Path(tmp) / "ledger.db", create=True, blank_is_absent=False, reading=True) as empty:
            yield empty


def with_ledger(args: argparse.Namespace, fn: Callable[[Any], Awaitable[Any]], *, writes: bool = False) -> Any:
    """Run ``fn(ledger)`` on the ledger alone: reading usage needs no catalog, so a catalog with a
    problem (being fixed) does not stop anyone looking at what was spent. ``writes``: ``fn`` writes (a prune)."""
    from ..ledger import Ledger
    from ..ledger.connection import ledger_sync_from_env

    sync = ledger_sync_from_env()

    async def go() -> Any:
        async with _reading(args, lambda path, **how: Ledger(path, sync=sync, **how), writes=writes) as ledger:
            # a background job's (SIGINT ignored) SIGTERM stops it as Ctrl-C would, not killing it on the spot: an
            # export's --output not left half-made beside its file, the ledger closed (its log checkpointed)
            return await stopped_by_sigterm(lambda: fn(ledger))

    return anyio.run(go)


def with_service(args: argparse.Namespace, fn: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run ``fn(service)`` for a command that reads the ledger (``magsag budget``)."""
    from ..service import Service

    @contextlib.asynccontextmanager
    async def service(path: Path, *, create: bool, blank_is_absent: bool, reading: bool) -> AsyncIterator[Any]:
        opened = await Service.open(
            catalog=args.catalog, db=path, create_ledger=create, empty_ledger_ok=blank_is_absent, reading=reading
        )
        async with opened as svc:
            yield svc

    async def go() -> Any:
        async with _reading(args, service) as svc:
            return await fn(svc)

    return anyio.run(go)
