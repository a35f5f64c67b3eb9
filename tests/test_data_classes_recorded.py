"""Each attempt records the data classes its call was held to (migration 0027_attempt_data_classes, on the attempt's
own INSERT): query_runs and the CSV export show them, ``flow summarize`` gives ``by_data_class`` (each class's
attempts sent, by target), and ``flow gate`` checks a policy's ``requirements`` against it. Before, only explain
showed a call's classes, and the gate could only note that it had not checked the requirements."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from magsag_mcp.cli import main
from magsag_mcp.cli.csv_rows import runs_to_csv
from magsag_mcp.governance.gate import check_summary_with_notes
from magsag_mcp.governance.policy_files import load_policy_file
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio

RESIDENCY = """policies:
  - name: data_residency
    requirements:
      pii_processing: ["local:llama3.1:70b", "fake:*"]
      financial_data: ["gpt-4o"]
"""


async def _record(db: Path) -> None:
    async with await Service.open(db=db, env={"MAGSAG_PROVIDER": "fake"}) as svc:
        await svc.invoke_skill("skill.analysis", {"data": "x"}, run_id="free")
        await svc.invoke_skill("skill.analysis", {"data": "x"}, run_id="pii", context={"data_class": "pii_processing"})
        # a run's class beside the call's: both recorded, in the order they apply
        await svc.invoke_skill(
            "skill.analysis",
            {"data": "x"},
            run_id="both",
            context={"data_class": "financial_data"},
            run_classes=("pii_processing",),
        )


async def test_each_attempt_records_its_calls_data_classes_shown_by_query_runs_and_the_csv(tmp_path: Path):
    db = tmp_path / "l.db"
    await _record(db)
    conn = sqlite3.connect(db)
    stored = dict(conn.execute("SELECT run_id, data_classes FROM attempts WHERE outcome = 'ok'").fetchall())
    assert stored == {"free": None, "pii": '["pii_processing"]', "both": '["pii_processing", "financial_data"]'}
    async with await Service.open(db=db, env={}) as svc:
        runs = {r["run_id"]: r for r in await svc.query_runs(None)}
    assert runs["free"]["attempts"][-1]["data_classes"] == []
    assert runs["pii"]["attempts"][-1]["data_classes"] == ["pii_processing"]
    assert runs["both"]["attempts"][-1]["data_classes"] == ["pii_processing", "financial_data"]
    rows = list(csv.DictReader(io.StringIO(runs_to_csv(list(runs.values())))))
    assert {r["run_id"]: json.loads(r["data_classes"]) for r in rows} == {
        "free": [],
        "pii": ["pii_processing"],
        "both": ["pii_processing", "financial_data"],
    }


async def test_summarize_gives_where_each_class_went_and_the_gate_checks_the_requirements(tmp_path: Path):
    db = tmp_path / "l.db"
    await _record(db)
    async with await Service.open(db=db, env={}) as svc:
        summary = await svc.summarize(None)
    # (the fake provider serves the route's model names: fake:gpt-4o, which both classes allow)
    assert summary["by_data_class"] == {"financial_data": {"fake:gpt-4o": 1}, "pii_processing": {"fake:gpt-4o": 2}}
    (tmp_path / "policy.yaml").write_text(RESIDENCY)
    policies = load_policy_file(tmp_path / "policy.yaml")
    violations, notes = check_summary_with_notes(summary, policies)
    assert violations == [] and not any("requirements" in n for n in notes), notes
    # a policy confining pii_processing to the local server: the calls that went elsewhere fail, each target named
    (tmp_path / "strict.yaml").write_text(RESIDENCY.replace('"local:llama3.1:70b", "fake:*"', '"local:llama3.1:70b"'))
    violations, _ = check_summary_with_notes(summary, load_policy_file(tmp_path / "strict.yaml"))
    assert violations == [
        "data_residency: 2 attempts of data class 'pii_processing' went to fake:gpt-4o, which its requirements do not "
        "allow (pii_processing: local:llama3.1:70b): they were sent under other policies than these; `magsag data "
        "query --provider fake --model gpt-4o --format json` lists them with their data_classes"
    ]


def test_flow_gate_fails_a_summary_whose_class_went_where_its_requirements_forbid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    import anyio

    db = tmp_path / "l.db"
    anyio.run(_record, db)
    monkeypatch.setenv("MAGSAG_DB", str(db))
    assert main(["flow", "summarize", "--output", str(tmp_path / "s.json")]) == 0
    (tmp_path / "strict.yaml").write_text(RESIDENCY.replace('"gpt-4o"]', '"openai:gpt-4o"]'))
    capsys.readouterr()
    assert main(["flow", "gate", str(tmp_path / "s.json"), "--policy", str(tmp_path / "strict.yaml")]) == 1
    out = capsys.readouterr().out
    assert "FAIL data_residency: 1 attempt of data class 'financial_data' went to fake:gpt-4o" in out, out
    assert out.splitlines()[-1] == "gate: 1 violation"
