"""Checking a JSON answer against its schema: compiled once by the schema's owner, and a schema that
cannot be applied reported as the caller's error."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from magsag_mcp import InputError, Magsag
from magsag_mcp.catalog import load_catalog
from magsag_mcp.errors import InvalidOutputError, PayloadError
from magsag_mcp.providers import json_output as base
from magsag_mcp.providers.fake import FakeProvider, script
from magsag_mcp.routing import plan_call
from magsag_mcp.targets import parse_target
from magsag_mcp.transport import Transport
from magsag_mcp.types import Target

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
pytestmark = pytest.mark.usefixtures("fake_scripts")
SCHEMA = "{type: object, required: [total], properties: {total: {type: number}}}"


@pytest.fixture
def catalog(tmp_path: Path):
    (tmp_path / "skills").mkdir()
    (tmp_path / "routing").mkdir()
    (tmp_path / "skills" / "sum.yaml").write_text(
        f"id: skill.sum\ndescription: d\ntask_type: sum\nprompt: {{user: '{{text}}'}}\n"
        f"output:\n  type: json\n  schema: {SCHEMA}\n"
    )
    (tmp_path / "routing" / "r.yaml").write_text("default: [fake:a]\n")
    return load_catalog(tmp_path, env={})


def no_compiling(schema):
    pytest.fail(f"compiled per call: {schema!r}")


@pytest.mark.anyio
async def test_the_skills_own_validator_checks_the_answer(catalog, monkeypatch: pytest.MonkeyPatch):
    skill = catalog.skill("skill.sum")
    plan = plan_call(catalog, "skill.sum", {"text": "1+2"}, context=None, env={})
    assert plan.request.json_validator is skill.output_validator
    with_params = parse_target({"provider": "fake", "model": "a", "params": {"seed": 1}})
    assert plan.request_for(with_params).json_validator is skill.output_validator

    monkeypatch.setattr(base, "_compiled", no_compiling)
    provider = FakeProvider({}, Transport())
    script("a", '{"total": 3}', '{"total": "three"}')
    assert (await provider.complete(plan.request, Target("fake", "a"))).parsed == {"total": 3}
    with pytest.raises(InvalidOutputError, match=r"does not match the requested schema: at \$\.total: 'three' is not"):
        await provider.complete(plan.request, Target("fake", "a"))


@pytest.mark.anyio
async def test_a_validator_left_over_from_another_schema_is_not_used(catalog):
    plan = plan_call(catalog, "skill.sum", {"text": "1+2"}, context=None, env={})
    other = replace(plan.request, json_schema={"type": "object", "required": ["count"]})
    assert other.json_validator is plan.request.json_validator  # replace() carries it over
    script("a", '{"total": 3}')
    with pytest.raises(InvalidOutputError, match="'count' is a required property"):
        await FakeProvider({}, Transport()).complete(other, Target("fake", "a"))


def test_a_calls_own_schema_is_compiled_once_for_its_content(catalog):
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    mc = {"response_format": {"type": "json_schema", "json_schema": {"name": "t", "schema": schema}}}
    plan = plan_call(catalog, "skill.sum", {"text": "x", "model_config": mc}, context=None, env={})
    assert plan.request.json_schema is schema
    assert plan.request.json_validator is None  # the skill's validator would check the skill's schema
    # A caller's schema arrives as a new dict on every call: equal content finds the same validator.
    assert base._compiled(dict(schema)) is base._compiled(dict(schema))


def test_a_callers_schema_with_a_dangling_ref_is_refused_before_any_target_is_paid(tmp_path: Path):
    # check_schema accepts a dangling $ref, which would fail only once validation reaches it, after a
    # model was paid to answer; the plan refuses it with the check the catalog's own schemas pass.
    schema = {"type": "object", "properties": {"total": {"$ref": "#/$defs/amount"}}}
    script("a", '{"total": 3}')
    script("b", '{"total": 4}')
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={}, agent="tester") as mg:
        mc = {
            "model": "fake:a",
            "fallbacks": ["fake:b"],
            "response_format": {"type": "json_schema", "json_schema": {"name": "t", "schema": schema}},
        }
        with pytest.raises(InputError) as info:
            mg.skills.invoke("skill.analysis", {"data": "x", "model_config": mc})
        usage = mg.summarize()
    exc = info.value
    assert isinstance(exc, PayloadError) and exc.kind == "invalid_payload"
    assert exc.message == (
        "model_config.response_format.json_schema.schema: $ref '#/$defs/amount' points at nothing in the schema; "
        "define what it names (e.g. under $defs) or correct the $ref"
    )
    from magsag_mcp.providers.fake import _SCRIPTS

    assert list(_SCRIPTS["a"]) == ['{"total": 3}'] and list(_SCRIPTS["b"]) == ['{"total": 4}']  # nothing was paid
    assert usage["totals"]["calls"] == 0, usage


@pytest.mark.anyio
async def test_a_schema_that_cannot_be_applied_is_the_callers_error_at_the_provider(catalog):
    # A request built without the plan (a provider called directly) still gets a clear PayloadError, not
    # a validator's traceback.
    schema = {"type": "object", "properties": {"total": {"$ref": "#/$defs/amount"}}}
    plan = plan_call(catalog, "skill.sum", {"text": "1+2"}, context=None, env={})
    request = replace(plan.request, json_schema=schema)
    script("a", '{"total": 3}')
    with pytest.raises(PayloadError) as info:
        await FakeProvider({}, Transport()).complete(request, Target("fake", "a"))
    assert info.value.message.startswith(
        "the requested JSON schema cannot be applied (PointerToNowhere: '/$defs/amount' does not exist within"
    )
    assert info.value.message.endswith(
        "; point each $ref at a schema it can reach, e.g. '#/$defs/name' with name under $defs"
    )
    # found once the answer was in: the error carries what the vendor reported, for the cascade to record
    assert (info.value.usage.input_tokens, info.value.usage.output_tokens) == (1, 3)


def test_a_callers_schema_with_a_remote_ref_is_refused_and_never_fetched(tmp_path: Path, monkeypatch):
    # jsonschema's default registry would fetch this URL when validation reached it, after a model was
    # paid: the plan refuses the schema instead, and nothing is ever fetched.
    import urllib.request

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("a schema $ref was fetched"))
    schema = {"type": "object", "properties": {"total": {"$ref": "https://example.invalid/amount.json"}}}
    script("a", '{"total": 3}')
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={}, agent="tester") as mg:
        rf = {"type": "json_schema", "json_schema": {"name": "t", "schema": schema}}
        mc = {"model": "fake:a", "response_format": rf}
        with pytest.raises(PayloadError) as info:
            mg.skills.invoke("skill.analysis", {"data": "x", "model_config": mc})
        usage = mg.summarize()
    assert info.value.message == (
        "model_config.response_format.json_schema.schema: $ref 'https://example.invalid/amount.json' is not in "
        "the schema, and schemas are never fetched from elsewhere; copy what it names under $defs and point "
        "the $ref at '#/$defs/<name>'"
    )
    from magsag_mcp.providers.fake import _SCRIPTS

    assert list(_SCRIPTS["a"]) == ['{"total": 3}'] and usage["totals"]["calls"] == 0


def test_a_ref_into_a_place_that_refs_elsewhere_is_refused_before_any_target_is_paid(tmp_path: Path):
    # "#/x-lib/a" resolves, but what it resolves to names a remote schema, which validation would
    # follow once the model had answered: the check follows it first.
    schema = {
        "type": "object",
        "x-lib": {"a": {"$ref": "https://example.invalid/amount.json"}},
        "properties": {"total": {"$ref": "#/x-lib/a"}},
    }
    script("a", '{"total": 3}')
    with Magsag(catalog=CATALOG, db=tmp_path / "l.db", env={}, agent="tester") as mg:
        rf = {"type": "json_schema", "json_schema": {"name": "t", "schema": schema}}
        with pytest.raises(PayloadError, match=r"\$ref 'https://example.invalid/amount.json' is not in the schema"):
            mg.skills.invoke(
                "skill.analysis", {"data": "x", "model_config": {"model": "fake:a", "response_format": rf}}
            )
        usage = mg.summarize()
    from magsag_mcp.providers.fake import _SCRIPTS

    assert list(_SCRIPTS["a"]) == ['{"total": 3}'] and usage["totals"]["calls"] == 0


def test_a_ref_that_is_no_pointer_is_a_problem_not_a_crash():
    from magsag_mcp.skills import schema_problem

    schema = {"prefixItems": [{"type": "string"}], "items": {"$ref": "#/prefixItems/-"}}
    assert schema_problem(schema) == (
        "$ref '#/prefixItems/-' points at nothing in the schema; define what it names (e.g. under $defs) "
        "or correct the $ref"
    )
    # validation would fail on these once it reached them ('str' object has no attribute 'items')
    for note in ("a string", 5, ["a", "list"]):
        assert schema_problem({"x-note": note, "properties": {"a": {"$ref": "#/x-note"}}}) == (
            "$ref '#/x-note' points at a value that is not a schema (an object, true or false); point it at one"
        )
    assert schema_problem({"x-any": True, "properties": {"a": {"$ref": "#/x-any"}}}) is None


def test_validators_never_fetch_a_schema(monkeypatch):
    import urllib.request

    from referencing.exceptions import Unresolvable

    from magsag_mcp.skills import compile_validator

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("a schema $ref was fetched"))
    validator = compile_validator({"properties": {"a": {"$ref": "https://example.invalid/a.json"}}})
    with pytest.raises(Unresolvable):
        validator.is_valid({"a": 1})


def test_a_schema_is_checked_once_for_its_content(monkeypatch):
    import jsonschema

    from magsag_mcp import skill_schemas, skills

    monkeypatch.setattr(skill_schemas, "_PROBLEMS", {})  # other tests may have checked these schemas already
    checked = []
    real = jsonschema.Draft202012Validator.check_schema
    monkeypatch.setattr(
        jsonschema.Draft202012Validator, "check_schema", classmethod(lambda cls, s: checked.append(s) or real(s))
    )
    schema = {"type": "object", "properties": {"n": {"type": "integer", "description": "checked once"}}}
    assert skills.schema_problem(dict(schema)) is None and skills.schema_problem(dict(schema)) is None
    bad = {"type": "objekt"}
    assert skills.schema_problem(dict(bad)) == skills.schema_problem(dict(bad)) is not None
    assert checked == [schema, bad]  # a new dict with the same content is not checked again
    mixed = {"properties": {1: {"type": "string"}, "a": {"type": "integer"}}}  # YAML allows such keys
    assert skills.schema_problem(mixed) is None and checked[-1] is mixed  # checked, just not cached


def test_refs_that_resolve_inside_the_schema_or_to_a_metaschema_are_accepted():
    from magsag_mcp.skills import compile_validator, schema_problem

    anchored = {"$dynamicAnchor": "node", "properties": {"next": {"$dynamicRef": "#node"}}}
    nested_id = {
        "$id": "https://example.com/root.json",
        "$defs": {"item": {"$id": "item.json", "type": "string"}},
        "properties": {"a": {"$ref": "item.json"}},
    }
    meta = {"properties": {"schema": {"$ref": "https://json-schema.org/draft/2020-12/schema"}}}
    for schema in (anchored, nested_id, meta):
        assert schema_problem(schema) is None, schema
    assert [e.message for e in compile_validator(nested_id).iter_errors({"a": 1})] == ["1 is not of type 'string'"]
    assert not compile_validator(meta).is_valid({"schema": {"type": "nonsense"}})
    assert schema_problem({"$dynamicRef": "#nowhere"}) == (
        "$dynamicRef '#nowhere' points at nothing in the schema; define what it names (e.g. under $defs) "
        "or correct the $dynamicRef"
    )


def test_a_skill_whose_schema_names_a_remote_ref_does_not_load(tmp_path: Path):
    from magsag_mcp.errors import CatalogError

    (tmp_path / "skills").mkdir()
    (tmp_path / "routing").mkdir()
    (tmp_path / "skills" / "s.yaml").write_text(
        "id: skill.s\ndescription: d\ntask_type: s\nprompt: {user: '{text}'}\n"
        "output:\n  type: json\n  schema: {properties: {a: {$ref: 'https://example.invalid/a.json'}}}\n"
    )
    (tmp_path / "routing" / "r.yaml").write_text("default: [fake:a]\n")
    with pytest.raises(CatalogError) as info:
        load_catalog(tmp_path, env={})
    assert "$ref 'https://example.invalid/a.json' is not in the schema" in str(info.value.problems)


def test_an_answer_paid_for_before_the_callers_error_surfaced_is_recorded(tmp_path: Path, monkeypatch):
    # Should a schema ever pass the plan's check yet fail once validation reaches it, the vendor has
    # answered (and billed) by then: the caller gets the PayloadError, and the ledger gets the attempt
    # at its cost, with its reservation settled rather than left held.
    from magsag_mcp import call_request

    monkeypatch.setattr(call_request, "schema_problem", lambda schema: None)
    policy = tmp_path / "catalog"
    import shutil

    shutil.copytree(CATALOG, policy)
    (policy / "policies" / "limits.yaml").write_text(
        "policies:\n  - name: limits\n    thresholds: {max_cost_per_call_usd: 5, max_cost_per_run_usd: 100}\n"
    )
    with (policy / "prices.yaml").open("a") as prices:
        prices.write('\n"fake:a": {input: 2.5, output: 10}\n')
    schema = {"type": "object", "properties": {"total": {"$ref": "#/$defs/amount"}}}
    script("a", '{"total": 3}')
    with Magsag(catalog=policy, db=tmp_path / "l.db", env={}, agent="tester") as mg:
        rf = {"type": "json_schema", "json_schema": {"name": "t", "schema": schema}}
        mc = {"model": "fake:a", "response_format": rf}
        with pytest.raises(PayloadError, match="the requested JSON schema cannot be applied"):
            mg.skills.invoke("skill.analysis", {"data": "x", "model_config": mc}, run_id="r-1")
        from magsag_mcp.ledger import UsageFilters

        runs = mg.bridge.run(lambda: mg.service.query_runs(UsageFilters(run_id="r-1")))
        budget = mg.check_budget(run_id="r-1")
    [run] = runs
    [attempt] = run["attempts"]
    assert (run["status"], attempt["outcome"], attempt["error_class"]) == ("error", "error", "invalid_payload")
    # 31 input tokens at $2.50/M and 3 output tokens at $10/M, as the fake provider reported them
    assert (attempt["input_tokens"], attempt["output_tokens"]) == (31, 3)
    assert attempt["cost_usd"] == run["cost_usd"] == "0.0001075" and attempt["price_source"] == "catalog:prices.yaml"
    run_limit = next(lim for lim in budget["limits"] if lim["policy"] == "limits" and lim["limit"] == "run")
    assert (run_limit["spent_usd"], run_limit["reserved_usd"]) == ("0.0001075", "0")
    assert mg.service.governance._running == 0  # the attempt was settled, not left counted as in flight


@pytest.mark.parametrize(
    ("schema", "answer", "problems"),
    [
        ({"properties": {"s": {"type": "string", "pattern": "^(a+)+$"}}}, {"s": "a" * 26 + "!"}, 1),
        ({"patternProperties": {"^(a+)+$": {"type": "number"}}}, {"a" * 26 + "!": "x"}, 0),  # no name matches
        ({"patternProperties": {"^(a+)+$": {}}, "additionalProperties": False}, {"a" * 26 + "!": 1}, 1),
    ],
)
def test_a_schemas_patterns_are_matched_in_linear_time(
    schema: dict, answer: dict, problems: int, monkeypatch: pytest.MonkeyPatch
):
    # A caller's response_format schema is checked against the answer (which a caller can steer, or write
    # itself on a keyless local server it names) inside the event loop: Python's backtracking re took
    # 6 s on these 27 characters, 2 minutes on 30, and the whole server stood still meanwhile. jsonschema
    # matches with re.search; here it may not: every pattern goes through RE2, linear in the text.
    import re

    from magsag_mcp.skills import compile_validator

    def backtracking(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a schema pattern was matched with Python's backtracking re: {args[:2]!r}")

    monkeypatch.setattr(re, "search", backtracking)
    errors = list(compile_validator(schema).iter_errors(answer))
    assert len(errors) == problems


@pytest.mark.parametrize(
    "schema",
    [
        {"properties": {"s": {"type": "string", "pattern": "^(?=a)a+$"}}},
        {"patternProperties": {"(x)\\1": {}}},
        {"patternProperties": {"^a": {}}, "unevaluatedProperties": False},
    ],
)
def test_a_pattern_that_cannot_be_matched_in_linear_time_is_refused_before_any_call(schema: dict):
    from magsag_mcp.skills import schema_problem

    problem = schema_problem(schema)
    assert problem is not None and "linear time" in problem


@pytest.mark.parametrize(
    "answer",
    [
        '{"total": NaN}',
        '{"total": Infinity}',
        '{"total": -Infinity}',
        '{"total": 1e999}',
        '{"total": 1' + "0" * 5000 + "}",
        "[" * 100_000,  # a looping model: a RecursionError, reported as an unexpected error with a traceback
        '{"total": 3, "note": "an emoji cut in two: \\ud83d"}',  # passed, and could not be written as UTF-8
    ],
    ids=["nan", "inf", "-inf", "1e999", "5001-digits", "deep", "half-surrogate"],
)
def test_an_answer_with_a_number_json_has_not_is_invalid_and_the_cascade_moves_on(tmp_path: Path, answer: str):
    # Python's json.loads takes NaN, Infinity and -Infinity (and reads 1e999 as infinity): such an answer
    # passed as valid, passed {type: number} too, and reached an MCP client as null. A 5,000-digit integer
    # raised a bare ValueError, which the invalid-JSON message could not describe (an AttributeError).
    # Each is now invalid JSON, billed and recorded as such, and the next target answers.
    (tmp_path / "skills").mkdir()
    (tmp_path / "routing").mkdir()
    (tmp_path / "skills" / "sum.yaml").write_text(
        f"id: skill.sum\ndescription: d\ntask_type: sum\nprompt: {{user: '{{text}}'}}\n"
        f"output:\n  type: json\n  schema: {SCHEMA}\n"
    )
    (tmp_path / "routing" / "r.yaml").write_text("default: [fake:a, fake:b]\n")
    script("a", answer)
    script("b", '{"total": 3}')
    with Magsag(catalog=tmp_path, db=tmp_path / "l.db", env={}) as mg:
        result = mg.bridge.run(lambda: mg.service.invoke_skill("skill.sum", {"text": "1+2"}))
    first, second = result.attempts
    assert (first.model, first.outcome, first.error_class) == ("a", "error", "invalid_output")
    assert "returned invalid JSON (" in first.error_message
    assert (second.model, result.output) == ("b", {"total": 3})


def test_strict_json_says_what_and_where():
    from magsag_mcp.strict_json import loads

    with pytest.raises(ValueError, match="NaN is not JSON") as info:
        loads('{"s": "NaN", "n": NaN}')
    assert info.value.pos == 18  # the second NaN: the first is a string
    assert loads('{"s": "NaN", "n": 1.5e300, "i": -0.0}') == {"s": "NaN", "n": 1.5e300, "i": -0.0}


def test_an_answer_nested_deeper_than_a_result_can_carry_is_invalid_and_the_cascade_moves_on(tmp_path: Path):
    # Valid JSON 300 levels deep (a looping model's "[[[[..."): strict_json took it (only past the interpreter's
    # ~1,000 did it refuse), and the paid answer could not be sent: pydantic, which the MCP SDK serializes with,
    # stops at 254 levels ("Error executing tool invoke_skill"), and the text walks stop at 200.
    (tmp_path / "skills").mkdir()
    (tmp_path / "routing").mkdir()
    (tmp_path / "skills" / "any.yaml").write_text(
        "id: skill.any\ndescription: d\ntask_type: any\nprompt: {user: '{text}'}\noutput:\n  type: json\n"
    )
    (tmp_path / "routing" / "r.yaml").write_text("default: [fake:a, fake:b]\n")
    script("a", "[" * 300 + "1" + "]" * 300)
    script("b", '{"total": 3}')
    with Magsag(catalog=tmp_path, db=tmp_path / "l.db", env={}) as mg:
        result = mg.bridge.run(lambda: mg.service.invoke_skill("skill.any", {"text": "1+2"}))
    first, second = result.attempts
    assert (first.model, first.outcome, first.error_class) == ("a", "error", "invalid_output")
    assert "nested deeper than 200 levels" in first.error_message
    assert (second.model, result.output) == ("b", {"total": 3})


def test_the_deepest_answer_taken_reaches_an_mcp_client():
    import json

    from pydantic import BaseModel

    from magsag_mcp.mcp_server.tool_results import ok_result
    from magsag_mcp.strict_json import loads

    class Out(BaseModel):
        output: object

    deepest = loads("[" * 200 + '"half \\ud83d\\ude00 whole"' + "]" * 200)
    sent = json.loads(ok_result(Out(output=deepest)).model_dump_json(by_alias=True))
    assert json.dumps(sent["structuredContent"]["output"]).count("[") == 200
    with pytest.raises(ValueError, match="nested deeper than 200 levels"):
        loads("[" * 100 + "{}," * 5 + '{"a": ' + "[" * 100 + "]" * 100 + "}" + "]" * 100)
    assert loads('[{"[[[[": "' + "[" * 300 + '"}]') == [{"[[[[": "[" * 300}]  # brackets in strings are text


@pytest.mark.parametrize(
    ("json_schema", "said"),
    [
        # the schema itself where its wrapper goes (as Gemini's response_schema, or a library's `schema=`, take it)
        (
            {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]},
            "model_config.response_format.json_schema holds a schema's own keys ('properties', 'required', 'type'); "
            "put the schema under 'schema': {'name': ..., 'schema': {...}, 'strict': true}",
        ),
        (
            {"name": "t", "schema": {"type": "object"}, "stict": True},
            "model_config.response_format.json_schema has unknown key 'stict' (did you mean 'strict'?); "
            "it takes: name, description, schema, strict",
        ),
    ],
)
def test_a_json_schema_whose_keys_are_not_the_wrappers_is_refused_not_dropped(catalog, json_schema, said):
    # Before, only json_schema.schema was read: a schema given in json_schema's own place was dropped without a
    # word, and the answer, unconstrained and unchecked, came back as though it fitted the caller's schema.
    mc = {"response_format": {"type": "json_schema", "json_schema": json_schema}}
    with pytest.raises(PayloadError) as info:
        plan_call(catalog, "skill.sum", {"text": "x", "model_config": mc}, context=None, env={})
    assert info.value.message == said


def test_a_json_schema_with_a_description_is_taken_as_openai_takes_it(catalog):
    schema = {"type": "object"}
    js = {"name": "t", "description": "the total", "schema": schema, "strict": False}
    mc = {"response_format": {"type": "json_schema", "json_schema": js}}
    plan = plan_call(catalog, "skill.sum", {"text": "x", "model_config": mc}, context=None, env={})
    assert plan.request.json_schema is schema
