"""explain_route / ``magsag explain`` / ``skills.explain`` say when none of a call's targets can be sent.

A fresh user's first look before spending: with no key set, every target was listed with its ``unavailable`` reason,
but ``warnings`` (what the call would meet) was empty, so a client reading the plan saw a route and no hint that the
call it planned could only fail with ``all_targets_failed``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service

pytestmark = pytest.mark.anyio

KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "AZURE_OPENAI_API_KEY")


async def open_service(catalog: Path, tmp_path: Path, upstream, *, without: tuple[str, ...], **env) -> Service:
    base = {k: v for k, v in upstream.env().items() if k not in without}
    return await Service.open(catalog=catalog, db=tmp_path / "plan.db", env={**base, **env})


def ending(plan: dict) -> list[str]:
    return [w for w in plan["warnings"] if w.startswith("the call fails")]


async def test_a_plan_whose_every_target_lacks_its_key_says_the_call_fails_and_each_fix(
    catalog_copy: Path, tmp_path: Path, upstream
):
    svc = await open_service(catalog_copy, tmp_path, upstream, without=KEYS)
    try:
        plan = svc.explain("skill.analysis", {"data": "x"})
        with pytest.raises(E.AllTargetsFailed):  # what the plan is to foretell
            await svc.invoke_skill("skill.analysis", {"data": "x"})
    finally:
        await svc.aclose()
    [end] = ending(plan)
    assert end.startswith("the call fails: none of its targets can be sent: ")
    for label, variable in (
        ("openai:gpt-4o", "OPENAI_API_KEY"),
        ("anthropic:claude-3-5-sonnet-20241022", "ANTHROPIC_API_KEY"),
        ("google:gemini-1.5-pro", "GEMINI_API_KEY"),
    ):
        assert f"{label} is not configured (" in end and variable in end
    assert "magsag doctor" in end


async def test_a_plan_with_one_target_it_can_send_adds_no_ending(catalog_copy: Path, tmp_path: Path, upstream):
    svc = await open_service(catalog_copy, tmp_path, upstream, without=("OPENAI_API_KEY", "GEMINI_API_KEY"))
    try:
        plan = svc.explain("skill.analysis", {"data": "x"})
        answered = await svc.invoke_skill("skill.analysis", {"data": "x"})
    finally:
        await svc.aclose()
    assert answered.result.provider == "anthropic"
    assert [t["unavailable"] is None for t in plan["targets"]] == [False, True, False]
    assert ending(plan) == []


async def test_a_plan_refused_by_policy_on_one_target_and_unconfigured_on_the_other_names_both(
    catalog_copy: Path, tmp_path: Path, upstream
):
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: openai_only\n    allowed_models: ['openai:*']\n"
    )
    svc = await open_service(catalog_copy, tmp_path, upstream, without=KEYS)
    try:
        plan = svc.explain("skill.assistant", {"message": "hi"})  # anthropic:claude-3-5-sonnet, openai:gpt-4o-mini
        with pytest.raises(E.MagsagError):
            await svc.invoke_skill("skill.assistant", {"message": "hi"})
    finally:
        await svc.aclose()
    [end] = ending(plan)
    assert "anthropic:claude-3-5-sonnet-20241022 is refused by policy 'openai_only' (" in end
    assert "openai:gpt-4o-mini is not configured (openai: no API key; set OPENAI_API_KEY" in end


async def test_a_chosen_model_a_policy_forbids_is_told_once_as_before(catalog_copy: Path, tmp_path: Path, upstream):
    svc = await open_service(catalog_copy, tmp_path, upstream, without=KEYS)
    try:
        plan = svc.explain("skill.analysis", {"data": "x", "model_config": {"model": "gpt-3.5-turbo"}})
    finally:
        await svc.aclose()
    [end] = ending(plan)
    assert end.startswith("the call fails with policy_denied at openai:gpt-3.5-turbo")


async def test_a_target_without_an_endpoint_and_a_price_is_told_both_as_the_call_tells_them(
    catalog_copy: Path, tmp_path: Path, upstream
):
    """The guide's MAGSAG_PROVIDER=compat, with no compat endpoint set: the call's error says each target is "not
    configured: compat: no endpoint ...; once it is, cost_limits: ... has no known price"; the plan's warning said only
    the cost limit's refusal, so the reader who added the price met the missing endpoint next. Both now, the missing
    setting first, as the call says them."""
    svc = await open_service(
        catalog_copy, tmp_path, upstream, without=("MAGSAG_COMPAT_BASE_URL",), MAGSAG_PROVIDER="compat"
    )
    try:
        plan = svc.explain("skill.analysis", {"data": "x"})
        with pytest.raises(E.AllTargetsFailed) as failed:
            await svc.invoke_skill("skill.analysis", {"data": "x"})
    finally:
        await svc.aclose()
    [end] = ending(plan)
    for target in plan["targets"]:
        label = target["label"]
        assert label.startswith("compat:") and "no endpoint" in target["unavailable"]
        assert f"{label} is not configured (compat: no endpoint; set MAGSAG_COMPAT_BASE_URL" in end, end
        assert f"once it is, it is refused by policy 'cost_limits' (cost_limits: {label} has no known price" in end
        assert f"{label} skipped (not configured: compat: no endpoint" in failed.value.message
    assert "is refused by policy 'cost_limits'" not in end.replace("it is refused by policy 'cost_limits'", "")
