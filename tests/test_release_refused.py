"""An attempt that ends in an error the call does not record as an attempt (a setting to fix, a bad payload, an
interpreter exit) gives its budget reservation back with a write of its own. When another process holds the ledger's
write lock past the busy timeout, that write is refused: the refusal took the place of the caller's own error, so
the caller read "the ledger stayed locked; retry" instead of what to fix, and retrying met the same error again.
The caller now gets its own error, the refusal kept in it (``release_error``, and a note) and logged; the
reservation is left to expire, as README says of a reservation no write could drop."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import anyio
import pytest

from magsag_mcp import errors as E
from magsag_mcp.providers.fake import clear_scripts, script
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _no_scripts_left():
    yield
    clear_scripts()


async def _call_while_another_process_locks(catalog: Path, db: Path, error: BaseException) -> tuple[BaseException, int]:
    """Invoke ``fake:a``, scripted to raise ``error``, under a run limit (so its attempt holds a reservation), with
    another process taking the write lock once the attempt is admitted; the error raised, and the reservations held
    once that lock is given back."""
    (catalog / "prices.yaml").write_text('"fake:*": {input: 1.0, output: 1.0}\n')
    (catalog / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: run_cap\n    thresholds: {max_cost_per_run_usd: 1}\n"
    )
    script("a", error)
    svc = await Service.open(catalog=catalog, db=db, env={})
    await svc.ledger._writer.execute("PRAGMA busy_timeout = 200")  # the other process's lock outlasts it
    other = sqlite3.connect(db, isolation_level=None)

    async def progress(event: str, data: dict) -> None:
        if event == "attempt":  # admitted (its reservation made): another process takes the write lock
            other.execute("BEGIN IMMEDIATE")

    payload = {"data": "d", "model_config": {"model": "fake:a", "max_tokens": 100}}
    try:
        with pytest.raises(BaseException) as info:
            with anyio.fail_after(30):  # a hang guard
                await svc.invoke_skill("skill.analysis", payload, run_id="r", progress=progress)
        other.execute("ROLLBACK")
        held = other.execute("SELECT COUNT(*) FROM budget_reservations").fetchone()[0]
    finally:
        other.close()
        await svc.aclose()
    return info.value, held


@pytest.mark.parametrize(
    "error",
    [
        E.ConfigError("https://bad host is not a usable URL; set OPENAI_BASE_URL to http(s)://host[:port]/path"),
        E.PayloadError("the requested JSON schema cannot be applied; correct the schema"),
    ],
    ids=["config", "payload"],
)
async def test_a_refused_release_leaves_the_callers_own_error(
    catalog_copy: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, error: E.MagsagError
):
    caplog.set_level(logging.WARNING, logger="magsag_mcp.cascade")
    raised, held = await _call_while_another_process_locks(catalog_copy, tmp_path / "g.db", error)
    # before: LedgerError "the ledger at ... stayed locked for 30s by another process; retry, or stop the process
    # holding it", for a call whose fix is in its settings or its payload
    assert type(raised) is type(error) and raised.message == error.message
    refusal = raised.to_dict()["release_error"]
    assert refusal["type"] == "ledger_error" and "locked" in refusal["message"]
    assert any("budget reservation" in note and "expires" in note for note in raised.__notes__)
    # the reservation no write could drop is left to expire (as README says of one a held lock kept)
    assert held == 1
    logged = [r for r in caplog.records if r.name == "magsag_mcp.cascade" and r.levelno == logging.WARNING]
    assert len(logged) == 1 and "locked" in logged[0].getMessage() and "expires" in logged[0].getMessage()


async def test_a_refused_release_leaves_an_interpreter_exit_as_it_was(catalog_copy: Path, tmp_path: Path):
    # an exit in flight (KeyboardInterrupt, SystemExit) is not a call's error: it goes on as it was, the refusal in
    # its notes alone
    raised, held = await _call_while_another_process_locks(catalog_copy, tmp_path / "g.db", KeyboardInterrupt())
    assert type(raised) is KeyboardInterrupt
    assert any("budget reservation" in note and "locked" in note for note in raised.__notes__)
    assert held == 1
