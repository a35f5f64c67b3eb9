"""A call's payload and history (``model_config.messages``) as Python code hands them: a payload field, a tool call's
arguments or a tool result's content may be any mapping (a ``MappingProxyType``, an ``OrderedDict``), as the payload
itself may be. They are sent as the JSON objects they hold; what is no JSON value at all is refused, naming where it
is, and the run is recorded."""

from __future__ import annotations

import json
from collections import OrderedDict
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

import pytest

from magsag_mcp.errors import PayloadError
from magsag_mcp.ledger import UsageFilters
from magsag_mcp.service import Service
from tests.fakes import openai_replies as R
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parent.parent / "catalog"
ASK = {"role": "user", "content": "Weather in Oslo?"}


def _history(arguments: object, content: object) -> list[dict]:
    call = {"id": "call_w7x", "function": {"name": "get_weather", "arguments": arguments}}
    return [
        ASK,
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_w7x", "content": content},
    ]


def _mc(history: list[dict], api: str) -> dict:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    return {"provider": "openai", "model": "gpt-4o", "params": {"api": api}, "tools": tools, "messages": history}


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_a_histories_mappings_that_are_no_dict_are_sent_as_the_objects_they_hold(
    fake_openai: FakeOpenAI, tmp_path, api
):
    # Before: taken as mappings, they were handed on as they were, and writing the request's JSON raised TypeError
    # (mappingproxy is not JSON serializable): the call failed as a bug in magsag-mcp, nothing sent
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    fake_openai.queue(R.reply("3 C in Oslo"))
    arguments = MappingProxyType({"city": "Oslo", "units": OrderedDict(temperature="C")})
    content = MappingProxyType({"temperature": 3, "sky": MappingProxyType({"cover": "cloudy"})})
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        out = await svc.invoke_skill(
            "skill.analysis", {"data": "Q3", "model_config": _mc(_history(arguments, content), api)}, run_id="r-maps"
        )
    assert out.text == "3 C in Oslo"
    [sent] = [r.body for r in fake_openai.requests]
    if api == "chat":
        call = sent["messages"][-2]["tool_calls"][0]["function"]["arguments"]
        result = sent["messages"][-1]["content"]
    else:
        call = next(i["arguments"] for i in sent["input"] if i.get("type") == "function_call")
        result = next(i["output"] for i in sent["input"] if i.get("type") == "function_call_output")
    assert json.loads(call) == {"city": "Oslo", "units": {"temperature": "C"}}
    assert json.loads(result) == {"temperature": 3, "sky": {"cover": "cloudy"}}


@pytest.mark.parametrize(
    ("arguments", "content", "said"),
    [
        # (named to the value since the settings' own check reads them: the set, the object)
        ({"cities": {"Oslo", "Bergen"}}, "ok", "model_config.messages[1].tool_calls[0].function.arguments.cities"),
        ({"city": "Oslo"}, {"at": object()}, "model_config.messages[2].content.at"),
    ],
    ids=["arguments", "content"],
)
async def test_a_history_holding_what_is_no_json_value_is_refused_naming_where(
    fake_openai: FakeOpenAI, tmp_path, arguments, content, said
):
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(PayloadError) as info:
            await svc.invoke_skill(
                "skill.analysis",
                {"data": "Q3", "model_config": _mc(_history(arguments, content), "chat")},
                run_id="r-no-json",
            )
        [run] = await svc.query_runs(UsageFilters(run_id="r-no-json"))
    assert said in info.value.message and "JSON" in info.value.message
    assert fake_openai.requests == [] and run["status"] == "error"


@pytest.mark.parametrize(
    ("arguments", "said", "fix"),
    [
        # a dict of plain values whose key is no string: taken as it was, writing the request raised TypeError, and
        # the call failed as a bug in magsag-mcp (an InternalError), where a set in it was refused naming the place
        # (named by the settings' own check, which reads the keys too, before call_messages reads the history)
        ({(1, 2): "Oslo"}, "has a key of type tuple", "give its keys as strings"),
        (MappingProxyType({(1, 2): "Oslo"}), "has a key of type tuple", "give its keys as strings"),
    ],
    ids=["tuple-key", "tuple-key-proxy"],
)
async def test_a_history_json_cannot_write_is_refused_naming_where_and_the_fix(
    fake_openai: FakeOpenAI, tmp_path, arguments, said, fix
):
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(PayloadError) as info:
            await svc.invoke_skill(
                "skill.analysis",
                {"data": "Q3", "model_config": _mc(_history(arguments, "ok"), "chat")},
                run_id="r-unwritable",
            )
        [run] = await svc.query_runs(UsageFilters(run_id="r-unwritable"))
    message = info.value.message
    assert "model_config.messages[1].tool_calls[0].function.arguments" in message and said in message and fix in message
    assert fake_openai.requests == [] and run["status"] == "error"


async def test_a_payload_fields_mapping_that_is_no_dict_is_written_into_the_prompt_as_its_json_object(
    fake_openai: FakeOpenAI, tmp_path
):
    # Before: written with json.dumps' default=str, a MappingProxyType came into the prompt as the text of its
    # Python repr, quoted ("{'region': 'EU'}"), where a dict is written as the JSON object it is
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    fake_openai.queue(R.reply("EU leads"))
    data = MappingProxyType({"region": "EU", "sales": [MappingProxyType({"q": 3, "units": 12})]})
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        out = await svc.invoke_skill(
            "skill.analysis", {"data": data, "model_config": {"model": "openai:gpt-4o"}}, run_id="r-data"
        )
    assert out.text == "EU leads"
    [sent] = [r.body for r in fake_openai.requests]
    prompt = sent["messages"][-1]["content"]
    assert '{"region": "EU", "sales": [{"q": 3, "units": 12}]}' in prompt and "'region'" not in prompt


async def test_a_payload_field_nested_past_what_json_writes_is_refused_naming_it(tmp_path):
    # Before: json.dumps ran out of the interpreter's depth writing it into the prompt, and the RecursionError failed
    # the call as a bug in magsag-mcp (a Python caller's structure: an MCP client's JSON never gets so deep)
    data: dict = {}
    inner = data
    for _ in range(5000):
        inner["a"] = {}
        inner = inner["a"]
    env = {"MAGSAG_PROVIDER": "fake"}
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(PayloadError) as info:
            payload = {"data": data, "model_config": {"model": "fake:fine"}}
            await svc.invoke_skill("skill.analysis", payload, run_id="r-deep")
        [run] = await svc.query_runs(UsageFilters(run_id="r-deep"))
    assert "payload field 'data'" in info.value.message and "nested too deeply" in info.value.message
    assert run["status"] == "error"


def _gpt4o(params: object) -> dict:
    return {"provider": "openai", "model": "gpt-4o", "params": params}


@pytest.mark.parametrize(
    ("model_config", "said", "sent"),
    [
        # a frozen mapping of params, nested: its target's params could not be hashed, a bug in magsag to the caller
        (
            MappingProxyType(
                _gpt4o(MappingProxyType({"temperature": 0.2, "metadata": MappingProxyType({"team": "fin"})}))
            ),
            None,
            {"temperature": 0.2, "metadata": {"team": "fin"}},
        ),
        (_gpt4o({"stop": ("END", "STOP")}), None, {"stop": ["END", "STOP"]}),
        # a logit_bias of int token ids, as Python code writes it: sent with the ids as JSON writes them
        (_gpt4o({"logit_bias": {50256: -100, 1734: 5}}), None, {"logit_bias": {"50256": -100, "1734": 5}}),
        # what JSON cannot write: a set hashed for the target's key (a bug), a Decimal sent in the request, a tuple key
        # (writing the request raised TypeError, a bug in magsag to the caller)
        (
            _gpt4o({"logit_bias": {"50256": -100}, "metadata": {"tags": {"a", "b"}}}),
            ("model_config.params.metadata.tags is of type set", "JSON"),
            None,
        ),
        (_gpt4o({"seed": 7, "top_p": Decimal("0.9")}), ("model_config.params.top_p is of type Decimal", "JSON"), None),
        (
            _gpt4o({"metadata": {("team", "fin"): "x"}}),
            ("model_config.params.metadata has a key of type tuple", "give its keys as strings"),
            None,
        ),
    ],
    ids=["mappingproxy", "tuple", "int-keys", "set", "decimal", "tuple-key"],
)
async def test_settings_as_python_code_hands_them_are_sent_as_json_or_refused_naming_where(
    fake_openai: FakeOpenAI, tmp_path, model_config, said, sent
):
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    fake_openai.queue(R.reply("fine"))
    payload = {"data": "Q3", "model_config": model_config}
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        if said is None:
            out = await svc.invoke_skill("skill.analysis", payload, run_id="r-settings")
            assert out.text == "fine"
            [body] = [r.body for r in fake_openai.requests]
            assert {k: body[k] for k in sent} == sent
        else:
            with pytest.raises(PayloadError) as info:
                await svc.invoke_skill("skill.analysis", payload, run_id="r-settings")
            assert all(words in info.value.message for words in said), info.value.message
            assert fake_openai.requests == []
        [run] = await svc.query_runs(UsageFilters(run_id="r-settings"))
    assert run["status"] == ("ok" if said is None else "error")
