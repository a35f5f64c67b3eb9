"""Fuzzing the MCP tools' arguments: whatever JSON a client sends, every tool answers a result or a tool error.

Driven through the SDK's in-memory client against a server on the shipped catalog, every call answered by the fake
provider. Each tool's arguments are drawn from the input schema it publishes, with fixed seeds: each field left out,
given a value of its type (the boundaries, the empty, the huge, NUL and lone surrogates, values the field means such
as skill ids, times, patterns and targets) or of any other JSON type, nested, and beside unknown fields; a quarter of
the calls are a field away from a valid one, so that every tool answers some with a result. A result must validate
against the tool's output schema; an error must be a typed one (not ``internal_error``, the mark of a bug of ours),
with a message, no traceback and no key.

``FUZZ_TOOL_CALLS`` sets the calls per tool (40 in CI); ``FUZZ_SEED`` draws other ones.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from typing import Any

import jsonschema
import pytest
from mcp.client import Client

from magsag_mcp.mcp_server import build_server
from tests.mcp_tools_helpers import CATALOG, ENV, SECRET

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restored_secrets")]

CALLS = int(os.environ.get("FUZZ_TOOL_CALLS", "40"))
SEED = os.environ.get("FUZZ_SEED", "63")

#: strings a field may be given: what fields mean (skill ids, agents, times, targets, patterns, cursors) and what no
#: field means
STRINGS = [
    "skill.analysis",
    "skill.summarization",
    "skill.nope",
    "skill.",
    "ana",
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff\ud800",
    "x" * 5000,
    "24h",
    "7d",
    "-1d",
    "0",
    "1e999",
    "2026-02-30",
    "2026-12-05T12:00:00+25:00",
    "9999-12-31",
    "openai:gpt-4o",
    "fake:echo",
    "fake",
    "gpt-4o",
    "openai:",
    ":",
    "(unclosed",
    "a{1000}{1000}",
    ".*",
    "(?P<x>a)(?P=x)",
    "\\",
    "%",
    "_",
    "'; DROP TABLE runs; --",
    "eyJhbGciOiJIUzI1NiJ9",
    "c2tpcA==",
    "pii_processing",
    "financial_data",
    "json",
    "text",
    "auto",
    "required",
    "none",
    "emoji \U0001f600",
    "\u202e",
]

#: the strings an object's keys are drawn from: not a lone surrogate, which the SDK's client cannot send in a key (it
#: fails encoding the request; the server's reading of one is test_mcp_stdio's)
KEYS = [s for s in STRINGS if not any("\ud800" <= c <= "\udfff" for c in s)]

#: what a field of that name means, drawn three times in four: a call that passes the input schema reaches the
#: service's own checks
MEANT = {
    "skill_id": ["skill.analysis", "skill.summarization", "skill.extraction", "skill.reasoning"],
    "skill": ["skill.analysis", "skill.coding"],
    "model": ["gpt-4o", "fake:echo", "openai:gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash", "llama3.1:70b"],
    "provider": ["openai", "fake", "anthropic", "google", "local", "azure", "compat"],
    "since": ["24h", "7d", "2026-12-01", "2026-12-05T11:00:00Z", "1796083200"],
    "until": ["1h", "2026-12-06", "2026-12-05T13:00:00+01:00"],
    "pattern": ["overloaded", "error.*", "^fz-", "gpt"],
    "data": ["Q3 revenue rose 4%", '{"a": 1}'],
    "text": ["a long text"],
    "agent": ["ana", "bob"],
    "run_id": ["r-1", "fz-1"],
    "data_class": ["pii_processing", "financial_data"],
    "tier": ["cheap", "premium", "fast"],
    "base_url": ["http://127.0.0.1:9/v1", "https://api.openai.com/v1", "file:///etc/passwd"],
}

NUMBERS = [0, 1, -1, 2, 500, 501, 10**6, 2**31, 2**63, -(2**63) - 1, 10**30, 0.5, -0.0, 1e308, 1e-300, 3.0]


def any_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice(NUMBERS)
    if kind in (2, 3):
        return rng.choice(STRINGS)
    if kind == 4:
        return [any_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 5:
        return {rng.choice(KEYS)[:20]: any_json(rng, depth + 1) for _ in range(rng.randrange(4))}
    return [[[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]]]


def resolved(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return defs.get(ref.rsplit("/", 1)[-1], {}) if isinstance(ref, str) else schema


def value_for(schema: dict[str, Any], defs: dict[str, Any], rng: random.Random, depth: int = 0, name: str = "") -> Any:
    """A value for ``schema`` (the field ``name``'s): mostly of its type, at times any JSON at all."""
    schema = resolved(schema, defs)
    if rng.random() < 0.08 or depth > 6:
        return any_json(rng, depth)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return value_for(rng.choice(options), defs, rng, depth + 1, name)
    if "enum" in schema and rng.random() < 0.7:
        return rng.choice(schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = rng.choice(kind)
    if kind == "object" or "properties" in schema:
        return object_for(schema, defs, rng, depth + 1)
    if kind == "array":
        items = schema.get("items") or {}
        return [value_for(items, defs, rng, depth + 1, name) for _ in range(rng.choice([0, 1, 1, 2, 3, 40]))]
    if kind == "string" or (kind is None and name in MEANT):
        return rng.choice(MEANT[name] if name in MEANT and rng.random() < 0.75 else STRINGS)
    if kind in ("integer", "number"):
        return rng.choice(NUMBERS)
    if kind == "boolean":
        return rng.random() < 0.5
    return any_json(rng, depth)


def object_for(schema: dict[str, Any], defs: dict[str, Any], rng: random.Random, depth: int = 0) -> dict[str, Any]:
    out = {}
    required = set(schema.get("required") or ())
    for name, field in (schema.get("properties") or {}).items():
        if rng.random() < (0.95 if name in required else 0.4):
            out[name] = value_for(field, defs, rng, depth, name)
    if rng.random() < 0.05:
        out[rng.choice(["extra", "model", "data", "payload", "none", "str", "a[0]", "x" * 300, ""])] = any_json(
            rng, depth
        )
    if not schema.get("properties") or schema.get("additionalProperties") is True:
        for _ in range(rng.randrange(3)):  # (a payload: the skill's fields, and others)
            name = rng.choice(["data", "data", "text", "document", "question", "model_config"])
            out[name] = value_for({}, defs, rng, depth + 1, name) if name in MEANT else any_json(rng, depth)
    return out


def near_valid(schema: dict[str, Any], defs: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A call a field away from a valid one: its required fields as meant (a payload the skills take), and now and
    then one optional field drawn as any. Drawn from the schema alone, almost every call of a tool with required
    fields was refused before its service ran (explain_route answered none of 40 with a result, invoke_skill one), so
    that a result's output schema and the service's own checks behind the arguments were hardly reached."""
    out: dict[str, Any] = {}
    for name in schema.get("required") or ():
        out[name] = rng.choice(MEANT.get(name, STRINGS))
    if "skill_id" in out:  # (skill.analysis, whose payload is its data: the other skills' fields have other names)
        out["skill_id"], out["payload"] = "skill.analysis", {"data": rng.choice(MEANT["data"])}
    optional = [n for n in schema.get("properties") or {} if n not in out]
    if optional and rng.random() < 0.5:
        name = rng.choice(optional)
        out[name] = value_for(schema["properties"][name], defs, rng, 1, name)
    return out


@pytest.fixture
async def client(db):
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as c:
        yield c


def _problem(name: str, args: dict[str, Any], result: Any, output_schema: dict[str, Any] | None) -> str | None:
    shown = f"{name}({json.dumps(args, default=str)[:400]})"
    text = result.content[0].text if result.content else ""
    if SECRET in text or SECRET in json.dumps(result.structured_content, default=str):
        return f"the key in the answer to {shown}"
    if result.is_error:
        error = (result.structured_content or {}).get("error") or {}
        if error.get("type") in (None, "internal_error", "error") or "Traceback" in text:
            return f"{error.get('type')}: {text[:300]} for {shown}"
        if not str(error.get("message") or "").strip():
            return f"an error without a message for {shown}"
        return None
    try:
        if output_schema is not None:
            jsonschema.Draft202012Validator(output_schema).validate(result.structured_content)
    except jsonschema.ValidationError as exc:
        return f"a result that breaks the output schema ({exc.message[:200]}) for {shown}"
    return None


async def test_any_arguments_get_a_result_or_a_typed_tool_error(client):
    tools = (await client.list_tools()).tools
    names = {t.name for t in tools}
    assert {"invoke_skill", "query_runs", "summarize_usage", "check_budget", "search_usage"} <= names, names
    rng = random.Random(f"tools-{SEED}")
    problems: list[str] = []
    calls = 0
    answered: Counter[str] = Counter()
    for tool in tools:
        schema = tool.input_schema
        defs = schema.get("$defs") or {}
        for _ in range(CALLS):
            draw = rng.random()
            args = (
                near_valid(schema, defs, rng)
                if draw < 0.25
                else object_for(schema, defs, rng)
                if draw < 0.9
                else any_json(rng)
            )
            if not isinstance(args, dict):
                args = {"arguments": args}
            calls += 1
            try:
                result = await client.call_tool(tool.name, args)
            except Exception as exc:  # what the client was answered with instead of a result is the problem reported
                problems.append(f"{type(exc).__name__}: {str(exc)[:300]} for {tool.name}({args!r:.300})")
                continue
            answered[tool.name] += not result.is_error  # (a result, not a tool error)
            problem = _problem(tool.name, args, result, tool.output_schema)
            if problem is not None:
                problems.append(problem)
    assert not problems, f"{len(problems)} of {calls}:\n" + "\n".join(problems[:10])
    if CALLS >= 20:
        # every tool reached with a result too: one whose every call was refused had its output schema never checked
        # (but continue_paused, whose result needs a paused call this server holds, which no arguments make: its
        # results are checked against its output schema in test_paused_calls_by_id.py)
        assert all(answered[t.name] for t in tools if t.name != "continue_paused"), dict(answered)
