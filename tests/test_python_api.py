"""The guide's Python API: Magsag, skills.invoke, runner.invoke_sag(Delegation), obs.log, RateLimitError.

Here: what a call returns, delegation, explain, what the package exports and how a type checker and a REPL see
it, and the fake provider's failing models. Bad input refused before anything is sent is in
test_python_api_inputs.py, costs and what summarize says in test_python_api_costs.py, a Magsag's own event loop
(async forms, closing, a forked process) in test_python_api_loop.py."""

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
    MagsagError,
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


def test_the_environment_is_read_when_a_magsag_opens_as_documented(tmp_path: Path, monkeypatch, fake_scripts):
    # docs/configuration.md: variables are read when a Magsag opens, not per call; env= replaces os.environ, not merged.
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
    # have sent the data to OpenAI). A delegation naming another class adds it: both apply, never one in the other's
    # place.
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
        # a nested delegation naming another class does not replace the class the data came with: financial_data
        # (gpt-4o) in pii_processing's place took the personal data past the models pii_processing confines it to.
        # Both apply, and no model is allowed by both: refused in one sentence naming each class with the models it
        # allows, and what to do
        confined.input = {"data": "Jane Doe, 12 Elm St", "context": {"data_class": "financial_data"}}
        with pytest.raises(MagsagError) as refused:
            mg.runner.invoke_sag(confined)
        said = str(refused.value)
        assert (
            "data classes 'pii_processing' (the agent run's: fake:echo only) and 'financial_data' (the agent run's: "
            "gpt-4o only) allow no model in common under data_residency.requirements, so every target is refused: "
            "make the call outside the agent run given 'pii_processing' and 'financial_data', or have the policies' "
            "owner add a model both allow to each class's requirements"
        ) in said, said


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


def test_the_docs_name_the_fake_providers_failing_models_as_they_fail():
    # the docs' examples of fail-KIND models (docs/model-choice.md's; every page is read) are ones the fake provider
    # knows, each failing as that kind
    import re

    from magsag_mcp.providers.fake import _FAILURES
    from tests.docs_helpers import ALL_DOCS

    named = set(re.findall(r"`fail-([a-z_]+)`", ALL_DOCS))
    assert {"rate_limited", "overloaded"} <= named <= set(_FAILURES)


def test_help_on_every_public_class_and_entry_point_says_what_it_is():
    # `help(magsag_mcp.PolicyDenied)` showed only its base's "Base of every error magsag-mcp raises on purpose." (so
    # did 22 of the errors the docs say to catch), and `help(mg.obs.get_current_cost)`, `help(obs.log)` and
    # `help(runner.invoke_sag)`, the guide's own calls, nothing at all. Each now has a docstring of its own.
    import inspect

    import magsag_mcp

    unsaid = []
    for name in magsag_mcp.__all__:
        value = getattr(magsag_mcp, name)
        if not inspect.isclass(value):
            continue
        if not (value.__dict__.get("__doc__") or "").strip():
            unsaid.append(name)
        if name in {"Magsag", "Skills", "Runner", "Observer", "Registry", "Service"}:
            for cls in inspect.getmro(value):
                if cls.__module__.startswith("magsag_mcp"):
                    for attr, method in vars(cls).items():
                        if not attr.startswith("_") and inspect.isfunction(method) and not method.__doc__:
                            unsaid.append(f"{name}.{attr}")
    assert unsaid == []
    # `help(Service)`, which docs/python.md sends async code to, showed no word on plan, log_event, query_runs,
    # search, run_cost and run_spend, and began invoke_skill's with its two internal options: not what it does,
    # returns or raises
    said = inspect.getdoc(magsag_mcp.Service.invoke_skill) or ""
    assert said.startswith("Call the skill ``skill_id`` with ``payload``"), said[:80]
    assert "InvokeResult" in said and "MagsagError" in said
