"""`magsag flow gate`: a summary checked against a policy file, and its exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magsag_mcp.cli import main

pytestmark = pytest.mark.anyio


def test_gate_exit_codes(tmp_path: Path, capsys):
    pol = tmp_path / "policy.yaml"
    pol.write_text(
        "policies:\n  - name: prod\n    allowed_models: [gpt-4o, 'claude-*']\n"
        "  - name: limits\n    thresholds: {max_cost_per_run_usd: 5.0}\n"
    )
    good = {
        "model_stats": {
            "gpt-4o": {
                "calls": 15,
                "errors": 0,
                "input_tokens": 45230,
                "output_tokens": 8940,
                "total_tokens": 54170,
                "cost_usd": 1.45,
            }
        }
    }
    bad = {
        "model_stats": {
            **good["model_stats"],
            "o1-preview": {
                "calls": 2,
                "errors": 0,
                "input_tokens": 1,
                "output_tokens": 1,
                "total_tokens": 2,
                "cost_usd": 4.0,
            },
        }
    }
    (tmp_path / "good.json").write_text(json.dumps(good))
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "shape.json").write_text('{"stats": {}}')
    assert main(["flow", "gate", str(tmp_path / "good.json"), "--policy", str(pol)]) == 0
    assert main(["flow", "gate", str(tmp_path / "bad.json"), "--policy", str(pol)]) == 1
    out = capsys.readouterr().out
    assert "prod: model 'o1-preview' is not in allowed_models" in out
    assert "limits: total cost $5.45 exceeds max_cost_per_run_usd $5.0" in out
    assert main(["flow", "gate", str(tmp_path / "junk.json"), "--policy", str(pol)]) == 2
    assert main(["flow", "gate", str(tmp_path / "shape.json"), "--policy", str(pol)]) == 2
    assert main(["flow", "gate", str(tmp_path / "missing.json"), "--policy", str(pol)]) == 2
    assert main(["flow", "gate", str(tmp_path / "good.json"), "--policy", str(tmp_path / "nope.yaml")]) == 2


def test_summarize_then_gate_end_to_end(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("MAGSAG_DB", str(tmp_path / "e2e.db"))
    # the shipped catalog, not one the developer exported for a project (the README's `pytest -q` failed then)
    monkeypatch.setenv("MAGSAG_CATALOG", str(Path(__file__).resolve().parent.parent / "catalog"))
    monkeypatch.delenv("MAGSAG_PROVIDER", raising=False)
    monkeypatch.delenv("MAGSAG_MODEL", raising=False)
    assert main(["invoke", "skill.analysis", "--payload", '{"data": "x", "model_config": {"model": "fake:m"}}']) == 0
    out = tmp_path / "summary.json"
    assert main(["flow", "summarize", "--output", str(out)]) == 0
    summary = json.loads(out.read_text())
    assert summary["model_stats"]["m"]["calls"] == 1
    shipped = Path(__file__).resolve().parent.parent / "catalog" / "policies" / "model_governance.yaml"
    capsys.readouterr()
    assert main(["flow", "gate", str(out), "--policy", str(shipped)]) == 0  # fake:* is allowed by the shipped policy
    strict = tmp_path / "strict.yaml"
    strict.write_text("policies:\n  - name: prod\n    allowed_models: [gpt-4o]\n")
    capsys.readouterr()
    assert main(["flow", "gate", str(out), "--policy", str(strict)]) == 1
    assert "prod: model 'm' (via fake) is not in allowed_models" in capsys.readouterr().out


def test_a_summary_without_providers_is_checked_against_whole_model_names_not_a_tag(tmp_path: Path):
    # A summary that names no providers (written by hand, or by an older magsag) was checked by the part of each
    # pattern after its colon: 'llama3.1:70b' allowed a model named '70b', a tag no model is called by, and a provider
    # glob ('*:claude-*') allowed no model at all. A pin names its model ('openai:gpt-4o' allows gpt-4o, whoever the
    # summary leaves unsaid), and so does a provider glob.
    from magsag_mcp.governance import Policy, PolicySet
    from magsag_mcp.governance.gate import check_summary

    policies = PolicySet([Policy(name="prod", allowed_models=["llama3.1:70b", "openai:gpt-4o", "*:claude-*"])])
    models = ("70b", "llama3.1:70b", "gpt-4o", "claude-3-haiku-20240307")
    summary = {"model_stats": {m: {"calls": 1, "errors": 0, "cost_usd": 0.1} for m in models}}
    assert check_summary(summary, policies) == ["prod: model '70b' is not in allowed_models (1 call)"]


def test_a_summary_without_providers_reads_a_gemini_resource_name_as_the_model_it_names():
    # A call to models/gemini-1.5-pro is a call to Google's gemini-1.5-pro (infer_provider, bare_model), and a policy
    # admits it by either name; a summary that names no providers checked the row as the text it is, so the gate
    # failed 'models/gemini-1.5-pro' against gemini-1.5-* and google:gemini-1.5-*, which admit that call.
    from magsag_mcp.governance import Policy, PolicySet
    from magsag_mcp.governance.gate import check_summary

    summary = {"model_stats": {"models/gemini-1.5-pro": {"calls": 1, "errors": 0, "cost_usd": 0.1}}}
    for allowed in (["gemini-1.5-*"], ["google:gemini-1.5-*"], ["google:gemini-1.5-pro"], ["*:gemini-1.5-pro"]):
        assert check_summary(summary, PolicySet([Policy(name="prod", allowed_models=allowed)])) == [], allowed
    # and the other way: a pattern written with models/ admits the bare name a summary records
    bare = {"model_stats": {"gemini-1.5-pro": {"calls": 1, "errors": 0, "cost_usd": 0.1}}}
    assert check_summary(bare, PolicySet([Policy(name="prod", allowed_models=["models/gemini-1.5-*"])])) == []
    # another model, or one pinned to another provider, still fails
    for allowed in (["gemini-2.0-*"], ["openai:gemini-1.5-*"]):
        assert check_summary(summary, PolicySet([Policy(name="prod", allowed_models=allowed)])) == [
            "prod: model 'models/gemini-1.5-pro' is not in allowed_models (1 call)"
        ], allowed
