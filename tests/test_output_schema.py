"""Checking a JSON answer against its schema: compiled once by the schema's owner, and a schema that
cannot be applied reported as the caller's error."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from magsag_mcp import InputError, Magsag
from magsag_mcp.catalog import load_catalog
from magsag_mcp.errors import InvalidOutputError, PayloadError
from magsag_mcp.providers import base
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
    # a validator's traceback, and no attempt at the answer's expense.
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
