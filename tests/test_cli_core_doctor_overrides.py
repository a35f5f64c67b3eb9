"""`magsag doctor` on MAGSAG_PROVIDER / MAGSAG_MODEL overrides that would fail every call routed by them."""

from __future__ import annotations

import json

import pytest

from magsag_mcp.cli import main
from tests.conftest import CATALOG


def test_doctor_reports_a_model_the_provider_override_contradicts(cli_env, capsys, monkeypatch):
    monkeypatch.setenv("MAGSAG_PROVIDER", "anthropic")
    monkeypatch.setenv("MAGSAG_MODEL", "openai:gpt-4o")
    assert main(["doctor"]) == 1
    assert "problem: MAGSAG_MODEL='openai:gpt-4o': model 'openai:gpt-4o' names provider 'openai'" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("env", "said"),
    [
        # the guide's own example, refused by the shipped policy: doctor said nothing, every call failed
        (
            {"MAGSAG_MODEL": "gpt-4"},
            "MAGSAG_MODEL='gpt-4': policy 'production_models' refuses openai:gpt-4 (openai:gpt-4 (did you mean "
            "'gpt-4o'?) is not in production_models.allowed_models, at CATALOG/policies/model_governance.yaml: "
            "policies.0.allowed_models), so every call that names no model of its own "
            "fails; set MAGSAG_MODEL "
            "to a model it allows, or add openai:gpt-4 to production_models.allowed_models",
        ),
        # "use Google for all tasks": most shipped routes name no Google model, and this catalog no provider_defaults
        (
            {"MAGSAG_PROVIDER": "google"},
            "MAGSAG_PROVIDER='google': the routing policy names no google model for tasks 'assistant', 'coding', "
            "'extraction', 'reasoning', 'summarization', so their calls fail unless they name a model; also set "
            "MAGSAG_MODEL to a google model, or name one in routing's provider_defaults (provider_defaults: "
            "{google: MODEL}) or in those routes",
        ),
    ],
)
def test_doctor_reports_overrides_every_call_would_fail_on(cli_env, capsys, monkeypatch, unmapped_catalog, env, said):
    monkeypatch.setenv("MAGSAG_CATALOG", str(unmapped_catalog))  # (the shipped routing names provider_defaults)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")  # configured: the problem is the policy's
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-test-0123456789")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    said = said.replace("CATALOG", str(unmapped_catalog))  # (where the refusing policy is written)
    assert main(["doctor", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["problems"] == [said]
    assert main(["doctor"]) == 1
    assert f"problem: {said}" in capsys.readouterr().out


def test_doctor_names_the_skills_whose_every_target_the_policy_refuses(cli_env, capsys, monkeypatch, tmp_path):
    import shutil

    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: vendors\n    allowed_models: ['openai:*', 'anthropic:*', 'google:*', 'local:*']\n"
        "  - name: residency\n    requirements: {pii_processing: ['local:llama3.1:70b']}\n"
    )
    monkeypatch.setenv("MAGSAG_CATALOG", str(catalog))
    monkeypatch.setenv("MAGSAG_PROVIDER", "compat")
    monkeypatch.setenv("MAGSAG_COMPAT_BASE_URL", "https://gateway.example.com/v1")  # configured
    assert main(["doctor", "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert problems[0].startswith(
        "skill.analysis: policy 'vendors' refuses every target the environment's MAGSAG_PROVIDER / MAGSAG_MODEL "
        "leave (compat:gpt-4o, compat:claude-3-5-sonnet-20241022, compat:gemini-1.5-pro), so their calls fail unless "
        "they name a model"
    )
    assert not any("skill.pii-redaction" in p for p in problems)  # its data class's local model serves it


@pytest.mark.parametrize(
    ("env", "skills", "labels", "unpriced"),
    [
        # the guide's "export MAGSAG_PROVIDER=compat": the shipped cost_limits refuse a model of unknown price, and
        # no compat model has one until prices.yaml gives it
        (
            {"MAGSAG_PROVIDER": "compat", "MAGSAG_COMPAT_BASE_URL": "https://gateway.example.com/v1"},
            "skill.analysis",
            "compat:gpt-4o, compat:claude-3-5-sonnet-20241022, compat:gemini-1.5-pro",
            "compat:gpt-4o, compat:claude-3-5-sonnet-20241022, compat:gemini-1.5-pro have no known price",
        ),
        # a model allowed by name, on a vendor's provider pointed at a gateway that may serve it: no price either
        # (at the vendor's own API, the pair is refused as the settings' mistake: tests/test_guide_multi_provider.py)
        (
            {
                "MAGSAG_PROVIDER": "openai",
                "MAGSAG_MODEL": "claude-3-5-sonnet-20241022",
                "OPENAI_BASE_URL": "https://gateway.example.com/v1",
            },
            "skill.analysis, skill.assistant, skill.coding, skill.document-analysis, skill.extraction, "
            "skill.reasoning, skill.summarization",
            "openai:claude-3-5-sonnet-20241022",
            "openai:claude-3-5-sonnet-20241022 has no known price",
        ),
    ],
)
def test_doctor_reports_overrides_whose_targets_a_cost_limit_refuses_for_want_of_a_price(
    cli_env, capsys, monkeypatch, env, skills, labels, unpriced
):
    # doctor printed the overrides and exited 0, while every call that named no model failed with "every target
    # failed: ... skipped (cost_limits: ... has no known price ...)"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")  # configured: the problem is the policy's
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["doctor", "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    said = next(p for p in problems if p.startswith(skills + ":"))
    assert said.startswith(
        f"{skills}: policy 'cost_limits' refuses every target the environment's MAGSAG_PROVIDER / MAGSAG_MODEL "
        f"leave ({labels}), so their calls fail unless they name a model; {unpriced}"
    )
    assert "prices.yaml" in said and "allow_unpriced: true on cost_limits" in said
    assert not any("skill.pii-redaction" in p for p in problems)  # its data class's local model is priced (at 0)


def test_doctor_reports_no_problem_for_good_settings(cli_env, capsys, monkeypatch):
    monkeypatch.setenv("MAGSAG_PROVIDER", "OpenAI")
    monkeypatch.setenv("MAGSAG_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("MAGSAG_ALLOWED_BASE_URLS", "openai=https://proxy.example.com")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    assert main(["doctor", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["problems"] == []


@pytest.mark.parametrize(
    ("env", "said"),
    [
        (
            {"MAGSAG_PROVIDER": "anthropic"},
            "MAGSAG_PROVIDER='anthropic': no target it leaves skills skill.analysis, skill.assistant, "
            "skill.coding, skill.document-analysis, skill.extraction, skill.reasoning, skill.summarization can be "
            "called (anthropic: no API key; set ANTHROPIC_API_KEY in the environment), so their calls fail unless "
            "they name a model; configure that provider, or change or unset the variable",
        ),
        (
            {"MAGSAG_MODEL": "openai:gpt-4o-mini"},
            "MAGSAG_MODEL='openai:gpt-4o-mini': no target it leaves skills skill.analysis, skill.assistant, "
            "skill.coding, skill.document-analysis, skill.extraction, skill.reasoning, skill.summarization can be "
            "called (openai: no API key; set OPENAI_API_KEY in the environment), so their calls fail unless they "
            "name a model; configure that provider, or change or unset the variable",
        ),
    ],
)
def test_doctor_reports_an_override_naming_a_provider_that_is_not_configured(cli_env, capsys, monkeypatch, env, said):
    # MAGSAG_PROVIDER=anthropic without ANTHROPIC_API_KEY: every call that named no model failed ("every target
    # failed: ... skipped (not configured ...)") while doctor printed "override: MAGSAG_PROVIDER=anthropic" and
    # exited 0. skill.pii-redaction is not named: its data class's local model still serves it.
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["doctor", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["problems"] == [said]
