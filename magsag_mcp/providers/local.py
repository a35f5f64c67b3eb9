"""The ``local`` provider: Ollama, vLLM, LM Studio and friends on the user's own machine.

It prefers the OpenAI Responses API (a call with stop sequences, which that API lacks, or a max_tokens below its
minimum, goes to Chat Completions, unless the target asks for ``api: responses``). When the server shows it has no
Responses endpoint (404, 405, 501, or a 400 or an error body under a 200 that says the endpoint is unsupported) it
switches to Chat Completions, remembers that for the base URL for :data:`RECHECK_AFTER_S` (then asks the Responses API
once more: the server may have been upgraded meanwhile), and says so in the result's warnings. A 400 about
the request itself is not a reason to switch: it is raised like any bad request. When chat completions
answer that they are no route there either (a 404 naming no model, a 405, LM Studio's 200 "Unexpected
endpoint"), the base URL is not the server's OpenAI API: a configuration error.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread

from ..durations import seconds
from ..errors import (
    ModelNotFoundError,
    NotConfiguredError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    redact,
)
from ..http_responses import STREAM_BROKE
from ..settings import READ_TIMEOUT_ENV, connect_timeout, read_timeout
from ..transport import Timeouts, Transport
from ..types import LLMRequest, LLMResult, Target
from .base import Endpoint, ProgressCallback
from .base_urls import _shown
from .http_errors import server_words
from .local_api_memory import FILE_NAME as MEMORY_FILE
from .local_api_memory import REMEMBERED_S, ChatOnlyFile
from .local_models import missing_model_fix, served_models
from .local_reach import known as reach_known
from .local_reach import learn
from .openai_chat import ChatCompletionsFormat
from .openai_responses import MIN_OUTPUT_TOKENS, ResponsesFormat
from .refused_settings import RefusedSettings
from .target_refusals import says_no_model_loaded, says_no_such_route
from .wire_format import WireFormat

DEFAULT_LOCAL_BASE_URL = "http://localhost:11434/v1"
#: how long a local server may stay silent unless MAGSAG_READ_TIMEOUT says otherwise: a large model loading into memory
LOCAL_READ_TIMEOUT_S = 600.0
#: how long a server found without the Responses API is sent straight to chat completions before the Responses
#: API is tried again (one quick 404 while it still lacks it): an Ollama or LM Studio upgraded under a long-running
#: MCP server gets its Responses API used, without a restart
RECHECK_AFTER_S = 600.0


def _clean(url: str) -> str:
    """No trailing slash, and never ``/v1/v1`` (a ``/v1`` base that got ``/v1`` added once more)."""
    url = url.strip().rstrip("/")
    while url.endswith("/v1/v1"):
        url = url[: -len("/v1")]
    return url


def _with_v1(url: str) -> str:
    """``http://localhost:11434`` (as the guide writes it) means the server's ``/v1`` API."""
    url = _clean(url)
    if urlsplit(url).path in ("", "/"):
        return url + "/v1"
    return url


#: addresses a server binds to listen everywhere (OLLAMA_HOST=0.0.0.0 exposes Ollama): reached on loopback
_LISTEN_EVERYWHERE = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}


def _from_ollama_host(value: str) -> str:
    """``OLLAMA_HOST`` as Ollama's own client reads it, ``[scheme://]host[:port][/path]``: http on port 11434
    unless told (``http://`` or ``https://`` without a port means its own, 80 or 443; another scheme, or one
    written in capitals, 11434, as Ollama's envconfig.Host reads it), as the base of the server's OpenAI API.
    Set for the server to listen on every interface (``0.0.0.0``), it is reached on this machine's loopback.
    The bare name of Ollama's cloud, ``ollama.com``, is its https API, as Ollama reads it."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "http", scheme
        if rest == "ollama.com":
            scheme, sep = "https", "://"  # no port: https's own
    hostport, _, path = rest.partition("/")
    try:  # a bare address, IPv6 ones included ("::1"), has no port
        host, port = str(ipaddress.ip_address(hostport.strip("[]"))), None
    except ValueError:
        parsed = urlsplit(f"//{hostport}")
        try:
            host, port = parsed.hostname or "127.0.0.1", parsed.port
        except ValueError:  # not a port: left in the URL, which the base-URL check refuses naming OLLAMA_HOST
            return f"{scheme}://{hostport}"
    host = _LISTEN_EVERYWHERE.get(host, f"[{host}]" if ":" in host else host)
    # only "http" and "https", as written, have their own port in Ollama's reading: "HTTP://gpu-box" is port 11434
    # (its client then reads the scheme in any case, as a URL's is)
    if port is None and (not sep or scheme not in ("http", "https")):
        port = 11434
    scheme = scheme.lower()
    base = _clean(f"{scheme}://{host}" + (f":{port}" if port is not None else "") + f"/{path}")
    return base if base.endswith("/v1") else base + "/v1"


#: what a local server's answer cut off mid-stream most often means, said before the server's base URL
CUT_OFF_HINT = (
    "a local server closes its answer off when its model runner stops, most often out of memory (a model or a "
    "context too large for the GPU or RAM: try a smaller model, quantization or context): its log says why, at"
)

#: how to send a target straight to chat completions, never paying a request to a Responses API its server lacks
CHAT_PARAMS_FIX = (
    "give the target params {api: chat} (in routing, or the call's model_config.params) to call chat completions "
    "from the start"
)

#: the usual OpenAI API bases of the local servers that are not Ollama
OTHER_SERVERS_BASES = "http://host:8000/v1 for vLLM or http://localhost:1234/v1 for LM Studio"


def ollama_api_root_fix(shown: str, source: str) -> str | None:
    """The fix for a base URL (``shown``, as messages show it) at Ollama's own API's root, as its docs write it
    (http://localhost:11434/api), where no OpenAI API answered: its OpenAI API is below /v1 on the same host; None for
    another base URL. A base URL ending with /api is taken as given (/api is Open WebUI's OpenAI API), and told this
    only when nothing is there: by a call that both APIs refused, and by ``magsag doctor --probe``."""
    if not shown.rstrip("/").lower().endswith("/api"):
        return None
    # nothing says the server there is Ollama: another one's fix is still said
    return (
        "the base URL ends with /api, the root of Ollama's own API, which magsag does not call: Ollama serves "
        f"the OpenAI API below /v1, so set {source} to {shown.rstrip('/')[:-4]}/v1 (another server: to its "
        f"OpenAI API, e.g. {OTHER_SERVERS_BASES})"
    )


class LocalEndpoint(Endpoint):
    provider = "local"
    key_env = ("MAGSAG_LOCAL_LLM_API_KEY",)
    base_url_env = ("MAGSAG_LOCAL_LLM_BASE_URL", "OLLAMA_BASE_URL", "OLLAMA_HOST")
    probe_hint = (
        "the base URL (MAGSAG_LOCAL_LLM_BASE_URL, OLLAMA_BASE_URL, OLLAMA_HOST, or the target's base_url) is the "
        "server's OpenAI API: http://localhost:11434/v1 for Ollama, http://host:8000/v1 for vLLM, "
        "http://localhost:1234/v1 for LM Studio"
    )
    # a target's base_url and Ollama's variables name the server's root, as the guide writes it: /v1 is added to it
    root_sources = ("the target's base_url", "OLLAMA_BASE_URL", "OLLAMA_HOST")
    # a local server speaks plain http: "https://host/v1" would send a user who wrote localhost:11434 to a TLS error
    base_url_example = "http://localhost:11434/v1"
    timeouts: Timeouts  # (its own, set in __init__: never the transport's)

    def __init__(self, env: Mapping[str, str]) -> None:
        super().__init__(env)
        # Local generation on a laptop can take minutes; a connection refused should fail fast. These
        # are only defaults: MAGSAG_CONNECT_TIMEOUT / MAGSAG_READ_TIMEOUT, once set, hold here too.
        self.timeouts = Timeouts(connect=connect_timeout(env, 5.0), read=read_timeout(env, LOCAL_READ_TIMEOUT_S))

    def base_url(self, target: Target) -> str:
        if target.base_url:
            return _with_v1(target.base_url)
        for name in self.base_url_env:  # the first one set
            url = self._env_base_url(name)
            if url:
                return url
        return DEFAULT_LOCAL_BASE_URL

    def _env_base_url(self, name: str) -> str | None:
        """The base of the OpenAI API that variable ``name`` of :attr:`base_url_env` names, or None when unset."""
        if name == "MAGSAG_LOCAL_LLM_BASE_URL":
            explicit = self.setting(name)
            # the full base of the OpenAI API, as vLLM / LM Studio users give it: kept as given
            return _clean(explicit) if explicit else None
        if name == "OLLAMA_BASE_URL":
            ollama = self.setting(name)
            if not ollama:
                return None
            # Ollama's root (http://host:11434); its OpenAI API is below /v1, unless the URL already says so.
            # Written with Ollama's native API (http://host:11434/api), it means the same server.
            ollama = _clean(ollama).removesuffix("/api")
            return ollama if ollama.endswith("/v1") else ollama + "/v1"
        # Ollama takes the quotes off its variables, and spaces around them: a docker-compose list item
        # `- OLLAMA_HOST="0.0.0.0:11434"`, or a .env file read by hand, keeps the quotes in the value
        host = (self.setting("OLLAMA_HOST") or "").strip("\"'").strip()
        # Ollama's own variable, which its CLI reads too: where an Ollama user's server listens
        return _from_ollama_host(host) if host else None

    def configured_base_urls(self) -> list[str]:
        """Every server the environment names for local calls, not only the one they go to: the guide exports
        OLLAMA_BASE_URL, then MAGSAG_LOCAL_LLM_BASE_URL for vLLM, and its Ollama example names Ollama's server in the
        call. Each is the operator's, which a call confined to configured servers (a data class's) may name."""
        urls = []
        for name in self.base_url_env:
            try:
                url = self._env_base_url(name)
            except Exception:  # a value that cannot be read is said where it is used, not here
                continue
            if url:
                urls.append(url)
        return urls

    def headers(self, model: str) -> dict[str, str]:
        key = self.api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def unset_base_url(self) -> str:
        return f"{self.base_url_env[0]}, unset: Ollama's default {DEFAULT_LOCAL_BASE_URL} was used"

    def describe(self) -> dict[str, Any]:
        # unset, the base URL is Ollama's default: nobody asked for a local server (doctor does not require it)
        return {**super().describe(), "base_url_set": any(self.setting(k) for k in self.base_url_env)}


def lacks_responses_api(exc: ProviderError) -> bool:
    """True when the error says the server has no Responses endpoint (not that our call was bad). An error status
    that ended an answer under way (an error event once its stream had begun: it may be billed, or reports its
    usage) says the opposite: the endpoint answered, and its text may have reached the caller's progress. Sent
    again to chat completions, the caller's deltas ran two answers together with nothing between them to say the
    first was not the answer."""
    if exc.status is not None and 200 <= exc.status < 300:
        # an error body under a success status (LM Studio answers an unknown route 200)
        return says_no_such_route(exc.message)
    if exc.maybe_billed or exc.usage is not None:
        return False
    if exc.status in (405, 501):
        return True
    if exc.status == 404:
        # A 404 naming the model is "model not found", and one saying no model is loaded (LM Studio) is the server's
        # state: chat completions would repeat either, and the server has the Responses API.
        return not _names_model(exc) and not says_no_model_loaded(exc.message)
    if exc.status == 400:
        return says_no_such_route(exc.message)
    return False


def _refused_json_schema(exc: ProviderError) -> bool:
    """Whether ``exc`` refuses JSON mode sent as a schema, which the server takes as json_object: a 400, 422 or
    501 (llama.cpp's not_supported_error) naming json_schema or response_format, before any answer (not billed)."""
    said = exc.message.lower()
    return (
        exc.status in (400, 422, 501)
        and not exc.maybe_billed
        and exc.usage is None
        and ("json_schema" in said or "response_format" in said)
    )


def _needs_chat(request: LLMRequest) -> bool:
    """Whether a call asks what the Responses API cannot give, and chat completions can: stop sequences, which it
    lacks, or fewer output tokens than its minimum (:data:`MIN_OUTPUT_TOKENS`, OpenAI's), to which it is raised."""
    return bool(request.stop) or (request.max_tokens is not None and request.max_tokens < MIN_OUTPUT_TOKENS)


def _names_model(exc: ProviderError) -> bool:
    text = exc.message.split(": HTTP 404", 1)[-1].lower()
    return "model" in text and (exc.model or "").lower() in text


def _about_a_model(exc: ProviderError) -> bool:
    """Whether a 404 speaks of models at all ("No models loaded"), not only of a missing route."""
    return "model" in exc.message.split(": HTTP 404", 1)[-1].lower()


def _no_route(exc: ProviderError) -> bool:
    """Whether chat completions, too, answered that there is no such route here: a 404 not about a model, a 405,
    LM Studio's 200 "Unexpected endpoint". A 400 or 501 from the route is the server's own word on the request
    (llama.cpp's 501 not_supported_error for a feature it lacks, "unsupported image URL"): raised as it is."""
    if exc.status == 404:
        return not _about_a_model(exc)
    if exc.status is not None and 200 <= exc.status < 300:
        return says_no_such_route(exc.message)
    return exc.status == 405


class LocalProvider(RefusedSettings):
    """A sampling or streaming setting the server (or its model) refuses is sent again without it, and not sent to
    it from then on (:class:`.RefusedSettings`), as compat does: a server whose schema forbids ``stream_options``
    answers the same call unstreamed."""

    hosts_other_models = True
    endpoint: LocalEndpoint  # (the one __init__ hands the base class)

    @classmethod
    def min_output_tokens(cls, target: Target) -> int:
        return MIN_OUTPUT_TOKENS  # the Responses API is tried first (chat completions only where it is missing)

    @classmethod
    def takes_prediction(cls, target: Target) -> bool:
        # the Responses API is tried first, and has no prediction field: only a target that asks for chat is sent it
        return bool(target.params) and target.param("api") == "chat"

    def __init__(self, env: Mapping[str, str], transport: Transport) -> None:
        super().__init__(ResponsesFormat(json_mode_as_schema=True), LocalEndpoint(env), transport)
        self.chat = ChatCompletionsFormat(
            max_tokens_field="max_tokens", max_stops=None, json_mode_as_schema=True, schema_required=True
        )
        #: the same formats with JSON mode as json_object, for the servers that refuse it as a schema (below)
        self.responses_json_object = ResponsesFormat()
        self.chat_json_object = ChatCompletionsFormat(
            max_tokens_field="max_tokens", max_stops=None, schema_required=True
        )
        #: base URLs whose server refused JSON mode as a schema (per process)
        self.json_object_at: set[str] = set()
        #: base URLs known to lack the Responses API (per process), and when that was last seen (``clock``)
        self.chat_only: set[str] = set()
        self._chat_since: dict[str, float] = {}
        self.clock = time.monotonic
        #: the servers other processes found without the Responses API (the file beside the ledger: see
        #: :meth:`remember_in`), None where the service has no ledger folder; the base URLs it was read for, and those
        #: being asked the Responses API again (dropped from the file when it answers)
        self.memory: ChatOnlyFile | None = None
        self._memory_read: set[str] = set()
        self._rechecking: set[str] = set()

    def remember_in(self, folder: Path) -> None:
        """Remember the servers found without the Responses API in ``folder`` (the ledger's), for new processes too:
        a short-lived process per call (each ``magsag invoke``) pays no failed request to such a server."""
        self.memory = ChatOnlyFile(folder / MEMORY_FILE)

    async def _chat_only(self, base: str) -> bool:
        """Whether ``base`` lacked the Responses API less than :data:`RECHECK_AFTER_S` ago. The file is read on a
        worker thread, as it is written: a slow disk (a network home folder) holds up no other call on the loop."""
        if base not in self.chat_only:
            if self.memory is None or base in self._memory_read:
                return False
            # (once per server in a process: afterwards its own sightings are written there and kept here). Marked
            # read once read: calls at once before it all wait for the answer (the file itself is read once)
            lacks = await anyio.to_thread.run_sync(self.memory.lacks_responses, base)
            self._memory_read.add(base)
            if not lacks:
                return False
            if base not in self.chat_only:
                await self._remember_chat_only(base, write=False)
            return True
        if self.clock() - self._chat_since.get(base, 0.0) < RECHECK_AFTER_S:
            return True
        self.chat_only.discard(base)  # asked again: still missing, it is one quick 404 and back to chat
        self._rechecking.add(base)
        return False

    async def _remember_chat_only(self, base: str, *, write: bool = True) -> None:
        self.chat_only.add(base)
        self._chat_since[base] = self.clock()
        self._rechecking.discard(base)
        if write and self.memory is not None:
            await anyio.to_thread.run_sync(self.memory.remember, base)

    async def call(
        self,
        wire: WireFormat,
        request: LLMRequest,
        target: Target,
        *,
        progress: ProgressCallback | None = None,
    ) -> LLMResult:
        """A call, JSON mode sent as a JSON schema of any object (LM Studio refuses json_object), or as json_object
        to a server that refused the schema (llama.cpp until mid-2024: 400 'response_format type must be one of
        "text" or "json_object"'), which is remembered for its base URL. A caller's own schema is never changed.
        A read timeout that MAGSAG_READ_TIMEOUT set below local's own says what a silent local server may be doing."""
        try:
            return await self._call(wire, request, target, progress=progress)
        except ProviderConnectionError as exc:
            if type(exc) is ProviderConnectionError and exc.message.startswith(STREAM_BROKE):
                # aiohttp's words ("Not enough data to satisfy transfer length header") say nothing of why: a local
                # server cuts its answer off when its model runner dies, most often out of memory
                exc.message = f"{exc.message}; {CUT_OFF_HINT} {redact(_shown(self.endpoint.base_url(target)))}"
                exc.args = (exc.message,)
            raise
        except ProviderTimeoutError as exc:
            read = self.endpoint.timeouts.read
            if exc.timeout_s == read and read < LOCAL_READ_TIMEOUT_S and self.endpoint.setting(READ_TIMEOUT_ENV):
                exc.message = (
                    f"{exc.message}; a local server may be loading the model into memory (on its first call, or "
                    "after unloading it when idle: Ollama's keep_alive, 5 minutes by default), silent until it is "
                    f"loaded, which takes minutes for a large model: raise {READ_TIMEOUT_ENV}, or leave it unset for "
                    f"local's {seconds(LOCAL_READ_TIMEOUT_S)}"
                )
                exc.args = (exc.message,)
            raise

    async def _call(
        self,
        wire: WireFormat,
        request: LLMRequest,
        target: Target,
        *,
        progress: ProgressCallback | None = None,
    ) -> LLMResult:
        plain = (
            self.responses_json_object if wire is self.wire else self.chat_json_object if wire is self.chat else None
        )
        if plain is None or not request.json_output or request.json_schema is not None:
            return await super().call(wire, request, target, progress=progress)
        base = self.endpoint.base_url(target)
        if base in self.json_object_at:
            return await super().call(plain, request, target, progress=progress)
        try:
            return await super().call(wire, request, target, progress=progress)
        except ProviderError as exc:
            if not _refused_json_schema(exc):
                raise
            said = server_words(exc)[:160]
        self.json_object_at.add(base)
        result = await super().call(plain, request, target, progress=progress)
        result.warnings.append(
            f"local server at {redact(_shown(base))} refused JSON mode as a JSON schema ({said}); it was sent as "
            "json_object, as it will be to this server from now on"
        )
        return result

    async def learn_where_it_runs(self, target: Target) -> None:
        """Ask the server once per name in this process where it runs ``target``'s model (see :mod:`.local_reach`):
        the cascade asks before governance judges the attempt, and the answer is kept for the policies and pricer."""
        try:
            base = self.endpoint.base_url(target)
            headers = self.endpoint.headers(target.model)
        except Exception:  # (a base URL or key that cannot be read: the call says so, where it is sent)
            return
        if not reach_known(base, target.model):
            await learn(self.transport, base, target.model, headers, self.endpoint.timeouts.connect)

    async def complete(
        self, request: LLMRequest, target: Target, *, progress: ProgressCallback | None = None
    ) -> LLMResult:
        """The call; a model the server does not have is told with the names it does serve (its model list)."""
        try:
            return await self._complete(request, target, progress=progress)
        except ModelNotFoundError as exc:
            url = self.endpoint.probe_url(target)
            served = await served_models(self.transport, url, self.endpoint.headers(target.model))
            shown = redact(_shown(self.endpoint.base_url(target)))
            fix = missing_model_fix(target.model, served, shown, none_loaded=says_no_model_loaded(exc.message))
            exc.message = f"{exc.message}; {fix}"
            exc.args = (exc.message,)
            raise

    async def _complete(
        self, request: LLMRequest, target: Target, *, progress: ProgressCallback | None = None
    ) -> LLMResult:
        base = self.endpoint.base_url(target)
        api = target.param("api") if target.params else None
        if api == "chat" or (api != "responses" and _needs_chat(request)):
            # asked for, or the call asks what the Responses API cannot give and every local server's chat
            # completions can: nothing to say about the Responses API
            return await self.call_fitted(self.chat, request, target, progress=progress)
        if await self._chat_only(base):
            result = await self.call_fitted(self.chat, request, target, progress=progress)
            shown = redact(_shown(base))
            result.warnings.append(f"local server at {shown} has no Responses API; used chat completions")
            return result
        try:
            result = await self.call_fitted(self.wire, request, target, progress=progress)
            if base in self._rechecking:  # (upgraded since: it has the Responses API now, for every process)
                self._rechecking.discard(base)
                if self.memory is not None:
                    await anyio.to_thread.run_sync(self.memory.forget, base)
        except ProviderError as exc:
            if not lacks_responses_api(exc):
                raise  # a 404 naming the model is the ModelNotFoundError the format made of it
            try:
                result = await self.call_fitted(self.chat, request, target, progress=progress)
            except ProviderError as chat_exc:
                if _no_route(chat_exc):
                    raise self._no_api_at(base, target, exc, chat_exc) from None
                await self._remember_chat_only(base)
                raise
            await self._remember_chat_only(base)
            # a warning reaches results and the ledger: a gateway's token in the URL's path stays out (as in traces),
            # whatever its shape (redact() knows keys by theirs, sk-..., not a gateway's token of letters and digits)
            # remembered by this process, and (with a ledger's folder) by the file new ones read: the warning says
            # which, and names the setting that skips the Responses API for good
            later = (
                f"new processes, such as each `magsag invoke`, for {REMEMBERED_S / 3600:g} hours (remembered in "
                f"{MEMORY_FILE} beside the ledger)"
                if self.memory is not None
                else "a new process, such as each `magsag invoke`, asks it first again"
            )
            result.warnings.append(
                f"local server at {redact(_shown(base))} rejected the Responses API (HTTP {exc.status}); "
                "fell back to chat completions, which this process will call it on for the next "
                f"{RECHECK_AFTER_S / 60:g} minutes before the Responses API is asked again ({later}): "
                f"{CHAT_PARAMS_FIX}"
            )
            return result
        return result

    def no_api_fix(self, target: Target) -> str | None:
        base = self.endpoint.base_url(target)
        source = self.endpoint.base_url_source(target)
        return ollama_api_root_fix(redact(_shown(base)), source) or super().no_api_fix(target)

    def _no_api_at(
        self, base: str, target: Target, responses: ProviderError, chat: ProviderError
    ) -> NotConfiguredError:
        """Both APIs answered that they are no route here (a 404 naming no model, a 405, LM Studio's 200 "Unexpected
        endpoint"): the base URL is not the server's OpenAI API (Ollama's native ``/api``, a vLLM or LM Studio
        base without ``/v1``); the model was never asked for."""
        said = (
            f"HTTP {chat.status} for both"
            if responses.status == chat.status
            else (f"HTTP {responses.status} and {chat.status}")
        )
        if chat.status is not None and 200 <= chat.status < 300:
            said += f": {chat.message.split(': HTTP 200: ', 1)[-1][:120]}"
        source = self.endpoint.base_url_source(target)
        fix = f"set {source} to its OpenAI API, e.g. http://localhost:11434/v1 for Ollama, {OTHER_SERVERS_BASES}"
        shown = redact(_shown(base))
        fix = ollama_api_root_fix(shown, source) or fix
        return NotConfiguredError(
            f"local: the server at {shown} has neither /responses nor /chat/completions ({said}); {fix}",
            provider=self.name,
            model=target.model,
            status=chat.status if chat.status is not None and chat.status >= 400 else None,
        )
