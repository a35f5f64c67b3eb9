"""No result a client reads names the user's home folder: a policy's refusal names its file, under the home where the
catalog is, in invoke_skill's error, explain_route's plan, check_budget's answer, the ledger's records read back
(query_runs, search_usage) and the governance resource. Written ``~``, the path is as good to fix the policy by, and
tells a client's model (or every client of a shared HTTP server) neither the operator's user name nor their files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server.home_folder import home_as_tilde
from tests.mcp_tools_helpers import CATALOG, error_of

pytestmark = pytest.mark.anyio

POLICY = "policies:\n  - name: production_models\n    allowed_models: [gpt-4o-mini-2024-07-18]\n"
ANALYSIS = {"skill_id": "skill.analysis", "payload": {"data": "Q3"}}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home" / "alice"
    shutil.copytree(CATALOG, home / "magsag" / "catalog", ignore=shutil.ignore_patterns("__pycache__"))
    (home / "magsag" / "catalog" / "policies" / "model_governance.yaml").write_text(POLICY)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))  # (Windows' expanduser reads it)
    return home


async def test_no_result_names_the_home_folder_the_policy_file_is_in(home: Path):
    said_file = "~/magsag/catalog/policies/model_governance.yaml: policies.0.allowed_models"
    server = build_server(catalog=home / "magsag" / "catalog", db=home / "ledger.db", env={})
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        refused = error_of(await client.call_tool("invoke_skill", ANALYSIS))
        assert refused["type"] == "policy_denied" and said_file in refused["message"], refused
        results = {
            name: await client.call_tool(name, arguments)
            for name, arguments in (
                ("invoke_skill", ANALYSIS),
                ("explain_route", ANALYSIS),
                ("check_budget", {"skill": "skill.analysis"}),
                ("query_runs", {}),
                ("search_usage", {"pattern": "allowed_models"}),
            )
        }
        governance = await client.read_resource("magsag://catalog/governance")
    for name, result in results.items():
        sent = json.dumps(result.model_dump(mode="json"))
        assert str(home) not in sent and said_file in sent, (name, sent[:500])
        if not result.is_error:  # and each still fits its published schema
            jsonschema.Draft202012Validator(tools[name].output_schema).validate(result.structured_content)
            assert json.loads(result.content[0].text) == result.structured_content
    read = json.dumps(governance.model_dump(mode="json"))
    assert str(home) not in read and "~/magsag/catalog/policies/model_governance.yaml" in read, read[:500]


def test_only_the_home_folder_itself_is_written_as_tilde(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOME", "/home/alice")
    said = home_as_tilde(
        {
            "message": "at /home/alice/cat/p.yaml: x; ('/home/alice') and /home/alice",
            "not": ["/home/alicia/p.yaml", "/home/alice.old/p", "/srv/home/alice/p", "/home/al"],
            "output": "/home/alice/notes",
        },
        kept=("output",),
    )
    assert said["message"] == "at ~/cat/p.yaml: x; ('~') and ~"
    assert said["not"] == ["/home/alicia/p.yaml", "/home/alice.old/p", "/srv/home/alice/p", "/home/al"]
    assert said["output"] == "/home/alice/notes"  # (a vendor's answer is returned as it was paid for)
    monkeypatch.setenv("HOME", "/")  # a container's: names no user
    assert home_as_tilde("/etc/magsag/p.yaml") == "/etc/magsag/p.yaml"
