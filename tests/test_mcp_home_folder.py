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

from magsag_mcp.errors import LedgerError
from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server.home_folder import holds_home, home_as_tilde
from magsag_mcp.mcp_server.tool_results import error_result
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


def test_a_linked_home_is_written_as_tilde_by_its_real_path_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """HOME a link (``/home/alice`` to ``/data/users/alice``): the working folder is its real path (``os.getcwd()``),
    so a ``./catalog`` in a project under the home was named by the user's real folder, which was said whole; and a
    HOME written ``/home//alice/`` named paths that a Path writes ``/home/alice``."""
    real = tmp_path / "data" / "users" / "alice"
    real.mkdir(parents=True)
    linked = tmp_path / "home" / "alice"
    linked.parent.mkdir()
    linked.symlink_to(real, target_is_directory=True)
    monkeypatch.setenv("HOME", str(linked))
    said = home_as_tilde({"message": f"at {real}/proj/catalog/policies/p.yaml: x; {linked}/p.yaml"})
    assert said == {"message": "at ~/proj/catalog/policies/p.yaml: x; ~/p.yaml"}, said
    assert holds_home(f"at {real}/p.yaml")
    monkeypatch.setenv("HOME", str(real).replace("/users/", "//users/") + "/")
    assert home_as_tilde(f"{real}/p.yaml") == "~/p.yaml"


def test_the_paid_answer_an_error_carries_is_left_as_the_vendor_wrote_it(monkeypatch: pytest.MonkeyPatch):
    """An error carrying the answer that was paid for (the ledger refused its record) sends it as its ``result``: the
    answer is the vendor's (a path it wrote is its own words), left as an ok result leaves it; the error's own words
    and the rest of the result (a policy's refusal in its warnings) say the home ``~``."""
    monkeypatch.setenv("HOME", "/home/alice")
    exc = LedgerError("the ledger refused the record of a paid call (policy at /home/alice/p.yaml); it is attached")
    exc.result = {
        "output": "your notes are in /home/alice/notes",
        "text": "your notes are in /home/alice/notes",
        "tool_calls": [{"name": "read", "arguments": {"path": "/home/alice/notes"}}],
        "warnings": ["at /home/alice/p.yaml: a fallback skipped"],
    }
    result = error_result(exc)
    error = result.structured_content["error"]
    assert error["message"].endswith("(policy at ~/p.yaml); it is attached")
    assert error["result"]["output"] == error["result"]["text"] == "your notes are in /home/alice/notes"
    assert error["result"]["tool_calls"] == [{"name": "read", "arguments": {"path": "/home/alice/notes"}}]
    assert error["result"]["warnings"] == ["at ~/p.yaml: a fallback skipped"]
    text = result.content[0].text
    assert "(policy at ~/p.yaml)" in text and "your notes are in /home/alice/notes" in text, text


def test_a_windows_home_is_written_as_tilde_in_json_a_string_holds(monkeypatch: pytest.MonkeyPatch):
    """A string may hold JSON (search_usage's event data cut to its first characters, as text; a vendor's error
    body): a Windows home in it is written with its backslashes doubled, which ``holds_home`` found and the rewrite,
    looking for the home as a path writes it, left whole."""
    from magsag_mcp.mcp_server import home_folder

    monkeypatch.setattr(home_folder, "_homes", lambda: ("C:\\Users\\alice",))
    cut = json.dumps({"file": "C:\\Users\\alice\\magsag\\p.yaml", "other": "C:\\Users\\alicia\\p.yaml"})[:80]
    assert holds_home(cut)
    said = home_as_tilde({"data": cut, "message": "at C:\\Users\\alice\\magsag\\p.yaml: x"})
    assert said["message"] == "at ~\\magsag\\p.yaml: x"
    assert said["data"] == cut.replace("C:\\\\Users\\\\alice\\\\", "~\\\\") and "alice\\\\" not in said["data"], said
    assert "alicia" in said["data"]


def test_a_name_a_client_filters_by_is_left_as_recorded_at_any_depth(monkeypatch: pytest.MonkeyPatch):
    """A run id, an agent or a model under the home (a job's folder as its run id, a local model named by its file)
    is what a client passes back to filter by: said ``~``, its filter matched nothing. Words around it still say
    ``~``."""
    monkeypatch.setenv("HOME", "/home/alice")
    run, model = "/home/alice/jobs/7", "local:/home/alice/models/q4.gguf"
    said = home_as_tilde(
        {
            "runs": [
                {"run_id": run, "agent": "/home/alice/bot", "attempts": [{"model": model, "error": f"{model} x"}]}
            ],
            "filters": {"run_id": run},
            "next_cursor": "/home/alice/c",
            "notes": [f"no run {run}"],
        }
    )
    assert said["runs"][0]["run_id"] == run and said["runs"][0]["agent"] == "/home/alice/bot"
    assert said["runs"][0]["attempts"][0] == {"model": model, "error": "local:~/models/q4.gguf x"}
    assert said["filters"] == {"run_id": run} and said["next_cursor"] == "/home/alice/c"
    assert said["notes"] == ["no run ~/jobs/7"]


async def test_a_run_id_and_agent_under_the_home_read_back_as_sent_and_find_their_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from tests.mcp_tools_helpers import ENV

    home = tmp_path / "home" / "alice"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    run, agent = f"{home}/jobs/7", f"{home}/bot"
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "ledger.db", env=ENV)) as client:
        answered = await client.call_tool("invoke_skill", {**ANALYSIS, "run_id": run, "agent": agent})
        assert not answered.is_error, answered.content[0].text
        assert answered.structured_content["run_id"] == run
        page = (await client.call_tool("query_runs", {})).structured_content
        assert [(r["run_id"], r["agent"]) for r in page["runs"]] == [(run, agent)]
        # what the client read is what it filters by
        found = await client.call_tool("query_runs", {"filters": {"run_id": page["runs"][0]["run_id"]}})
        assert [r["run_id"] for r in found.structured_content["runs"]] == [run]
        by_agent = await client.call_tool("summarize_usage", {"filters": {"agent": page["runs"][0]["agent"]}})
        assert by_agent.structured_content["totals"]["calls"] == 1, by_agent.structured_content


def test_a_windows_home_is_matched_in_any_letter_case_on_windows_only(monkeypatch: pytest.MonkeyPatch):
    """Windows names a file in any letter case (``c:\\users\\alice`` is ``C:\\Users\\Alice``), and a path another
    program wrote may be either: on Windows the home is found whatever its case; elsewhere a case is a folder's own."""
    from magsag_mcp.mcp_server import home_folder

    monkeypatch.setattr(home_folder, "_homes", lambda: ("C:\\Users\\Alice",))
    lower = "at c:\\users\\alice\\magsag\\p.yaml: x; C:\\USERS\\ALICE"
    monkeypatch.setattr(home_folder, "_CASE_BLIND", True)
    assert holds_home(lower)
    assert home_as_tilde({"message": lower}) == {"message": "at ~\\magsag\\p.yaml: x; ~"}
    assert home_as_tilde("c:\\users\\alicia\\p.yaml") == "c:\\users\\alicia\\p.yaml"
    monkeypatch.setattr(home_folder, "_CASE_BLIND", False)
    assert not holds_home(lower) and home_as_tilde(lower) == lower


def test_a_logged_events_data_and_no_name_under_a_names_key_still_say_the_home_as_tilde(
    monkeypatch: pytest.MonkeyPatch,
):
    """A name is kept as recorded, but only a name: a logged event's data (search_usage's hit) is the agent's own, its
    ``id`` or ``model`` no name of the ledger's (its JSON cut to text said ``~``; whole, it told the user name), and a
    mapping under a name's key is no name, its words said ``~`` as anywhere else."""
    monkeypatch.setenv("HOME", "/home/alice")
    data = {"id": "/home/alice/notes.txt", "model": {"path": "/home/alice/m.gguf"}, "pattern": ["/home/alice/x"]}
    hit = {"kind": "event", "run_id": "/home/alice/jobs/7", "agent": "bot", "event": "saved", "data": data}
    said = home_as_tilde({"hits": [hit], "pattern": "/home/alice/jobs"})
    assert said["hits"][0]["data"] == {"id": "~/notes.txt", "model": {"path": "~/m.gguf"}, "pattern": ["~/x"]}
    assert said["hits"][0]["run_id"] == "/home/alice/jobs/7" and said["pattern"] == "/home/alice/jobs"
    nested = home_as_tilde({"target": {"label": "local:/home/alice/q.gguf", "reason": "at /home/alice/p.yaml"}})
    assert nested == {"target": {"label": "local:/home/alice/q.gguf", "reason": "at ~/p.yaml"}}
    assert home_as_tilde({"model": ["/home/alice/a", "b"]}) == {"model": ["/home/alice/a", "b"]}
    # the same at the top of a result whose answer is kept as the vendor wrote it
    top = home_as_tilde({"data": data, "output": "/home/alice/o", "run_id": "/home/alice/r"}, kept=("output",))
    assert top == {"data": said["hits"][0]["data"], "output": "/home/alice/o", "run_id": "/home/alice/r"}
