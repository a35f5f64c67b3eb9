"""The MCP server's one service: a second close of it waits for the first, as Service.aclose does."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from magsag_mcp.mcp_server.state import ServerState

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
SLOW = {"model_config": {"model": "fake:echo", "params": {"latency_ms": 600_000}}}


async def test_a_second_close_waits_until_the_first_has_recorded_the_calls_in_flight(tmp_path: Path):
    """On stdio the client closes stdin (the lifespan closes the service: the call in flight is cancelled and
    recorded), then, the server not gone yet, sends SIGTERM, whose handler closes again and exits the process.
    The second close returned at once (the first had taken the service), so the process exited before the
    call was recorded: a call perhaps billed, lost, and its budget reservation held until it expired."""
    db = tmp_path / "l.db"
    state = ServerState(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake"})
    service = await state.service()
    gate = anyio.Event()  # holds the cancelled call's record, as a busy ledger does
    record = service.ledger.record_call

    async def slow_record(*args, **kw):
        with anyio.CancelScope(shield=True):
            await gate.wait()
        await record(*args, **kw)

    service.ledger.record_call = slow_record  # type: ignore[method-assign]
    second_done = anyio.Event()

    async def second_close() -> None:
        await state.close()
        second_done.set()

    async def call() -> None:
        with pytest.raises(anyio.get_cancelled_exc_class()):
            await service.invoke_skill("skill.analysis", {"data": "x", **SLOW}, run_id="r-1")

    with anyio.fail_after(60):  # a hang guard, not a timing assertion
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(state.close)  # the lifespan's
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(second_close)  # the signal handler's
            await anyio.wait_all_tasks_blocked()
            returned_early = second_done.is_set()
            gate.set()
    assert not returned_early, "the second close returned while the first was recording"
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT status FROM runs").fetchall() == [("cancelled",)]
        assert conn.execute("SELECT COUNT(*) FROM budget_reservations").fetchone() == (0,)
    finally:
        conn.close()


async def test_the_server_logs_its_ledger_absolute_and_warns_of_a_relative_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    """An MCP client starts magsag-mcp in a folder of its own choosing: with MAGSAG_DB=ledger.db the server logged
    "ledger ledger.db" and recorded to a file of that name there, while `magsag flow summarize` run from the
    project read another. The log names the file it records to, and warns that the path is relative."""
    monkeypatch.chdir(tmp_path)
    state = ServerState(catalog=CATALOG, db=None, env={"MAGSAG_PROVIDER": "fake", "MAGSAG_DB": "ledger.db"})
    with caplog.at_level("INFO", logger="magsag_mcp.mcp"):
        await state.service()
        await state.close()
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"ledger {tmp_path / 'ledger.db'}" in m for m in messages), messages
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "relative" in r.getMessage()]
    assert "MAGSAG_DB=ledger.db" in warning and "absolute path" in warning


async def test_the_server_warns_of_a_misspelt_magsag_variable_in_its_clients_configuration(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
):
    """A client's configuration passes the server its env: {"MAGSAG_PROVDER": "local"} there changed nothing, and the
    server's log said nothing of it while every call went to the routing's cloud models. One near no name read is said
    too, as `magsag` commands say it."""
    env = {"MAGSAG_PROVIDER": "fake", "MAGSAG_MODLE": "fake:echo", "MAGSAG_TEAM": "blue"}
    state = ServerState(catalog=CATALOG, db=tmp_path / "l.db", env=env)
    with caplog.at_level("INFO", logger="magsag_mcp.mcp"):
        await state.service()
        await state.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(
        w.startswith("MAGSAG_MODLE is set, but magsag reads no such variable: did you mean MAGSAG_MODEL?")
        for w in warnings
    ), warnings
    # near none: said too, as `magsag` commands say it (it changed nothing either, and the server said nothing of it)
    team = "MAGSAG_TEAM is set, but magsag reads no such variable (`magsag-mcp --help` lists those it reads): as set"
    assert f"{team}, it changes nothing" in warnings, warnings
    assert not any("blue" in w or "fake:echo" in w for w in warnings), warnings  # named, never their values


async def test_the_server_warns_of_no_magsag_variable_its_catalog_reads(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
):
    """A catalog's ``${MAGSAG_LOCAL_BASE_URL}`` is read: the server warned it a misspelling of
    MAGSAG_LOCAL_LLM_BASE_URL that changes nothing, to be renamed (which would leave the catalog's unset)."""
    import shutil

    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog, ignore=shutil.ignore_patterns("__pycache__"))
    routing = catalog / "routing" / "default.yaml"
    routing.write_text(
        routing.read_text().replace(
            "chain: [local:llama3.1:70b]",
            'chain: [{provider: local, model: "llama3.1:70b", base_url: "${MAGSAG_LOCAL_BASE_URL}"}]',
        )
    )
    env = {"MAGSAG_PROVIDER": "fake", "MAGSAG_LOCAL_BASE_URL": "http://127.0.0.1:11434", "MAGSAG_MODLE": "fake:echo"}
    state = ServerState(catalog=catalog, db=tmp_path / "l.db", env=env)
    with caplog.at_level("INFO", logger="magsag_mcp.mcp"):
        await state.service()
        await state.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert not any("MAGSAG_LOCAL_BASE_URL" in w for w in warnings), warnings
    assert any(w.startswith("MAGSAG_MODLE is set") for w in warnings), warnings  # a misspelling still is one
