"""A skill's ``cache: {ttl: ...}`` in its catalog YAML turns the answer cache on for its calls, checked as a route's is
when the catalog loads; a call's ``cache_ttl`` wins over its route's, which wins over the skill's (a route's 0 turns
its skills' off); and the ttl is worked out once per skill, not on each call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from magsag_mcp import errors as E
from magsag_mcp.service import Service
from tests.fakes.openai_server import FakeOpenAI
from tests.test_attempt_cost import open_service

pytestmark = pytest.mark.anyio

ROUTE = "  - match: analysis\n    priority: 10\n"
SKILL_END = "max_tokens: 1500\n"


def _set(catalog: Path, *, skill: str | None = None, route: str | None = None) -> Path:
    if skill is not None:
        path = catalog / "skills" / "analysis.yaml"
        text = path.read_text()
        assert SKILL_END in text
        path.write_text(text.replace(SKILL_END, SKILL_END + f"cache: {skill}\n"))
    if route is not None:
        path = catalog / "routing" / "default.yaml"
        text = path.read_text()
        assert ROUTE in text
        path.write_text(text.replace(ROUTE, ROUTE + f"    cache: {route}\n"))
    return catalog


async def _sent(svc: Service, fake: FakeOpenAI, context: Any = None) -> int:
    """How many requests two identical calls sent."""
    before = len(fake.requests)
    payload = {"data": "numbers", "model_config": {"provider": "openai", "model": "gpt-4o"}}
    for _ in range(2):
        await svc.invoke_skill("skill.analysis", payload, agent="ana", context=context)
    return len(fake.requests) - before


@pytest.mark.parametrize(
    ("skill", "route", "context", "sent"),
    [
        ("{ttl: 1h}", None, None, 1),  # the skill's own turns it on
        ("{ttl: 1h}", None, {"cache_ttl": 0}, 2),  # the call's word over the skill's
        ("{ttl: 1h}", "{ttl: 0}", None, 2),  # the route's over the skill's: its 0 turns it off
        ("{ttl: 0}", "{ttl: 30m}", None, 1),  # and its ttl turns it on
        (None, None, None, 2),  # neither: off
        ("{ttl: 0}", None, {"cache_ttl": 60}, 1),  # the call's, over a skill's 0
    ],
)
async def test_the_call_wins_over_the_route_which_wins_over_the_skill(
    fake_openai: FakeOpenAI, catalog_copy: Path, tmp_path: Path, clock_at_noon: float, skill, route, context, sent
):
    svc = await open_service(tmp_path, fake_openai.url + "/v1", catalog=_set(catalog_copy, skill=skill, route=route))
    try:
        assert await _sent(svc, fake_openai, context) == sent
    finally:
        await svc.aclose()


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("{ttl: 1y}", "there is no unit of years"),
        ("{ttl: soon}", "is not a duration"),
        ("{tll: 1h}", "tll"),
        ("{ttl: -5}", "between 0 and 365d"),
        ("{ttl: true}", "must be a duration such as 30m"),
        ("1h", r"is written with its ttl, as \{ttl: 1h\}"),
    ],
)
def test_a_skills_cache_is_checked_when_the_catalog_loads(catalog_copy: Path, written: str, said: str):
    from magsag_mcp.catalog import load_catalog

    with pytest.raises(E.ConfigError, match=said) as refused:
        load_catalog(_set(catalog_copy, skill=written), env={})
    assert "analysis.yaml" in str(refused.value.to_dict())


async def test_a_skills_ttl_is_worked_out_once_not_per_call(
    fake_openai: FakeOpenAI, catalog_copy: Path, tmp_path: Path, clock_at_noon: float, monkeypatch
):
    svc = await open_service(tmp_path, fake_openai.url + "/v1", catalog=_set(catalog_copy, skill="{ttl: 1h}"))
    try:
        asked: list[tuple[str, Any]] = []
        policy = type(svc.catalog.routing)
        real = policy.cache_choice

        def counting(self, task_type, skill_cache=None):
            asked.append((task_type, skill_cache))
            return real(self, task_type, skill_cache)

        monkeypatch.setattr(policy, "cache_choice", counting)
        before = len(fake_openai.requests)
        for context in (None, None, {"cache_ttl": 0}, None):
            await svc.invoke_skill("skill.analysis", {"data": "numbers"}, agent="ana", context=context)
        assert len(asked) == 1 and asked[0][1].ttl == 3600
        assert len(fake_openai.requests) - before == 2  # (the first and the one with cache_ttl 0: the skill's ttl)
    finally:
        await svc.aclose()
