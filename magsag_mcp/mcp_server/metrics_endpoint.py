"""``GET /metrics``: this process's calls in the Prometheus text format (:mod:`..metrics`), for a team's scraper.

Who may read it. The page names every agent and what each spent, so it is guarded as the MCP path is, with a token
Prometheus sends (``authorization: {credentials_file: ...}`` in its scrape config):

- ``MAGSAG_MCP_METRICS_TOKEN`` set (or ``MAGSAG_MCP_METRICS_TOKEN_FILE``, a file holding it: a container's secret,
  read as ``MAGSAG_MCP_TOKEN_FILE`` is): that token, and only it. A scrape-only token: Prometheus holds no token that
  can spend (the MCP token can), and rotating one leaves the other alone.
- else the server's one token (``MAGSAG_MCP_TOKEN`` or ``MAGSAG_MCP_TOKEN_FILE``), as the MCP path takes it.
- a token per client (``MAGSAG_MCP_TOKENS_FILE``) and no metrics token: refused (403) saying to set one. A client's
  token is pinned to its agent and reads that agent's records alone; this page would show it every other agent.
- no token at all (a server on loopback): open, as the MCP path is there, but only to a ``Host`` the server answers
  to (its address, the loopback names, ``--allow-host``): a web page that rebinds its name to 127.0.0.1 must not
  read the spend. A scrape with a token is answered whatever its ``Host`` (Prometheus in Kubernetes sends the
  pod's address, which the server cannot know; a page cannot send the token).

``MAGSAG_MCP_METRICS=off`` serves no ``/metrics`` (the path is then the server's like any other: 404, or 401 without
the token). ``MAGSAG_MCP_METRICS_AGENTS`` sets how many agents are labelled by name (the rest as ``(other)``).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import metrics
from ..errors import ConfigError
from ..redaction import excerpt
from .bearer import _digest, refusal_body, unauthorized
from .token_reload import ReloadedTokens, TokenFile

METRICS_PATH = "/metrics"
METRICS_ENV = "MAGSAG_MCP_METRICS"
METRICS_TOKEN_ENV = "MAGSAG_MCP_METRICS_TOKEN"
METRICS_TOKEN_FILE_ENV = "MAGSAG_MCP_METRICS_TOKEN_FILE"
METRICS_AGENTS_ENV = "MAGSAG_MCP_METRICS_AGENTS"
#: the most agents a scrape may label by name: past some thousands of series a scrape is the problem it was to show
MAX_AGENT_LABELS = 10_000

SEND_THE_METRICS_TOKEN = (
    f"configure the scraper to send 'Authorization: Bearer <token>' with the server's {METRICS_TOKEN_ENV} (else its "
    "MAGSAG_MCP_TOKEN): in Prometheus, authorization: {credentials_file: FILE}"
)
NEEDS_A_METRICS_TOKEN = (
    "forbidden: this server gives each client a token pinned to its agent (MAGSAG_MCP_TOKENS_FILE), and /metrics "
    f"shows every agent's spend, which no client's token may read; set {METRICS_TOKEN_ENV} on the server to a token "
    'for the scraper alone (the output of: python -c "import secrets; print(secrets.token_urlsafe(32))") and give '
    "the scraper that token, or set MAGSAG_MCP_METRICS=off"
)


@dataclass(frozen=True)
class MetricsSetting:
    """Whether ``/metrics`` is served, the scrape-only token (None: the server's own), the agents labelled, and where
    the token was set (as a refusal names it: the variable, or the file ``MAGSAG_MCP_METRICS_TOKEN_FILE`` names)."""

    enabled: bool = True
    #: (out of the repr, as a client's token is: it showed the scrape token whole)
    token: str | None = field(default=None, repr=False)
    agent_labels: int = metrics.AGENT_LABELS_DEFAULT
    token_set_in: str = METRICS_TOKEN_ENV
    #: the file the token was read from (``MAGSAG_MCP_METRICS_TOKEN_FILE``'s), re-read as it changes (None: none)
    token_file: TokenFile | None = None

    @property
    def token_from_file(self) -> bool:
        return self.token is not None and self.token_set_in != METRICS_TOKEN_ENV

    @property
    def token_variable(self) -> str | None:
        """The variable the scrape token was set in (None: none set), as the start-up line and doctor name it."""
        if self.token is None:
            return None
        return METRICS_TOKEN_FILE_ENV if self.token_from_file else METRICS_TOKEN_ENV


def metrics_setting(env: Mapping[str, str]) -> MetricsSetting:
    """``MAGSAG_MCP_METRICS`` (on, the default, or off), ``MAGSAG_MCP_METRICS_TOKEN`` (or the file
    ``MAGSAG_MCP_METRICS_TOKEN_FILE`` names) and ``MAGSAG_MCP_METRICS_AGENTS``, each refused with its fix when it
    cannot be one (the token's shape: see :func:`check_metrics_token`)."""
    from .token_setting import token_from_env

    said = (env.get(METRICS_ENV) or "").strip()
    if said.lower() not in ("", "on", "off"):
        raise ConfigError(
            f"{METRICS_ENV}={excerpt(said, 80)!r} is not a metrics setting: set it to on (serve /metrics, the default) "
            "or off"
        )
    if said.lower() == "off" and (env.get(METRICS_TOKEN_ENV) or (env.get(METRICS_TOKEN_FILE_ENV) or "").strip()):
        which = METRICS_TOKEN_ENV if env.get(METRICS_TOKEN_ENV) else METRICS_TOKEN_FILE_ENV
        raise ConfigError(
            f"{METRICS_ENV}=off and {which} are both set: /metrics is not served, so its token would "
            "guard nothing; unset one of them"
        )
    token, token_set_in = token_from_env(env, METRICS_TOKEN_ENV, METRICS_TOKEN_FILE_ENV)
    agents = (env.get(METRICS_AGENTS_ENV) or "").strip()
    count = metrics.AGENT_LABELS_DEFAULT
    if agents:
        try:
            count = int(agents)
        except ValueError:
            count = -1
        if not 0 <= count <= MAX_AGENT_LABELS:
            raise ConfigError(
                f"{METRICS_AGENTS_ENV}={excerpt(agents, 80)!r} is not a number of agents: set it to 0 to "
                f"{MAX_AGENT_LABELS} (how many agents /metrics labels by name; the rest are counted as (other); "
                f"default {metrics.AGENT_LABELS_DEFAULT})"
            )
    named = (env.get(METRICS_TOKEN_FILE_ENV) or "").strip()
    token_file = TokenFile(METRICS_TOKEN_FILE_ENV, named) if token_set_in != METRICS_TOKEN_ENV else None
    return MetricsSetting(said.lower() != "off", token, count, token_set_in, token_file)


def check_metrics_token(host: str, setting: MetricsSetting, token: str | None, client_tokens: Sequence[str]) -> None:
    """The scrape token's shape, as the MCP token's (:func:`.http.check_binding`); and not one of the MCP tokens, which
    would make it no scrape-only token (a client's would read every agent's spend)."""
    from .http import check_binding

    if setting.token is None:
        return
    check_binding(host, setting.token, setting.token_set_in)
    if setting.token == token or setting.token in client_tokens:
        which = "MAGSAG_MCP_TOKEN" if setting.token == token else "a client's token in MAGSAG_MCP_TOKENS_FILE"
        raise ConfigError(
            f"{setting.token_set_in} is the same as {which}: give the scraper a token of its own (whoever holds the "
            "other could read every agent's spend, or the scraper spend)"
        )


def metrics_said(setting: MetricsSetting, server_token: bool, per_client: bool) -> str:
    """What the start-up line (and ``magsag doctor``) says of /metrics: who may read it. ``server_token``: whether the
    server has its one token (MAGSAG_MCP_TOKEN or its file's)."""
    if not setting.enabled:
        return f"off ({METRICS_ENV}=off)"
    if setting.token:
        return f"token: {setting.token_variable}"
    if server_token:
        return "token: the server's"
    if per_client:
        return f"refused until {METRICS_TOKEN_ENV} is set (a client's token may not read every agent's spend)"
    return "no token, to this machine's loopback names and --allow-host's"


class MetricsMiddleware:
    """Answers ``GET``/``HEAD /metrics`` itself (ahead of the token gate: it has a gate of its own, see the module's
    docstring); every other request goes to ``app`` as it came."""

    def __init__(
        self,
        app: ASGIApp,
        setting: MetricsSetting,
        *,
        token: str | None,
        per_client: bool,
        security: TransportSecuritySettings,
        reloaded: ReloadedTokens | None = None,
        scrape_reloaded: ReloadedTokens | None = None,
    ) -> None:
        self.app = app
        scrape_token = setting.token or token
        self._digest = None if scrape_token is None else _digest(scrape_token)
        #: the file the scrape token is read from, re-read as it changes: the scrape token's own
        #: (``scrape_reloaded``), else the server's where the scrape token is the server's (a rotated token reads
        #: /metrics no more than it makes a call)
        self._reloaded = reloaded if setting.token is None and token is not None else None
        if setting.token is not None:
            self._reloaded = scrape_reloaded
        #: the scrape token as last taken from that file
        self._scrape_token = scrape_token
        #: the token a refusal says it asks for
        self._asked = "MAGSAG_MCP_TOKEN (or what is in its MAGSAG_MCP_TOKEN_FILE)"
        if setting.token:
            self._asked = f"token in its {METRICS_TOKEN_FILE_ENV}" if setting.token_from_file else METRICS_TOKEN_ENV
        #: a server with a token per client and no scrape token: every scrape refused, saying what to set
        self._forbidden = scrape_token is None and per_client
        self._hosts = frozenset(security.allowed_hosts or ())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != METRICS_PATH:
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD"):
            body = refusal_body(f"{method} is not allowed here: scrape /metrics with GET")
            await _answer(send, 405, body, "application/json", [(b"allow", b"GET, HEAD")])
            return
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope.get("headers", ())}
        if self._reloaded is not None and (token := (await self._reloaded.fresh()).token) != self._scrape_token:
            self._scrape_token = token
            self._digest = None if token is None else _digest(token)
        if self._forbidden:
            await _answer(send, 403, refusal_body(NEEDS_A_METRICS_TOKEN), "application/json")
            return
        if self._digest is not None and not self._authorized(headers.get("authorization")):
            said = unauthorized(headers.get("authorization"))
            if said.startswith("its bearer token is not the server's"):  # (the wrong token: say which is asked for)
                said = f"its bearer token is not the server's {self._asked} (a stale one, or another server's)"
            body = refusal_body(f"unauthorized: {said}; {SEND_THE_METRICS_TOKEN}")
            await _answer(send, 401, body, "application/json", [(b"www-authenticate", b'Bearer realm="magsag-mcp"')])
            return
        if self._digest is None and not self._known_host(headers.get("host", "")):
            from .refusals import allow_host_hint

            body = refusal_body(allow_host_hint("host", headers.get("host", "")))
            await _answer(send, 421, body, "application/json")
            return
        text = metrics.exposition().encode()
        await _answer(send, 200, b"" if method == "HEAD" else text, metrics.CONTENT_TYPE, length=len(text))

    def _authorized(self, header: str | None) -> bool:
        scheme, _, credential = (header or "").strip().partition(" ")
        assert self._digest is not None
        same = hmac.compare_digest(_digest(credential.strip()), self._digest)  # digests: no length or byte by timing
        return same and scheme.lower() == "bearer"

    def _known_host(self, host: str) -> bool:
        host = host.lower()
        if host in self._hosts:
            return True
        name, _, port = host.rpartition(":")
        return bool(port.isdigit() and f"{name}:*" in self._hosts)


async def _answer(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    extra: list[tuple[bytes, bytes]] | None = None,
    length: int | None = None,
) -> None:
    headers: list[Any] = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body) if length is None else length).encode()),
        (b"cache-control", b"no-store"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
