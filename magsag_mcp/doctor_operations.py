"""What ``magsag doctor`` says of the settings an operator runs the server with: the ledger's sync mode, the circuit
breaker, and ``/metrics`` (on or off, where it is served, and who may read it: whether a scrape token is set and in
which variable, never the token or any part of it).

Each is reported as the process that reads it would take it. A setting refused as magsag-mcp opens (a bad
``MAGSAG_LEDGER_SYNC``, ``MAGSAG_BREAKER_FAILURES`` or ``MAGSAG_BREAKER_COOLDOWN``) is a problem of the report
already (:func:`.settings.refused_at_open`) and is reported here at its default, as the rest of the report is. The
tokens and metrics settings are read only by ``magsag-mcp --transport http`` as it starts: one it would refuse to
start on (no token, or a short one, beyond loopback; a token per client beside a shared token or one agent; an
unreadable token file; a scrape token too short for the address it binds, or the same as an MCP token) is a problem
here, with the refusal's own words: both ask :func:`.mcp_server.gate_settings.gate_settings`.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Mapping
from typing import Any

from .breaker import COOLDOWN_ENV, FAILURES_ENV, breaker_policy_from_env
from .errors import ConfigError
from .ledger.connection import ledger_sync_from_env
from .plurals import counted

#: what each ledger sync mode keeps, as ``magsag doctor`` says it
SYNC_SAID = {
    "full": "each call's record is on disk before the call returns (survives a power cut)",
    "normal": "each call's record survives the process being killed, not a power cut or an OS crash",
}


def operations_report(env: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The report's ``ledger_sync``, ``breaker`` and ``metrics`` entries, and the problems found in the metrics
    settings (see the module's docstring)."""
    sync = ledger_sync_from_env(env)
    policy = breaker_policy_from_env(env)
    metrics, problems = _metrics(env)
    report = {
        "ledger_sync": {"mode": sync, "said": SYNC_SAID[sync]},
        "breaker": {
            "on": policy.failures > 0,
            "failures": policy.failures,
            "cooldown_seconds": policy.cooldown,
            "said": _breaker_said(policy.failures, policy.cooldown),
        },
        "metrics": metrics,
    }
    return report, problems


def _breaker_said(failures: int, cooldown: float) -> str:
    if not failures:
        return f"off ({FAILURES_ENV}=0): a target failing every call is sent each call's request"
    return (
        f"a target is left alone after {counted(failures, 'call')} in a row that it failed with an error saying its "
        f"server is unwell, "
        f"{format(cooldown, 'g')}s at first ({FAILURES_ENV}={failures}, {COOLDOWN_ENV}={format(cooldown, 'g')})"
    )


def _metrics(env: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """``/metrics`` as ``magsag-mcp --transport http`` would serve it with ``env``: where, and who may read it (as its
    start-up line says it: :func:`.mcp_server.metrics_endpoint.metrics_said`)."""
    # imported here: the HTTP server's modules (the MCP SDK's, starlette's) are no other command's
    from .mcp_server.gate_settings import gate_settings
    from .mcp_server.http import security_settings, served_url
    from .mcp_server.metrics_endpoint import METRICS_ENV, metrics_said
    from .mcp_server.server_options import variables_refused
    from .mcp_server.server_settings import DEFAULT_PORT, listening_options, pinned_agent
    from .mcp_server.token_setting import TOKEN_ENV

    # the server's options' variables it would not start on (MAGSAG_MCP_TRANSPORT, _LOG_LEVEL, _LOG_FORMAT)
    problems: list[str] = variables_refused(env)
    # what the HTTP server would refuse to start on whatever its metrics: its port, its host, its token's file
    listening = Namespace(host=None, port=None, allow_host=[])
    served = host_taken = True  # (False: no address to say, the server would refuse it; the host refused)
    try:
        taken = listening_options(listening, env)
    except ConfigError as exc:  # MAGSAG_MCP_PORT no port
        problems.append(exc.message)
        # read again past the port (the default's): the host and the names it admits, with the variables they came from
        served, listening.host, listening.port = False, None, DEFAULT_PORT
        taken = listening_options(listening, env)
    # the host, then the names it admits, as the server refuses them before it binds (a URL given as the host, a
    # host with its port): the address said of /metrics is one the server would serve at
    host_option = taken.get("--host", "--host")
    for admitted in ((), listening.allow_host):
        try:
            security_settings(
                listening.host,
                listening.port,
                admitted,
                host_option=host_option,
                allow_option=taken.get("--allow-host", "--allow-host"),
            )
        except ConfigError as exc:
            problems.append(exc.message)
            host_taken = bool(admitted)  # (a name admitted beside it leaves the host's address right)
            served = served and host_taken
            break
    # the tokens and /metrics' settings, as the server checks them (the same function): against the host and each
    # other, the scrape token against the clients' too. A token's length is weighed against the host it guards: a
    # refused one guards none. (`--agent` is the server's option: its variable is read here.)
    gate, refusals = gate_settings(env, listening.host if host_taken else None, pinned_agent(None, env))
    problems += refusals
    setting = gate.metrics
    if setting is None:  # (its refusal is among the problems listed: said once)
        said = "refused as set: magsag-mcp --transport http would not start (see the problem)"
        return {"on": None, "said": said}, problems
    if not setting.enabled:
        return {"on": False, "said": f"off ({METRICS_ENV}=off)"}, problems
    url = served_url(listening.host, listening.port, "/metrics") if served else None
    if url is not None and listening.port == 0:
        url = (url or "").replace(":0/", ":PORT/") + " (PORT: the one the system chooses, said as the server starts)"
    per_client = bool(gate.clients) or bool((env.get("MAGSAG_MCP_TOKENS_FILE") or "").strip())
    has_token = gate.token is not None or bool(env.get(TOKEN_ENV))
    return {
        "on": True,
        "url": url,
        "served_by": "magsag-mcp --transport http",
        "scrape_token_set_in": setting.token_variable,
        "agent_labels": setting.agent_labels,
        "said": metrics_said(setting, has_token, per_client),
    }, problems
