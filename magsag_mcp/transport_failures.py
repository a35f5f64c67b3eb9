"""aiohttp's failures -> magsag-mcp's errors, once, at the boundary: what :mod:`.transport` raises when a
request fails on its way (refused, reset, timed out, a proxy's or a certificate's refusal, a request aiohttp
would not build). A message names the host, never the URL's path and query (a deployment name, a key), and
a timeout's says which one fired, how long it was and the setting that changes it."""

from __future__ import annotations

import errno
import functools
import re
import socket
from typing import TYPE_CHECKING, TypeGuard, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp.http_exceptions import ContentEncodingError, ContentLengthError, TransferEncodingError

from . import connect_watch
from .durations import setting
from .errors import (
    ConfigError,
    MagsagError,
    MalformedResponseError,
    NameLookupTimeoutError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    TransportCause,
    excerpt,
)
from .proxies import on_this_machine
from .resolver import NameLookupTimeout, ProxyTunnelTimeout
from .tls import CA_FILE_ENV

if TYPE_CHECKING:
    from .proxies import Proxy
    from .tls import CABundles
    from .transport import Timeouts

#: what :func:`conversion` turns into our errors: aiohttp's, its timeouts and a request it refused to build (a
#: ValueError, converted only from the call that builds and sends the request: see :data:`FAILURES_ONCE_SENT`)
FAILURES = (aiohttp.ClientError, TimeoutError, ValueError)
#: what is converted once the request went out (its answer read): aiohttp's failures and timeouts. A ValueError there
#: comes from no configuration (what aiohttp checks was checked as the request was built) but from code of ours
#: reading the answer: a bug, raised as it is for the cascade to name (``internal_error``, maybe billed), where a
#: config_error said nothing was sent and pointed at the base URL and the key
FAILURES_ONCE_SENT = (aiohttp.ClientError, TimeoutError)


def conversion(
    exc: BaseException, url: str, timeouts: Timeouts, proxy: Proxy | None = None, cas: CABundles | None = None
) -> MagsagError:
    """aiohttp's failure ``exc`` (one of :data:`FAILURES`) -> our tree, once, here at the boundary (the URL's
    path and query never shown). A timeout's message says which timeout fired, how long it was and the setting
    that changes it. Its cause says what aiohttp said, redacted (:func:`converted_from`): the caller raises it as it
    is, outside its handler of ``exc``."""
    err = _converted(exc, url, timeouts, proxy, cas)
    if isinstance(err, ProviderError) and not err.maybe_billed and _never_sent(exc):
        err.reached = False  # type: ignore[misc]  # this one error's, over its class's
    return converted_from(err, exc)


#: an error of the tree
_E = TypeVar("_E", bound=BaseException)


def converted_from(err: _E, exc: BaseException) -> _E:
    """``err``, converted from aiohttp's failure ``exc``, with a :class:`~magsag_mcp.errors.TransportCause` saying
    what ``exc`` said (each URL in it cut to its host, keys redacted) as its cause, in ``exc``'s place.

    Raised so (``raise err``, not ``from exc`` nor ``from None``), and outside the ``except`` that caught ``exc``:
    Python makes the exception being handled the context of any raised in its handler, and ``exc`` (the request's
    whole URL in its text, a proxy's refusal holding its headers) was reachable as the error's ``__context__`` and,
    raised ``from exc``, printed in every traceback of it."""
    err.__cause__ = TransportCause(f"{type(exc).__module__}.{type(exc).__qualname__}: {_short(exc)}")
    return err


def _never_sent(exc: BaseException) -> bool:
    """Whether ``exc`` stopped the request before it was sent: no connection to the vendor was made."""
    return isinstance(exc, aiohttp.ClientHttpProxyError | aiohttp.ConnectionTimeoutError) or not _reached_vendor(exc)


def _converted(
    exc: BaseException, url: str, timeouts: Timeouts, proxy: Proxy | None = None, cas: CABundles | None = None
) -> MagsagError:
    if isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        # the proxy itself failed or refused (407, 403, 502 to CONNECT): the vendor was never reached
        why = f"answered HTTP {exc.status}" if isinstance(exc, aiohttp.ClientHttpProxyError) else "could not be reached"
        via = f"the proxy {proxy.url} (from {proxy.source})" if proxy else "the proxy"
        check = proxy.source if proxy else "the proxy settings"
        return _not_retried(
            ProviderConnectionError(
                f"could not reach {host(url)}: {via} {why}; check {check} (its host, port and user:password@), "
                "or add the host to NO_PROXY to connect directly"
            ),
            isinstance(exc, aiohttp.ClientHttpProxyError) and exc.status in _PROXY_REFUSALS,
        )
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        # a TLS-inspecting proxy or gateway re-signs every certificate with its own CA
        reason = getattr(exc.certificate_error, "verify_message", None) or type(exc.certificate_error).__name__
        fix = (cas.unloaded() if cas else "") or (
            f"behind a proxy or gateway that inspects TLS, set {CA_FILE_ENV} to a PEM file holding your "
            "organisation's CA certificate"
        )
        return _not_retried(
            ProviderConnectionError(
                f"could not reach {host(url)}: its TLS certificate is not trusted ({reason}); {fix}"
            )
        )
    if isinstance(exc, aiohttp.ConnectionTimeoutError) and isinstance(exc.__cause__, ProxyTunnelTimeout):
        # the proxy took the connection and did not open the tunnel in time (no answer to CONNECT), or, for a
        # plain-http target (asked through the proxy itself: no tunnel), did not take the connection: the vendor was
        # never reached, and the proxy is what to check
        return _proxy_connect_timeout(url, timeouts, proxy)
    if isinstance(exc, aiohttp.ConnectionTimeoutError) and (told := connect_watch.given_up(exc)) is not None:
        # told to stop before its connect timeout ran out (connect_watch): failed as that timeout would have, and
        # saying so, not that the timeout was waited out. Through a proxy, each connect to the host is one to the
        # proxy (the watch marks it under the host): what did not connect was the proxy, which the fix is about
        if proxy is None:
            verdict = "(the host is taken as down for a while for callers connecting within as long)"
        else:
            verdict = (
                f"through the proxy {proxy.url} (from {proxy.source}), which is what did not connect (the host behind "
                "it was not reached); check the proxy, or add the host to NO_PROXY to connect directly"
            )
        return ProviderTimeoutError(
            f"could not connect to {host(url)}: stopped before {timeouts.connect_described()} ran out, as {told} "
            f"{verdict}",
            timeout_s=timeouts.connect,
        )
    if isinstance(exc, aiohttp.ConnectionTimeoutError) and proxy is not None:
        # (aiohttp's own connect timer, of the same length, fired before ours: the connect was to the proxy all the
        # same)
        return _proxy_connect_timeout(url, timeouts, proxy)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ProviderTimeoutError(
            f"could not connect to {host(url)} within {timeouts.connect_described()}", timeout_s=timeouts.connect
        )
    if isinstance(exc, aiohttp.ServerTimeoutError):
        # Connected, then no answer in time: the model may be generating one the vendor bills. Through a proxy, the
        # request went to the proxy (a plain-http one forwards it itself): the silence may be the proxy's
        via = ""
        if proxy is not None:
            via = f" through the proxy {proxy.url} (from {proxy.source})"
        said = f"no answer from {host(url)}{via} within {timeouts.read_described()}"
        if proxy is not None:
            said += (
                "; the proxy may be what did not answer (the host behind it maybe never reached): check the proxy, "
                "or add the host to NO_PROXY to connect directly"
            )
        return ProviderTimeoutError(said, maybe_billed=True, timeout_s=timeouts.read)
    if isinstance(exc, TimeoutError):
        # aiohttp's total timeout, when one is set
        within = f"the total timeout of {setting(timeouts.total)}" if timeouts.total is not None else "the timeout"
        return ProviderTimeoutError(
            f"no complete answer from {host(url)} within {within}", maybe_billed=True, timeout_s=timeouts.total
        )
    if isinstance(exc, aiohttp.InvalidURL):
        return ConfigError(
            f"{host(url) if '://' in url else 'a provider URL'} is not a usable URL ({type(exc).__name__}); "
            "set the provider's base URL (e.g. OPENAI_BASE_URL, or base_url in routing) to http(s)://host[:port]/path"
        )
    if isinstance(getattr(exc, "os_error", None), NameLookupTimeout):
        # the lookup ran out of the connect timeout: moved on from like a connect timeout, not retried at once
        return NameLookupTimeoutError(f"could not reach {host(url)}: {_why(exc, proxy)}", timeout_s=timeouts.connect)
    if (wrong := mislabelled(exc, url)) is not None:
        return wrong
    if isinstance(exc, aiohttp.ClientPayloadError):
        # its server reached and answering, the body broke off: as a stream cut mid-answer says it (transport.py),
        # without aiohttp's "<ContentLengthError: 400, ...>", a 400 read as a request refused at no cost
        return ProviderConnectionError(f"the answer from {host(url)} broke off: {broke_off(exc)}", maybe_billed=True)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        # Reached, and closed before its answer's headers were whole: the model may have run (maybe billed). Said in
        # words: aiohttp's own text is its parser's state, "RawResponseMessage(...)" quoting every header the server
        # had sent so far, behind "could not reach", which said the server was never reached.
        return ProviderConnectionError(
            f"{host(url)} closed the connection before its answer {_closed_when(exc)}", maybe_billed=True
        )
    if _reset(exc):
        # connected, then reset (ECONNRESET; EPIPE as the request was written): reached, maybe billed, as a close is
        return ProviderConnectionError(
            f"{host(url)} reset the connection before its answer came ({exc.strerror or exc.errno}): a server or "
            "proxy that dropped the request, or closed a connection it held idle as the request went out",
            maybe_billed=True,
        )
    if isinstance(exc, aiohttp.ClientError):
        err = _not_retried(
            ProviderConnectionError(
                f"could not reach {host(url)}: {_why(exc, proxy, url)}", maybe_billed=_reached_vendor(exc)
            ),
            _no_such_name(exc),
        )
        err.name_not_found = _no_such_name(exc)  # type: ignore[misc]  # this one error's, over its class's
        if _refused(getattr(exc, "os_error", None)) and proxy is None and on_loopback(url):
            err.retried_only_on_last_target = True  # type: ignore[misc]  # this one error's, over its class's
        return err
    # aiohttp checks a request as it builds it (a ValueError): a control character in a header value (a key or an
    # organisation id pasted with its newline, an escape or a NUL), or credentials both in the URL and in a header.
    # Nothing was sent, so nothing is billed; the fix is in the configuration. (The body is serialized before, and a
    # ValueError once the request went out is not converted: either is a bug of ours, not a setting.)
    # What it says is cut as every other path's is (_short): a URL it quotes is said as its host, never its path and
    # query (a gateway's token, ?key=), which redact alone left when the token is no key-shaped string.
    return ConfigError(
        f"cannot send a request to {host(url)}: {_short(exc)}; check the provider's base URL "
        "(no user:password@ in it) and its key and organisation variables (no line breaks or other control "
        "characters in them)"
    )


def _proxy_connect_timeout(url: str, timeouts: Timeouts, proxy: Proxy | None) -> ProviderTimeoutError:
    """A connect through ``proxy`` not made within the connect timeout. An https target is reached through a tunnel
    the proxy opens (its answer to ``CONNECT``); a plain-http one is asked through the proxy itself, no tunnel: what
    did not come there was the proxy's taking the connection, and "did not open a tunnel" sent the reader looking for
    a CONNECT that was never sent."""
    via = f"the proxy {proxy.url} (from {proxy.source})" if proxy else "the proxy"
    if urlsplit(url).scheme == "https":
        what = f"{via} did not open a tunnel to it within {timeouts.connect_described()}"
    else:
        what = (
            f"{via} did not take the connection within {timeouts.connect_described()} (a plain-http request is sent "
            "to the proxy itself, which forwards it: the request was not sent)"
        )
    return ProviderTimeoutError(
        f"could not connect to {host(url)}: {what}; check the proxy, or add the host to NO_PROXY to connect directly",
        timeout_s=timeouts.connect,
    )


def _closed_when(exc: aiohttp.ServerDisconnectedError) -> str:
    """When a server closed the connection: before answering at all, or once its answer had begun (aiohttp's
    ``message`` is then the status line and headers parsed so far; none of them is said)."""
    if getattr(exc.message, "code", None) is None:
        return (
            "began (a server or proxy that crashed or restarted, or one that closed a connection it held idle as the "
            "request went out)"
        )
    return "was whole: the answer had begun, and its status line or headers were cut short"


#: a proxy's answers to CONNECT that say no to these credentials (407) or to this host (403): the same on every try
_PROXY_REFUSALS = frozenset({403, 407})


def _reset(exc: BaseException) -> TypeGuard[aiohttp.ClientOSError]:
    """Whether ``exc`` is a connection reset once it was made (not while it was being made: ClientConnectorError)."""
    return (
        isinstance(exc, aiohttp.ClientOSError)
        and not isinstance(exc, aiohttp.ClientConnectorError)
        and exc.errno in (errno.ECONNRESET, errno.EPIPE)
    )


def _not_retried(err: ProviderConnectionError, final: bool = True) -> ProviderConnectionError:
    """``err``, not tried again on its target when ``final``: a failure that only the configuration can clear (an
    untrusted certificate, a host name that does not exist, a proxy refusing the credentials) fails the same way on
    every try, and each retry slept its backoff first. It still moves on: another target may be served elsewhere."""
    if final:
        err.retryable = False  # type: ignore[misc]  # this one error's, over its class's
    return err


def on_loopback(url: str) -> bool:
    """Whether ``url`` names this machine (``localhost``, 127.0.0.0/8, ``::1``, or the address a server listening
    everywhere is reached at). A connection refused there is its own kernel saying no process listens on the port:
    most often a local model server not started (Ollama, vLLM, LM Studio), which does not begin to within a retry's
    backoff, so a call with another target left tries it at once rather than sleep the backoff before each try
    (retried on the last target left only, as a timeout). The last one left is still retried: the port may be
    between two processes (``ollama serve`` restarted after an upgrade, an ``autossh`` tunnel or a container's port
    mapping coming back, a gateway on localhost reloading), and failing the call at once lost an answer a second
    away. A refusal from another host is retried as any connection error: a load balancer between instances, a host
    rebooting."""
    try:
        name = urlsplit(url).hostname or ""  # (lower-cased)
    except ValueError:
        return False
    return on_this_machine(name)


def _no_such_name(exc: BaseException) -> bool:
    """Whether DNS answered that the name does not exist (``EAI_NONAME``: a mistyped host, a network that resolves
    no outside name), not that it could not answer for now (``EAI_AGAIN``), which a later try may get past."""
    os_error = getattr(exc, "os_error", None)
    return isinstance(os_error, socket.gaierror) and os_error.errno == socket.EAI_NONAME


#: failures while opening the connection: the request was never sent, so nothing can be billed (a
#: connect timeout is converted on its own, before this is consulted)
_BEFORE_SENDING = (
    aiohttp.ClientConnectorError,  # refused, DNS, TLS handshake, proxy
    aiohttp.ServerFingerprintMismatch,
)


def _reached_vendor(exc: BaseException) -> bool:
    """Whether the request may have reached the vendor before ``exc``. aiohttp does not say whether the
    body was sent, so anything past connecting (a reset, a server that closed the connection) counts as
    reached: it may have come after the model started to generate."""
    return not isinstance(exc, _BEFORE_SENDING)


def _why(exc: BaseException, proxy: Proxy | None, url: str = "") -> str:
    """What went wrong, and for a name that does not resolve, where to look: the usual sign of a network
    that reaches the internet only through a proxy nobody told magsag about."""
    if isinstance(exc, aiohttp.ClientResponseError):
        # aiohttp could not parse the answer (a bad status line, a header too long); its str() would
        # quote the whole URL, path and query included
        return f"its answer is not valid HTTP ({excerpt(str(exc.message), 200)})"
    os_error = getattr(exc, "os_error", None)
    if _refused(os_error):
        # a local model server not started yet (or on another port) is the usual cause: say so, not only errno 111
        running = f" (is Ollama / your local server running at {host(url)}?)" if on_loopback(url) else ""
        return (
            f"the connection was refused: no server listens at that host and port{running}; start the server (for "
            "a local one: `ollama serve` on port 11434, `vllm serve MODEL` on 8000, LM Studio's server on 1234), or "
            "correct the host and port in the provider's base URL"
        )
    if not isinstance(os_error, socket.gaierror):
        return f"{type(exc).__name__}: {_short(exc)}"
    reason = os_error.strerror or str(os_error)
    if proxy is not None:
        return (
            f"the name of the proxy {proxy.url} (from {proxy.source}) does not resolve ({reason}); check {proxy.source}"
        )
    return (
        f"its name does not resolve ({reason}); check the host in the provider's base URL, or, on a network that "
        "reaches the internet only through a proxy, set HTTPS_PROXY (and NO_PROXY for servers inside it)"
    )


def _refused(os_error: object) -> bool:
    """Whether connecting was refused: on every address tried (Python reports several as one OSError)."""
    if isinstance(os_error, ConnectionRefusedError):
        return True
    text = str(os_error) if isinstance(os_error, OSError) and os_error.errno is None else ""
    refused = text.count(f"[Errno {errno.ECONNREFUSED}]")
    return text.startswith("Multiple exceptions: ") and refused > 0 and text.count("[Errno") == refused


@functools.lru_cache(maxsize=256)
def host(url: str) -> str:
    """Only scheme://host:port: paths can carry deployment names, and query strings can carry keys. Every
    response's reader is given it (for the message of a body too large), so it is kept per URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        # an unbalanced [ or ] in the host (urllib's IPv6 check): an aiohttp message quoting text it could not parse
        # either, cut by hand the way urlsplit cuts (the converter of an error must not fail on the error's text)
        scheme, _, rest = url.partition("://")
        netloc = _NETLOC_END.split(rest, maxsplit=1)[0]
        return f"{scheme}://{netloc.rpartition('@')[2]}"
    netloc = parts.netloc.rpartition("@")[2]  # never userinfo (user:password@)
    return f"{parts.scheme}://{netloc}"


#: where a URL's scheme://netloc ends (urlsplit's delimiters)
_NETLOC_END = re.compile(r"[/?#]")


def wrongly_encoded(exc: BaseException) -> bool:
    """Whether ``exc`` is a body its Content-Encoding says is compressed (gzip, deflate, br) when it is not, or not
    so (aiohttp's ContentEncodingError, under its ClientPayloadError)."""
    return isinstance(exc, aiohttp.ClientPayloadError) and isinstance(exc.__cause__, ContentEncodingError)


def mislabelled(exc: BaseException, url: str) -> MalformedResponseError | None:
    """The error of a body :func:`wrongly_encoded`, or None for any other failure. The answer came (maybe billed) and
    cannot be read, and its server labels it so on every try: a malformed answer, moved on from, not a connection that
    broke off, retried and perhaps billed again each time."""
    if not wrongly_encoded(exc):
        return None
    said = str(getattr(exc.__cause__, "message", "") or "")
    named = _ENCODING_NAMED.search(said) or _ENCODING_ALONE.fullmatch(said)
    encoding = named.group(1) if named else "compressed"
    return MalformedResponseError(
        f"the answer from {host(url)} is not {encoding}, as its Content-Encoding header says it is: a proxy or server "
        "that labels a body compressed without compressing it (or compressed it wrong), and would again; the next "
        "target is tried",
        maybe_billed=True,
    )


#: the encoding aiohttp's ContentEncodingError names ("Can not decode content-encoding: gzip", or only "deflate")
_ENCODING_NAMED = re.compile(r"content-encoding: ([A-Za-z0-9-]+)")
_ENCODING_ALONE = re.compile(r"([A-Za-z0-9-]+)")


def broke_off(exc: aiohttp.ClientPayloadError) -> str:
    """How an answer's body broke off, in aiohttp's parser's words without its status ("Not enough data to satisfy
    content length header (received 33 of 500 bytes) (the connection ended before the answer did)")."""
    said = str(getattr(exc.__cause__, "message", "") or "").rstrip(".")
    cut = isinstance(exc.__cause__, TransferEncodingError | ContentLengthError)
    return f"{said or _short(exc)}{' (the connection ended before the answer did)' if cut else ''}"


def _short(exc: BaseException) -> str:
    """What ``exc`` says, each URL in it cut to its scheme://host:port (see :func:`host`): aiohttp names the whole URL
    in some (``Can not write request body for https://...``), the path and query included."""
    return excerpt(_URL.sub(lambda m: host(m.group(0)), str(exc)), 200)


#: a URL in an exception's text, up to what ends it there (a space, a quote, an angle bracket)
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
