"""`magsag doctor` on a ledger it cannot open (a file that is no SQLite database, a ledger a newer magsag-mcp
migrated): the ledger's refusal is one problem of the report, beside the providers, the network and the catalog's
problems, exit 1, as for a catalog that cannot be loaded. Before, doctor exited 2 with the ledger's JSON error alone,
where docs/cli.md says it lists each problem with its fix: an operator who ran it to find what was wrong with a
setup learnt nothing of the rest of it (a wrong key, a proxy) until the ledger was fixed."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from magsag_mcp.cli import main
from magsag_mcp.ledger import Ledger


def _not_sqlite(path: Path) -> str:
    path.write_text("a spreadsheet saved over the ledger's name\n" * 20)
    return "not a SQLite database"


def _newer(path: Path) -> str:
    async def make() -> None:
        async with Ledger(path):
            pass

    asyncio.run(make())
    with sqlite3.connect(path) as conn:  # a migration this version does not know: a newer magsag-mcp's
        conn.execute("INSERT INTO schema_migrations (name, applied_at) VALUES ('9999_from_the_future', 0)")
    return "newer magsag-mcp"


@pytest.mark.parametrize("make", [_not_sqlite, _newer])
def test_doctor_lists_a_ledger_it_cannot_open_as_a_problem_beside_the_rest(cli_env, capsys, monkeypatch, make):
    db = cli_env / "cli.db"
    said = make(db)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-doctor-ledger-0123456789abcdef")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")

    assert main(["doctor", "--json"]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert captured.err == ""
    [problem] = [p for p in report["problems"] if str(db) in p]
    assert said in problem  # the ledger's own message, with its fix
    assert report["db"] == str(db) and report["db_exists"] is True
    assert report["providers"]["openai"]["unavailable"] is None  # the rest is diagnosed all the same
    assert report["network"]["proxies"] == {"https": "http://proxy.example.com:3128 (from HTTPS_PROXY)"}
    assert any("cannot be opened" in n and str(db) in n for n in report["notes"])
    assert "sk-test-doctor" not in captured.out

    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert f"problem: {problem}" in out
    assert "openai" in out and "proxy   : https: http://proxy.example.com:3128 (from HTTPS_PROXY)" in out


def test_doctor_lists_both_a_catalog_and_a_ledger_it_cannot_load(cli_env, capsys, tmp_path):
    """With the catalog unloadable too, both are listed (the report without a catalog opened the ledger itself, and
    its refusal stopped the report, exit 2)."""
    catalog = tmp_path / "broken"
    (catalog / "skills").mkdir(parents=True)
    (catalog / "skills" / "bad.yaml").write_text("id: [unclosed\n")
    _not_sqlite(cli_env / "cli.db")
    assert main(["doctor", "--catalog", str(catalog), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert any("not a SQLite database" in p for p in report["problems"])
    assert any("bad.yaml" in p for p in report["problems"])


def test_with_only_the_ledger_failing_every_catalog_check_still_runs_and_reports(cli_env, capsys, monkeypatch):
    """start87: a ledger that could not be opened left out what needs the catalog (the problems MAGSAG_PROVIDER /
    MAGSAG_MODEL make for its skills, the skills no provider serves, the routes' notes), as if the catalog had failed
    to load too: an operator fixed the ledger and met the next problem at the next run. The catalog loads, so each of
    its checks reports as with a ledger that opens, the ledger's refusal beside them."""
    monkeypatch.setenv("MAGSAG_PROVIDER", "anthropic")  # no ANTHROPIC_API_KEY: no target it leaves can be called
    db = cli_env / "cli.db"

    async def make() -> None:
        async with Ledger(db):
            pass

    asyncio.run(make())
    assert main(["doctor", "--json"]) == 1
    good = json.loads(capsys.readouterr().out)
    assert any(p.startswith("MAGSAG_PROVIDER='anthropic': no target it leaves") for p in good["problems"]), good

    said = _not_sqlite(db)
    assert main(["doctor", "--json"]) == 1
    bad = json.loads(capsys.readouterr().out)
    [refusal] = [p for p in bad["problems"] if said in p]
    assert bad["problems"] == [*good["problems"], refusal]
    [note] = [n for n in bad["notes"] if "cannot be opened" in n]
    assert "was not checked" not in note and str(db) in note, note
    assert [n for n in bad["notes"] if n != note] == good["notes"]
