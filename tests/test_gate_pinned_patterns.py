"""`magsag flow gate` over a summary that names no provider for its rows (written by hand, or by an older magsag): a
pattern pinned to a provider (``openai:gemini-1.5-*``) restricts to that provider, as a call's admission reads it,
as far as the summary tells who served a row: its provider filter, else the model's own vendor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magsag_mcp.cli import main
from magsag_mcp.governance import Policy, PolicySet
from magsag_mcp.governance.gate import check_summary

ROW = {"calls": 1, "errors": 0, "cost_usd": 0.1}
REFUSED = "prod: model 'gemini-1.5-pro' is not in allowed_models (1 call)"
VIA = "prod: model 'gemini-1.5-pro' (via {}) is not in allowed_models (1 call)"


def check(summary: dict, allowed: list[str]) -> list[str]:
    return check_summary(summary, PolicySet([Policy(name="prod", allowed_models=allowed)]))


def test_a_pin_to_one_vendor_does_not_admit_another_vendors_model():
    # Before: openai:gemini-1.5-* admitted the row gemini-1.5-pro (Google's model, recorded for google), by the name
    # after its colon alone; its resource name, models/gemini-1.5-pro, it already refused
    summary = {"model_stats": {"gemini-1.5-pro": ROW}}
    assert check(summary, ["openai:gemini-1.5-*"]) == [REFUSED]
    assert check(summary, ["anthropic:gemini-1.5-pro"]) == [REFUSED]
    # the vendor's own pin, a bare name, a provider glob: admitted as before
    for allowed in (["google:gemini-1.5-*"], ["gemini:gemini-1.5-pro"], ["gemini-1.5-*"], ["*:gemini-1.5-pro"]):
        assert check(summary, allowed) == [], allowed


def test_a_pin_to_a_host_of_others_models_or_of_a_model_no_vendor_is_told_from_admits_it_by_name():
    # who served a row the summary leaves unsaid: azure's gpt-4o, a gateway's gemini, a model of no known vendor
    summary = {"model_stats": {"gpt-4o": ROW, "gemini-1.5-pro": ROW, "mystery-7b": ROW}}
    assert check(summary, ["azure:gpt-4o", "compat:gemini-*", "openai:mystery-*"]) == []
    assert check({"model_stats": {"gpt-4o": ROW}}, ["openai:gpt-4o"]) == []  # the vendor's own


def test_a_summary_of_one_providers_calls_is_checked_as_that_providers():
    # its filters say who served every row: the pin is read against that provider, named in the violation
    for provider, allowed, said in (
        ("openai", ["google:gemini-1.5-*"], [VIA.format("openai")]),
        ("gemini", ["google:gemini-1.5-*"], []),  # an alias, as a hand-written filter may give it
        ("compat", ["openai:gpt-4o", "gemini-1.5-*"], []),
        ("compat", ["openai:gemini-1.5-*"], [VIA.format("compat")]),
    ):
        summary = {"model_stats": {"gemini-1.5-pro": ROW}, "period": {"filters": {"provider": provider}}}
        assert check(summary, allowed) == said, (provider, allowed)


def test_the_gate_command_fails_such_a_summary(tmp_path: Path, capsys):
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies:\n  - name: prod\n    allowed_models: ['openai:gemini-1.5-*', 'openai:gpt-4o']\n")
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"model_stats": {"gemini-1.5-pro": ROW, "gpt-4o": ROW}}))
    assert main(["flow", "gate", str(summary), "--policy", str(policy)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL {REFUSED}" in out and "'gpt-4o'" not in out


@pytest.mark.parametrize("model", ["models/gemini-1.5-pro", "gemini-1.5-pro"])
def test_either_name_of_googles_model_is_refused_alike(model):
    summary = {"model_stats": {model: ROW}}
    assert len(check(summary, ["openai:gemini-1.5-*"])) == 1
    assert check(summary, ["google:gemini-1.5-*"]) == []
