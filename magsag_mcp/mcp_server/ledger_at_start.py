"""What ``magsag-mcp`` says as it starts over stdio of a ledger no call could write: none there and none makeable (a
folder on its path is a file, the folder this user cannot write, a read-only mount), one there it cannot write, or
':memory:' (a file of that name in the working folder to the check, a ledger every call refuses).

Over stdio the ledger opens at the first call: a server whose ledger folder could not be written started in silence,
answered ``initialize`` and listed its tools, and each call then failed with the ledger_error; a user who looked at the
start's log saw nothing wrong. The check is :mod:`os`'s alone, so a start whose ledger can be written imports nothing
more (the ledger package, SQLite); where it cannot, the message is the one ``magsag doctor`` and the call give."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def ledger_path(db: str | None, env: Mapping[str, str]) -> Path:
    """The ledger the service would open: ``--db``, else ``MAGSAG_DB``, else the user data folder's (as
    :func:`~magsag_mcp.ledger.connection.default_db_path`, without importing the ledger)."""
    from ..settings import ledger_path_setting

    given = db or ledger_path_setting(env)
    if given:
        return Path(given).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("magsag-mcp", appauthor=False)) / "ledger.db"


def _writable(path: Path) -> bool:
    """Whether a call could record to the ledger at ``path``: the file (where a link points) and its folder, where
    SQLite makes the -wal and -shm files, writable, or where it is not there yet, the nearest folder on its path that
    is there a folder this user can write in. True where it cannot be told (a working folder deleted: the call says)."""
    try:
        real = Path(os.path.realpath(path))
    except OSError:
        return True
    if real.exists():
        return os.access(real, os.W_OK) and os.access(real.parent, os.W_OK | os.X_OK)
    folder = real.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def unwritable_ledger_warning(db: str | None, env: Mapping[str, str]) -> str | None:
    """Why no call could record to the ledger ``db`` (``--db``) or ``env``'s ``MAGSAG_DB`` names, with the fix, or
    None where one could (or it cannot be told here: the service's open says)."""
    from ..errors import MagsagError

    try:
        path = ledger_path(db, env)
    except MagsagError:  # (a blank MAGSAG_DB: refused before this is asked)
        return None
    # ':memory:' is a path in the working folder, writable as a rule: every call refuses it as the ledger all the same
    in_memory = str(path) == ":memory:"
    if not in_memory and _writable(path):
        return None
    from ..ledger.problems import in_memory_error, read_only_error

    until_then = "; until then every call fails before it is sent (ledger_error)"
    if in_memory:
        return in_memory_error().message + until_then
    from ..ledger.connection import unmakeable_ledger_problem

    try:
        if path.exists():
            return read_only_error(path, None).message + until_then
        return unmakeable_ledger_problem(path, env)
    except (MagsagError, OSError):
        return None
