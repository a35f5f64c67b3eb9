"""A minimal HTTP/1.1 server on asyncio protocols, standing in for the vendors in benchmarks.

It answers OpenAI chat completions and responses, Anthropic messages and Gemini generateContent with prebuilt
bodies that follow the vendors' specs (``shared/specs``: every required field, nullable ones as
null), keeps connections alive, and does almost nothing per request (no JSON parsing: the model
name is found with one regular expression), so that it costs far less CPU than the clients being
measured. Models whose name starts with ``fail500`` always answer 500; ``rl429`` answers 429 with
``Retry-After: 0``; ``drop`` closes the connection without answering. Each error body is the
vendor's own error shape. ``latency_ms`` (``--latency-ms``) delays every answer, error or drop by
that much without blocking the loop. Run as ``python -m benchmarks.fast_upstream [--latency-ms N]``:
it prints its base URL, answers each line on stdin with the number of requests it has answered
(:func:`requests_served`), and serves until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_MODEL = re.compile(rb'"model"\s*:\s*"([^"]+)"')
_GEMINI = re.compile(rb"/v1beta/models/([^:/]+):")


def _body(kind: str, model: str) -> bytes:
    if kind == "anthropic":
        doc = {
            "id": "msg_b",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "ok", "citations": None}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "stop_details": None,
            "container": None,
            "usage": {
                "input_tokens": 20,
                "output_tokens": 5,
                "cache_creation": None,
                "cache_creation_input_tokens": None,
                "cache_read_input_tokens": None,
                "inference_geo": None,
                "output_tokens_details": None,
                "server_tool_use": None,
                "service_tier": "standard",
            },
        }
    elif kind == "gemini":
        doc = {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 5, "totalTokenCount": 25},
            "modelVersion": model,
            "responseId": "resp-b",
        }
    elif kind == "responses":
        doc = {
            "id": "resp_b",
            "object": "response",
            "created_at": 0,
            "completed_at": 1,
            "status": "completed",
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "max_output_tokens": None,
            "model": model,
            "output": [
                {
                    "type": "message",
                    "id": "msg_b",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "ok", "annotations": [], "logprobs": []}],
                }
            ],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "metadata": {},
            "usage": {
                "input_tokens": 20,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": 5,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 25,
            },
        }
    else:
        doc = {
            "id": "chatcmpl-b",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok", "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
        }
    return json.dumps(doc).encode()


def _error(kind: str, status: int) -> bytes:
    """The vendor's own error body for a 500 or a 429."""
    message = "planned failure" if status == 500 else "slow down"
    if kind == "anthropic":
        err = {"type": "api_error" if status == 500 else "rate_limit_error", "message": message}
        doc: dict[str, object] = {"type": "error", "error": err, "request_id": "req_b"}
    elif kind == "gemini":
        doc = {
            "error": {
                "code": status,
                "message": message,
                "status": "INTERNAL" if status == 500 else "RESOURCE_EXHAUSTED",
            }
        }
    else:
        kind_ = "server_error" if status == 500 else "rate_limit_exceeded"
        doc = {"error": {"message": message, "type": kind_, "param": None, "code": None if status == 500 else kind_}}
    return json.dumps(doc).encode()


def _response(status: int, body: bytes, extra: str = "") -> bytes:
    reason = {200: "OK", 429: "Too Many Requests", 500: "Internal Server Error"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"{extra}Connection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


class _Protocol(asyncio.Protocol):
    cache: dict[tuple[str, bytes], bytes | None] = {}
    requests = 0
    latency = 0.0  # seconds before each answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            self.answer(head.split(b" ", 2)[1], body)

    def answer(self, path: bytes, body: bytes) -> None:
        _Protocol.requests += 1
        if b"/v1beta/" in path:
            kind, m = "gemini", _GEMINI.search(path)
        else:
            kind = (
                "anthropic"
                if path.endswith(b"/messages")
                else "responses"
                if path.endswith(b"/responses")
                else "openai"
            )
            m = _MODEL.search(body)
        model = m.group(1) if m else b"unknown"
        key = (kind, model)
        try:
            out = self.cache[key]
        except KeyError:
            out = self.cache[key] = _prebuilt(kind, model)
        if self.latency:
            asyncio.get_running_loop().call_later(self.latency, self.send, out)
        else:
            self.send(out)

    def send(self, out: bytes | None) -> None:
        if out is None:  # a ``drop`` model: close without answering
            self.transport.close()
        elif not self.transport.is_closing():
            self.transport.write(out)


def _prebuilt(kind: str, model: bytes) -> bytes | None:
    """The whole answer to a request for ``model`` in ``kind``'s shape; None to drop the connection."""
    if model.startswith(b"fail500"):
        return _response(500, _error(kind, 500))
    if model.startswith(b"rl429"):
        return _response(429, _error(kind, 429), "Retry-After: 0\r\n")
    if model.startswith(b"drop"):
        return None
    return _response(200, _body(kind, model.decode()))


async def serve(host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0.0) -> tuple[asyncio.AbstractServer, str]:
    _Protocol.latency = latency_ms / 1000
    server = await asyncio.get_running_loop().create_server(_Protocol, host, port, backlog=1024)
    sock = server.sockets[0]
    return server, f"http://{host}:{sock.getsockname()[1]}"


async def _main(latency_ms: float) -> None:
    server, url = await serve(latency_ms=latency_ms)
    print(url, flush=True)
    loop = asyncio.get_running_loop()
    # Each line on stdin asks how many requests have been answered; serve until the parent closes stdin.
    while await loop.run_in_executor(None, sys.stdin.readline):
        print(_Protocol.requests, flush=True)
    server.close()


@contextmanager
def upstream_process(latency_ms: float = 0.0) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """This server in a process of its own, for the benchmark drivers: (the process, its base URL)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fast_upstream", "--latency-ms", str(latency_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        yield proc, proc.stdout.readline().strip()
    finally:
        proc.stdin.close()  # it serves until stdin closes
        proc.wait(10)


def requests_served(proc: subprocess.Popen[str]) -> int:
    """How many requests the server in ``proc`` (from :func:`upstream_process`) has answered so far."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    return int(proc.stdout.readline())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the benchmarks' loopback upstream")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay every answer by this much")
    asyncio.run(_main(parser.parse_args().latency_ms))
