"""MCP resources and completion, through the SDK's in-memory client: the catalog's resources, a failed or
unknown resource read (never echoing a key), the prices and routes shown, and skill ids completed."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from mcp_types import PromptReference, ResourceTemplateReference

from magsag_mcp.mcp_server import build_server
from magsag_mcp.mcp_server.resources import SKILL_TEMPLATE
from tests.mcp_tools_helpers import CATALOG, ENV, SECRET

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts")]


@pytest.fixture
async def client(db: Path):
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as c:
        yield c


# --- resources and completion ----------------------------------------------------------------


async def test_catalog_resources(client: Client):
    listed = {str(r.uri) for r in (await client.list_resources()).resources}
    assert listed == {
        "magsag://catalog/skills",
        "magsag://catalog/routing",
        "magsag://catalog/governance",
        "magsag://catalog/prices",
    }
    skills = json.loads((await client.read_resource("magsag://catalog/skills")).contents[0].text)
    assert {s["id"] for s in skills} >= {"skill.analysis", "skill.summarization"}
    one = json.loads((await client.read_resource("magsag://skills/skill.summarization")).contents[0].text)
    assert one["input_schema"]["required"] == ["text"]
    # the route a call would take: the routing file's chain with MAGSAG_PROVIDER=fake applied
    assert one["route"]["rule"] == "route:summarization (provider:fake from MAGSAG_PROVIDER)"
    assert one["route"]["chain"] == ["fake:gpt-4o-mini", "fake:claude-3-haiku-20240307"]
    routing = json.loads((await client.read_resource("magsag://catalog/routing")).contents[0].text)
    assert routing["default"][0] == "openai:gpt-4o"
    for uri in ("magsag://catalog/governance", "magsag://catalog/prices"):
        assert json.loads((await client.read_resource(uri)).contents[0].text) is not None
    with pytest.raises(MCPError) as info:
        await client.read_resource("magsag://skills/skill.nope")
    assert "unknown skill" in info.value.error.message


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_resource_read_that_fails_never_echoes_a_key_and_an_unknown_uri_is_told_the_resources(
    db: Path, mode: str, caplog: pytest.LogCaptureFixture
):
    # The SDK answered a failed read with the URI as sent, in the error's data ({"uri": ...}) and, for a URI no
    # resource has, in its message ("Unknown resource: magsag://sk-..."), the server's own API key pasted there
    # included, and logged it so; every other error of the server redacts what it quotes. And that message named
    # none of the resources there are, where an unknown tool's and prompt's name theirs.
    env = {**ENV, "OPENAI_API_KEY": SECRET}
    async with Client(build_server(catalog=CATALOG, db=db, env=env), mode=mode) as client:
        for uri in (f"magsag://{SECRET}", f"magsag://skills/{SECRET}", f"magsag://catalog/{SECRET}"):
            with caplog.at_level(logging.INFO), pytest.raises(MCPError) as info:
                await client.read_resource(uri)
            error = info.value.error
            assert error.code == -32602, uri
            assert SECRET not in error.message and SECRET not in json.dumps(error.data), uri
            assert error.data == {"uri": uri.replace(SECRET, "[REDACTED]")}
        assert SECRET not in caplog.text and "[REDACTED]" in caplog.text
        with pytest.raises(MCPError) as info:
            await client.read_resource("magsag://catalog/skill")
        message = info.value.error.message
        assert message.startswith("unknown resource 'magsag://catalog/skill' (did you mean 'magsag://catalog/skills'?)")
        assert "magsag://catalog/prices" in message and SKILL_TEMPLATE in message and "list_skills" in message
        # a skill the template names but the catalog has not keeps its own message, with the skill it nearly is
        with pytest.raises(MCPError) as info:
            await client.read_resource("magsag://skills/skill.summarize")
        said = info.value.error.message
        assert said.startswith("unknown skill 'skill.summarize' (did you mean 'skill.summarization'?)")


async def test_an_unknown_resource_is_offered_only_the_resource_its_name_nearly_is(db: Path):
    """The hint compared whole URIs, which share ``magsag://catalog/``: any name under it was offered a resource,
    ``magsag://catalog/nope`` and ``.../agents`` "did you mean 'magsag://catalog/prices'?", ``.../budget`` the
    routing, and ``.../policies`` (the catalog's folder of them) the prices, not the governance that serves them."""
    meant = {
        "magsag://catalog/nope": None,
        "magsag://catalog/budget": None,
        "magsag://catalog/agents": None,
        "magsag://ledger/runs": None,
        "magsag://catalog/policies": "magsag://catalog/governance",
        "magsag://catalog/routes": "magsag://catalog/routing",
        "magsag://skills": "magsag://catalog/skills",
        # a skill id under the catalog's list of skills: before, offered that list, which takes no id; now the
        # template's resource for that skill
        "magsag://catalog/skills/skill.analysis": "magsag://skills/skill.analysis",
        "magsag://catalog/skill/skill.summarization": "magsag://skills/skill.summarization",
    }
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as client:
        for uri, resource in meant.items():
            with pytest.raises(MCPError) as info:
                await client.read_resource(uri)
            message = info.value.error.message
            hint = f" (did you mean {resource!r}?)" if resource else ";"
            assert message.startswith(f"unknown resource {uri!r}{hint}"), message
            assert message.count("did you mean") == (resource is not None), message


@pytest.mark.parametrize("kept", [8, 10])
async def test_a_key_cut_where_a_failed_resource_read_stops_quoting_its_uri_is_not_shown_in_part(
    db: Path, kept: int, caplog: pytest.LogCaptureFixture
):
    """The URI a failed read quotes is cut at URI_QUOTED_AT_MOST characters: cut before it was redacted, a key the
    cut fell inside was no longer the key, and its first characters were shown and logged."""
    from magsag_mcp.mcp_server.server import URI_QUOTED_AT_MOST

    shown = SECRET[:kept]
    uri = "magsag://skills/" + "x" * (URI_QUOTED_AT_MOST - len("magsag://skills//") - kept) + "/" + SECRET
    env = {**ENV, "OPENAI_API_KEY": SECRET}
    async with Client(build_server(catalog=CATALOG, db=db, env=env)) as client:
        with caplog.at_level(logging.INFO), pytest.raises(MCPError) as info:
            await client.read_resource(uri)
    error = info.value.error
    assert error.code == -32602
    assert shown not in error.message and shown not in json.dumps(error.data) and shown not in caplog.text
    assert "[REDACT" in json.dumps(error.data)  # (the cut may fall inside the mark, never inside the key)


async def test_a_key_of_no_known_shape_is_redacted_from_a_failed_resource_read_before_any_tool_call(
    db: Path, caplog: pytest.LogCaptureFixture
):
    """The server's keys were made known to redaction as its service opened, on the first tool call that needs it:
    a resource read before that (a client's first request) quoted a key of no known shape (an Azure key: 32 hex
    digits) pasted into its URI, in the error, its data and the log, as the patterns alone do not know it."""
    import uuid

    key = uuid.uuid4().hex  # a value no other test registered: redaction's registry is the process's
    env = {**ENV, "AZURE_OPENAI_API_KEY": key}
    async with Client(build_server(catalog=CATALOG, db=db, env=env)) as client:
        with caplog.at_level(logging.INFO), pytest.raises(MCPError) as info:
            await client.read_resource(f"magsag://catalog/x{key}")
    error = info.value.error
    assert error.code == -32602
    assert key not in error.message and key not in json.dumps(error.data) and key not in caplog.text
    assert error.data == {"uri": "magsag://catalog/x[REDACTED]"}


async def test_a_bug_reading_a_resource_is_a_generic_internal_error_and_a_redacted_logged_traceback(
    db: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    from magsag_mcp.mcp_server import resources

    def boom(svc: Any) -> Any:
        raise RuntimeError(f"bug with {SECRET} inside")

    monkeypatch.setattr(resources, "_prices", boom)
    async with Client(build_server(catalog=CATALOG, db=db, env=ENV)) as client:
        with caplog.at_level(logging.INFO), pytest.raises(MCPError) as info:
            await client.read_resource("magsag://catalog/prices")
    error = info.value.error
    assert error.code == -32603 and "server's log" in error.message and SECRET not in error.message
    record = next(r for r in caplog.records if r.name == "magsag_mcp.mcp" and r.levelno == logging.ERROR)
    assert "RuntimeError: bug with [REDACTED] inside" in record.exc_text and SECRET not in caplog.text


async def test_the_prices_resource_shows_every_routed_target_that_has_a_price(client: Client):
    """A price that changes with the prompt's size (gemini-1.5-pro: $1.25 in up to 128K tokens, $2.50 past
    them) was shown as null, which reads as "no price known", for a target the shipped routing names and calls
    price; and the rates only some models have (Anthropic's 1-hour cache writes) were left out."""
    prices = json.loads((await client.read_resource("magsag://catalog/prices")).contents[0].text)
    targets = prices["targets"]
    gemini = targets["google:gemini-1.5-pro"]
    assert (gemini["input"], gemini["output"]) == ("1.25", "5")
    assert gemini["above_input_tokens"] == {"128000": {"input": "2.5", "output": "10"}}
    claude = targets["anthropic:claude-3-5-sonnet-20241022"]
    assert (claude["cache_write"], claude["cache_write_1h"]) == ("3.75", "6") and "above_input_tokens" not in claude
    assert targets["local:llama3.1:70b"] == {"input": "0", "output": "0", "cache_read": None, "cache_write": None}
    assert prices["overrides"]["local:*"]["input"] == "0"


async def test_the_prices_resource_shows_the_service_tiers_an_override_prices(db: Path, catalog_copy: Path):
    # an entry's rates for another service tier price the calls that tier serves: shown, not left out of the listing
    prices_file = catalog_copy / "prices.yaml"
    entry = '"openai:gpt-5": {input: 1, output: 8, service_tiers: {priority: {input: 2, output: 16}}}\n'
    prices_file.write_text(entry + prices_file.read_text())
    async with Client(build_server(catalog=catalog_copy, db=db, env=ENV)) as c:
        prices = json.loads((await c.read_resource("magsag://catalog/prices")).contents[0].text)
    shown = prices["overrides"]["openai:gpt-5"]
    assert (shown["input"], shown["output"]) == ("1", "8")
    assert shown["service_tiers"] == {
        "priority": {"input": "2", "output": "16", "cache_read": None, "cache_write": None}
    }
    assert "service_tiers" not in prices["overrides"]["local:*"]


async def test_a_skills_route_is_the_one_the_router_takes(db: Path):
    # MAGSAG_MODEL overrides the routing file, the skill's data class adds its allowed local model, and
    # governance forbids the override for this data class: the resource shows all three, with the reason.
    async with Client(build_server(catalog=CATALOG, db=db, env={"MAGSAG_MODEL": "gpt-4o"})) as c:
        one = json.loads((await c.read_resource("magsag://skills/skill.pii-redaction")).contents[0].text)
    route = one["route"]
    assert route["rule"] == "override:env" and route["data_classes"] == ["pii_processing"]
    assert route["chain"] == ["openai:gpt-4o", "local:llama3.1:70b"]
    first, second = route["targets"]
    assert first["source"] == "env" and first["policy"]["allowed"] is False
    assert first["policy"]["policy"] == "data_residency"
    assert first["unavailable"] == "openai: no API key; set OPENAI_API_KEY in the environment"
    assert second["source"] == "data_class" and second["policy"] == {"allowed": True, "policy": None, "reason": None}


async def test_skill_ids_complete(client: Client):
    ref = ResourceTemplateReference(type="ref/resource", uri=SKILL_TEMPLATE)
    done = await client.complete(ref, {"name": "skill_id", "value": "sum"})
    assert done.completion.values == ["skill.summarization"]
    done = await client.complete(ref, {"name": "skill_id", "value": "skill."})
    assert len(done.completion.values) == done.completion.total >= 8 and done.completion.has_more is False
    done = await client.complete(ref, {"name": "other", "value": ""})
    assert done.completion.values == []
    # skill ids are offered for the skill template only, not for any reference that names a skill_id
    for other in (
        ResourceTemplateReference(type="ref/resource", uri="magsag://agents/{skill_id}"),
        PromptReference(type="ref/prompt", name="skill_id"),
    ):
        done = await client.complete(other, {"name": "skill_id", "value": "sum"})
        assert done.completion.values == [], other

