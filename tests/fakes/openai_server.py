"""A loopback OpenAI: Chat Completions, Responses and Azure OpenAI's deployment URL, checked against the specs.

    async with FakeOpenAI().running() as fake:          # or the ``fake_openai`` pytest fixture
        fake.queue(reply("hi"), rate_limited(retry_after="1"))
        target = Target("openai", "gpt-4o", base_url=fake.url + "/v1")
        ...
        method, path, query, headers, body = fake.requests[0]

Every request body is validated against the spec's request schema (``CreateChatCompletionRequest``,
``CreateResponse``; Azure's ``createChatCompletionRequest``). A violation is answered with a 400 in the
vendor's error shape *and* kept in :attr:`FakeOpenAI.violations`, which the fixture asserts empty, so a
provider that sends what the API would reject fails its test even if it copes with the 400. A field at the root
that the API does not have (the schemas allow additional properties) is refused as the API refuses it, 400
"Unrecognized request argument supplied: NAME" (the Responses API's "Unknown parameter: 'NAME'."; an Azure
deployment's by its api-version: :mod:`tests.fakes.request_check` judges), but for a compatible
vendor's own fields that a test names in :attr:`FakeOpenAI.extra_fields`.

Auth is checked as each API wants it: ``Authorization: Bearer <key>`` on ``/v1`` (skipped when the fake
has no key, like a local server), ``api-key`` plus an ``api-version`` query on Azure routes.
Answers come from a queue of steps (:mod:`tests.fakes.openai_replies`); an empty queue answers
``default`` (a short text), so a fake also serves cascade tests and benchmarks that script nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy

from . import openai_replies as R
from .openai_replies import ErrorReply, Reply, Step
from .pictures import openai_picture_refusal
from .request_check import refusal_words, unrecognized_arguments
from .spec import spec_validator

__all__ = ["FakeOpenAI", "RecordedRequest", "NO_RESPONSES_API", "DEFAULT_KEY", "AZURE_KEY"]

DEFAULT_KEY = "sk-test-fake0123456789abcdef"
#: Azure keys are 32 hex characters: nothing about them looks like a key to a pattern
AZURE_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

#: how servers without the Responses API answer ``POST /v1/responses`` (status, content type, body)
NO_RESPONSES_API: dict[str, tuple[int, str, str]] = {
    # Ollama before 0.13 and other Go routers: the stock 404 text
    "ollama": (404, "text/plain", "404 page not found"),
    # FastAPI-based servers (vLLM, llama-cpp-python) for an unknown route
    "fastapi": (404, "application/json", json.dumps({"detail": "Not Found"})),
    "method": (405, "text/plain", "405: Method Not Allowed"),
    "not-implemented": (501, "application/json", json.dumps({"error": "Not Implemented"})),
    # servers that route everything under /v1 and reject the path in their own error shape
    "unsupported-400": (
        400,
        "application/json",
        json.dumps(
            {
                "error": {
                    "message": "The /v1/responses endpoint is not supported by this server; use /v1/chat/completions",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "unsupported_endpoint",
                }
            }
        ),
    ),
    # LM Studio before it had the Responses API: any unknown route is answered 200 (its log says "Returning
    # 200 anyway") with this body (lmstudio-ai/lmstudio-bug-tracker#618)
    "lmstudio-200": (
        200,
        "application/json",
        json.dumps({"error": "Unexpected endpoint or method. (POST /v1/responses)"}),
    ),
}

_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")


class RecordedRequest(NamedTuple):
    method: str
    path: str
    query: dict[str, str]
    #: case-insensitive, as HTTP headers are
    headers: CIMultiDictProxy[str]
    body: Any


class FakeOpenAI:
    """One fake server for the whole OpenAI family. Not thread-safe; one per test."""

    def __init__(
        self,
        *,
        key: str | None = DEFAULT_KEY,
        azure_key: str = AZURE_KEY,
        default: Reply | None = None,
        validate: bool = True,
    ) -> None:
        self.key = key
        self.azure_key = azure_key
        #: a Microsoft Entra ID token the Azure routes also take, as ``Authorization: Bearer`` (None: none does)
        self.azure_token: str | None = None
        #: the organization the key belongs to: a request naming another in ``OpenAI-Organization`` is refused
        self.organization: str | None = None
        #: whether the organization is verified: one that is not may not stream the reasoning models (o3, gpt-5)
        self.verified = True
        self.default = default or R.reply("ok")
        self.validate = validate
        self.steps: deque[Step] = deque()
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        #: fields a compatible vendor's API takes beyond OpenAI's, which a test sends on purpose: the OpenAI paths
        #: take these, and refuse any other field their spec lacks, as OpenAI does
        self.extra_fields: set[str] = set()
        #: Azure deployment (or a gateway's alias, or a model newer than the provider's rules, on ``/v1``) -> the
        #: model it serves (or is like), which then
        #: refuses what that model refuses (and Azure's own 400 for a model chat completions do not serve); an
        #: Azure deployment not named here refuses nothing
        self.deployments: dict[str, str] = {}
        #: set by :meth:`without_responses_api`
        self.responses_answer: tuple[int, str, str] | None = None
        #: the encrypted reasoning each API of this fake handed out -> that API ("openai" or "azure"): as OpenAI's
        #: organization and an Azure resource each encrypt with keys of their own, one refuses the other's
        self.issued_reasoning: dict[str, str] = {}
        self.url = ""
        self._release = asyncio.Event()
        self._app: web.Application | None = None

    # --- scripting --------------------------------------------------------------------------------

    def queue(self, *steps: Step) -> FakeOpenAI:
        self.steps.extend(steps)
        return self

    def without_responses_api(self, kind: str = "ollama") -> FakeOpenAI:
        """Answer ``/v1/responses`` as a server that lacks it (see :data:`NO_RESPONSES_API`); no step is used."""
        self.responses_answer = NO_RESPONSES_API[kind]
        return self

    def release(self) -> None:
        """Let hanging and stalled answers finish (their client has usually given up by then)."""
        self._release.set()

    async def cancel_once_received(self, scope: Any, count: int = 1) -> None:
        """Cancel ``scope`` (an anyio cancel scope around a call) once this server holds ``count`` requests: a call cut
        then was cut in flight. A timer in its place (move_on_after(0.1)) could fire, on a loaded machine, while the
        request still waited for its connection: nothing of it had left, and the call was recorded as not sent."""
        while len(self.requests) < count:
            await asyncio.sleep(0.001)
        scope.cancel()

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    # --- serving ----------------------------------------------------------------------------------

    @property
    def app(self) -> web.Application:
        """The aiohttp app, for a ``TestServer`` of the caller's own (made once; see :meth:`make_app`)."""
        if self._app is None:
            self._app = self.make_app()
        return self._app

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._azure_chat)
        app.router.add_post("/openai/v1/chat/completions", self._azure_v1_chat)
        app.router.add_get("/openai/models", self._azure_models)
        app.router.add_get("/openai/v1/models", self._azure_models)
        app.router.add_post("/openai/v1/responses", self._azure_responses)
        app.router.add_post("/openai/responses", self._azure_responses)
        return app

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[FakeOpenAI]:
        """Serve on 127.0.0.1 (a free port); ``self.url`` is ``http://127.0.0.1:PORT``. Can be entered again
        (a benchmark's next ``asyncio.run``): each run gets a fresh app and release event."""
        self._release = asyncio.Event()
        server = TestServer(self.make_app(), host="127.0.0.1")
        await server.start_server()
        self.url = str(server.make_url("")).rstrip("/")
        try:
            yield self
        finally:
            self.release()
            await server.close()

    # --- handlers ---------------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> Any:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.requests.append(
            RecordedRequest(
                request.method, request.path, dict(request.query), CIMultiDictProxy(CIMultiDict(request.headers)), body
            )
        )
        return body

    def _check(self, vendor: str, schema: str, request: web.Request, body: Any) -> list[str]:
        if not isinstance(body, dict):
            problems = [f"(root): the body is not a JSON object: {str(body)[:80]!r}"]
        elif not self.validate:
            return []
        else:
            problems = spec_validator(vendor).errors(schema, body)
            # a picture no version of the API takes as written (bytes that are no base64), beyond the schema's word
            picture = None if problems else openai_picture_refusal(body, responses=request.path.endswith("/responses"))
            if picture is not None and picture[1]:
                problems = [picture[0]]
        self.violations += [f"{request.method} {request.path}: {p}" for p in problems]
        return problems

    def _unrecognized(self, request: web.Request, body: Any) -> ErrorReply | None:
        """The API's 400 for a field at a request's root that it does not have (the first, as OpenAI names one), in
        its own words (:func:`~tests.fakes.request_check.refusal_words`: Chat Completions' "Unrecognized request
        argument supplied: NAME", the Responses API's "Unknown parameter: 'NAME'."), kept in :attr:`violations` too;
        an Azure deployment's judged by the ``api-version`` of its query; a field of :attr:`extra_fields` is taken."""
        if not self.validate:
            return None
        version = request.query.get("api-version")
        names = unrecognized_arguments(request.path, body, self.extra_fields, version)
        if not names:
            return None
        message, param, code = refusal_words(request.path, names[0])
        self.violations += [f"{request.method} {request.path}: {message}"]
        return R.error(400, message, type="invalid_request_error", param=param, code=code)

    def _bearer_ok(self, request: web.Request) -> bool:
        if self.key is None:
            return True
        return request.headers.get("Authorization") == f"Bearer {self.key}" and not self._other_org(request)

    def _other_org(self, request: web.Request) -> bool:
        org = request.headers.get("OpenAI-Organization")
        return self.organization is not None and org not in (None, self.organization)

    def _unauthorized(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") == f"Bearer {self.key}" and self._other_org(request):
            # a key sent with an organization it does not belong to
            message = "OpenAI-Organization header should match organization for API key"
            return self._error(R.error(401, message, code="mismatched_organization"))
        # OpenAI echoes (a masked form of) the key it got; echoing it whole is the worst case for redaction.
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        err = R.error(
            401,
            f"Incorrect API key provided: {given}. You can find your API key at https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )
        return self._error(err)

    def _azure_denied(self, request: web.Request) -> web.Response | None:
        """Azure's 401 unless the request carries the resource's ``api-key`` or (without one) a valid Entra
        ID token as ``Authorization: Bearer``, each answered the way Azure answers it."""
        if "api-key" not in request.headers and request.headers.get("Authorization", "").startswith("Bearer "):
            if self.azure_token is not None and request.headers["Authorization"] == f"Bearer {self.azure_token}":
                return None
            message = (
                "Unauthorized. Access token is missing, invalid, audience is incorrect "
                "(https://cognitiveservices.azure.com), or have expired."
            )
            return self._error(R.error(401, message, code="401"), azure=True)
        if request.headers.get("api-key") != self.azure_key:
            message = (
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
                "valid key for an active subscription and use a correct regional API endpoint for your resource."
            )
            return self._error(R.error(401, message, code="401"), azure=True)
        return None

    def _error(self, err: ErrorReply, *, azure: bool = False) -> web.Response:
        headers = {"x-request-id": "req_fake", **err.headers}
        if err.raw is not None:
            return web.Response(status=err.status, text=err.raw, content_type=err.content_type, headers=headers)
        return web.json_response(R.error_body(err, azure=azure), status=err.status, headers=headers)

    def _served(self, body: Any) -> str:
        """The model a request's ``model`` names: an Azure deployment's (:attr:`deployments`), else itself."""
        model = str(body.get("model", "")) if isinstance(body, dict) else ""
        return self.deployments.get(model, model)

    def _deployment_refuses(self, deployment: str, body: dict[str, Any]) -> ErrorReply | None:
        """What Azure answers a chat request that the deployment's model (:attr:`deployments`) cannot take."""
        model = self.deployments.get(deployment)
        if model is None:
            return None
        if RESPONSES_ONLY.match(model) or model.startswith("text-embedding"):
            message = (
                f"The chatCompletion operation does not work with the specified model, {model}. Please choose "
                "different model and try again. You can learn more about which models can be used with each "
                "operation here: https://go.microsoft.com/fwlink/?linkid=2197993."
            )
            return R.error(400, message, code="OperationNotSupported")
        return model_refuses({**body, "model": model})

    def _next(self) -> Step:
        return self.steps.popleft() if self.steps else self.default

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if not self._bearer_ok(request):
            return self._unauthorized(request)
        if problems := self._check("openai", "CreateChatCompletionRequest", request, body):
            return self._error(R.error(400, "; ".join(problems)[:1000], param=None, code="invalid_request"))
        if unrecognized := self._unrecognized(request, body):
            return self._error(unrecognized)
        if refusal := model_refuses({**body, "model": self._served(body)}) or self._stream_refused(body):
            return self._error(refusal)
        return await self._answer_chat(request, body, body["model"], azure=False)

    def _stream_refused(self, body: dict[str, Any]) -> ErrorReply | None:
        """OpenAI's answer to a streamed request for a reasoning model from an organization not verified."""
        if self.verified or not body.get("stream") or not reasons(str(body.get("model", "")), "medium"):
            return None
        message = (
            "Your organization must be verified to stream this model. Please go to: "
            "https://platform.openai.com/settings/organization/general and click on Verify Organization. If you "
            "just verified, it can take up to 15 minutes for access to propagate."
        )
        return R.error(400, message, param="stream", code="unsupported_value")

    async def _azure_chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        version = request.query.get("api-version")
        if not version:
            # what Azure answers when the query lacks api-version
            return self._error(R.error(404, "Resource not found", code="404"), azure=True)
        if not _API_VERSION.match(version):
            return self._error(R.error(400, "API version not supported", code="BadRequest"), azure=True)
        if denied := self._azure_denied(request):
            return denied
        if (
            isinstance(body, dict)
            and "max_completion_tokens" in body
            and not _azure_knows_max_completion_tokens(version)
        ):
            # what api-versions before max_completion_tokens (2024-09-01-preview; GA 2024-10-21) answer
            err = R.error(
                400, "Unrecognized request argument supplied: max_completion_tokens", type="invalid_request_error"
            )
            return self._error(err, azure=True)
        if (
            isinstance(body, dict)
            and (body.get("response_format") or {}).get("type") == "json_schema"
            and not _azure_knows_json_schema(version)
        ):
            # structured outputs came with 2024-08-01-preview (GA 2024-10-21); before, only text and json_object
            err = R.error(
                400,
                "Invalid parameter: 'response_format' must be one of 'json_object', 'text'.",
                type="invalid_request_error",
                param="response_format",
            )
            return self._error(err, azure=True)
        strict = [
            i
            for i, tool in enumerate(body.get("tools") or [] if isinstance(body, dict) else [])
            if isinstance(tool, dict) and "strict" in (tool.get("function") or {})
        ]
        if strict and not _azure_knows_json_schema(version):
            # strict function calling came with structured outputs (2024-08-01-preview; GA 2024-10-21)
            err = R.error(
                400,
                f"Unrecognized request argument supplied: tools[{strict[0]}].function.strict",
                type="invalid_request_error",
            )
            return self._error(err, azure=True)
        if problems := self._check("azure", "createChatCompletionRequest", request, body):
            return self._error(R.error(400, "; ".join(problems)[:1000], code="BadRequest"), azure=True)
        if unrecognized := self._unrecognized(request, body):
            return self._error(unrecognized, azure=True)
        deployment = request.match_info["deployment"]
        if refusal := format_refused(body) or self._deployment_refuses(deployment, body):
            return self._error(refusal, azure=True)
        return await self._answer_chat(request, body, deployment, azure=True)

    async def _azure_v1_chat(self, request: web.Request) -> web.StreamResponse:
        """Azure's v1 API: OpenAI's own paths below ``/openai/v1``, the deployment as ``model``, no dated
        api-version (none at all, or ``preview`` for preview features)."""
        body = await self._record(request)
        if request.query.get("api-version") not in (None, "preview"):
            return self._error(R.error(400, "API version not supported", code="BadRequest"), azure=True)
        if denied := self._azure_denied(request):
            return denied
        if problems := self._check("openai", "CreateChatCompletionRequest", request, body):
            return self._error(R.error(400, "; ".join(problems)[:1000], code="BadRequest"), azure=True)
        if refusal := format_refused(body) or self._deployment_refuses(body["model"], body):
            return self._error(refusal, azure=True)
        return await self._answer_chat(request, body, body["model"], azure=True)

    async def _answer_chat(
        self, request: web.Request, body: dict[str, Any], model: str, *, azure: bool
    ) -> web.StreamResponse:
        step = self._next()
        streamed = bool(body.get("stream"))
        if isinstance(step, ErrorReply) and not (step.in_stream and streamed):
            return self._error(step, azure=azure)
        if isinstance(step, Reply) and step.hang:
            await self._release.wait()
            return web.Response(status=204)
        if not streamed or (isinstance(step, Reply) and (step.ignores_stream or step.raw_body is not None)):
            assert isinstance(step, Reply)
            if step.raw_body is not None:
                return web.Response(status=200, text=step.raw_body, content_type="text/html")
            return web.json_response(R.chat_completion(model, step, azure=azure), headers=_headers(step))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if isinstance(step, ErrorReply):
            first = R.chat_chunks(model, R.reply("partial"), include_usage=include_usage)[:2]
            events = [(None, e) for e in first] + [(None, R.chat_error_chunk(step))]
            return await self._sse(request, events, Reply(headers=step.headers))
        chunks = R.chat_chunks(model, step, include_usage=include_usage, azure=azure)
        if azure:
            # Azure streams the prompt's filter results first, in a chunk with no choice, id or model, and
            # each choice's with it
            chunks.insert(0, R.azure_prompt_filter_chunk())
            for c in chunks:
                for choice in c.get("choices") or [] if isinstance(c, dict) else []:
                    choice["content_filter_results"] = (
                        (step.filter_results or {}) if choice["finish_reason"] else R.azure_filters()
                    )
            if step.flagged_after is not None:
                # the asynchronous filter's annotation, after the text it checked (which had streamed unchecked)
                end = len(step.text or "")
                offsets = {"check_offset": end, "start_offset": 0, "end_offset": end}
                choice = {"index": 0, "finish_reason": None, "content_filter_results": step.flagged_after}
                annotation = {"choices": [{**choice, "content_filter_offsets": offsets}], "created": 0, "id": ""}
                finish = next(
                    i
                    for i, c in enumerate(chunks)
                    if isinstance(c, dict) and c["choices"][0:1] and c["choices"][0]["finish_reason"]
                )
                chunks.insert(finish, {**annotation, "model": "", "object": "chat.completion.chunk"})
        return await self._sse(request, [(None, c) for c in chunks], step)

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if self.responses_answer is not None:
            status, content_type, text = self.responses_answer
            return web.Response(status=status, text=text, content_type=content_type)
        if not self._bearer_ok(request):
            return self._unauthorized(request)
        return await self._answer_responses(request, body, azure=False)

    async def _azure_responses(self, request: web.Request) -> web.StreamResponse:
        """Azure's Responses API: the v1 API's ``/openai/v1/responses`` (no dated api-version), or the dated
        previews' ``/openai/responses?api-version=2025-03-01-preview`` (and later); the deployment as ``model``."""
        body = await self._record(request)
        version = request.query.get("api-version")
        if request.path.startswith("/openai/v1/"):
            if version not in (None, "preview"):
                return self._error(R.error(400, "API version not supported", code="BadRequest"), azure=True)
        elif not version or not version.endswith("-preview") or version[:10] < "2025-03-01":
            return self._error(R.error(404, "Resource not found", code="404"), azure=True)
        if denied := self._azure_denied(request):
            return denied
        return await self._answer_responses(request, body, azure=True)

    async def _answer_responses(self, request: web.Request, body: Any, *, azure: bool) -> web.StreamResponse:
        if problems := self._check("openai", "CreateResponse", request, body):
            return self._error(R.error(400, "; ".join(problems)[:1000], code="invalid_request"), azure=azure)
        if not azure and (unrecognized := self._unrecognized(request, body)):
            return self._error(unrecognized)
        if (
            refusal := format_refused(body, responses=True)
            or responses_model_refuses({**body, "model": self._served(body)})
            or self._foreign_reasoning(body, "azure" if azure else "openai")
            or (None if azure else self._stream_refused(body))
        ):
            return self._error(refusal, azure=azure)
        step = self._next()
        if isinstance(step, Reply) and step.reasoning is not None:
            self.issued_reasoning[step.reasoning] = "azure" if azure else "openai"
        streamed = bool(body.get("stream"))
        if isinstance(step, ErrorReply) and not (step.in_stream and streamed):
            return self._error(step, azure=azure)
        if isinstance(step, Reply) and step.hang:
            await self._release.wait()
            return web.Response(status=204)
        response_id = R.new_response_id()
        if not streamed:
            assert isinstance(step, Reply)
            return web.json_response(R.response_object(body, step, response_id=response_id), headers=_headers(step))
        if isinstance(step, ErrorReply):
            first = R.response_events(body, R.reply("partial"), response_id=response_id)[:5]
            events = [*first, R.response_error_event(step, len(first))]
            return await self._sse(request, [(e["type"], e) for e in events], Reply(headers=step.headers))
        events = R.response_events(body, step, response_id=response_id)
        return await self._sse(request, [(e["type"], e) for e in events], step)

    def _foreign_reasoning(self, body: dict[str, Any], realm: str) -> ErrorReply | None:
        """What the API answers a reasoning item whose encrypted content another of this fake's APIs handed out
        (OpenAI's, sent to Azure, or the other way): it cannot decrypt it."""
        for item in body.get("input") if isinstance(body.get("input"), list) else []:
            if not (isinstance(item, dict) and item.get("type") == "reasoning"):
                continue
            issuer = self.issued_reasoning.get(str(item.get("encrypted_content")))
            if issuer is not None and issuer != realm:
                message = (
                    f"The encrypted content for item {item.get('id')} could not be verified. Reason: Encrypted "
                    "content could not be decrypted or parsed."
                )
                return R.error(400, message, code="invalid_encrypted_content")
        return None

    async def _models(self, request: web.Request) -> web.Response:
        await self._record(request)
        if not self._bearer_ok(request):
            return self._unauthorized(request)
        data = [{"id": "gpt-4o", "object": "model", "created": R.CREATED, "owned_by": "system"}]
        return web.json_response({"object": "list", "data": data})

    async def _azure_models(self, request: web.Request) -> web.Response:
        """Azure's model list: ``/openai/models?api-version=...`` (the v1 API: ``/openai/v1/models``)."""
        await self._record(request)
        if not request.path.startswith("/openai/v1/") and not request.query.get("api-version"):
            return self._error(R.error(404, "Resource not found", code="404"), azure=True)
        if denied := self._azure_denied(request):
            return denied
        data = [{"id": "gpt-4o", "object": "model", "created_at": R.CREATED, "status": "succeeded"}]
        return web.json_response({"object": "list", "data": data})

    async def _sse(self, request: web.Request, events: list[tuple[str | None, Any]], step: Reply) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        resp.headers.update(_headers(step))
        await resp.prepare(request)
        limit = next((n for n in (step.cut_after, step.truncate_after, step.stall_after) if n is not None), None)
        for name, data in events[:limit]:
            text = data if isinstance(data, str) else json.dumps(data)
            await resp.write((f"event: {name}\n" if name else "").encode() + f"data: {text}\n\n".encode())
            if step.drip:
                await asyncio.sleep(0)
        if step.cut_after is not None:
            # drop the TCP connection mid-body: the client sees an unterminated chunked stream
            assert request.transport is not None
            request.transport.close()
            return resp
        if step.stall_after is not None:
            await self._release.wait()
        await resp.write_eof()
        return resp


def _azure_knows_max_completion_tokens(version: str) -> bool:
    """max_completion_tokens came to Azure with 2024-09-01-preview; the first GA version with it is 2024-10-21."""
    return version[:10] >= ("2024-09-01" if version.endswith("-preview") else "2024-10-21")


def _azure_knows_json_schema(version: str) -> bool:
    """response_format json_schema came to Azure with 2024-08-01-preview; the first GA version with it is 2024-10-21."""
    return version[:10] >= ("2024-08-01" if version.endswith("-preview") else "2024-10-21")


#: o3 and o4-mini and their snapshots (not o3-mini, which came before them)
_NO_STOP = re.compile(r"^(?:o3(?!-mini)|o4-mini)(?:-|$)")


def _mentions_json(value: Any) -> bool:
    """Whether "json" (any case) is anywhere in a message's or an input item's text."""
    if isinstance(value, str):
        return "json" in value.lower()
    if isinstance(value, list):
        return any(_mentions_json(v) for v in value)
    if isinstance(value, dict):
        return any(_mentions_json(value.get(k)) for k in ("content", "text", "output"))
    return False


_SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def tool_name_refused(body: dict[str, Any], *, responses: bool = False) -> ErrorReply | None:
    """A function's name outside what the API takes: Chat Completions' "Must be a-z, A-Z, 0-9, or contain underscores
    and dashes, with a maximum length of 64", the Responses API's ``^[a-zA-Z0-9_-]+$`` of up to 128 (the API's own 400,
    which names the pattern)."""
    limit = 128 if responses else 64
    for i, tool in enumerate(body.get("tools") if isinstance(body.get("tools"), list) else []):
        fn = tool if responses else tool.get("function") if isinstance(tool, dict) else None
        name = fn.get("name") if isinstance(fn, dict) else None
        if isinstance(name, str) and not re.fullmatch(r"[a-zA-Z0-9_-]+", name):
            where = f"tools[{i}].name" if responses else f"tools[{i}].function.name"
            message = f"Invalid '{where}': string does not match pattern. Expected a string that matches the pattern "
            return R.error(400, message + "'^[a-zA-Z0-9_-]+$'.", param=where, code="invalid_value")
        if isinstance(name, str) and len(name) > limit:
            where = f"tools[{i}].name" if responses else f"tools[{i}].function.name"
            message = (
                f"Invalid '{where}': string too long. Expected a string with maximum length {limit}, but got a string "
                f"with length {len(name)} instead."
            )
            return R.error(400, message, param=where, code="string_above_max_length")
    return None


def format_refused(body: dict[str, Any], *, responses: bool = False) -> ErrorReply | None:
    """What the API answers a spec-valid request whose output format it refuses: a JSON schema's name outside
    the spec's "a-z, A-Z, 0-9, or contain underscores and dashes, with a maximum length of 64"; JSON mode
    without the word "json" in the conversation (the spec: the caller "must also instruct the model to produce
    JSON"); and a tool's name it refuses (:func:`tool_name_refused`)."""
    if (refused := tool_name_refused(body, responses=responses)) is not None:
        return refused
    fmt = body.get("text", {}).get("format") if responses and isinstance(body.get("text"), dict) else None
    schema = fmt if isinstance(fmt, dict) else (body.get("response_format") or {}).get("json_schema")
    name = (
        schema.get("name") if isinstance(schema, dict) and schema.get("type", "json_schema") == "json_schema" else None
    )
    if isinstance(name, str) and not _SCHEMA_NAME.match(name):
        where = "text.format.name" if responses else "response_format.json_schema.name"
        message = f"Invalid '{where}': string does not match pattern. Expected a string that matches the pattern "
        return R.error(400, message + "'^[a-zA-Z0-9_-]+$'.", param=where, code="invalid_value")
    root = schema.get("schema") if isinstance(schema, dict) and name is not None else None  # (a json_schema format's)
    if isinstance(root, dict) and root.get("type") != "object":
        # structured outputs answer an object at the root, strict or not (the API's own 400, before the model is
        # asked: "Invalid schema for response_format 'AdSegmentPredictionList': schema must be a JSON Schema of
        # 'type: "object"', got 'type: "array"'.", param response_format, code null)
        message = f"Invalid schema for response_format '{name}': schema must be a JSON Schema of 'type: \"object\"', "
        message += f"got 'type: \"{root.get('type')}\"'."
        return R.error(400, message, param="text.format.schema" if responses else "response_format")
    if isinstance(schema, dict) and schema.get("strict") is True and (why := _not_strict(schema.get("schema"))):
        # structured outputs' subset of JSON Schema: the API's own 400, before the model is asked
        return R.error(
            400,
            f"Invalid schema for response_format '{name}': In context=(), {why}",
            param="text.format.schema" if responses else "response_format",
            code="invalid_json_schema",
        )
    for i, tool in enumerate(body.get("tools") or []):
        # a strict function's schema, held to the same subset ("Invalid schema for function 'f': In context=(), ...")
        fn = (tool.get("function") if not responses else tool) if isinstance(tool, dict) else None
        if isinstance(fn, dict) and fn.get("strict") is True and (why := _not_strict(fn.get("parameters"))):
            where = f"tools[{i}].parameters" if responses else f"tools[{i}].function.parameters"
            message = f"Invalid schema for function '{fn.get('name')}': In context=(), {why}"
            return R.error(400, message, param=where, code="invalid_function_parameters")
    if responses:
        fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
        if not (isinstance(fmt, dict) and fmt.get("type") == "json_object"):
            return None
        # the input messages alone: "json" in the instructions does not count (OpenAI's check reads the input)
        if _mentions_json(body.get("input")):
            return None
        message = "Response input messages must contain the word 'json' in some form to use 'text.format' of type "
        return R.error(400, message + "'json_object'.", param="input")
    fmt = body.get("response_format")
    if not (isinstance(fmt, dict) and fmt.get("type") == "json_object") or _mentions_json(body.get("messages")):
        return None
    message = "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'."
    return R.error(400, message, param="messages")


def _not_strict(schema: Any) -> str | None:
    """Why strict mode refuses ``schema`` (the first rule it breaks, as the API words it), or None: every object
    must say ``additionalProperties: false`` and require every one of its properties."""
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "object" or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            return "'additionalProperties' is required to be supplied and to be false."
        missing = [k for k in schema.get("properties") or {} if k not in (schema.get("required") or [])]
        if missing:
            return (
                "'required' is required to be supplied and to be an array including every key in properties. "
                f"Missing '{missing[0]}'."
            )
    subs = [*(schema.get("properties") or {}).values(), schema.get("items"), *(schema.get("anyOf") or [])]
    subs += list((schema.get("$defs") or {}).values())
    return next((why for sub in subs if (why := _not_strict(sub))), None)


#: the gpt-5 family (gpt-5, gpt-5-mini, gpt-5.1, gpt-5.2-pro, ...), whose models reason, and its chat variants
#: (gpt-5-chat-latest), which do not
_GPT5 = re.compile(r"^gpt-5(?:[.-]|$)")
#: the gpt-5 models whose reasoning effort is "none" unless the call sets one: gpt-5.1 and gpt-5.2 themselves
_GPT5_NO_REASONING_BY_DEFAULT = re.compile(r"^gpt-5\.[12](?:-\d{4}-\d{2}-\d{2})?$")


def reasons(model: str, effort: Any) -> bool:
    """Whether OpenAI's ``model`` reasons on a call that sets reasoning effort ``effort`` (None: not set): the
    o-series always; the gpt-5 family (not its -chat variants) unless the effort is "none", which is the default
    only for gpt-5.1 and gpt-5.2. A model that reasons takes only the default temperature (1)."""
    model = base_model(model)
    if re.match(r"^o\d", model):
        return True
    if not _GPT5.match(model) or "-chat" in model:
        return False
    if effort is not None:
        return effort != "none"
    return not _GPT5_NO_REASONING_BY_DEFAULT.match(model)


#: the sampling and log-probability fields a model that reasons on the call refuses outright, whatever their value
#: (OpenAI's reasoning guide; gpt-5.1's and gpt-5.2's: "only supported when using ... reasoning effort set to none")
REASONING_REFUSES = ("top_p", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "logit_bias")


def unsupported_parameter(name: str, advice: str = "") -> ErrorReply:
    """OpenAI's 400 for a field this model takes in no value (``advice``: what its message adds, the field to use)."""
    return R.error(
        400,
        f"Unsupported parameter: '{name}' is not supported with this model.{advice}",
        param=name,
        code="unsupported_parameter",
    )


def sampler_refused(model: str, body: dict[str, Any], effort: Any) -> ErrorReply | None:
    """OpenAI's answer to a field of :data:`REASONING_REFUSES` sent to a model that reasons on this call."""
    if not reasons(model, effort):
        return None
    for name in REASONING_REFUSES:
        if body.get(name) is not None:
            return unsupported_parameter(name)
    return None


def temperature_refused(model: str, temperature: Any, effort: Any) -> ErrorReply | None:
    """OpenAI's answer to a temperature other than the default for a model that reasons on this call."""
    if temperature is None or temperature == 1 or not reasons(model, effort):
        return None
    return R.error(
        400,
        f"Unsupported value: 'temperature' does not support {temperature} with this model. "
        "Only the default (1) value is supported.",
        param="temperature",
        code="unsupported_value",
    )


#: models the Responses API serves and Chat Completions does not (the pro, codex and deep-research models)
RESPONSES_ONLY = re.compile(
    r"^(?:o1-pro|o3-pro|gpt-5(?:\.\d+)?-pro|codex-mini|gpt-5(?:\.\d+)?-codex|o3-deep-research|o4-mini-deep-research"
    r"|computer-use-preview)(?:-|$)"
)


def base_model(model: str) -> str:
    """The model a fine-tune was made from (``ft:o4-mini-2025-04-16:org:name:id``): it refuses what that refuses."""
    return model[3:].partition(":")[0] if model.startswith("ft:") else model


def model_refuses(body: dict[str, Any]) -> ErrorReply | None:
    """What OpenAI answers a spec-valid chat request that the model itself cannot take.

    o1-preview and o1-mini (the first reasoning models) take no system/developer message, only the
    default temperature and no stop sequences; o3 and o4-mini take no stop sequences either, nor does the
    gpt-5 family (its -chat variants aside); every model that reasons on the call takes only the default
    temperature, and no top_p, penalty, log probabilities or logit_bias at all. These are their real error bodies.
    """
    model = base_model(str(body.get("model", "")))
    if (picture := openai_picture_refusal(body)) is not None:  # (a model that reads text alone, a type unread)
        return R.error(400, picture[0])
    if RESPONSES_ONLY.match(model):
        return R.error(
            404, "This model is only supported in v1/responses and not in v1/chat/completions.", param="model"
        )
    if (missing := format_refused(body)) is not None:
        return missing
    if too_long := _long_call_id(body) or _chat_calls_unanswered(body):
        return too_long
    for name in ("tool_choice", "parallel_tool_calls"):
        if body.get(name) is not None and not body.get("tools"):
            # the API's own 400, whatever the value ("none" and "auto" included, parallel_tool_calls false too)
            return R.error(
                400,
                f"Invalid value for '{name}': '{name}' is only allowed when 'tools' are specified.",
                param=name,
            )
    if body.get("top_logprobs") is not None and body.get("logprobs") is not True:
        # the spec's top_logprobs: "`logprobs` must be set to `true` if this parameter is used"; the API's own 400
        # (invalid_request_error, no code), whatever the model
        return R.error(
            400, "The 'top_logprobs' parameter is only allowed when 'logprobs' is enabled.", param="top_logprobs"
        )
    if re.match(r"^o\d", model) and body.get("parallel_tool_calls") is not None:
        # the o-series' chat completions take none, whatever its value (o1, o3-mini, o3, o4-mini)
        return unsupported_parameter("parallel_tool_calls")
    if (_NO_STOP.match(model) or (_GPT5.match(model) and "-chat" not in model)) and body.get("stop") is not None:
        # the spec's StopConfiguration: "Not supported with latest reasoning models `o3` and `o4-mini`"
        return unsupported_parameter("stop")
    if refused := temperature_refused(model, body.get("temperature"), body.get("reasoning_effort")):
        return refused
    if refused := sampler_refused(model, body, body.get("reasoning_effort")):
        return refused
    if body.get("max_tokens") is not None and reasons(model, "medium"):
        return unsupported_parameter("max_tokens", " Use 'max_completion_tokens' instead.")
    if "-search-" in model and (said := [k for k in ("temperature", *REASONING_REFUSES) if body.get(k) is not None]):
        # the web-search models take no sampling parameters at all, not even the default
        return R.error(
            400, f"Model incompatible request argument{'s' if len(said) > 1 else ''} supplied: {', '.join(said)}"
        )
    if not model.startswith(("o1-preview", "o1-mini")):
        return None
    for i, message in enumerate(body.get("messages") or []):
        role = message.get("role") if isinstance(message, dict) else None
        if role in ("system", "developer"):
            return R.error(
                400,
                f"Unsupported value: 'messages[{i}].role' does not support '{role}' with this model.",
                param=f"messages[{i}].role",
                code="unsupported_value",
            )
    for name in ("stop", "tools"):
        if body.get(name) is not None:
            return unsupported_parameter(name)
    if isinstance(body.get("response_format"), dict):
        kind = body["response_format"].get("type")
        return R.error(
            400,
            f"Invalid parameter: 'response_format' of type '{kind}' is not supported with this model.",
            param="response_format",
        )
    return None


def _long_call_id(body: dict[str, Any]) -> ErrorReply | None:
    """Chat Completions' 400 for a tool call id longer than 40 characters (the spec says no limit; the API has one)."""
    for i, message in enumerate(body.get("messages") or []):
        calls = message.get("tool_calls") if isinstance(message, dict) else None
        for j, call in enumerate(calls if isinstance(calls, list) else []):
            call_id = call.get("id") if isinstance(call, dict) else None
            if isinstance(call_id, str) and len(call_id) > 40:
                where = f"messages[{i}].tool_calls[{j}].id"
                return R.error(
                    400,
                    f"Invalid '{where}': string too long. Expected a string with maximum length 40, but got a string "
                    f"with length {len(call_id)} instead.",
                    param=where,
                    code="string_above_max_length",
                )
    return None


def _chat_calls_unanswered(body: dict[str, Any]) -> ErrorReply | None:
    """Chat Completions' 400 for an assistant message whose tool calls the tool messages right after it do not each
    answer (the API's own words, as agents quote them)."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    for i, message in enumerate(messages):
        calls = message.get("tool_calls") if message.get("role") == "assistant" else None
        ids = [c.get("id") for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []
        answered: list[Any] = []
        for after in messages[i + 1 :]:
            if after.get("role") != "tool":
                break
            answered.append(after.get("tool_call_id"))
        missing = [c for c in ids if c not in answered]
        if missing:
            return R.error(
                400,
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(missing)}",
                param=f"messages.[{i + 1}].role",
            )
    return None


def calls_unpaired(body: dict[str, Any]) -> ErrorReply | None:
    """What the Responses API answers an input whose ``function_call`` and ``function_call_output`` items do not pair
    one to one by ``call_id`` (it pairs them by that id alone, wherever they stand): a call id given twice, an output
    of no call, a call without its output."""
    items = [i for i in body.get("input") or [] if isinstance(i, dict)] if isinstance(body.get("input"), list) else []
    for n, item in enumerate(items):
        call_id = item.get("call_id") if item.get("type") in ("function_call", "function_call_output") else None
        if isinstance(call_id, str) and len(call_id) > 64:  # the spec's maxLength, on a function_call's too
            return R.error(
                400,
                f"Invalid 'input[{n}].call_id': string too long. Expected a string with maximum length 64, but got a "
                f"string with length {len(call_id)} instead.",
                param=f"input[{n}].call_id",
                code="string_above_max_length",
            )
    calls = [i.get("call_id") for i in items if i.get("type") == "function_call"]
    outputs = [i.get("call_id") for i in items if i.get("type") == "function_call_output"]
    for ids, what in ((calls, "function_call"), (outputs, "function_call_output")):
        if repeated := next((c for n, c in enumerate(ids) if c in ids[:n]), None):
            return R.error(
                400,
                f"Duplicate {what} for call_id '{repeated}'. Each function_call must have exactly one matching "
                "function_call_output.",
                param="input",
            )
    if stray := next((c for c in outputs if c not in calls), None):
        return R.error(400, f"No tool call found for function call output with call_id {stray}.", param="input")
    if unanswered := next((c for c in calls if c not in outputs), None):
        return R.error(400, f"No tool output found for function call {unanswered}.", param="input")
    return None


def responses_model_refuses(body: dict[str, Any]) -> ErrorReply | None:
    """What the Responses API answers a spec-valid request it cannot take: Chat Completions' ``reasoning_effort``
    or ``verbosity``, which it moved; a reasoning item sent back without its encrypted content when nothing is
    stored; a temperature other than the default, or a top_p or top_logprobs at all, while the model reasons
    (``reasoning.effort``, or the model's default effort)."""
    if (picture := openai_picture_refusal(body, responses=True)) is not None:
        return R.error(400, picture[0])
    reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
    for name, moved in (("reasoning_effort", "reasoning.effort"), ("verbosity", "text.verbosity")):
        if name in body:
            # the spec's CreateResponse has no such field; the API names where it went
            return R.error(
                400,
                f"Unsupported parameter: '{name}'. In the Responses API, this parameter has moved to '{moved}'. Try "
                "again with the new parameter. See the API documentation for more information: "
                "https://platform.openai.com/docs/api-reference/responses/create.",
                param=name,
                code="unsupported_parameter",
            )
    if unpaired := calls_unpaired(body):
        return unpaired
    if body.get("store") is False:
        for item in body.get("input") if isinstance(body.get("input"), list) else []:
            if isinstance(item, dict) and item.get("type") == "reasoning" and not item.get("encrypted_content"):
                # not stored, the item can be found by its id alone nowhere
                return R.error(
                    404,
                    f"Item with id '{item.get('id')}' not found. Items are not persisted when `store` is set to "
                    "false. Try again with `store` set to true, or remove this item from your input.",
                    param="input",
                )
    model = str(body.get("model", ""))
    return temperature_refused(model, body.get("temperature"), reasoning.get("effort")) or sampler_refused(
        model, body, reasoning.get("effort")
    )


def _headers(step: Reply) -> dict[str, str]:
    return {"x-request-id": "req_fake", "openai-processing-ms": "12", **step.headers}
