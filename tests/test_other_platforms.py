"""What the package does where the machine is not Linux: Windows (no fork, no fcntl, no statvfs, no signal handlers on
its event loop, a console or pipe encoding that is the ANSI code page) and macOS, each run here as far as this machine
can stand in for it (a POSIX module or attribute hidden, a non-UTF-8 locale)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: the standard library's modules that Windows has not
POSIX_MODULES = ("fcntl", "resource", "pwd", "grp", "termios", "tty", "pty", "syslog")
#: the os and signal attributes that Windows has not (os.fchmod came to Windows in Python 3.13)
POSIX_OS_ATTRIBUTES = (
    "register_at_fork", "fork", "forkpty", "statvfs", "fstatvfs", "getuid", "geteuid", "getgid", "getegid",
    "getpgid", "killpg", "setsid", "getloadavg", "sched_getaffinity", "mkfifo", "chown", "lchown", "fchown",
    "fchmod", "sync", "WNOHANG", "O_NONBLOCK", "O_NOFOLLOW", "O_CLOEXEC",
)  # fmt: skip
POSIX_SIGNALS = ("SIGHUP", "SIGUSR1", "SIGUSR2", "SIGKILL", "SIGQUIT", "SIGALRM", "SIGPIPE", "SIGCHLD")


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=600,
    )


def test_every_module_imports_without_what_only_posix_has() -> None:
    """Each module of the package imported where fcntl, resource, pwd, ... are missing, and os and signal lack what
    Windows lacks. Its dependencies (the MCP SDK, aiohttp, uvicorn), which choose by sys.platform, are imported first
    with all of it there: only the package's own imports are put to the test. os.register_at_fork, called at import
    by price_data unguarded, made `import magsag_mcp.service` fail with an AttributeError there."""
    listing = _python(
        """
        import importlib, pkgutil, sys, magsag_mcp
        # (but magsag_mcp.__main__, which runs the server as it is imported)
        names = [m.name for m in pkgutil.walk_packages(magsag_mcp.__path__, "magsag_mcp.")]
        names.remove("magsag_mcp.__main__")
        for name in names:
            importlib.import_module(name)
        print("\\n".join(names))
        print("--")
        print("\\n".join(sorted(m for m in sys.modules if not m.startswith(("magsag_mcp", "__main__")))))
        """
    )
    assert listing.returncode == 0, listing.stderr
    ours, _, theirs = listing.stdout.partition("--\n")
    imported = _python(
        f"""
        import importlib, os, signal, sys
        for name in {theirs.split()!r}:
            try:
                importlib.import_module(name)
            except Exception:
                pass
        for name in {POSIX_MODULES!r}:
            sys.modules[name] = None
        for name in {POSIX_OS_ATTRIBUTES!r}:
            if hasattr(os, name):
                delattr(os, name)
        for name in {POSIX_SIGNALS!r}:
            if hasattr(signal, name):
                delattr(signal, name)
        failed = []
        for name in {ours.split()!r}:
            try:
                importlib.import_module(name)
            except Exception as exc:
                failed.append(f"{{name}}: {{type(exc).__name__}}: {{exc}}")
        print("\\n".join(failed))
        """
    )
    assert imported.returncode == 0, imported.stderr
    assert len(ours.split()) > 100  # (the whole package was listed)
    assert imported.stdout.strip() == ""

