"""Which proxy a provider request goes through: ``HTTPS_PROXY``, ``HTTP_PROXY`` and ``NO_PROXY``.

aiohttp ignores these unless a session trusts the environment, and trusting it also reads ``~/.netrc``
and adds its credentials to requests as ``Authorization``: to a vendor that authenticates with
``x-api-key``, a netrc entry (or a ``default`` one) would travel beside the key, and beside OpenAI's
``Authorization: Bearer`` it fails every request. So the proxy is chosen here, from the service's
environment, and passed per request; nothing else is taken from the environment.

The conventions are curl's and Python's: the lowercase variable wins over the uppercase one;
``HTTP_PROXY`` is not read when ``REQUEST_METHOD`` is set (a CGI request's ``Proxy:`` header would
set it: "httpoxy"); a proxy without a scheme is ``http://``; ``NO_PROXY`` is a comma-separated list
of hosts, domain suffixes (``example.com`` and ``.example.com`` both cover ``api.example.com``),
``host:port``, IP addresses and networks (``10.0.0.0/8``), or ``*`` for every host. Loopback hosts
(``localhost``, ``127.0.0.0/8``, ``::1``, and ``0.0.0.0`` as servers print where they listen) are never
proxied: a proxy's localhost is not this machine's, and a local model server is on this one.
An entry that covers nothing as written (``10.0.0.0/99``, ``host:99999``) is ``magsag doctor``'s problem where a
proxy is set, and a request it may have been meant for (any IP address for a network, the entry's host for a port)
is refused rather than sent through the proxy: a request to a name goes as before, since a network covers none.

Proxy credentials (``http://user:password@proxy:3128``) go to the proxy only, as
``Proxy-Authorization``; no message shows them, nor the proxy URL's userinfo. The user name counts as a
credential too: a token is often given as the user with no password (``http://ghp_token@proxy:8080``).
Each is known to :func:`~magsag_mcp.errors.redact` (as written, percent-decoded, and as the header's
base64; a password shorter than 6 characters with its user before it, see :data:`SHORT_PASSWORD_BELOW`, a token
as short as the URL writes it, ``//tok@``, and a base64 that short as ``Basic dTpw``) from the
moment the environment is read, whether or not the proxy is used or usable, so that no message or log quotes it: not
one that echoes the proxy's answer, nor ``magsag doctor``.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from .errors import ConfigError, excerpt, register_secret

__all__ = ["Proxy", "ProxySettings"]


#: per scheme, the variables that name its proxy, the one that wins first
_VARIABLES: dict[str, tuple[str, ...]] = {"https": ("https_proxy", "HTTPS_PROXY"), "http": ("http_proxy", "HTTP_PROXY")}


@dataclass(slots=True, frozen=True)
class Proxy:
    #: scheme://host:port, without credentials: safe to show
    url: str
    #: the ``Proxy-Authorization`` value for the proxy URL's user:password@, or None; out of the repr, which showed
    #: the user and password (base64, no cipher) wherever a proxy was printed
    authorization: str | None = field(repr=False)
    #: the variable it came from, for messages
    source: str

    def request_options(self, target_url: str, headers: dict[str, str]) -> dict[str, object]:
        """aiohttp's options for a request to ``target_url`` through this proxy; ``headers`` (the request's
        own, a copy) gain what the proxy needs. aiohttp sends ``proxy_headers`` only with the ``CONNECT``
        that tunnels an https request: a plain-http request carries its proxy's credentials itself (the
        proxy consumes them). aiohttp's ``proxy_auth`` would do both, but is deprecated."""
        if self.authorization is None:
            return {"proxy": self.url}
        if urlsplit(target_url).scheme == "https":
            return {"proxy": self.url, "proxy_headers": {"Proxy-Authorization": self.authorization}}
        headers["Proxy-Authorization"] = self.authorization
        return {"proxy": self.url}


class ProxySettings:
    """The environment's proxies, parsed once (no I/O). :meth:`for_url` picks one per request."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._raw: dict[str, tuple[str, str]] = {}
        for scheme, names in _VARIABLES.items():
            if scheme == "http" and "REQUEST_METHOD" in env:
                names = names[:1]
            for name in names:
                value = (env.get(name) or "").strip()
                if value:
                    self._raw[scheme] = (name, value)
                    _register_credentials(value)
                    break
        self._parsed: dict[str, Proxy] = {}
        no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
        self._no_proxy = [e.strip().lower() for e in no_proxy.replace(" ", ",").split(",") if e.strip()]
        #: the entries that cover nothing as written (a network such as 10.0.0.0/99, a port that is no number), each
        #: with why: curl and Python skip them, so the hosts they were meant to keep off the proxy went through it
        self._unusable = [(entry, why) for entry in self._no_proxy if (why := _unusable_entry(entry))]

    def __bool__(self) -> bool:
        return bool(self._raw)

    def describe(self) -> dict[str, str]:
        """What ``magsag doctor`` shows: per scheme the proxy and its variable (never its credentials), or
        why it cannot be used; and the NO_PROXY entries."""
        out: dict[str, str] = {}
        for scheme, (name, value) in self._raw.items():
            try:
                proxy = _parse(name, value)
            except ConfigError as exc:
                out[scheme] = exc.message
            else:
                out[scheme] = f"{proxy.url} (from {name})"
        if self._raw and self._no_proxy:
            out["no_proxy"] = ",".join(self._no_proxy)
        return out

    def problems(self) -> list[str]:
        """Each proxy variable magsag cannot use (``magsag doctor``'s problems): every request it would carry fails
        on it, naming it (see :meth:`for_url`); shown on its ``proxy`` line alone, doctor passed. And, where a proxy is
        set, each NO_PROXY entry that covers nothing (without a proxy, NO_PROXY changes nothing here)."""
        out = []
        for name, value in self._raw.values():
            try:
                _parse(name, value)
            except ConfigError as exc:
                said, _, fix = exc.message.partition("; ")
                out.append(f"{said}, so every request it would carry fails; {fix}")
        if self._raw:
            out += [_unusable_said(entry, why) for entry, why in self._unusable]
        return out

    def for_url(self, url: str) -> Proxy | None:
        """The proxy for a request to ``url``, or None to connect directly. A proxy variable that magsag
        cannot use raises :class:`ConfigError` naming it (never its value): the operator meant this
        traffic to go through it, and going around it would fail less clearly, or not at all."""
        if not self._raw:
            return None
        parts = urlsplit(url)
        try:
            host, port = (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(parts.scheme)
        except ValueError:
            return None  # not a URL aiohttp can send either: its own error says so
        if not host or parts.scheme not in self._raw or _bypassed(host, port, self._no_proxy):
            return None
        for entry, why in self._unusable:
            if _meant_for(entry, host):
                # the operator meant this host off the proxy, or may have: sent through it, a local server's
                # request reached the corporate proxy (its answer a 403 page, or the traffic logged there)
                raise ConfigError(f"a request to {host} would go through the proxy: {_unusable_said(entry, why)}")
        proxy = self._parsed.get(parts.scheme)
        if proxy is None:
            proxy = self._parsed[parts.scheme] = _parse(*self._raw[parts.scheme])
        return proxy


def _parse(name: str, value: str) -> Proxy:
    if "://" not in value:
        value = "http://" + value  # curl's default, and how proxies are often written: host:port
    fix = f"set {name} to http://host:port (with user:password@ when the proxy asks for them)"
    # raised outside the except: urlsplit's ValueError quotes what it read as the port (a password's start, before an
    # unencoded "/"), and kept as the error's __context__ ("from None" only hides it from tracebacks) it went wherever
    # the error's chain is walked
    if any(c in _userinfo(value) for c in "/?#"):
        # (read as the URL's end of host: the password's start before a "/" taken for the host's port, "user:12" the
        # proxy every request went to, and shown by doctor)
        raise ConfigError(
            f"{name} is not a usable proxy URL: its user:password holds a /, ? or # written as it is, which ends a "
            f"URL's host; {fix}, each of those characters in them percent-encoded (/ as %2F, ? as %3F, # as %23)"
        )
    try:
        parts = urlsplit(value)
        host, port = parts.hostname, parts.port
    except ValueError:
        parts = None
    if parts is None:
        raise ConfigError(f"{name} is not a usable proxy URL; {fix}")
    if parts.scheme not in ("http", "https"):
        raise ConfigError(
            f"{name} names a {parts.scheme}:// proxy, which magsag cannot use (only http:// and https:// "
            f"proxies); {fix}, or add the provider's host to NO_PROXY"
        )
    if not host:
        raise ConfigError(f"{name} names no proxy host; {fix}")
    authorization = None
    if parts.username is not None:
        authorization = f"Basic {_basic_credentials(parts.username, parts.password)}"
    shown_host = f"[{host}]" if ":" in host else host
    return Proxy(f"{parts.scheme}://{shown_host}:{port or _DEFAULT_PORTS[parts.scheme]}", authorization, name)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _basic_credentials(user: str, password: str | None) -> str:
    """``Proxy-Authorization: Basic``'s value for the URL's (percent-encoded) user and password."""
    return base64.b64encode(f"{unquote(user)}:{unquote(password or '')}".encode()).decode("ascii")


def _register_credentials(value: str) -> None:
    """Make the userinfo of proxy URL ``value`` known to ``redact()``: the user and the password, as
    written and percent-decoded, and the header's base64. Done when the variable is read, before it is
    parsed: a proxy magsag cannot use (a socks5:// one, a bad port) still keeps its credentials out of
    every message."""
    userinfo = _userinfo(value)
    if not userinfo:
        return
    user, colon, password = userinfo.partition(":")
    for part in (user, password) if _user_a_secret(unquote(user), password) else (password,):
        register_secret(part)
        register_secret(unquote(part))
    if password and min(len(password), len(unquote(password))) < SHORT_PASSWORD_BELOW:
        for written in {f"{user}:{password}", f"{unquote(user)}:{unquote(password)}"}:
            register_secret(_in_its_context(written))
    if not colon and min(len(user), len(unquote(user))) < SHORT_PASSWORD_BELOW:  # a short token as the user: //tok@
        for written in {user, unquote(user)}:
            register_secret(_in_its_context(written))
    sent = _basic_credentials(user, password if colon else None)
    # (the base64 of 3 bytes, u:p, is 4 characters: too short to be known alone, known as the header writes it)
    register_secret(sent if len(sent) >= SHORT_PASSWORD_BELOW else f"Basic {sent}")


#: a proxy password shorter than this (``http://user:pw@proxy``) is a word as often as a secret: known to redact()
#: alone, as a longer one is, ``pw`` or ``1234`` went from every message, a name holding it and a count. It is known
#: with its user and colon before it instead (``user:pw``, as the URL and the ``Basic`` credential decoded write it),
#: and so removed where it is shown as the proxy's credential, with the user it goes with; said alone ("password pw
#: refused"), it is a word and kept (as redact() keeps any secret shorter than 6 characters)
SHORT_PASSWORD_BELOW = 6


def _in_its_context(userinfo: str) -> str:
    """``user:password`` as it is known to redact(): itself, or where that is shorter than redact() takes a secret
    (``u:pw``), with the URL's ``@`` after it, then its ``//`` before it too (``//u:pw@``): the URL shows it so."""
    for form in (userinfo, userinfo + "@", "//" + userinfo + "@"):
        if len(form) >= SHORT_PASSWORD_BELOW:
            return form
    return "//" + userinfo + "@"


def _userinfo(value: str) -> str:
    """The ``user:password`` of proxy URL ``value`` ("" if none): everything after ``//`` up to the last ``@``. A
    password may hold an unencoded ``/``, ``?``, ``#`` or ``@`` (a generated one often does): cut at the first ``/``,
    as a URL parser reads a host, ``http://u:12/x9Pass@proxy:8080`` had none, and no part of it was kept out of
    messages."""
    rest = value.split("://", 1)[1] if "://" in value else value
    return rest.rpartition("@")[0]


def _user_a_secret(user: str, password: str) -> bool:
    """Whether a proxy URL's (decoded) user is a secret: the credential itself when no password follows it
    (``http://TOKEN@proxy``), or one holding an id (20 characters or more, or 8 with a digit). A user name of words
    (``operator``, ``corp-user``) is not: known to redact(), the word was removed from every message and record
    that said it ("the [REDACTED] said"); the URL's ``user:password@`` is hidden by its place wherever it is shown."""
    return not password or len(user) >= 20 or (len(user) >= 8 and any(c.isdigit() for c in user))


def on_this_machine(host: str) -> bool:
    """Whether ``host`` (a URL's, as urlsplit gives it) names this machine: ``localhost`` (or a name under it), a
    loopback address, or the address a server listening everywhere prints (``0.0.0.0``, ``::``), reached on loopback.
    A proxy is never asked for it, and a connection it refuses is this machine's own kernel saying that nothing listens
    on the port (see :func:`~.transport_failures.on_loopback`)."""
    host = host.rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    ip = _ip(host)
    return ip is not None and (ip.is_loopback or ip.is_unspecified)


def _bypassed(host: str, port: int | None, no_proxy: list[str]) -> bool:
    if on_this_machine(host):
        return True
    host = host.rstrip(".")
    ip = _ip(host)
    for entry in no_proxy:
        if entry == "*":
            return True
        entry_host, entry_port = _split_port(entry)
        if entry_port is not None and entry_port != port:
            continue
        if "/" in entry_host:
            try:
                if ip is not None and ip in ipaddress.ip_network(entry_host, strict=False):
                    return True
            except ValueError:
                pass
            continue
        entry_host = entry_host.removeprefix("*").lstrip(".").rstrip(".")
        if entry_host and (host == entry_host or host.endswith("." + entry_host)):
            return True
    return False


def _unusable_entry(entry: str) -> str | None:
    """Why NO_PROXY entry ``entry`` covers nothing as written, or None."""
    host, port = _split_port(entry)
    port_text = entry.rpartition(":")[2] if port is None and _has_port(entry) else None
    if port_text is not None or (port is not None and not 0 < port < 65536):
        return "its port is not a number from 1 to 65535; write host:port with a port of 1 to 65535"
    if "/" in host:
        try:
            ipaddress.ip_network(host, strict=False)
        except ValueError:
            return (
                "it is no network; write an address, a slash and a prefix length of at most 32 (128 for IPv6), e.g. "
                "10.0.0.0/8 or fd00::/8"
            )
    return None


def _has_port(entry: str) -> bool:
    """Whether ``entry`` is written ``host:port`` (or ``[v6]:port``), whatever follows the colon."""
    return entry.startswith("[") and "]:" in entry or not entry.startswith("[") and entry.count(":") == 1


def _unusable_said(entry: str, why_and_fix: str) -> str:
    why, _, fix = why_and_fix.partition("; ")
    return (
        f"NO_PROXY entry {excerpt(entry, 60)!r} covers no host ({why}), so the hosts it was meant to keep off the "
        f"proxy are sent through it; {fix}, or remove it"
    )


def _meant_for(entry: str, host: str) -> bool:
    """Whether unusable NO_PROXY entry ``entry`` may have been meant to cover ``host``: a network any IP address (a
    network covers no name), a ``host:port`` with a bad port that host."""
    entry_host = _split_port(entry)[0] if not _has_port(entry) else entry.rpartition(":")[0].strip("[]")
    if "/" in entry_host:
        return _ip(host) is not None
    entry_host = entry_host.removeprefix("*").lstrip(".").rstrip(".")
    return bool(entry_host) and (host == entry_host or host.endswith("." + entry_host))


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port``, ``[v6]:port`` or a bare host, IP or network (a bare IPv6 address has colons too)."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        if rest.startswith("/"):  # [fd00::]/8: a network written with its address in brackets, as a URL's host is
            return host + rest, None
        port = rest[1:] if rest.startswith(":") else ""
        return host, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, int(port) if port.isdigit() else None
    return entry, None


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
