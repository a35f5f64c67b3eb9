"""A ``Policy`` (or its ``Thresholds``) built in Python with a bad limit raised pydantic's own ValidationError
("Input should be greater than 0 [type=greater_than, input_value=-5, input_type=int] For further information visit
https://errors.pydantic.dev/..."), where the same policy in a catalog's policy file was told what was wrong, where, and
the fix. Now both are said in the same words."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from magsag_mcp.errors import ConfigError
from magsag_mcp.governance import Policy, PolicySet
from magsag_mcp.governance.policy_files import validate_policies
from magsag_mcp.governance.policy_models import Thresholds

BAD = [
    {"thresholds": {"max_cost_per_run_usd": -5}},
    {"thresholds": {"max_cost_per_run_usd": "$5"}},
    {"thresholds": {"max_cost_per_run_usd": "1e-13"}},
    {"thresholds": {"max_cost_per_rnu_usd": 5}},
    {"thresholds": {"max_cost_per_run_usd": 0, "max_cost_per_day_usd": "lots"}},
    {"max_cost_per_run_usd": 5},
    {"allowed_models": ["opnai:gpt-4o"]},
]


def _file_problems(tmp_path: Path, policy: dict[str, Any]) -> list[str]:
    folder = tmp_path / "policies"
    folder.mkdir()
    path = folder / "p.yaml"
    path.write_text(yaml.safe_dump({"policies": [{"name": "cap", **policy}]}))
    # (each names the line its key is on, FILE:LINE, which a policy built in Python has none of)
    return [
        re.sub(rf"^{re.escape(str(path))}:\d+: policies\.0\.", "", problem) for problem in validate_policies(tmp_path)
    ]


@pytest.mark.parametrize("policy", BAD)
def test_a_policy_built_in_python_is_told_what_its_file_would_be_told(tmp_path: Path, policy: dict[str, Any]):
    expected = _file_problems(tmp_path, policy)
    assert expected  # (the file's problems: what was wrong, where, the fix)
    with pytest.raises(ConfigError) as info:
        Policy(name="cap", **policy)
    assert info.value.details["problems"] == expected
    assert info.value.message == "invalid Policy 'cap': " + "; ".join(expected)
    assert "errors.pydantic.dev" not in info.value.message and "input_value" not in info.value.message
    assert isinstance(info.value, ValueError)  # (caught as pydantic's error was)


def test_thresholds_built_in_python_are_told_their_fix():
    with pytest.raises(ConfigError) as info:
        Thresholds(max_cost_per_run_usd=-5)
    assert info.value.message == (
        "invalid Thresholds: max_cost_per_run_usd: Input should be greater than 0 (got -5); write a number above 0"
    )


def test_a_good_policy_built_in_python_is_built_and_applies():
    policies = PolicySet([Policy(name="cap", thresholds=Thresholds(max_cost_per_run_usd="5"))])
    assert [str(limit.amount) for limit in policies.limits] == ["5"]


@pytest.mark.parametrize("policy", BAD)
def test_a_policy_validated_from_a_mapping_or_json_is_told_what_its_file_would_be_told(
    tmp_path: Path, policy: dict[str, Any]
):
    # Policy.model_validate(a_dict), and model_validate_json, raised pydantic's raw ValidationError still (with its
    # input_value and errors.pydantic.dev link): only __init__ was said as a file is
    import json

    expected = _file_problems(tmp_path, policy)
    with pytest.raises(ConfigError) as info:
        Policy.model_validate({"name": "cap", **policy})
    assert info.value.details["problems"] == expected
    assert info.value.message == "invalid Policy 'cap': " + "; ".join(expected)
    assert isinstance(info.value, ValueError)
    with pytest.raises(ConfigError) as info:
        Policy.model_validate_json(json.dumps({"name": "cap", **policy}))
    assert info.value.details["problems"] == expected


def test_thresholds_validated_from_a_mapping_are_told_their_fix():
    with pytest.raises(ConfigError) as info:
        Thresholds.model_validate({"max_cost_per_run_usd": -5})
    assert info.value.message == (
        "invalid Thresholds: max_cost_per_run_usd: Input should be greater than 0 (got -5); write a number above 0"
    )


@pytest.mark.parametrize("update", BAD)
def test_a_policy_copied_with_an_update_is_told_what_its_file_would_be_told(tmp_path: Path, update: dict[str, Any]):
    # pydantic's model_copy(update=...) checks nothing: a copy held a negative budget, or an unknown provider's glob,
    # that the YAML and Policy(...) refuse, and PolicySet counted it as a limit
    expected = _file_problems(tmp_path, {"allowed_models": ["gpt-4o"], **update})
    assert expected
    policy = Policy(name="cap", allowed_models=["gpt-4o"])
    with pytest.raises(ConfigError) as info:
        policy.model_copy(update=update)
    assert info.value.details["problems"] == expected
    assert isinstance(info.value, ValueError)


def test_a_policy_copied_with_a_good_update_holds_it_and_none_leaves_a_key_out():
    policy = Policy(name="cap", allowed_models=["gpt-4o"], thresholds={"max_cost_per_run_usd": 5})
    raised = policy.model_copy(update={"thresholds": {"max_cost_per_run_usd": "7.5"}})
    assert raised.thresholds is not None and raised.thresholds.max_cost_per_run_usd == Decimal("7.5")
    assert raised.allowed_models == ["gpt-4o"] and policy.thresholds.max_cost_per_run_usd == Decimal(5)  # (unchanged)
    opened = policy.model_copy(update={"allowed_models": None})
    assert opened.allowed_models is None and opened.thresholds == policy.thresholds
    assert PolicySet([opened]).limits[0].amount == Decimal(5)
    with pytest.raises(ConfigError, match="max_cost_per_day_usd: Input should be greater than 0"):
        policy.thresholds.model_copy(update={"max_cost_per_day_usd": 0})
    assert policy.model_copy() == policy  # (no update: pydantic's copy)
