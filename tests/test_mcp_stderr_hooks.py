"""What Python itself writes to stderr in the server's process, as the server's log records: a warning
(warnings.showwarning), an exception no code caught in the main thread (sys.excepthook) or in another thread
(threading.excepthook), and one Python could only ignore (sys.unraisablehook, "Exception ignored in"). Each was
printed as Python prints it: lines a collector reading one JSON object a line (``--log-format json``) could not parse,
and not redacted, so a registered key in a warning's text or an exception's message reached stderr as it was.

The server owns its process and takes those hooks (magsag_mcp/mcp_server/log_format.py); the library, which shares
its process with the user's code, takes none. Each case runs in a fresh interpreter: the hooks are the process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: a key only its registration redacts (no key pattern matches it)
KEY = "Hq7vRz2Nw5Kc8Lx3Tb6Pj4Md"

#: the server's start with serving replaced by a process that misbehaves as a dependency might: an asyncio task fails
#: unheeded, it warns, a thread of it fails, an object's __del__ fails, and then the main thread fails, each quoting
#: the key
MISBEHAVING_SERVER = textwrap.dedent(
    f"""
    import anyio, asyncio, sys, threading, warnings
    from magsag_mcp.errors import register_secret
    from magsag_mcp.mcp_server.__main__ import main

    class FailsOnDel:
        def __del__(self):
            raise ValueError("closing with {KEY} failed")

    async def leave_a_failed_task():
        async def fail():
            raise LookupError("the task's key {KEY} was refused")
        task = asyncio.get_running_loop().create_task(fail())
        while not task.done():
            await asyncio.sleep(0)
        del task  # its error never retrieved: asyncio says so as the task goes

    def serve(*args, **kwargs):
        register_secret({KEY!r})
        asyncio.run(leave_a_failed_task())
        warnings.warn("the client was given {KEY}", UserWarning)
        def fail():
            raise RuntimeError("the worker's key {KEY} was refused")
        worker = threading.Thread(target=fail, name="worker-7")
        worker.start()
        worker.join()
        FailsOnDel()
        raise RuntimeError("the main thread's key {KEY} was refused")

    anyio.run = serve
    sys.exit(main(sys.argv[1:]))
    """
)


def _run(tmp_path: Path, log_format: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_", "GEMINI_"))}
    env.update(MAGSAG_PROVIDER="fake", MAGSAG_MCP_LOG_FORMAT=log_format, PYTHONWARNINGS="default")
    return subprocess.run(
        [sys.executable, "-c", MISBEHAVING_SERVER, "--db", str(tmp_path / "ledger.db")],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
    )  # fmt: skip


def test_json_mode_writes_warnings_and_uncaught_exceptions_as_redacted_json_lines(tmp_path: Path):
    done = _run(tmp_path, "json")
    assert done.returncode == 1, done.stderr  # what Python gives an uncaught exception, as before
    assert done.stdout == b""  # the MCP stream on stdio: nothing of this reaches it
    assert KEY.encode() not in done.stderr
    entries = [json.loads(line) for line in done.stderr.decode().splitlines()]  # each line one object
    warning = [e for e in entries if e["logger"] == "py.warnings"]
    assert len(warning) == 1 and warning[0]["level"] == "WARNING", entries
    assert "UserWarning: the client was given [REDACTED]" in warning[0]["message"]
    (thread,) = [e for e in entries if "worker-7" in e["message"]]
    assert thread["level"] == "ERROR" and thread["logger"] == "magsag_mcp.mcp"
    assert "RuntimeError: the worker's key [REDACTED] was refused" in thread["exception"]
    (task,) = [e for e in entries if e["logger"] == "asyncio"]  # (asyncio logs it: no hook needed)
    assert task["level"] == "ERROR" and "LookupError: the task's key [REDACTED] was refused" in task["exception"]
    (ignored,) = [e for e in entries if "ValueError" in e.get("exception", "")]
    assert ignored["level"] == "ERROR" and "FailsOnDel.__del__" in ignored["message"]
    assert "closing with [REDACTED] failed" in ignored["exception"]
    main_thread = entries[-1]  # the last thing the process says, once
    assert main_thread["level"] == "CRITICAL" and main_thread["logger"] == "magsag_mcp.mcp"
    assert main_thread["exception"].startswith("Traceback (most recent call last):")
    assert main_thread["exception"].endswith("RuntimeError: the main thread's key [REDACTED] was refused")
    assert sum("main thread's key" in e.get("exception", "") for e in entries) == 1  # not printed a second time


def test_text_mode_writes_them_as_redacted_records_too(tmp_path: Path):
    done = _run(tmp_path, "text")
    assert done.returncode == 1, done.stderr
    assert done.stdout == b""
    err = done.stderr.decode()
    assert KEY not in err
    lines = err.splitlines()
    # each line a record's first (time, level, logger) or a continuation of one, indented: none printed bare
    assert all(line.startswith("    ") or line[:4].isdigit() for line in lines), err
    assert any(" WARNING py.warnings: " in line and "the client was given [REDACTED]" in line for line in lines)
    assert any(" ERROR magsag_mcp.mcp: " in line and "worker-7" in line for line in lines), err
    assert "    RuntimeError: the worker's key [REDACTED] was refused" in lines
    assert "    ValueError: closing with [REDACTED] failed" in lines
    assert any(" CRITICAL magsag_mcp.mcp: " in line for line in lines), err
    assert lines[-1] == "    RuntimeError: the main thread's key [REDACTED] was refused"
    assert err.count("the main thread's key") == 1
    assert not any(line.strip() == "" for line in lines), err  # no blank line left of a warning's last break


def test_a_thread_ending_with_system_exit_is_quiet_as_python_leaves_it(tmp_path: Path):
    code = textwrap.dedent(
        """
        import anyio, sys, threading
        from magsag_mcp.mcp_server.__main__ import main

        def serve(*args, **kwargs):
            worker = threading.Thread(target=sys.exit, args=(3,))
            worker.start()
            worker.join()

        anyio.run = serve
        sys.exit(main(sys.argv[1:]))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_", "GEMINI_"))}
    env.update(MAGSAG_PROVIDER="fake", MAGSAG_MCP_LOG_FORMAT="json", MAGSAG_MCP_LOG_LEVEL="DEBUG")
    done = subprocess.run(
        [sys.executable, "-c", code, "--db", str(tmp_path / "ledger.db")],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in done.stderr.decode().splitlines()]
    assert not [e for e in entries if e["level"] in ("ERROR", "CRITICAL") or "exception" in e], entries


@pytest.mark.parametrize("how", ["import", "Magsag"])
def test_the_library_leaves_the_processs_hooks_as_they_were(tmp_path: Path, how: str):
    # a library shares its process with the user's code, whose warnings and uncaught exceptions are its own
    code = textwrap.dedent(
        f"""
        import json, logging, sys, threading, warnings
        hooks = lambda: [id(warnings.showwarning), id(sys.excepthook), id(threading.excepthook),
                         id(sys.unraisablehook), id(logging._warnings_showwarning)]
        before = hooks()
        import magsag_mcp
        if {how == "Magsag"}:
            from magsag_mcp import Magsag
            with Magsag(db={str(tmp_path / "ledger.db")!r}, env={{"MAGSAG_PROVIDER": "fake"}}) as mg:
                mg.skills.list()
                during = hooks()
        else:
            during = hooks()
        print(json.dumps({{"kept": before == during == hooks()}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"kept": True}
