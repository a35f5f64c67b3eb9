"""Pictures in a tool result (a screenshot tool's MCP ImageContent an agent hands on, OpenAI's image_url part,
Anthropic's image block): carried as a picture by every wire format, never as the JSON text of the list (whose base64
the model read as words, each a token paid for and budgeted). Anthropic's tool_result and the Responses API's
function_call_output take them inside the result; Chat Completions' tool message and Gemini's functionResponse take
text or JSON alone, so there the picture follows in a user turn after the results, named by its call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from magsag_mcp import errors as E
from magsag_mcp.call_request import _messages, estimate_input_tokens
from magsag_mcp.service import Service
from magsag_mcp.types import LLMRequest, Target

from .fakes import FakeAnthropic, FakeGemini, FakeOpenAI
from .test_image_parts import BIG, FAKES, SHAPES, SHOT, SHOT_URL
from .test_wire import CASES, IDS, last_body, setup

pytestmark = pytest.mark.anyio
KEY = "ky7Q-a2mZ9x"
SAID = "Captured the dashboard."
CALL = {"id": "call_shot1", "function": {"name": "screenshot", "arguments": "{}"}}


def _history(tool_content: Any, **tool: Any) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Open the dashboard and tell me what it shows."},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_shot1", "content": tool_content, **tool},
    ]


def _asking(tool_content: Any, **tool: Any) -> LLMRequest:
    return LLMRequest(_messages(_history(tool_content, **tool)), max_tokens=64)


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_picture_in_a_tool_result_goes_to_every_wire_as_a_picture(case, serve, transport, shape):
    # Before: the tool message's list went as its JSON text, the picture's base64 read (and billed) as words
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "A bar chart of Q3."})
    result = await provider.complete(_asking([{"type": "text", "text": SAID}, SHAPES[shape]]), target)
    assert result.text == "A bar chart of Q3."
    assert fake.violations == []
    body = last_body(fake)
    # the picture is sent once, and as a picture: no text holds its base64
    assert json.dumps(body).count(SHOT) == 1
    detail = "high" if shape == "openai" else None
    if case.name == "google":
        [*_, results] = body["contents"]
        [response, named, picture] = results["parts"]
        assert results["role"] == "user"
        assert response["functionResponse"]["name"] == "screenshot"
        assert response["functionResponse"]["response"] == {"result": SAID}
        assert named == {"text": "The picture of tool call screenshot, id call_shot1:"}
        assert picture == {"inlineData": {"mimeType": "image/png", "data": SHOT}}
    elif case.name == "anthropic":
        [result_block] = body["messages"][-1]["content"]
        source = {"type": "base64", "media_type": "image/png", "data": SHOT}
        assert result_block == {
            "type": "tool_result",
            "tool_use_id": "call_shot1",
            "content": [{"type": "text", "text": SAID}, {"type": "image", "source": source}],
        }
    elif case.name in ("openai-responses", "local"):
        [output] = [item for item in body["input"] if item.get("type") == "function_call_output"]
        picture = {"type": "input_image", "image_url": SHOT_URL, "detail": detail or "auto"}
        assert output["output"] == [{"type": "input_text", "text": SAID}, picture]
    else:
        *_, tool_message, pictures = body["messages"]
        assert tool_message == {"role": "tool", "tool_call_id": "call_shot1", "content": SAID}
        image_url = {"url": SHOT_URL, **({"detail": detail} if detail else {})}
        assert pictures == {
            "role": "user",
            "content": [
                {"type": "text", "text": "The picture of tool call call_shot1:"},
                {"type": "image_url", "image_url": image_url},
            ],
        }


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_a_failed_tool_calls_picture_goes_with_its_failure(case, serve, transport):
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "The dialog says the login failed."})
    content = [{"type": "text", "text": "Login dialog stuck"}, SHAPES["mcp"]]
    await provider.complete(_asking(content, isError=True), target)
    assert fake.violations == []
    body = last_body(fake)
    assert json.dumps(body).count(SHOT) == 1
    failure = json.dumps({"error": "Login dialog stuck"})
    if case.name == "anthropic":
        [result_block] = body["messages"][-1]["content"]
        assert result_block["is_error"] is True and result_block["content"][1]["type"] == "image"
    elif case.name in ("openai-responses", "local"):
        [output] = [item for item in body["input"] if item.get("type") == "function_call_output"]
        assert output["output"][0] == {"type": "input_text", "text": failure}
        assert output["output"][1]["type"] == "input_image"
    elif case.name == "google":
        [response, _, picture] = body["contents"][-1]["parts"]
        assert response["functionResponse"]["response"] == {"error": "Login dialog stuck"}
        assert "inlineData" in picture
    else:
        *_, tool_message, pictures = body["messages"]
        assert tool_message["content"] == failure and pictures["content"][1]["type"] == "image_url"


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_pictures_of_two_results_follow_both_results(case, serve, transport):
    # each format pairs results with calls in the turn right after them: the pictures go after every result
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "Two charts."})
    second = {"id": "call_shot2", "function": {"name": "screenshot", "arguments": "{}"}}
    history = _history([SHAPES["mcp"]])
    history[1]["tool_calls"] = [CALL, second]
    history.append({"role": "tool", "tool_call_id": "call_shot2", "content": [SHAPES["openai"]]})
    await provider.complete(LLMRequest(_messages(history), max_tokens=64), target)
    assert fake.violations == []
    body = last_body(fake)
    assert json.dumps(body).count(SHOT) == 2
    if case.name == "google":
        kinds = [next(iter(part)) for part in body["contents"][-1]["parts"]]
        assert kinds == ["functionResponse", "functionResponse", "text", "inlineData", "text", "inlineData"]
    elif case.name in ("openai", "azure", "compat"):
        *_, first, then, pictures = body["messages"]
        assert [first["role"], then["role"], pictures["role"]] == ["tool", "tool", "user"]
        assert first["content"] == then["content"] == "(a picture: in the user message after the tool results)"
        texts = [part["text"] for part in pictures["content"] if part["type"] == "text"]
        assert texts == ["The picture of tool call call_shot1:", "The picture of tool call call_shot2:"]
    elif case.name == "anthropic":
        results = body["messages"][-1]["content"]
        assert [block["content"][0]["type"] for block in results] == ["image", "image"]
    else:
        outputs = [item["output"] for item in body["input"] if item.get("type") == "function_call_output"]
        assert [output[0]["type"] for output in outputs] == ["input_image", "input_image"]


#: the formats whose tool result takes no picture: its pictures follow in a user turn, led by a text naming the call
LED = [c for c in CASES if c.name in ("google", "openai", "azure", "compat")]


@pytest.mark.parametrize("case", LED, ids=[c.name for c in LED])
async def test_two_pictures_of_one_result_are_led_by_a_text_that_says_pictures(case, serve, transport):
    fake, provider, target = await setup(case, serve, transport)
    fake.queue({"text": "Two charts."})
    await provider.complete(_asking([SHAPES["mcp"], SHAPES["openai"]]), target)
    assert fake.violations == []
    body = last_body(fake)
    assert json.dumps(body).count(SHOT) == 2
    if case.name == "google":
        texts = [part["text"] for part in body["contents"][-1]["parts"] if "text" in part]
        assert texts == ["The pictures of tool call screenshot, id call_shot1:"]
    else:
        pictures = body["messages"][-1]["content"]
        texts = [part["text"] for part in pictures if part["type"] == "text"]
        assert texts == ["The pictures of tool call call_shot1:"]
        assert [part["type"] for part in pictures] == ["text", "image_url", "image_url"]


def test_a_tool_results_json_without_a_picture_goes_as_it_did():
    record = [{"type": "resource", "resource": {"uri": "file:///q3.csv", "text": "q,rev\n3,12"}}]
    [*_, tool] = _messages(_history(record))
    assert tool.parts == () and json.loads(tool.content or "") == record


def test_a_record_beside_a_picture_goes_as_its_json_text():
    record = {"type": "resource_link", "uri": "file:///shot.png", "name": "shot.png"}
    [*_, tool] = _messages(_history([SHAPES["mcp"], record]))
    assert tool.parts[1] == json.dumps(record) and tool.images[0].data == SHOT


@pytest.mark.parametrize(
    ("part", "said"),
    [
        ({"type": "input_audio", "input_audio": {"data": "UklGRg", "format": "wav"}}, "a sound"),
        ({"type": "image", "data": "not base64!", "mimeType": "image/png"}, "not base64"),
        ({"type": "image", "data": SHOT, "mimeType": "image/bmp"}, "image/bmp"),
    ],
    ids=["sound", "not-base64", "bmp"],
)
def test_a_part_a_tool_result_cannot_carry_beside_a_picture_is_refused_naming_it(part, said):
    with pytest.raises(E.PayloadError) as info:
        _messages(_history([SHAPES["mcp"], part]))
    assert "model_config.messages[2].content[1]" in info.value.message and said in info.value.message
    assert "not base64!" not in info.value.message


@pytest.mark.parametrize(
    ("target", "most"),
    [(None, 2833 + 5667 * 4), (Target("anthropic", "claude-3-5-sonnet-20241022"), 1049)],
    ids=["any", "claude"],
)
def test_budgets_count_a_tool_results_picture_at_the_most_its_vendor_bills(target, most):
    # Before: its JSON text was counted, some 400,000 tokens of base64
    without = _asking([{"type": "text", "text": SAID}])
    picture = {"type": "image", "data": BIG, "mimeType": "image/png"}
    with_picture = _asking([{"type": "text", "text": SAID}, picture])
    assert estimate_input_tokens(with_picture, target) - estimate_input_tokens(without, target) == most


async def test_a_cascade_carries_a_tool_results_picture_from_claude_to_openai_chat(tmp_path: Path, serve):
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    claude = FakeAnthropic(KEY).queue({"error": 529, "body": overloaded})
    openai = FakeOpenAI(KEY).queue({"text": "A bar chart of Q3."})
    env = {
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": await serve(openai) + "/v1",
        "ANTHROPIC_API_KEY": KEY,
        "ANTHROPIC_BASE_URL": await serve(claude),
        "GEMINI_API_KEY": KEY,
        "GEMINI_BASE_URL": await serve(FakeGemini(KEY)),
        "MAGSAG_RETRY_BASE_DELAY": "0.001",
        "MAGSAG_MAX_RETRIES": "1",
    }
    mc = {
        "model": "anthropic:claude-3-5-sonnet-20241022",
        "fallbacks": ["openai:gpt-4o"],
        "messages": _history([{"type": "text", "text": SAID}, SHAPES["mcp"]]),
    }
    async with await Service.open(catalog=None, db=tmp_path / "l.db", env=env) as svc:
        out = await svc.invoke_skill("skill.analysis", {"data": "Q3", "model_config": mc}, run_id="r-tool-shot")
        [run] = await svc.query_runs()
    assert out.text == "A bar chart of Q3."
    assert [(a.provider, a.error_class) for a in out.attempts] == [("anthropic", "overloaded"), ("openai", None)]
    assert [a["outcome"] for a in run["attempts"]] == ["error", "ok"]
    assert claude.violations == openai.violations == []
    claude_result = claude.requests[-1]["body"]["messages"][-1]["content"][0]["content"]
    assert claude_result[1]["source"]["data"] == SHOT
    *_, tool_message, pictures = openai.requests[-1]["body"]["messages"]
    assert tool_message["content"] == SAID and pictures["content"][1]["image_url"]["url"] == SHOT_URL


#: a picture in a tool result written wrong, the fake it is posted to, and where
WRONG_RESULTS = {
    "anthropic-result-not-base64": (
        "anthropic",
        "/v1/messages",
        {
            "model": "claude-3-5-sonnet-20241022",
            "max_tokens": 10,
            "messages": [
                {"role": "user", "content": "Shoot."},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}]},
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [
                                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "%%"}}
                            ],
                        }
                    ],
                },
            ],
        },
    ),
    "responses-output-not-base64": (
        "openai",
        "/v1/responses",
        {
            "model": "gpt-4o",
            "input": [
                {"role": "user", "content": "Shoot."},
                {"type": "function_call", "call_id": "c1", "name": "shot", "arguments": "{}"},
                {
                    "type": "function_call_output",
                    "call_id": "c1",
                    "output": [{"type": "input_image", "image_url": "data:image/png;base64,%%", "detail": "auto"}],
                },
            ],
        },
    ),
    "chat-tool-message-picture": (
        "openai",
        "/v1/chat/completions",
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "user", "content": "Shoot."},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "shot", "arguments": "{}"}}],
                },
                {
                    "role": "tool",
                    "tool_call_id": "c1",
                    "content": [{"type": "image_url", "image_url": {"url": SHOT_URL}}],
                },
            ],
        },
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG_RESULTS))
async def test_the_fakes_refuse_a_tool_results_picture_written_wrong(serve, name):
    vendor, path, body = WRONG_RESULTS[name]
    make, headers = FAKES[vendor]
    fake = make(KEY)
    url = await serve(fake)
    async with aiohttp.ClientSession() as session, session.post(url + path, json=body, headers=headers) as resp:
        assert resp.status == 400, await resp.text()
    assert fake.violations, name


def test_the_loopback_stand_in_takes_the_pictures_after_a_tool_result_as_the_result():
    # Before: the user message carrying the pictures was taken for a new question, and the demo's tool called again
    from magsag_mcp.loopback import _tool_call
    from magsag_mcp.providers.openai_chat import ChatCompletionsFormat
    from magsag_mcp.types import ToolSpec

    request = _asking([{"type": "text", "text": SAID}, SHAPES["mcp"]])
    request.tools = [ToolSpec("screenshot", "Shoot the screen", {"type": "object", "properties": {}})]
    body, _ = ChatCompletionsFormat().build(request, "gpt-4o", stream=False)
    assert body["messages"][-1]["role"] == "user"
    assert _tool_call(body) is None
