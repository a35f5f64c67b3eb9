"""What skills.invoke makes of the options a caller's own helper forwards, and the filters summarize takes
as Python code writes them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from magsag_mcp import InputError, Magsag

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ENV = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_PROVIDER": "fake"}


@pytest.fixture
def mg(tmp_path: Path, fake_scripts: None):
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=ENV, agent="report-bot") as handle:
        yield handle


def call(skills, skill_id: str, payload: dict, *, run_id: str | None = None, agent: str | None = None) -> dict:
    """A helper of the caller's, as agent code writes one: its options default to None and are passed on."""
    return skills.invoke(skill_id, payload, run_id=run_id, agent=agent)


def test_an_option_forwarded_as_none_keeps_the_run_and_agent_the_skills_are_bound_to(mg: Magsag):
    # Before: run_id=None and agent=None were taken as given: the call went to a run of its own, outside the
    # Magsag's run (its run limit, and obs.get_current_cost(), never saw it), and under no agent (the agent's
    # daily limit never saw it either). None is "not given", as everywhere else in the API.
    result = call(mg.skills, "skill.analysis", {"data": "x"})
    assert result["run_id"] == mg.run_id
    runs = mg.bridge.run(lambda: mg.service.query_runs())
    assert [(r["run_id"], r["agent"]) for r in runs] == [(mg.run_id, "report-bot")]
    # an explicit name still wins, and "" is still the way to record no agent
    other = call(mg.skills, "skill.analysis", {"data": "x"}, run_id="run-mine", agent="")
    assert other["run_id"] == "run-mine"
    runs = {r["run_id"]: r["agent"] for r in mg.bridge.run(lambda: mg.service.query_runs())}
    assert runs == {mg.run_id: "report-bot", "run-mine": None}


def test_inside_an_agent_an_option_forwarded_as_none_keeps_the_agents_run(tmp_path: Path, fake_scripts: None):
    import shutil

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    (cat / "agents" / "helper-sag.yaml").write_text("id: helper-sag\nkind: sag\nentrypoint: helper_sag:run\n")
    (cat / "agents" / "helper_sag.py").write_text(
        "def call(skills, skill_id, payload, run_id=None, agent=None):\n"
        "    return skills.invoke(skill_id, payload, run_id=run_id, agent=agent)\n\n"
        "def run(payload, *, registry=None, skills=None, runner=None, obs=None):\n"
        "    return call(skills, 'skill.analysis', {'data': 'x'})['run_id']\n"
    )
    with Magsag(catalog=cat, db=tmp_path / "l.db", env=ENV) as handle:
        run_id = handle.runner.run_agent("helper-sag", {}, run_id="job-1")
        runs = handle.bridge.run(lambda: handle.service.query_runs())
    assert run_id == "job-1"
    assert [(r["run_id"], r["agent"]) for r in runs] == [("job-1", "helper-sag")]


def test_summarize_takes_the_times_python_code_has(mg: Magsag):
    # Before: since=datetime.now(UTC) - timedelta(days=7), the way Python code writes a time, was refused with
    # pydantic's "since.str: Input should be a valid string; since.float: Input should be a valid number",
    # which names neither what was wrong nor what would do.
    from datetime import UTC, datetime, timedelta

    from magsag_mcp import InputError

    # the times on time.time(), the clock the call is recorded on: datetime.now() is another reading of the machine's
    # clock, which a test moving time.time (to a midnight) does not move
    today = datetime.fromtimestamp(time.time(), UTC).date()
    mg.skills.invoke("skill.analysis", {"data": "x"})
    now = datetime.fromtimestamp(time.time(), UTC)
    local_now = datetime.fromtimestamp(now.timestamp())  # naive, this machine's local time
    hour = timedelta(hours=1)
    counted = {
        "an aware datetime": ({"since": now - hour}, 1),
        "one in another zone": ({"since": (now - hour).astimezone(local_now.astimezone().tzinfo)}, 1),
        "an aware datetime ahead": ({"since": now + hour}, 0),
        "a naive datetime (local, as Python reads it)": ({"since": local_now - hour}, 1),
        "a naive datetime ahead": ({"since": local_now + hour}, 0),
        "a date (a UTC day, as an ISO date is)": ({"since": today}, 1),
        "a date until": ({"until": today}, 0),
        "a timedelta": ({"since": hour}, 1),
        "a window": ({"since": now - hour, "until": now + hour}, 1),
    }
    for what, (filters, calls) in counted.items():
        assert mg.summarize(**filters)["totals"]["calls"] == calls, what
        assert asyncio_run(mg.asummarize(**filters))["totals"]["calls"] == calls, what
    with pytest.raises(InputError, match=r"since=datetime.timedelta\(days=-1\) counts back from now: give a positive"):
        mg.summarize(since=timedelta(days=-1))
    with pytest.raises(InputError, match=r"until=\[1\] is not a time: give a datetime, a date, a timedelta, "):
        mg.summarize(until=[1])


def test_a_timedelta_of_any_length_is_read_as_given_or_refused_naming_it(mg: Magsag):
    # A timedelta was written as its float's repr and read back as text: one under 0.0001 s became '1e-05s' and was
    # refused as "since='1e-05s' is not a time: give a duration ... (30m, 24h, ...)", a form the caller never wrote;
    # one past the longest duration was refused quoting '86399999913600.0s' and "use e.g. 90d", not the timedelta.
    from datetime import timedelta

    from magsag_mcp import InputError
    from magsag_mcp.ledger.filters import parse_since

    now = 1_000_000_000.0
    assert parse_since(timedelta(microseconds=10), now=now) == now - 0.00001
    assert parse_since(timedelta(days=1, microseconds=1), now=now) == now - 86400.000001
    mg.skills.invoke("skill.analysis", {"data": "x"})
    assert mg.summarize(since=timedelta(microseconds=10))["totals"]["calls"] == 0
    with pytest.raises(InputError) as refused:
        mg.summarize(since=timedelta(days=999_999_999))
    said = refused.value.message
    assert said.startswith("since=datetime.timedelta(days=999999999) is longer than any ledger (at most 1000 years)")
    assert "86399999913600" not in said and "90d" not in said


def asyncio_run(coro):
    import asyncio

    return asyncio.run(coro)


def test_delegations_of_one_task_in_many_runs_each_get_a_run_of_their_own(mg: Magsag, monkeypatch):
    # A SAG's run id is its task id and a random part. Before, that part was 32 bits: delegations of one task
    # id (the guide's "analyze-1", in every run of a batch) met again after some tens of thousands of runs,
    # and then the SAG's calls were refused ("run 'analyze-1-…' is recorded as delegated from run …") or
    # joined another run's record. Here the random source repeats its first 32 bits, as it then did.
    import uuid

    from magsag_mcp import Delegation

    ids = iter(uuid.UUID(f"0badcafe-{n:04x}-4000-8000-000000000000") for n in range(1, 100))
    monkeypatch.setattr(uuid, "uuid4", lambda: next(ids))
    delegation = Delegation(task_id="analyze-1", sag_id="data-analysis-sag", input={"data": "x"})
    first = mg.runner.run_agent("my-mag", {"data": "x"}, run_id="batch-1")
    second = mg.runner.run_agent("my-mag", {"data": "x"}, run_id="batch-2")
    third = mg.runner.invoke_sag(delegation)
    assert len({first["run_id"], second["run_id"], third["run_id"]}) == 3
    assert all(r["run_id"].startswith("analyze-1-") for r in (first, second, third))


def test_help_and_a_notebooks_completion_show_invokes_options():
    # Before: at run time invoke and ainvoke were (skill_id, payload, **options), so help(), IPython's `?` and a
    # notebook's completion showed no option at all, and the docstring named only progress.
    import inspect

    from magsag_mcp import Skills

    for method in (Skills.invoke, Skills.ainvoke):
        params = inspect.signature(method).parameters
        assert [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY] == ["agent", "run_id", "context", "progress"]
        assert all(params[n].default is None for n in ("agent", "run_id", "context", "progress"))
    assert "preferred_model" in inspect.getdoc(Skills.invoke)


def test_a_sags_own_llm_overrides_add_to_those_its_delegation_gave(tmp_path: Path, fake_scripts: None):
    # A MAG hands a SAG a cheaper model (llm_overrides in the Delegation's context); the SAG's code sets a
    # temperature of its own for one call. Before: the call's llm_overrides replaced the delegation's whole,
    # and the call went to the route's model, the MAG's choice silently dropped (a preferred_model was kept).
    import shutil

    from magsag_mcp import Delegation

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    (cat / "agents" / "tuned-sag.yaml").write_text("id: tuned-sag\nkind: sag\nentrypoint: tuned_sag:run\n")
    (cat / "agents" / "tuned_sag.py").write_text(
        "def run(payload, *, registry=None, skills=None, runner=None, obs=None):\n"
        "    context = {'llm_overrides': {'temperature': 0}}\n"
        "    plan = skills.explain('skill.analysis', {'data': 'x'}, context=context)\n"
        "    result = skills.invoke('skill.analysis', {'data': 'x'}, context=context)\n"
        "    return plan['targets'][0]['model'], result['model']\n"
    )
    given = {"llm_overrides": {"model": "fake:cheap", "max_tokens": 50}}
    with Magsag(catalog=cat, db=tmp_path / "l.db", env=ENV) as handle:
        planned, used = handle.runner.invoke_sag(Delegation("t", "tuned-sag", {}, context=given))
    assert planned == used == "cheap"


@pytest.mark.parametrize("unset", [None, ""])
def test_a_data_class_given_as_none_or_empty_text_keeps_the_class_the_data_came_with(
    tmp_path: Path, fake_scripts: None, unset: str | None
):
    # A MAG hands personal data on with context={"data_class": "pii_processing"}; the SAG passes it on to another
    # SAG, and one of its own calls, with a context its helper fills from optional arguments: data_class=None.
    # Before: that None took the class's place, and the data went out unconfined (here to an OpenAI route; a real
    # key would have sent it to OpenAI). None names no class of its own: the class the data came with stays.
    # As for None, "": a helper filling the context from a form field or an unset variable gives data_class ""
    # (and "model": "" in its llm_overrides), which routing reads as no class, no model.
    import shutil

    from magsag_mcp import Delegation

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    (cat / "agents" / "relay-sag.yaml").write_text("id: relay-sag\nkind: sag\nentrypoint: relay_sag:run\n")
    (cat / "agents" / "relay_sag.py").write_text(
        "from magsag_mcp import Delegation\n\n"
        f"def context_for(data_class={unset!r}, preferred_model={unset!r}):\n"
        "    return {'data_class': data_class, 'preferred_model': preferred_model}\n\n"
        "def run(payload, *, registry=None, skills=None, runner=None, obs=None):\n"
        "    own = skills.invoke('skill.analysis', {'data': payload['data']}, context=context_for())\n"
        "    passed = runner.invoke_sag(Delegation(task_id='inner', sag_id='data-analysis-sag',\n"
        "                                          input={'data': payload['data']}, context=context_for()))\n"
        "    return own['model'], passed['model']\n"
    )
    policy = cat / "policies" / "model_governance.yaml"
    policy.write_text(policy.read_text().replace('["local:llama3.1:70b", "fake:*"]', '["fake:echo"]'))
    with Magsag(catalog=cat, db=tmp_path / "l.db", env={"MAGSAG_RETRY_BASE_DELAY": "0.001"}) as handle:
        confined = Delegation("t", "relay-sag", {"data": "Jane Doe, 12 Elm St"}, {"data_class": "pii_processing"})
        assert handle.runner.invoke_sag(confined) == ("echo", "echo")  # the class's model for both


def _relay_catalog(tmp_path: Path, how: str, context: str, requirements: str) -> Path:
    """The shipped catalog with relay-sag, which calls skill.analysis (``how``: "call") or delegates to
    data-analysis-sag (else) with ``context`` (Python source), and its data classes' ``requirements`` in their place."""
    import shutil

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    (cat / "agents" / "relay-sag.yaml").write_text("id: relay-sag\nkind: sag\nentrypoint: relay_sag:run\n")
    (cat / "agents" / "relay_sag.py").write_text(
        "from magsag_mcp import Delegation\n\n"
        "def run(payload, *, registry=None, skills=None, runner=None, obs=None):\n"
        f"    context = {context}\n"
        f"    if {how!r} == 'call':\n"
        "        plan = skills.explain('skill.analysis', {'data': payload['data']}, context=context)\n"
        "        return skills.invoke('skill.analysis', {'data': payload['data']}, context=context)['model'], plan\n"
        "    return runner.invoke_sag(Delegation(task_id='inner', sag_id='data-analysis-sag',\n"
        "                                        input={'data': payload['data']}, context=context))['model'], None\n"
    )
    policy = cat / "policies" / "model_governance.yaml"
    text = policy.read_text()
    old = '      pii_processing: ["local:llama3.1:70b", "fake:*"]  # Local only (fake: offline, in-process)\n'
    assert old in text
    policy.write_text(text.replace(old, requirements))
    return cat


@pytest.mark.parametrize("how", ["call", "delegation"])
def test_a_data_class_of_another_name_applies_beside_the_class_the_data_came_with_not_in_its_place(
    tmp_path: Path, fake_scripts: None, how: str
):
    # A SAG given personal data under pii_processing (fake:echo alone) called a skill, or delegated it on, with
    # context={"data_class": "financial_data"}: that class took pii_processing's place, and the data went to a model
    # financial_data allows (gpt-4o; a real key would have sent it to OpenAI). Both apply: gpt-4o, the model the call
    # names, is refused by pii_processing, and nothing is sent.
    from magsag_mcp import Delegation, MagsagError

    context = "{'data_class': 'financial_data', 'preferred_model': 'gpt-4o'}"
    cat = _relay_catalog(tmp_path, how, context, '      pii_processing: ["fake:echo"]\n')
    # (OpenAI on a loopback port nothing listens on: before, the data went there, refused, not to the internet)
    env = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "OPENAI_API_KEY": "test-key-not-real"}
    env["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
    with Magsag(catalog=cat, db=tmp_path / "l.db", env=env) as handle:
        confined = Delegation("t", "relay-sag", {"data": "Jane Doe, 12 Elm St"}, {"data_class": "pii_processing"})
        with pytest.raises(MagsagError) as refused:
            handle.runner.invoke_sag(confined)
        said = str(refused.value)
        # one sentence naming both classes, each one's models and the fix (each target's refusal listed before)
        whose = "the call's context.data_class" if how == "call" else "the agent run's"
        assert (
            f"data classes 'pii_processing' (the agent run's: fake:echo only) and 'financial_data' ({whose}: gpt-4o "
            "only) allow no model in common under data_residency.requirements, so every target is refused: "
        ) in said, said
        sent = [a for run in handle.query_runs(attempts_per_run=None)["runs"] for a in run["attempts"]]
        assert sent and {a["outcome"] for a in sent} == {"policy_denied"}  # nothing sent, the refusal recorded


@pytest.mark.parametrize("how", ["call", "delegation"])
def test_a_stricter_class_named_in_a_run_confines_its_data_to_the_models_both_classes_allow(
    tmp_path: Path, fake_scripts: None, how: str
):
    # A MAG's run holds internal data (any fake model); it hands personal data on under pii_processing (fake:echo
    # alone), in a call's or a delegation's context. Refused as another class before: the data of both is held to
    # both, and goes to fake:echo, which both allow; explain, asked in the run, names both classes.
    from magsag_mcp import Delegation

    requirements = '      pii_processing: ["fake:echo"]\n      internal: ["fake:*"]\n'
    cat = _relay_catalog(tmp_path, how, "{'data_class': 'pii_processing'}", requirements)
    with Magsag(catalog=cat, db=tmp_path / "l.db", env=ENV) as handle:
        run = Delegation("t", "relay-sag", {"data": "Jane Doe, 12 Elm St"}, {"data_class": "internal"})
        model, plan = handle.runner.invoke_sag(run)
        assert model == "echo"
        if plan is not None:
            assert plan["data_classes"] == ["internal", "pii_processing"]
            assert [t["label"] for t in plan["targets"] if t["policy"]["allowed"]] == ["fake:echo"]


@pytest.mark.parametrize("how", ["call", "delegation"])
def test_classes_no_model_of_which_both_allow_are_refused_naming_each(tmp_path: Path, fake_scripts: None, how: str):
    from magsag_mcp import Delegation, MagsagError

    requirements = '      pii_processing: ["fake:echo"]\n      internal: ["fake:cheap"]\n'
    cat = _relay_catalog(tmp_path, how, "{'data_class': 'pii_processing'}", requirements)
    with Magsag(catalog=cat, db=tmp_path / "l.db", env=ENV) as handle:
        run = Delegation("t", "relay-sag", {"data": "Jane Doe, 12 Elm St"}, {"data_class": "internal"})
        with pytest.raises(MagsagError) as refused:
            handle.runner.invoke_sag(run)
        said = str(refused.value)
        # one sentence naming both classes, each one's models and the fix (each target's refusal listed before)
        whose, fix = (
            ("the call's context.data_class", "leave context.data_class out, make the call outside the agent run "
             "given 'internal'")
            if how == "call"
            else ("the agent run's", "make the call outside the agent run given 'internal' and 'pii_processing'")
        )
        assert said.endswith(
            f"data classes 'internal' (the agent run's: fake:cheap only) and 'pii_processing' ({whose}: fake:echo "
            f"only) allow no model in common under data_residency.requirements, so every target is refused: {fix}, "
            "or have the policies' owner add a model both allow to each class's requirements"
        ), said


def test_a_run_s_data_class_that_is_no_name_is_refused_before_its_agent_runs(tmp_path: Path, fake_scripts: None):
    # kept for the runs it delegates to, a list (or a number) would have gone unsaid to them
    from magsag_mcp import Delegation

    cat = _relay_catalog(tmp_path, "call", "{}", '      pii_processing: ["fake:echo"]\n')
    with Magsag(catalog=cat, db=tmp_path / "l.db", env=ENV) as handle:
        run = Delegation("t", "relay-sag", {"data": "x"}, {"data_class": ["pii_processing"]})
        with pytest.raises(
            InputError, match="data_class must be a data class name such as 'pii_processing', not a list"
        ):
            handle.runner.invoke_sag(run)


def test_a_model_given_as_empty_text_keeps_the_model_the_delegation_gave(tmp_path: Path, fake_scripts: None):
    # "model": "" names no model (docs/model-choice.md): merged over the delegation's llm_overrides it replaced the
    # model the MAG gave, with its fallbacks, and the SAG's call went to routing's models instead.
    import shutil

    from magsag_mcp import Delegation

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    (cat / "agents" / "form-sag.yaml").write_text("id: form-sag\nkind: sag\nentrypoint: form_sag:run\n")
    (cat / "agents" / "form_sag.py").write_text(
        "def run(payload, *, registry=None, skills=None, runner=None, obs=None):\n"
        "    context = {'llm_overrides': {'model': '', 'temperature': 0}, 'preferred_model': ''}\n"
        "    plan = skills.explain('skill.analysis', {'data': 'x'}, context=context)\n"
        "    return [t['label'] for t in plan['targets']]\n"
    )
    given = {"llm_overrides": {"model": "fake:cheap", "fallbacks": ["fake:spare"]}}
    with Magsag(catalog=cat, db=tmp_path / "l.db", env=ENV) as handle:
        assert handle.runner.invoke_sag(Delegation("t", "form-sag", {}, context=given)) == ["fake:cheap", "fake:spare"]


def test_a_progress_that_cannot_be_called_is_refused_before_the_call(mg: Magsag):
    # Before: progress=True (or the name of a function, "print") went into the call, which then failed at its
    # first event with Python's TypeError "'bool' object is not callable", recorded in the ledger as a failed run.
    import asyncio

    from magsag_mcp import InputError

    for bad in (True, "print"):
        with pytest.raises(InputError, match=r"progress must be a function called as progress\(event, data\)"):
            mg.skills.invoke("skill.analysis", {"data": "x"}, progress=bad)
        with pytest.raises(InputError, match=r"progress must be a function called as progress\(event, data\)"):
            asyncio.run(mg.skills.ainvoke("skill.analysis", {"data": "x"}, progress=bad))
    assert mg.bridge.run(lambda: mg.service.query_runs()) == []


def test_a_progress_that_cannot_take_an_event_and_its_data_is_refused_before_the_call(mg: Magsag):
    # Before: progress=lambda event: ... (one parameter) went into the call, which failed at its first event with a
    # bare TypeError "<lambda>() takes 1 positional argument but 2 were given", recorded as a failed run.
    import asyncio

    from magsag_mcp import InputError

    def three(event, data, extra):  # type: ignore[no-untyped-def]
        pass

    def keyword_only(event, data, *, must):  # type: ignore[no-untyped-def]
        pass

    async def none_at_all():  # type: ignore[no-untyped-def]
        pass

    for bad, named in ((lambda event: None, "<lambda>(event)"), (three, "three(event, data, extra)"),
                       (keyword_only, "keyword_only(event, data, *, must)"), (none_at_all, "none_at_all()")):
        with pytest.raises(InputError, match=r"progress must be a function called as progress\(event, data\)") as e:
            mg.skills.invoke("skill.analysis", {"data": "x"}, progress=bad)
        assert named in e.value.message and "def progress(event, data)" in e.value.message
        with pytest.raises(InputError, match=r"cannot be"):
            asyncio.run(mg.skills.ainvoke("skill.analysis", {"data": "x"}, progress=bad))
    assert mg.bridge.run(lambda: mg.service.query_runs()) == []
    # what can take them still can: *args, defaults, a bound method, a built-in
    class Seen(list[str]):
        def note(self, event: str, data: dict[str, object]) -> None:
            self.append(event)

    from magsag_mcp.invoke_options import check_progress

    seen = Seen()
    for good in (lambda *args: None, lambda event, data=None, more=1: None, seen.note, print):
        check_progress(good)
    mg.skills.invoke("skill.analysis", {"data": "x"}, progress=seen.note)
    assert seen  # (called, as given)


def test_a_sag_naming_its_own_model_leaves_the_delegations_target_keys_to_the_delegations_model(
    tmp_path: Path, fake_scripts: None
):
    # A MAG hands a SAG its model on a server of its own (provider, base_url, params, fallbacks in the
    # Delegation's llm_overrides); the SAG's code names another model for one call. Those keys belong to the
    # model it replaced, as between model_config and llm_overrides; merged key by key, the call went to
    # local:claude-3-5-sonnet-20241022 on the MAG's GPU box, with the MAG's fallbacks and params.
    import shutil

    from magsag_mcp import Delegation

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    (cat / "agents" / "own-sag.yaml").write_text("id: own-sag\nkind: sag\nentrypoint: own_sag:run\n")
    (cat / "agents" / "own_sag.py").write_text(
        "def run(payload, *, registry=None, skills=None, runner=None, obs=None):\n"
        "    own = {'llm_overrides': {'model': 'claude-3-5-sonnet-20241022', 'temperature': 0}}\n"
        "    kept = {'llm_overrides': {'model': None, 'temperature': 0}}\n"
        "    return [skills.explain('skill.analysis', {'data': 'x'}, context=c) for c in (own, kept)]\n"
    )
    given = {
        "llm_overrides": {
            "provider": "local",
            "model": "llama3.1:70b",
            "base_url": "http://gpu.internal:11434",
            "params": {"seed": 7},
            "fallbacks": ["local:llama3.1:8b"],
            "max_tokens": 50,
        }
    }
    env = {"MAGSAG_RETRY_BASE_DELAY": "0.001"}
    with Magsag(catalog=cat, db=tmp_path / "l.db", env=env) as handle:
        own, kept = handle.runner.invoke_sag(Delegation("t", "own-sag", {}, context=given))
    first = own["targets"][0]
    assert (first["provider"], first["model"]) == ("anthropic", "claude-3-5-sonnet-20241022"), first
    assert "gpu.internal" not in str(own["targets"]) and "seed" not in str(own["targets"]), own["targets"]
    assert "llama3.1:8b" not in str(own["targets"]), own["targets"]
    assert own["max_output_tokens"] == 50  # the delegation's other settings still apply
    # a model given as None is not given (as every option is): the delegation's target stays, whole
    first = kept["targets"][0]
    assert (first["provider"], first["model"]) == ("local", "llama3.1:70b"), first
    assert [t["model"] for t in kept["targets"]] == ["llama3.1:70b", "llama3.1:8b"], kept["targets"]


def test_check_budget_left_without_names_reports_the_limits_this_magsags_calls_meet(mg: Magsag):
    # Before: mg.check_budget() read the call and day limits only, though every call of this Magsag spends its
    # run's limit (mg.run_id) and its agent's daily limit: a batch whose agent had passed its limit was told
    # "ok" and then refused. None is "not given": the run and agent the Magsag's calls are recorded under.
    mg.skills.invoke("skill.analysis", {"data": "x"})
    budget = mg.check_budget()
    assert (budget["agent"], budget["run_id"]) == ("report-bot", mg.run_id)
    kinds = {lim["limit"]: lim["scope"] for lim in budget["limits"]}
    assert {"call", "run", "agent_day", "day"} <= set(kinds)
    assert mg.run_id in kinds["run"] and "report-bot" in kinds["agent_day"]
    assert asyncio_run(mg.acheck_budget()) == budget
    # a name given still wins, and "" is still the way to ask for no agent (or no run)
    other = mg.check_budget(agent="", run_id="")
    assert {lim["limit"] for lim in other["limits"]} == {"call", "day"}
    assert mg.check_budget(agent="someone")["agent"] == "someone"


def test_an_empty_time_is_refused_as_the_command_line_refuses_it(mg: Magsag):
    # Before: since="" (os.environ.get("SINCE", ""), a form's blank field) was taken as no bound: the summary
    # was of every call ever recorded, said nowhere, while an empty name (agent="") was refused, and the command
    # line's --since "" too. Now an empty or blank time is refused, saying how to read the whole ledger.
    from magsag_mcp import InputError

    mg.skills.invoke("skill.analysis", {"data": "x"})
    for filters in ({"since": ""}, {"until": " "}, {"since": "7d", "until": ""}):
        with pytest.raises(InputError, match=r"is empty: leave it out to read the whole ledger, or give 24h, 7d"):
            mg.summarize(**filters)
    with pytest.raises(InputError, match="is empty"):
        mg.bridge.run(lambda: mg.service.search_page("x", since=""))
    assert mg.summarize()["totals"]["calls"] == 1  # left out, it is every call


def test_an_agents_run_id_that_cannot_be_recorded_is_refused_before_the_agent_runs(tmp_path: Path, fake_scripts: None):
    # Before: run_agent(..., run_id=42) (or an id holding a key) ran the agent's code, with whatever it does
    # before its first call (a file written, a ticket opened), and failed only at that call, as
    # Magsag(run_id=42) and Delegation(task_id=42) are refused before anything runs.
    import shutil

    from magsag_mcp import InputError

    cat = tmp_path / "catalog"
    shutil.copytree(CATALOG, cat, ignore=shutil.ignore_patterns("__pycache__"))
    (cat / "agents" / "marking-sag.yaml").write_text("id: marking-sag\nkind: sag\nentrypoint: marking_sag:run\n")
    marks = tmp_path / "marks"
    (cat / "agents" / "marking_sag.py").write_text(
        "def run(payload, *, registry=None, skills=None, runner=None, obs=None):\n"
        f"    with open({str(marks)!r}, 'a') as marks:\n"  # (closed: left to the collector, a ResourceWarning)
        "        marks.write('ran\\n')\n"
        "    return skills.invoke('skill.analysis', {'data': 'x'})['run_id']\n"
    )
    with Magsag(catalog=cat, db=tmp_path / "l.db", env=ENV) as handle:
        for bad in (42, "sk-proj-" + "a1B2c3D4" * 6):
            with pytest.raises(InputError, match="run_id"):
                handle.runner.run_agent("marking-sag", {}, run_id=bad)
        assert not marks.exists()
        assert handle.runner.run_agent("marking-sag", {}, run_id="job-2") == "job-2"
    assert marks.read_text() == "ran\n"


def test_summarize_refuses_paging_options_it_would_ignore(mg: Magsag):
    # Before: mg.summarize(since="7d", limit=10) was taken and the limit ignored: the totals of every matching
    # call came back as if they were the ten asked for; and a mistyped filter (agnt=) was answered with a list
    # of filters naming limit, offset and cursor, which a summary does not take. summarize_usage's filters and
    # `flow summarize` take none of them.
    from magsag_mcp import InputError

    for paging in ({"limit": 10}, {"offset": 5}, {"cursor": "abc"}):
        with pytest.raises(InputError, match=f"{next(iter(paging))}: a summary counts every matching call"):
            mg.summarize(since="7d", **paging)
    with pytest.raises(InputError, match="unknown filter") as refused:
        mg.summarize(agnt="report-bot")
    assert "'agent'" in str(refused.value) and "limit" not in str(refused.value)
    assert mg.summarize(agent="report-bot")["totals"]["calls"] == 0
