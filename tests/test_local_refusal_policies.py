"""A local target refused by several policies is told each one's reason, one line each: a local model is most often
refused for where it runs, by the models' glob and a data class's alike, and the first policy's reason alone, fixed,
met the next policy's at the next call."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.governance.policy import Policy, PolicySet
from magsag_mcp.types import Target

pytestmark = pytest.mark.anyio

CLOUD = Target("local", "gpt-oss:120b-cloud")


def test_every_policy_refusing_a_local_target_is_said_one_line_each():
    policies = PolicySet(
        [
            Policy(name="production_models", allowed_models=["local:*"]),
            Policy(name="residency", requirements={"pii": ["local:*"]}),
            Policy(name="eu_only", requirements={"pii": ["local:llama3.1:70b"]}),
        ]
    )
    ok, policy, reason, rule = policies.allowed(CLOUD, "pii")
    assert not ok and policy == "production_models" and rule == "allowed_models"
    assert reason is not None
    first, *also = reason.split("\n")
    assert "production_models.allowed_models does not admit a local model run off this machine" in first
    assert [line.split(":", 1)[0] for line in also] == ["- also policy 'residency'", "- also policy 'eu_only'"]
    assert "a glob does not send the class's data off this machine" in also[0]
    assert "data class 'pii' may only use local:llama3.1:70b" in also[1]


def test_one_policy_refusing_says_its_reason_alone():
    policies = PolicySet([Policy(name="production_models", allowed_models=["local:*"])])
    _, _, reason, _ = policies.allowed(CLOUD, "pii")
    assert reason is not None and "\n" not in reason and "also" not in reason


async def test_the_calls_refusal_says_both_policies(catalog_copy: Path, tmp_path: Path):
    # the shipped production_models admits local:* on this machine, and pii_processing local:llama3.1:70b alone
    from magsag_mcp.errors import MagsagError
    from magsag_mcp.service import Service

    mc = {"model_config": {"provider": "local", "model": "gpt-oss:120b-cloud"}}
    async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env={}) as svc:
        with pytest.raises(MagsagError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "Q3", **mc}, run_classes=("pii_processing",))
    first, also = info.value.message.split("\n")
    # the first policy's fix stays on its own line, the other policy's reason on its
    assert "production_models" in first and "or add local:gpt-oss:120b-cloud to production_models.allowed_models" in (
        first
    ), first
    assert also.startswith("- also policy 'data_residency': data class 'pii_processing' may only use"), also
    assert "production_models" not in also


def test_one_policy_refusing_by_two_of_its_rules_says_both():
    # its allowed_models and its data class's alike refuse a model run off this machine: the first alone was said
    # (the other policies' lines only), and fixing it met the same policy's other refusal at the next call
    policies = PolicySet([Policy(name="corp", allowed_models=["local:*"], requirements={"pii": ["local:*"]})])
    ok, policy, reason, rule = policies.allowed(CLOUD, "pii")
    assert not ok and policy == "corp" and rule == "allowed_models"
    assert reason is not None
    first, *also = reason.split("\n")
    assert "corp.allowed_models does not admit a local model run off this machine" in first
    assert len(also) == 1 and also[0].startswith("- also policy 'corp': data class 'pii' may only use"), also
