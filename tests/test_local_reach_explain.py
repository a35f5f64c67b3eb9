"""``explain`` agrees with the call on a local model the server made from a cloud one (``ollama create mybot`` FROM
``gpt-oss:120b-cloud``): the call asks its server's ``/api/show`` before its first attempt and refuses it under a
glob of local models; ``magsag explain`` and the MCP tool ask it too (bounded as the call asks), and the Python API's
explain, which does not, warns that it did not. The server is a loopback aiohttp app answering as Ollama does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_local_reach import SHOW_CLOUD, SHOW_PULLED
from tests.test_local_reach import ollama as ollama  # (the fixture)
from tests.test_local_reach import residency_catalog as residency_catalog  # (the fixture: pii_processing local:*)

pytestmark = pytest.mark.anyio

SKILL = "skill.pii-redaction"


def _payload(model: str) -> dict[str, object]:
    return {"text": "Ann called.", "model_config": {"provider": "local", "model": model}}


async def test_explain_asking_shows_refused_what_the_call_refuses(ollama, residency_catalog: Path, tmp_path: Path):
    from magsag_mcp.service import Service

    server = await ollama({"mybot": SHOW_CLOUD, "llama3.1:70b": SHOW_PULLED})
    env = {"OLLAMA_BASE_URL": server.url}
    async with Service.open(catalog=residency_catalog, db=tmp_path / "l.db", env=env) as svc:
        explained = await svc.explain_asking(SKILL, _payload("mybot"))
        pulled = await svc.explain_asking(SKILL, _payload("llama3.1:70b"))
    [target] = explained["targets"]
    assert target["policy"]["allowed"] is False
    assert "local:mybot runs on ollama.com, off this machine" in target["policy"]["reason"]
    [mine] = pulled["targets"]
    assert mine["policy"]["allowed"] is True
    assert not any("unsure" in w for w in explained["warnings"] + pulled["warnings"])
    # each name asked once, nothing sent to the model
    assert server.paths == ["/api/show", "/api/show"]


async def test_explain_without_asking_says_it_is_unsure(ollama, residency_catalog: Path, tmp_path: Path):
    from magsag_mcp.service import Service

    server = await ollama({"mybot": SHOW_CLOUD})
    env = {"OLLAMA_BASE_URL": server.url}
    async with Service.open(catalog=residency_catalog, db=tmp_path / "l.db", env=env) as svc:
        explained = svc.explain(SKILL, _payload("mybot"))
    assert server.paths == []  # (the sync explain asks nothing)
    [target] = explained["targets"]
    assert target["policy"]["allowed"] is True
    [warning] = [w for w in explained["warnings"] if "unsure" in w]
    assert warning.startswith("local:mybot: unsure where it runs: its server was not asked (POST /api/show")
    assert "production_models.allowed_models" in warning and "name local:mybot there" in warning


async def test_the_python_apis_aexplain_asks_the_server_as_the_call_does(
    ollama, residency_catalog: Path, tmp_path: Path
):
    # The Python API had explain alone, which cannot wait on a server: async code (an agent under asyncio, a
    # notebook) had no way to see a model made from a cloud one refused where the call refuses it, as `magsag
    # explain` and explain_route show it. aexplain asks, from any loop (the Magsag's own runs on its thread), and
    # takes explain's context and agent.
    from magsag_mcp import Magsag

    server = await ollama({"mybot": SHOW_CLOUD})
    env = {"OLLAMA_BASE_URL": server.url}
    async with Magsag(catalog=residency_catalog, db=tmp_path / "l.db", env=env) as mg:
        unasked = mg.skills.explain(SKILL, _payload("mybot"))
        asked = await mg.skills.aexplain(SKILL, _payload("mybot"), context={"tier": "economy"}, agent="ana")
    assert unasked["targets"][0]["policy"]["allowed"] is True and any("unsure" in w for w in unasked["warnings"])
    [target] = asked["targets"]
    assert target["policy"]["allowed"] is False
    assert "local:mybot runs on ollama.com, off this machine" in target["policy"]["reason"]
    assert not any("unsure" in w for w in asked["warnings"])
    assert server.paths == ["/api/show"]  # asked once, nothing sent to the model


async def test_explain_of_a_model_every_policy_names_itself_does_not_warn(ollama, catalog_copy: Path, tmp_path: Path):
    # the shipped pii_processing class names local:llama3.1:70b, and production_models names it too: wherever the
    # server runs it, the call goes, and explain has nothing to be unsure of
    from magsag_mcp.service import Service

    server = await ollama({})
    async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env={"OLLAMA_BASE_URL": server.url}) as svc:
        explained = svc.explain(SKILL, _payload("llama3.1:70b"))
    assert not any("unsure" in w for w in explained["warnings"]), explained["warnings"]


async def test_magsag_explain_asks_the_server(ollama, residency_catalog: Path, tmp_path: Path, monkeypatch, capsys):
    from magsag_mcp.cli import main

    server = await ollama({"mybot": SHOW_CLOUD})
    monkeypatch.setenv("OLLAMA_BASE_URL", server.url)
    args = ["explain", SKILL, "--payload", json.dumps(_payload("mybot")), "--catalog", str(residency_catalog)]
    code = await _in_thread(main, [*args, "--db", str(tmp_path / "l.db")])
    assert code == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["targets"][0]["policy"]["allowed"] is False
    assert server.paths == ["/api/show"]


async def _in_thread(fn, *args):
    import anyio

    return await anyio.to_thread.run_sync(fn, *args)


async def test_explain_without_asking_says_it_once_for_every_unsure_local_target(
    ollama, residency_catalog: Path, tmp_path: Path
):
    # a route of three local models a glob admits, none asked yet: one warning naming the three, not three warnings
    from magsag_mcp.service import Service

    server = await ollama({"mybot": SHOW_CLOUD})
    config = {"model": "local:mybot", "fallbacks": ["local:helper", "local:scribe"]}
    payload = {"text": "Ann called.", "model_config": config}
    async with Service.open(
        catalog=residency_catalog, db=tmp_path / "l.db", env={"OLLAMA_BASE_URL": server.url}
    ) as svc:
        explained = svc.explain(SKILL, payload)
    assert [(t["provider"], t["model"]) for t in explained["targets"]][:3] == [
        ("local", "mybot"),
        ("local", "helper"),
        ("local", "scribe"),
    ]
    [warning] = [w for w in explained["warnings"] if "unsure" in w]
    assert warning.startswith("3 local targets: unsure where they run (local:mybot: its server was not asked, ")
    assert all(f"local:{m}: its server was not asked" in warning for m in ("mybot", "helper", "scribe"))
    assert "`magsag explain`, the MCP tool explain_route and the Python API's skills.aexplain ask it first" in warning
    assert server.paths == []


async def test_explain_asking_plans_the_call_once(ollama, residency_catalog: Path, tmp_path: Path):
    from magsag_mcp.service import Service

    server = await ollama({"mybot": SHOW_CLOUD})
    env = {"OLLAMA_BASE_URL": server.url}
    async with Service.open(catalog=residency_catalog, db=tmp_path / "l.db", env=env) as svc:
        real_plan = svc.plan
        planned: list[str] = []

        def counting(skill_id, *args, **kwargs):
            planned.append(skill_id)
            return real_plan(skill_id, *args, **kwargs)

        svc.plan = counting  # type: ignore[method-assign]
        explained = await svc.explain_asking(SKILL, _payload("mybot"))
    assert planned == [SKILL]
    assert explained["targets"][0]["policy"]["allowed"] is False
