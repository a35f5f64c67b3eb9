"""Endpoints of the OpenAI formats: OpenAI itself and any compatible server (Azure OpenAI's: :mod:`.azure`, whose
classes, and its default api-version, are re-exported here, where callers have imported them).

Each endpoint only says where the API lives and how to authenticate; the JSON is
:mod:`.openai_chat` / :mod:`.openai_responses`.
"""

from __future__ import annotations

import re
from collections.abc import Coroutine, Mapping
from dataclasses import replace
from typing import Any

from ..errors import (
    BadRequestError,
    NotConfiguredError,
    UnsupportedFeatureError,
)
from ..kept import keep, look_up
from ..transport import Transport
from ..types import LLMRequest, LLMResult, Target
from .azure import AzureEndpoint as AzureEndpoint  # where callers have imported it
from .azure import AzureProvider as AzureProvider
from .azure_versions import DEFAULT_AZURE_API_VERSION as DEFAULT_AZURE_API_VERSION  # where callers have read it
from .base import Endpoint, ProgressCallback
from .capabilities import Capabilities
from .header_settings import openai_id_problem
from .openai_apis import ChatOrResponses
from .openai_chat import ChatCompletionsFormat
from .openai_models import uses_responses_api
from .openai_responses import ResponsesFormat
from .refused_settings import DROPPABLE, REFUSALS_KEPT, RefusedSettings
from .wire_format import WireFormat


class OpenAIEndpoint(Endpoint):
    provider = "openai"
    key_env = ("OPENAI_API_KEY",)
    vendor_host = "api.openai.com"
    vendor_keys = "OPENAI_API_KEY"
    vendor_name = "OpenAI"
    base_url_env = ("OPENAI_BASE_URL",)
    base_url_hint = (
        "the base URL (OPENAI_BASE_URL, or the target's base_url) ends with the API's version: "
        "https://api.openai.com/v1 by default"
    )

    def base_url(self, target: Target) -> str:
        return target.base_url or self.setting("OPENAI_BASE_URL") or "https://api.openai.com/v1"

    def headers(self, model: str) -> dict[str, str]:
        hdrs = {"Authorization": f"Bearer {self.require_key(model)}"}
        # self.setting(name) written out: these are read twice before every attempt, and unset in most
        env = self.env
        org = (env.get("OPENAI_ORG_ID") or "").strip() or (env.get("OPENAI_ORGANIZATION") or "").strip()
        if org:
            hdrs["OpenAI-Organization"] = org
        project = (env.get("OPENAI_PROJECT_ID") or "").strip()
        if project:
            hdrs["OpenAI-Project"] = project
        return hdrs

    def header_problem(self) -> str | None:
        return openai_id_problem(self.env)

    def auth_hint(self) -> str:
        """The key's variable, and the organization and project sent with it, which must be the key's own (OpenAI
        answers 401 "OpenAI-Organization header should match organization for API key" otherwise)."""
        org = next((n for n in ("OPENAI_ORG_ID", "OPENAI_ORGANIZATION") if self.setting(n)), None)  # as headers()
        sent = [
            f"{name} (sent as {header})"
            for name, header in ((org, "OpenAI-Organization"), ("OPENAI_PROJECT_ID", "OpenAI-Project"))
            if name and self.setting(name)
        ]
        hint = super().auth_hint()
        if not sent:
            return hint
        return f"{hint}, and {' and '.join(sent)}, which must be the key's own organization and project (or unset)"


class CompatEndpoint(Endpoint):
    """Any OpenAI-compatible server: ``MAGSAG_COMPAT_BASE_URL``, optional ``MAGSAG_COMPAT_API_KEY``."""

    provider = "compat"
    key_env = ("MAGSAG_COMPAT_API_KEY",)
    base_url_env = ("MAGSAG_COMPAT_BASE_URL",)
    base_url_hint = (
        "the base URL (MAGSAG_COMPAT_BASE_URL, or the target's base_url) is the API's base, the part before "
        "/chat/completions (usually ending in /v1)"
    )

    def base_url(self, target: Target) -> str:
        url = target.base_url or self.setting("MAGSAG_COMPAT_BASE_URL")
        if not url:
            raise NotConfiguredError(
                "compat: no endpoint; set MAGSAG_COMPAT_BASE_URL (e.g. https://host/v1) or give the target a base_url",
                provider="compat",
                model=target.model,
            )
        return url

    def headers(self, model: str) -> dict[str, str]:
        key = self.api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}


class OpenAIProvider(ChatOrResponses, RefusedSettings):
    """Chat Completions by default; ``params: {api: responses}`` on a target uses the Responses API, as do the
    models only it serves (o3-pro, gpt-5-pro, gpt-5-codex, ...) unless the target says ``api: chat``.

    The model rules (:mod:`.openai_models`) leave out what the models they know refuse; a sampling setting that a
    model they do not know yet refuses is sent again without it (:class:`.RefusedSettings`). A model that may
    not stream for this account is asked unstreamed, with a warning saying how to stream it."""

    droppable = tuple(name for name in DROPPABLE if name not in ("stream", "stream_options"))

    def __init__(self, env: Mapping[str, str], transport: Transport) -> None:
        super().__init__(ChatCompletionsFormat(), OpenAIEndpoint(env), transport)
        self.responses = ResponsesFormat(asks_encrypted_reasoning=True)
        #: (base URL, model) OpenAI refused to stream for this account (an organization not verified): called
        #: unstreamed
        self.unstreamable: set[tuple[str | None, str]] = set()

    uses_responses = staticmethod(uses_responses_api)

    def complete(
        self, request: LLMRequest, target: Target, *, progress: ProgressCallback | None = None
    ) -> Coroutine[Any, Any, LLMResult]:
        wire = self.responses if self.uses_responses(target) else self.wire
        if not request.stream:
            # call_fitted's coroutine itself, for the caller to await: a coroutine of ours fewer an attempt, which each
            # of the attempt's suspensions went through both ways, and the collector walked at 200 callers
            return self.call_fitted(wire, request, target, progress=progress)
        return self._streamed(wire, request, target, progress)

    async def _streamed(
        self, wire: WireFormat, request: LLMRequest, target: Target, progress: ProgressCallback | None
    ) -> LLMResult:
        if (target.base_url, target.model) not in self.unstreamable:
            try:
                return await self.call_fitted(wire, request, target, progress=progress)
            except UnsupportedFeatureError as exc:
                if exc.details.get("param") != "stream":
                    raise
            # OpenAI streams o3 and gpt-5 only for verified organizations; the 400 is not billed, and the model
            # answers the same call unstreamed (and, from now on, is asked unstreamed at once)
            self.unstreamable.add((target.base_url, target.model))
        result = await self.call_fitted(wire, replace(request, stream=False), target, progress=progress)
        result.warnings.append(
            f"openai:{target.model} streams only for verified organizations, so the answer was not streamed; verify "
            "the organization at https://platform.openai.com/settings/organization/general to stream it"
        )
        return result


class CompatProvider(ChatOrResponses, RefusedSettings):
    """Chat Completions; the Responses API (``{base}/responses``) for a target with ``params: {api: responses}``.
    A compatible server's model names say nothing of its APIs (a gateway serves ``openai/gpt-5-codex`` over chat
    completions): only the target's ``api`` chooses."""

    caps = Capabilities()
    hosts_other_models = True

    @staticmethod
    def uses_responses(target: Target) -> bool:
        return bool(target.params) and target.param("api") == "responses"

    def __init__(self, env: Mapping[str, str], transport: Transport) -> None:
        # a compatible server may need json_schema.schema (Together's, vLLM's behind a gateway): a call's name
        # alone is sent with the schema of any object it means
        super().__init__(
            ChatCompletionsFormat(max_tokens_field="max_tokens", max_stops=None, schema_required=True),
            CompatEndpoint(env),
            transport,
        )
        self.responses = ResponsesFormat()
        #: for a model behind the server that takes only max_completion_tokens (OpenAI's reasoning models
        #: through a proxy that passes the request on as it is)
        self.chat_completion_tokens = ChatCompletionsFormat(
            max_tokens_field="max_completion_tokens", max_stops=None, schema_required=True
        )
        #: (base URL, model) -> the max_tokens above which the server answers only streamed calls (Fireworks: 4096)
        self.streamed_above: dict[tuple[str | None, str], int] = {}

    def completion_tokens_wire(self, wire: WireFormat) -> WireFormat | None:
        return self.chat_completion_tokens if wire is self.wire else None

    async def complete(
        self, request: LLMRequest, target: Target, *, progress: ProgressCallback | None = None
    ) -> LLMResult:
        wire = self.responses if self.uses_responses(target) else self.wire
        key = (target.base_url, target.model)
        above = look_up(self.streamed_above, key)  # made the newest: a model called often keeps its limit
        if request.stream or request.max_tokens is None or above is None or request.max_tokens <= above:
            try:
                return await self.call_fitted(wire, request, target, progress=progress)
            except BadRequestError as exc:
                # Fireworks: 400 "Requests with max_tokens > 4096 must have stream=true" (not billed); as a bad
                # request it stopped the cascade, where the same call streamed is answered
                limit = _STREAMED_ONLY.search(exc.message)
                if request.stream or limit is None or request.max_tokens is None:
                    raise
                # (held here: other calls' refusals may push it out of the cache while this one is streamed)
                above = keep(self.streamed_above, key, int(limit["limit"]), REFUSALS_KEPT)
        result = await self.call_fitted(wire, replace(request, stream=True), target, progress=progress)
        said = f"{target.label} answers a max_tokens above {above} only streamed, so the call was streamed"
        result.warnings.append(said)
        return result


#: a server that takes a large max_tokens only on a streamed call (Fireworks)
_STREAMED_ONLY = re.compile(r"max_tokens\s*>\s*(?P<limit>\d+) must have stream\s*=\s*true", re.IGNORECASE)
