"""A name filter with whitespace at its ends (``--agent " alice"``): no call is recorded under such a name (a call's
names are refused so), and one was read as written: it selected nothing, and a summary said $0 was spent, where a
name of only whitespace was refused. Refused now, naming the filter as its caller wrote it and the name it means,
through the Python API, the CLI and the MCP tools alike; a ledger an older version wrote, holding such a name, is
still read by it."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import anyio
import pytest
from mcp.client import Client

from magsag_mcp.cli import main
from magsag_mcp.errors import InputError
from magsag_mcp.ledger import Ledger, UsageFilters
from magsag_mcp.mcp_server import build_server
from magsag_mcp.records import AttemptRecord, RunRecord
from tests.mcp_tools_helpers import CATALOG, ENV, error_of


@pytest.mark.parametrize(
    ("field", "value", "meant"),
    [
        ("agent", " alice", "alice"),
        ("run_id", "r-priced ", "r-priced"),
        ("skill", "skill.analysis\t", "skill.analysis"),
        ("model", " gpt-4o", "gpt-4o"),
    ],
)
def test_python_a_spaced_name_filter_is_refused_with_the_name_it_means(ledger_db: Path, field, value, meant):
    async def read() -> None:
        async with Ledger(ledger_db) as ledger:
            for how in (ledger.summarize, ledger.query_runs_page):
                with pytest.raises(InputError) as caught:  # before: read, and nothing selected
                    await how(UsageFilters.build({field: value}))
                message = str(caught.value)
                assert f"{field}: {value!r} begins or ends with whitespace" in message, message
                assert f"did you mean {meant!r}?" in message, message
            # the name it means selects its calls
            assert (await ledger.query_runs_page(UsageFilters.build({field: meant})))["runs"]

    anyio.run(read)


def test_cli_a_spaced_name_filter_is_refused_naming_its_flag(ledger_db: Path, capsys):
    for args in (["flow", "summarize", "--agent", " alice"], ["data", "query", "--run-id", "r-priced "]):
        assert main(args) == 2  # before: 0, a summary of nothing spent, an empty list
        err = capsys.readouterr().err
        flag, value = args[-2:]
        assert f"{flag}: {value!r} begins or ends with whitespace" in err, err
        assert f"did you mean {value.strip()!r}?" in err, err


@pytest.mark.anyio
async def test_mcp_a_spaced_name_filter_is_refused_naming_its_argument(tmp_path: Path):
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env=ENV)) as client:
        for tool in ("summarize_usage", "query_runs"):
            err = error_of(await client.call_tool(tool, {"filters": {"agent": "alice "}}))
            assert err["type"] == "input_error", err
            assert "filters.agent: 'alice ' begins or ends with whitespace" in err["message"], err
            assert "did you mean 'alice'?" in err["message"], err


def test_an_older_ledgers_spaced_name_is_still_selected(tmp_path: Path):
    """An older version recorded names as given: a filter naming one as it is recorded selects its calls."""
    db = tmp_path / "older.db"
    now = time.time()

    async def fill_and_read() -> tuple[list, dict]:
        async with Ledger(db) as ledger:
            run = RunRecord("r1", "alice", "skill.analysis", now)
            attempt = AttemptRecord("r1", now, "fake", "x", "skill.analysis", "alice", "ok", 0, 1)
            await ledger.record_call(run, [attempt])
        conn = sqlite3.connect(db, isolation_level=None)  # as the older version recorded it
        for table in ("runs", "attempts", "usage_rollup", "agent_spend"):
            conn.execute(f"UPDATE {table} SET agent = ' alice'")
        conn.close()
        async with Ledger(db) as ledger:
            page = await ledger.query_runs_page(UsageFilters.build({"agent": " alice"}))
            return page["runs"], await ledger.summarize(UsageFilters.build({"agent": " alice"}))

    runs, summary = anyio.run(fill_and_read)
    assert [r["run_id"] for r in runs] == ["r1"]
    assert summary["totals"]["calls"] == 1, summary["totals"]
