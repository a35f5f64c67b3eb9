"""Arguments at their edges, as a client (often a model) writes them: each gets a tool error naming the fix."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.client import Client

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("fake_scripts"), pytest.mark.usefixtures("restored_secrets")]


async def error_text(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool}({arguments}) was accepted: {result.content[0].text[:200]}"
    text = result.content[0].text
    assert "Traceback" not in text
    return text


async def test_a_date_beyond_any_ledger_is_refused_as_written_by_every_ledger_tool(client: Client):
    # summarize_usage refused it quoting a float the caller never wrote (until=253402300799.0 ... give unix
    # seconds), and query_runs accepted the same filter: one period, two answers.
    for field, value in (("until", "9999-12-31T23:59:59"), ("since", "0001-01-01")):
        for tool in ("summarize_usage", "query_runs"):
            text = await error_text(client, tool, {"filters": {field: value}})
            assert f"{field}={value!r}" in text and "leave" in text, (tool, text)
            assert "e+" not in text and ".0 " not in text, text


async def test_a_boolean_is_not_a_time(client: Client):
    # true was taken as the number 1 (1970-01-01T00:00:01) and every run since then came back
    for tool in ("summarize_usage", "query_runs"):
        text = await error_text(client, tool, {"filters": {"since": True}})
        assert "filters.since" in text and "got a boolean" in text, text


async def test_an_argument_to_a_tool_that_takes_none_says_so(client: Client):
    # was "unknown argument 'skill' (accepted here: ). list_skills takes: " with two empty lists
    text = await error_text(client, "list_skills", {"skill": "skill.analysis"})
    assert "unknown argument 'skill' (nothing is accepted here)" in text
    assert text.endswith("list_skills takes no arguments: call it with {}"), text


async def test_a_boolean_is_not_a_number_either(client: Client):
    # as for since: true was the number 1 (query_runs(offset=true) skipped the newest run without a word, and
    # max_tokens true asked for a one-token answer, paid for and cut), though the published schema refuses it
    for tool, arguments, where in (
        ("query_runs", {"offset": True}, "offset: expected an integer, got a boolean"),
        ("query_runs", {"limit": True, "attempts_per_run": False}, "limit: expected an integer, got a boolean"),
        ("search_usage", {"pattern": "x", "limit": True}, "limit: expected an integer, got a boolean"),
        (
            "invoke_skill",
            {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": {"max_tokens": True}},
            "model_config.max_tokens: expected an integer, got a boolean",
        ),
        (
            "explain_route",
            {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model_config": {"temperature": False}},
            "model_config.temperature: expected a number, got a boolean",
        ),
    ):
        text = await error_text(client, tool, arguments)
        assert where in text, text
    # a number written as text is still taken, as it always was
    result = await client.call_tool("query_runs", {"limit": "5", "offset": "0"})
    assert not result.is_error, result.content[0].text


async def test_check_budget_takes_no_boolean_for_max_tokens(client: Client):
    # check_budget's max_tokens was a plain int: true was taken as 1, and call.fits answered for a one-token answer
    # (fits: true where the skill's own max_tokens would not), though the published schema refuses a boolean, as
    # invoke_skill's model_config.max_tokens does
    args = {"skill": "skill.analysis", "max_tokens": True}
    text = await error_text(client, "check_budget", args)
    assert "max_tokens: expected an integer, got a boolean" in text, text
    result = await client.call_tool("check_budget", {**args, "max_tokens": "7"})  # a number as text still is one
    assert not result.is_error and result.structured_content["call"]["max_output_tokens"] == 7, result


@pytest.mark.parametrize(
    ("tool", "arguments", "said"),
    [
        ("check_budget", {"skill": "skill.analysis", "max_tokens": 0}, "max_tokens: out of range: give more than 0"),
        ("invoke_skill", {"model_config": {"max_tokens": -5}}, "model_config.max_tokens: out of range: give more than"),
        ("explain_route", {"model_config": {"temperature": 3}}, "model_config.temperature: out of range: give 0 to 2"),
    ],
)
async def test_an_optional_number_out_of_its_range_is_told_the_whole_range(client: Client, tool, arguments, said):
    # An optional number's bounds sit on the number inside its union (written so that it refuses a boolean), where the
    # explanation did not look: model_config.temperature 3 was "input should be less than or equal to 2", pydantic's
    # sentence naming one bound, where query_runs' limit is told both and what it counts
    if tool != "check_budget":
        arguments = {"skill_id": "skill.analysis", "payload": {"data": "x"}, **arguments}
    text = await error_text(client, tool, arguments)
    assert said in text and "input should be" not in text, text


async def test_search_takes_since_as_the_other_ledger_tools_do(client: Client):
    # summarize_usage and query_runs take unix seconds for since; search_usage refused them ("expected a
    # string, got a number") though the ledger's search reads them
    result = await client.call_tool("search_usage", {"pattern": "x", "since": 1764460800})
    assert not result.is_error, result.content[0].text
    text = await error_text(client, "search_usage", {"pattern": "x", "since": True})
    assert "since: expected a string or a number, got a boolean" in text, text


async def test_a_skill_id_that_misses_the_pattern_is_shown_one_that_fits(client: Client):
    # was the bare pattern '^skill\.[a-z0-9][a-z0-9._-]*$' with no id that fits it, nor where ids are listed
    for tool in ("invoke_skill", "explain_route"):
        text = await error_text(client, tool, {"skill_id": "analysis", "payload": {"data": "x"}})
        assert "skill_id: string should match pattern" in text and "(e.g. skill.analysis; see list_skills)" in text


async def test_a_skill_id_written_without_its_prefix_or_in_capitals_gets_the_id_it_means(client: Client):
    # A model writes the skill's name ("summarization", "Skill.Coding", "skill:extraction"): the answer was the
    # pattern and skill.analysis as an example, whichever skill was meant.
    tail = {"invoke_skill": "agent, run_id, model_config, context", "explain_route": "agent, model_config, context"}
    for written, meant in (
        ("summarization", "skill.summarization"),
        ("Skill.Coding", "skill.coding"),
        ("skill:extraction", "skill.extraction"),
        ("skills.pii-redaction", "skill.pii-redaction"),
        ("document analysis", "skill.document-analysis"),
    ):
        for tool in ("invoke_skill", "explain_route"):
            text = await error_text(client, tool, {"skill_id": written, "payload": {"data": "x"}})
            assert f"did you mean {meant!r}?" in text, (written, text)
            assert "?." not in text and text.endswith(f"{tool} takes: skill_id, payload, " + tail[tool]), text
    text = await error_text(client, "invoke_skill", {"skill_id": "skill.", "payload": {}})
    assert "did you mean" not in text and "(e.g. skill.analysis; see list_skills)" in text  # nothing to offer


async def test_the_skill_id_meant_never_echoes_a_secret_in_another_case(client: Client):
    # the id offered is the value lower-cased: a key sent as skill_id would be shown in a case no redaction knows
    from magsag_mcp.errors import register_secret

    secret = "AbCdEfGhIjKlMnOpQrStUv-0123456789"
    register_secret(secret)
    for value in (secret, "AIzaSyD-abcdefghijklmnopqrstuvwxyz012345"):
        text = await error_text(client, "invoke_skill", {"skill_id": value, "payload": {}})
        assert "did you mean" not in text and value.lower()[6:] not in text.lower(), text


async def test_a_skill_input_field_written_beside_payload_is_pointed_into_it(client: Client):
    # A model writes the skill's input as the tool's arguments (invoke_skill(skill_id=..., data=...)) or under a
    # name of its own: the answer listed the arguments there are, not that the field goes in payload.
    for tool in ("invoke_skill", "explain_route"):
        text = await error_text(client, tool, {"skill_id": "skill.analysis", "data": "x"})
        assert 'unknown argument \'data\' (a skill\'s input field goes in payload: {"payload": {"data": ...}})' in text
        text = await error_text(client, tool, {"skill_id": "skill.analysis", "input": {"data": "x"}})
        assert "unknown argument 'input' (did you mean 'payload'? it holds the skill's input fields)" in text, text
    # a misspelt argument is still one, and a setting still goes in model_config
    text = await error_text(client, "invoke_skill", {"skill": "skill.analysis", "payload": {}})
    assert "unknown argument 'skill' (did you mean 'skill_id'?)" in text, text
    text = await error_text(client, "invoke_skill", {"skill_id": "skill.analysis", "payload": {}, "temperature": 1})
    assert "it goes in model_config" in text, text


async def test_a_skill_input_field_that_looks_like_an_argument_is_still_pointed_into_payload(client: Client):
    # skill.summarization's field 'text' is near 'context': the close match won, and a model writing the skill's
    # input beside payload was told "did you mean 'context'?", which sends its text to the call's routing context.
    # The skill named says which fields are its own.
    for tool in ("invoke_skill", "explain_route"):
        text = await error_text(client, tool, {"skill_id": "skill.summarization", "text": "hi"})
        assert 'unknown argument \'text\' (a skill\'s input field goes in payload: {"payload": {"text": ...}})' in text
        assert "did you mean 'context'" not in text, text
        text = await error_text(client, tool, {"skill_id": "skill.extraction", "payload": {}, "text": "x"})
        assert '{"payload": {"text": ...}}' in text and "'context'" not in text.split(" takes:")[0], text
    # a field of no skill named keeps the close match, and so does an unknown skill's call
    text = await error_text(client, "invoke_skill", {"skill_id": "skill.analysis", "payload": {}, "contxt": {}})
    assert "unknown argument 'contxt' (did you mean 'context'?)" in text, text
    text = await error_text(client, "invoke_skill", {"skill_id": "skill.nothing", "payload": {}, "text": "x"})
    assert "unknown argument 'text' (did you mean 'context'?)" in text, text


async def test_a_skill_field_named_as_a_setting_is_not_sent_to_the_setting_alone(tmp_path, catalog_copy):
    # a skill of the user's whose fields are a conversation's `messages` and a customer's `tier`, written beside
    # payload, were told "it goes in model_config" / "it goes in context": there `messages` is the call's further
    # turns after the skill's prompt, and `tier` a cost tier of the routing, another call than the one meant
    from magsag_mcp.mcp_server import build_server

    catalog = catalog_copy
    (catalog / "skills" / "chat-summary.yaml").write_text(
        "id: skill.chat-summary\ndescription: Summarise a support conversation.\ntask_type: summarization\n"
        "prompt:\n  user: |\n    Summarise this conversation with a {tier} customer:\n\n    {messages}\n"
    )
    server = build_server(catalog=catalog, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    async with Client(server) as client:
        for tool in ("invoke_skill", "explain_route"):
            for key, home in (("messages", "model_config"), ("tier", "context")):
                text = await error_text(client, tool, {"skill_id": "skill.chat-summary", "payload": {}, key: "x"})
                problem = text.split(f". {tool} takes:")[0]
                assert f'a skill\'s input field goes in payload: {{"payload": {{"{key}": ...}}}}' in problem, text
                assert f'{{"{home}": {{"{key}": ...}}}}' in problem, text  # what the setting is, said as such
                assert problem.index('"payload"') < problem.index(f'"{home}"'), text
        # a setting no field of the skill is named for still goes where it goes, alone
        text = await error_text(
            client, "invoke_skill", {"skill_id": "skill.chat-summary", "payload": {}, "system": "x"}
        )
        assert 'unknown argument \'system\' (it goes in model_config: {"model_config": {"system": ...}})' in text, text


async def test_a_skill_field_named_as_an_argument_refused_as_that_argument_is_pointed_into_payload(
    tmp_path, catalog_copy
):
    # a question-answering skill reads `context` (the passage to answer from): written beside payload, a string was
    # refused as the call's context, told to "write an object of the call's context: preferred_model, tier,
    # data_class", and that object sends the skill nothing; the skill's field goes in payload
    from magsag_mcp.mcp_server import build_server

    catalog = catalog_copy
    (catalog / "skills" / "qa.yaml").write_text(
        "id: skill.qa\ndescription: Answer from a passage.\ntask_type: summarization\n"
        "prompt:\n  user: |\n    Passage: {context}\n\n    Question: {question}\n"
    )
    server = build_server(catalog=catalog, db=tmp_path / "ledger.db", env={"MAGSAG_PROVIDER": "fake"})
    async with Client(server) as client:
        for tool in ("invoke_skill", "explain_route"):
            for value in ("The printer is on floor 3.", ["a passage"], {"passage": "The printer is on floor 3."}):
                arguments = {"skill_id": "skill.qa", "payload": {"question": "where?"}, "context": value}
                text = await error_text(client, tool, arguments)
                assert '{"payload": {"context": ...}}' in text.split(f". {tool} takes:")[0], text
        # another skill's call is told the argument alone
        arguments = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "context": "background"}
        text = await error_text(client, "invoke_skill", arguments)
        assert "context: expected an object, got a string" in text and '"payload"' not in text, text


async def test_a_misspelt_key_in_a_fallback_target_object_gets_the_key_meant(client: Client):
    # was "model_config.fallbacks.0: expected a string, got an object; missing required argument ...;
    # unknown argument 'model_config.fallbacks.0.modle' (nothing is accepted here)": the index hid the
    # target's keys, and the string branch of the union was reported against an object
    arguments = {
        "skill_id": "skill.analysis",
        "payload": {"data": "x"},
        "model_config": {"model": "fake:echo", "fallbacks": ["fake:echo", {"modle": "gpt-4o"}]},
    }
    text = await error_text(client, "invoke_skill", arguments)
    assert "unknown argument 'model_config.fallbacks.1.modle' (did you mean 'model'?)" in text, text
    assert "missing required argument 'model_config.fallbacks.1.model'" in text
    assert "expected a string" not in text
    number = {**arguments, "model_config": {"model": "fake:echo", "fallbacks": [5]}}
    text = await error_text(client, "invoke_skill", number)
    assert "model_config.fallbacks.0: expected a string or an object, got a number" in text, text


def test_thousands_of_bad_fallbacks_are_counted_and_only_the_ones_shown_explained(monkeypatch):
    # a request of 6,000 misspelt fallback targets (100 KB) held the event loop 15 s, every MCP client
    # waiting: each error's place was compared with every other's, and each of the 12,001 problems was
    # explained (with a did-you-mean search) though only eight are shown
    from pydantic import ValidationError

    from magsag_mcp.mcp_server import arguments
    from magsag_mcp.mcp_server.models import InvokeSkillArgs

    explained = []
    real = arguments._problem
    monkeypatch.setattr(arguments, "_problem", lambda *a: explained.append(a) or real(*a))
    fallbacks = [{"modle": "gpt-4o"}] * 6000
    with pytest.raises(ValidationError) as info:
        InvokeSkillArgs.model_validate({"skill_id": "skill.a", "payload": {}, "model_config": {"fallbacks": fallbacks}})
    text = arguments.explain("invoke_skill", info.value, InvokeSkillArgs)
    assert "unknown argument 'model_config.fallbacks.0.modle' (did you mean 'model'?)" in text
    assert "and 11992 more" in text and "expected a string" not in text
    assert len(explained) == 8


async def test_a_filter_or_setting_given_beside_its_object_is_pointed_into_it(client: Client):
    # A model writes query_runs(agent=...) or invoke_skill(model=...): the answer listed the arguments there are
    # ("accepted here: filters, limit, ...") but not that the name it wrote is one of filters' or model_config's.
    text = await error_text(client, "query_runs", {"agent": "alice", "limit": 5})
    assert 'unknown argument \'agent\' (it goes in filters: {"filters": {"agent": ...}})' in text, text
    text = await error_text(client, "summarize_usage", {"since": "7d"})
    assert 'unknown argument \'since\' (it goes in filters: {"filters": {"since": ...}})' in text, text
    args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "model": "gpt-4o"}
    text = await error_text(client, "invoke_skill", args)
    assert 'unknown argument \'model\' (it goes in model_config: {"model_config": {"model": ...}})' in text, text
    text = await error_text(client, "query_runs", {"filters": {"agent": "alice", "limit": 5}})
    assert "unknown argument 'filters.limit' (it goes beside filters, not in it)" in text, text
    text = await error_text(client, "check_budget", {"agent_name": "x"})  # a misspelling is still one
    assert "unknown argument 'agent_name' (did you mean 'agent'?)" in text, text


async def test_a_text_argument_is_taken_as_the_text_sent_even_when_it_reads_as_json(client: Client):
    # The SDK reads an argument sent as a JSON string as the JSON in it (clients send objects so: filters='{...}'),
    # and did so for text arguments too: agent "null" became no agent (the call recorded under none, the budget
    # read for none), and agent '["ops"]' was refused as "expected a string, got an array" although a string was
    # sent and the published schema takes it.
    budget = await client.call_tool("check_budget", {"agent": "null", "run_id": '["r"]'})
    assert not budget.is_error, budget.content[0].text
    assert (budget.structured_content["agent"], budget.structured_content["run_id"]) == ("null", '["r"]')
    args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "agent": "{}", "run_id": "null"}
    run = await client.call_tool("invoke_skill", args)
    assert not run.is_error, run.content[0].text
    assert run.structured_content["run_id"] == "null"
    runs = await client.call_tool("query_runs", {"filters": {"agent": "{}"}, "cursor": "null"})
    # the cursor is text too: refused as a cursor query_runs never gave, not taken for none (the first page)
    assert runs.is_error and "cursor 'null' is not one query_runs gave" in runs.content[0].text
    found = await client.call_tool("query_runs", {"filters": {"agent": "{}"}})
    assert [r["run_id"] for r in found.structured_content["runs"]] == ["null"]
    # an object or an array sent as a JSON string is still read as one (Claude Desktop sends them so)
    for tool, arguments in (
        ("query_runs", {"filters": '{"agent": "{}"}', "limit": "5"}),
        ("explain_route", {"skill_id": "skill.analysis", "payload": '{"data": "x"}', "model_config": '{"model": "m"}'}),
    ):
        result = await client.call_tool(tool, arguments)
        assert not result.is_error, (tool, result.content[0].text)


async def test_null_for_an_argument_with_a_default_is_the_default(client: Client):
    # A client that sends every argument it leaves unset as null (an OpenAI strict-mode bridge, a LangChain
    # adapter) had agent=null and cursor=null taken as left out, but filters=null, limit=null, offset=null and
    # attempts_per_run=null refused ("expected an integer, got null"), though none of them is required.
    for tool, arguments in (
        ("summarize_usage", {"filters": None}),
        ("query_runs", {"filters": None, "limit": None, "offset": None, "cursor": None, "attempts_per_run": None}),
        ("search_usage", {"pattern": "x", "limit": None, "since": None, "cursor": None}),
    ):
        result = await client.call_tool(tool, arguments)
        assert not result.is_error, (tool, result.content[0].text)
    # a required argument is still required
    text = await error_text(client, "invoke_skill", {"skill_id": "skill.analysis", "payload": None})
    assert "payload: expected an object, got null" in text, text
    text = await error_text(client, "search_usage", {"pattern": None})
    assert "pattern: expected a string, got null" in text, text


async def test_a_vendor_parameter_beside_model_config_s_own_keys_is_pointed_to_params(client: Client):
    # model_config.top_p was answered "did you mean 'stop'?": a model following it sent stop=0.9 and was refused
    # again. A vendor's own parameter (top_p, seed, reasoning_effort) goes in params, which passes it through.
    base = {"skill_id": "skill.analysis", "payload": {"data": "x"}}
    for key in ("top_p", "seed", "reasoning_effort"):
        text = await error_text(client, "invoke_skill", {**base, "model_config": {"model": "gpt-4o", key: 1}})
        assert f"unknown argument 'model_config.{key}' (a vendor parameter goes in params: " in text, text
        assert f'{{"params": {{"{key}": ...}}}}' in text and "'stop'" not in text.split("; or ")[0], text
        target = {"model_config": {"fallbacks": [{"model": "gpt-4o-mini", key: 1}]}}
        text = await error_text(client, "explain_route", {**base, **target})
        assert f"'model_config.fallbacks.0.{key}' (a vendor parameter goes in params: " in text, text
    # a misspelling of a key model_config takes is still one
    text = await error_text(client, "invoke_skill", {**base, "model_config": {"temprature": 0.2}})
    assert "unknown argument 'model_config.temprature' (did you mean 'temperature'?)" in text, text
    # and a token limit under another API's name is the key meant: params refuses it as a field magsag writes
    text = await error_text(client, "invoke_skill", {**base, "model_config": {"max_output_tokens": 50}})
    assert "unknown argument 'model_config.max_output_tokens' (did you mean 'max_tokens'?)" in text, text
    assert "a vendor parameter goes in params" not in text, text
    # and a key of the call's context is sent there, not to params
    text = await error_text(client, "invoke_skill", {**base, "model_config": {"tier": "economy"}})
    assert 'unknown argument \'model_config.tier\' (it goes in context: {"context": {"tier": ...}})' in text, text


async def test_invoke_skills_run_id_given_to_explain_route_is_said_to_be_left_out(client: Client):
    # A model previewing the call it is about to make sends the same arguments: run_id was answered "a skill's
    # input field goes in payload", and a model that followed it sent the run id to the skill as its input.
    args = {"skill_id": "skill.analysis", "payload": {"data": "x"}, "run_id": "run-1"}
    text = await error_text(client, "explain_route", args)
    assert "unknown argument 'run_id' (explain_route plans a call without running it and takes no run_id" in text
    assert "payload" not in text.split("explain_route takes:")[0], text
    assert "check_budget" in text, text  # where a run's budget is read


async def test_milliseconds_given_for_unix_seconds_are_said_to_be_milliseconds(client: Client):
    # A JavaScript client's Date.now() is milliseconds: since=1764460800000 was refused quoting a float the
    # caller never wrote (since=1764460800000.0), with no word of what it was or what to send instead.
    for tool, arguments in (
        ("summarize_usage", {"filters": {"since": 1764460800000}}),
        ("query_runs", {"filters": {"until": "1764460800000"}}),
        ("search_usage", {"pattern": "x", "since": 1764460800000}),
    ):
        text = await error_text(client, tool, arguments)
        assert "1764460800000.0" not in text, text
        assert "reads as milliseconds since 1970: in seconds it is 1764460800" in text, text


async def test_a_filter_name_of_only_whitespace_is_refused_as_an_empty_one_is(client: Client):
    # Before: {"agent": ""} was refused, {"agent": "  "} summarised no calls at all, as if none were made
    for tool, filters in (("summarize_usage", {"agent": "  "}), ("query_runs", {"model": " "})):
        text = await error_text(client, tool, {"filters": filters})
        assert "a name of only whitespace" in text and "leave the filter out" in text, text


async def test_text_where_an_object_or_a_list_goes_is_told_the_shape_that_fits(client: Client):
    # A model writes the value it means where its wrapper goes: model_config="gpt-4o", fallbacks="fake:second",
    # response_format="json_object", or an object as Python text ("{'data': 'x'}", which is no JSON). Each was
    # answered "expected an object, got a string" alone: it said what was wrong, not what to write, and a model
    # that sent the text of an object was told it sent no object.
    base = {"skill_id": "skill.analysis", "payload": {"data": "x"}}
    for arguments, said in (
        ({**base, "model_config": "gpt-4o"}, 'model_config: expected an object, got a string: write {"model": "..."}'),
        (
            {**base, "model_config": {"model": "fake:a", "fallbacks": "fake:second"}},
            'model_config.fallbacks: expected an array, got a string: write a list, ["..."]',
        ),
        (
            {**base, "model_config": {"response_format": "json_object"}},
            'model_config.response_format: expected an object, got a string: write {"type": "..."}',
        ),
        (
            {"skill_id": "skill.analysis", "payload": "{'data': 'x'}"},
            "payload: expected an object, got a string that is not JSON",
        ),
        ({**base, "context": '{"tier": "economy"'}, "context: expected an object, got a string that is not JSON"),
    ):
        for tool in ("invoke_skill", "explain_route"):
            text = await error_text(client, tool, arguments)
            assert said in text, (tool, text)
    # a value is never echoed: what was written may be a key pasted into the wrong place
    text = await error_text(client, "invoke_skill", {**base, "model_config": "sk-proj-abcdef0123456789abcdef"})
    assert "abcdef0123456789" not in text, text


@pytest.mark.parametrize(
    ("tool", "arguments", "unknown"),
    [
        ("query_runs", {"none": []}, "none"),
        ("query_runs", {"str": "x"}, "str"),
        ("invoke_skill", {"skill_id": "skill.analysis", "payload": {"data": "x"}, "TargetArg": 1}, "TargetArg"),
        ("summarize_usage", {"filters[0]": {}}, "filters[0]"),
        ("list_skills", {"int": 0}, "int"),
        ("summarize_usage", {"filters": {"dict": 1}}, "filters.dict"),
    ],
)
async def test_an_unknown_argument_named_as_a_type_is_told_by_its_name(
    client: Client, tool: str, arguments: dict[str, Any], unknown: str
):
    # Found fuzzing the tools' arguments: an unknown argument whose name is one pydantic gives a union's branch in
    # an error's place (none, str, int, a model's class name) or holds a "[" was dropped from the place as a branch,
    # leaving none: the explanation raised IndexError, and the client got "list index out of range" as the whole
    # answer, no structured error, where an unknown argument is told with what is accepted
    result = await client.call_tool(tool, arguments)
    assert result.is_error and result.structured_content["error"]["type"] == "invalid_arguments", result.content
    assert f"unknown argument {unknown!r}" in result.content[0].text, result.content[0].text


async def test_a_skill_id_with_an_accent_gets_the_id_it_means(client: Client):
    # 'skill.analysïs' missed the pattern by one letter's accent and was told the pattern alone
    for tool in ("invoke_skill", "explain_route"):
        text = await error_text(client, tool, {"skill_id": "skill.analysïs", "payload": {"data": "x"}})
        assert "did you mean 'skill.analysis'?" in text, text


async def test_a_skill_id_missing_its_prefix_is_offered_only_a_skill_the_catalog_has(client: Client):
    # "nope" was offered 'skill.nope', which no catalog has: the call made as told was refused again. The form's fix
    # is offered where the catalog has it, a near skill where one is, else list_skills
    for tool, key in (("invoke_skill", "skill_id"), ("explain_route", "skill_id"), ("check_budget", "skill")):
        args: dict[str, Any] = {key: "nope"} | ({"payload": {"data": "x"}} if key == "skill_id" else {})
        text = await error_text(client, tool, args)
        assert "'skill.nope'?" not in text and "the catalog has no skill 'skill.nope' either" in text, text
        assert "list_skills" in text, text
        text = await error_text(client, tool, {**args, key: "summarization"})
        assert "did you mean 'skill.summarization'?" in text, text
        text = await error_text(client, tool, {**args, key: "sumarization"})
        assert "did you mean 'skill.summarization'?" in text, text
