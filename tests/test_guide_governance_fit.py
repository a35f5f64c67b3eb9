"""The users' guide's governance policy (catalog/policies/model_governance.yaml, written as the guide writes it)
beside the shipped routing: what check_budget says of a skill whose every routed target that policy forbids."""

from __future__ import annotations

from pathlib import Path

from magsag_mcp import Magsag
from tests.governance_helpers import GUIDE_POLICY  # its production_models does not allow pii_processing's own model


def test_a_skill_whose_every_target_a_policy_forbids_is_told_which_policy_and_the_fix(
    catalog_copy: Path, tmp_path: Path
):
    """check_budget's `call` (`magsag budget --skill`) said only "the policies forbid every target of
    skill.pii-redaction's route": neither which policy nor what to change, where docs/mcp.md (check_budget's row)
    promises the limit that refuses a call and its fix, and `magsag doctor` names both for the same route. It names each
    refusal (the policy, the model, the rule) and the fix now."""
    (catalog_copy / "policies" / "model_governance.yaml").write_text(GUIDE_POLICY)
    with Magsag(catalog=catalog_copy, db=tmp_path / "l.db", env={}) as mg:
        call = mg.check_budget(agent="my-mag", skill="skill.pii-redaction")["call"]
    assert call["fits"] is False and call["target"] is None
    reason = call["reason"]
    assert reason.startswith("the policies forbid every target of skill.pii-redaction's route ("), reason
    assert "policy 'production_models' forbids local:llama3.1:70b" in reason, reason
    assert "add one of them to the allowed_models" in reason and "route the task to a model" in reason, reason


def test_a_call_whose_every_routed_target_a_policy_forbids_is_told_the_fix(catalog_copy: Path, tmp_path: Path):
    """The same call made: "every target failed: local:llama3.1:70b skipped (policy 'production_models' forbids
    local:llama3.1:70b (chosen by routing): local:llama3.1:70b is not in production_models.allowed_models)" and
    nothing else, a routed target's refusal saying no fix (another target may serve the call) where none was left.
    The error says the fix now; a model the call chose keeps its own refusal's fix, said once."""
    from magsag_mcp import errors as E

    (catalog_copy / "policies" / "model_governance.yaml").write_text(GUIDE_POLICY)
    with Magsag(catalog=catalog_copy, db=tmp_path / "l.db", env={}) as mg:
        try:
            mg.skills.invoke("skill.pii-redaction", {"text": "John Smith, 555-0100"})
        except E.PolicyDenied as exc:
            routed = exc.message
        try:
            mg.skills.invoke("skill.analysis", {"data": "Q3", "model_config": {"model": "gemini-1.5-pro"}})
        except E.PolicyDenied as exc:
            chosen = exc.message
    assert "(chosen by routing)" in routed, routed
    assert "the policies forbid every target routing gives skill.pii-redaction: add one of them" in routed, routed
    assert "name one of them in the call, or add google:gemini-1.5-pro to production_models" in chosen, chosen
    assert "the policies forbid every target routing gives" not in chosen, chosen
