"""explain_route (the service's explain, the MCP tool and `magsag explain`) says whether the answer cache is on for the
call, its ttl, and which setting decided: the call's context.cache_ttl, its route's cache or its skill's; nothing is
called."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import errors as E
from tests.fakes.openai_server import FakeOpenAI
from tests.test_answer_cache_skills import _set
from tests.test_attempt_cost import open_service

pytestmark = pytest.mark.anyio

PAYLOAD = {"data": "numbers", "model_config": {"provider": "openai", "model": "gpt-4o"}}


@pytest.mark.parametrize(
    ("skill", "route", "context", "said"),
    [
        (None, None, None, {"on": False, "ttl_s": None, "source": None}),
        (None, None, {"cache_ttl": 600}, {"on": True, "ttl_s": 600.0, "source": "call"}),
        ("{ttl: 1h}", None, {"cache_ttl": 0}, {"on": False, "ttl_s": None, "source": "call"}),
        ("{ttl: 1h}", None, None, {"on": True, "ttl_s": 3600.0, "source": "skill"}),
        ("{ttl: 1h}", "{ttl: 30m}", None, {"on": True, "ttl_s": 1800.0, "source": "route"}),
        ("{ttl: 1h}", "{ttl: 0}", None, {"on": False, "ttl_s": None, "source": "route"}),
        ("{ttl: 0}", None, None, {"on": False, "ttl_s": None, "source": "skill"}),
    ],
)
async def test_explain_says_whether_the_cache_is_on_its_ttl_and_where_it_came_from(
    fake_openai: FakeOpenAI, catalog_copy: Path, tmp_path: Path, clock_at_noon: float, skill, route, context, said
):
    svc = await open_service(tmp_path, fake_openai.url + "/v1", catalog=_set(catalog_copy, skill=skill, route=route))
    try:
        assert svc.explain("skill.analysis", PAYLOAD, context=context, agent="ana")["cache"] == said
        assert fake_openai.requests == []
        # and the call does as it said: two calls send one request when it is on
        for _ in range(2):
            await svc.invoke_skill("skill.analysis", PAYLOAD, agent="ana", context=context)
        assert len(fake_openai.requests) == (1 if said["on"] else 2)
    finally:
        await svc.aclose()


async def test_a_call_none_of_whose_targets_has_a_key_is_said_not_cached(
    fake_openai: FakeOpenAI, tmp_path: Path, clock_at_noon: float
):
    # The fake provider builds no wire body, so no answer of it is kept nor looked up (request_key is None): the
    # explanation said "on" though both calls were answered by the provider. A plan with one target that has a key
    # (OpenAI's fallback) is on.
    svc = await open_service(tmp_path, fake_openai.url + "/v1")
    fake_only = {"data": "numbers", "model_config": {"model": "fake:echo"}}
    with_openai = {"data": "numbers", "model_config": {"model": "fake:echo", "fallbacks": ["openai:gpt-4o"]}}
    context = {"cache_ttl": 600}
    try:
        said = svc.explain("skill.analysis", fake_only, context=context, agent="ana")["cache"]
        assert said == {"on": False, "ttl_s": 600.0, "source": "call"}
        first = await svc.invoke_skill("skill.analysis", fake_only, agent="ana", context=context)
        second = await svc.invoke_skill("skill.analysis", fake_only, agent="ana", context=context)
        assert not any("answered from the cache" in w for w in [*first.warnings, *second.warnings])
        assert second.attempts[-1].price_source != "cache"
        said = svc.explain("skill.analysis", with_openai, context=context, agent="ana")["cache"]
        assert said == {"on": True, "ttl_s": 600.0, "source": "call"}
        assert fake_openai.requests == []
    finally:
        await svc.aclose()


async def test_the_mcp_tool_says_it(fake_openai: FakeOpenAI, tmp_path: Path, clock_at_noon: float):
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server
    from tests.fakes.openai_server import DEFAULT_KEY
    from tests.test_attempt_cost import CATALOG

    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    args: dict[str, Any] = {"skill_id": "skill.analysis", "payload": {"data": "numbers"}, "context": {"cache_ttl": 90}}
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "m.db", env=env)) as client:
        on = (await client.call_tool("explain_route", args)).structured_content
        off = (await client.call_tool("explain_route", {**args, "context": {}})).structured_content
    assert on["cache"] == {"on": True, "ttl_s": 90.0, "source": "call"}
    assert off["cache"] == {"on": False, "ttl_s": None, "source": None}
    assert fake_openai.requests == []


def test_magsag_explain_says_it(cli_env: Any, capsys: pytest.CaptureFixture):
    from magsag_mcp.cli import main

    argv = ["explain", "skill.analysis", "--payload", '{"data": "x"}', "--context", '{"cache_ttl": 3600}']
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["cache"] == {"on": True, "ttl_s": 3600.0, "source": "call"}


async def test_a_target_the_policies_forbid_is_not_said_cached_and_a_warning_says_why_and_how(
    fake_openai: FakeOpenAI, catalog_copy: Path, tmp_path: Path, clock_at_noon: float
):
    # The plan's only keyed target (openai:gpt-4o) is one a policy forbids: it is never called, so never answered
    # from the cache; explain said "on" all the same, and no word said the skill's cache setting meets no target.
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: mini_only\n    allowed_models: ['openai:gpt-4o-mini', 'fake:*']\n"
    )
    svc = await open_service(tmp_path, fake_openai.url + "/v1", catalog=_set(catalog_copy, skill="{ttl: 1h}"))
    # (the forbidden model one of the call's fallbacks: its refusal skips it, where the call's own model's fails the
    # call, and the fake is sent; see the test below)
    forbidden = {"data": "numbers", "model_config": {"model": "fake:echo", "fallbacks": ["openai:gpt-4o"]}}
    try:
        plan = svc.explain("skill.analysis", forbidden, agent="ana")
        assert plan["cache"] == {"on": False, "ttl_s": 3600.0, "source": "skill"}
        (warning,) = [w for w in plan["warnings"] if "answer cache" in w]
        assert warning.startswith("the skill's cache turns the answer cache on (ttl 3600s), but no target")
        assert "openai:gpt-4o: policy 'mini_only' forbids it (" in warning
        assert "fake:echo: magsag cannot key its request (its provider sends none over HTTP" in warning
        assert "route it to a model the policies allow on an HTTP provider" in warning and "drop the setting" in warning
        allowed = {"data": "numbers", "model_config": {"model": "openai:gpt-4o-mini", "fallbacks": ["fake:echo"]}}
        plan = svc.explain("skill.analysis", allowed, agent="ana")
        assert plan["cache"]["on"] is True and not any("answer cache" in w for w in plan["warnings"])
        assert fake_openai.requests == []
    finally:
        await svc.aclose()


async def test_no_warning_where_no_setting_turns_the_cache_on(
    fake_openai: FakeOpenAI, tmp_path: Path, clock_at_noon: float
):
    svc = await open_service(tmp_path, fake_openai.url + "/v1")
    fake_only = {"data": "numbers", "model_config": {"model": "fake:echo"}}
    try:
        for context in (None, {"cache_ttl": 0}):
            plan = svc.explain("skill.analysis", fake_only, context=context, agent="ana")
            assert not any("answer cache" in w for w in plan["warnings"])
        plan = svc.explain("skill.analysis", fake_only, context={"cache_ttl": 600}, agent="ana")
        (warning,) = [w for w in plan["warnings"] if "answer cache" in w]
        assert warning.startswith("the call's context.cache_ttl turns the answer cache on (ttl 600s)")
    finally:
        await svc.aclose()


async def test_a_refusal_that_fails_the_call_turns_the_cache_off_without_saying_each_call_is_sent(
    fake_openai: FakeOpenAI, catalog_copy: Path, tmp_path: Path, clock_at_noon: float
):
    # The call's own model, which a policy forbids, fails the call (policy_denied): the targets after it are never
    # tried. explain said the cache was on where one of them had a key (it is never looked up), and, where none had,
    # warned "Each call is sent and paid for" naming the fake after it, which is never sent. Each is compared with
    # what two real calls do.
    (catalog_copy / "policies" / "model_governance.yaml").write_text(
        "policies:\n  - name: mini_only\n    allowed_models: ['openai:gpt-4o-mini', 'fake:*']\n"
    )
    svc = await open_service(tmp_path, fake_openai.url + "/v1", catalog=_set(catalog_copy, skill="{ttl: 1h}"))
    try:
        for fallback in ("openai:gpt-4o-mini", "fake:echo"):
            payload = {"data": "numbers", "model_config": {"model": "openai:gpt-4o", "fallbacks": [fallback]}}
            plan = svc.explain("skill.analysis", payload, agent="ana")
            assert plan["cache"] == {"on": False, "ttl_s": 3600.0, "source": "skill"}, fallback
            assert not any("answer cache" in w for w in plan["warnings"]), fallback
            assert any(w.startswith("the call fails with policy_denied at openai:gpt-4o") for w in plan["warnings"])
            for _ in range(2):
                with pytest.raises(E.PolicyDenied):
                    await svc.invoke_skill("skill.analysis", payload, agent="ana")
        assert fake_openai.requests == []
        # a fake before the refusal is sent, uncached: the warning names it and the refused model, not the mini after
        payload = {"data": "numbers", "model_config": {"model": "fake:echo", "fallbacks": ["openai:gpt-4o"]}}
        (warning,) = [w for w in svc.explain("skill.analysis", payload, agent="ana")["warnings"] if "answer cache" in w]
        assert "fake:echo: magsag cannot key" in warning and "openai:gpt-4o: policy 'mini_only'" in warning
        answers = [await svc.invoke_skill("skill.analysis", payload, agent="ana") for _ in range(2)]
        assert not any("answered from the cache" in w for a in answers for w in a.warnings)
    finally:
        await svc.aclose()
