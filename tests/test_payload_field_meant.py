"""A payload that lacks a skill's field and holds one the skill does not know: the field it sent is named, and
where it is the only one in the missing one's place, that one is offered (examples/mcp sends {"body": ...} to
skill.summarization, which reads text)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.client import Client

from magsag_mcp.errors import PayloadError
from magsag_mcp.mcp_server import build_server
from magsag_mcp.skills import Skill

CATALOG = Path(__file__).resolve().parent.parent / "catalog"
LISTED = "(list_skills, `magsag catalog skills --json` and skills.list() show each skill's input_schema)"
TEXT = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}


def _refused(schema, payload, user="{text}") -> str:
    skill = Skill(id="skill.t", description="d", task_type="t", prompt={"user": user}, input_schema=schema)
    with pytest.raises(PayloadError) as info:
        skill.render(payload)
    return info.value.message


@pytest.mark.parametrize("schema", [TEXT, None])  # the schema's check, and the template's own
def test_the_one_field_sent_in_the_missing_ones_place_is_named_with_it(schema):
    # was "skill.t: payload is missing field 'text'; required: ['text']" alone: 'body' near no name, nothing said
    message = _refused(schema, {"body": "hello"})
    assert f"; it takes no field 'body' (did you mean 'text'?) {LISTED}" in message, message


def test_several_unknown_fields_are_named_without_a_guess():
    message = _refused(TEXT, {"body": "a", "title": "b"})
    assert message.endswith(f"; it takes no field 'body', 'title' {LISTED}"), message


def test_several_missing_fields_are_not_guessed_at():
    schema = {"type": "object", "required": ["text", "language"], "properties": {"text": {}, "language": {}}}
    message = _refused(schema, {"body": "a"}, user="{text} {language}")
    assert message.endswith(f"; it takes no field 'body' {LISTED}"), message


def test_a_payload_of_only_the_skills_own_fields_says_no_more():
    schema = {"type": "object", "required": ["text"], "properties": {"text": {}, "language": {}}}
    assert _refused(schema, {"language": "en"}) == "skill.t: payload is missing field 'text'; required: ['text']"


@pytest.mark.anyio
async def test_mcp_names_the_field_the_example_sends(tmp_path: Path):
    async with Client(build_server(catalog=CATALOG, db=tmp_path / "l.db", env={"MAGSAG_PROVIDER": "fake"})) as c:
        result = await c.call_tool("invoke_skill", {"skill_id": "skill.summarization", "payload": {"body": "x"}})
    assert result.is_error
    error = result.structured_content["error"]
    assert error["type"] == "invalid_payload"
    assert "payload is missing field 'text'" in error["message"], error["message"]
    assert "it takes no field 'body' (did you mean 'text'?)" in error["message"], error["message"]
