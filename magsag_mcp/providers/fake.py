"""The ``fake`` provider: offline, deterministic, zero cost, chosen only when a target names it.

Behaviour by model name, unless a script is queued for that model with :func:`script`:

- ``fake:fail-<kind>`` always fails with that error (``fail-rate_limited``, ``fail-overloaded``,
  ``fail-server_error``, ``fail-quota_exhausted``, ``fail-timeout``, ``fail-bad_request``, ...: each
  error kind of :data:`_FAILURES`, ``-`` read as ``_``); one naming no kind fails as a bad request that
  names them;
- any other model answers: a tool call when tools are offered and no tool result came back yet,
  a JSON document (shaped by the schema's required properties) when JSON is asked for, else text
  that quotes the prompt. Token counts are derived from the text (about four bytes a token).

Target params ``latency_ms`` (a simulated delay) and ``reply`` (fixed text) are honoured.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from typing import Any

import anyio

from .. import errors as E
from ..suggest import nearest
from ..transport import Transport
from ..types import LLMRequest, LLMResult, Target, ToolCall, Usage
from .base import ProgressCallback, Provider
from .capabilities import Capabilities, capabilities_for
from .json_output import parse_json_output

_FAILURES: dict[str, type[E.ProviderError]] = {
    cls.kind: cls
    for cls in (
        E.AuthenticationError,
        E.PermissionDeniedError,
        E.ModelNotFoundError,
        E.BadRequestError,
        E.ContextTooLongError,
        E.ContentFilteredError,
        E.RateLimitError,
        E.QuotaExhaustedError,
        E.ServerError,
        E.OverloadedError,
        E.ProviderTimeoutError,
        E.ProviderConnectionError,
        E.MalformedResponseError,
    )
}


def _failure(model: str) -> type[E.ProviderError]:
    """The error a ``fail-<kind>`` model fails with. A kind that names none is refused, naming them: read as a
    server error, the caller's ``except RateLimitError`` tested offline with ``fail-rate-limit`` never ran."""
    kind = model.removeprefix("fail-").replace("-", "_")
    cls = _FAILURES.get(kind)
    if cls is not None:
        return cls
    known = [f"fail-{k}" for k in sorted(_FAILURES)]
    close = nearest(f"fail-{kind}", known)
    hint = f" (did you mean {close!r}?)" if close else ""
    raise E.BadRequestError(
        f"fake:{model} names no failure kind{hint}; the fake provider's failing models are {', '.join(known)}",
        provider="fake",
        model=model,
        status=None,
    )


#: model -> queued steps (str text, dict reply, or an exception to raise)
_SCRIPTS: dict[str, deque[Any]] = {}


def script(model: str, *steps: Any) -> None:
    """Queue replies for ``fake:<model>``: text, ``{"text"|"json"|"tool_calls"|"usage"}``, or an exception."""
    _SCRIPTS.setdefault(model, deque()).extend(steps)


def clear_scripts() -> None:
    _SCRIPTS.clear()


def _tokens(text: str) -> int:
    return max(1, (len(text.encode()) + 3) // 4)


def _example(schema: Mapping[str, Any] | None, hint: str) -> Any:
    """A small value that satisfies ``schema``'s type and required properties."""
    schema = schema or {}
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties") or {}
        keys = schema.get("required") or list(props)
        return {k: _example(props.get(k), hint) for k in keys} if keys else {"result": hint}
    if kind == "array":
        return [_example(schema.get("items"), hint)]
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    return hint[:60]


class FakeProvider(Provider):
    name = "fake"
    hosts_other_models = True  # answers any model name

    def __init__(self, env: Mapping[str, str], transport: Transport) -> None:
        self.env = env

    def capabilities(self, target: Target) -> Capabilities:
        return capabilities_for(Capabilities(), target)

    def describe(self) -> dict[str, Any]:
        return {"wire": "none (offline)", "key_env": [], "key_set": True}

    async def complete(
        self, request: LLMRequest, target: Target, *, progress: ProgressCallback | None = None
    ) -> LLMResult:
        model = target.model
        params = target.param_dict()
        delay = float(params.get("latency_ms", 0)) / 1000.0
        if delay:
            await anyio.sleep(delay)
        queue = _SCRIPTS.get(model)
        step: Any = queue.popleft() if queue else None
        if isinstance(step, BaseException):
            if isinstance(step, E.ProviderError):
                step.provider, step.model = "fake", model
            raise step
        if step is None and model.startswith("fail-"):
            cls = _failure(model)
            raise cls(f"fake:{model}: scripted {cls.kind}", provider="fake", model=model, status=None)
        prompt = "\n".join(m.content or "" for m in request.messages if m.role == "user")
        if isinstance(step, str):
            step = {"text": step}
        if step is None and params.get("reply"):
            step = {"text": str(params["reply"])}
        if step is None:
            step = self._default(request, model, prompt)
        text = step.get("text")
        if text is None and "json" in step:
            text = json.dumps(step["json"])
        text = text or ""
        calls = [
            ToolCall(id=tc.get("id", f"call_{i}"), name=tc["name"], arguments=tc.get("arguments", {}))
            for i, tc in enumerate(step.get("tool_calls") or [])
        ]
        usage = step.get("usage") or {}
        result = LLMResult(
            text=text,
            provider="fake",
            model=model,
            usage=Usage(
                input_tokens=int(usage.get("input_tokens", _tokens((request.system or "") + prompt))),
                output_tokens=int(
                    usage.get("output_tokens", _tokens(text or json.dumps([c.to_dict() for c in calls])))
                ),
                cached_tokens=int(usage.get("cached_tokens", 0)),
                reasoning_tokens=int(usage.get("reasoning_tokens", 0)),
            ),
            tool_calls=calls,
            finish_reason="tool_calls" if calls else "stop",
        )
        if progress is not None and text:
            maybe = progress("delta", {"chars": len(text), "text": text})
            if maybe is not None:
                await maybe
        if (request.json_output or request.json_schema is not None) and not calls:
            result.parsed = parse_json_output(result, "fake", request.json_schema, request.json_validator)
        return result

    @staticmethod
    def _default(request: LLMRequest, model: str, prompt: str) -> dict[str, Any]:
        answered = any(m.role == "tool" for m in request.messages)
        if request.tools and request.tool_choice != "none" and not answered:
            tool = request.tools[0]
            if isinstance(request.tool_choice, dict):
                tool = next((t for t in request.tools if t.name == request.tool_choice["name"]), tool)
            return {
                "tool_calls": [{"id": "call_fake_0", "name": tool.name, "arguments": _example(tool.parameters, prompt)}]
            }
        if request.json_output or request.json_schema is not None:
            return {"json": _example(request.json_schema, prompt)}
        snippet = " ".join(prompt.split())[:160]
        if answered:
            results = [m.content for m in request.messages if m.role == "tool"]
            return {"text": f"[fake:{model}] using the tool result {results[-1]!s:.120}"}
        return {"text": f"[fake:{model}] {snippet}"}
