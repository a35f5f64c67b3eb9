"""What the shutdown tests (test_shutdown*.py) share: a call's payload and environment on the loopback OpenAI
(which never answers), the wait until it is sent, and the ledger's state after it: runs, attempts, and the
reservations still held (CANCELLED: the one call cancelled, its cost unknown, nothing held)."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
from pathlib import Path

import anyio

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


async def until_listening(proc: subprocess.Popen[bytes], port: int) -> None:
    """Wait until the server process ``proc`` accepts connections on loopback ``port``; its stderr said if it ended
    first."""
    with anyio.fail_after(60):  # a hang guard, not a timing assertion
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                assert proc.poll() is None, f"server exited: {proc.stderr.read().decode()}"  # type: ignore[union-attr]
                await anyio.sleep(0.05)
