"""The provider interface: a *wire format* carried over an *endpoint*.

A :class:`~.wire_format.WireFormat` (``wire_format.py``) knows one API's JSON (request body, response, stream
events, error bodies). An :class:`~.endpoint.Endpoint` (``endpoint.py``) knows where that API lives and how to
authenticate (base URL, headers, API version). :class:`HTTPProvider` joins the two and owns the flow of one HTTP
call. Azure, local and
compat are endpoints of the OpenAI formats, not copies of them; Anthropic and Gemini each add one
format module and one endpoint.

What the router calls, :class:`Provider`, and the :data:`ProgressCallback` a call reports to are in interface.py
(re-exported here); what an HTTP call tells an error of the call it failed is in call_errors.py.
"""

from __future__ import annotations

import re
import time
from typing import Any

from ..errors import (
    AuthenticationError,
    ConfigError,
    MalformedResponseError,
    ModelNotFoundError,
    NotConfiguredError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    redact,
)
from ..http_responses import page_hint
from ..transport import HttpResponse, StreamResponse, Timeouts, Transport
from ..types import LLMRequest, LLMResult, Target
from . import stream_end
from .at_rest import tell_at_rest, tell_prompt_counted
from .base_urls import _shown, request_base_problem
from .call_errors import _UNNAMED_SOURCE, _name_the_source, _reported_usage, _stamp
from .capabilities import Capabilities, capabilities_for
from .empty_answers import cut_at_max_tokens, no_answer
from .endpoint import Endpoint as Endpoint  # where the providers import it from
from .http_errors import (
    GATEWAY_TIMEOUTS,
    error_under_2xx,
    obey_should_retry,
    refused_by_vendor,
    with_request_id,
)
from .interface import ProgressCallback as ProgressCallback  # where the router and the providers import them from
from .interface import Provider as Provider
from .json_output import check_strict_calls, without_inline_thinking
from .stream_text import ThinkingFilter
from .target_refusals import says_no_such_route
from .tool_names import fitted
from .turn_document import continued_document
from .wire_format import WireFormat, an_id, said

#: the most targets a provider remembers as callable (see HTTPProvider.unavailable_error)
_READY_KEPT = 256
#: what aiohttp refuses in a header value as it writes the request (a ValueError, a config_error that stops the call):
#: every control character but a tab, not line breaks alone (a key captured with a terminal's colour codes)
_REFUSED_IN_HEADERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CONTROL_NAMES = {"\x1b": "an escape", "\x00": "a NUL", "\x7f": "a DEL"}


class HTTPProvider(Provider):
    """A wire format over an endpoint, through the shared :class:`Transport`."""

    caps: Capabilities = Capabilities()
    sends_through_transport = True  # (post_json and stream_sse, in call)

    def __init__(self, wire: WireFormat, endpoint: Endpoint, transport: Transport) -> None:
        self.wire = wire
        self.endpoint = endpoint
        self.transport = transport
        self.name = endpoint.provider
        #: targets found callable (see unavailable_error)
        self._ready: set[Target] = set()

    def capabilities(self, target: Target) -> Capabilities:
        return capabilities_for(self.caps, target)

    def unavailable_error(self, target: Target) -> ProviderError | None:
        # Asked before every attempt, and the answer depends only on the target and the settings, which are read
        # when magsag opens (a renewed key needs a restart): a target found callable is remembered, and the next
        # attempts skip building its headers and base URL to look at them (about 220 bytecodes an attempt). Only a
        # target with no base URL nor params of its own: a call's may carry its credentials, kept for that call alone.
        if target.base_url is not None or target.params:
            return self._unavailable_error(target)
        if target in self._ready:
            return None
        error = self._unavailable_error(target)
        if error is None:
            if len(self._ready) >= _READY_KEPT:  # (models a caller names: any number)
                self._ready.clear()
            self._ready.add(target)
        return error

    def _unavailable_error(self, target: Target) -> ProviderError | None:
        if placeholder := self.endpoint.placeholder_key():  # a keyless server's optional key (compat, local) too
            return AuthenticationError(placeholder, provider=self.name, model=target.model)
        try:
            if foreign := self.endpoint.foreign_key(target):  # another vendor's key, for this vendor's own API
                return AuthenticationError(foreign, provider=self.name, model=target.model)
            base = self.endpoint.sent_below(target)
            headers = {}
            if self.endpoint.key_env and type(self.endpoint).headers is not Endpoint.headers:
                headers = self.endpoint.headers(target.model)
        except ProviderError as exc:  # no key, no endpoint: said before a setting beside them, which waits on them
            return exc
        if header_problem := self.endpoint.header_problem():
            return NotConfiguredError(f"{self.name}: {header_problem}", provider=self.name, model=target.model)
        problem = self.base_url_problem(base, self.endpoint.base_url_source(target), target.model)
        if problem is None:
            problem = self._proxy_problem(base)
        if problem is None:
            for value in headers.values():  # a loop, not any() over a generator: asked before every attempt
                if (found := _REFUSED_IN_HEADERS.search(value)) is not None:
                    names = " / ".join(self.endpoint.key_env)
                    char = found.group()
                    what = "a line break" if char in "\r\n" else "a control character"
                    named = "" if char in "\r\n" else f" ({_CONTROL_NAMES.get(char) or f'U+{ord(char):04X}'})"
                    problem = f"a header value has {what} in it{named}; check {names} and any organisation id"
                    break
        if problem is None:
            return None
        return NotConfiguredError(f"{self.name}: {problem}", provider=self.name, model=target.model)

    def _proxy_problem(self, base: str) -> str | None:
        """Why the proxy settings refuse a request below ``base`` (a proxy magsag cannot use, a NO_PROXY entry that
        covers nothing and may have been meant for its host), or None. Asked here, before the attempt, so that the
        refusal is this target's, recorded as its attempt (nothing sent), and the call moves on to a target whose
        host the settings let through: raised by the transport as the request was made, it stopped the whole call
        with no attempt in the ledger."""
        try:
            self.transport.proxies.for_url(base)
        except ConfigError as exc:
            return exc.message
        return None

    def describe(self) -> dict[str, Any]:
        return {"wire": self.wire.name, **self.endpoint.describe()}

    def setting_problems(self) -> list[str]:
        """The key's placeholder, a header setting and the base URL variable, each a problem of its own: one at a
        time, the base URL's host with a space in it was said only once the organization id beside it was fixed."""
        header_problem = self.endpoint.header_problem()
        try:
            foreign = self.endpoint.foreign_key(Target(self.name, "doctor"))
        except ProviderError:  # no endpoint to send it to: said by the base URL's problem
            foreign = None
        problems = [self.endpoint.placeholder_key(), foreign, header_problem and f"{self.name}: {header_problem}"]
        return [p for p in (*problems, self._base_url_setting_problem()) if p]

    def setting_problem(self) -> str | None:
        return next(iter(self.setting_problems()), None)

    def _base_url_setting_problem(self) -> str | None:
        target = Target(self.name, "doctor")
        source = self.endpoint.base_url_source(target)
        if source not in self.endpoint.base_url_env:  # the vendor's default, or none given (no endpoint)
            return None
        try:
            base = self.endpoint.sent_below(target)
        except ProviderError as exc:
            return exc.message
        problem = self.base_url_problem(base, source, target.model)
        return None if problem is None else f"{self.name}: {problem}"

    def base_url_problem(self, base: str, source: str, model: str) -> str | None:
        """Why ``base``, what ``model``'s requests are sent below (set by ``source``), cannot carry them, or None: a
        URL that is none, a request's own path pasted on (:func:`~.base_urls._base_url_problem`), or the API version
        this provider's requests' paths begin with written twice (:func:`~.base_urls._version_twice`). Asked alike of
        a call's target, of ``magsag doctor``'s variable and of ``magsag catalog validate``'s routing target."""
        endpoint = self.endpoint
        path = self.wire.path(model, stream=False)
        return request_base_problem(base, path, source, endpoint.base_url_example, source in endpoint.root_sources)

    def no_api_fix(self, target: Target) -> str | None:
        """What ``magsag doctor --probe`` tells to fix when no API answered below ``target``'s base URL (a 404, or
        LM Studio's "Unexpected endpoint"): the endpoint's hint of what the base URL should be, or None (none known)."""
        hint = self.endpoint.base_url_hint or self.endpoint.probe_hint
        return f"check that {hint}" if hint else None

    async def probe(self) -> str:
        target = Target(self.name, "probe")
        try:
            url = self.endpoint.probe_url(target)
            resp = await self.transport.get(
                url, headers=self.endpoint.headers("probe"), timeouts=Timeouts(3.0, 5.0, from_settings=False)
            )
        except ProviderError as exc:
            _name_the_source(exc, self.endpoint, target)  # (as a call's own: "... in the base URL (OLLAMA_BASE_URL)")
            return f"unreachable: {exc.message}"
        fix = self.no_api_fix(target)
        if resp.status == 404 and fix is not None:
            return f"answered HTTP 404 at {_shown(url)}: {fix}"
        said = error_under_2xx(resp) if resp.status < 300 else None
        if said is not None and says_no_such_route(said):
            # LM Studio answers a route it lacks (a base URL without /v1) 200 {"error": "Unexpected endpoint ..."}
            fix = fix or "check its base URL"
            return f"answered {said!r} (HTTP {resp.status}) at {_shown(url)}: no API there; {fix}"
        if resp.status < 400:
            return "reachable"
        if resp.status != 401 and isinstance(
            self.wire.map_error(resp, provider=self.name, model="probe"), AuthenticationError
        ):
            # a refused key under another status than 401 (Gemini's 400 API_KEY_INVALID), which alone would read as
            # a request of magsag's own that the vendor found wrong
            return f"answered HTTP {resp.status}: the API key was refused; {self.endpoint.auth_hint()}"
        return f"answered HTTP {resp.status}"

    async def complete(
        self, request: LLMRequest, target: Target, *, progress: ProgressCallback | None = None
    ) -> LLMResult:
        return await self.call(self.wire, request, target, progress=progress)

    async def call(
        self,
        wire: WireFormat,
        request: LLMRequest,
        target: Target,
        *,
        progress: ProgressCallback | None = None,
    ) -> LLMResult:
        started = time.perf_counter()
        model = target.model
        origin = None
        if wire.endpoint_bound:
            origin = self.endpoint.origin(target)
            request = wire.for_endpoint(request, origin)
        asked = request  # (under the caller's tool names, which the answer's calls are given back)
        request, names, renamed = fitted(
            request, wire.tool_name_limit, letter_first=wire.tool_name_letter_first, api=f"{self.name}:{model}"
        )
        headers = self.endpoint.headers(model)
        url, params = self.endpoint.url(wire, target, stream=request.stream)
        body, notes = wire.build(request, model, stream=request.stream)
        notes[:0] = renamed
        timeouts = self.endpoint.timeouts
        text_answer = not (request.json_output or request.json_schema is not None)
        shown = None
        if progress is not None:  # its deltas as the final text will be (a text answer's, without inline thinking)
            progress = shown = ThinkingFilter(progress, request, text_answer)
        try:
            if request.stream:
                result = await self._stream(wire, url, body, headers, params, timeouts, model, progress, notes)
                self._unless_bill_taken(result.usage, url)
            else:
                resp = await self.transport.post_json(
                    url, body, headers=headers, params=params or None, timeouts=timeouts
                )
                if resp.status >= 400:
                    raise self._http_error(wire, resp, url, model)
                try:
                    result = wire.parse_response(resp.json(), provider=self.name, model=model)
                except ProviderError as exc:
                    raise self._unusable(wire, resp, exc, model) from None
                self._unless_bill_taken(result.usage, url)
                if progress is not None:  # tested here: a coroutine made and awaited costs every call otherwise
                    await _came_whole(result, progress)
        except ProviderError as exc:
            # the transport's errors (a timeout, a refused or dropped connection) know the URL, not whom it was for:
            # a caller's `except ProviderTimeoutError as e` reads e.provider and e.model as an HTTP error's
            _stamp(exc, self.name, model)
            self._unless_bill_taken(exc.usage, url)
            if type(exc) is ProviderConnectionError and _UNNAMED_SOURCE in exc.message:
                _name_the_source(exc, self.endpoint, target)
            raise
        if names is not None:
            names.restore(result)
        result.latency_ms = (time.perf_counter() - started) * 1000.0
        result.model = said(result.model) or model  # the model the answer names, as its usage's (see said)
        result.response_id = an_id(result.response_id)
        if result.warnings:  # what they quote of the answer (Azure's filter categories) is redacted as an error is
            result.warnings = [redact(w) for w in result.warnings]
        if origin is not None:
            wire.from_endpoint(result, origin)
        result.warnings.extend(notes)
        if text_answer or result.tool_calls:  # (a tool call's text is the output of a JSON call too: not parsed)
            without_inline_thinking(result, request)  # (a JSON answer's parse leaves it out)
        if result.finish_reason == "length":
            if not result.stop_explained:  # (a tool call it cut is refused by its wire: those here came whole)
                result.warnings.append(cut_at_max_tokens(result, request, wire.length_may_be_the_servers))
        elif (
            wire.empty_is_no_answer
            and (not result.text or result.text.isspace())  # tested here first: most answers hold text
            and (empty := no_answer(result, wire.sends_stop(request, model), self.name, model)) is not None
        ):
            raise empty
        # (a turn paused holds part of the document at most: the cascade parses the turns' text joined once the turn
        # ends, or says why it did not; see cascade_paused.py. One that ends a turn sent back is parsed with it)
        if (request.json_output or request.json_schema is not None) and result.paused is None:
            result.parsed = continued_document(wire, request, result, self.name)
        if result.tool_calls and request.tools:
            check_strict_calls(result, asked, self.name)
        if shown is not None:  # what of the final text the progress has not seen (held back, or not streamed)
            await shown.finish(result.text, result.usage)
        return result

    def _unless_bill_taken(self, usage: Any, url: str) -> None:
        """Drop what ``usage`` says was billed (``usage.cost``) unless the endpoint at ``url`` is taken at its word
        (:meth:`~.endpoint.Endpoint.says_its_bill`): a call no price is known for is then of unknown cost, flagged,
        not recorded at the figure any compatible server, or a caller's own, chose to put there."""
        if usage is not None and usage.billed_usd is not None and not self.endpoint.says_its_bill(url):
            usage.billed_usd = None

    def _http_error(self, wire: WireFormat, resp: HttpResponse, url: str, model: str) -> ProviderError:
        """The error for an HTTP error status. A 404 is as often a base URL that misses the API (one
        ``/v1`` too many or too few) as an unknown model: its message names the URL and what the base
        URL should be."""
        exc = _stamp(wire.map_error(resp, provider=self.name, model=model), self.name, model)
        obey_should_retry(exc, resp.headers)
        if resp.status in GATEWAY_TIMEOUTS:
            # Not a refusal: the server behind the gateway (or the vendor's own front, Anthropic's timeout_error,
            # Gemini's DEADLINE_EXCEEDED) had the request and was still at work on it when time ran out. What it
            # generated may be billed, as for our own read timeout: unknown, never $0.
            exc.maybe_billed = True
        hint = None
        # (a 404 the body says is something else, such as a model another API of the vendor's serves, is not)
        if resp.status == 404 and self.endpoint.base_url_hint and isinstance(exc, ModelNotFoundError):
            hint = f"{_shown(url, model)} was not found: check the model name, and that {self.endpoint.base_url_hint}"
        elif isinstance(exc, AuthenticationError):
            # a 401, or a vendor's own shape of it (Gemini's 400 API_KEY_INVALID): the vendor's message cannot name
            # the settings that were sent
            hint = self.auth_hint(exc)
        if hint:
            exc.message = redact(f"{exc.message}; {hint}")
            exc.args = (exc.message,)
        return exc

    def auth_hint(self, exc: ProviderError) -> str:
        """What to check when the vendor refused the credentials ``exc``'s request carried: the endpoint's word."""
        return self.endpoint.auth_hint()

    def _unusable(self, wire: WireFormat, resp: HttpResponse, exc: ProviderError, model: str) -> ProviderError:
        """``exc`` for a 2xx body we cannot use (not JSON, no choices, broken tool arguments): the vendor
        answered and bills it. Priced from the usage it reports, where it reports one; else its cost is
        unknown (maybe billed), never $0."""
        if exc.usage is None:
            reported = _reported_usage(wire, resp)
            if reported is not None:
                exc.usage = reported
            else:
                exc.maybe_billed = True
        if self.endpoint.base_url_hint and exc.status == 200 and says_no_such_route(exc.message):
            # LM Studio answers a route it lacks (a base URL without /v1) 200 {"error": "Unexpected endpoint ..."}
            exc.message = redact(f"{exc.message}; check that {self.endpoint.base_url_hint}")
            exc.args = (exc.message,)
        return _stamp(with_request_id(exc, resp.headers), self.name, model)

    async def _not_a_stream(self, wire: WireFormat, resp: StreamResponse, model: str, notes: list[str]) -> LLMResult:
        """A 2xx answer to a streamed request that is not an event stream: a proxy or a compatible server
        that ignored ``"stream": true``. JSON is the API's whole answer, generated and billed: it is read
        as the non-streamed answer of the same wire format (and priced as one), not thrown away as a
        dropped stream and asked for again. Anything else (a proxy's HTML page) is no answer at all."""
        media_type = resp.media_type or ""
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise MalformedResponseError(
                f"{self.name}:{model}: a streamed request was answered with {media_type} "
                f"(HTTP {resp.status}), neither an event stream nor JSON{page_hint(media_type)}",
                provider=self.name,
                model=model,
                status=resp.status,
                content_type=media_type,
            )
        body = await resp.read()
        try:
            result = wire.parse_response(body.json(), provider=self.name, model=model)
        except ProviderError as exc:
            raise self._unusable(wire, body, exc, model) from None
        notes.append(f'{self.name}:{model}: the server ignored "stream": true and sent its answer as JSON')
        return result

    async def _stream(
        self,
        wire: WireFormat,
        url: str,
        body: dict[str, Any],
        headers: dict[str, str],
        params: dict[str, str],
        timeouts: Timeouts | None,
        model: str,
        progress: ProgressCallback | None,
        notes: list[str],
    ) -> LLMResult:
        async with self.transport.stream_sse(
            url, body, headers=headers, params=params or None, timeouts=timeouts
        ) as resp:
            if resp.status >= 400:
                raise self._http_error(wire, resp.as_http_response(), url, model)
            acc = wire.accumulator(provider=self.name, model=model)
            chars = 0
            #: the vendor's error event that came before any of the answer: the request refused, as an HTTP error is
            refused: ProviderError | None = None
            try:
                if not await resp.is_event_stream():
                    result = await self._not_a_stream(wire, resp, model, notes)
                    await _came_whole(result, progress)
                    return result
                events = resp.events()
                began = False
                try:
                    async for event in events:
                        if stream_end.blank(event):  # a relay's keep-alive (an empty data line): nothing of the answer
                            continue
                        try:
                            delta = acc.feed(event)
                        except ProviderError as exc:
                            if not began:
                                refused = exc
                            raise
                        began = True
                        if delta and progress is not None:
                            chars += len(delta)
                            maybe = progress("delta", {"chars": chars, "text": delta})
                            if maybe is not None:
                                await maybe
                        if acc.complete():
                            await stream_end.after_the_end(events, acc, progress, chars)
                            break
                except (ProviderConnectionError, ProviderTimeoutError):
                    # After the terminal event only the connection's end was lost (a proxy that drops the
                    # chunked encoding's last chunk, or holds the connection open): the answer is whole, and
                    # billed; taken for a dropped stream, it would be asked for, and paid for, again. So is one cut
                    # after its every part, before the usage it was to report: kept, at an unknown cost.
                    if not acc.complete() and not acc.survives_the_cut():
                        raise
                return acc.finish()
            except ProviderError as exc:
                # The answer had begun (2xx) and stopped short, however it ended (dropped, idle, an
                # in-band error event, no terminal event): the vendor may bill what it generated. Only
                # an error that reports its usage (or usage the stream already carried) says how much.
                # An error event that came first (Anthropic's overloaded_error before message_start) is the
                # request refused before any answer began: not billed, as the HTTP error it stands for is not.
                if exc.usage is None:
                    reported = acc.usage_so_far()
                    if reported is not None and reported.reported:
                        exc.usage = reported
                    elif exc is not refused or not refused_by_vendor(exc):
                        exc.maybe_billed = True
                        exc.prompt_usage = acc.prompt_counted()
                # an error event in the stream, or a failed response, came under the stream's request id
                raise _stamp(with_request_id(exc, resp.headers), self.name, model) from None
            except BaseException as exc:
                # the caller stopped it in flight (cancelled, or its progress callback raised): the prompt the vendor
                # counted goes with it, to be recorded and to bound the attempt's cost, as a dropped stream's does
                tell_prompt_counted(exc, acc.prompt_counted())
                raise


async def _came_whole(result: LLMResult, progress: ProgressCallback | None) -> None:
    """An answer that came all at once (not streamed, or a server that ignored ``"stream": true``) reaches the
    progress callback as one delta: the text a caller renders from the deltas is the answer's either way."""
    if progress is not None and result.text:
        data = {"chars": len(result.text), "text": result.text}
        await tell_at_rest(progress, "delta", data, result.usage, "after its answer had come whole")

