"""What every call runs, kept from growing back: work a call does each time that need not be done per call
costs every user, and the benchmarks' instruction counts (BENCHMARKS.md) only show it in aggregate."""

from __future__ import annotations

import builtins
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from magsag_mcp.service import Service
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

pytestmark = pytest.mark.anyio

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
PAYLOAD = {"data": "Quarterly revenue rose 8%."}
OWN_ROUTE = {"provider": "openai", "model": "gpt-4o", "fallbacks": ["openai:gpt-4o-mini"]}


@pytest.fixture
async def service(fake_openai: FakeOpenAI, tmp_path: Path) -> AsyncIterator[Service]:
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    svc = await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env)
    yield svc
    await svc.aclose()


async def _progress(event: str, data: dict) -> None:
    pass


@pytest.mark.parametrize(
    ("payload", "progress"),
    [(PAYLOAD, None), ({**PAYLOAD, "model_config": OWN_ROUTE}, None), (PAYLOAD, _progress)],
    ids=["routed", "own_route", "streamed_with_progress"],
)
async def test_a_call_runs_no_import_statement(service: Service, payload, progress, monkeypatch):
    """An import statement in a function costs thousands of instructions each time it runs, even for a
    module long imported (the import machinery, then a look-up of the module's __path__)."""

    async def call() -> None:
        result = await service.invoke_skill("skill.analysis", payload, agent="a", progress=progress)
        assert result.result.text

    await call()  # first use may import
    imported: list[str] = []
    real_import = builtins.__import__

    def watching(name, globals=None, locals=None, fromlist=(), level=0):
        caller = sys._getframe(1)
        imported.append(f"{name} {fromlist} at {caller.f_code.co_filename}:{caller.f_lineno}")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", watching)
    await call()
    monkeypatch.undo()
    assert imported == []


async def test_a_call_that_names_its_own_route_is_routed_once(service: Service, monkeypatch):
    """Resolving a route named in model_config (parsing its targets, checking their base URLs, the data
    classes) cost a call about 110,000 instructions: the service keeps the route by what the call names."""
    from magsag_mcp import routing

    resolved: list[str] = []
    real_route = routing._route

    def counting(catalog, skill, **kwargs):
        resolved.append(skill.id)
        return real_route(catalog, skill, **kwargs)

    monkeypatch.setattr(routing, "_route", counting)
    for _ in range(3):
        payload = {**PAYLOAD, "model_config": {**OWN_ROUTE, "fallbacks": list(OWN_ROUTE["fallbacks"])}}
        result = await service.invoke_skill("skill.analysis", payload, agent="a")
        assert [a.model for a in result.attempts] == ["gpt-4o"]
    assert resolved == ["skill.analysis"]


async def test_a_targets_settings_are_checked_once_not_before_every_attempt(service: Service, monkeypatch):
    """Whether a target can be called (a key, a base URL that can carry a request, headers without a line break)
    was worked out again before every attempt, building its headers and base URL to look at them: the settings are
    read when magsag opens, so a target found callable stays so."""
    checked = _count_checks(monkeypatch)
    for _ in range(3):
        result = await service.invoke_skill("skill.analysis", PAYLOAD, agent="a")
        assert result.result.text
    assert checked == ["openai:gpt-4o"]


async def test_a_target_with_a_base_url_of_its_own_is_checked_on_every_call(
    service: Service, fake_openai: FakeOpenAI, monkeypatch
):
    """A call's own target (its base URL, its params) may carry the call's credentials: nothing of it is kept."""
    checked = _count_checks(monkeypatch)
    own = {"provider": "openai", "model": "gpt-4o", "base_url": fake_openai.url + "/v1"}
    for _ in range(2):
        result = await service.invoke_skill("skill.analysis", {**PAYLOAD, "model_config": own}, agent="a")
        assert result.result.text
    assert checked == ["openai:gpt-4o", "openai:gpt-4o"]


def _count_checks(monkeypatch) -> list[str]:
    """The targets whose settings are checked (the check is what asks for the base URL requests are sent below)."""
    from magsag_mcp.providers.endpoint import Endpoint

    checked: list[str] = []
    real_sent_below = Endpoint.sent_below

    def counting(self, target):
        checked.append(target.label)
        return real_sent_below(self, target)

    monkeypatch.setattr(Endpoint, "sent_below", counting)
    return checked


async def test_the_answer_caches_ttl_is_worked_out_once_per_task_type(service: Service, monkeypatch):
    """A call that caches nothing asked the routing policy for its route's cache ttl each time, through a private
    attribute of the pydantic model, which pydantic's __getattr__ reads: some 24,000 instructions a call, 1.8% of a
    full call (ROUNDS.md's forty-ninth round). The service works it out once per task type."""
    asked: list[str] = []
    policy = type(service.catalog.routing)
    real = policy.cache_ttl

    def counting(self, task_type: str):
        asked.append(task_type)
        return real(self, task_type)

    monkeypatch.setattr(policy, "cache_ttl", counting)
    for _ in range(3):
        result = await service.invoke_skill("skill.analysis", PAYLOAD, agent="a")
        assert result.result.text
    assert len(asked) == 1
