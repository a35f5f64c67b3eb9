"""The HTTP server's bearer token, from ``MAGSAG_MCP_TOKEN`` or the file ``MAGSAG_MCP_TOKEN_FILE`` names.

A container's secrets come as files (Docker and Compose secrets under ``/run/secrets/``, a Kubernetes secret mounted
as a volume), and a token in the environment is shown by ``docker inspect`` and to whoever reads the process's
environment: the ``*_FILE`` variable, the convention of database images, reads it from the file instead. The file's
last line break (``echo token > file``, an editor's) is no part of the token; any other space around it is refused
by :func:`.http.check_binding`, as in the variable. The scrape token (``MAGSAG_MCP_METRICS_TOKEN_FILE``) is read
by the same code (:func:`token_from_env`).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ConfigError
from ..redaction import excerpt
from .http import NEW_TOKEN, TOKEN_ENV
from .secret_files import read_secret_file, unmarked

TOKEN_FILE_ENV = "MAGSAG_MCP_TOKEN_FILE"
#: how :func:`.http.check_binding` names a token read from the file
FROM_THE_FILE = f"the token in the file {TOKEN_FILE_ENV} names"  # (:func:`from_the_file`'s, for this variable)
#: the most a token file is read of: a token is some 40 characters, and a path given by mistake (a log, a disk
#: image) must not be read whole into memory
MAX_TOKEN_FILE_BYTES = 4096


def token_setting(env: Mapping[str, str]) -> tuple[str | None, str]:
    """The token the environment sets (None: no token), and where (the variable, or :data:`FROM_THE_FILE`). Either
    variable, not both: which would win is a guess, and a server left on the one the operator did not mean answers
    every client 401."""
    return token_from_env(env, TOKEN_ENV, TOKEN_FILE_ENV)


def from_the_file(file_variable: str) -> str:
    """How :func:`.http.check_binding` names a token read from the file ``file_variable`` names."""
    return f"the token in the file {file_variable} names"


def token_from_env(env: Mapping[str, str], variable: str, file_variable: str) -> tuple[str | None, str]:
    """A token set in ``variable`` or read from the file ``file_variable`` names (never both), and where it was set
    (``variable``, or :func:`from_the_file`): the MCP token's (:func:`token_setting`) and the scrape token's
    (:mod:`.metrics_endpoint`), read alike."""
    value = env.get(variable) or None
    named = (env.get(file_variable) or "").strip()
    if not named:
        return value, variable
    if value is not None:
        raise ConfigError(f"both {variable} and {file_variable} are set; set one of them (unset the other)")
    return token_in_file(file_variable, named, variable), from_the_file(file_variable)


def token_in_file(file_variable: str, named: str, variable: str) -> str:
    """The token in the file ``file_variable`` names (``named``, its value), in place of ``variable``; refused where
    the file cannot be read or holds no token (its shape is :func:`.http.check_binding`'s to check). Read at the
    start, and again where the file changes under a running server (:mod:`.token_reload`)."""
    data = read_secret_file(file_variable, named, limit=MAX_TOKEN_FILE_BYTES, holds="the token", in_place_of=variable)
    try:
        text = unmarked(data).decode("ascii")
    except UnicodeError:
        raise ConfigError(
            f"the file {file_variable} names has characters other than ASCII, which no client can send in a header; "
            f"write it the output of {NEW_TOKEN}"
        ) from None
    token = text.removesuffix("\n").removesuffix("\r")  # the file's last line break: `echo`'s, an editor's
    if not token:
        raise ConfigError(
            f"the file {file_variable} names ({excerpt(named, 200)!r}) is empty; write the token in it, e.g. the "
            f"output of {NEW_TOKEN}"
        )
    return token
