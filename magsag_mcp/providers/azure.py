"""Azure OpenAI: its endpoint (a resource's root, a deployment for a model, an api-version, a key or an Entra ID token)
and its provider (what each api-version serves: streamed usage, JSON schemas, the Responses API; the errors that are
Azure's own). Its settings' checks are :mod:`.azure_checks`, its api-versions :mod:`.azure_versions`, its
authentication's refusals :mod:`.azure_auth`; the JSON is :mod:`.openai_chat` / :mod:`.openai_responses`, as OpenAI's.

(Split from openai.py, unchanged; :mod:`.openai` re-exports both classes, where callers have imported them.)"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode

from ..errors import (
    ContentFilteredError,
    NotConfiguredError,
    ProviderError,
    UnsupportedFeatureError,
    redact,
)
from ..transport import HttpResponse, Transport
from ..types import LLMRequest, LLMResult, Target
from .azure_auth import ROLE_FIX, key_auth_disabled, key_refused_fix, lacks_role
from .azure_checks import azure_findings, joined, pasted_request_url, unused_deployment
from .azure_versions import (
    DEFAULT_AZURE_API_VERSION,
    azure_root,
    azure_serves_responses,
    azure_streams_usage,
    azure_takes_json_schema,
    azure_takes_max_completion_tokens,
    azure_v1_api,
    built_field_fix,
    later_version_fix,
    names_v1_api,
    pasted_api_version,
    placeholder_resource,
)
from .base import Endpoint, ProgressCallback
from .base_urls import register_path_tokens
from .capabilities import Capabilities
from .openai_apis import ChatOrResponses
from .openai_chat import ChatCompletionsFormat
from .openai_errors import server_does_not_take
from .openai_models import uses_responses_api
from .openai_responses import ResponsesFormat
from .refused_settings import RefusedSettings
from .wire_format import WireFormat


class AzureEndpoint(Endpoint):
    """``{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...``, ``api-key`` (or an
    Entra ID token as ``Authorization: Bearer``); with api-version ``v1`` (or an undated ``preview``), the v1
    API's ``{endpoint}/openai/v1/chat/completions``. The Responses API: ``{endpoint}/openai/v1/responses``, or a
    dated preview's ``{endpoint}/openai/responses?api-version=...``.

    The target's model is the deployment name (the body's ``model`` wherever the path does not carry it).
    """

    provider = "azure"
    #: the resource's key, sent as ``api-key``; or a Microsoft Entra ID token, sent as ``Authorization: Bearer``
    #: (a resource with key authentication disabled takes only that)
    key_env = ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN")
    base_url_env = ("AZURE_OPENAI_ENDPOINT",)
    base_url_hint = (
        "the model is a deployment's name, and AZURE_OPENAI_ENDPOINT (or the target's base_url) is the "
        "resource's root, https://RESOURCE.openai.azure.com/ (anything from /openai on is dropped)"
    )
    base_url_example = (
        "https://RESOURCE.openai.azure.com/, the resource's root: the deployment is the target's model and the "
        "api-version AZURE_OPENAI_API_VERSION"
    )

    def base_url(self, target: Target) -> str:
        # without the whitespace around it: a carriage return (a .env file of Windows lines sourced by a shell, `az
        # ... -o tsv` under WSL) after the guide's trailing "/" made every URL ".../\r/openai/...", answered 404
        url = (target.base_url or "").strip() or self.setting("AZURE_OPENAI_ENDPOINT")
        if not url:
            raise NotConfiguredError(
                "azure: no endpoint; set AZURE_OPENAI_ENDPOINT (https://RESOURCE.openai.azure.com/)",
                provider="azure",
                model=target.model,
            )
        if (label := placeholder_resource(url)) is not None:
            # quoted: it matched an example's wording, so it is no secret
            where = "the target's base_url" if (target.base_url or "").strip() else "AZURE_OPENAI_ENDPOINT"
            raise NotConfiguredError(
                f"azure: {where} names the resource {label!r}, an example's placeholder, not yours; set it to your "
                "Azure OpenAI resource's endpoint, as the Azure portal shows it under Keys and Endpoint "
                "(https://NAME.openai.azure.com/, with your resource's name for NAME)",
                provider="azure",
                model=target.model,
            )
        return url

    def api_version(self) -> str:
        """AZURE_OPENAI_API_VERSION, else OPENAI_API_VERSION (what the openai SDK's AzureOpenAI and LangChain
        read), else the ``?api-version`` of an AZURE_OPENAI_ENDPOINT pasted as a deployment's Target URI (as the
        portal shows it), else ``v1`` for one given as the v1 API's base URL (``.../openai/v1/``, as Azure's
        quickstarts give it, with no api-version: the v1 API takes none), else the GA default."""
        return self.api_version_and_source()[0]

    def api_version_and_source(self) -> tuple[str, str]:
        """:meth:`api_version`, and where it came from, as a fix names it."""
        for name in ("AZURE_OPENAI_API_VERSION", "OPENAI_API_VERSION"):
            if version := self.setting(name):
                return version, name
        endpoint = self.setting("AZURE_OPENAI_ENDPOINT") or ""
        if version := pasted_api_version(endpoint):
            return version, "the ?api-version of AZURE_OPENAI_ENDPOINT"
        if names_v1_api(endpoint):
            return "v1", "AZURE_OPENAI_ENDPOINT, the v1 API's base URL"
        return DEFAULT_AZURE_API_VERSION, "the default"

    def headers(self, model: str) -> dict[str, str]:
        key = self.require_key(model)
        return {"api-key": key} if key == self.env.get("AZURE_OPENAI_API_KEY") else {"Authorization": f"Bearer {key}"}

    def auth_hint(self) -> str:
        """A key must be the resource's own (Azure answers another resource's "invalid subscription key or wrong
        API endpoint"); an Entra ID token expires, about an hour after it was issued, and settings are read when
        magsag opens: a long-running server keeps sending the expired one."""
        key = self.api_key()
        if key is not None and key == self.env.get("AZURE_OPENAI_API_KEY"):  # (as headers() chooses)
            return (
                "check AZURE_OPENAI_API_KEY, whose key was sent: it must be a key of the resource that "
                "AZURE_OPENAI_ENDPOINT (or the target's base_url) names"
            )
        if self.setting("AZURE_OPENAI_AD_TOKEN"):
            return (
                "check AZURE_OPENAI_AD_TOKEN, whose Entra ID token was sent: it must be for "
                "https://cognitiveservices.azure.com, and it expires (about an hour after it was issued); a fresh "
                "one is read when magsag next opens (restart the server or the script)"
            )
        return super().auth_hint()

    def resource_root(self, target: Target) -> str:
        """The resource's root, without what the portal and the SDKs show after it: ``/openai`` or ``/openai/v1``
        (the v1 API's base URL), or a deployment's whole Target URI (``/openai/deployments/NAME/chat/completions``).
        Kept, it would double into ``/openai/openai/...``, which Azure answers 404. A gateway's own path before
        ``/openai`` (API Management's ``/my-api``, or ``/openai/eastus``) stays."""
        root = azure_root(self.base_url(target))
        # (Endpoint.url's, for the URLs sent here: a Target URI's deployment, cut off, is not sent)
        register_path_tokens(root, target.model, by_call=target.base_url is not None)
        return root

    def sent_below(self, target: Target) -> str:
        return self.resource_root(target)  # a Target URI's path and ?api-version are not sent

    def url(self, wire: WireFormat, target: Target, *, stream: bool) -> tuple[str, dict[str, str]]:
        base = self.resource_root(target)
        version = self.api_version()
        if azure_v1_api(version):
            # the v1 API: OpenAI's paths below /openai/v1, the deployment as the body's model; "v1" itself
            # is no api-version, an undated one ("preview") opts in to preview features
            return f"{base}/openai/v1{wire.path(target.model, stream=stream)}", (
                {} if version == "v1" else {"api-version": version}
            )
        if isinstance(wire, ResponsesFormat):
            # the preview Responses API of the dated versions (AzureProvider sends none older): one path for the
            # resource, the deployment as the body's model
            return f"{base}/openai{wire.path(target.model, stream=stream)}", {"api-version": version}
        deployment = quote(target.model, safe="")
        return f"{base}/openai/deployments/{deployment}{wire.path(target.model, stream=stream)}", {
            "api-version": version
        }

    def probe_url(self, target: Target) -> str:
        """The resource's model list, ``/openai/models?api-version=...`` (the v1 API's ``/openai/v1/models``):
        nothing is served at ``{endpoint}/models``."""
        version = self.api_version()
        path = "/openai/v1/models" if azure_v1_api(version) else "/openai/models"
        query = "" if version == "v1" else "?" + urlencode({"api-version": version})
        return f"{self.resource_root(target)}{path}{query}"

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "endpoint_set": self.setting("AZURE_OPENAI_ENDPOINT") is not None,
            "api_version": self.api_version(),
        }


class AzureProvider(ChatOrResponses, RefusedSettings):
    """Azure OpenAI. Streaming is used only with an api-version that reports usage at the end of a
    stream: without it a streamed call's cost could not be known, and money must be exact. The Responses API
    as on OpenAI (:meth:`uses_responses`), with an api-version that serves it."""

    hosts_other_models = True

    @staticmethod
    def uses_responses(target: Target) -> bool:
        """As OpenAI's: ``params: {api: responses}``, or a deployment named for a model only the Responses API
        serves (gpt-5-codex, o3-pro, ...: the portal names a deployment for its model) unless ``api: chat``."""
        return uses_responses_api(target)

    def __init__(self, env: Mapping[str, str], transport: Transport) -> None:
        endpoint = AzureEndpoint(env)
        version = endpoint.api_version()
        self.streams_usage = azure_streams_usage(version)
        self.takes_json_schema = azure_takes_json_schema(version)
        self.serves_responses = azure_serves_responses(version)
        field = "max_completion_tokens" if azure_takes_max_completion_tokens(version) else "max_tokens"
        strict = f"api-version {version} takes no strict tools (they came with 2024-08-01-preview, GA 2024-10-21)"
        super().__init__(
            ChatCompletionsFormat(max_tokens_field=field, strict_tools=None if self.takes_json_schema else strict),
            endpoint,
            transport,
        )
        self.responses = ResponsesFormat(asks_encrypted_reasoning=True)

    def unavailable(self, target: Target) -> str | None:
        """Every reason ``target`` cannot be called (no endpoint and no key), each with its fix: said one at a time, a
        fix was followed by a run that found the next (see :mod:`.azure_checks`)."""
        error = self.unavailable_error(target)
        if error is None:
            return None
        stopping, _ = azure_findings(self.endpoint, target)  # type: ignore[arg-type]
        return joined(stopping) if stopping else error.message

    def base_url_problem(self, base: str, source: str, model: str) -> str | None:
        """A whole request URL pasted as the endpoint (Azure AI Foundry's) is told the resource's root to set (see
        :func:`~.azure_checks.pasted_request_url`), else as any provider's."""
        return pasted_request_url(base, source) or super().base_url_problem(base, source, model)

    def setting_problems(self) -> list[str]:
        """Every Azure setting made wrong (an endpoint of no URL, or an example's, a placeholder key, an api-version
        Azure takes in no form), each with its fix, not the first alone."""
        return azure_findings(self.endpoint, Target("azure", "doctor"))[1]  # type: ignore[arg-type]

    def setting_notes(self) -> list[str]:
        note = unused_deployment(self.endpoint)  # type: ignore[arg-type]
        return [] if note is None else [note]

    def capabilities(self, target: Target) -> Capabilities:
        caps = super().capabilities(target)
        if self.uses_responses(target):
            return caps  # the Responses API reports usage at the end of every stream, and takes a JSON schema
        if not self.streams_usage:
            caps = replace(caps, streaming=False)
        return caps if self.takes_json_schema else replace(caps, json_schema=False)

    async def complete(
        self, request: LLMRequest, target: Target, *, progress: ProgressCallback | None = None
    ) -> LLMResult:
        if self.uses_responses(target):
            if not self.serves_responses:
                version = self.endpoint.api_version()  # type: ignore[attr-defined]
                asked = "params.api is responses" if target.param("api") else "its model is served by it alone"
                raise UnsupportedFeatureError(
                    f"azure:{target.model}: the Responses API ({asked}) is not served with api-version {version}; set "
                    "AZURE_OPENAI_API_VERSION=v1 (or a preview from 2025-03-01-preview), or params: {api: chat} on "
                    "the target for a deployment that serves chat completions",
                    provider="azure",
                    model=target.model,
                )
            return await self.call_fitted(self.responses, request, target, progress=progress)
        if request.json_schema is not None and not self.takes_json_schema:
            version = self.endpoint.api_version()  # type: ignore[attr-defined]
            raise UnsupportedFeatureError(
                f"azure:{target.model}: api-version {version} takes no JSON schema (structured outputs arrived in "
                "2024-08-01-preview, GA 2024-10-21); set AZURE_OPENAI_API_VERSION=2024-10-21 or later",
                provider="azure",
                model=target.model,
            )
        if request.stream and not self.streams_usage:
            result = await self.call_fitted(self.wire, replace(request, stream=False), target, progress=progress)
            result.warnings.append(
                f"api-version {self.endpoint.api_version()} reports no usage for streams "  # type: ignore[attr-defined]
                "(stream_options arrived in 2024-09-01-preview), so the answer was not streamed"
            )
            return result
        return await self.call_fitted(self.wire, request, target, progress=progress)

    def auth_hint(self, exc: ProviderError) -> str:
        return ROLE_FIX if lacks_role(exc) else super().auth_hint(exc)

    async def call(
        self, wire: WireFormat, request: LLMRequest, target: Target, *, progress: ProgressCallback | None = None
    ) -> LLMResult:
        try:
            return await super().call(wire, request, target, progress=progress)
        except UnsupportedFeatureError as exc:
            if exc.status == 400:
                self._name_the_api_version(wire, request, exc)
            raise

    def _name_the_api_version(self, wire: WireFormat, request: LLMRequest, exc: UnsupportedFeatureError) -> None:
        """Name the api-version, where it came from and the fixes in ``exc`` when it is a 400 for a field at the
        request's root that the dated api-version does not have and a later one has (a target's
        ``reasoning_effort``, ``store`` or ``metadata``, which came with the previews after 2024-10-21:
        :func:`~.azure_versions.later_version_fix`): "this server does not take it" blamed the deployment, where the
        api-version setting lacks it. A field OpenAI's API itself lacks (another vendor's ``top_k``, a misspelt one)
        stays the server's: no api-version takes it. Taking it out of the params fixes only a field the params set
        (``request.extra``: a target's, or a call's model_config.params); one magsag built for the call (its tools
        at an api-version before them, such as 2023-05-15) is told what of the call sent it
        (:func:`~.azure_versions.built_field_fix`)."""
        param = exc.details.get("param")
        if not isinstance(param, str) or not exc.message.endswith(lacks := f"; {server_does_not_take(param)}"):
            return
        version, source = self.endpoint.api_version_and_source()  # type: ignore[attr-defined]
        fix = later_version_fix(version, param, responses=isinstance(wire, ResponsesFormat))
        if fix is None:
            return
        if param in request.extra:
            fix = f": {fix}, or take it out of the target's params (or the call's model_config.params)"
        else:
            fix = built_field_fix(param, fix)
        said = exc.message.removesuffix(lacks)
        exc.message = redact(f"{said}; api-version {version} (from {source}) has no field {param}{fix}")
        exc.args = (exc.message,)

    def _http_error(self, wire: WireFormat, resp: HttpResponse, url: str, model: str) -> ProviderError:
        """A 400 "API version not supported" is this resource's answer to the api-version setting, which no
        other target shares: the setting to fix, and the next target tried (as a bad request, it stopped the
        cascade).

        A 400 of Azure's content filter (a prompt it refused) is billed, unlike other 400s: "there will be a
        charge for this request as the prompt was evaluated by the service", for the prompt's tokens and the
        completion's, which the error does not count. So may a 408, Azure's own server giving up on a generation
        under way ("you may be charged even if the status code is not successful ... a 408 error due to a
        timeout"). Their cost is unknown, never $0."""
        exc = super()._http_error(wire, resp, url, model)
        if resp.status == 403 and key_auth_disabled(exc):
            exc.message = redact(
                f"{exc.message}; {key_refused_fix(bool(self.endpoint.setting('AZURE_OPENAI_AD_TOKEN')))}"
            )
            exc.args = (exc.message,)
            return exc
        if (resp.status == 400 and isinstance(exc, ContentFilteredError)) or resp.status == 408:
            exc.maybe_billed = True
            return exc
        if resp.status != 400 or "api version not supported" not in exc.message.lower():
            return exc
        version, source = self.endpoint.api_version_and_source()  # type: ignore[attr-defined]
        return NotConfiguredError(
            f"{exc.message}; api-version {version} (from {source}) is not one Azure serves: set "
            "AZURE_OPENAI_API_VERSION (which comes first) to 2024-10-21 (GA), a dated preview such as "
            "2025-04-01-preview, or v1",
            provider=self.name,
            model=model,
            status=400,
            **exc.details,
        )
