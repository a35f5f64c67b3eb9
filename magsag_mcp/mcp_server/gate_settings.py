"""Who may reach the HTTP transport, read from the environment and checked as ``magsag-mcp --transport http`` checks
it before it binds: the token per client (``MAGSAG_MCP_TOKENS_FILE``), the one token (``MAGSAG_MCP_TOKEN`` or its
file), each weighed against the host it guards and against each other (:func:`.http.check_gate`), and ``/metrics``'
settings and scrape token (:func:`.metrics_endpoint.check_metrics_token`).

One function, :func:`gate_settings`, for the server's start and for ``magsag doctor``: doctor lists exactly what the
server would refuse, in its words, and a check added to one is the other's. Doctor once compared the scrape token with
``MAGSAG_MCP_TOKEN`` alone and the MCP token with no host, and said all was well of settings the server would not start
on. No refusal shows a token: they name the variable, the file's line, the length.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import ConfigError
from .client_tokens import TOKENS_FILE_ENV, ClientToken, client_tokens_setting
from .http import check_gate
from .metrics_endpoint import MetricsSetting, check_metrics_token, metrics_setting
from .token_reload import TokenFile
from .token_setting import TOKEN_FILE_ENV, token_setting

#: the host the checks weigh a token against when the host itself was refused: a loopback one, which asks no length
#: (a refused host guards nothing; the checks that do not depend on it are still made)
_NO_HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class GateSettings:
    """The tokens and the metrics setting the environment gives the HTTP transport; each as read, where it was."""

    #: the one token (None: none, or refused) and where it was set, as a refusal names it; out of the repr (a
    #: debugger's, a test's failed assertion, a log line of the settings): it showed the token whole
    token: str | None = field(repr=False)
    token_set_in: str
    #: a token per client, pinned to its agent (none: the file unset, or refused)
    clients: tuple[ClientToken, ...]
    #: None: refused (its refusal among the refusals)
    metrics: MetricsSetting | None
    #: the file the MCP tokens were read from, which a running server re-reads as it changes (None: no file, or the
    #: token set in MAGSAG_MCP_TOKEN, which a running process cannot see change)
    token_file: TokenFile | None = None


def gate_settings(env: Mapping[str, str], host: str | None, agent: str | None) -> tuple[GateSettings, list[str]]:
    """The settings, and what the server refuses to start on, in the order it meets them: the tokens file, the token
    (or its file), the two against the host and each other and ``agent`` (``--agent`` or ``MAGSAG_MCP_AGENT``), the
    metrics settings, the scrape token against the host and the MCP tokens. A check that needs a setting refused
    before it is not made, or made with what was read (its refusal is the one to fix first). ``host``: the address
    it binds, None where that was refused (no token is weighed against it)."""
    refusals: list[str] = []
    clients: tuple[ClientToken, ...] | None = None
    token: str | None = None
    token_set_in = ""
    read = True  # (False: a token setting refused, which the checks between them would misread)
    try:
        clients = client_tokens_setting(env)
    except ConfigError as exc:
        refusals.append(exc.message)
        read = False
    try:
        token, token_set_in = token_setting(env)
    except ConfigError as exc:
        refusals.append(exc.message)
        read = False
    weighed = host if host is not None else _NO_HOST
    client_tokens = () if clients is None else clients
    if read:
        try:
            check_gate(weighed, token, client_tokens, agent, token_set_in)
        except ConfigError as exc:
            refusals.append(exc.message)
    metrics: MetricsSetting | None = None
    try:
        metrics = metrics_setting(env)
    except ConfigError as exc:
        refusals.append(exc.message)
    if metrics is not None:  # (a token setting refused: the scrape token's shape still checked, none to match)
        try:
            check_metrics_token(weighed, metrics, token, [client.token for client in client_tokens])
        except ConfigError as exc:
            refusals.append(exc.message)
    token_file = None
    for variable in (TOKENS_FILE_ENV, TOKEN_FILE_ENV):
        if named := (env.get(variable) or "").strip():
            token_file = TokenFile(variable, named)
            break
    return GateSettings(token, token_set_in, client_tokens, metrics, token_file), refusals
