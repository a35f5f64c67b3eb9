"""A message's content parts that are no text (a picture, a file, a sound), as OpenAI's, Anthropic's, the Responses
API's and MCP's shapes write them: what is not carried as such is refused, naming the part and what is taken, rather
than sent as the JSON text of the part (the model read a screenshot's base64 as words, each a token paid for)."""

from __future__ import annotations

from pathlib import Path

import pytest

from magsag_mcp.errors import PayloadError
from magsag_mcp.ledger import UsageFilters
from magsag_mcp.service import Service
from tests.fakes.openai_server import DEFAULT_KEY, FakeOpenAI

pytestmark = pytest.mark.anyio
CATALOG = Path(__file__).resolve().parents[2] / "catalog"
#: a few bytes' base64, not a picture: nothing here reads it as one
SOME_BASE64 = "Qm9yZWFsIHdpbmRzIG9mIFE3"

#: each shape of a picture, which a user message carries and an assistant message does not
PICTURES = {
    "image_url": {"type": "image_url", "image_url": {"url": "data:image/png;base64," + SOME_BASE64}},
    "input_image": {"type": "input_image", "image_url": "data:image/png;base64," + SOME_BASE64, "detail": "auto"},
    "anthropic-image": {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": SOME_BASE64}},
    "mcp-image": {"type": "image", "data": SOME_BASE64, "mimeType": "image/png"},
}
#: each shape of a part that no message carries, and the words its refusal names it by
NOT_CARRIED = {
    "file": ({"type": "file", "file": {"file_data": "data:application/pdf;base64," + SOME_BASE64}}, "file"),
    "input_file": ({"type": "input_file", "file_data": "data:application/pdf;base64," + SOME_BASE64}, "file"),
    "document": (
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": SOME_BASE64}},
        "document",
    ),
    "input_audio": ({"type": "input_audio", "input_audio": {"data": SOME_BASE64, "format": "wav"}}, "sound"),
    "mcp-audio": ({"type": "audio", "data": SOME_BASE64, "mimeType": "audio/wav"}, "sound"),
}
#: (role, part, the words its refusal names it by)
REFUSED = {
    **{
        f"{role}-{name}": (role, part, said)
        for name, (part, said) in NOT_CARRIED.items()
        for role in ("user", "assistant")
    },
    **{f"assistant-{name}": ("assistant", part, "picture") for name, part in PICTURES.items()},
}


def _call(content: object, role: str = "user") -> dict:
    history = [{"role": role, "content": content}]
    if role == "assistant":
        history.insert(0, {"role": "user", "content": "Go on."})
    return {"data": "Q3", "model_config": {"model": "openai:gpt-4o", "messages": history}}


@pytest.mark.parametrize("name", sorted(REFUSED))
async def test_a_part_that_is_not_carried_is_refused_naming_it_and_where_not_sent_as_json_text(
    fake_openai: FakeOpenAI, tmp_path, name
):
    # Before: _text_blocks saw a part that is no text and the whole list went as its JSON text, the model reading the
    # file's base64 as words (a 1 MB screenshot some 1.3 M characters of prompt, each a token billed and budgeted)
    role, part, said = REFUSED[name]
    content = [{"type": "text", "text": "What is in this?"}, part]
    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    at = 1 if role == "assistant" else 0
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        with pytest.raises(PayloadError) as info:
            await svc.invoke_skill("skill.analysis", _call(content, role), run_id="r-media")
        [run] = await svc.query_runs(UsageFilters(run_id="r-media"))
    message = info.value.message
    assert f"model_config.messages[{at}].content[1]" in message and repr(part["type"]) in message, message
    assert said in message and "text" in message, message
    assert SOME_BASE64 not in message  # (the data is no part of what the caller is told)
    assert fake_openai.requests == [] and run["status"] == "error"


async def test_a_tool_messages_own_output_is_its_data_whatever_parts_it_holds(fake_openai: FakeOpenAI, tmp_path):
    # a tool's result is its data, sent as the JSON it is: a tool may well return records with a "type" of "file"
    from tests.fakes import openai_replies as R

    env = {"OPENAI_BASE_URL": fake_openai.url + "/v1", "OPENAI_API_KEY": DEFAULT_KEY}
    output = [{"type": "file", "name": "q3.csv", "rows": 12}]
    call = {"id": "call_f4k", "function": {"name": "list_files", "arguments": "{}"}}
    history = [
        {"role": "user", "content": "Which files?"},
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_f4k", "content": output},
    ]
    tools = [{"type": "function", "function": {"name": "list_files", "parameters": {"type": "object"}}}]
    fake_openai.queue(R.reply("One file, q3.csv"))
    mc = {"model": "openai:gpt-4o", "tools": tools, "messages": history}
    async with await Service.open(catalog=CATALOG, db=tmp_path / "l.db", env=env) as svc:
        out = await svc.invoke_skill("skill.analysis", {"data": "Q3", "model_config": mc}, run_id="r-tool")
    assert out.text == "One file, q3.csv"
    [sent] = [r.body for r in fake_openai.requests]
    assert sent["messages"][-1]["content"] == '[{"type": "file", "name": "q3.csv", "rows": 12}]'
