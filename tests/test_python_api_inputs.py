"""The Python API's bad input: refused before anything is sent or paid or, where the call may still go through,
warned of, naming what was wrong and the fix: a misspelt context key, invoke option, filter or model, a routing
key in the wrong place, a key given as a name, arguments of the wrong type."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp import Delegation, InputError, Magsag, PayloadError, PolicyDenied

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
#: where the shipped policy's allowed_models are written, as a refusal names the file to change
ALLOWED_AT = (
    f"production_models.allowed_models, at {CATALOG / 'policies' / 'model_governance.yaml'}: policies.0.allowed_models"
)


@pytest.fixture
def mg(tmp_path: Path, fake_scripts: None):
    env = {"MAGSAG_RETRY_BASE_DELAY": "0.001", "MAGSAG_PROVIDER": "fake"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env, agent="tester") as handle:
        yield handle


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
        fix = f"write it {meant!r} and run explain again"
        if isinstance(context[key], list):  # a list for a key that takes one value: written under it, it was refused
            fix = "preferred_model names one model: write 'preferred_model': 'fake:other', and run explain again"
        assert refused.value.message == f"{said}; the route was not explained: the key would have chosen it; {fix}"
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


@pytest.mark.parametrize(
    "context", [{"cache": 3600}, {"cache": {"ttl": "1h"}}, {"ttl": 3600}, {"ttl": "30m"}, {"Cache": True}]
)
def test_the_answer_caches_setting_under_another_name_is_said_to_go_unread(mg: Magsag, context: dict):
    # A route's `cache: {ttl: 1h}` written in a call's context (or its ttl alone) is a caller's own key to magsag, too
    # far from 'cache_ttl' for difflib's closeness: the call was neither answered from the cache nor stored in it, and
    # paid for again each time, without a word. (Not "the cache was left alone": a route's cache still applies.)
    result = mg.skills.invoke("skill.analysis", {"data": "x"}, context=context)
    (key,) = context
    assert result["warnings"] == [
        f"context key {key!r} is not one magsag reads, and was not applied: a call's answer cache is "
        "context['cache_ttl'], in seconds (3600 for an hour, 0 for none; a route's cache: {ttl: 1h} is the routing "
        "catalog's)"
    ]


@pytest.mark.parametrize(
    "context", [{"cache": {"documents": ["a.pdf"], "hits": 3}}, {"ttl": "session-7"}, {"cache": None}]
)
def test_a_context_key_of_the_callers_own_named_cache_is_no_warning(mg: Magsag, context: dict):
    # A delegation's context carries what its agents pass on: a 'cache' of their documents, a session's 'ttl' word,
    # hold no cache setting, and were warned of on every call as if they were the answer cache's
    result = mg.skills.invoke("skill.analysis", {"data": "x"}, context=context)
    assert result["warnings"] == []


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


def test_a_misspelt_filter_is_refused_with_the_one_meant(mg: Magsag):
    # Before: "invalid filters: sinse: unknown filter; use one of [...]", the one meant left to be found in the list.
    with pytest.raises(InputError, match=r"invalid filters: sinse: unknown filter \(did you mean 'since'\?\); use one"):
        mg.summarize(sinse="7d")
    with pytest.raises(InputError) as info:
        mg.summarize(colour="red")
    assert "did you mean" not in info.value.message


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
    # the model it nearly is said next to it, not after the file's path (where it read as the path's)
    assert f"{model} (did you mean {meant!r}?) is not in {ALLOWED_AT}; it allows " in str(info.value)


def test_a_model_the_policy_refuses_that_is_no_misspelling_is_offered_no_near_name(tmp_path: Path):
    env = {"OPENAI_API_KEY": "sk-test-not-a-real-key-0000"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env) as mg:
        with pytest.raises(PolicyDenied) as info:
            mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "gpt-3.5-turbo"}})
    assert f"is not in {ALLOWED_AT}; it allows gpt-4o, " in str(info.value)


@pytest.mark.parametrize("model", ["google:gemini-1.5-flash", "openai:gpt-4o-2024-08-06-mini"])
def test_another_model_of_an_allowed_ones_family_is_no_misspelling_of_it(tmp_path: Path, model):
    # "(did you mean 'gemini-1.5-pro'?)" for gemini-1.5-flash, another model: the refusal's near name took any name
    # 60% alike, where catalog validate's takes 85% (one rule now, governance.model_patterns.nearest_model)
    env = {"OPENAI_API_KEY": "sk-test-not-a-real-key-0000", "GEMINI_API_KEY": "test-not-a-real-key-0000"}
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env=env) as mg:
        with pytest.raises(PolicyDenied) as info:
            mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": model}})
    assert f"is not in {ALLOWED_AT}; it allows gpt-4o, " in str(info.value)


def test_explain_tells_a_misspelt_model_the_allowed_model_it_nearly_is(mg: Magsag):
    # as the call's refusal does: explain's warning that the call would fail said only that the policy forbids it
    plan = mg.skills.explain("skill.analysis", {"data": "x", "model_config": {"model": "openai:gpt-4o-mni"}})
    assert f"(openai:gpt-4o-mni (did you mean 'gpt-4o-mini'?) is not in {ALLOWED_AT})" in (plan["warnings"][0])


@pytest.mark.parametrize("value", [float("nan"), [1.0, float("inf")], {"low": float("-inf")}])
def test_a_payload_field_holding_nan_or_an_infinity_is_refused_not_written_into_the_prompt(mg: Magsag, value):
    # json.dumps wrote a float NaN (a pandas value, an MCP client's JSON with NaN, which the SDK's parser takes)
    # into the prompt as NaN, which no JSON has: the model was asked to read it, and the call paid for
    with pytest.raises(PayloadError, match=r"payload field 'data' holds NaN or an infinity, which JSON has no value"):
        mg.skills.invoke("skill.analysis", {"data": value, "model_config": {"model": "fake:echo"}})
    [run] = mg.bridge.run(lambda: mg.service.query_runs())
    assert run["status"] == "error" and run["error"]["type"] == "invalid_payload"  # the refused call is recorded
    assert all(a["outcome"] != "ok" for a in run["attempts"])  # nothing was sent


def test_an_env_value_that_is_not_text_is_refused_naming_its_variable_and_not_its_value(tmp_path: Path):
    # `Magsag(env={"MAGSAG_CALL_DEADLINE": 60})`, or a key read from a config file as a number. Before: a number went
    # through the settings read with float() and a key's crashed the open with AttributeError: 'int' object has no
    # attribute 'strip' (from the redaction of secrets), no MagsagError, nor which variable it was. Now a ConfigError
    # names the variable and the fix, and not the value (a key's); nothing is made. None is a variable left unset.
    import asyncio

    from magsag_mcp import ConfigError, Service

    db = tmp_path / "l.db"
    for name, value in (("OPENAI_API_KEY", 1234567890123), ("MAGSAG_CALL_DEADLINE", 60), ("MAGSAG_PROVIDER", b"fake")):
        with pytest.raises(ConfigError) as info:
            Magsag(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake", name: value})  # type: ignore[dict-item]
        assert info.value.message.startswith(f"env[{name!r}] is of type {type(value).__name__}, not text")
        assert f"env={{{name!r}: str(value)}}" in info.value.message and str(value) not in info.value.message
        assert not db.exists()
    with pytest.raises(ConfigError, match=r"^env\['OPENAI_API_KEY'\] is of type int, not text"):
        asyncio.run(Service.open(catalog=CATALOG, db=db, env={"OPENAI_API_KEY": 5}))  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match=r"^env is a list, not a mapping of variable names to values"):
        Magsag(catalog=CATALOG, db=db, env=["MAGSAG_PROVIDER=fake"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^env has a key 3 of type int: an environment variable's name is text"):
        Magsag(catalog=CATALOG, db=db, env={3: "x"})  # type: ignore[dict-item]
    assert not db.exists()
    # None leaves the variable unset, as os.getenv() gives it for one that is not
    with Magsag(catalog=CATALOG, db=db, env={"MAGSAG_PROVIDER": "fake", "MAGSAG_MODEL": None}) as mg:  # type: ignore[dict-item]
        assert "MAGSAG_MODEL" not in mg.service.env
        answered = mg.skills.invoke("skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}})
        assert answered["model"] == "echo"


class _Point:  # (no __str__ of its own: its text is its repr, a class name and an address)
    def __init__(self, x: int) -> None:
        self.x = x


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (b"\x89PNG", r"holds bytes, which has no text .* decode it \(value.decode\('utf-8'\)\), or give it base64"),
        ({"rows": [1, bytearray(b"x")]}, r"holds bytearray at data/rows/1, which has no text"),
        ({1, 2}, r"holds a set, which has no text .* give it as a list"),
        ([_Point(1)], r"holds a _Point object at data/0, which has no text .* give it as JSON-like data"),
    ],
)
def test_a_payload_value_with_no_text_for_the_model_is_refused_naming_where_and_its_type(mg: Magsag, value, said):
    # Before: sent as str(value), the model read b'\x89PNG', {1, 2} or <..._Point object at 0x7f...>, and the call
    # was paid for
    with pytest.raises(PayloadError, match=r"skill.analysis: payload field 'data' " + said):
        mg.skills.invoke("skill.analysis", {"data": value, "model_config": {"model": "fake:echo"}})
    [run] = mg.bridge.run(lambda: mg.service.query_runs())
    assert run["status"] == "error" and run["error"]["type"] == "invalid_payload"  # the refused call is recorded
    assert all(a["outcome"] != "ok" for a in run["attempts"])  # nothing was sent


def test_a_payload_value_with_text_or_fields_of_its_own_is_written_as_those(mg: Magsag):
    # what a demanding caller hands in from Python: a dataclass or a pydantic model as its fields, an enum as its
    # value, a date, a Decimal, a UUID or a path as its text (before: a dataclass's and an enum's Python repr)
    import dataclasses
    import datetime
    import enum
    import json
    import uuid
    from decimal import Decimal

    from pydantic import BaseModel

    @dataclasses.dataclass
    class Row:
        day: datetime.date
        amount: Decimal

    class Kind(enum.Enum):
        SALE = "sale"

    class Order(BaseModel):
        id: uuid.UUID
        kind: str

    data = {
        "where": Path("/srv/in.csv"),
        "row": Row(datetime.date(2026, 1, 2), Decimal("1.10")),
        "kind": Kind.SALE,
        "order": Order(id=uuid.UUID(int=1), kind="x"),
    }
    result = mg.skills.invoke("skill.analysis", {"data": data, "model_config": {"model": "fake:echo"}})
    sent = result["output"]  # (fake:echo answers with the prompt it was sent, its first 200 characters)
    assert json.dumps(data["row"].__dict__ | {"day": "2026-01-02", "amount": "1.10"}) in sent, sent
    assert '"kind": "sale", "order": {"id": "00000000-0000-' in sent, sent
    assert '"where": "/srv/in.csv"' in sent and "Row(" not in sent and "Kind." not in sent, sent


def test_a_bad_catalog_or_db_from_python_is_told_by_its_argument_and_on_the_command_line_by_its_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    # Before: Magsag(catalog="nope") said "--catalog points at 'nope'", and a db= naming a folder "give a file's
    # path with --db / MAGSAG_DB": flags a Python caller never passed
    from magsag_mcp import ConfigError, LedgerError
    from magsag_mcp.cli import main

    missing = tmp_path / "nope"
    with pytest.raises(ConfigError) as refused:
        Magsag(catalog=missing, db=tmp_path / "l.db", env={})
    assert refused.value.message.startswith(f"catalog= points at {str(missing)!r}"), refused.value.message
    with pytest.raises(LedgerError) as refused_db:
        Magsag(catalog=CATALOG, db=tmp_path, env={}).skills.invoke(
            "skill.analysis", {"data": "x", "model_config": {"model": "fake:echo"}}
        )
    assert "db= (or MAGSAG_DB)" in refused_db.value.message and "--db" not in refused_db.value.message
    # the command line still names its flags, and leaves Python's naming as it was
    call = ["invoke", "skill.analysis", "--payload", '{"data": "x", "model_config": {"model": "fake:echo"}}']
    assert main([*call, "--catalog", str(missing), "--db", str(tmp_path / "l.db")]) != 0
    assert f"--catalog points at {str(missing)!r}" in capsys.readouterr().err
    assert main([*call, "--catalog", str(CATALOG), "--db", str(tmp_path)]) != 0
    assert "--db / MAGSAG_DB" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"^catalog= points at"):
        Magsag(catalog=missing, db=tmp_path / "l.db", env={})
