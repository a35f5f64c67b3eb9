"""``magsag data backup FILE``: a consistent copy of the ledger while calls go on (see :mod:`~..ledger.backup`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import CommandGroups, given, print_json


def _backup(args: argparse.Namespace) -> int:
    from ..ledger.backup import backup
    from ..signals import sigterm_interrupts
    from .ledger_reading import existing_ledger

    # (Ctrl-C and, where it is one, SIGTERM already stop it through backup()'s finally, removing its copy)
    with sigterm_interrupts():
        done = backup(existing_ledger(args), Path(args.file).expanduser())
    print_json(done)
    return 0


def register(groups: CommandGroups) -> None:
    p = groups.add(
        groups.group("data"),
        "backup",
        reads=("db",),
        help="a consistent copy of the ledger into FILE, made while calls are recorded",
        description="Copy the ledger into FILE as of one moment, with what its -wal log holds (SQLite's online "
        "backup: calls go on being recorded meanwhile), checked, and renamed over FILE once whole. The copy is "
        "one file (no -wal beside it), readable by its owner only; `cp` of a ledger in use may copy it torn. To "
        "restore or move it, see docs/money-records-budgets.md.",
    )
    p.add_argument("file", type=given, help="where the backup goes: a new file, or an earlier backup to replace")
    p.set_defaults(func=_backup)
