"""A ``magsag`` command run as a child process, and a signal sent to it once it has reached a given point.

The tests of what a signal does to a command part way (an export, a prune's VACUUM) need the signal to find it there,
not before it began nor after it ended: the child is watched until its marker shows (bytes written, a file of a
given size, a write blocked on a full pipe), then paused (SIGSTOP) so that it cannot go on meanwhile, sent the
signal, and resumed. The waits are bounded only so that a broken build fails instead of hanging the suite: no test
here measures time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
#: the child: ``magsag`` with the arguments it is given
CLI = "import sys; from magsag_mcp.cli import main; sys.exit(main(sys.argv[1:]))"
#: a bound on each wait for the child, only so that a broken build fails instead of hanging the suite
HANG = 60


def start_cli(
    *argv: str,
    stdout: IO[bytes] | int = subprocess.PIPE,
    sigint: Any = signal.SIG_DFL,
    env: Mapping[str, str] | None = None,
    limit_bytes: int | None = None,
) -> subprocess.Popen[bytes]:
    """``magsag ARGV`` as a child process of this checkout, stderr piped, with no ``MAGSAG_`` setting of this
    environment (``env`` adds to it). ``sigint``: Ctrl-C's disposition in the child, its default whatever this
    process has (a suite run as a background job ignores SIGINT), or ``signal.SIG_IGN`` for a script's background
    job. ``limit_bytes``: no file it writes may grow past this (its write fails, EFBIG: a full disk, a quota)."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("MAGSAG_")}

    def child() -> None:
        signal.signal(signal.SIGINT, sigint)
        if limit_bytes is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.Popen(
        [sys.executable, "-c", CLI, *argv],
        env={**keep, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=stdout,
        stderr=subprocess.PIPE,
        preexec_fn=child,
    )


@dataclass
class Stopped:
    """How a child sent a signal ended: its exit status, and what it wrote to stdout (if piped) and stderr."""

    returncode: int
    out: bytes
    err: bytes

    @property
    def said(self) -> str:
        """stderr as text, for an assertion's message."""
        return self.err.decode(errors="replace")


def signalled_at(
    start: Callable[[], subprocess.Popen[bytes]],
    reached: Callable[[subprocess.Popen[bytes]], bool],
    signum: int,
    *,
    tries: int = 1,
    pause: bool = True,
) -> Stopped:
    """The child ``start`` starts, sent ``signum`` once ``reached(child)`` says it is at its marker (asked until it
    says so, the child ends, or :data:`HANG` seconds pass: then it is signalled where it is). It is paused (SIGSTOP)
    as it is seen there, so the signal finds it there, then resumed; a child that ended before it could be paused
    (a machine that busy) is started again, up to ``tries`` times in all. Its stdout is read only once it has ended:
    an unread pipe is how a test keeps a write blocked.

    ``pause=False`` for a child that cannot go on by itself (a write blocked on a full pipe): stopped and continued
    there, its write is restarted by the kernel, and a signal that came meanwhile may end that write part way
    instead of interrupting it, which Python then retries without running the signal's handler: the export waited
    on the pipe again, a hang the test would blame on the command."""
    for _ in range(tries):
        proc = start()
        try:
            _until(proc, reached)
            if pause:
                proc.send_signal(signal.SIGSTOP)
            if proc.poll() is not None:  # it ended first: again
                proc.communicate()
                continue
            proc.send_signal(signum)
            if pause:
                proc.send_signal(signal.SIGCONT)
            proc.wait(timeout=HANG)  # a hang detector, not a time bound
            return Stopped(
                proc.returncode,
                proc.stdout.read() if proc.stdout is not None else b"",
                proc.stderr.read() if proc.stderr is not None else b"",
            )
        finally:
            proc.kill()
            proc.wait()
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
    raise AssertionError(f"the child ended each time ({tries}) before it could be stopped")


def _until(proc: subprocess.Popen[bytes], reached: Callable[[subprocess.Popen[bytes]], bool]) -> None:
    """Until ``reached(proc)``, or ``proc`` has ended, or :data:`HANG` seconds have passed."""
    deadline = time.monotonic() + HANG
    while proc.poll() is None and not reached(proc) and time.monotonic() < deadline:
        time.sleep(0.001)


def blocked_writing(proc: subprocess.Popen[bytes]) -> bool:
    """Whether ``proc``'s main thread waits to write into a full pipe, as Linux's /proc tells; True where /proc
    does not say (elsewhere), for the test to go on without knowing."""
    try:
        return "pipe_write" in Path(f"/proc/{proc.pid}/wchan").read_text()
    except OSError:
        return True
