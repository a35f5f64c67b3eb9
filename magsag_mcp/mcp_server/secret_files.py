"""Reading the file a ``*_FILE`` variable names: ``MAGSAG_MCP_TOKEN_FILE``'s (and the scrape token's), one token, and
``MAGSAG_MCP_TOKENS_FILE``'s, one AGENT TOKEN line a client. One reader for both: bounded (a path given by mistake,
a log or a disk image, is not read whole into memory), its refusals naming the file only where the value is a path
(a token set in the variable by mistake must not reach the log), and a byte order mark taken off as Windows writes
one (PowerShell 5.1's ``>`` writes UTF-16, its ``Set-Content -Encoding UTF8`` UTF-8 after one). What the file must
hold is each caller's to check."""

from __future__ import annotations

import codecs
import errno
import os
import stat
from pathlib import Path

from ..catalog_yaml import BYTE_ORDER_MARKS
from ..errors import ConfigError
from ..redaction import excerpt


def read_secret_file(variable: str, named: str, *, limit: int, holds: str, in_place_of: str = "") -> bytes:
    """The bytes of the file ``variable`` names (``named``, its value), at most ``limit`` of them. Refused, saying
    the file, what was wrong and the fix: a file that cannot be read, and one over ``limit`` bytes (no file of what
    it ``holds``: ``the token``, ``the AGENT TOKEN lines``). ``in_place_of``: the variable a token set here by
    mistake belongs in, named where the value is not shown."""
    path = Path(named)
    try:
        # not blocking: a FIFO at the path (a process's output given by mistake) held the open until a writer came,
        # at the start and at each look of a running server; it is refused below, as a device or a folder is
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        with open(fd, "rb", closefd=True) as f:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):  # (refused as reading it would be: "cannot be read (Is a directory)")
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
            if not stat.S_ISREG(mode):
                raise ConfigError(
                    f"{file_named(path, variable, in_place_of)} is not a regular file (a FIFO, a device or a socket, "
                    f"which may never end): name the file that holds {holds}"
                )
            data = f.read(limit + 1)
    except OSError as exc:
        # a relative name is looked for in the folder the server was started in, which an MCP client chooses
        whole = "" if path.is_absolute() else " by its whole path"
        raise ConfigError(
            f"{file_named(path, variable, in_place_of)} cannot be read ({exc.strerror or type(exc).__name__}): name "
            f"the file that holds {holds}{whole} (a Docker secret is /run/secrets/NAME), readable by this user"
        ) from None
    if len(data) > limit:
        size = f"{limit} bytes" if limit < 10 * 1024 else f"{limit // 1024} KiB"
        raise ConfigError(
            f"{variable}={excerpt(named, 200)!r} is over {size}, larger than any file of {holds} (another file named "
            f"by mistake?): name the file that holds {holds}"
        )
    return data


def file_named(path: Path, variable: str, in_place_of: str = "") -> str:
    """How a refusal names a file that could not be read: its path where it is one (a folder that exists holds it),
    else not at all. A token set in the file's variable (in place of ``in_place_of``) names no file, and the refusal
    goes to the log with it, as would a bare name (``token.txt``, which is read from the current folder: said so, not
    "in no folder that exists")."""
    instead = f": a token set there in place of {in_place_of} would be" if in_place_of else ""
    if len(path.parts) == 1 and not path.anchor:  # a bare name, as a token set by mistake is
        return f"the file {variable} names, a name with no folder{_current_folder()} (its value is not shown{instead}),"
    if path.parent == Path(path.anchor):  # (a token may begin with a slash: /Mp3x...)
        return f"the file {variable} names, a name in the top folder ({path.anchor}) (its value is not shown{instead}),"
    if path.parent.is_dir():
        return f"{variable}={excerpt(str(path), 200)!r}"
    return f"the file {variable} names, in no folder that exists (its value is not shown{instead}),"


def _current_folder() -> str:
    """``, looked for in the current folder (/srv/app)``, where a bare file name is read, or "" where the folder the
    process was started in is gone."""
    try:
        return f", looked for in the current folder ({excerpt(os.getcwd(), 200)})"
    except OSError:
        return ""


def unmarked(data: bytes) -> bytes:
    """``data`` as UTF-8 without a byte order mark: written in the UTF-16 or UTF-32 its mark names, or after UTF-8's.
    Raises UnicodeError where the text is none of the encoding its mark names."""
    codec = next((c for bom, c in BYTE_ORDER_MARKS if data.startswith(bom)), None)
    if codec is None:
        return data.removeprefix(codecs.BOM_UTF8)
    return data.decode(codec).encode("utf-8")


def marked_encoding(data: bytes) -> str:
    """The encoding ``data``'s byte order mark names (``UTF-16``), for a refusal of text that is none of it."""
    return next((c for bom, c in BYTE_ORDER_MARKS if data.startswith(bom)), "utf-8").upper()
