"""A call whose targets are one not configured (no key) and one a policy forbids: its message names both, each with
its fix, and its error is the missing configuration's, in either order. The configuration is what the caller can set
to make the call go through; the policy's refusal is governance doing what it is for (a routine skip of a target it
forbids), and an administrator's to change. A call's own first model, forbidden, still fails with the policy's
refusal (``test_governance.py``)."""

from __future__ import annotations

import pytest

from magsag_mcp import errors as E
from magsag_mcp.ledger import UsageFilters
from magsag_mcp.service import Service
from tests.governance_helpers import policy

pytestmark = pytest.mark.anyio

POLICY = """
policies:
  - name: production_models
    allowed_models: [gpt-4o, claude-3-5-sonnet-20241022, "fake:*"]
"""
NO_KEY = "not configured: google: no API key; set GEMINI_API_KEY or GOOGLE_API_KEY in the environment"
NO_ANTHROPIC_KEY = "not configured: anthropic: no API key; set ANTHROPIC_API_KEY in the environment"


async def open_without(catalog, tmp_path, upstream, *prefixes: str) -> Service:
    env = {k: v for k, v in upstream.env().items() if not k.startswith(prefixes)}
    return await Service.open(catalog=catalog, db=tmp_path / "gov.db", env={**env, "MAGSAG_MAX_RETRIES": "0"})


async def test_a_routed_model_forbidden_then_one_not_configured_fails_as_the_missing_key(
    catalog_copy, tmp_path, upstream
):
    # skill.document-analysis routes to anthropic's claude-3-5-sonnet, then google's gemini-1.5-pro. Before: with the
    # first forbidden (a routine skip) and the second's key missing, the call failed as policy_denied, though the
    # other order (test below) fails as the missing key; only the key, set, lets this call through
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        POLICY.replace("claude-3-5-sonnet-20241022", "gemini-1.5-pro")
    )
    svc = await open_without(catalog_copy, tmp_path, upstream, "GEMINI_")
    try:
        with pytest.raises(E.AuthenticationError) as info:
            await svc.invoke_skill("skill.document-analysis", {"document": "x"})
        runs = await svc.query_runs(UsageFilters())
    finally:
        await svc.aclose()
    err = info.value
    assert isinstance(err, E.AllTargetsFailed) and not isinstance(err, E.PolicyDenied)
    assert err.to_dict()["last_error_type"] == "authentication_error" and "policy" not in err.details
    said = str(err)
    assert "anthropic:claude-3-5-sonnet-20241022 skipped (policy 'production_models' forbids" in said, said
    assert "is not in production_models.allowed_models" in said
    assert f"google:gemini-1.5-pro skipped ({NO_KEY})" in said
    [skipped_policy] = [s for s in err.details["trace"]["skipped"] if "policy" in s]
    assert skipped_policy["policy"] == "production_models"  # the refusal, still there for a program to read
    assert sum(upstream.calls.values()) == 0
    (run,) = runs  # the failed call is recorded, with both skips
    assert [a["outcome"] for a in run["attempts"]] == ["policy_denied", "skipped"]


async def test_a_first_model_not_configured_then_a_forbidden_fallback_fails_as_the_missing_key(
    catalog_copy, tmp_path, upstream
):
    policy(catalog_copy, POLICY)
    svc = await open_without(catalog_copy, tmp_path, upstream, "ANTHROPIC_")
    call = {
        "data": "x",
        "model_config": {"model": "anthropic:claude-3-5-sonnet-20241022", "fallbacks": ["google:gemini-1.5-pro"]},
    }
    try:
        with pytest.raises(E.AuthenticationError) as info:
            await svc.invoke_skill("skill.analysis", call)
    finally:
        await svc.aclose()
    said = str(info.value)
    assert not isinstance(info.value, E.PolicyDenied)
    assert f"anthropic:claude-3-5-sonnet-20241022 skipped ({NO_ANTHROPIC_KEY})" in said, said
    assert "google:gemini-1.5-pro skipped (policy 'production_models' forbids google:gemini-1.5-pro (chosen by" in said
    assert sum(upstream.calls.values()) == 0


async def test_a_provider_error_after_a_routine_refusal_stays_the_calls_error_before_a_later_skip(
    catalog_copy, tmp_path, upstream
):
    # the refusal's place is taken by a request's error sent after it: a target skipped after that (not configured)
    # does not take it back, as it would have from the refusal
    # skill.analysis routes to openai's gpt-4o (forbidden here), anthropic's claude-3-5-sonnet (answering 500), then
    # google's gemini-1.5-pro (no key)
    policy(catalog_copy, POLICY.replace("gpt-4o, ", "gemini-1.5-pro, "))
    upstream.plan("claude-3-5-sonnet-20241022", 500, 500, 500)
    svc = await open_without(catalog_copy, tmp_path, upstream, "GEMINI_")
    try:
        with pytest.raises(E.AllTargetsFailed) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x"})
    finally:
        await svc.aclose()
    assert info.value.to_dict()["last_error_type"] == "server_error", str(info.value)
