"""Each Azure attempt records the endpoint it went to (migration 0029_attempt_endpoint, on the attempt's own INSERT), as
``azure_served`` keys what each deployment serves (its host, never a key). Two resources may each have a deployment of
one name serving different models: ``flow summarize`` gives ``served_as_by_endpoint`` beside ``served_as`` (which
counts them together, as before), ``flow gate`` fails the endpoint whose deployment served a forbidden model and not
the other, and query_runs and the CSV export show each attempt's endpoint. Before, the ledger kept no endpoint, and the
gate's FAIL could only say that deployments of the name at several endpoints were counted together."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp.cli.csv_rows import runs_to_csv
from magsag_mcp.governance import load_policies
from magsag_mcp.governance.gate import check_summary_with_notes
from magsag_mcp.ledger import UsageFilters
from magsag_mcp.service import Service
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import AZURE_KEY, FakeOpenAI
from tests.governance_helpers import policy

pytestmark = pytest.mark.anyio

MINI_ONLY = "policies:\n  - name: small_models\n    allowed_models: [gpt-4o-mini]\n"


async def _two_endpoints(
    catalog: Path,
    db: Path,
    fake: FakeOpenAI,
    served: tuple[str, str] = ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18"),
    *,
    older_b: pytest.MonkeyPatch | None = None,
) -> tuple[str, str, dict[str, Any], list[dict[str, Any]]]:
    """Deployment gpt-4o-mini at endpoint A (the environment's: 127.0.0.1) answers as ``served[0]`` (gpt-4o); the one
    of that name at endpoint B (localhost, the same fake server by another host name) as ``served[1]`` (gpt-4o-mini).
    ``older_b``: B's call is made as the version before 0029 made it (no endpoint recorded)."""
    a_url, b_url = fake.url, fake.url.replace("127.0.0.1", "localhost")
    fake.queue(*(R.reply(f"from {m}", usage=R.tokens(20, 5), model=m) for m in served))
    env = {
        "AZURE_OPENAI_API_KEY": AZURE_KEY,
        "AZURE_OPENAI_ENDPOINT": a_url + "/",
        "MAGSAG_ALLOWED_BASE_URLS": f"azure={b_url}/",
    }
    on_b = {"data": "x", "model_config": {"model": "azure:gpt-4o-mini", "base_url": b_url + "/"}}
    async with Service.open(catalog=catalog, db=db, env=env) as svc:
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "azure:gpt-4o-mini"}})
        if older_b is None:
            await svc.invoke_skill("skill.analysis", on_b)
        else:
            from tests.older_version import write_without_endpoint

            with older_b.context() as m:
                write_without_endpoint(m.setattr)
                await svc.invoke_skill("skill.analysis", on_b)
        summary = await svc.summarize(UsageFilters())
        runs = await svc.query_runs(None)
    return a_url.split("//", 1)[1], b_url.split("//", 1)[1], summary, runs


async def test_each_azure_attempt_records_its_endpoint_shown_by_query_runs_and_the_csv(
    catalog_copy: Path, tmp_path: Path, fake_openai: FakeOpenAI
):
    db = tmp_path / "l.db"
    a, b, _, runs = await _two_endpoints(catalog_copy, db, fake_openai)
    conn = sqlite3.connect(db)
    stored = conn.execute("SELECT model, endpoint, served_model FROM attempts ORDER BY id").fetchall()
    conn.close()
    assert stored == [("gpt-4o-mini", a, "gpt-4o-2024-08-06"), ("gpt-4o-mini", b, "gpt-4o-mini-2024-07-18")]
    # the same key azure_served keeps each deployment's sighting by (never a key, never a path's token)
    conn = sqlite3.connect(db)
    kept = conn.execute("SELECT endpoint, deployment FROM azure_served ORDER BY endpoint").fetchall()
    assert kept == sorted([(a, "gpt-4o-mini"), (b, "gpt-4o-mini")])
    conn.close()
    shown = sorted((r["attempts"][-1]["endpoint"], r["attempts"][-1]["served_model"]) for r in runs)
    assert shown == sorted([(a, "gpt-4o-2024-08-06"), (b, "gpt-4o-mini-2024-07-18")])
    rows = list(csv.DictReader(io.StringIO(runs_to_csv(runs))))
    assert sorted((r["endpoint"], r["served_model"]) for r in rows) == shown
    assert AZURE_KEY not in runs_to_csv(runs)
    # and query_runs' tool result keeps it (its model drops a key it does not name)
    from magsag_mcp.mcp_server.models import QueryRunsResult

    tool = QueryRunsResult.model_validate({"runs": runs, "has_more": False, "next_cursor": None}).model_dump()
    assert sorted((r["attempts"][-1]["endpoint"], r["attempts"][-1]["served_model"]) for r in tool["runs"]) == shown


async def test_another_provider_s_attempt_records_no_endpoint(tmp_path: Path):
    db = tmp_path / "l.db"
    async with await Service.open(db=db, env={"MAGSAG_PROVIDER": "fake"}) as svc:
        await svc.invoke_skill("skill.analysis", {"data": "x"})
        [run] = await svc.query_runs(None)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT provider, endpoint FROM attempts").fetchall() == [("fake", None)]
    conn.close()
    assert run["attempts"][-1]["endpoint"] is None


async def test_summarize_and_the_gate_tell_two_endpoints_deployments_of_one_name_apart(
    catalog_copy: Path, tmp_path: Path, fake_openai: FakeOpenAI
):
    a, b, summary, _ = await _two_endpoints(catalog_copy, tmp_path / "l.db", fake_openai)
    mini = summary["model_stats"]["gpt-4o-mini"]
    # served_as as before (both endpoints together), and by endpoint beside it
    assert mini["served_as"] == {"gpt-4o-2024-08-06": 1, "gpt-4o-mini-2024-07-18": 1}
    assert mini["served_as_by_endpoint"] == {a: {"gpt-4o-2024-08-06": 1}, b: {"gpt-4o-mini-2024-07-18": 1}}
    # as the summary's TypedDict names it (usage_dicts: what a type checker believes)
    from magsag_mcp.usage_dicts import ModelStatsDict
    from tests.test_user_typing import matches_hint

    matches_hint(mini, ModelStatsDict, "model_stats['gpt-4o-mini']")
    # and summarize_usage's result keeps it (its model drops a key it does not name)
    from magsag_mcp.mcp_server.models import UsageSummaryResult

    tool = UsageSummaryResult.model_validate({**summary, "notes": []}).model_dump()
    assert tool["model_stats"]["gpt-4o-mini"]["served_as_by_endpoint"] == mini["served_as_by_endpoint"]
    policy(catalog_copy, MINI_ONLY)
    violations, _ = check_summary_with_notes(summary, load_policies(catalog_copy, env={}))
    # A's deployment fails, named by its endpoint; B's, serving the model its name says, does not
    assert violations == [
        f"small_models: Azure deployment 'gpt-4o-mini' at {a} answered as gpt-4o-2024-08-06 (1 attempt), which is "
        "not in allowed_models: a deployment's name is its operator's choice, and this is the model that served it "
        "(`magsag data query --provider azure --model gpt-4o-mini --format csv` lists its attempts, each with its "
        "endpoint and served_model)"
    ]


async def test_answers_an_older_version_recorded_without_an_endpoint_are_judged_at_any_endpoint(
    catalog_copy: Path, tmp_path: Path, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
):
    # B's deployment answered as gpt-4o this time, recorded by the version before 0029 (still running beside this
    # one on the migrated ledger): its answer is in served_as, in no endpoint's, and the gate says so of it
    swapped = ("gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06")
    a, _, summary, _ = await _two_endpoints(catalog_copy, tmp_path / "l.db", fake_openai, swapped, older_b=monkeypatch)
    mini = summary["model_stats"]["gpt-4o-mini"]
    assert mini["served_as"] == {"gpt-4o-2024-08-06": 1, "gpt-4o-mini-2024-07-18": 1}
    assert mini["served_as_by_endpoint"] == {a: {"gpt-4o-mini-2024-07-18": 1}}
    policy(catalog_copy, MINI_ONLY)
    violations, _ = check_summary_with_notes(summary, load_policies(catalog_copy, env={}))
    [failed] = violations
    assert failed.startswith("small_models: Azure deployment 'gpt-4o-mini' answered as gpt-4o-2024-08-06 (1 attempt)")
    assert "(at any endpoint: these attempts were recorded without the endpoint they went to" in failed
