"""Where a command may write the file its ``--output`` names: never over a ledger or a catalog; an export
written whole or not at all (:func:`export_to`); and a failure to write it said as which file, and what to do
(:func:`output_errors`).

``flow summarize --output`` opened the file it was given for writing, whatever it was: pointed at the
ledger it had just read (``--db led.db --output led.db``, a tab completion one letter off), at the ledger's
``-wal`` file, at another ledger, or at a catalog's ``prices.yaml`` or a policy file, it replaced months of
recorded spend, or a catalog, with a summary, and said "wrote ...". What a ledger or a catalog is made of
is refused before anything is opened; any other file is written as before.
"""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TextIO

from ..errors import InputError
from ..working_folder import absolute
from .stdout_errors import point_at_nowhere

#: the files SQLite keeps beside a database while it is in use
LEDGER_SIDE_FILES = ("-wal", "-shm", "-journal")
#: the first bytes of a SQLite database, and of its write-ahead log (either byte order)
_SQLITE_MAGIC = b"SQLite format 3\x00"
_WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")
#: what a catalog is read from (see :mod:`magsag_mcp.catalog`)
CATALOG_FOLDERS = ("skills", "routing", "agents", "policies")
#: the catalog's price file, by its name in lower case (prices.yml and Prices.yaml are read too: see price_files)
CATALOG_FILES = ("prices.yaml", "prices.yml")


def _where(path: Path) -> Path:
    """``path`` made absolute with its links resolved (a file that does not exist yet resolves too); a relative one
    in a working folder that was deleted names nothing (see :mod:`magsag_mcp.working_folder`)."""
    return Path(os.path.realpath(absolute(Path(path).expanduser(), str(path))))


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(len(_SQLITE_MAGIC))
    except OSError:  # not readable (or not a file): opening it for writing says why, if it cannot be written
        return b""


def _sqlite_file(path: Path) -> str | None:
    """What SQLite file ``path`` is (a database, its log or shared memory), if it is one."""
    if not path.is_file():
        return None
    head = _head(path)
    if head.startswith(_SQLITE_MAGIC):
        return "a SQLite database (a ledger?)"
    if head[:4] in _WAL_MAGIC:
        return "a SQLite database's write-ahead log"
    for suffix in LEDGER_SIDE_FILES:
        base = path.name.removesuffix(suffix)
        if base and base != path.name and _head(path.with_name(base)).startswith(_SQLITE_MAGIC):
            return f"the {suffix[1:]} file of the SQLite database {path.with_name(base)}"
    return None


def check_output(output: str, *, ledger: Path | None, catalog: Path | None) -> None:
    """Refuse an ``--output`` that names the ``ledger`` (or one of its side files), any SQLite file, or a
    file the ``catalog`` is read from; the message says what it is and to choose another file."""
    target = _where(Path(output))
    fix = "; give another file, e.g. --output summary.json"
    if ledger is not None:
        base = _where(ledger)
        for suffix in ("", *LEDGER_SIDE_FILES):
            if target == base.with_name(base.name + suffix):
                what = "the ledger" if not suffix else f"the ledger's {suffix} file"
                raise InputError(f"--output {output} is {what} ({ledger}): writing it would destroy the ledger{fix}")
    database = _sqlite_file(target)
    if database is not None:
        raise InputError(f"--output {output} is {database}: writing it would destroy it{fix}")
    if catalog is not None:
        root = _where(catalog)
        if (target.parent == root and target.name.lower() in CATALOG_FILES) or any(
            target.is_relative_to(root / folder) for folder in CATALOG_FOLDERS
        ):
            raise InputError(
                f"--output {output} is in the catalog ({catalog}), which is read as skills, routing, agents, "
                f"policies and prices: writing there would replace or add to them{fix}"
            )


@contextmanager
def replacing(output: str, *, like: Path | None = None) -> Iterator[TextIO]:
    """A text stream whose contents replace the file ``output`` once it is closed without an error. A file it makes
    takes the permissions of ``like``, the ledger it was read from (see :func:`_new_file_mode`); one it replaces keeps
    its own.

    Written in place, a write that failed half-way (a full disk, Ctrl-C) left half a summary where the
    last whole one was: the file a CI job's `flow gate` reads next. A regular file (or none yet) is written
    beside itself and renamed over, so it holds the old summary or the new one, never part of one; its links
    are followed, so a link keeps pointing at it. Anything else (``/dev/stdout``, a named pipe) is written as
    it is: it cannot be renamed over. So is a file that can be written but not renamed over (one bind-mounted
    into a container on its own, or in a folder this user may not make a file in), once the summary is whole."""
    target = _where(Path(output))
    # as given too: /dev/stderr (or /dev/fd/N) on a pipe resolves, through /proc/self/fd, to no path ("pipe:[...]")
    if (target.exists() and not target.is_file()) or (os.path.exists(output) and not os.path.isfile(output)):
        with open(output, "w", encoding="utf-8") as fh:
            yield fh
        return
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        if exc.errno not in _NOT_RENAMED or not target.is_file():
            raise
        fd, temp = tempfile.mkstemp(prefix="magsag-summary.", suffix=".tmp")  # copied in place once whole
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yield fh
        if Path(temp).parent != target.parent:
            shutil.copyfile(temp, target)
        else:
            _renamed_over(temp, target, _new_file_mode(like))
    finally:
        with suppress(OSError):
            os.unlink(temp)


#: why a file that can be written cannot be replaced by a rename: a file bind-mounted on its own (EBUSY), another
#: file system (EXDEV), a folder this user may not make or remove files in (EACCES, EPERM)
_NOT_RENAMED = frozenset({errno.EBUSY, errno.EXDEV, errno.EACCES, errno.EPERM})


def names_stdout(output: str) -> bool:
    """Whether ``output`` is the file stdout writes to (``/dev/stdout``, ``/dev/fd/1``), which is then written as
    stdout (``-``) is. Resolved, /dev/stdout on a pipe is no path ("pipe:[...]", a failed export), on a terminal a
    device written in place, and on a regular file (``> audit.csv``, ``>> all.csv``) that file, which the export
    replaced whole by a rename: what ``>>`` had kept there was lost."""
    try:
        given, stdout = os.stat(output), os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no such file, or stdout closed or in memory (a test's capture)
        return False
    return (given.st_dev, given.st_ino) == (stdout.st_dev, stdout.st_ino)


#: the permissions magsag makes a ledger with (connection.py), for an output whose ledger's own cannot be read
_LEDGER_MODE = 0o600


def _new_file_mode(like: Path | None) -> int:
    """The permissions of a file an export or a summary makes: those of the ledger ``like`` it was read from, as the
    umask allows. Made at the umask's alone (0644 under the usual 022), a ledger that only its owner may read (magsag
    makes it 0600) was handed to every user of the machine as a CSV of its runs, costs and (redacted) errors, in
    whatever folder --output named (/tmp, a shared CI workspace). A ledger its operator made group-readable (0640)
    gives group-readable exports; a file chmod'ed once keeps its mode each time it is replaced. Its owner may always
    read and write it: taken whole from a ledger kept read-only (an audit copy, 0400), an export was a file its owner
    could not append to or edit, nor a later export copy into where it cannot be renamed over."""
    mode = _LEDGER_MODE
    if like is not None:
        with suppress(OSError):
            mode = like.stat().st_mode & 0o666 | _LEDGER_MODE
    return mode & ~_umask()


def _renamed_over(temp: str, target: Path, new_mode: int) -> None:
    """``temp`` renamed over ``target``; copied into it, in place, where ``target`` cannot be renamed over. A new file
    is made with ``new_mode``."""
    if target.exists():  # the file it replaces keeps its permissions (mkstemp makes it 0600)
        os.chmod(temp, target.stat().st_mode & 0o7777)
    else:
        os.chmod(temp, new_mode)
    try:
        os.replace(temp, target)
    except OSError as exc:
        if exc.errno not in _NOT_RENAMED or not target.is_file():
            raise
        shutil.copyfile(temp, target)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def export_to(output: str | None, *, like: Path | None = None) -> Iterator[TextIO | None]:
    """Where an export (``data query --format csv|json``) is written: the file ``output`` names (see
    :func:`replacing`), or stdout (None), whole or not at all.

    Stopped part way (Ctrl-C, SIGTERM) or failed, an export left the rows it had written, which a CSV cut
    between two rows shows no sign of: an audit that passed for the whole one. ``--output`` is written beside
    the file and renamed over it once whole, so a stopped export leaves the file there as it was. Written to
    stdout redirected to a regular file (``> audit.csv``, ``>> all.csv``), what the export wrote is cut off
    again, the file left as it was before the export began (``>`` emptied it). Either way, stderr says so.
    Into a pipe, or a terminal, what was written has been read: nothing can be taken back."""
    if output:
        kept = not os.path.exists(output) or os.path.isfile(output)  # else written in place (a named pipe)
        began = False  # a file that cannot be made (no such folder) is its own error, with its own fix
        try:
            with replacing(output, like=like) as fh:
                began = True
                yield fh
        except BaseException:
            if kept and began:
                print(
                    f"magsag: the export did not end: --output {output} was not written (what was there is left "
                    "as it was)",
                    file=sys.stderr,
                )
            raise
        return
    fd, start = _stdout_file_start()
    try:
        yield None
    except BaseException:
        if fd is not None and _cut_back(fd, start):
            print(
                "magsag: the export did not end: what it wrote to stdout was removed from the file, where it would "
                "have passed for the whole export; run it again (--output FILE writes a file only once whole)",
                file=sys.stderr,
            )
        raise


def _stdout_file_start() -> tuple[int | None, int]:
    """stdout's file descriptor and the offset the export's first byte goes to, if stdout is a regular file."""
    try:
        sys.stdout.flush()  # what was printed before belongs to the file
        fd = sys.stdout.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None, 0
        if _status_flags(fd) & os.O_APPEND:  # `>>`: written at the end, wherever the offset is
            return fd, os.fstat(fd).st_size
        return fd, os.lseek(fd, 0, os.SEEK_CUR)
    except (OSError, ValueError, AttributeError):  # stdout closed, or in memory (a test's capture)
        return None, 0


def _status_flags(fd: int) -> int:
    """The file status flags of ``fd`` (0 where there is no fcntl: Windows, whose redirections do not append)."""
    try:
        import fcntl
    except ImportError:
        return 0
    return fcntl.fcntl(fd, fcntl.F_GETFL)


def _cut_back(fd: int, start: int) -> bool:
    """The file ``fd`` cut back to ``start`` bytes, if the export wrote beyond it; whether it was. stdout is pointed
    at /dev/null after, so that what its buffer still holds (a write a second Ctrl-C broke off) goes nowhere."""
    try:
        if os.fstat(fd).st_size <= start:
            return False
        os.ftruncate(fd, start)
        os.lseek(fd, start, os.SEEK_SET)
        point_at_nowhere(fd)
        return True
    except OSError:
        return False


@contextmanager
def output_errors(output: str | None) -> Iterator[None]:
    """An OSError of writing the file ``--output`` names (``output``; with none, stdout's: as they are) raised as the
    InputError that says which file, and how to fix it where its folder is missing."""
    try:
        yield
    except OSError as exc:
        if not output:
            raise
        raise InputError(f"cannot write --output {output}: {exc.strerror}{_output_fix(output, exc)}") from None


def _output_fix(output: str, exc: OSError) -> str:
    """What to do about ``exc``, the error of writing the file ``output`` names; "" where there is nothing to say."""
    # a link (one a CI job keeps, latest.json) is written where it points: its folder is the one that must be there
    link = os.path.islink(output)
    target = os.path.realpath(output) if link else os.path.abspath(output)
    folder = os.path.dirname(target)
    if exc.errno == errno.ENOENT and not os.path.isdir(folder):
        pointed = f"; it is a link to {target}" if link else ""
        return (
            f"{pointed}; make its folder first (mkdir -p {shlex.quote(folder)}), or give --output a file in one that "
            "exists"
        )
    if exc.errno == errno.EISDIR:
        return "; it is a folder: give --output a file's path (one in that folder, say)"
    if exc.errno == errno.ENOTDIR:  # a folder on its path is a file (reports.json/summary.json)
        while folder != os.path.dirname(folder) and not os.path.exists(folder):
            folder = os.path.dirname(folder)
        return f"; {folder} is a file, not a folder: give --output a file's path in a folder"
    if getattr(exc, "winerror", None) in _IN_USE_ELSEWHERE:
        return (
            "; another program has it open (a spreadsheet showing the last export?): close it there, or give --output "
            "another file"
        )
    if exc.errno == errno.EROFS:  # no user may write there: no folder's permissions are the fix
        return "; its file system is mounted read-only: give --output a file on one mounted read-write"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "; give --output a file in a folder this user may write to"
    if exc.errno == errno.EFBIG:  # (a disk with room: "free some space" was no fix)
        from ..ledger.problems import too_large_fix

        return f"; {too_large_fix()}"
    if exc.errno in _NO_ROOM:
        return "; free some space, or give --output a file on another disk"
    return ""


#: Windows' errors for a file another program has open, which it neither lets be replaced nor written (Excel holds the
#: CSV it shows so): a sharing violation, a lock violation. Python gives them errno EACCES, whose fix (a folder this
#: user may write to) was no fix: the folder was writable, the file in use
_IN_USE_ELSEWHERE = frozenset({32, 33})
#: no room for the file: no space left, a quota
_NO_ROOM = frozenset(getattr(errno, name) for name in ("ENOSPC", "EDQUOT") if hasattr(errno, name))
