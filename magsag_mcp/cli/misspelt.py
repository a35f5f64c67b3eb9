"""What ``magsag`` says on stderr, before a command runs, of a ``MAGSAG_*`` variable set that it reads by no name but
that is near one it does (``MAGSAG_DB`` with ``_PATH`` added: did you mean MAGSAG_DB?): the setting meant is not in
effect, and the command did what it would have done without it (recorded to, or reported from, the default ledger),
saying nothing. One near no name read (nor a catalog's ``${VAR}``) is said too, once, as doctor notes it: it changes
nothing either, and the ``MAGSAG_`` prefix is magsag's. ``magsag-mcp`` says the same lines as it starts (one function,
:func:`~magsag_mcp.settings.unread_variable_warnings`). Named, never their values (one may hold a key). On stderr
alone: stdout is what a script parses (``--json``, ``--format csv``).
(No such name is spelt out whole here: tests/test_cli_core_doctor_settings.py holds every one in the package read.)"""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import MagsagError
from ..settings import unread_variable_warnings

#: the commands that do not warn: doctor lists them among its problems (said twice otherwise), and the demo runs its
#: server with no MAGSAG_* variable of the caller's
_SAID_OTHERWISE = frozenset({"doctor", "demo"})


def warn_of_unread_variables(args: argparse.Namespace) -> None:
    """Each misspelt or unknown ``MAGSAG_*`` variable, one line on stderr (``magsag: warning: ...``), for the command
    ``args`` runs; none for :data:`_SAID_OTHERWISE`'s. A catalog that cannot be found (whose ``${VAR}`` are read
    too) leaves them unsaid: the command refuses it, with its fix."""
    if getattr(args, "command", None) in _SAID_OTHERWISE:
        return

    def catalog_root() -> object:
        from ..catalog_location import find_catalog

        return find_catalog(getattr(args, "catalog", None), partial_ok=True)

    try:
        unread = unread_variable_warnings(os.environ, catalog_root)
    except (MagsagError, OSError):
        return
    for line in unread:
        print(f"magsag: warning: {line}", file=sys.stderr)
