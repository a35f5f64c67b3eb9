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
