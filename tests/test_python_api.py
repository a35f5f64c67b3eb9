"""The guide's Python API: Magsag, skills.invoke, runner.invoke_sag(Delegation), obs.log, RateLimitError."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp import (
    BadRequestError,
    ConfigError,
    Delegation,
    InputError,
    Magsag,
    PayloadError,
    PolicyDenied,
    RateLimitError,
    ServerError,
    UnknownSkillError,
)
from magsag_mcp.providers.fake import script

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


@pytest.fixture
def mg(tmp_path: Path, fake_scripts: None):
    env = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_PROVIDER": "fake"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env, agent="tester") as handle:
        yield handle


def test_invoke_returns_the_result_dict(mg: Magsag):
    result = mg.skills.invoke("skill.analysis", {"data": "sales up 8%", "model_config": {"model": "fake:echo"}})
    assert result["provider"] == "fake" and result["model"] == "echo"
    assert "sales up 8%" in result["output"]
    assert result["cost_usd"] == "0" and result["run_id"] == mg.run_id
    assert result["usage"]["total_tokens"] == result["usage"]["input_tokens"] + result["usage"]["output_tokens"]


def test_skills_list_names_each_skill_and_its_payload_fields(mg: Magsag):
    skills = {s["id"]: s for s in mg.skills.list()}
    assert list(skills) == sorted(skills) and "skill.analysis" in skills
    assert skills["skill.analysis"]["payload_fields"] == ["data"]


def test_a_listed_skills_schema_is_the_callers_to_change(mg: Magsag):
    # Agent code turns skills into tool definitions, e.g. OpenAI's strict ones: additionalProperties false,
    # every field required. Before: skills.list() handed out the catalog's own schema, so doing that
    # changed the skill for the rest of the process: its payloads were checked against the edited schema
    # (here a payload with a note beside its data was refused) and every later list showed the edit.
    schema = next(s for s in mg.skills.list() if s["id"] == "skill.extraction")["input_schema"]
    schema["additionalProperties"] = False
    schema["properties"]["fields"]["type"] = "array"
    schema["required"].append("locale")
    payload = {"text": "Invoice 42 from ACME", "fields": "vendor, amount", "note": "from the inbox"}
    assert isinstance(mg.skills.invoke("skill.extraction", payload)["output"], dict)
    again = next(s for s in mg.skills.list() if s["id"] == "skill.extraction")["input_schema"]
    assert again["required"] == ["text", "fields"] and "additionalProperties" not in again
    assert "type" not in again["properties"]["fields"]


def test_magsag_provider_swaps_the_policys_provider(mg: Magsag):
    result = mg.skills.invoke("skill.analysis", {"data": "x"})
    assert result["provider"] == "fake" and result["model"] == "gpt-4o"  # the route's first model


def test_rate_limit_error_is_catchable_as_the_guide_does(mg: Magsag):
    script("rl", *[RateLimitError("slow", status=429, retry_after=0.001)] * 3)
    with pytest.raises(RateLimitError) as info:
        mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:rl"}})
    assert len(info.value.attempts) == 3


def test_delegation_context_reaches_the_router(mg: Magsag):
    out = mg.runner.invoke_sag(
        Delegation(
            task_id="t1", sag_id="data-analysis-sag", input={"data": "x"}, context={"preferred_model": "fake:preferred"}
        )
    )
    assert out["model"] == "preferred"
    out = mg.runner.invoke_sag(
        Delegation(
            task_id="t2",
            sag_id="data-analysis-sag",
            input={"data": "x"},
            context={"llm_overrides": {"provider": "fake", "model": "override"}},
        )
    )
    assert out["model"] == "override"


def test_mag_runs_and_delegates(mg: Magsag):
    out = mg.runner.run_agent("my-mag", {"data": "numbers", "preferred_model": "fake:sag-model"})
    assert out["model"] == "sag-model" and out["summary"]


def test_a_delegation_written_as_a_dict_is_taken_and_a_wrong_one_says_what_is_wanted(mg: Magsag):
    # A MAG building its delegation from JSON passed a dict: AttributeError 'dict' object has no attribute 'sag_id'
    given = {"task_id": "t3", "sag_id": "data-analysis-sag", "input": {"data": "x"}}
    assert mg.runner.invoke_sag({**given, "context": {"preferred_model": "fake:from-dict"}})["model"] == "from-dict"
    with pytest.raises(InputError, match=r"missing input: pass Delegation\(task_id=\.\.\., sag_id="):
        mg.runner.invoke_sag({"task_id": "t4", "sag_id": "data-analysis-sag"})
    with pytest.raises(InputError, match="unknown sag: pass Delegation"):
        mg.runner.invoke_sag({**given, "sag": "data-analysis-sag"})
    with pytest.raises(InputError, match="invoke_sag takes a Delegation .or a dict of its fields., not a str"):
        mg.runner.invoke_sag("data-analysis-sag")


def test_invoke_sag_refuses_a_mag(mg: Magsag):
    with pytest.raises(InputError, match="is a MAG, not a SAG"):
        mg.runner.invoke_sag(Delegation(task_id="t", sag_id="my-mag", input={}))


def test_obs_log_and_current_cost(mg: Magsag):
    mg.obs.log("model_success", {"model": "x"})
    mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})
    assert mg.obs.get_current_cost() == 0.0
    hits = mg.bridge.run(lambda: mg.service.search("model_success", 10))
    assert hits, "obs.log events are searchable in the ledger"


def test_unknown_skill(mg: Magsag):
    with pytest.raises(UnknownSkillError, match="skill.analysis"):
        mg.skills.invoke("skill.analyse", {"data": "x"})


def test_a_skill_id_that_is_not_text_is_an_unknown_skill_naming_the_fix(mg: Magsag):
    # Before: AttributeError: 'NoneType' object has no attribute 'split' (a `payload.get("skill")` that
    # found nothing), TypeError for a list, from inside the catalog.
    for bad, name in ((None, "NoneType"), (42, "int"), (["skill.analysis"], "list")):
        with pytest.raises(UnknownSkillError, match=f"a skill id is a string such as 'skill.analysis', got {name}"):
            mg.skills.invoke(bad, {"data": "x"})  # type: ignore[arg-type]
        with pytest.raises(UnknownSkillError, match="known skills: skill.analysis"):
            mg.skills.explain(bad, {"data": "x"})  # type: ignore[arg-type]


def test_a_paid_answer_the_ledger_refused_is_attached_as_invoke_returns_it(mg: Magsag, monkeypatch):
    # The ledger refuses the record (locked past its timeout, a full disk): the call raises LedgerError with
    # the paid answer as .result. Before: that was the service's InvokeResult while invoke returns a dict,
    # so the natural `except LedgerError as e: result = e.result` then `result["output"]` raised TypeError.
    import asyncio

    from magsag_mcp import LedgerError, errors

    async def refuse(*args, **kwargs):
        raise errors.LedgerError("database is locked", db="l.db")

    monkeypatch.setattr(mg.service.ledger, "record_call", refuse)
    payload = {"data": "x", "model_config": {"model": "fake:echo"}}
    with pytest.raises(LedgerError, match="calling again would pay twice") as info:
        mg.skills.invoke("skill.analysis", payload)
    result = info.value.result
    assert isinstance(result, dict) and result["model"] == "echo" and "x" in result["output"]
    with pytest.raises(LedgerError) as info:
        asyncio.run(mg.skills.ainvoke("skill.analysis", payload))
    assert isinstance(info.value.result, dict) and info.value.result["model"] == "echo"


def test_a_paid_answer_a_bug_kept_out_of_the_ledger_is_attached_as_invoke_returns_it(mg: Magsag, monkeypatch):
    # A bug of ours writing the record (not the ledger refusing it): before, invoke raised the bare TypeError and the
    # paid answer was lost; now an error of kind "error" naming the run, with the answer as invoke returns it
    from magsag_mcp import LedgerError, MagsagError

    real, bugs = mg.service.ledger.record_call, iter([True])

    async def buggy(*args, **kwargs):
        if next(bugs, False):
            raise TypeError("a row that cannot be built")
        await real(*args, **kwargs)

    monkeypatch.setattr(mg.service.ledger, "record_call", buggy)
    payload = {"data": "x", "model_config": {"model": "fake:echo"}}
    with pytest.raises(MagsagError, match="calling again would pay twice") as info:
        mg.skills.invoke("skill.analysis", payload, run_id="r-bug")
    assert not isinstance(info.value, LedgerError) and info.value.kind == "error" and info.value.run_id == "r-bug"
    result = info.value.result
    assert isinstance(result, dict) and result["model"] == "echo" and result["run_id"] == "r-bug"


def test_explain_takes_the_context_invoke_takes(tmp_path: Path, fake_scripts: None):
    # Before: explain(skill, payload, context=...) was a TypeError, so a call routed by context (a tier, a
    # preferred model) could not be previewed as it would be made.
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={}) as handle:
        plan = handle.skills.explain("skill.analysis", {"data": "x"}, context={"tier": "economy"})
        result = handle.skills.invoke(
            "skill.analysis", {"data": "x"}, context={"tier": "economy", "preferred_model": "fake:echo"}
        )
        preferred = handle.skills.explain("skill.analysis", {"data": "x"}, context={"preferred_model": "fake:echo"})
    assert plan["targets"][0]["label"] == "openai:gpt-4o-mini" and plan["rule"] == "tier:economy"
    assert preferred["targets"][0]["label"] == result["provider"] + ":" + result["model"] == "fake:echo"


def test_every_error_a_call_can_raise_is_exported_from_the_package():
    # Before: NotConfiguredError, InvalidOutputError, UnsupportedFeatureError and UnexpectedStatusError (named
    # in a traceback as AllTargetsFailed[NotConfiguredError], ...) could not be imported from magsag_mcp.
    import magsag_mcp
    from magsag_mcp import errors

    classes = [n for n in errors.__all__ if isinstance(getattr(errors, n), type)]
    assert {n for n in classes if getattr(magsag_mcp, n, None) is not getattr(errors, n)} == set()
    assert set(classes) <= set(magsag_mcp.__all__)


@pytest.mark.parametrize("package", ["magsag_mcp", "magsag_mcp.mcp_server"])
def test_a_name_the_package_does_not_have_is_an_error_to_a_type_checker(package: str):
    # The lazy imports' module-level __getattr__ (typed "-> Any") told mypy and pyright, strict mode too, that
    # every name exists: `from magsag_mcp import RateLimitErorr` or `except magsag_mcp.PolicyDenid:` passed
    # the check and failed at run time. Now the checkers see only the names the package has (its
    # TYPE_CHECKING imports name the lazy ones); at run time the lazy names still load on first use.
    import ast
    import importlib

    module = importlib.import_module(package)
    tree = ast.parse(Path(module.__file__).read_text())
    visible = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "__getattr__"]
    assert visible == [], f"{package}.__getattr__ is seen by type checkers"
    hidden = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "not TYPE_CHECKING"]
    assert [f.name for n in hidden for f in n.body if isinstance(f, ast.FunctionDef)] == ["__getattr__"]
    for name in module.__all__:
        assert getattr(module, name) is not None
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


@pytest.mark.parametrize("package", ["magsag_mcp", "magsag_mcp.mcp_server"])
def test_a_repl_completes_the_lazily_imported_names(package: str):
    # Before: dir(magsag_mcp) lacked the names imported on first use, so `magsag_mcp.Ma<Tab>` in a REPL or a
    # notebook offered MagsagError and MalformedResponseError, and not Magsag itself, until it had been used.
    # (In a process of its own: here the lazy names are loaded already.)
    import json
    import subprocess
    import sys

    code = (
        f"import json, rlcompleter, {package} as m\n"
        "complete = rlcompleter.Completer({'m': m}).complete\n"
        "print(json.dumps([complete('m.', i) for i in range(500)]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    offered = {name.removeprefix("m.").rstrip("(") for name in json.loads(out) if name}
    lazy = {"Magsag", "Service", "Delegation", "InvokeResult"} if package == "magsag_mcp" else {"build_server"}
    assert lazy <= offered


def test_sync_call_on_the_loop_thread_is_refused_with_the_fix(mg: Magsag):
    async def inside_loop():
        mg.skills.invoke("skill.analysis", {"data": "x"})

    with pytest.raises(ConfigError, match="await skills.ainvoke"):
        mg.bridge.run(inside_loop)


def test_nested_delegation_spends_the_root_runs_budget(tmp_path: Path):
    # MAG -> relay SAG -> analysis SAG: every delegated run records the MAG's run as its parent, so the
    # MAG's run limit and obs.get_current_cost() cover the whole tree, however deep.
    import shutil
    import sqlite3

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))

    def agent(agent_id: str, kind: str, body: str) -> None:
        module = agent_id.replace("-", "_")
        (cat / "agents" / f"{agent_id}.yaml").write_text(
            f"id: {agent_id}\nkind: {kind}\ndescription: test agent\nentrypoint: {module}:run\n"
        )
        (cat / "agents" / f"{module}.py").write_text(
            "from magsag_mcp import Delegation\n\n"
            "def run(payload, *, registry=None, skills=None, runner=None, obs=None):\n" + body
        )

    agent(
        "relay-sag",
        "sag",
        "    skills.invoke('skill.analysis', {'data': 'relay'})\n"
        "    return runner.invoke_sag(Delegation(task_id='inner', sag_id='data-analysis-sag', input=payload))\n",
    )
    agent(
        "top-mag",
        "mag",
        "    return runner.invoke_sag(Delegation(task_id='outer', sag_id='relay-sag', input=payload))\n",
    )
    (cat / "prices.yaml").write_text('"fake:*": {input: 1.0, output: 1.0}\n')
    env = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_PROVIDER": "fake"}
    with Magsag(catalog=cat, db=tmp_path / "l.db", env=env, agent="tester") as handle:
        handle.runner.run_agent("top-mag", {"data": "numbers"})
        root = handle.run_id  # the session's run is the top of the tree its agents run in
        total = handle.obs.get_current_cost()
    conn = sqlite3.connect(tmp_path / "l.db")
    parents = dict(conn.execute("SELECT run_id, parent_run_id FROM runs").fetchall())
    delegated = {r: p for r, p in parents.items() if r.startswith(("outer", "inner"))}
    assert len(delegated) == 2 and set(delegated.values()) == {root}  # before: inner's parent was outer
    every_call = conn.execute("SELECT SUM(cost_pusd) FROM attempts").fetchone()[0] / 10**12
    assert total > 0 and abs(total - every_call) < 1e-12  # the session's cost covers every level


def test_an_agents_current_cost_counts_what_its_run_limit_counts(tmp_path: Path, fake_scripts: None):
    # The guide's check_budget(obs) inside a MAG: before, a MAG run with mg.runner.run_agent read its own
    # run only, while its SAG's runs record the session's run as their parent; what the SAG spent was
    # missing from the MAG's figure though the run limit counts it.
    import shutil

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    (cat / "agents" / "costly-mag.yaml").write_text("id: costly-mag\nkind: mag\nentrypoint: costly_mag:run\n")
    (cat / "agents" / "costly_mag.py").write_text(
        "from magsag_mcp import Delegation\n\n"
        "def run(payload, *, registry=None, skills=None, runner=None, obs=None):\n"
        "    skills.invoke('skill.analysis', {'data': 'own'})\n"
        "    before = obs.current_cost()\n"
        "    runner.invoke_sag(Delegation(task_id='t', sag_id='data-analysis-sag', input={'data': 'x'}))\n"
        "    return before, obs.current_cost()\n"
    )
    (cat / "prices.yaml").write_text('"fake:*": {input: 1.0, output: 1.0}\n')
    env = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_PROVIDER": "fake"}
    with Magsag(catalog=cat, db=tmp_path / "l.db", env=env) as mg:
        before, after = mg.runner.run_agent("costly-mag", {})
        total = mg.obs.current_cost()
    assert 0 < before < after == total  # before: after == before, the SAG's spend left out


def test_keys_that_look_like_routing_keys_are_warned_about(tmp_path, fake_scripts):
    # The call still goes through (payload and context are the caller's), but where it was routed
    # is not what such a key meant: the result says so. (A misspelt context key is refused: see below.)
    from magsag_mcp import Magsag
    from magsag_mcp.providers.fake import script

    script("typo", "answer")
    with Magsag(db=tmp_path / "l.db", env={"MAGSAG_MODEL": "fake:typo"}) as mg:
        result = mg.skills.invoke(
            "skill.analysis",
            {"data": "x", "modelConfig": {"model": "fake:other"}},
            context={"user_id": 7},
        )
    assert result["warnings"][:1] == [
        "payload key 'modelConfig' is not 'model_config': it went to the skill as data, not routing",
    ]
    assert not any("user_id" in w for w in result["warnings"])


@pytest.mark.parametrize(
    ("context", "meant"),
    [
        ({"preferred_modle": "fake:other"}, "preferred_model"),
        ({"Tier": "economy"}, "tier"),
        ({"preferredModel": "fake:other"}, "preferred_model"),
        ({"prefered_model": "fake:other"}, "preferred_model"),
        ({"preferred_models": ["fake:other"]}, "preferred_model"),
        ({"tiers": "economy"}, "tier"),
        # tier's inner letters swapped, its commonest slip: it passed with a warning and the call went to the
        # routed model, not the economy tier's (over MCP it was called "a key of its own")
        ({"teir": "economy"}, "tier"),
        ({"data-class": "pii"}, "data_class"),
        ({"data_clas": "pii"}, "data_class"),
        ({"llm_override": {"model": "fake:other"}}, "llm_overrides"),
    ],
)
def test_a_misspelt_context_key_is_refused_before_anything_is_sent(tmp_path, fake_scripts, context, meant):
    # skills.invoke(context={"preferred_modle": ...}) sent the call to the routed model and warned after it was paid
    # for; MCP's invoke_skill refused the same context. Both refuse it, in the same words ("(did you mean ...?)"),
    # for a call and for a delegation's context, whose key a SAG's calls carry; a caller's own key (user_id) still
    # passes (see above).
    from magsag_mcp import Magsag
    from magsag_mcp.providers.fake import script

    script("typo", "answer")
    key = next(iter(context))
    said = f"unknown context key {key!r} (did you mean {meant!r}?)"
    with Magsag(db=tmp_path / "l.db", env={"MAGSAG_MODEL": "fake:typo"}) as mg:
        with pytest.raises(PayloadError) as refused:
            mg.skills.invoke("skill.analysis", {"data": "x"}, context={**context, "user_id": 7})
        assert refused.value.message.startswith(said)
        with pytest.raises(PayloadError) as refused:
            mg.runner.invoke_sag(
                Delegation(task_id="t", sag_id="data-analysis-sag", input={"data": "x"}, context=context)
            )
        assert refused.value.message.startswith(said)
        # explain, which sends nothing, says what it did not do (it said "the call was not sent")
        with pytest.raises(PayloadError) as refused:
            mg.skills.explain("skill.analysis", {"data": "x"}, context=context)
        assert refused.value.message == (
            f"{said}; the route was not explained: the key would have chosen it; write it {meant!r} and run explain "
            "again"
        )
        assert mg.summarize()["totals"]["attempts"] == 0  # nothing was sent


def test_a_callers_own_context_keys_near_a_routing_key_are_not_refused(tmp_path, fake_scripts):
    # A delegation's context carries what its agents pass on, and every call of the SAG carries it too. The refusal of
    # a misspelt routing key took any key difflib put within 0.75 of one for a misspelling: {"time": ...} was refused
    # as 'tier', {"preferred_language": "fr"} and {"preferred_voice": ...} as 'preferred_model', so an agent passing
    # them on could call no skill at all. They are words of their own, not a routing key's letters slipped; they pass
    # (said in a warning, as they were before the refusal), and the call is sent.
    from magsag_mcp import Magsag
    from magsag_mcp.providers.fake import script

    script("own", "answer")
    own = {
        "time": "09:00",
        "timer": 30,
        "preferred_language": "fr",
        "preferred_voice": "alto",
        "preferred_name": "Ann",
        "preferred": "short answers",
        "tier_id": 3,
        "model_name": "theirs",
        "user": "u1",
    }
    with Magsag(db=tmp_path / "l.db", env={"MAGSAG_MODEL": "fake:own"}) as mg:
        result = mg.skills.invoke("skill.analysis", {"data": "x"}, context=own)
        assert result["output"] == "answer"
        assert "context key 'time' is not one magsag reads; did you mean 'tier'?" in result["warnings"]
        delegated = mg.runner.invoke_sag(
            Delegation(task_id="t", sag_id="data-analysis-sag", input={"data": "x"}, context=own)
        )
        assert delegated is not None
        assert mg.summarize()["totals"]["calls"] == 2


def test_a_model_config_given_in_a_context_is_said_to_go_unread(mg: Magsag):
    # The guide: "Agents specify model preferences by including them in the payload or context". A MAG that put
    # the payload's model_config in its delegation's context had it ignored without a word: the SAG's call went
    # to the policy's model (here the route's gpt-4o), not the one asked for.
    context = {"model_config": {"model": "fake:chosen"}}
    result = mg.runner.invoke_sag(
        Delegation(task_id="t", sag_id="data-analysis-sag", input={"data": "x"}, context=context)
    )
    assert result["model"] == "gpt-4o"
    direct = mg.skills.invoke("skill.analysis", {"data": "x"}, context=context)
    assert direct["model"] == "gpt-4o"
    assert direct["warnings"] == [
        "context key 'model_config' is not one magsag reads: a call's model_config goes in its payload "
        "(payload['model_config']), or its keys in context['llm_overrides'], and was not applied"
    ]


def test_a_key_as_a_delegations_task_id_or_an_events_name_is_refused_naming_what_was_given(mg: Magsag):
    # Refused, as a call's names are, but said of what the caller never gave: "run_id '[REDACTED]' holds ..." for
    # a Delegation's task_id (the SAG's run id is made from it), and "name the call with an id of your own" for
    # an event's name.
    key = "sk-proj-" + "Ab3" * 12
    with pytest.raises(InputError) as info:
        mg.runner.invoke_sag(Delegation(task_id=key, sag_id="data-analysis-sag", input={"data": "x"}))
    assert info.value.message.startswith("Delegation.task_id '[REDACTED]' holds what looks like an API key")
    with pytest.raises(InputError) as info:
        mg.obs.log(key, {"n": 1})
    assert info.value.message.startswith("the event's name '[REDACTED]' holds what looks like an API key")
    assert "name the event in words of your own, never a credential" in info.value.message
    assert mg.bridge.run(lambda: mg.service.query_runs()) == []  # nothing ran, nothing was recorded


@pytest.mark.parametrize("option", ["run_id", "agent"])
def test_a_key_as_a_magsags_run_id_or_agent_is_refused_when_it_is_made(tmp_path: Path, option: str):
    # Before: Magsag(run_id=key) was made, and each call refused it later, run_agent's as "parent_run_id
    # '[REDACTED]'" (a name the caller never gave); `magsag run --run-id KEY` then printed the key in its
    # JSON error's run_id. Now it is refused when the Magsag is made, naming the option, and nothing is made.
    key = "sk-proj-" + "Ab3" * 12
    db = tmp_path / "l.db"
    with pytest.raises(InputError) as info:
        Magsag(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake"}, **{option: key})
    assert info.value.message.startswith(f"{option} '[REDACTED]' holds what looks like an API key")
    assert key not in str(info.value.details) and not db.exists()
    with pytest.raises(InputError, match="run_id must be a string, not int"):
        Magsag(catalog=CATALOG, db=db, env={}, run_id=42)  # type: ignore[arg-type]


def test_a_misspelt_invoke_option_is_refused_before_anything_is_paid(mg: Magsag):
    # Before: the call was made (and paid), then the unknown option raised and the answer was lost.
    with pytest.raises(InputError, match=r"unknown option for invoke: 'agnet' \(did you mean 'agent'\?\)"):
        mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}}, agnet="bob")
    assert mg.bridge.run(lambda: mg.service.query_runs()) == []


def test_a_routing_key_given_as_an_invoke_option_is_told_where_it_goes(mg: Magsag):
    # MCP's invoke_skill takes model_config beside the payload; the Python API, as the guide, in it. Before:
    # "unknown option(s) for invoke: 'model_config'; use agent, run_id, context, progress", and nothing
    # said where model_config (or a model, or a tier) does go.
    with pytest.raises(InputError) as info:
        mg.skills.invoke("skill.analysis", {"data": "x"}, model_config={"model": "fake:echo"}, tier="economy")
    assert info.value.message == (
        "unknown options for invoke: 'model_config' (it goes in the payload: "
        "{..., 'model_config': {'model': ...}}), 'tier' (it goes in the context: context={'tier': ...}); "
        "use agent, run_id, context, progress"
    )
    with pytest.raises(InputError, match=r"'model' \(it goes in the payload's model_config: "):
        mg.skills.invoke("skill.analysis", {"data": "x"}, model="fake:echo")
    assert mg.bridge.run(lambda: mg.service.query_runs()) == []


def test_a_context_that_is_not_a_mapping_is_an_input_error_naming_it(mg: Magsag):
    # Before: TypeError "'str' object is not a mapping" (invoke) and a ValueError from dict() (delegation).
    with pytest.raises(InputError, match="invoke's context must be a mapping .* got str"):
        mg.skills.invoke("skill.analysis", {"data": "x"}, context="economy")
    with pytest.raises(InputError, match="Delegation.context must be a mapping .* got str"):
        mg.runner.invoke_sag(Delegation("t", "data-analysis-sag", {"data": "x"}, context="gpt-4o"))
    with pytest.raises(InputError, match="run_agent's context must be a mapping .* got list"):
        mg.runner.run_agent("data-analysis-sag", {"data": "x"}, context=[("tier", "economy")])


def test_obs_log_and_summarize_refuse_bad_arguments_with_input_errors(mg: Magsag):
    with pytest.raises(InputError, match="data must be a mapping such as .*not str"):
        mg.obs.log("evt", "a string")
    with pytest.raises(InputError, match="needs a non-empty name"):
        mg.obs.log("", {})
    with pytest.raises(InputError, match="invalid filters: agnet: unknown filter"):
        mg.summarize(agnet="x")


def test_a_run_id_or_agent_that_is_not_a_string_is_refused_before_anything_is_recorded(tmp_path: Path):
    # `run_id=uuid.uuid4()` or `run_id=ticket.id` (an int). Before: a UUID raised SQLite's own
    # ProgrammingError ("Error binding parameter 1: type 'UUID' is not supported"), no MagsagError, twice
    # chained; an int was stored as the text "5", and the result's run_id (5) then found nothing in the
    # ledger's filters, which take text. Now each is an InputError naming the argument and the fix.
    import sqlite3
    import uuid

    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as mg:
        payload = {"data": "x", "model_config": {"model": "fake:echo"}}
        for options, where, kind in (
            ({"run_id": uuid.uuid4()}, "run_id", "UUID"),
            ({"run_id": 5}, "run_id", "int"),
            ({"agent": 7}, "agent", "int"),
        ):
            with pytest.raises(InputError, match=rf"^{where} must be a string, not {kind}; pass str\(\.\.\.\) of it"):
                mg.skills.invoke("skill.analysis", payload, **options)
        with pytest.raises(InputError, match=r"^agent must be a string, not int"):
            mg.check_budget(agent=7)
        with pytest.raises(InputError, match=r"^run_id must be a string, not UUID"):
            mg.check_budget(run_id=uuid.uuid4())
        with pytest.raises(InputError, match=r"^run_id must be a string, not int"):  # refused when it is made
            Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}, run_id=42)  # type: ignore[arg-type]
        assert mg.skills.invoke("skill.analysis", payload, run_id=str(uuid.uuid4()), agent="7")["model"] == "echo"
    conn = sqlite3.connect(tmp_path / "l.db")
    assert conn.execute("SELECT agent FROM runs").fetchall() == [("7",)]
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone() == (0,)


def test_obs_log_refuses_text_that_is_not_unicode_naming_where(mg: Magsag):
    # an error text cut inside an emoji, as the guide logs it: refused, not a UnicodeEncodeError from SQLite
    with pytest.raises(InputError, match=r"event 'model_failed': data.error is not valid Unicode text"):
        mg.obs.log("model_failed", {"model": "gpt-4o", "error": "overloaded \ud83d"})
    with pytest.raises(InputError, match="the search pattern is not valid Unicode text"):
        mg.bridge.run(lambda: mg.service.search("x\ud83d", 10))


def test_current_cost_counts_unknown_costs_at_their_bound_and_says_so(tmp_path: Path, fake_scripts: None):
    # The guide's `if obs.get_current_cost() > max_cost_usd` must not pass because an attempt that was
    # cut after the vendor had it (and may bill it) counted as $0.
    import shutil
    import warnings
    from decimal import Decimal

    from magsag_mcp import ProviderConnectionError, UnknownCostWarning
    from magsag_mcp.records import AttemptRecord, RunRecord

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    (cat / "prices.yaml").write_text('"fake:*": {input: 1.0, output: 2.0}\n')
    dropped = ProviderConnectionError("connection dropped mid-answer", maybe_billed=True)
    script("flaky", dropped)
    with Magsag(catalog=cat, db=tmp_path / "l.db", env={"MAGSAG_RETRY_BASE_DELAY": "0.001"}) as mg:
        mc = {"model": "fake:flaky", "max_tokens": 100}  # dropped once, answered on the retry
        mg.skills.invoke("skill.analysis", {"data": "x", "model_config": mc})
        detail = mg.obs.cost_detail()
        assert detail["unknown_attempts"] == 1 and detail["unbounded_attempts"] == 0
        assert detail["cost_complete"] is False
        known, bound = Decimal(detail["known_usd"]), Decimal(detail["unknown_cost_bound_usd"])
        assert known > 0 and bound >= Decimal("0.0002")  # at least max_tokens of output at $2/M
        with pytest.warns(
            UnknownCostWarning, match=r"1 attempt of unknown cost is counted at its worst"
        ) as seen:
            assert mg.obs.current_cost() == known + bound == Decimal(detail["at_most_usd"])
        assert [w.filename for w in seen] == [__file__]  # at the caller's line, not in the event loop
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert mg.obs.current_cost() == known + bound  # nothing new: no second warning
        # an attempt of a model with no price has no bound: the figure cannot include it, and says so
        record = AttemptRecord(
            run_id=mg.run_id, started_at=0.0, provider="openai", model="no-such-model", skill=None,
            agent=None, outcome="ok", fallback_position=0, attempt_number=1, cost_usd=None,
        )  # fmt: skip
        run = RunRecord(run_id=mg.run_id, agent=None, skill=None, started_at=0.0, status="ok")
        mg.bridge.run(lambda: mg.service.ledger.record_call(run, [record]))
        assert mg.obs.cost_detail()["unbounded_attempts"] == 1
        with pytest.warns(UnknownCostWarning, match="1 attempt used a model with no known price and is not in") as seen:
            assert mg.obs.get_current_cost() == float(known + bound)
        assert len(seen) == 1 and seen[0].filename == __file__  # the bounded one was told already


def _spy_on_threads(mg: Magsag) -> list[tuple[str, int]]:
    """Record (method, thread) for each service call the API makes: the home loop has its own thread."""
    import threading

    seen: list[tuple[str, int]] = []
    for name in ("invoke_skill", "log_event", "run_spend"):
        original = getattr(mg.service, name)

        async def spy(*args, _original=original, _name=name, **kwargs):
            seen.append((_name, threading.get_ident()))
            return await _original(*args, **kwargs)

        setattr(mg.service, name, spy)
    return seen


def test_async_forms_awaited_on_another_loop_run_on_magsags_loop_and_close_completes(
    tmp_path: Path, fake_scripts: None
):
    # A Magsag used inside asyncio.run: before, `await mg.skills.ainvoke(...)` ran the service on the
    # caller's loop although its HTTP sessions and ledger connection belong to Magsag's own loop; the
    # next ledger call hung, and so did mg.close().
    import asyncio

    env = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_PROVIDER": "fake"}
    mg = Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env, agent="tester")
    seen = _spy_on_threads(mg)

    async def main() -> dict:
        result = await mg.skills.ainvoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})
        assert seen == [("invoke_skill", mg.bridge.loop_thread)]  # before: the caller's thread (and loop)
        await mg.obs.alog("async_event", {"n": 1})
        assert await mg.obs.acurrent_cost() == 0
        assert (await mg.obs.acost_detail())["cost_complete"] is True
        # a sync agent run from async code: its skill calls also go to Magsag's loop
        await mg.runner.arun("data-analysis-sag", {"data": "y"})
        return result

    result = asyncio.run(main())
    assert result["model"] == "echo" and result["run_id"] == mg.run_id
    assert {name for name, _ in seen} == {"invoke_skill", "log_event", "run_spend"}
    assert {thread for _, thread in seen} == {mg.bridge.loop_thread}
    mg.close()  # returned: before the fix it never did
    import sqlite3

    conn = sqlite3.connect(tmp_path / "l.db")
    assert conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 2
    assert conn.execute("SELECT COUNT(*) FROM events WHERE event = 'async_event'").fetchone()[0] == 1


def test_a_magsags_summary_and_budget_have_async_forms_run_on_its_loop(tmp_path: Path, fake_scripts: None):
    # An async agent had ainvoke, alog, acurrent_cost and arun, but its budget check and usage summary only in
    # the sync form, which holds the caller's event loop while the ledger is read (and waits out another
    # process's write lock, up to 30 s); the service itself, on the Magsag's loop, refuses calls from another.
    import asyncio
    import threading

    env = {"MAGSAG_PROVIDER": "fake"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env, agent="tester") as mg:
        mg.skills.invoke("skill.analysis", {"data": "x"})
        seen: list[int] = []
        for name in ("summarize", "check_budget"):
            original = getattr(mg.service, name)

            async def spy(*args, _original=original, **kwargs):
                seen.append(threading.get_ident())
                return await _original(*args, **kwargs)

            setattr(mg.service, name, spy)

        async def main() -> tuple[dict, dict]:
            return await mg.asummarize(agent="tester"), await mg.acheck_budget(run_id=mg.run_id)

        summary, budget = asyncio.run(main())
        assert seen == [mg.bridge.loop_thread, mg.bridge.loop_thread]
        assert summary == mg.summarize(agent="tester") and summary["totals"]["calls"] == 1
        assert budget == mg.check_budget(run_id=mg.run_id)
        assert any(limit["limit"] == "run" for limit in budget["limits"])


def test_async_forms_awaited_on_magsags_own_loop_run_in_place(mg: Magsag):
    seen = _spy_on_threads(mg)

    async def on_home_loop() -> dict:
        await mg.obs.alog("home_event", {})
        return await mg.skills.ainvoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})

    assert mg.bridge.run(on_home_loop)["model"] == "echo"
    assert [name for name, _ in seen] == ["log_event", "invoke_skill"]
    assert {thread for _, thread in seen} == {mg.bridge.loop_thread}


@pytest.mark.anyio
async def test_the_async_services_result_has_the_fields_readme_names(tmp_path: Path, fake_scripts: None):
    # Before: result.model, result.provider and result.usage were AttributeErrors (only result.result.model).
    from magsag_mcp import Service

    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as svc:
        result = await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})
    as_dict = result.to_dict()
    assert (result.provider, result.model) == (as_dict["provider"], as_dict["model"]) == ("fake", "echo")
    assert result.usage.to_dict() == as_dict["usage"] and result.usage.total_tokens > 0
    assert result.output == as_dict["output"] and result.run_id == as_dict["run_id"]


def test_a_closed_magsag_says_so_when_used(tmp_path: Path, fake_scripts: None):
    # Before: anyio's RunFinishedError, or (from a thread that got the loop thread's old id) "a
    # synchronous magsag call was made on the event loop's own thread"; the async forms raised
    # RuntimeError('Event loop is closed') and left a never-awaited coroutine behind.
    import asyncio
    import threading

    mg = Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
    mg.close()
    uses = {
        "invoke": lambda: mg.skills.invoke("skill.analysis", {"data": "x"}),
        "obs.log": lambda: mg.obs.log("late", {}),
        "get_current_cost": mg.obs.get_current_cost,
        "run_agent": lambda: mg.runner.run_agent("data-analysis-sag", {"data": "x"}),
        "summarize": mg.summarize,
    }
    seen: dict[str, str] = {}
    for name, use in uses.items():
        worker = threading.Thread(target=lambda n=name, u=use: seen.update({n: _error_of(u)}))
        worker.start()
        worker.join(10)
    seen["ainvoke"] = _error_of(lambda: asyncio.run(mg.skills.ainvoke("skill.analysis", {"data": "x"})))
    assert set(seen) == {*uses, "ainvoke"}
    assert all(text.startswith("ConfigError: this Magsag is closed") for text in seen.values()), seen


def test_closing_a_magsag_under_a_call_in_another_thread_says_why_it_stopped(tmp_path: Path, fake_scripts: None):
    # Before: the calling thread got a bare CancelledError('') from the event-loop machinery.
    import sqlite3
    import threading
    import time

    mg = Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})
    slow = {"provider": "fake", "model": "slow", "params": {"latency_ms": 5000}}
    outcome: list[str] = []
    worker = threading.Thread(
        target=lambda: outcome.append(
            _error_of(lambda: mg.skills.invoke("skill.analysis", {"data": "x", "model_config": slow}))
        )
    )
    worker.start()
    deadline = time.monotonic() + 5
    while not mg.service._calls and time.monotonic() < deadline:
        time.sleep(0.01)
    mg.close()
    worker.join(10)
    assert outcome and outcome[0].startswith("ConfigError: this Magsag was closed while the call was in flight")
    conn = sqlite3.connect(tmp_path / "l.db")
    assert conn.execute("SELECT status FROM runs").fetchall() == [("cancelled",)]


def _error_of(use) -> str:
    try:
        use()
    except BaseException as exc:
        return f"{type(exc).__name__}: {exc}"
    return "returned"


def _use_inherited_magsag(mg: Magsag, results) -> None:  # runs in a forked child
    outcome = {}
    for name, use in (
        ("invoke", lambda: mg.skills.invoke("skill.analysis", {"data": "x"})),
        ("obs.log", lambda: mg.obs.log("from_child", {})),
        ("check_budget", mg.check_budget),
        ("close", mg.close),
    ):
        try:
            use()
            outcome[name] = "returned"
        except ConfigError as exc:
            outcome[name] = exc.message
        except BaseException as exc:
            outcome[name] = f"{type(exc).__name__}: {exc}"
    results.put(outcome)


def test_a_forked_process_using_its_parents_magsag_is_told_to_make_its_own(mg: Magsag):
    """A script that makes one Magsag and then forks workers (multiprocessing's default on Linux): the
    parent's event-loop thread does not exist in the child, so every call there waited for ever (and
    the pool with it). The child must get an error that says what to do instead."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=_use_inherited_magsag, args=(mg, results))
    child.start()
    try:
        outcome = results.get(timeout=60)  # a hang guard: before, nothing ever came
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
    made_in = "was made in process"
    assert made_in in outcome["invoke"] and "make a new Magsag() in each process" in outcome["invoke"]
    assert made_in in outcome["obs.log"] and made_in in outcome["check_budget"]
    assert outcome["close"] == "returned"  # closing the inherited copy leaves the parent's alone
    # the parent's Magsag is untouched and still works
    assert mg.skills.invoke("skill.analysis", {"data": "x"})["provider"] == "fake"


LOOPER = """
def run(payload, *, registry=None, skills=None, runner=None, obs=None):
    slow = {"provider": "fake", "model": "slow", "params": {"latency_ms": 3000}}
    return [skills.invoke("skill.analysis", {"data": str(i), "model_config": slow})["output"] for i in range(3)]
"""


@pytest.mark.parametrize("timeout", ["asyncio.timeout", "anyio.move_on_after"])
def test_a_timeout_around_arun_stops_the_agents_calls_at_once(
    catalog_copy: Path, tmp_path: Path, fake_scripts: None, timeout: str
):
    """``runner.arun`` awaited on another loop than the Magsag's (inside ``asyncio.run``) runs the agent on
    a worker thread, its calls on the Magsag's loop. With asyncio's timeout, arun returned and the agent went
    on calling (and paying) in the background. With anyio's, anyio tied the agent's call to the caller's
    cancel scope and cancelled it from the caller's thread (asyncio is not thread-safe), which the Magsag's
    loop saw only when it next woke: here when the 3 s answer came, although the timeout was 0.5 s. (How soon
    the call is cut is a matter of time, which a unit test does not measure; what it checks is that the call
    was cut in flight, recorded, and followed by no other.)"""
    import asyncio
    import sqlite3

    import anyio

    (catalog_copy / "agents" / "looper.py").write_text(LOOPER)
    (catalog_copy / "agents" / "looper.yaml").write_text(
        "id: looper\nkind: sag\ndescription: Calls a slow skill three times.\nentrypoint: looper:run\n"
        "skills: [skill.analysis]\n"
    )
    mg = Magsag(catalog=catalog_copy, db=tmp_path / "l.db", env={}, agent="a")

    def ledger() -> tuple[list[tuple[str]], list[tuple[str | None, int]]]:
        db = sqlite3.connect(tmp_path / "l.db")
        try:
            runs = db.execute("SELECT status FROM runs").fetchall()
            return runs, db.execute("SELECT error_class, output_tokens FROM attempts").fetchall()
        finally:
            db.close()

    async def main() -> None:
        if timeout == "asyncio.timeout":
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    await mg.runner.arun("looper", {})
        else:
            with anyio.move_on_after(0.5) as scope:
                await mg.runner.arun("looper", {})
            assert scope.cancelled_caught
        await asyncio.sleep(3.5)  # long enough for a second call to begin, had the agent gone on

    try:
        asyncio.run(main())
        runs, attempts = ledger()
    finally:
        mg.close()
    assert runs == [("cancelled",)]  # recorded before close, and no second call
    assert attempts == [("cancelled", 0)]  # cut in flight at the timeout: the 3 s answer never came


def test_a_result_answered_by_a_fallback_says_so_in_its_warnings(tmp_path, fake_scripts, catalog_copy):
    # The result named fake:b, with warnings [], and nothing said that the first choice had failed, nor
    # why the call's cost was unknown (the failed attempt's own warning stayed in the trace).
    from magsag_mcp import Magsag
    from magsag_mcp import errors as E
    from magsag_mcp.providers.fake import script

    # fake:a priced as a vendor's model is (an unpriced fake model is free: its cut attempt would cost 0)
    (catalog_copy / "prices.yaml").write_text('"fake:a": {input: 2, output: 8}\n')
    script("a", E.ServerError("boom", status=500), E.ProviderTimeoutError("slow", maybe_billed=True))
    script("b", "answer")
    env = {"MAGSAG_RETRY_BASE_DELAY": "0", "MAGSAG_MAX_RETRIES": "1"}
    with Magsag(catalog=catalog_copy, db=tmp_path / "l.db", env=env) as mg:
        mc = {"model": "fake:a", "fallbacks": ["fake:b"]}
        result = mg.skills.invoke("skill.analysis", {"data": "x", "model_config": mc})
    assert (result["provider"], result["model"]) == ("fake", "b")
    fell_back = [w for w in result["warnings"] if "fallback" in w]
    assert fell_back == ["answered by fallback fake:b after fake:a failed (server_error, timeout)"]
    assert any("fake:a" in w and "after the request was sent" in w for w in result["warnings"])


def test_an_empty_agent_or_parent_run_is_no_agent_or_parent(tmp_path: Path, fake_scripts: None):
    """MCP clients and form-built calls send "" for an optional name: it is recorded as no name (NULL),
    so the agent filter and the '(none)' group find it, not a separate agent '' that no filter selects."""
    env = {"MAGSAG_PROVIDER": "fake"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env) as handle:
        payload = {"data": "x", "model_config": {"model": "fake:echo"}}
        handle.skills.invoke("skill.analysis", payload, agent="", run_id="r-empty")
        handle.obs.log("note", {"k": 1})
        runs = handle.bridge.run(lambda: handle.service.query_runs({"run_id": "r-empty"}))
        assert runs[0]["agent"] is None and runs[0]["parent_run_id"] is None
        handle.bridge.run(
            lambda: handle.service.invoke_skill("skill.analysis", payload, agent="", run_id="r-child", parent_run_id="")
        )
        child = handle.bridge.run(lambda: handle.service.query_runs({"run_id": "r-child"}))
        assert child[0]["agent"] is None and child[0]["parent_run_id"] is None
        summary = handle.bridge.run(lambda: handle.service.summarize({}))
        assert list(summary["by_agent"]) == ["(none)"]


def test_obs_current_cost_is_exact_whatever_decimal_context_the_caller_set(tmp_path: Path, fake_scripts: None):
    # An agent's code that lowers Decimal's precision for its own figures (getcontext().prec = 6) and reads
    # its run's cost: the service computes in its own context, but the sum known + bound was taken in the
    # caller's, and came back rounded (0.908395 for 0.908394951684): a cap check could pass a run above it.
    import decimal
    import shutil
    from decimal import Decimal

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    (cat / "prices.yaml").write_text('"fake:*": {input: 1.234567, output: 7.654321}\n')
    exact = (Decimal(123457) * Decimal("1.234567") + Decimal(98765) * Decimal("7.654321")) / 1_000_000
    script("m", {"text": "ok", "usage": {"input_tokens": 123457, "output_tokens": 98765}})
    with Magsag(catalog=cat, db=tmp_path / "l.db", env={}) as mg:
        mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:m"}})
        with decimal.localcontext() as ctx:
            ctx.prec = 6
            assert mg.obs.current_cost() == exact == Decimal("0.908394951684")
            assert Decimal(mg.obs.cost_detail()["at_most_usd"]) == exact
            assert decimal.getcontext().prec == 6  # the caller's context is its own again


@pytest.mark.anyio
async def test_a_failed_calls_error_carries_its_run_and_what_the_call_cost(tmp_path: Path, fake_openai):
    # JSON was asked for and the model answered prose, twice: both answers are billed (their usage was
    # reported) and the call fails. Before: the error carried provider, model and status but neither the run
    # it was recorded under nor what the call had cost: a caller logging the failure (the guide's fallback
    # cascade) had to sum error.attempts, and the MCP tool error and the CLI's JSON had neither. Now both
    # are on the error, as on a result: run_id and cost_usd (None, with cost_unknown, when it is unknown).
    import pickle
    from decimal import Decimal

    from magsag_mcp import InvalidOutputError, Service
    from tests.fakes import openai_replies as R
    from tests.fakes.openai_server import DEFAULT_KEY

    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    mc = {"model": "openai:gpt-4o", "fallbacks": ["openai:gpt-4o-mini"], "response_format": {"type": "json_object"}}
    async with Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        fake_openai.queue(R.reply("not json", usage=R.tokens(1000, 500)), R.reply("nor this", usage=R.tokens(800, 90)))
        with pytest.raises(InvalidOutputError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": mc}, run_id="r-paid")
        err = info.value
        paid = [a.cost_usd for a in err.attempts]
        assert len(paid) == 2 and all(c > 0 for c in paid)
        assert (err.run_id, err.cost_usd) == ("r-paid", sum(paid, Decimal(0)))
        assert {k: err.to_dict()[k] for k in ("run_id", "cost_usd", "cost_unknown")} == {
            "run_id": "r-paid", "cost_usd": format(sum(paid, Decimal(0)), "f"), "cost_unknown": False,
        }  # fmt: skip
        copy = pickle.loads(pickle.dumps(err))  # a process pool hands it back with them
        assert (copy.run_id, copy.cost_usd) == (err.run_id, err.cost_usd)

        fake_openai.queue(R.reply("not json", no_usage=True))  # billed for tokens nobody reported
        with pytest.raises(InvalidOutputError) as info:
            await svc.invoke_skill("skill.analysis", {"data": "x", "model_config": {**mc, "fallbacks": []}})
        err = info.value
        assert err.cost_usd is None and err.to_dict()["cost_unknown"] is True
        assert err.run_id == err.attempts[0].run_id and err.to_dict()["run_id"] == err.run_id


def test_the_environment_is_read_when_a_magsag_opens_as_readme_says(tmp_path: Path, monkeypatch, fake_scripts):
    # README: variables are read when a Magsag opens, not per call; env= replaces os.environ, not merged.
    import os

    for name in [k for k in os.environ if k.startswith(("MAGSAG_", "OPENAI_", "ANTHROPIC_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MAGSAG_PROVIDER", "fake")
    monkeypatch.setenv("MAGSAG_MODEL", "first")
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db") as mg:
        monkeypatch.setenv("MAGSAG_MODEL", "second")
        assert mg.skills.invoke("skill.analysis", {"data": "x"})["model"] == "first"
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db") as mg:
        assert mg.skills.invoke("skill.analysis", {"data": "x"})["model"] == "second"
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"}) as mg:
        assert mg.service.doctor()["overrides"] == {"MAGSAG_PROVIDER": "fake"}  # MAGSAG_MODEL not merged in


def test_an_agent_run_given_its_own_run_id_is_a_run_of_its_own_with_its_delegations(tmp_path: Path, fake_scripts):
    # The guide's audit trail (`magsag data query --run-id mag-abc123`) for a MAG run from Python. Before:
    # mg.runner.run_agent(..., run_id="mag-abc123") recorded mag-abc123 as delegated from the Magsag's run,
    # and its SAG's run as delegated from the Magsag's run too: querying mag-abc123 left out what its SAG
    # did, its budget showed a run limit that was not the one its calls spent, and every agent run of a
    # batch spent one run limit. A run_id given to run_agent now does what one given to skills.invoke does.
    import shutil

    from magsag_mcp.ledger import UsageFilters

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    (cat / "prices.yaml").write_text('"fake:*": {input: 1.0, output: 1.0}\n')
    env = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_PROVIDER": "fake"}
    with Magsag(catalog=cat, db=tmp_path / "l.db", env=env) as mg:
        first = mg.runner.run_agent("my-mag", {"data": "numbers"}, run_id="mag-abc123")
        mg.runner.run_agent("my-mag", {"data": "other numbers"}, run_id="mag-def456")
        runs = mg.bridge.run(lambda: mg.service.query_runs(UsageFilters.build({"run_id": "mag-abc123"})))
        budget = mg.check_budget(run_id="mag-abc123")
        session = mg.obs.current_cost()
    by_id = {r["run_id"]: r for r in runs}
    assert set(by_id) == {"mag-abc123", first["run_id"]}  # before: the SAG's run was missing
    assert by_id["mag-abc123"]["parent_run_id"] is None and by_id[first["run_id"]]["parent_run_id"] == "mag-abc123"
    run_limit = next(limit for limit in budget["limits"] if limit["limit"] == "run")
    assert run_limit["budget_run_id"] == "mag-abc123"  # before: the Magsag's run, holding both MAG runs
    spent = sum(Decimal(r["cost_usd"]) for r in runs)
    assert spent > 0 and Decimal(run_limit["spent_usd"]) == spent  # the other MAG run's spend is its own
    assert session == 0  # the Magsag's own run made no call, as with skills.invoke(..., run_id=...)


def test_a_delegations_data_class_goes_with_the_data_to_the_sags_it_delegates_to(tmp_path: Path, fake_scripts):
    # A MAG hands personal data to a SAG with context={"data_class": "pii_processing"}: the SAG's own calls are
    # confined to the class's models, and so must be those of a SAG it passes the data on to. Before: the
    # nested Delegation, naming no class, went out unconfined (here to an OpenAI route; a real key would
    # have sent the data to OpenAI). A delegation that names its own class still decides, as a call does.
    import shutil

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    (cat / "agents" / "relay-sag.yaml").write_text("id: relay-sag\nkind: sag\nentrypoint: relay_sag:run\n")
    (cat / "agents" / "relay_sag.py").write_text(
        "from magsag_mcp import Delegation\n\n"
        "def run(payload, *, registry=None, skills=None, runner=None, obs=None):\n"
        "    context = payload.get('context') or {}\n"
        "    return runner.invoke_sag(Delegation(task_id='inner', sag_id='data-analysis-sag',\n"
        "                                        input={'data': payload['data']}, context=context))\n"
    )
    policy = cat / "policies" / "model_governance.yaml"
    policy.write_text(policy.read_text().replace('["local:llama3.1:70b", "fake:*"]', '["fake:echo"]'))
    with Magsag(catalog=cat, db=tmp_path / "l.db", env={"MAGSAG_RETRY_BASE_DELAY": "0.001"}) as mg:
        confined = Delegation(
            task_id="t",
            sag_id="relay-sag",
            input={"data": "Jane Doe, 12 Elm St"},
            context={"data_class": "pii_processing"},
        )
        assert mg.runner.invoke_sag(confined)["model"] == "echo"  # the class's model: before, AllTargetsFailed
        # the nested delegation's own class is its word: financial_data allows gpt-4o, not configured here
        confined.input = {"data": "Q3 numbers", "context": {"data_class": "financial_data"}}
        with pytest.raises(Exception, match="openai:gpt-4o") as failed:
            mg.runner.invoke_sag(confined)
        assert "fake:echo" not in str(failed.value)


def test_summarize_says_what_a_filter_naming_nothing_recorded_may_have_meant(mg: Magsag):
    # Before: `mg.summarize(agent="testr")` returned zeros without a word, which read as "spent nothing",
    # while the MCP tool and the CLI said which agent was meant. Now the Python summary carries the same notes.
    mg.skills.invoke("skill.analysis", {"data": "x"})
    summary = mg.summarize(agent="testr")
    assert summary["totals"]["calls"] == 0
    assert summary["notes"] == [
        "no run in this ledger was recorded for agent 'testr' (did you mean 'tester'?); its agents: tester"
    ]
    assert mg.summarize(agent="tester")["notes"] == []


def test_a_since_in_the_future_is_said_to_select_nothing(mg: Magsag):
    # A year mistyped (2062 for 2026) selected nothing, silently: a summary of $0 that `flow gate` passes.
    mg.skills.invoke("skill.analysis", {"data": "x"})
    summary = mg.summarize(since="2062-11-01")
    assert summary["totals"]["calls"] == 0
    assert summary["notes"] == [
        "since '2062-11-01' (2062-11-01T00:00:00+00:00) is in the future, so nothing recorded can match; check the"
        " date, or give a past one (e.g. 2025-11-01) or a span back from now (24h, 7d)"
    ]
    assert mg.summarize(since="24h")["notes"] == [] and mg.summarize(since="24h")["totals"]["calls"] == 1


def test_each_usd_figure_has_the_type_the_readme_gives_it(mg: Magsag):
    # README: a result's cost_usd, explain's and check_budget's figures are exact decimal strings; an error's
    # cost_usd and obs.current_cost() a Decimal; summarize's cost_usd and obs.get_current_cost() floats. A user
    # adding results' costs as numbers got "unsupported operand type(s) for +=: 'float' and 'str'", with nothing
    # in the README saying which figure is which.
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    said = " ".join(readme.split())
    assert "a result's `cost_usd`, `explain`'s and `check_budget`'s figures are decimal strings" in said
    assert "`Decimal(result[\"cost_usd\"])`" in said
    result = mg.skills.invoke("skill.analysis", {"data": "x"})
    assert isinstance(result["cost_usd"], str) and Decimal(result["cost_usd"]) == 0
    target = mg.skills.explain("skill.analysis", {"data": "x"})["targets"][0]
    assert isinstance(target["estimated_max_cost_usd"], str)
    limit = mg.check_budget()["limits"][0]
    assert all(isinstance(limit[k], str) for k in ("limit_usd", "spent_usd", "reserved_usd", "remaining_usd"))
    usage = mg.summarize()
    assert isinstance(usage["totals"]["cost_usd"], float) and isinstance(usage["totals"]["cost_usd_exact"], str)
    assert isinstance(mg.obs.get_current_cost(), float) and isinstance(mg.obs.current_cost(), Decimal)
    script("down", *[RateLimitError("slow", status=429, retry_after=0.001)] * 3)
    with pytest.raises(RateLimitError) as info:
        mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:down"}})
    assert isinstance(info.value.cost_usd, Decimal)


def test_a_misspelt_filter_is_refused_with_the_one_meant(mg: Magsag):
    # Before: "invalid filters: sinse: unknown filter; use one of [...]", the one meant left to be found in the list.
    with pytest.raises(InputError, match=r"invalid filters: sinse: unknown filter \(did you mean 'since'\?\); use one"):
        mg.summarize(sinse="7d")
    with pytest.raises(InputError) as info:
        mg.summarize(colour="red")
    assert "did you mean" not in info.value.message


def test_the_decorators_of_the_api_keep_the_signatures_a_type_checker_sees():
    # Before: `call_scoped` was typed `(fn: Any) -> Any`, so to mypy and pyright `Service.invoke_skill` and
    # `Service.explain` were Any: `await service.invoke_skill(...)` gave an Any (no `.cost_usd`, `.model` to
    # check), and a misspelt keyword (`contxt=`) passed the check and failed at run time. A decorator on a
    # method of the API must hand back the type it was given.
    import ast
    import importlib
    import typing

    modules = ["service", "route_explanation", "api", "observer", "agent_modules", "invoke_result"]
    checked = set()
    for name in modules:
        module = importlib.import_module(f"magsag_mcp.{name}")
        tree = ast.parse(Path(module.__file__).read_text())
        for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
            for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
                if fn.name.startswith("_"):
                    continue
                for deco in fn.decorator_list:
                    if not isinstance(deco, ast.Name) or deco.id in {"classmethod", "staticmethod", "property"}:
                        continue
                    decorator = getattr(module, deco.id)
                    hints = typing.get_type_hints(decorator)
                    params = [v for k, v in hints.items() if k != "return"]
                    assert isinstance(hints.get("return"), typing.TypeVar), f"{deco.id} on {cls.name}.{fn.name}"
                    assert params == [hints["return"]], f"{deco.id} on {cls.name}.{fn.name}"
                    checked.add(deco.id)
    assert "service_call" in checked  # (exact_money and call_scoped in one since the thirty-third round)


def test_a_fake_failure_model_fails_as_its_kind_and_one_naming_no_kind_says_which_exist(mg: Magsag):
    # Before: the fake provider's `fail-<kind>` models fell back to a server error for any kind it did not know,
    # so the guide's `except RateLimitError:` tested offline with `fail-rate-limit` (or `fail-rate_limit`) never
    # ran, and nothing said why: the call failed as "scripted server_error". Now hyphens read as underscores,
    # and a kind that names none fails the call naming the kinds there are, with the one it nearly is.
    with pytest.raises(RateLimitError):
        mg.skills.invoke("skill.analysis", {"data": "x"}, context={"preferred_model": "fail-rate-limited"})
    for model in ("fail-rate-limit", "fail-rate_limit"):
        with pytest.raises(BadRequestError) as info:
            mg.skills.invoke("skill.analysis", {"data": "x"}, context={"preferred_model": model})
        assert "did you mean 'fail-rate_limited'" in str(info.value)
        assert "fail-server_error" in str(info.value) and "fail-timeout" in str(info.value)
    with pytest.raises(ServerError):
        mg.skills.invoke("skill.analysis", {"data": "x"}, context={"preferred_model": "fail-server-error"})


def test_the_readme_names_the_fake_providers_failing_models_as_they_fail():
    # the README's examples of fail-KIND models are ones the fake provider knows, each failing as that kind
    import re

    from magsag_mcp.providers.fake import _FAILURES

    readme = (CATALOG.parent / "README.md").read_text()
    named = set(re.findall(r"`fail-([a-z_]+)`", readme))
    assert {"rate_limited", "overloaded"} <= named <= set(_FAILURES)


@pytest.mark.parametrize(
    ("model", "meant"),
    [
        ("openai:gpt-4o-mni", "gpt-4o-mini"),
        ("gpt4o", "gpt-4o"),
        ("anthropic:claude-3-5-sonnet", "claude-3-5-sonnet-20241022"),
        ("openai:gpt-4o-2024-08-06", "gpt-4o"),  # a snapshot of an allowed model, which names it undated
        # "Claude 3.5 Sonnet" as OpenRouter and the vendor's pages write it, a dot for the id's dash (MAGSAG_MODEL)
        ("anthropic:claude-3.5-sonnet", "claude-3-5-sonnet-20241022"),
        ("google:gemini-1-5-pro", "gemini-1.5-pro"),  # and the other way
    ],
)
def test_a_misspelt_model_the_policy_refuses_is_told_the_allowed_model_it_nearly_is(tmp_path: Path, model, meant):
    # Before: a typo in a model name ("gpt-4o-mni") was refused with the policy's whole list and, as the first fix,
    # "add openai:gpt-4o-mni to production_models.allowed_models": the typo put in the policy, to fail at the vendor
    env = {"OPENAI_API_KEY": "sk-test-not-a-real-key-0000", "ANTHROPIC_API_KEY": "sk-ant-test-not-a-real-key-0000"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env) as mg:
        with pytest.raises(PolicyDenied) as info:
            mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": model}})
    assert f"is not in production_models.allowed_models (did you mean {meant!r}?); it allows " in str(info.value)


def test_a_model_the_policy_refuses_that_is_no_misspelling_is_offered_no_near_name(tmp_path: Path):
    env = {"OPENAI_API_KEY": "sk-test-not-a-real-key-0000"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env) as mg:
        with pytest.raises(PolicyDenied) as info:
            mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "gpt-3.5-turbo"}})
    assert "is not in production_models.allowed_models; it allows gpt-4o, " in str(info.value)


@pytest.mark.parametrize("model", ["google:gemini-1.5-flash", "openai:gpt-4o-2024-08-06-mini"])
def test_another_model_of_an_allowed_ones_family_is_no_misspelling_of_it(tmp_path: Path, model):
    # "(did you mean 'gemini-1.5-pro'?)" for gemini-1.5-flash, another model: the refusal's near name took any name
    # 60% alike, where catalog validate's takes 85% (one rule now, governance.model_patterns.nearest_model)
    env = {"OPENAI_API_KEY": "sk-test-not-a-real-key-0000", "GEMINI_API_KEY": "test-not-a-real-key-0000"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env) as mg:
        with pytest.raises(PolicyDenied) as info:
            mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": model}})
    assert "is not in production_models.allowed_models; it allows gpt-4o, " in str(info.value)


def test_explain_tells_a_misspelt_model_the_allowed_model_it_nearly_is(mg: Magsag):
    # as the call's refusal does: explain's warning that the call would fail said only that the policy forbids it
    plan = mg.skills.explain("skill.analysis", {"data": "x", "model_config": {"model": "openai:gpt-4o-mni"}})
    assert "(openai:gpt-4o-mni is not in production_models.allowed_models (did you mean 'gpt-4o-mini'?))" in (
        plan["warnings"][0]
    )
