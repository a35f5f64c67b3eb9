"""The ``local`` provider: Ollama, vLLM, LM Studio and friends on the user's own machine (where the server is, its base
URL from the target and the environment, is :mod:`.local_endpoint`'s).

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

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar
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
from ..settings import READ_TIMEOUT_ENV
from ..text import brief
from ..transport import Transport
from ..types import LLMRequest, LLMResult, Target
from .base import ProgressCallback
from .base_urls import _shown
from .http_errors import HTML_PAGE, server_words
from .local_api_memory import FILE_NAME as MEMORY_FILE
from .local_api_memory import REMEMBERED_S, ChatOnlyFile
from .local_endpoint import (
    DEFAULT_LOCAL_BASE_URL,
    LOCAL_READ_TIMEOUT_S,
    OTHER_SERVERS_BASES,
    LocalEndpoint,
    ollama_api_root_fix,
)
from .local_models import missing_model_fix, served_models
from .local_reach import Unreached, answered, found_slowly, on_ollamas_cloud, went_down
from .local_unreached import ServerReach
from .openai_chat import ChatCompletionsFormat
from .openai_responses import MIN_OUTPUT_TOKENS, ResponsesFormat
from .refused_settings import RefusedSettings
from .target_refusals import says_no_model_loaded, says_no_such_route
from .wire_format import WireFormat

__all__ = ["DEFAULT_LOCAL_BASE_URL", "RECHECK_AFTER_S", "LocalEndpoint", "LocalProvider", "lacks_responses_api"]

#: how long a server found without the Responses API is sent straight to chat completions before the Responses
#: API is tried again (one quick 404 while it still lacks it): an Ollama or LM Studio upgraded under a long-running
#: MCP server gets its Responses API used, without a restart
RECHECK_AFTER_S = 600.0

T = TypeVar("T")


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


def _gateway_page(exc: ProviderError) -> bool:
    """Whether ``exc`` is a gateway's failure (502, 503, 504) answered with an HTML page: no local server's API
    answers one (Ollama, vLLM, LM Studio and llama.cpp answer JSON), a proxy's or a gateway's error page does."""
    return exc.status in (502, 503, 504) and server_words(exc).startswith(HTML_PAGE)


async def _off_the_loop(file_step: Callable[[str], T], base: str) -> T:
    """``file_step(base)`` (a read or save of :class:`ChatOnlyFile`) on a worker thread, left to finish alone if the
    call is cancelled meanwhile: a slow or hung disk (a network home folder) held a cancelled call (a deadline, a
    client's cancel, Ctrl-C) until the disk answered. The thread's save is whole or not made at all (written aside,
    then renamed), and the memory is a saving the call never needs."""
    return await anyio.to_thread.run_sync(file_step, base, abandon_on_cancel=True)


class LocalProvider(ServerReach, RefusedSettings):
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
            lacks = await _off_the_loop(self.memory.lacks_responses, base)
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
            await _off_the_loop(self.memory.remember, base)

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
                base = self.endpoint.base_url(target)
                # aiohttp's words ("Not enough data to satisfy transfer length header") say nothing of why: a local
                # server cuts its answer off when its model runner dies, most often out of memory. Ollama's cloud
                # (OLLAMA_HOST=ollama.com) is no server of the operator's, its runner, memory and log not theirs:
                # its cut is said as any cloud's is
                if not on_ollamas_cloud(base):
                    exc.message = f"{exc.message}; {CUT_OFF_HINT} {redact(_shown(base))}"
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
            said = brief(server_words(exc), 160)
        self.json_object_at.add(base)
        result = await super().call(plain, request, target, progress=progress)
        result.warnings.append(
            f"local server at {redact(_shown(base))} refused JSON mode as a JSON schema ({said}); it was sent as "
            "json_object, as it will be to this server from now on"
        )
        return result

    async def probe(self) -> str:
        """The probe's status (``magsag doctor --probe``); its server answering (any status) ends its being taken as
        down (:data:`~.local_down.DOWN_FOR_S`): a probe said it reachable while the calls still skipped it."""
        said = await super().probe()
        if not said.startswith("unreachable"):  # (the base probe's words for a failure before any answer)
            answered(self.endpoint.base_url(Target(self.name, "probe")))
        return said

    async def complete(
        self, request: LLMRequest, target: Target, *, progress: ProgressCallback | None = None
    ) -> LLMResult:
        """The call; a model the server does not have is told with the names it does serve (its model list), but
        where it has none loaded (LM Studio's "No models loaded"), whose fix is loading it, which names no other.
        A server found down after a wait (its connect timed out, its name did not resolve) is taken as down for
        :data:`~.local_down.DOWN_FOR_S`: the cascade skips it before a call's first try (each call of a cascade paid
        the wait before moving on). Sent here all the same, as a try the cascade chose to make (a retry on the last
        target left, a target come back to): refused here, the retry failed at once with the down error."""
        base = self.endpoint.base_url(target)
        try:
            result = await self._complete(request, target, progress=progress)
        except ModelNotFoundError as exc:
            none_loaded = says_no_model_loaded(exc.message)
            served = None
            if not none_loaded:  # (asked, the list cost a request, up to LIST_WAIT_S of the call, and was not said)
                url = self.endpoint.probe_url(target)
                served = await served_models(self.transport, url, self.endpoint.headers(target.model))
            shown = redact(_shown(self.endpoint.base_url(target)))
            fix = missing_model_fix(target.model, served, shown, none_loaded=none_loaded)
            exc.served_models, exc.served_at, exc.none_loaded = served, shown, none_loaded
            exc.message = f"{exc.message}; {fix}"
            exc.args = (exc.message,)
            raise
        except ProviderError as exc:
            if found_slowly(exc):
                went_down(base, f"{Unreached.PREFIX}{exc.message}", self.endpoint.timeouts.connect)
            proxy = self.transport.proxies.for_url(base) if _gateway_page(exc) else None
            if proxy is not None:
                # a plain-http request through HTTP_PROXY is answered by the proxy itself when it cannot reach the
                # server (its own 502 page): a proxy outside the network, asked for a server inside it, never can,
                # and "a gateway or proxy in front of the API" sent the operator to look at the server
                exc.message = (
                    f"{exc.message}; it came through the proxy {proxy.url} (from {proxy.source}), whose own error page "
                    f"this most likely is (a proxy outside your network cannot reach a server inside it, as at "
                    f"{redact(_shown(base))}): add {urlsplit(base).hostname} to NO_PROXY to connect to it directly, or "
                    f"check {proxy.source}"
                )
                exc.args = (exc.message,)
            raise
        answered(base)
        return result

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
                    await _off_the_loop(self.memory.forget, base)
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
            # an error under a 200 (LM Studio's "Unexpected endpoint or method.") said as the server said it: "HTTP
            # 200" alone read as though the Responses API had answered
            said = (
                f"HTTP {exc.status}"
                if exc.status is None or not 200 <= exc.status < 300
                else f"an error under HTTP {exc.status}: {brief(server_words(exc), 120)}"
            )
            result.warnings.append(
                f"local server at {redact(_shown(base))} rejected the Responses API ({said}); "
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
            said += f": {brief(server_words(chat), 120)}"
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
