"""``magsag data prune``: retention (see :mod:`~..ledger.prune`), and its report, printed once its records are
deleted whatever stops it after."""

from __future__ import annotations

import argparse
import sys

from ..signals import taken, too_late_to_stop
from . import CommandGroups, print_json


def _prune(args: argparse.Namespace) -> int:
    from ..ledger.prune import PruneProgress, retention_seconds
    from .ledger_reading import with_ledger

    seconds = retention_seconds(args.older_than)  # refused before the ledger is opened
    progress = PruneProgress()
    stopped_by = None
    try:
        counts = with_ledger(
            args, lambda ledger: ledger.prune(seconds, vacuum=not args.no_vacuum, progress=progress), writes=True
        )
    except KeyboardInterrupt:
        # Stopped in its steps, the prune was stopped part way (exit 130, or 143 for SIGTERM). Stopped once every
        # step had committed (in its vacuum, which stops where it is, its log's truncation or the ledger's close),
        # the records are deleted all the same: it exited 130 with no report, where a Ctrl-C a moment later exited 0
        # with it, and a script read a prune that had deleted the records as one that had not
        report = progress.report()
        if report is None:
            raise
        counts, stopped_by = report, taken()
    # the records are deleted (each step committed) and the ledger closed: a Ctrl-C from here on stops nothing, and
    # the report of what was deleted is printed whole, the prune's exit status 0 (not 130, "interrupted")
    with too_late_to_stop():
        print_json({"deleted": counts, "older_than": args.older_than})
        if args.no_vacuum:
            print(
                "note: not vacuumed (--no-vacuum): new records reuse the space freed, but the file keeps its size; "
                "to shrink it, run the prune again without --no-vacuum when few calls are being made",
                file=sys.stderr,
            )
        elif stopped_by is not None and not progress.vacuum_ended:
            print(
                f"note: the records were deleted, and new ones reuse their space, but the vacuum was stopped "
                f"({stopped_by}) before it ended, so the ledger file was not shrunk; to shrink it, run the prune "
                "again when few calls are being made",
                file=sys.stderr,
            )
        elif counts.get("vacuum") == 0:  # said, not left to a bare 0: the user pruned to free space
            print(
                "note: the records were deleted, and new ones reuse their space, but the ledger file was not shrunk: "
                "its vacuum could not run (another process held the ledger, or the disk has no room for a copy of "
                "it); run the prune again later, or after freeing some space, to shrink it",
                file=sys.stderr,
            )
    return 0


def register(groups: CommandGroups) -> None:
    p = groups.add(
        groups.group("data"),
        "prune",
        reads=("db",),
        help="delete records older than a duration, then vacuum",
        description="Delete the attempts, events and runs older than --older-than, then vacuum. A run's row holds "
        "the spend its run limit counts: it stays while the run has a call in flight, until the run has been "
        "idle for two days (whatever --older-than says), and while a run delegated from it goes on. The "
        "quarter-hour spend the day and month limits count (costs, all calls' and each agent's, no call's data) is "
        "kept 33 days before the cutoff, whatever the policies set: a month limit of any process on the ledger "
        "counts its month's first days.",
    )
    p.add_argument("--older-than", required=True, help="hours, days or weeks, e.g. 90d, 12w, 48h")
    p.add_argument(
        "--no-vacuum",
        action="store_true",
        help="delete without vacuuming: the vacuum rewrites the whole file while every call's record waits for it "
        "(seconds on a ledger of gigabytes); the space freed is reused by new records",
    )
    p.set_defaults(func=_prune)
