"""Why the path given to ``magsag data backup FILE`` cannot take the backup, with the fix for that cause. Each
refusal of the OS has its own: "give FILE in a folder this user may write to" was said for every one but a full
disk and a read-only mount, and sent a user whose FILE's name was too long, or whose path went through a symbolic
link loop or a folder they may not enter, to change permissions that were never the cause."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from ..errors import InputError, redact

__all__ = ["copy_name", "path_refused"]

#: the longest name most file systems take (ext4, XFS, btrfs, APFS, NTFS: 255 bytes), where the OS does not say
_NAME_MAX = 255


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # (a folder not reached; Windows has no pathconf)
        return _NAME_MAX


def copy_name(target: Path, token: str) -> str:
    """The name of the copy made beside ``target`` while a backup is made: ``.FILE.<token>.tmp``, with FILE's name
    cut so the whole, and SQLite's ``-journal`` beside it, are names the file system takes. FILE's own name, 218
    bytes and more, was refused as "File name too long" once the copy's 38 were added (and SQLite's "unable to open
    database file" for its journal's 8 more), though FILE itself could be written."""
    room = _name_max(target.parent) - len(f"..{token}.tmp-journal")
    name = os.fsencode(target.name)[: max(room, 1)].decode("utf-8", errors="ignore") or "backup"
    return f".{name}.{token}.tmp"


def _first(paths: list[Path], test: Callable[[Path], bool]) -> Path | None:
    return next((p for p in paths if test(p)), None)


def _outermost_first(target: Path) -> list[Path]:
    return [*reversed(target.parents), target]


def _stat_fails(path: Path, code: int) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == code
    return False


def _read_only(exc: OSError, target: Path) -> str:
    return "its file system is mounted read-only: give FILE a path on one mounted read-write"


def _through_a_file(exc: OSError, target: Path) -> str:
    file = _first(_outermost_first(target.parent), Path.is_file)
    named = f", {file}," if file is not None else ""
    return f"a part of that path{named} is a file, not a folder: give FILE a path in a folder"


def _full(exc: OSError, target: Path) -> str:
    return "free some space there, or give FILE a path on another disk"


def _name_too_long(exc: OSError, target: Path) -> str:
    limit = _NAME_MAX
    long_part = _first(_outermost_first(target), lambda p: len(os.fsencode(p.name)) > limit)
    # (no name past the limit: the path as a whole is past the system's; "FILE's name is 250 bytes, and with the
    # '-journal' SQLite writes beside it it passes the 255" was said of a path of thousands of bytes, whose FILE's
    # name of 248 and more was fine: neither the copy's journal nor FILE's -wal is a name too long now)
    if long_part is None:
        return (
            f"the path is {len(os.fsencode(str(target)))} bytes, longer than the system takes: give FILE a shorter "
            "path (a folder nearer the root)"
        )
    if long_part == target:
        which, fix = "FILE's name", "give FILE a shorter name"
    else:
        which, fix = f"the folder name {_shown(long_part.name)}", "give FILE a path of shorter names"
    return (
        f"{which} is {len(os.fsencode(long_part.name))} bytes, and a file system takes names of {limit} at most: "
        f"{fix} (a value pasted where a path goes?)"
    )


def _shown(path: Path | str) -> str:
    """``path`` as a message says it: a path of thousands of characters (a value pasted) cut to its ends."""
    text = redact(str(path))  # before the cut: a known key straddling either end kept a piece too short to be known
    return text if len(text) <= 80 else f"{text[:40]}...{text[-30:]}"


def _link_loop(exc: OSError, target: Path) -> str:
    loop = _first(_outermost_first(target), lambda p: p.is_symlink() and _stat_fails(p, errno.ELOOP))
    named = f" ({loop} -> {os.readlink(loop)})" if loop is not None else ""
    return (
        f"a symbolic link in that path{named} leads back to itself, so the path leads nowhere: mend or remove the "
        "link, or give FILE a path without it"
    )


def _not_permitted(exc: OSError, target: Path) -> str:
    # (os.access answers for this process's real user, as the OS refused it: a folder on the way it may not enter,
    # or the folder itself it may not write in)
    closed = _first(list(target.parents)[::-1], lambda p: p.is_dir() and not os.access(p, os.X_OK))
    if closed is not None:
        return (
            f"this user may not enter {closed} (no search permission, x), which the path goes through: give FILE a "
            "path elsewhere, or have that permission granted"
        )
    if not os.access(target.parent, os.W_OK | os.X_OK):
        return f"this user may not write in {target.parent}: give FILE in a folder this user may write to"
    return (
        "the system refused a new file there though its permissions allow one (a folder made immutable, an ACL or a "
        "security policy such as SELinux): give FILE in another folder"
    )


#: the fix for each refusal of the OS, by its errno
_FIXES: dict[int, Callable[[OSError, Path], str]] = {
    errno.EROFS: _read_only,
    errno.ENOTDIR: _through_a_file,
    errno.ENOSPC: _full,
    getattr(errno, "EDQUOT", errno.ENOSPC): _full,
    errno.ENAMETOOLONG: _name_too_long,
    errno.ELOOP: _link_loop,
    errno.EACCES: _not_permitted,
    errno.EPERM: _not_permitted,
}


def path_refused(exc: OSError, target: Path) -> InputError:
    """The error for ``target``, the backup's FILE, whose folder the OS refused a new file in with ``exc``."""
    if exc.errno == errno.ENOENT:
        if target.parent.is_dir():  # (/proc, /sys: folders that are there and take no file)
            fix = "that folder takes no new files (a system folder such as /proc): give FILE in another folder"
        else:
            fix = "that folder does not exist; create it first, or give FILE in a folder that exists"
        return InputError(f"cannot write the backup in {_shown(target.parent)}: {fix}")
    fixed = _FIXES.get(exc.errno or 0)
    fix = fixed(exc, target) if fixed is not None else "check that folder and its disk, or give FILE in another folder"
    return InputError(f"cannot write the backup in {_shown(target.parent)}: {exc.strerror}; {fix}")
