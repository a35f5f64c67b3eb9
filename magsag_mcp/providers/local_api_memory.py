"""Which local servers lack the OpenAI Responses API, remembered across processes: a file beside the ledger.

The local provider tries the Responses API first and, where the server lacks it (Ollama before 0.13, vLLM, LM Studio
builds without it), falls back to chat completions: one failed request, which a process remembers for itself. A
user running one short-lived ``magsag invoke`` (or script) per call paid it on every call. The file keeps, for each
server found without it, when that was last seen; a process reads it once per server before its first call there,
and calls chat completions straight away for :data:`REMEMBERED_S` after the last sighting (then asks the Responses
API once more: the server may have been upgraded; one that now answers it is dropped from the file).

Kept small and harmless: a server is named by the SHA-256 of its base URL (a gateway's token in a URL's path never
reaches the disk); what is read is validated (a file that cannot be read, is too large, is not this shape, or an
entry that is not, is ignored: the Responses API is asked, as without the file); writes replace the file whole
(written beside it under a name no other writer has, then renamed: a reader sees the old file or the new one, never
a torn one, and of two writers at once the last renamed wins whole), and a write that fails (a read-only folder) is
ignored: the memory is a saving, never a condition of the call. Within a process, reading the file and writing it
back is one step at a time (a lock per file, by its resolved path, which every :class:`ChatOnlyFile` of it shares:
two threads' sightings are both kept, and so are those of two services on one ledger folder). Two processes writing
at once may lose one's entry: that costs one request more, once. The file is its owner's alone (0600, as the
ledger); one a newer version wrote (a higher ``version``) is read as empty and never overwritten. The provider
reads and writes it on a worker thread (``anyio.to_thread``), never on the event loop: a slow disk holds no other
call up, and a call cancelled meanwhile does not wait for it (the thread finishes alone, its save whole; a later
read or save waits :data:`LOCK_WAIT_S` at most for it, then goes without the file).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import math
import os
import tempfile
import threading
import time
from pathlib import Path

#: the file's name, in the ledger's folder
FILE_NAME = "local-servers.json"
#: how long after it was last seen without the Responses API a server is sent to chat completions straight away
REMEMBERED_S = 86400.0
#: the most servers kept (the most recently seen), and the most of the file read
KEPT = 256
MAX_BYTES = 64 * 1024
_VERSION = 1
#: how old (by its modification time) a temporary file of a save must be to be taken for one a writer stopped in the
#: middle of (killed before its rename) and removed: a save in flight lasts milliseconds
STALE_TEMPORARY_S = 3600.0
#: the longest a read or save waits for another one of the file in this process (one left running on a hung disk by
#: a call cancelled meanwhile holds the lock until the disk answers): past it, the step goes without the file, as
#: where it cannot be read or written, and its worker thread ends instead of piling up behind the hung one
LOCK_WAIT_S = 2.0


#: each file's lock, by its resolved path (see :func:`_lock_of`); a handful of entries, one per ledger folder used
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_of(path: Path) -> threading.Lock:
    """The lock of the file at ``path`` in this process, the same for every spelling of its path (relative, through a
    symbolic link, ``..``): a lock of each :class:`ChatOnlyFile`'s own let two services opened on one ledger folder
    each read the file, add its sighting and write it back over the other's, one of them lost."""
    try:
        key = os.path.realpath(path)
    except (OSError, ValueError):  # (a path the disk cannot resolve: its own spelling, made absolute)
        key = os.path.abspath(path)
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


def server_key(base_url: str) -> str:
    """What the file names a server by: the SHA-256 of its base URL (never the URL, which may hold a token)."""
    return hashlib.sha256(base_url.encode("utf-8", "surrogatepass")).hexdigest()


class ChatOnlyFile:
    """The file of servers found without the Responses API (see the module's docstring); ``clock`` the wall clock
    (shared by processes, unlike a monotonic one; a test moves it)."""

    def __init__(self, path: Path, clock: object = time.time) -> None:
        self.path = path
        self.clock = clock
        self._read: dict[str, float] | None = None  # (read once per process, at the first need)
        #: whether the file was written by a newer version, whose shape this one does not know: not overwritten (its
        #: processes would lose what they remembered each time this one saved)
        self._newer = False
        #: one read-then-write of the file at a time in this process, whichever object does it (the provider runs
        #: them on worker threads, and two services on one folder each have their own object)
        self._lock = _lock_of(path)

    def lacks_responses(self, base_url: str) -> bool:
        """Whether the server of ``base_url`` was seen without the Responses API less than :data:`REMEMBERED_S` ago
        (by any process). A sighting dated in the future (a clock set back) is not believed."""
        if not self._lock.acquire(timeout=LOCK_WAIT_S):
            return False  # (as without the file: the Responses API is asked, one request more)
        try:
            if self._read is None:
                self._read = self._entries()
            seen = self._read.get(server_key(base_url))
        finally:
            self._lock.release()
        return seen is not None and 0.0 <= self._now() - seen < REMEMBERED_S

    def remember(self, base_url: str) -> None:
        """Note that the server of ``base_url`` lacks the Responses API, now."""
        if not self._lock.acquire(timeout=LOCK_WAIT_S):
            return  # (not saved, as on a read-only folder: the next process asks the Responses API once more)
        try:
            entries = self._entries()
            entries[server_key(base_url)] = self._now()
            self._write(entries)
        finally:
            self._lock.release()

    def forget(self, base_url: str) -> None:
        """Drop the server of ``base_url``: it answered the Responses API."""
        if not self._lock.acquire(timeout=LOCK_WAIT_S):
            return  # (left: the next process asks the Responses API once, finds it, and drops the server)
        try:
            entries = self._entries()
            if entries.pop(server_key(base_url), None) is not None:
                self._write(entries)
        finally:
            self._lock.release()

    def _now(self) -> float:
        return float(self.clock())  # type: ignore[operator]

    def _entries(self) -> dict[str, float]:
        """The file's entries still in date, each validated; {} where there is no file or it cannot be read."""
        try:
            with open(self.path, "rb") as f:
                raw = f.read(MAX_BYTES + 1)
            if len(raw) > MAX_BYTES:
                return {}
            data = json.loads(raw)
        except (OSError, ValueError):
            return {}
        if isinstance(data, dict) and isinstance(data.get("version"), int) and data["version"] > _VERSION:
            self._newer = True  # (a newer version's file: read as none, and left as it is)
            return {}
        if not isinstance(data, dict) or data.get("version") != _VERSION or not isinstance(data.get("servers"), dict):
            return {}
        now = self._now()
        kept: dict[str, float] = {}
        for key, seen in data["servers"].items():
            if (
                isinstance(key, str)
                and len(key) == 64
                and all(c in "0123456789abcdef" for c in key)
                and isinstance(seen, int | float)
                and not isinstance(seen, bool)
                and math.isfinite(seen)
                and 0.0 <= now - seen < REMEMBERED_S
            ):
                kept[key] = float(seen)
        return kept

    def _write(self, entries: dict[str, float]) -> None:
        newest = dict(sorted(entries.items(), key=lambda item: item[1], reverse=True)[:KEPT])
        self._read = newest
        if self._newer:
            return
        text = json.dumps({"version": _VERSION, "servers": newest}, sort_keys=True)
        temporary: str | None = None
        try:
            # its owner's alone, as the ledger beside it is (0600 in a 0700 folder): which servers the operator uses
            # is theirs, and a hash of a URL without a secret in it is read by hashing the URLs one guesses.
            # A name of its own (mkstemp: 0600, created exclusively): a name made of the process id alone was shared
            # by two threads of one process, the one's rename taking the other's file, or a file both wrote into
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(temporary, self.path)
            temporary = None
        except OSError:  # (a read-only folder, a full disk: the next process asks the Responses API again)
            pass
        finally:  # (any failure, not only the disk's: a random name is found by no later save)
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
        self._sweep()

    def _sweep(self) -> None:
        """Remove the temporary files of saves stopped before their rename (a process killed mid-save): each has a
        name of its own, which no later save reuses and unlinks, so they would pile up beside the ledger. One younger
        than :data:`STALE_TEMPORARY_S` is left: it may be another writer's, in flight."""
        now = time.time()  # (files' times are the wall clock's, not the clock a test moves)
        with contextlib.suppress(OSError):
            for left in self.path.parent.glob(f".{glob.escape(self.path.name)}.*.tmp"):
                with contextlib.suppress(OSError):
                    if now - left.lstat().st_mtime > STALE_TEMPORARY_S:
                        left.unlink()
