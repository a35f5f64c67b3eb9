"""The OpenAI fake: Chat Completions and the Responses API on ``/v1``, and Azure OpenAI's deployment route of Chat
Completions (``azure=True``: its ``api-key`` auth, its errorResponse shape, its apim-request-id header, its content
filter's results on every answer, whole and streamed, and its 400 for a prompt the filter refused).

What a spec-valid request's model refuses is judged by the rules of :mod:`tests.fakes.openai_server` (the other OpenAI
fake's), so the two fakes refuse alike; so is a field at a request's root that the API lacks, judged by
:mod:`tests.fakes.request_check` (Chat Completions' "Unrecognized request argument supplied: NAME", the Responses
API's "Unknown parameter: 'NAME'.", an Azure deployment's by the api-version of its URL), but for a vendor's own field
a test names in :attr:`FakeOpenAI.extra_fields`.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.fakes.openai_replies import azure_filters, azure_prompt_filter_chunk, error_body
from tests.fakes.openai_server import format_refused, model_refuses, responses_model_refuses
from tests.fakes.pictures import openai_picture_refusal
from tests.fakes.request_check import AZURE_SPEC_VERSION, refusal_words, unrecognized_arguments
from tests.fakes.spec import spec_validator

from .base import Fake, Step

#: a step's ``finish`` (Chat Completions' finish_reason) as the Responses API ends the same answer: (Response.status,
#: incomplete_details); "cancelled" is that status itself
_RESPONSE_ENDS: dict[Any, tuple[str, dict[str, str] | None]] = {
    "length": ("incomplete", {"reason": "max_output_tokens"}),
    "content_filter": ("incomplete", {"reason": "content_filter"}),
    "cancelled": ("cancelled", None),
}


#: what Azure's 400 for a prompt its content filter refused says (the categories that fired are in its inner error)
AZURE_PROMPT_FILTERED = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify "
    "your prompt and retry. To learn more about our content filtering policies please read our documentation: "
    "https://go.microsoft.com/fwlink/?linkid=2198766"
)


def azure_prompt_results(fired: dict[str, Any] | None = None) -> dict[str, Any]:
    """A prompt's ``contentFilterPromptResults``: every category of ``contentFilterResultsBase`` safe, the prompt
    shield's ``jailbreak`` (a ``contentFilterDetectedResult``) not detected, then the ``fired`` ones over them."""
    return {**azure_filters(), "jailbreak": {"filtered": False, "detected": False}, **(fired or {})}


def azure_prompt_refused(fired: dict[str, Any], *, as_served: bool = False) -> dict[str, Any]:
    """Azure's 400 for a prompt its content filter refused: ``errorResponse`` with ``code`` "content_filter" and
    the inner error that names the categories. The 2024-10-21 spec's names (``error.inner_error``: ``innerError``'s
    ``code`` "ResponsibleAIPolicyViolation" and ``content_filter_results``), or, ``as_served``, the live service's
    (``innererror`` and ``content_filter_result``, beside its ``status``; its ``"type": null`` left out, which the
    spec's string ``type`` does not allow)."""
    results = azure_prompt_results(fired)
    error: dict[str, Any] = {"code": "content_filter", "message": AZURE_PROMPT_FILTERED, "param": "prompt"}
    if as_served:
        inner = {"code": "ResponsibleAIPolicyViolation", "content_filter_result": results}
        error |= {"status": 400, "innererror": inner}
    else:
        error["inner_error"] = {"code": "ResponsibleAIPolicyViolation", "content_filter_results": results}
    return {"error": error}


#: the ids OpenAI's fake names every request by (x-request-id; Azure's apim-request-id beside it), random as a vendor's
#: are: a run of characters shared with a key some test made known (``...0123456789abcdef...``) is a piece of that key,
#: which redact() removes from the id wherever it appears, as it must from a real key's echo
OPENAI_REQUEST_ID = "req_7c1f04b2e9a35d86f0b4c2a19e7d35f8"
AZURE_REQUEST_ID = "0fa4e1d2-fake-4a2b-9c3d-azure0000001"


def _words(text: str) -> list[str]:
    """A text as models stream it: word by word, the space leading."""
    return [w if i == 0 else " " + w for i, w in enumerate(text.split(" "))]


def response_events(final: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``ResponseStreamEvent`` objects that stream ``final`` (a whole Response), in the order the API sends them:
    ``response.created`` and ``response.in_progress`` (the response begun: no output, usage absent until it is done),
    then each output item added, its content streamed and done (a message's text part word by word, a function call's
    arguments in two pieces), then the terminal event, ``sequence_number`` counting from 0.

    Built from the Response itself, not from a step, so that what streams is what the unstreamed answer says."""
    events: list[dict[str, Any]] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append({"type": kind, "sequence_number": len(events), **fields})

    # (how it ended is not known yet: no incomplete_details on the response begun)
    ended = {"usage", "incomplete_details"}
    begun = {**{k: v for k, v in final.items() if k not in ended}, "status": "in_progress", "output": []}
    begun["incomplete_details"] = None
    emit("response.created", response=begun)
    emit("response.in_progress", response=begun)
    for index, item in enumerate(final["output"]):
        if item["type"] == "message":
            emit(
                "response.output_item.added", output_index=index, item={**item, "status": "in_progress", "content": []}
            )
            for content_index, part in enumerate(item["content"]):
                where = {"item_id": item["id"], "output_index": index, "content_index": content_index}
                emit("response.content_part.added", **where, part={**part, "text": ""})
                for piece in _words(part["text"]):
                    emit("response.output_text.delta", **where, delta=piece, logprobs=[])
                emit("response.output_text.done", **where, text=part["text"], logprobs=[])
                emit("response.content_part.done", **where, part=part)
        elif item["type"] == "function_call":
            args = item["arguments"]
            emit(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            where = {"item_id": item["id"], "output_index": index}
            for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
                emit("response.function_call_arguments.delta", **where, delta=piece)
            emit("response.function_call_arguments.done", **where, name=item["name"], arguments=args)
        else:  # a server tool's call: added under way, then done
            emit("response.output_item.added", output_index=index, item={**item, "status": "in_progress"})
        emit("response.output_item.done", output_index=index, item=item)
    # ResponseIncompleteEvent for an incomplete response; a cancelled one (which the spec gives no event of its own)
    # ends in response.completed, as vLLM's does
    emit("response.incomplete" if final["status"] == "incomplete" else "response.completed", response=final)
    return events


class FakeOpenAI(Fake):
    vendor = "openai"

    def __init__(self, key: str = "sk-test-key-123456", *, responses_api: bool = True, azure: bool = False) -> None:
        super().__init__(key)
        self.responses_api = responses_api
        self.azure = azure
        # OpenAI's x-request-id; Azure sends its API gateway's apim-request-id beside it
        self.id_headers = {"x-request-id": OPENAI_REQUEST_ID}
        if azure:
            self.id_headers["apim-request-id"] = AZURE_REQUEST_ID
        self.lacks_responses: tuple[int, str] | None = None
        #: fields a compatible vendor's API takes beyond OpenAI's, which a test sends on purpose: taken, where any
        #: other field the API lacks is refused as OpenAI refuses it (:meth:`openai_refuses`)
        self.extra_fields: set[str] = set()

    def auth_ok(self, request: web.Request) -> bool:
        if self.azure:
            return request.headers.get("api-key") == self.key and "Authorization" not in request.headers
        return request.headers.get("Authorization") == f"Bearer {self.key}"

    def error_body(self, status: int, message: str, kind: str) -> Any:
        if self.azure:
            # Azure's errorResponse: errorBase {code, message}, no nulls; its own failures (rate limits, a bad key, a
            # server error) carry the status as their code, and no type
            return {"error": {"code": str(status), "message": message}}
        return {"error": {"message": message, "type": kind, "param": None, "code": kind}}

    def bad_key(self) -> tuple[int, Any]:
        if self.azure:
            message = (
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
                "for an active subscription and use a correct regional API endpoint for your resource."
            )
            return 401, self.error_body(401, message, "")
        # OpenAI's own words, which echo the key it was sent, masked but for its first and last characters
        sent = self.requests[-1]["headers"].get("Authorization", "").removeprefix("Bearer ") if self.requests else ""
        masked = f"{sent[:3]}{'*' * max(0, len(sent) - 7)}{sent[-4:]}" if len(sent) > 7 else "***"
        said = (
            f"Incorrect API key provided: {masked}. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        )
        return 401, {
            "error": {"message": said, "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}
        }

    def schema_for(self, request: web.Request) -> str:
        return "CreateResponse" if request.path.endswith("/responses") else "CreateChatCompletionRequest"

    def azure_refuses(self, request: web.Request, body: dict[str, Any]) -> Any:
        """What a deployment's chat completions do not take under the request's api-version: under the Azure spec's own
        (2024-10-21), what its ``createChatCompletionRequest`` refuses (a spec violation, kept in ``violations``); under
        any, a field at the root that version does not have (:func:`~tests.fakes.request_check.azure_version_fields`:
        ``stream_options`` at 2024-10-21 and before 2024-09-01-preview), which Azure refuses by its name (the OpenAPI
        schema does not forbid additional properties, so the spec check alone lets one through)."""
        version = request.query.get("api-version")
        if version == AZURE_SPEC_VERSION:
            problems = spec_validator("azure").errors("createChatCompletionRequest", body)
            if problems:
                self.violations.extend(problems)
                return self.error_body(400, "; ".join(problems)[:500], "invalid_request_error")
        unknown = unrecognized_arguments(request.path, body, self.extra_fields, version)
        if unknown:
            message = refusal_words(request.path, unknown[0])[0]
            self.violations.append(f"{request.path}: {message}")
            return {"error": {"code": "400", "message": message, "type": "invalid_request_error"}}
        return None

    def openai_refuses(self, request: web.Request, body: dict[str, Any]) -> Any:
        """OpenAI's 400 for a field at the root of a ``/v1`` request that its API does not have (the first, as OpenAI
        names one), in the API's own words (:func:`~tests.fakes.request_check.refusal_words`), kept in ``violations``
        too; a compatible vendor's own field that a test names in :attr:`extra_fields` is taken."""
        unknown = unrecognized_arguments(request.path, body, self.extra_fields)
        if not unknown:
            return None
        message, param, code = refusal_words(request.path, unknown[0])
        self.violations.append(f"{request.path}: {message}")
        return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.azure and "deployment" in request.match_info and not request.query.get("api-version"):
            # the spec's api-version is a required query parameter: without it, Azure finds no route
            self.violations.append(f"{request.path}: no api-version query parameter")
            return web.json_response({"error": {"code": "404", "message": "Resource not found"}}, status=404)
        return await self._handle(request)

    def picture_problems(self, request: web.Request, body: dict[str, Any]) -> list[str]:
        picture = openai_picture_refusal(body, responses=request.path.endswith("/responses"))
        return [picture[0]] if picture is not None and picture[1] else []

    def refuses(self, request: web.Request, body: dict[str, Any]) -> Any:
        refused = (
            self.azure_refuses(request, body)
            if self.azure and "deployment" in request.match_info
            else self.openai_refuses(request, body)
        )
        if refused is not None:
            return refused
        if request.path.endswith("/chat/completions"):
            err = model_refuses(body)
        else:
            err = format_refused(body, responses=True) or responses_model_refuses(body)
        return (err.status, error_body(err, azure=self.azure)) if err is not None else None

    def next_step(self) -> Step:
        step = super().next_step()
        if self.azure and "prompt_filtered" in step:
            # the prompt refused before the model saw it: a 400, no answer and no usage
            body = azure_prompt_refused(step["prompt_filtered"], as_served=step.get("as_served", False))
            return {"error": 400, "body": body}
        return step

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/responses") and self.lacks_responses is not None:
            self.requests.append({"path": request.path, "body": json.loads(await request.read())})
            status, text = self.lacks_responses
            return web.Response(status=status, text=text)
        return await super().handle(request)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.handle)
        app.router.add_post("/v1/responses", self.handle)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self.handle)
        return app

    @staticmethod
    def chat_usage(step: Step) -> dict[str, Any]:
        u = step.get("usage") or {}
        return {
            "prompt_tokens": u.get("prompt_tokens", 11),
            "completion_tokens": u.get("completion_tokens", 7),
            # a server may count what it reports beside completion_tokens in the total (xAI's reasoning)
            "total_tokens": u.get("total_tokens", u.get("prompt_tokens", 11) + u.get("completion_tokens", 7)),
            "prompt_tokens_details": {
                "cached_tokens": u.get("cached_tokens", 0),
                "audio_tokens": u.get("input_audio_tokens", 0),
                # the prompt's tokens written to the cache, which the models that bill a write (GPT-5.6) report
                **({"cache_write_tokens": u["cache_write_tokens"]} if "cache_write_tokens" in u else {}),
            },
            "completion_tokens_details": {
                "reasoning_tokens": u.get("reasoning_tokens", 0),
                "audio_tokens": u.get("output_audio_tokens", 0),
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def reply(self, request: web.Request, body: dict[str, Any], step: Step) -> Any:
        if request.path.endswith("/responses"):
            return self.response_object(body, step)
        calls = [
            {
                "id": c["id"],
                "type": "function",
                "function": {
                    "name": c["name"],
                    "arguments": c["arguments"] if isinstance(c["arguments"], str) else json.dumps(c["arguments"]),
                },
            }
            for c in step.get("tool_calls", [])
        ]
        message: dict[str, Any] = {"role": "assistant", "content": step.get("text"), "refusal": None}
        if calls:
            message["tool_calls"] = calls
        answer = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 1_700_000_000,
            # the model that served it; an Azure deployment's may differ from its name ("model" in the step)
            "model": step.get("model") or body.get("model", request.match_info.get("deployment", "")),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": step.get("finish", "tool_calls" if calls else "stop"),
                }
            ],
            "usage": self.chat_usage(step),
            **self.tier(step),
        }
        if self.azure:
            # Azure's createChatCompletionResponse: the prompt's filter results (promptFilterResults) and each
            # choice's (contentFilterChoiceResults): the step's ``filter_results`` where it names them (the
            # categories that stopped an answer, finish_reason content_filter), else every category safe
            answer["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": azure_prompt_results()}]
            answer["choices"][0]["content_filter_results"] = step.get("filter_results") or azure_filters()
        return answer

    @staticmethod
    def tier(step: Step) -> dict[str, Any]:
        """The tier that served the answer, when the step names one: ``{"service_tier": "flex"}``."""
        return {"service_tier": step["service_tier"]} if "service_tier" in step else {}

    def response_object(self, body: dict[str, Any], step: Step) -> dict[str, Any]:
        output: list[dict[str, Any]] = []
        if step.get("text") is not None:
            output.append(
                {
                    "type": "message",
                    "id": "msg_1",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": step["text"], "annotations": [], "logprobs": []}],
                }
            )
        for c in step.get("tool_calls", []):
            output.append(
                {
                    "type": "function_call",
                    "id": f"fc_{c['id']}",
                    "call_id": c["id"],
                    "name": c["name"],
                    # a str is the arguments as the model wrote them (cut short by max_output_tokens, say), as in Chat
                    "arguments": c["arguments"] if isinstance(c["arguments"], str) else json.dumps(c["arguments"]),
                    "status": "completed",
                }
            )
        # a server tool's calls, when the step gives them (WebSearchToolCall, FileSearchToolCall items as the API
        # writes them): magsag sends none of those tools, but an answer may still report them
        output.extend(step.get("server_tool_items", []))
        u = step.get("usage") or {}
        # a chat finish of the step's, as the Responses API says it (Response.status, incomplete_details.reason)
        status, incomplete = _RESPONSE_ENDS.get(step.get("finish"), ("completed", None))
        # a status no spec lists, when the step gives it: a compatible server's own word (or one newer than the spec)
        status = step["status_word"] if "status_word" in step else status
        if "incomplete_reason" in step:  # a reason of the server's own, outside the spec's two
            status, incomplete = "incomplete", {"reason": step["incomplete_reason"]}
        if status == "incomplete" and output:
            # the item under way when the limit or the filter stopped the response is itself incomplete (an item's
            # status: "One of `in_progress`, `completed`, or `incomplete`"); those before it were done whole
            output[-1]["status"] = "incomplete"
        return {
            "id": "resp_1",
            "object": "response",
            "created_at": 1_700_000_000,
            "status": status,
            "model": body["model"],
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "temperature": 1,
            "top_p": 1,
            "metadata": {},
            "error": None,
            "incomplete_details": incomplete,
            "instructions": None,
            **self.tier(step),
            "usage": {
                "input_tokens": u.get("input_tokens", 11),
                "output_tokens": u.get("output_tokens", 7),
                "total_tokens": u.get("total_tokens", u.get("input_tokens", 11) + u.get("output_tokens", 7)),
                "input_tokens_details": {
                    "cached_tokens": u.get("cached_tokens", 0),
                    "cache_write_tokens": u.get("cache_write_tokens", 0),
                },
                "output_tokens_details": {"reasoning_tokens": u.get("reasoning_tokens", 0)},
            },
        }

    async def stream(self, request: web.Request, body: dict[str, Any], step: Step) -> web.StreamResponse:
        if request.path.endswith("/responses"):
            events = [(e["type"], e) for e in response_events(self.response_object(body, step))]
            if step.get("cut") == "before_terminal":
                # every output item done, then the connection lost before response.completed (or .incomplete):
                # the one event that carries the usage never comes
                return await self.send_events(request, events, True, cut_at=-1)
            if step.get("ends") == "before_terminal":
                # the same events, then the stream's own end (a proxy that closes it cleanly): no terminal event
                return await self.send_events(request, events[:-1], False)
            if step.get("cut") == "after_first_item":
                # the connection lost once the first output item is done, whatever items were to follow it
                first_done = next(i for i, (kind, _) in enumerate(events) if kind == "response.output_item.done")
                return await self.send_events(request, events, True, cut_at=first_done + 1)
            return await self.send_events(request, events, step.get("cut", False))
        base = {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": step.get("model") or body.get("model", "deployment"),
            **self.tier(step),
        }
        # stream_options.include_usage: a usage chunk (choices empty) before [DONE], and usage null on every other
        counts = bool((body.get("stream_options") or {}).get("include_usage"))
        if counts:
            base["usage"] = None
        chunks: list[tuple[str | None, Any]] = [
            (
                None,
                {
                    **base,
                    "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
                },
            )
        ]
        for i, word in enumerate((step.get("text") or "").split(" ") if step.get("text") else []):
            chunks.append(
                (
                    None,
                    {
                        **base,
                        "choices": [
                            {"index": 0, "delta": {"content": word if i == 0 else " " + word}, "finish_reason": None}
                        ],
                    },
                )
            )
        for n, c in enumerate(step.get("tool_calls", [])):
            args = c["arguments"] if isinstance(c["arguments"], str) else json.dumps(c["arguments"])
            chunks.append(
                (
                    None,
                    {
                        **base,
                        "choices": [
                            {
                                "index": 0,
                                "delta": {
                                    "tool_calls": [
                                        {
                                            "index": n,
                                            "id": c["id"],
                                            "type": "function",
                                            "function": {"name": c["name"], "arguments": ""},
                                        }
                                    ]
                                },
                                "finish_reason": None,
                            }
                        ],
                    },
                )
            )
            for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
                chunks.append(
                    (
                        None,
                        {
                            **base,
                            "choices": [
                                {
                                    "index": 0,
                                    "delta": {"tool_calls": [{"index": n, "function": {"arguments": piece}}]},
                                    "finish_reason": None,
                                }
                            ],
                        },
                    )
                )
        finish = step.get("finish", "tool_calls" if step.get("tool_calls") else "stop")
        chunks.append((None, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}))
        if self.azure:
            chunks = self.azure_filtered(chunks, step)
        if counts:
            chunks.append((None, {**base, "choices": [], "usage": self.chat_usage(step)}))
        chunks.append((None, "[DONE]"))
        return await self.send_events(request, chunks, step.get("cut", False))

    @staticmethod
    def azure_filtered(chunks: list[tuple[str | None, Any]], step: Step) -> list[tuple[str | None, Any]]:
        """A Chat Completions stream as Azure OpenAI sends it: first a chunk of the prompt's filter results (choices
        empty, id and model blank), then the answer's chunks, each choice with its ``content_filter_results`` (every
        category safe where the choice carries text, empty on the role's; the finish's, the step's ``filter_results``,
        or empty). With ``"async_filter": True`` in the step, Azure's asynchronous filter: its last annotation (no
        delta, id and model blank, its ``content_filter_offsets`` spanning the text) comes after the finish_reason's
        chunk."""
        for _, chunk in chunks:
            for choice in chunk["choices"]:
                carries = choice["delta"].get("content") or choice["delta"].get("tool_calls")
                choice["content_filter_results"] = azure_filters() if carries else {}
                if choice["finish_reason"]:
                    # the categories that stopped an answer (finish_reason content_filter), as the step names them
                    choice["content_filter_results"] = step.get("filter_results") or {}
        # the prompt's results as the unstreamed answer gives them, the prompt shield's jailbreak among them
        opening = azure_prompt_filter_chunk()
        opening["prompt_filter_results"][0]["content_filter_results"] = azure_prompt_results()
        out = [(None, opening), *chunks]
        if step.get("async_filter"):
            end = len(step.get("text") or "")
            annotation = {
                "index": 0,
                "finish_reason": None,
                "content_filter_results": azure_filters(),
                "content_filter_offsets": {"check_offset": end, "start_offset": 0, "end_offset": end},
            }
            blank = {"id": "", "object": "chat.completion.chunk", "created": 0, "model": ""}
            out.append((None, {**blank, "choices": [annotation]}))
        return out
