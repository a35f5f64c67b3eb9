"""A ``local`` call whose prompt leaves the machine for Ollama's cloud: the local provider pointed at ollama.com
(``OLLAMA_HOST=ollama.com``), or a model the local server made from a cloud one under a name of its own (``ollama
create mybot`` FROM ``gpt-oss:120b-cloud``), which only its ``/api/show`` says (``remote_host``, ``remote_model``).
Both are off the machine to a data class's glob of local models, of unknown cost unless prices.yaml names them, and
counted apart for ``flow gate``. The servers here are loopback aiohttp apps answering as Ollama (and vLLM) do."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from magsag_mcp.governance import Governance
from magsag_mcp.governance.gate import check_summary
from magsag_mcp.governance.policy import Policy, PolicySet
from magsag_mcp.governance.refusals import unpriced_refusal
from magsag_mcp.pricing import Pricer
from magsag_mcp.providers.local import LocalProvider
from magsag_mcp.providers.local_reach import LocalReach, on_ollamas_cloud
from magsag_mcp.rates import UnitPrices
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target, Usage

pytestmark = pytest.mark.anyio

USAGE = Usage(input_tokens=1_000_000, output_tokens=0)
RESIDENCY = PolicySet([Policy(name="residency", requirements={"pii": ["local:*"]})])

#: /api/show of a model made from a cloud one, as Ollama (0.12+) answers it: the cloud model it stands for, and where
SHOW_CLOUD = {
    "modelfile": "FROM gpt-oss:120b-cloud\nSYSTEM You are mybot.\n",
    "template": "{{ .Prompt }}",
    "details": {"parent_model": "", "format": "", "family": "", "families": None, "parameter_size": ""},
    "remote_model": "gpt-oss:120b",
    "remote_host": "https://ollama.com:443",
    "capabilities": ["completion", "tools", "thinking"],
    "modified_at": "2026-11-02T10:00:00Z",
}
#: /api/show of a model pulled to the machine: no remote_* at all
SHOW_PULLED = {
    "modelfile": "FROM /root/.ollama/models/blobs/sha256-667b0c1932bc\n",
    "details": {"format": "gguf", "family": "llama", "parameter_size": "70.6B", "quantization_level": "Q4_K_M"},
    "model_info": {"general.architecture": "llama"},
    "capabilities": ["completion", "tools"],
    "modified_at": "2026-11-02T10:00:00Z",
}


class Ollama:
    """Ollama's /api/show and its OpenAI Responses API, recording each request's path."""

    def __init__(self, shows: dict[str, Any]) -> None:
        self.shows = shows
        self.paths: list[str] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        body = await request.json()
        if request.path == "/api/show":
            shown = self.shows.get(body.get("model"))
            if shown is None:  # Ollama's answer for a model it lacks
                return web.json_response({"error": f"model '{body.get('model')}' not found"}, status=404)
            return web.json_response(shown)
        if request.path == "/v1/responses":
            return web.json_response(
                {
                    "id": "resp_1",
                    "object": "response",
                    "created_at": 1764000000,
                    "status": "completed",
                    "model": body["model"],
                    "output": [
                        {
                            "id": "msg_1",
                            "type": "message",
                            "status": "completed",
                            "role": "assistant",
                            "content": [{"type": "output_text", "text": "[NAME] called.", "annotations": []}],
                        }
                    ],
                    "usage": {"input_tokens": 12, "output_tokens": 4, "total_tokens": 16},
                }
            )
        return web.Response(status=404, text="404 page not found", content_type="text/plain")


@pytest.fixture
async def ollama(serve_posts) -> AsyncIterator[Callable[[dict[str, Any]], Any]]:
    async def start(shows: dict[str, Any]) -> Ollama:
        server = Ollama(shows)
        server.url = await serve_posts(server.handle)
        return server

    yield start


@pytest.mark.parametrize(
    "env",
    [
        {"OLLAMA_HOST": "ollama.com"},  # Ollama's own reading: https://ollama.com
        {"OLLAMA_HOST": "https://ollama.com"},
        {"OLLAMA_BASE_URL": "https://ollama.com"},
        {"MAGSAG_LOCAL_LLM_BASE_URL": "https://ollama.com/v1"},
        {"MAGSAG_LOCAL_LLM_BASE_URL": "https://API.Ollama.com./v1"},  # (a host below it, in any case, the DNS root)
    ],
)
def test_the_local_provider_pointed_at_ollama_com_is_off_the_machine(env: dict[str, str]):
    # a "local only" class written as local:* admitted any model at ollama.com, and local's "free" priced it at $0
    target = Target("local", "gpt-oss:120b")
    pricer = Pricer.from_catalog(None, env)
    governance = Governance(RESIDENCY, None, pricer, env=env, call_deadline=60.0)
    ok, policy, reason = governance.allowed(target, "pii")
    assert (ok, policy) == (False, "residency")
    assert reason is not None and "local:gpt-oss:120b runs on ollama.com, off this machine" in reason
    assert "name local:gpt-oss:120b there to allow it" in reason
    quote = pricer.price_for(target, USAGE)
    assert quote.cost_usd is None and quote.warning is not None and "billed on ollama.com" in quote.warning
    assert pricer.reserved_worst_case(target, 1000, 1000) is None  # (a cost limit refuses it, saying why)
    limits = PolicySet([Policy(name="cost", thresholds={"max_cost_per_call_usd": 1.0})]).limits
    refusal = unpriced_refusal(limits, target, pricer)
    assert refusal is not None and "(it runs on ollama.com, off this machine, and is billed there" in refusal.message
    # named, it is admitted; and a prices.yaml entry naming it prices it
    named = PolicySet([Policy(name="residency", requirements={"pii": ["local:*", "local:gpt-oss:120b"]})])
    assert Governance(named, None, pricer, env=env, call_deadline=60.0).allowed(target, "pii")[0]
    priced = Pricer([("local:gpt-oss:120b", UnitPrices(Decimal(1), Decimal(2)))], local_reach=LocalReach(env))
    assert priced.price_for(target, USAGE).cost_usd == Decimal(1)


def test_a_target_of_its_own_base_url_is_judged_by_it():
    env = {"OLLAMA_HOST": "ollama.com"}
    pricer = Pricer.from_catalog(None, env)
    governance = Governance(RESIDENCY, None, pricer, env=env, call_deadline=60.0)
    mine = Target("local", "llama3.1:8b", base_url="http://localhost:11434")
    assert governance.allowed(mine, "pii")[0] and pricer.price_for(mine, USAGE).cost_usd == 0
    theirs = Target("local", "llama3.1:8b", base_url="https://ollama.com")
    assert not Governance(RESIDENCY, None, Pricer.from_catalog(None, {}), env={}, call_deadline=60.0).allowed(
        theirs, "pii"
    )[0]


@pytest.mark.parametrize(
    ("url", "cloud"),
    [
        ("https://ollama.com/v1", True),
        ("ollama.com", True),
        ("https://eu.ollama.com:443/v1", True),
        ("http://localhost:11434/v1", False),
        ("https://notollama.com/v1", False),
        ("https://ollama.com.example.net/v1", False),
    ],
)
def test_what_is_ollamas_cloud(url: str, cloud: bool):
    assert on_ollamas_cloud(url) is cloud


async def test_a_model_made_from_a_cloud_one_is_off_the_machine_once_its_server_says_so(ollama, transport: Transport):
    server = await ollama({"mybot": SHOW_CLOUD, "llama3.1:70b": SHOW_PULLED})
    env = {"OLLAMA_BASE_URL": server.url}
    provider = LocalProvider(env, transport)
    pricer = Pricer.from_catalog(None, env)
    governance = Governance(RESIDENCY, None, pricer, env=env, call_deadline=60.0)
    mybot, pulled, missing = Target("local", "mybot"), Target("local", "llama3.1:70b"), Target("local", "nope")
    for target in (mybot, pulled, missing, mybot, pulled, missing):  # asked once per name
        await provider.learn_where_it_runs(target)
    assert server.paths == ["/api/show"] * 3
    ok, _, reason = governance.allowed(mybot, "pii")
    assert not ok and reason is not None and "local:mybot runs on ollama.com, off this machine" in reason
    assert pricer.price_for(mybot, USAGE).cost_usd is None
    assert pricer.reserved_worst_case(mybot, 10, 10) is None
    for target in (pulled, missing):  # the server's own, and one it does not have (its call says so)
        assert governance.allowed(target, "pii")[0]
        assert pricer.price_for(target, USAGE).cost_usd == 0


async def test_the_first_calls_of_a_name_made_at_once_ask_once(ollama, transport: Transport):
    import asyncio

    server = await ollama({"mybot": SHOW_CLOUD})
    provider = LocalProvider({"OLLAMA_BASE_URL": server.url}, transport)
    await asyncio.gather(*(provider.learn_where_it_runs(Target("local", "mybot")) for _ in range(5)))
    assert server.paths == ["/api/show"]
    assert LocalReach({"OLLAMA_BASE_URL": server.url}).off_machine(Target("local", "mybot")) == "ollama.com"


async def test_a_server_without_ollamas_api_is_asked_once_and_taken_at_the_names_word(ollama, transport: Transport):
    # vLLM or LM Studio: no /api/show (Go's 404 stands in for any such answer); a server that answers it otherwise
    server = await ollama({})
    provider = LocalProvider({}, transport)
    target = Target("local", "meta-llama/Llama-3.1-8B-Instruct", base_url=server.url + "/v1")
    await provider.learn_where_it_runs(target)
    await provider.learn_where_it_runs(target)
    assert server.paths == ["/api/show"]
    assert LocalReach({}).off_machine(target) is None


async def test_nothing_is_asked_of_ollamas_cloud_itself_nor_for_a_cloud_models_name(ollama, transport: Transport):
    server = await ollama({})
    provider = LocalProvider({"OLLAMA_BASE_URL": server.url}, transport)
    await provider.learn_where_it_runs(Target("local", "gpt-oss:120b-cloud"))  # (its name says it already)
    assert server.paths == []


@pytest.fixture
def residency_catalog(catalog_copy: Path) -> Path:
    """The shipped catalog whose pii_processing class admits local:* (a "local only" class written as a glob)."""
    governance = catalog_copy / "policies" / "model_governance.yaml"
    text = governance.read_text()
    old = 'pii_processing: ["local:llama3.1:70b", "fake:*"]'
    assert old in text
    governance.write_text(text.replace(old, 'pii_processing: ["local:*", "fake:*"]'))
    return catalog_copy


async def test_a_call_to_a_model_made_from_a_cloud_one_is_refused_before_it_is_sent(
    ollama, residency_catalog: Path, tmp_path: Path
):
    from magsag_mcp.errors import MagsagError
    from magsag_mcp.service import Service

    server = await ollama({"mybot": SHOW_CLOUD, "llama3.1:70b": SHOW_PULLED})
    env = {"OLLAMA_BASE_URL": server.url}
    payload = {"text": "Ann called.", "model_config": {"provider": "local", "model": "mybot"}}
    async with Service.open(catalog=residency_catalog, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(MagsagError) as info:
            await svc.invoke_skill("skill.pii-redaction", payload)
        mine = {**payload, "model_config": {"provider": "local", "model": "llama3.1:70b"}}
        answered = await svc.invoke_skill("skill.pii-redaction", mine)
        runs = await svc.query_runs()
    assert "local:mybot runs on ollama.com, off this machine" in str(info.value)
    assert answered.result.text == "[NAME] called." and answered.cost_usd == 0
    # mybot's prompt never left: its server was asked where it runs, and the call was not sent
    assert server.paths == ["/api/show", "/api/show", "/v1/responses"]
    outcomes = sorted((a["model"], a["outcome"]) for run in runs for a in run["attempts"])
    assert outcomes == [("llama3.1:70b", "ok"), ("mybot", "policy_denied")]


async def test_flow_gate_sees_a_classes_calls_that_left_the_machine(ollama, catalog_copy: Path, tmp_path: Path):
    # the shipped pii_processing class names local:llama3.1:70b itself: a server that made that name from a cloud
    # model is the operator's word, and the call goes; the ledger records where (ollama.com), and a gate whose
    # policy confines the class to local:* (a glob: the operator's own machines) fails it, as the call would be
    from magsag_mcp.service import Service

    governance = catalog_copy / "policies" / "model_governance.yaml"
    # (its cost is unknown, which the shipped cost limits refuse: allowed here, recorded as unknown)
    governance.write_text(governance.read_text().replace("allow_unpriced: false", "allow_unpriced: true"))
    server = await ollama({"llama3.1:70b": SHOW_CLOUD})
    env = {"OLLAMA_BASE_URL": server.url}
    payload = {"text": "Ann called.", "model_config": {"provider": "local", "model": "llama3.1:70b"}}
    async with Service.open(catalog=catalog_copy, db=tmp_path / "l.db", env=env) as svc:
        answered = await svc.invoke_skill("skill.pii-redaction", payload)
        runs = await svc.query_runs()
        summary = await svc.summarize()
    assert answered.cost_usd is None  # (billed on ollama.com: unknown, not $0)
    assert [a["endpoint"] for run in runs for a in run["attempts"]] == ["ollama.com"]
    assert summary["by_data_class"] == {"pii_processing": {"local:llama3.1:70b": 1}}
    assert summary["by_data_class_off_machine"] == {"pii_processing": {"local:llama3.1:70b": 1}}
    glob = PolicySet([Policy(name="residency", requirements={"pii_processing": ["local:*"]})])
    [violation] = check_summary(json.loads(json.dumps(summary)), glob)
    assert "1 of the 1 attempt went off this machine, to Ollama's cloud" in violation, violation
    named = PolicySet([Policy(name="residency", requirements={"pii_processing": ["local:llama3.1:70b"]})])
    assert check_summary(json.loads(json.dumps(summary)), named) == []


def test_the_shipped_production_models_admit_the_local_servers_own_models_and_name_any_run_elsewhere():
    # production_models admitted llama3.1:70b alone of local models: a user of a local server only was refused every
    # model it pulled. local:* admits them now, and a glob never admits a model run off this machine: it is named
    from magsag_mcp.governance import load_policies
    from tests.conftest import CATALOG

    shipped = load_policies(CATALOG, env={})
    for model in ("qwen2.5:7b", "llama3.1:8b", "mistral"):
        assert shipped.allowed(Target("local", model), None) == (True, None, None, None), model
    ok, policy, reason, rule = shipped.allowed(Target("local", "gpt-oss:120b-cloud"), None)
    assert (ok, policy, rule) == (False, "production_models", "allowed_models")
    assert reason == (
        "local:gpt-oss:120b-cloud is an Ollama cloud model, which the local server runs on ollama.com: a glob of "
        f"production_models.allowed_models, at {shipped.place('production_models', 'allowed_models')} does not "
        "admit a local model run off this machine; add local:gpt-oss:120b-cloud itself to allow it"
    )
    # the local provider pointed at ollama.com: every model there is named, however it is written
    at_ollama = load_policies(CATALOG, env={})
    at_ollama.off_machine = LocalReach({"OLLAMA_HOST": "ollama.com"}).off_machine
    assert at_ollama.allowed(Target("local", "qwen2.5:7b"), None)[2] == (
        "local:qwen2.5:7b runs on ollama.com, off this machine: the local provider's base URL is there, or the local "
        "server runs the model there (made from a cloud model, as its /api/show says): a glob of "
        f"production_models.allowed_models, at {shipped.place('production_models', 'allowed_models')} does not "
        "admit a local model run off this machine; add local:qwen2.5:7b itself to allow it"
    )
    named = PolicySet([Policy(name="p", allowed_models=["local:*", "local:gpt-oss:120b-cloud"])])
    assert named.allowed(Target("local", "gpt-oss:120b-cloud"), None)[0]


def test_a_local_model_run_off_this_machine_is_refused_naming_the_file_and_key_that_admit_it_by_a_glob(tmp_path):
    # the off-machine refusals named the policy's key alone (production_models.allowed_models), where every other
    # refusal of allowed_models or a data class names the file and key to change: which of the catalog's files?
    from magsag_mcp.governance.policy_files import load_policy_file

    path = tmp_path / "residency.yaml"
    path.write_text(
        "policies:\n"
        "  - name: production_models\n    allowed_models: ['local:*']\n"
        "  - name: data_residency\n    requirements:\n      pii_processing: ['local:*']\n"
    )
    policies = load_policy_file(path)
    cloud = Target("local", "gpt-oss:120b-cloud")
    reason = policies.allowed(cloud, None)[2]
    assert f"a glob of production_models.allowed_models, at {path}: policies.0.allowed_models does not admit" in (
        reason or ""
    ), reason
    residency = tmp_path / "data_residency.yaml"  # the data class's glob alone
    residency.write_text("policies:\n  - name: data_residency\n    requirements:\n      pii_processing: ['local:*']\n")
    policies = load_policy_file(residency)
    ok, policy, reason, rule = policies.allowed(cloud, "pii_processing")
    assert (ok, policy, rule) == (False, "data_residency", "data_class")
    assert (
        f"(data_residency.requirements, at {residency}: policies.0.requirements.pii_processing), and "
        "local:gpt-oss:120b-cloud is an Ollama cloud model" in (reason or "")
    ), reason
    # a policy made in code has no file: its key alone, as before
    bare = PolicySet([Policy(name="p", requirements={"pii_processing": ["local:*"]})])
    assert "(p.requirements), and local:gpt-oss:120b-cloud" in (bare.allowed(cloud, "pii_processing")[2] or "")
