"""Where a local server is (Ollama, vLLM, LM Studio and friends): :class:`LocalEndpoint`, its base URL as the
target, ``MAGSAG_LOCAL_LLM_BASE_URL``, ``OLLAMA_BASE_URL`` or ``OLLAMA_HOST`` name it (each as its own users write it),
its key and its timeouts; and the fix for a base URL at Ollama's own API's root. What is sent there, and what its
answers mean, is :mod:`.local`'s."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..settings import connect_timeout, read_timeout
from ..transport import Timeouts
from ..types import Target
from .base import Endpoint

DEFAULT_LOCAL_BASE_URL = "http://localhost:11434/v1"
#: how long a local server may stay silent unless MAGSAG_READ_TIMEOUT says otherwise: a large model loading into memory
LOCAL_READ_TIMEOUT_S = 600.0


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
