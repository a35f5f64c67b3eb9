"""A catalog written for an earlier release, kept as it was (tests/catalogs_of_earlier_releases/1df33786: the bundled
catalog of the first release with policies and prices, its agents' Python as then), loaded by this one: users keep
their catalog across upgrades, and every key it holds must still be read, and read as it was meant."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from magsag_mcp.catalog import load_catalog, validate_catalog
from magsag_mcp.cli import main
from magsag_mcp.loopback import LoopbackUpstream

FIRST = Path(__file__).parent / "catalogs_of_earlier_releases" / "1df33786"


def test_the_first_releases_catalog_validates_with_nothing_to_change(capsys: pytest.CaptureFixture[str]):
    assert main(["catalog", "validate", "--catalog", str(FIRST)]) == 0
    assert capsys.readouterr().out.strip() == f"{FIRST}: ok"
    assert validate_catalog(FIRST, env={}) == []
    catalog = load_catalog(FIRST, env={})
    assert len(catalog.skills) == 8 and set(catalog.agents) == {"my-mag", "data-analysis-sag"}


def test_the_first_releases_mag_runs_its_delegation_under_its_policies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """Its MAG (Python written against the first release's agent API) summarises through its skill, delegates
    to its SAG with a preferred model, and both calls are routed, allowed by its policies and priced."""
    db = tmp_path / "ledger.db"
    with LoopbackUpstream().running() as up:
        for name, value in up.env().items():
            monkeypatch.setenv(name, value)
        payload = json.dumps({"data": "Revenue rose 8% while costs fell."})
        assert main(["run", "my-mag", "--catalog", str(FIRST), "--db", str(db), "--payload", payload]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["summary"] == "loopback answer from gpt-4o-mini"
    assert result["model"] == "claude-3-5-sonnet-20241022"
    conn = sqlite3.connect(db)
    attempts = conn.execute("SELECT model, outcome, cost_pusd > 0 FROM attempts ORDER BY id").fetchall()
    assert attempts == [("gpt-4o-mini", "ok", 1), ("claude-3-5-sonnet-20241022", "ok", 1)]
