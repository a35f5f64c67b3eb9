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
