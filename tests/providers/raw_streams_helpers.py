"""What the raw stream tests (test_raw_stream*.py) share: the chunks of each vendor's stream, where a stream
drops (CUT) or pauses (PAUSE), streams that come whole and are then cut, and the provider that reads each
format. The server that sends them is conftest.py's ``raw_stream`` fixture."""

from __future__ import annotations

import json
from typing import Any

from magsag_mcp.providers.gemini import GeminiProvider
from magsag_mcp.providers.openai import CompatProvider, OpenAIProvider
from magsag_mcp.transport import Transport
from magsag_mcp.types import LLMRequest, Message, Target

MODEL = "some-model"

#: where a stream's connection drops
CUT = b""

#: where a stream pauses a while (the upstream model reasons or writes on): nothing is sent meanwhile
PAUSE = b"<pause>"


def sse(*events: Any) -> list[bytes]:
    """One chunk per event: a dict is sent as its JSON, a string as it is."""
    return [f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n".encode() for e in events]


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
    }


USAGE_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": MODEL,
    "choices": [],
    "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
}


async def compat_stream(base: str, **kw: Any) -> Any:
    transport = Transport()
    try:
        request = LLMRequest(messages=[Message("user", "hi")], stream=True, **kw)
        return await CompatProvider({"MAGSAG_COMPAT_BASE_URL": base}, transport).complete(
            request, Target("compat", MODEL)
        )
    finally:
        await transport.aclose()


def gemini_chunk(text: str, finish: str | None = None, out: int = 1) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    usage = {"promptTokenCount": 5, "candidatesTokenCount": out, "totalTokenCount": 5 + out}
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-2.5-flash"}


async def gemini_stream(base: str) -> Any:
    transport = Transport()
    try:
        provider = GeminiProvider({"GEMINI_API_KEY": "g-key", "GEMINI_BASE_URL": base.removesuffix("/v1")}, transport)
        request = LLMRequest(messages=[Message("user", "hi")], stream=True)
        return await provider.complete(request, Target("google", "gemini-2.5-flash"))
    finally:
        await transport.aclose()


RESPONSE = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1,
    "status": "completed",
    "model": "gpt-4o",
    "output": [
        {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "whole answer", "annotations": []}],
        }
    ],
    "usage": {
        "input_tokens": 9,
        "output_tokens": 4,
        "total_tokens": 13,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    },
}

ANTHROPIC_START = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [],
    "stop_reason": None,
    "stop_sequence": None,
    "usage": {"input_tokens": 9, "output_tokens": 1},
}

#: each vendor's whole stream, up to and including its terminal event, then the connection's end is lost
WHOLE_THEN_CUT = {
    "chat": [*sse(chunk({"content": "whole answer"}), chunk(finish="stop"), USAGE_CHUNK, "[DONE]"), CUT],
    "responses": [
        *sse(
            {"type": "response.created", "sequence_number": 0, "response": {**RESPONSE, "status": "in_progress"}},
            {"type": "response.output_text.delta", "sequence_number": 1, "delta": "whole answer"},
            {"type": "response.completed", "sequence_number": 2, "response": RESPONSE},
        ),
        CUT,
    ],
    "anthropic": [
        f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode()
        for e in (
            {"type": "message_start", "message": ANTHROPIC_START},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "whole answer"}},
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"input_tokens": 9, "output_tokens": 4},
            },
            {"type": "message_stop"},
        )
    ]
    + [CUT],
    # Gemini has no terminal event of its own: the chunk with the candidate's finishReason (and the answer's
    # usage) is the last one it sends
    "gemini": [
        *sse(
            {"candidates": [{"content": {"role": "model", "parts": [{"text": "whole "}]}, "index": 0}]},
            {
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": "answer"}]}, "finishReason": "STOP", "index": 0}
                ],
                "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 4, "totalTokenCount": 13},
            },
        ),
        CUT,
    ],
}


def _streaming_provider(api: str, base: str, transport: Transport) -> tuple[Any, Target]:
    """The provider and target that stream from ``base`` in ``api``'s format: chat, responses, anthropic or gemini."""
    from magsag_mcp.providers.anthropic import AnthropicProvider

    if api == "anthropic":
        env = {"ANTHROPIC_BASE_URL": base.removesuffix("/v1"), "ANTHROPIC_API_KEY": "sk-ant-test-0123456789"}
        return AnthropicProvider(env, transport), Target("anthropic", "claude-sonnet-4-5")
    if api == "gemini":
        env = {"GEMINI_BASE_URL": base.removesuffix("/v1"), "GEMINI_API_KEY": "AIza-test-0123456789"}
        return GeminiProvider(env, transport), Target("google", "gemini-2.5-flash")
    env = {"OPENAI_BASE_URL": base, "OPENAI_API_KEY": "sk-test-0123456789"}
    return OpenAIProvider(env, transport), Target("openai", "gpt-4o", params=(("api", api),))
