"""A loopback stand-in for the vendors' APIs, for offline examples, demos and benchmarks.

It answers OpenAI Chat Completions and Responses, Azure's (its deployment URL, its v1 API and the Responses API of
its dated previews), Anthropic Messages and Gemini ``generateContent`` in their documented shapes (a call asking for
JSON, however its vendor is asked, with a JSON object ``{"answer": ...}``; one offering tools, with a call of the
first, until a tool result comes back), and each one's models list (what ``magsag doctor --probe`` reads), with settable
latency and a per-model plan of failures (``500``, ``503``, ``529``, ``429`` with ``Retry-After`` (Gemini's
``RetryInfo``), ``quota`` for a spent quota or credit as each vendor answers it, ``drop`` for a dropped connection,
``filtered`` for an answer a content filter stopped part way, in each vendor's words: finish_reason ``content_filter``
(with Azure's filter results on its routes), the Responses API's ``incomplete`` response, Claude's ``refusal``,
Gemini's ``SAFETY``; ``paused`` for a turn Claude paused, ``stop_reason`` "pause_turn" with the first half of its text,
whose continuation, the request again with the paused turn appended, is answered with the rest; the other vendors,
which pause no turn, answer it whole). It does as little work per request as it can, so that in a benchmark it never
dominates the client being measured. Its answers, stream events and errors are built in :mod:`.loopback_answers`,
every field the vendors' specs require in them. (The spec-checking fakes used by the test suite live in
``tests/fakes``; this one trusts its callers' requests.)

    with LoopbackUpstream(plans={"gpt-4o": [429, 200]}).running() as up:
        os.environ.update(up.env())
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterator, Mapping
from typing import Any

from aiohttp import web

from .loopback_answers import (
    AZURE_FILTERED,
    AZURE_PROMPT_PASSED,
    GEMINI_BLOCKED,
    anthropic_events,
    anthropic_message,
    anthropic_usage,
    error_body,
    function_call_item,
    google_rate_limited,
    message_item,
    part_way,
    quota_spent,
    response,
    response_events,
)
from .providers.anthropic_answers import JSON_TOOL, JSON_VALUE_TOOL
from .providers.json_output import asks_for_json

Step = int | str

#: the plan step of an answer a content filter stopped part way (a 200, billed: see the module's docstring)
FILTERED = "filtered"
#: the plan step of a turn Claude paused (a 200, billed: its text's first half, its continuation the rest)
PAUSED = "paused"

_KINDS = {
    ("openai", 429): "rate_limit_exceeded",
    ("openai", 500): "server_error",
    ("openai", 503): "server_error",
    ("anthropic", 429): "rate_limit_error",
    ("anthropic", 500): "api_error",
    ("anthropic", 503): "overloaded_error",
    ("anthropic", 529): "overloaded_error",
    ("google", 429): "resource_exhausted",
    ("google", 500): "internal",
    ("google", 503): "unavailable",
}


def _tokens(n_bytes: int) -> int:
    return max(1, (n_bytes + 3) // 4)


class LoopbackUpstream:
    def __init__(
        self,
        *,
        latency_ms: float = 0.0,
        plans: Mapping[str, list[Step]] | None = None,
        reply: str | None = None,
        retry_after: float = 0.05,
    ) -> None:
        self.latency = latency_ms / 1000.0
        self.plans: dict[str, deque[Step]] = defaultdict(deque, {m: deque(p) for m, p in (plans or {}).items()})
        self.reply = reply
        self.retry_after = retry_after
        self.calls: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.tokens: Counter[str] = Counter()  # model -> input+output tokens answered with 200
        #: (model, input_tokens, output_tokens) of every 200 answer, in order: the upstream's own books
        self.log: list[tuple[str, int, int]] = []
        #: the models whose turn was paused (a ``paused`` step), whose next request sending it back goes on with it
        self.paused: set[str] = set()
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    # --- configuration ---------------------------------------------------------------------------

    def plan(self, model: str, *steps: Step) -> None:
        self.plans[model].extend(steps)

    def env(self) -> dict[str, str]:
        """Environment that points every provider at this server, with placeholder keys."""
        b = self.base_url
        return {
            "OPENAI_BASE_URL": f"{b}/v1",
            "OPENAI_API_KEY": "sk-loopback-not-a-real-key",
            "ANTHROPIC_BASE_URL": b,
            "ANTHROPIC_API_KEY": "sk-ant-loopback-not-a-real-key",
            "GEMINI_BASE_URL": b,
            "GEMINI_API_KEY": "loopback-gemini-key",
            "AZURE_OPENAI_ENDPOINT": b,
            "AZURE_OPENAI_API_KEY": "loopback-azure-key",
            "MAGSAG_LOCAL_LLM_BASE_URL": f"{b}/v1",
            "MAGSAG_COMPAT_BASE_URL": f"{b}/v1",
        }

    # --- lifecycle -------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._chat)
        app.router.add_post("/v1/responses", self._responses)
        # Azure's v1 API (api-version v1 or preview: the deployment as the body's model), and the Responses API of
        # its dated previews
        app.router.add_post("/openai/v1/chat/completions", self._chat)
        app.router.add_post("/openai/v1/responses", self._responses)
        app.router.add_post("/openai/responses", self._responses)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post("/v1beta/models/{call}", self._gemini)
        # the model lists `magsag doctor --probe` reads (OpenAI's, Anthropic's and a local server's share a path)
        for path in ("/v1/models", "/openai/models", "/openai/v1/models", "/v1beta/models"):
            app.router.add_get(path, self._models)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        self.base_url = f"http://{host}:{sock.getsockname()[1]}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @contextlib.contextmanager
    def running(self) -> Iterator[LoopbackUpstream]:
        """Serve from a background thread (for synchronous scripts and examples)."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        thread = threading.Thread(target=serve, name="loopback-upstream", daemon=True)
        thread.start()
        ready.wait(10)
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    # --- the shared part of every handler --------------------------------------------------------

    async def _gate(self, request: web.Request, vendor: str, model: str) -> web.StreamResponse | str | None:
        """Latency, then the model's next planned step: None means answer normally, :data:`FILTERED` answer as a
        content filter stopped the answer."""
        self.calls[model] += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        queue = self.plans.get(model)
        step: Step = queue.popleft() if queue else 200
        if step == 200 or (step == PAUSED and vendor != "anthropic"):  # (a pause is Claude's alone)
            return None
        if step == PAUSED:  # (no failure: a paused turn is answered, and goes on)
            return PAUSED
        self.failures[model] += 1
        if step == FILTERED:
            return FILTERED
        if step == "drop":
            transport = request.transport
            if transport is not None:
                transport.close()
            return web.Response(status=500)
        if step == "quota":
            status, body = quota_spent(vendor, model)
            return web.json_response(body, status=status)
        headers: dict[str, str] = {}
        status = int(step)
        body = error_body(
            vendor, status, _KINDS.get((vendor, status), "error"), f"loopback: planned HTTP {status} for {model}"
        )
        if status == 429 and vendor == "google":
            # Google names the wait in the body's google.rpc.RetryInfo, and sends no Retry-After
            body["error"]["details"] = google_rate_limited(model, self.retry_after)
        elif status == 429:
            headers["Retry-After"] = f"{self.retry_after:g}"
        return web.json_response(body, status=status, headers=headers)

    def _text(self, model: str, prompt_bytes: int, filtered: bool = False) -> tuple[str, int, int]:
        """The answer's text and counts, as the upstream's books keep them; ``filtered``: the part that came before a
        content filter's stop, which is billed too."""
        text = self.reply or f"loopback answer from {model}"
        if filtered:
            text = part_way(text)
        n_in, n_out = _tokens(prompt_bytes), _tokens(len(text))
        self.tokens[model] += n_in + n_out
        self.log.append((model, n_in, n_out))
        return text, n_in, n_out

    def _recounted(self, model: str, n_in: int, n_out: int, said: str) -> int:
        """The output tokens of ``said``, a half of a paused turn, written over the whole text's ``n_out`` that
        :meth:`_text` just booked (its last entry: nothing ran between), so that each half reports, and the books keep,
        what it wrote, their sum the whole's, as Claude bills a paused turn's requests: not the whole text twice."""
        counted = _tokens(len(said))
        self.tokens[model] += counted - n_out
        self.log[-1] = (model, n_in, counted)
        return counted

    def _answer(self, early: str | None, model: str, prompt_bytes: int) -> tuple[str, int, int]:
        """:meth:`_text`, of the part a filter let through where the step is :data:`FILTERED`."""
        return self._text(model, prompt_bytes, True) if early == FILTERED else self._text(model, prompt_bytes)

    # --- vendors ---------------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw)
        model = request.match_info.get("deployment") or body.get("model", "")
        early = await self._gate(request, "openai", model)
        if isinstance(early, web.StreamResponse):
            return early
        text, n_in, n_out = self._answer(early, model, len(raw))
        if body.get("response_format", {}).get("type") in ("json_object", "json_schema") and not early:
            text = _json_answer(text)
        call = None if early else _tool_call(body)
        finish = "content_filter" if early else "tool_calls" if call else "stop"
        message: dict[str, Any] = {"role": "assistant", "content": None if call else text, "refusal": None}
        if call:
            message["tool_calls"] = [call]
        # Azure's routes say which filter stopped it, on the choice, and that the prompt passed
        azure = request.path.startswith("/openai/") and early is not None
        filters = {"content_filter_results": AZURE_FILTERED} if azure else {}
        if body.get("stream"):
            base = {
                "id": "chatcmpl-loopback",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
            }
            usage = {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}
            delta: dict[str, Any] = {"role": "assistant", "content": text}
            if call:
                delta = {"role": "assistant", "content": None, "tool_calls": [{"index": 0, **call}]}
            return await _sse(
                request,
                [
                    {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
                    {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish, **filters}]},
                    {**base, "choices": [], "usage": usage},
                    "[DONE]",
                ],
            )
        return web.json_response(
            {
                "id": "chatcmpl-loopback",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None, **filters}],
                **({"prompt_filter_results": AZURE_PROMPT_PASSED} if azure else {}),
                "usage": {
                    "prompt_tokens": n_in,
                    "completion_tokens": n_out,
                    "total_tokens": n_in + n_out,
                    "prompt_tokens_details": {"cached_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0},
                },
            }
        )

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw)
        model = body.get("model", "")
        early = await self._gate(request, "openai", model)
        if isinstance(early, web.StreamResponse):
            return early
        text, n_in, n_out = self._answer(early, model, len(raw))
        if ((body.get("text") or {}).get("format") or {}).get("type") in ("json_object", "json_schema") and not early:
            text = _json_answer(text)
        items = body.get("input") if isinstance(body.get("input"), list) else []
        answered = bool(items) and isinstance(items[-1], dict) and items[-1].get("type") == "function_call_output"
        tools_off = early or answered or body.get("tool_choice") == "none"
        offered = None if tools_off else _offered(body.get("tools") or [])
        if offered is None:
            item = message_item(text)
        else:
            name, args = offered
            item = function_call_item(f"call_loopback_{len(items)}", name, json.dumps(args))
        whole = response(body, model, item, n_in, n_out)
        if early:
            whole.update(status="incomplete", incomplete_details={"reason": "content_filter"})
        if body.get("stream"):
            return await _sse(request, response_events(whole, response(body, model, None, 0, 0)))
        return web.json_response(whole)

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw)
        model = body.get("model", "")
        early = await self._gate(request, "anthropic", model)
        if isinstance(early, web.StreamResponse):
            return early
        text, n_in, n_out = self._answer(early, model, len(raw))
        # JSON as Claude gives it: asked for in the system prompt, or as the input of the tool the call forces
        system = body.get("system") or ""
        if isinstance(system, list):
            system = "".join(b.get("text", "") for b in system if isinstance(b, dict))
        said = _json_answer(text) if asks_for_json(system) else text
        choice, tools, messages = body.get("tool_choice") or {}, body.get("tools") or [], body.get("messages") or []
        if early == PAUSED:  # the first half of the turn, paused; a request sending it back gets the rest
            said = part_way(said)
            self.paused.add(model)
            n_out = self._recounted(model, n_in, n_out, said)
        elif model in self.paused and messages and isinstance(messages[-1], dict):
            if messages[-1].get("role") == "assistant":  # (the paused turn, sent back for the model to go on)
                said = said[len(part_way(said)) :]
                n_out = self._recounted(model, n_in, n_out, said)
            self.paused.discard(model)
        block: dict[str, Any] = {"type": "text", "text": said}
        last = messages[-1].get("content") if messages and isinstance(messages[-1], dict) else None
        answered = isinstance(last, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in last)
        offered: tuple[str, dict[str, Any]] | None
        if early:
            offered = None
        elif choice.get("type") == "tool" and choice.get("name") in (JSON_TOOL, JSON_VALUE_TOOL):
            offered = (choice["name"], {"answer": text})
        elif choice.get("type") == "tool":
            offered = _offered([t for t in tools if isinstance(t, dict) and t.get("name") == choice.get("name")])
        else:
            offered = None if answered or choice.get("type") == "none" else _offered(tools)
        if offered is not None:
            name, args = offered
            block = {"type": "tool_use", "id": f"toolu_loopback_{len(messages)}", "name": name, "input": args}
        ended = "tool_use" if block["type"] == "tool_use" else "end_turn"
        stop = "pause_turn" if early == PAUSED else "refusal" if early else ended
        if body.get("stream"):
            return await _sse(request, anthropic_events(model, block, stop, n_in, n_out))
        return web.json_response(anthropic_message(model, block, stop, anthropic_usage(n_in, n_out)))

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        model = request.match_info["call"].split(":", 1)[0]
        early = await self._gate(request, "google", model)
        if isinstance(early, web.StreamResponse):
            return early
        text, n_in, n_out = self._answer(early, model, len(raw))
        body = json.loads(raw) if b"application/json" in raw or b"functionDeclarations" in raw else {}
        if (body.get("generationConfig") or {}).get("responseMimeType") == "application/json":
            text = _json_answer(text)
        contents = body.get("contents") or []
        parts = (contents[-1].get("parts") or []) if contents and isinstance(contents[-1], dict) else []
        answered = any(isinstance(p, dict) and "functionResponse" in p for p in parts)
        mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
        offered = None if early or answered or mode == "NONE" else _offered(body.get("tools") or [])
        part = {"text": text} if offered is None else {"functionCall": {"name": offered[0], "args": offered[1]}}
        candidate = {"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}
        if early:  # blocked by its SAFETY filter, which names the category
            candidate.update(finishReason="SAFETY", safetyRatings=GEMINI_BLOCKED)
        chunk = {
            "candidates": [candidate],
            "usageMetadata": {
                "promptTokenCount": n_in,
                "candidatesTokenCount": n_out,
                "totalTokenCount": n_in + n_out,
            },
            "modelVersion": model,
        }
        if request.match_info["call"].endswith(":streamGenerateContent"):
            return await _sse(request, [chunk])
        return web.json_response(chunk)

    async def _models(self, request: web.Request) -> web.Response:
        """The models list, in the asking vendor's shape: every model the plans name, and one besides."""
        names = sorted({*self.plans, "loopback-model"})
        if request.path == "/v1beta/models":
            return web.json_response({"models": [{"name": f"models/{n}", "displayName": n} for n in names]})
        if "anthropic-version" in request.headers:
            made = "2025-01-01T00:00:00Z"
            claude = [{"type": "model", "id": n, "display_name": n, "created_at": made} for n in names]
            return web.json_response({"data": claude, "has_more": False, "first_id": names[0], "last_id": names[-1]})
        listed = [{"id": n, "object": "model", "created": 0, "owned_by": "loopback"} for n in names]
        return web.json_response({"object": "list", "data": listed})

    def summary(self) -> dict[str, Any]:
        return {"calls": dict(self.calls), "failures": dict(self.failures), "tokens": dict(self.tokens)}


def _json_answer(text: str) -> str:
    """The answer to a call that asked for JSON (any vendor's JSON mode): the text, as a JSON object."""
    return json.dumps({"answer": text})


def _offered(tools: list[Any]) -> tuple[str, dict[str, Any]] | None:
    """The first function a request offers, in any vendor's shape (chat's, the Responses API's, Claude's,
    Gemini's functionDeclarations), and arguments for it: its required string fields filled with "revenue",
    any other required field with 1 (as a model would ask for data before answering)."""
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        fn = tool["function"] if isinstance(tool.get("function"), dict) else tool
        for declared in tool.get("functionDeclarations") or [fn]:
            if not isinstance(declared, dict) or "name" not in declared:
                continue
            params = declared.get("parameters") or declared.get("parametersJsonSchema") or declared.get("input_schema")
            props = (params or {}).get("properties") or {}
            required = (params or {}).get("required") or []
            kind = {n: str((props.get(n) or {}).get("type", "")).lower() for n in required}
            return declared["name"], {n: "revenue" if kind[n] == "string" else 1 for n in required}
    return None


def _tool_call(body: dict[str, Any]) -> dict[str, Any] | None:
    """A chat request offering tools, whose last message is not a tool result, gets a call of the first tool. (The
    user message after the results, which carries their pictures, is no new question: see openai_chat._tool_pictures)"""
    messages = body.get("messages") or []
    roles = [m.get("role") if isinstance(m, dict) else None for m in messages[-2:]]
    if body.get("tool_choice") == "none" or roles[-1:] == ["tool"] or roles == ["tool", "user"]:
        return None
    offered = _offered(body.get("tools") or [])
    if offered is None:
        return None
    return {
        "id": f"call_loopback_{len(messages)}",
        "type": "function",
        "function": {"name": offered[0], "arguments": json.dumps(offered[1])},
    }


async def _sse(request: web.Request, events: list[Any]) -> web.StreamResponse:
    """Write ``events`` as one text/event-stream body: dicts as ``data:``, (name, dict) with ``event:``."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    parts = []
    for ev in events:
        if isinstance(ev, tuple):
            parts.append(f"event: {ev[0]}\ndata: {json.dumps(ev[1])}\n\n")
        elif isinstance(ev, str):
            parts.append(f"data: {ev}\n\n")
        else:
            parts.append(f"data: {json.dumps(ev)}\n\n")
    try:
        await resp.prepare(request)
        await resp.write("".join(parts).encode())
        await resp.write_eof()
    except ConnectionResetError:
        # the client hung up (its own timeout or cancellation): nobody is left to answer, and aiohttp would print
        # the write's traceback as a server error (an unstreamed answer's failed write it drops silently)
        pass
    return resp
