"""max_tokens of any size: JSON and YAML read an integer exactly at any size, and one of 10**30 (in a call's
model_config, a target's params, a skill, check_budget's argument) was taken as given: the reservation priced a worst
case of 10**30 output tokens and the wire carried it to a vendor, which refused it after the call was admitted.
Refused where it is read instead, past 2,147,483,647 (Gemini's maxOutputTokens, an int32, the only bound a vendor's spec
writes), saying what was given, the limit and the fix; a number of thousands of digits said by its size."""

from __future__ import annotations

import pytest
from aiohttp import web

from magsag_mcp import errors as E
from magsag_mcp.catalog import load_catalog, validate_catalog
from magsag_mcp.max_tokens_limit import MAX_TOKENS_AT_MOST
from magsag_mcp.service import Service
from magsag_mcp.targets import parse_target
from tests.fakes.openai_replies import chat_completion, reply
from tests.pricing_audit import catalog_without_policies

pytestmark = pytest.mark.anyio
LIMIT = "past 2,147,483,647, the most output tokens any vendor takes"
FIX = "give the most output tokens the answer may have, e.g. 4096"
HUGE = 10**20  # (written out: 10**30, of 31 digits, is said by its size)


async def test_a_calls_max_tokens_past_the_limit_is_refused_before_the_wire(tmp_path, serve_posts):
    sent: list[dict] = []

    async def handler(request: web.Request) -> web.Response:
        sent.append(await request.json())
        return web.json_response(chat_completion(sent[-1]["model"], reply("ok")))

    env = {"OPENAI_API_KEY": "sk-test-0123456789abcdef", "OPENAI_BASE_URL": await serve_posts(handler) + "/v1"}
    catalog = catalog_without_policies(tmp_path)
    async with await Service.open(catalog=catalog, db=tmp_path / "l.db", env=env) as svc:
        for value in (HUGE, MAX_TOKENS_AT_MOST + 1):
            config = {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": value}
            with pytest.raises(E.PayloadError) as refused:
                await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
            assert f"model_config.max_tokens is {value!r}, {LIMIT}" in str(refused.value)
            assert FIX in str(refused.value)
        assert sent == []  # nothing reached the vendor
        # the limit itself is taken, and sent as given
        config = {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": MAX_TOKENS_AT_MOST}
        await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
        assert sent[-1]["max_completion_tokens"] == MAX_TOKENS_AT_MOST


async def test_a_number_of_thousands_of_digits_is_said_by_its_size(tmp_path):
    # str() of an int past 4,300 digits raises ValueError: the refusal names its size instead
    async with await Service.open(catalog=catalog_without_policies(tmp_path), db=tmp_path / "l.db", env={}) as svc:
        config = {"provider": "fake", "model": "echo", "max_tokens": 10**5000}
        with pytest.raises(
            E.PayloadError, match=f"model_config.max_tokens is a number of more than 24 digits, {LIMIT}"
        ):
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": config})
        with pytest.raises(E.InputError, match="max_tokens must be a positive integer .* not a number of more than 24"):
            await svc.check_budget(skill="skill.analysis", max_tokens=-(10**5000))


async def test_check_budgets_max_tokens_past_the_limit_is_refused(tmp_path):
    async with await Service.open(catalog=catalog_without_policies(tmp_path), db=tmp_path / "l.db", env={}) as svc:
        with pytest.raises(E.InputError, match=f"max_tokens is {HUGE}, {LIMIT}.*{FIX}"):
            await svc.check_budget(skill="skill.analysis", max_tokens=HUGE)


def test_a_targets_params_max_tokens_past_the_limit_is_refused():
    for value, said in ((HUGE, str(HUGE)), (10**30, "a number of more than 24 digits")):
        with pytest.raises(E.ConfigError, match=f"params.max_tokens is {said}, {LIMIT}.*{FIX}"):
            parse_target({"provider": "anthropic", "model": "claude-3-haiku-20240307", "params": {"max_tokens": value}})


def test_a_skills_max_tokens_past_the_limit_is_refused(tmp_path):
    catalog = catalog_without_policies(tmp_path)
    skill = catalog / "skills" / "analysis.yaml"
    skill.write_text(skill.read_text().replace("max_tokens: 1500", f"max_tokens: {HUGE}"))
    with pytest.raises(E.ConfigError):
        load_catalog(catalog, {})
    [problem] = [p for p in validate_catalog(catalog, {}) if p.startswith(f"{skill}: ")]
    assert problem.startswith(f"{skill}: max_tokens: the skill's max_tokens is {HUGE}, {LIMIT}") and FIX in problem


async def test_check_budgets_max_tokens_given_twice_of_thousands_of_digits_is_said(tmp_path):
    # the "given twice" refusal quoted both values with repr(), which raised ValueError for one of 5,000 digits (past
    # str()'s 4,300): a max_tokens is refused for what it is first, and a model_config's said by its size
    async with await Service.open(catalog=catalog_without_policies(tmp_path), db=tmp_path / "l.db", env={}) as svc:
        with pytest.raises(E.InputError, match=f"max_tokens is a number of more than 24 digits, {LIMIT}"):
            await svc.check_budget(skill="skill.analysis", max_tokens=10**5000, model_config={"max_tokens": 5})
        with pytest.raises(
            E.InputError,
            match="max_tokens is given twice, as 5 and as model_config.max_tokens a number of more than 24 digits",
        ):
            await svc.check_budget(skill="skill.analysis", max_tokens=5, model_config={"max_tokens": 10**5000})
