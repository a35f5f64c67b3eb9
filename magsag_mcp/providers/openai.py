"""Endpoints of the OpenAI formats: OpenAI itself, Azure OpenAI, and any compatible server.

Each endpoint only says where the API lives and how to authenticate; the JSON is
:mod:`.openai_chat` / :mod:`.openai_responses`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..transport import Transport
from ..types import LLMRequest, LLMResult, Target
from .base import Capabilities, Endpoint, HTTPProvider, ProgressCallback, WireFormat
from .openai_chat import ChatCompletionsFormat
from .openai_responses import ResponsesFormat

DEFAULT_AZURE_API_VERSION = "2024-10-21"


class OpenAIEndpoint(Endpoint):
    provider = "openai"
    key_env = ("OPENAI_API_KEY",)

    def base_url(self, target: Target) -> str:
        return target.base_url or self.env.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"

    def headers(self, model: str) -> dict[str, str]:
        hdrs = {"Authorization": f"Bearer {self.require_key(model)}"}
        org = self.env.get("OPENAI_ORG_ID") or self.env.get("OPENAI_ORGANIZATION")
        if org:
            hdrs["OpenAI-Organization"] = org
        project = self.env.get("OPENAI_PROJECT_ID")
        if project:
            hdrs["OpenAI-Project"] = project
        return hdrs


class AzureEndpoint(Endpoint):
    """``{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...``, ``api-key``.

    The target's model is the deployment name.
    """

    provider = "azure"
    key_env = ("AZURE_OPENAI_API_KEY",)

    def base_url(self, target: Target) -> str:
        url = target.base_url or self.env.get("AZURE_OPENAI_ENDPOINT")
        if not url:
            from ..errors import AuthenticationError

            raise AuthenticationError(
                "azure: no endpoint; set AZURE_OPENAI_ENDPOINT (https://RESOURCE.openai.azure.com/)",
                provider="azure",
                model=target.model,
            )
        return url

    def api_version(self) -> str:
        return self.env.get("AZURE_OPENAI_API_VERSION") or DEFAULT_AZURE_API_VERSION

    def headers(self, model: str) -> dict[str, str]:
        return {"api-key": self.require_key(model)}

    def url(self, wire: WireFormat, target: Target, *, stream: bool) -> tuple[str, dict[str, str]]:
        base = self.base_url(target).rstrip("/")
        deployment = quote(target.model, safe="")
        return f"{base}/openai/deployments/{deployment}{wire.path(target.model, stream=stream)}", {
            "api-version": self.api_version()
        }

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "endpoint_set": bool(self.env.get("AZURE_OPENAI_ENDPOINT")),
            "api_version": self.api_version(),
        }


class CompatEndpoint(Endpoint):
    """Any OpenAI-compatible server: ``MAGSAG_COMPAT_BASE_URL``, optional ``MAGSAG_COMPAT_API_KEY``."""

    provider = "compat"
    key_env = ("MAGSAG_COMPAT_API_KEY",)

    def base_url(self, target: Target) -> str:
        url = target.base_url or self.env.get("MAGSAG_COMPAT_BASE_URL")
        if not url:
            from ..errors import AuthenticationError

            raise AuthenticationError(
                "compat: no endpoint; set MAGSAG_COMPAT_BASE_URL (e.g. https://host/v1) or give the target a base_url",
                provider="compat",
                model=target.model,
            )
        return url

    def headers(self, model: str) -> dict[str, str]:
        key = self.api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}


class OpenAIProvider(HTTPProvider):
    """Chat Completions by default; ``params: {api: responses}`` on a target uses the Responses API."""

    def __init__(self, env: Mapping[str, str], transport: Transport) -> None:
        super().__init__(ChatCompletionsFormat(), OpenAIEndpoint(env), transport)
        self.responses = ResponsesFormat()

    async def complete(
        self, request: LLMRequest, target: Target, *, progress: ProgressCallback | None = None
    ) -> LLMResult:
        if target.param_dict().get("api") != "responses":
            return await self.call(self.wire, request, target, progress=progress)
        result = await self.call(self.responses, request, target, progress=progress)
        if request.stop:
            result.warnings.append("the Responses API has no stop sequences; 'stop' was not sent")
        return result


class AzureProvider(HTTPProvider):
    def __init__(self, env: Mapping[str, str], transport: Transport) -> None:
        super().__init__(ChatCompletionsFormat(), AzureEndpoint(env), transport)


class CompatProvider(HTTPProvider):
    caps = Capabilities()

    def __init__(self, env: Mapping[str, str], transport: Transport) -> None:
        super().__init__(ChatCompletionsFormat(max_tokens_field="max_tokens"), CompatEndpoint(env), transport)
