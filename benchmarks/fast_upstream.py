"""A minimal HTTP/1.1 server on asyncio protocols, standing in for the vendors in benchmarks.

It answers OpenAI chat completions, Anthropic messages and Gemini generateContent with prebuilt
bodies, keeps connections alive, and does almost nothing per request (no JSON parsing: the model
name is found with one regular expression), so that it costs far less CPU than the clients being
measured. Models whose name starts with ``fail500`` always answer 500; ``rl429`` answers 429 with
``Retry-After: 0``; ``drop`` closes the connection. Run as ``python -m benchmarks.fast_upstream``:
it prints its base URL and serves until stdin closes.
"""

from __future__ import annotations

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
            "content": [{"type": "text", "text": "ok"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 20, "output_tokens": 5},
        }
    elif kind == "gemini":
        doc = {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 5, "totalTokenCount": 25},
        }
    else:
        doc = {
            "id": "chatcmpl-b",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
        }
    return json.dumps(doc).encode()


def _response(status: int, body: bytes, extra: str = "") -> bytes:
    reason = {200: "OK", 429: "Too Many Requests", 500: "Internal Server Error"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"{extra}Connection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


_ERR = json.dumps({"error": {"message": "planned failure", "type": "server_error", "code": None}}).encode()
_RL = json.dumps({"error": {"message": "slow down", "type": "rate_limit_exceeded", "code": "rate_limit_exceeded"}})


class _Protocol(asyncio.Protocol):
    cache: dict[tuple[str, bytes], bytes] = {}
    requests = 0

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
            kind, m = ("anthropic" if path.endswith(b"/messages") else "openai"), _MODEL.search(body)
        model = m.group(1) if m else b"unknown"
        if model.startswith(b"fail500"):
            self.transport.write(_response(500, _ERR))
            return
        if model.startswith(b"rl429"):
            self.transport.write(_response(429, _RL.encode(), "Retry-After: 0\r\n"))
            return
        if model.startswith(b"drop"):
            self.transport.close()
            return
        key = (kind, model)
        out = self.cache.get(key)
        if out is None:
            out = self.cache[key] = _response(200, _body(kind, model.decode()))
        self.transport.write(out)


async def serve(host: str = "127.0.0.1", port: int = 0) -> tuple[asyncio.AbstractServer, str]:
    server = await asyncio.get_running_loop().create_server(_Protocol, host, port, backlog=1024)
    sock = server.sockets[0]
    return server, f"http://{host}:{sock.getsockname()[1]}"


async def _main() -> None:
    server, url = await serve()
    print(url, flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # serve until the parent closes our stdin
    server.close()


@contextmanager
def upstream_process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """This server in a process of its own, for the benchmark drivers: (the process, its base URL)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fast_upstream"],
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


if __name__ == "__main__":
    asyncio.run(_main())
