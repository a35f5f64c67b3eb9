"""How an error names the catalog and ledger settings: as its caller gives them. ``Magsag(catalog="nope")`` was told
"--catalog points at 'nope'", and a bad ``db=`` to "check the file that --db / MAGSAG_DB names": flags a Python caller
never passed. The command line (``magsag``, ``magsag-mcp``) names its flags while it runs (:func:`command_line`);
everything else, the Python API, names the arguments.

A process-wide setting, not a context variable: the ledger's checks run on aiosqlite's threads, which no context
reaches, and a process runs one command line at most."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_on_command_line = [False]


@contextmanager
def command_line() -> Iterator[None]:
    """While a command line's ``main`` runs: its errors name ``--catalog`` and ``--db``."""
    before = _on_command_line[0]
    _on_command_line[0] = True
    try:
        yield
    finally:
        _on_command_line[0] = before


def catalog_option() -> str:
    """``--catalog`` on the command line, ``catalog=`` from Python."""
    return "--catalog" if _on_command_line[0] else "catalog="


def db_option() -> str:
    """``--db`` on the command line, ``db=`` from Python."""
    return "--db" if _on_command_line[0] else "db="


def db_setting() -> str:
    """The ledger's setting with its variable: ``--db / MAGSAG_DB``, or ``db= (or MAGSAG_DB)``."""
    return "--db / MAGSAG_DB" if _on_command_line[0] else "db= (or MAGSAG_DB)"
