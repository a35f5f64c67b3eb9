"""`flow gate` checks a policy's ``requirements`` against where each data class's calls went (``by_data_class``). An
Azure deployment is named by its operator: ``azure:gpt-4o-mini`` may serve gpt-4o, which only its answers say (0026's
``served_model``). The gate's allowed_models check judges a deployment by the models its answers named (see
model_patterns.other_models_served), as each call is judged (PolicySet.allowed); the requirements check judged it by
its name alone, and passed a data class's calls that a model its requirements forbid had served."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from magsag_mcp.governance.gate import check_summary_with_notes
from magsag_mcp.governance.policy_files import load_policy_file
from magsag_mcp.ledger import UsageFilters
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio

RESIDENCY = """policies:
  - name: data_residency
    requirements:
      pii_processing: ["azure:gpt-4o-mini", "local:llama3.1:70b"]
"""


async def _summary_of_a_deployment_serving(db: Path, served: str | None) -> dict:
    async with await Service.open(db=db, env={"MAGSAG_PROVIDER": "fake"}) as svc:
        for run in ("pii-1", "pii-2"):
            await svc.invoke_skill(
                "skill.analysis", {"data": "x"}, run_id=run, context={"data_class": "pii_processing"}
            )
    # as an Azure deployment named gpt-4o-mini records its attempts: its name as the model, its answers' model served
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE attempts SET provider = 'azure', model = 'gpt-4o-mini', served_model = ?", (served,))
        conn.execute("UPDATE attempts SET served_model = 'gpt-4o-mini-2024-07-18' WHERE run_id = 'pii-2'")
    conn.close()
    async with await Service.open(db=db, env={}) as svc:
        return await svc.summarize(None)


async def test_a_deployment_that_served_a_model_the_requirements_forbid_fails_the_gate(tmp_path: Path):
    summary = await _summary_of_a_deployment_serving(tmp_path / "l.db", "gpt-4o-2024-08-06")
    assert summary["by_data_class"] == {"pii_processing": {"azure:gpt-4o-mini": 2}}
    # what each class's Azure deployments answered as, as model_stats' served_as says it for every call
    assert summary["by_data_class_served"] == {
        "pii_processing": {"gpt-4o-mini": {"gpt-4o-2024-08-06": 1, "gpt-4o-mini-2024-07-18": 1}}
    }
    (tmp_path / "p.yaml").write_text(RESIDENCY)
    violations, _ = check_summary_with_notes(summary, load_policy_file(tmp_path / "p.yaml"))
    assert violations == [
        "data_residency: 1 attempt of data class 'pii_processing' went to Azure deployment 'gpt-4o-mini', which "
        "answered as gpt-4o-2024-08-06, a model its requirements do not allow (pii_processing: azure:gpt-4o-mini, "
        "local:llama3.1:70b): a deployment's name is its operator's choice, and this is the model that served it; "
        "`magsag data query --provider azure --model gpt-4o-mini --format json` lists them with their data_classes"
    ]


async def test_a_deployment_that_served_its_own_model_passes(tmp_path: Path):
    summary = await _summary_of_a_deployment_serving(tmp_path / "l.db", "gpt-4o-mini-2024-07-18")
    (tmp_path / "p.yaml").write_text(RESIDENCY)
    violations, _ = check_summary_with_notes(summary, load_policy_file(tmp_path / "p.yaml"))
    assert violations == []
    # a policy allowing what it served by that model's name passes it too, as the call was let through
    (tmp_path / "q.yaml").write_text(RESIDENCY.replace('"azure:gpt-4o-mini"', '"azure:gpt-4o-mini", "gpt-4o"'))
    summary = await _summary_of_a_deployment_serving(tmp_path / "m.db", "gpt-4o-2024-08-06")
    violations, _ = check_summary_with_notes(summary, load_policy_file(tmp_path / "q.yaml"))
    assert violations == []


async def test_calls_recorded_before_the_ledger_kept_data_classes_are_named_unchecked_not_passed(tmp_path: Path):
    # A ledger upgraded to 0027 holds the calls made before without their classes (NULL, as a call of none): a
    # summary over them checked the requirements against the later calls alone and said "gate: pass", the month
    # before the upgrade read as residency audited.
    db = tmp_path / "l.db"
    async with await Service.open(db=db, env={"MAGSAG_PROVIDER": "fake"}) as svc:
        for run in ("before-1", "before-2", "after"):
            await svc.invoke_skill(
                "skill.analysis", {"data": "x"}, run_id=run, context={"data_class": "pii_processing"}
            )
    conn = sqlite3.connect(db)
    with conn:  # as if 0027 were applied between the calls: the earlier ones recorded no classes
        after = conn.execute("SELECT MIN(started_at) FROM attempts WHERE run_id = 'after'").fetchone()[0]
        conn.execute("UPDATE schema_migrations SET applied_at = ? WHERE name = '0027_attempt_data_classes'", (after,))
        conn.execute("UPDATE attempts SET data_classes = NULL WHERE run_id LIKE 'before-%'")
        conn.execute("UPDATE attempts SET started_at = started_at - 3600 WHERE run_id LIKE 'before-%'")
    conn.close()
    async with await Service.open(db=db, env={}) as svc:
        summary = await svc.summarize(None)
        since_then = await svc.summarize(UsageFilters(run_id="after"))
    assert summary["by_data_class"] == {"pii_processing": {"fake:gpt-4o": 1}}
    assert summary["data_classes_since"] == since_then["data_classes_since"] is not None
    (tmp_path / "p.yaml").write_text(RESIDENCY.replace('"local:llama3.1:70b"', '"fake:*"'))
    violations, notes = check_summary_with_notes(summary, load_policy_file(tmp_path / "p.yaml"))
    assert violations == []
    [note] = [n for n in notes if "requirements" in n]
    assert note.startswith(
        "data_residency: its requirements (data class -> models) were checked against the calls recorded with their "
        f"data classes alone: this summary's calls from {summary['period']['from']} until "
        f"{summary['data_classes_since']} were recorded before the ledger kept them, so where their classes went is "
        f"not known; `magsag flow summarize --since {summary['data_classes_since']}` checks every call it holds"
    ), note
    violations, notes = check_summary_with_notes(since_then, load_policy_file(tmp_path / "p.yaml"))
    assert not [n for n in notes if "requirements" in n]
