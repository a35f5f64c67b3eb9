"""The machinery every vendor's fake shares: the script of steps, the record of requests, the spec check of every
body, the vendor's auth and error shape asked of the subclass, the request-id headers, and the SSE writer.

A vendor's fake (:mod:`.openai`, :mod:`.anthropic`, :mod:`.gemini`) says only what its API says differently: how a
key is sent and refused, its error body, what its model refuses, and its answers, whole and streamed. The steps it
answers from are described in the package's docstring.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from aiohttp import web

from tests.fakes.spec import spec_validator

#: one scripted answer (see the package's docstring for its keys)
Step = dict[str, Any]


class Fake:
    vendor = ""
    request_schema = ""
    #: the headers the vendor names every request by, on every answer (its errors' and its streams' too): what its
    #: support asks for, and what an error must name. A step's own ``headers`` replace them (a proxy that drops them)
    id_headers: dict[str, str] = {}

    def __init__(self, key: str = "test-key-123456") -> None:
        self.key = key
        self.steps: deque[Step] = deque()
        self.requests: list[dict[str, Any]] = []
        self.violations: list[str] = []

    def queue(self, *steps: Step) -> Fake:
        self.steps.extend(steps)
        return self

    def next_step(self) -> Step:
        return self.steps.popleft() if self.steps else {"text": "ok"}

    def auth_ok(self, request: web.Request) -> bool:
        raise NotImplementedError

    def error_body(self, status: int, message: str, kind: str) -> Any:
        raise NotImplementedError

    def bad_key(self) -> tuple[int, Any]:
        """The status and body the vendor answers a wrong or missing key with."""
        return 401, self.error_body(401, "invalid key", "authentication_error")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            self.violations.append(f"{request.path}: body is not JSON")
            return web.json_response(self.error_body(400, "body is not JSON", "invalid_request_error"), status=400)
        self.requests.append(
            {"path": request.path, "query": dict(request.query), "headers": dict(request.headers), "body": body}
        )
        if not self.auth_ok(request):
            status, refusal = self.bad_key()
            return web.json_response(refusal, status=status, headers=self.id_headers)
        problems = spec_validator(self.vendor).errors(self.schema_for(request), body) or self.picture_problems(
            request, body
        )
        if problems:
            self.violations.extend(problems)
            return web.json_response(
                self.error_body(400, "; ".join(problems)[:500], "invalid_request_error"),
                status=400,
                headers=self.id_headers,
            )
        refusal = self.refuses(request, body)
        if refusal is not None:
            status, refusal = refusal if isinstance(refusal, tuple) else (400, refusal)
            return web.json_response(refusal, status=status, headers=self.id_headers)
        step = self.next_step()
        if "error" in step:
            body_out = step.get("body")
            if body_out is None:
                body_out = self.error_body(
                    step["error"], step.get("message", "scripted failure"), step.get("kind", "api_error")
                )
            headers = step["headers"] if "headers" in step else self.id_headers
            if isinstance(body_out, str):
                return web.Response(status=step["error"], text=body_out, headers=headers)
            return web.json_response(body_out, status=step["error"], headers=headers)
        if self.is_stream(request, body):
            return await self.stream(request, body, step)
        return web.json_response(self.reply(request, body, step), headers=self.id_headers)

    def schema_for(self, request: web.Request) -> str:
        return self.request_schema

    def picture_problems(self, request: web.Request, body: dict[str, Any]) -> list[str]:
        """What is wrong with the request's pictures beyond its schema's word, which no version of the API takes
        (:mod:`tests.fakes.pictures`: bytes that are no base64, a field required in practice)."""
        return []

    def refuses(self, request: web.Request, body: dict[str, Any]) -> Any:
        """The 400 body the model itself answers to a spec-valid request it cannot take (or its status and body, where
        that is no 400: the Responses API's 404 for an item it never stored), or None."""
        return None

    def is_stream(self, request: web.Request, body: dict[str, Any]) -> bool:
        return bool(body.get("stream"))

    def reply(self, request: web.Request, body: dict[str, Any], step: Step) -> Any:
        raise NotImplementedError

    async def stream(self, request: web.Request, body: dict[str, Any], step: Step) -> web.StreamResponse:
        raise NotImplementedError

    async def send_events(
        self, request: web.Request, events: list[tuple[str | None, Any]], cut: bool, *, cut_at: int | None = None
    ) -> web.StreamResponse:
        """``events`` as server-sent events; ``cut``: the connection broken half way through them, or, with ``cut_at``,
        after the first ``cut_at`` of them (``-1``: all but the last)."""
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", **self.id_headers})
        await resp.prepare(request)
        if cut:
            events = events[:cut_at] if cut_at is not None else events[: max(1, len(events) // 2)]
        for name, data in events:
            text = data if isinstance(data, str) else json.dumps(data)
            await resp.write((f"event: {name}\n" if name else "").encode() + f"data: {text}\n\n".encode())
        if cut:
            request.transport.close()  # type: ignore[union-attr]
            return resp
        await resp.write_eof()
        return resp

    def app(self) -> web.Application:
        raise NotImplementedError
