"""A confined data class's call (``requirements``: pii_processing to local:llama3.1:70b and fake:*) whose own
``fallbacks`` name a server the operator did not configure: that fallback is skipped, as a fallback a policy forbids
by its model is, said in the call's warnings and trace and recorded as policy_denied; the call goes on to the targets
the policy allows. Only the call's own first model on such a server is refused whole (it was asked for by name).
``explain_route`` says the same, with nothing called."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.errors import AllTargetsFailed, PolicyDenied
from magsag_mcp.ledger import UsageFilters
from magsag_mcp.service import Service
from tests.governance_helpers import policy

pytestmark = pytest.mark.anyio

PII = "skill.pii-redaction"
COLLECTOR = "http://collector.example.net:11434"
ELSEWHERE = {"provider": "local", "model": "llama3.1:70b", "base_url": COLLECTOR}


def _payload(*fallbacks: object, model: str = "fake:fail-quota_exhausted") -> dict:
    # (a quota refusal moves on at once, without a retry's wait)
    return {"text": "x", "model_config": {"model": model, "fallbacks": list(fallbacks)}}


async def test_a_fallback_on_a_server_not_configured_for_the_class_is_skipped_not_the_whole_call(tmp_path: Path):
    async with await Service.open(db=tmp_path / "l.db", env={}) as svc:
        result = await svc.invoke_skill(PII, _payload(ELSEWHERE, "fake:answer"))
        assert result.attempts[-1].provider == "fake" and result.attempts[-1].model == "answer"
        outcomes = [(a.provider, a.model, a.outcome) for a in result.attempts]
        assert outcomes == [
            ("fake", "fail-quota_exhausted", "error"),
            ("local", "llama3.1:70b", "policy_denied"),
            ("fake", "answer", "ok"),
        ]
        # said in the warnings and the trace, naming the policy that confines the class and the server refused
        [said] = [w for w in result.warnings if "collector.example.net" in w]
        assert said.startswith("skipped local:llama3.1:70b") and "data_residency.requirements" in said
        [skip] = result.trace["skipped"]
        assert skip["policy"] == "data_residency" and "collector.example.net" in skip["reason"]
        # and recorded as every refused target is: a policy_denied attempt that cost nothing
        [run] = await svc.query_runs(UsageFilters(run_id=result.run_id))
        assert run["status"] == "ok"
        denied = [a for a in run["attempts"] if a["outcome"] == "policy_denied"]
        assert len(denied) == 1 and denied[0]["cost_usd"] == "0"
        assert "collector.example.net" in denied[0]["error_message"]


async def test_a_call_left_with_no_target_fails_naming_the_skip(tmp_path: Path, catalog_copy: Path):
    # the class confined to the fake provider alone: no model of its own is added after the call's targets
    policy(catalog_copy, "policies:\n  - name: pii_rules\n    requirements:\n      pii_processing: ['fake:*']\n")
    async with await Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env={}) as svc:
        with pytest.raises(AllTargetsFailed) as info:
            await svc.invoke_skill(PII, _payload(ELSEWHERE))
        assert "local:llama3.1:70b skipped (" in info.value.message
        assert "confined by pii_rules.requirements" in info.value.message
        [skip] = info.value.details["trace"]["skipped"]
        assert skip["policy"] == "pii_rules"
        [run] = await svc.query_runs(UsageFilters(run_id=info.value.run_id))
        assert [a["outcome"] for a in run["attempts"]] == ["error", "policy_denied"]


async def test_the_call_s_first_model_on_such_a_server_is_still_refused_whole(tmp_path: Path):
    async with await Service.open(db=tmp_path / "l.db", env={}) as svc:
        with pytest.raises(PolicyDenied, match="confined by data_residency.requirements"):
            await svc.invoke_skill(PII, {"text": "x", "model_config": {**ELSEWHERE, "fallbacks": ["fake:answer"]}})


async def test_explain_route_shows_the_fallback_skipped_as_the_call_skips_it(tmp_path: Path):
    async with await Service.open(db=tmp_path / "l.db", env={}) as svc:
        explained = svc.explain(PII, _payload(ELSEWHERE, "fake:answer"))
        labels = [t["label"] for t in explained["targets"]]
        assert labels[:3] == ["fake:fail-quota_exhausted", "local:llama3.1:70b", "fake:answer"]
        refused = explained["targets"][1]["policy"]
        assert refused["allowed"] is False and refused["policy"] == "data_residency"
        assert "collector.example.net" in refused["reason"]
        [note] = [w for w in explained["warnings"] if "collector.example.net" in w]
        assert "is not tried" in note and "skips it for the next target" in note
        assert not any(w.startswith("the call fails") for w in explained["warnings"])


def test_a_refusal_by_requirements_no_policy_names_says_so_not_blank():
    # plan_call given the classes' models as a plain mapping (a Python caller's): the refusal's policy was "", which
    # the MCP result, the CLI and the ledger's row showed as a blank name
    from magsag_mcp.catalog import load_catalog
    from magsag_mcp.routing import plan_call
    from tests.conftest import CATALOG

    catalog = load_catalog(CATALOG, env={})
    models = {"pii_processing": ["local:llama3.1:70b"]}
    with pytest.raises(PolicyDenied) as info:
        payload = {"text": "x", "model_config": ELSEWHERE}
        plan_call(catalog, PII, payload, context=None, env={}, data_class_models=models)
    assert info.value.policy == "data_class_models (no policy named)" == info.value.to_dict()["policy"]
    assert "is confined by data_class_models (no policy named) to the models it names" in info.value.message


async def test_the_skipped_fallback_is_recorded_as_one_a_policy_forbids_by_its_model(tmp_path: Path):
    # the two skips of a fallback a policy refuses (its server, its model) were told apart in the ledger by the try
    # number alone: the server's was attempt 0 (a target passed over unconfigured), the model's attempt 1
    async with await Service.open(db=tmp_path / "l.db", env={}) as svc:
        rows = []
        for fallback in (ELSEWHERE, "openai:gpt-4o"):
            result = await svc.invoke_skill(PII, _payload(fallback, "fake:answer"))
            [run] = await svc.query_runs(UsageFilters(run_id=result.run_id))
            [denied] = [a for a in run["attempts"] if a["outcome"] == "policy_denied"]
            rows.append({k: v for k, v in denied.items() if k not in ("time", "provider", "model", "error_message")})
        by_server, by_model = rows
        assert by_server == by_model
        assert by_server["attempt_number"] == 1 and by_server["cost_usd"] == "0" and by_server["fallback_position"] == 1


async def test_explain_names_the_skipped_fallback_s_server_beside_the_class_s_own_model(tmp_path: Path):
    # the class's own local:llama3.1:70b (on its configured server) follows the skipped one at the collector: explain
    # said "local:llama3.1:70b, one of the call's fallbacks, is not tried", which read as the class's model not tried,
    # while the call's warning named the server ("skipped local:llama3.1:70b at http://collector.example.net:11434")
    async with await Service.open(db=tmp_path / "l.db", env={}) as svc:
        explained = svc.explain(PII, _payload(ELSEWHERE, "fake:answer"))
        [note] = [w for w in explained["warnings"] if "is not tried" in w]
        assert note.startswith("local:llama3.1:70b at http://collector.example.net:11434, one of the call's fallbacks")
        result = await svc.invoke_skill(PII, _payload(ELSEWHERE, "fake:answer"))
        [said] = [w for w in result.warnings if "collector.example.net" in w]
        assert said.startswith("skipped local:llama3.1:70b at http://collector.example.net:11434")
