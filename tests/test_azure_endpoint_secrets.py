"""The endpoint an Azure attempt records (0029's attempts.endpoint, azure_served's key) is never a secret's place: a
base_url or AZURE_OPENAI_ENDPOINT written with a user and password, a ``?api-key=`` query or a gateway's token in its
path records the host (and a digest of the token), and nothing of the secret reaches a ledger row, query_runs, the CSV
export, flow summarize. And one resource is one endpoint however its URL is written: a trailing
slash, the host's case, or the scheme's default port named or not."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from magsag_mcp.cli.csv_rows import runs_to_csv
from magsag_mcp.errors import AllTargetsFailed
from magsag_mcp.ledger import UsageFilters
from magsag_mcp.served_models import endpoint_host
from magsag_mcp.service import Service
from tests.fakes.openai_server import AZURE_KEY, FakeOpenAI

pytestmark = pytest.mark.anyio

PASSWORD = "fakepassword-in-the-url"
QUERY_KEY = "fake-query-key-in-the-url"


async def test_no_secret_in_a_url_reaches_the_ledger_its_exports_or_the_summary(
    catalog_copy: Path, tmp_path: Path, fake_openai: FakeOpenAI
):
    db = tmp_path / "l.db"
    host = fake_openai.url.split("//", 1)[1]
    with_user = fake_openai.url.replace("//", f"//someone:{PASSWORD}@")
    with_query = fake_openai.url.replace("127.0.0.1", "localhost") + f"/?api-key={QUERY_KEY}"
    env = {
        "AZURE_OPENAI_API_KEY": AZURE_KEY,
        "AZURE_OPENAI_ENDPOINT": with_user + "/",
        "MAGSAG_ALLOWED_BASE_URLS": f"azure={with_query}",
    }
    on_query = {"data": "x", "model_config": {"model": "azure:gpt-4o-mini", "base_url": with_query}}
    refusals: list[AllTargetsFailed] = []
    async with Service.open(catalog=catalog_copy, db=db, env=env) as svc:
        # each is refused before it is sent (a user and password would go beside the key; a query before the
        # API's path), and recorded with the endpoint it was for
        for arguments in ({"data": "x", "model_config": {"model": "azure:gpt-4o-mini"}}, on_query):
            with pytest.raises(AllTargetsFailed) as refused:
                await svc.invoke_skill("skill.analysis", arguments)
            refusals.append(refused.value)
        summary = await svc.summarize(UsageFilters())
        runs = await svc.query_runs(None)
    assert fake_openai.requests == []
    conn = sqlite3.connect(db)
    endpoints = sorted(e for (e,) in conn.execute("SELECT endpoint FROM attempts"))
    dumped = [repr(row) for row in conn.execute("SELECT * FROM attempts")]
    conn.close()
    assert endpoints == sorted([host, host.replace("127.0.0.1", "localhost")])
    errors = [json.dumps(r.to_dict(), default=str) for r in refusals]
    shown = "\n".join([*errors, *dumped, json.dumps(runs, default=str), runs_to_csv(runs), json.dumps(summary)])
    for secret in (PASSWORD, QUERY_KEY, AZURE_KEY, "someone"):
        assert secret not in shown


@pytest.mark.parametrize(
    "url",
    [
        "https://gw.example/eastus/0123456789abcdef0123456789abcdef",  # an APIM subscription key as a segment
        "https://gw.example/apim/subscription-key%3D0123456789abcdefABCDEF",  # percent-encoded key=value
        "https://gw.example/eastus/openai/v1?api-key=0123456789abcdef0123456789abcdef",
        "https://user:0123456789abcdef0123456789abcdef@gw.example/eastus",
    ],
)
def test_a_token_in_the_url_is_not_in_its_endpoint(url: str):
    endpoint = endpoint_host(url)
    assert endpoint.startswith("gw.example")
    assert "0123456789abcdef" not in endpoint and "user" not in endpoint


@pytest.mark.parametrize(
    "url",
    [
        "https://res.openai.azure.com",
        "https://res.openai.azure.com/",
        "https://RES.OpenAI.azure.com/",
        "HTTPS://res.openai.azure.com:443/",
        "https://res.openai.azure.com:443",
        "res.openai.azure.com",
        "res.openai.azure.com:443",
        "https://res.openai.azure.com/openai/v1/",
        "https://res.openai.azure.com:443/openai/deployments/gpt-4o-mini?api-version=2024-10-21",
        # the host name's trailing dot (the DNS root written out) was another endpoint
        "https://res.openai.azure.com.",
        "https://res.openai.azure.com./openai/v1/",
        "https://RES.openai.azure.com.:443/",
        "res.openai.azure.com.",
    ],
)
def test_one_resource_is_one_endpoint_however_its_url_is_written(url: str):
    assert endpoint_host(url) == "res.openai.azure.com"


def test_a_trailing_dot_is_the_same_endpoint_in_the_served_memory_and_the_attempt_s_column():
    # what a deployment served is kept by ServedModels.key, and an attempt's endpoint column is ServedModels.endpoint
    # (CascadeState.azure_endpoint): AZURE_OPENAI_ENDPOINT written with the dot and a routing target's base_url
    # without it were two endpoints, a sighting at one neither refusing nor pricing a call to the other
    from magsag_mcp.served_models import ServedModels
    from magsag_mcp.types import Target

    served = ServedModels({"AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com./"})
    configured = Target("azure", "gpt-4o-mini")
    routed = Target("azure", "gpt-4o-mini", "https://res.openai.azure.com")
    assert served.endpoint(configured) == served.endpoint(routed) == "res.openai.azure.com"
    assert served.key(configured) == served.key(routed)
    # a port other than the default stays, and the dot goes before it
    assert endpoint_host("https://gw.example.:8443/eastus") == "gw.example:8443/eastus"


def test_a_port_other_than_the_scheme_s_default_is_another_endpoint():
    assert endpoint_host("http://gw.example:80/eastus") == "gw.example/eastus"
    assert endpoint_host("http://gw.example:8080/eastus") == "gw.example:8080/eastus"
    assert endpoint_host("https://gw.example:8443") == "gw.example:8443"
    # port 443 over plain http is not http's default: kept
    assert endpoint_host("http://gw.example:443") == "gw.example:443"
