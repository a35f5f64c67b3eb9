"""What the shutdown tests (test_shutdown*.py) share: a call's payload and environment on the loopback OpenAI
(which never answers), the wait until it is sent, and the ledger's state after it: runs, attempts, and the
reservations still held (CANCELLED: the one call cancelled, its cost unknown, nothing held); the wait until a
server process started with ``--port 0`` serves, with the URL it said; and a SIGINT landing just after a ledger write
was queued (exit_once_queued)."""

from __future__ import annotations

import re
import sqlite3
import subprocess
from pathlib import Path

import anyio

from magsag_mcp.ledger import Ledger
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

PAYLOAD = {"data": "numbers", "model_config": {"provider": "openai", "model": "gpt-4o"}}


def env_for(fake: FakeOpenAI) -> dict[str, str]:
    return {"OPENAI_BASE_URL": fake.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY, "MAGSAG_RETRY_MAX_DELAY": "0.01"}


def ledger_state(db: Path) -> tuple[list[tuple], list[tuple], int]:
    conn = sqlite3.connect(db)
    try:
        runs = conn.execute("SELECT status FROM runs").fetchall()
        attempts = conn.execute("SELECT outcome, error_class, cost_pusd, cost_bound_pusd > 0 FROM attempts").fetchall()
        held = conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    finally:
        conn.close()
    return runs, attempts, held


CANCELLED = ([("cancelled",)], [("error", "cancelled", None, 1)], 0)


async def until_sent(fake: FakeOpenAI, count: int = 1) -> None:
    with anyio.fail_after(60):  # a hang guard, not a timing assertion
        while len(fake.requests) < count:
            await anyio.sleep(0.01)


#: the line a server process logs once it has bound its port, naming its URL (with --port 0, the port the system chose)
STARTING = re.compile(r"magsag-mcp starting on (?P<url>http://\S+/mcp) \(token ")
#: the line it logs once it accepts requests (uvicorn's words)
SERVING = "Uvicorn running on "


async def until_serving(proc: subprocess.Popen[bytes]) -> tuple[str, str]:
    """Read the server process ``proc``'s stderr until it says it serves: the URL it said (the port it was given, or
    with ``--port 0`` the one the system chose, so no port is found free first and left for another process to take)
    and what it wrote so far. Its stderr said, if it ended first."""
    said: list[str] = []
    url = None
    assert proc.stderr is not None
    with anyio.fail_after(60):  # a hang guard, not a timing assertion
        while True:
            line = await anyio.to_thread.run_sync(proc.stderr.readline, abandon_on_cancel=True)
            if not line:
                raise AssertionError(f"server exited before it served: {''.join(said)}")
            said.append(line.decode(errors="replace"))
            started = STARTING.search(said[-1])
            url = started["url"] if started else url
            if SERVING in said[-1]:
                assert url is not None, f"no URL said before serving: {''.join(said)}"
                return url, "".join(said)


def exit_once_queued(ledger: Ledger) -> None:
    """The ledger's next queued write is followed by a KeyboardInterrupt in its caller's task, as a SIGINT landing
    just after it was queued is raised there (the write queued, not yet run)."""
    wake = ledger._wake
    assert wake is not None
    real = wake.set

    def set_then_exit() -> None:
        del wake.set  # (once)
        real()
        raise KeyboardInterrupt

    wake.set = set_then_exit  # type: ignore[method-assign]
