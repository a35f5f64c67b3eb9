"""A paused call and its continuation read as one story (ledger 0037): the attempt whose answer left its turn paused
records the paused_id it was held by, and every attempt of the continuation (its failed tries too) the paused_id it
continued; query_runs, the CSV and JSON exports and MCP's query_runs show both. Before, only the continuation's first
attempt's warnings named the paused call, in words."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client

from magsag_mcp.cli import main
from magsag_mcp.mcp_server import build_server
from magsag_mcp.service import Service
from tests.providers.fakes import FakeAnthropic

pytestmark = pytest.mark.anyio
KEY = "sk-p4u5-l1nk-5t0r"
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
MODEL = "claude-opus-4-6"
CONFIG = {"provider": "anthropic", "model": MODEL, "max_tokens": 2000, "stream": False}
SEARCHED = {"searched": "weather in Oslo", "finish": "pause_turn"}


def _export(db: Path, catalog: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, fmt: str) -> str:
    monkeypatch.setenv("MAGSAG_DB", str(db))
    monkeypatch.setenv("MAGSAG_CATALOG", str(catalog))
    capsys.readouterr()
    assert main(["data", "query", "--format", fmt]) == 0
    return capsys.readouterr().out


async def test_a_paused_call_and_its_continuation_are_linked_in_the_ledger_and_every_read(
    catalog, tmp_path, serve, monkeypatch, capsys
):
    # the continuation fails once (retried) and answers: each of its attempts names the call it continues
    fake = FakeAnthropic(KEY).queue(
        {**SEARCHED, "text": "Searching. "}, {"error": 500, "message": "try again"}, {"text": "Rain."}
    )
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": await serve(fake), "MAGSAG_RETRY_BASE_DELAY": "0"}
    db = tmp_path / "ledger.db"
    async with await Service.open(catalog=catalog, db=db, env=env) as svc:
        paused = await svc.invoke_skill(
            "skill.analysis", {"data": "x", "model_config": CONFIG}, context={"pause_continuations": 0}
        )
        assert paused.paused_call is not None
        paused_id = paused.paused_call.id
        done = await svc.continue_paused(paused_id)
        [run] = await svc.query_runs()
    assert done.text == "Searching. Rain." and fake.violations == []
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT outcome, attempt_number, paused_id, continues_paused_id FROM attempts ORDER BY id")
        assert rows.fetchall() == [
            ("ok", 1, paused_id, None),  # the turn left paused, held by paused_id
            ("error", 2, None, paused_id),  # the continuation's failed try
            ("ok", 3, None, paused_id),
        ]
    links = [(a["paused_id"], a["continues_paused_id"]) for a in run["attempts"]]
    assert sorted(links, key=str) == sorted([(paused_id, None), (None, paused_id), (None, paused_id)], key=str)
    out = await anyio.to_thread.run_sync(_export, db, catalog, monkeypatch, capsys, "csv")
    cells = [(r["attempt_number"], r["paused_id"], r["continues_paused_id"]) for r in csv.DictReader(io.StringIO(out))]
    assert sorted(cells) == [("1", paused_id, ""), ("2", "", paused_id), ("3", "", paused_id)]
    text = await anyio.to_thread.run_sync(_export, db, catalog, monkeypatch, capsys, "json")
    exported = json.loads(text)
    [attempts] = [r["attempts"] for r in (exported if isinstance(exported, list) else exported["runs"])]
    assert sorted((a["attempt_number"], a["paused_id"], a["continues_paused_id"]) for a in attempts) == sorted(
        [(1, paused_id, None), (2, None, paused_id), (3, None, paused_id)], key=str
    )
    async with Client(build_server(catalog=catalog, db=db, env=env)) as client:
        result = await client.call_tool("query_runs", {})
    assert not result.is_error, result.content
    [shown] = result.structured_content["runs"]
    assert sorted(((a["paused_id"], a["continues_paused_id"]) for a in shown["attempts"]), key=str) == sorted(
        links, key=str
    )
