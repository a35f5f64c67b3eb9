"""``magsag azure served`` and ``magsag azure forget``: what the ledger says each Azure deployment was seen serving
(see :mod:`~..governance.served_memory`), and dropping a deployment's record once its operator re-points it."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import InputError
from ..governance.served_memory import REREAD_AFTER
from ..ledger.azure_served import forget_served, list_served
from ..served_models import endpoint_host, trusted_for, when
from . import CommandGroups, given, print_json


def _row(endpoint: str, deployment: str, model: str, seen_at: float, trusted: float) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "deployment": deployment,
        "model": model,
        "seen_at": when(seen_at),
        "trusted_until": when(seen_at + trusted),
    }


def _served(args: argparse.Namespace) -> int:
    import os

    from .ledger_reading import with_ledger

    trusted = trusted_for(os.environ)  # (MAGSAG_AZURE_SERVED_TRUST, as the processes that call read it)
    rows = with_ledger(args, lambda ledger: ledger.read(list_served))
    print_json([_row(endpoint, deployment, model, seen_at, trusted) for endpoint, deployment, model, seen_at in rows])
    return 0


def _forget(args: argparse.Namespace) -> int:
    from .ledger_reading import with_ledger

    endpoint = None if args.endpoint is None else endpoint_host(args.endpoint)
    deployment = args.deployment.removeprefix("azure:")
    forgotten = with_ledger(
        args, lambda ledger: ledger.submit(lambda c: forget_served(c, deployment, endpoint)), writes=True
    )
    if not forgotten:
        if args.endpoint is not None and not _names_a_host(args.endpoint):
            raise InputError(
                f"--endpoint {args.endpoint!r} is not a URL or a host, so no record was dropped: give the endpoint's "
                "URL (https://RESOURCE.openai.azure.com/) or its host, as `magsag azure served` lists it under "
                "endpoint"
            )
        where = "" if endpoint is None else f" of {endpoint}"
        raise InputError(
            f"the ledger has no record of what deployment {deployment!r}{where} serves, so no record was dropped (a "
            "running process that saw it answer and could not write that down forgets it at its next read of the "
            "ledger, within a minute); `magsag azure served` lists what it records"
        )
    print_json({"forgotten": forgotten, "deployment": deployment, "endpoint": endpoint})
    return 0


def _names_a_host(value: str) -> bool:
    """Whether ``value`` may name an endpoint: a URL with a host, or a host (with a dot, a port, or localhost). Asked
    only of one that matched no record: ``--endpoint notaurl`` was told the ledger has no record "of notaurl", as if
    it were a host that served nothing, and not that a URL was wanted."""
    from urllib.parse import urlsplit

    text = value.strip()
    if not text or any(c.isspace() for c in text):
        return False
    try:
        parts = urlsplit(text if "//" in text else f"//{text}")
        port = parts.port
    except ValueError:  # (a port that is no number, a bracket left open)
        return False
    host = parts.hostname or ""
    return bool(host) and ("." in host or ":" in host or host == "localhost" or port is not None)


def register(groups: CommandGroups) -> None:
    azure = groups.group("azure", help="what the ledger says each Azure deployment was seen serving")
    p = groups.add(
        azure,
        "served",
        reads=("db",),
        help="each Azure deployment's endpoint, the model its last answer named, when, and until when it is trusted",
        description="Each Azure deployment the ledger has seen answer (its endpoint's host, and a gateway's path "
        "before Azure's; its name; never a key), the model its last answer named, when, and until when that is "
        "trusted: until then a deployment seen serving a model the policies forbid is refused before anything is "
        "sent; after, one call is sent to learn again. See the policies in docs/catalog.md.",
    )
    p.set_defaults(func=_served)
    p = groups.add(
        azure,
        "forget",
        reads=("db",),
        help="drop what the ledger says an Azure deployment was seen serving, once it is re-pointed",
        description="Drop what the ledger says an Azure deployment was seen serving (of every endpoint, or of "
        "--endpoint's), so that the next process's call to it is sent and learns what it serves now: for a "
        "deployment its operator has re-pointed at a model the policies allow. A process running meanwhile "
        f"(a magsag-mcp server) sees it within {REREAD_AFTER:.0f} seconds, when it reads the record again. "
        "Exit 2 when the ledger has no record of it.",
    )
    p.add_argument("deployment", type=given, help="the deployment's name (as in azure:NAME)")
    p.add_argument(
        "--endpoint",
        type=given,
        help="only the deployment of this endpoint (its URL or host: https://RESOURCE.openai.azure.com/)",
    )
    p.set_defaults(func=_forget)
