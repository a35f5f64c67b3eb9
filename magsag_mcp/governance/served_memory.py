"""What each Azure deployment was seen serving, kept across processes in the ledger (:mod:`..ledger.azure_served`).

A deployment's name is its operator's choice: ``azure:gpt-4o-mini`` may serve gpt-4o, which only its answers say. The
pricer learns it from each answer (``Pricer.azure_answered``), and the policies then refuse the deployment when that
model is forbidden; but a process's memory dies with it, and each new one (each ``magsag invoke``, a restarted
server) paid for the deployment's first call again. Here, before a process's first call to a deployment, the ledger's
row for it is read: a model it was seen serving within :data:`TRUSTED_FOR` counts as one it serves, so the policies
refuse it before anything is sent. After that time the row is not trusted, and one call is sent to learn again (the
operator may have re-pointed the deployment); ``magsag azure forget`` drops a row at once."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import LedgerError
from ..ledger.azure_served import read_served, write_served
from ..providers.azure_versions import azure_root
from ..types import Target, path_tokens

#: how long what a deployment was seen serving is trusted without a call to learn it again: a day, so that a
#: deployment re-pointed at an allowed model is called again within one (or at once, after ``magsag azure forget``)
TRUSTED_FOR = 86400.0
#: a deployment still answering as the model recorded is written again once its row is this old, so that the rows of
#: deployments in use stay within TRUSTED_FOR (not on every call: each would be a write)
REWRITTEN_AFTER = TRUSTED_FOR / 4


def endpoint_host(url: str) -> str:
    """The endpoint a row names: the host (and port) of the target's base_url or AZURE_OPENAI_ENDPOINT, lowercased,
    and a gateway's own path before Azure's (:func:`~..providers.azure_versions.azure_root`), without Azure's path, the
    query or any user and password written in it (a row is never a secret's place):
    ``https://Res.openai.azure.com/openai/v1?api-version=x`` -> ``res.openai.azure.com``. The gateway's path is kept
    because one proxy host may front several resources (``https://gw.example/eastus``, ``https://gw.example/westus``),
    whose deployments of one name may serve different models; a segment of it shaped like a token (a gateway's, taken
    in the path) is written as a digest of it (``~`` and 12 hex digits): two tokens stay two endpoints, and neither is
    in the ledger or a refusal."""
    url = url.strip()
    parts = urlsplit(url if "//" in url else f"//{url}")
    host = (parts.netloc or url).rpartition("@")[2].lower()
    path = urlsplit(azure_root(urlunsplit(("https", "h", parts.path, "", "")))).path.strip("/")
    if not path:
        return host
    tokens = path_tokens(path)
    segments = [f"~{hashlib.sha256(s.encode()).hexdigest()[:12]}" if s in tokens else s for s in path.split("/") if s]
    return "/".join([host, *segments])


def when(seen_at: float) -> str:
    """``2026-12-06 06:20 UTC``: the time a row gives, as a refusal says it."""
    return datetime.fromtimestamp(seen_at, UTC).strftime("%Y-%m-%d %H:%M UTC")


class ServedMemory:
    """The ledger's rows of the deployments this process has called, read before its first call to each
    (:meth:`look`), and written as answers name what a deployment serves (:meth:`answered`)."""

    def __init__(self, env: Mapping[str, str], clock: Callable[[], float] = time.time) -> None:
        self._endpoint = env.get("AZURE_OPENAI_ENDPOINT") or ""
        self._clock = clock
        #: a base_url or AZURE_OPENAI_ENDPOINT -> its endpoint_host (few: the catalog's and the environment's)
        self._hosts: dict[str, str] = {}
        #: (endpoint, deployment) -> (model last seen serving it, when), or None: read from the ledger once
        self._rows: dict[tuple[str, str], tuple[str, float] | None] = {}
        #: (endpoint, deployment) -> (model, when) of each trusted row other than its own name, for the policies: by
        #: the endpoint too, since another resource's deployment of that name (a fallback's) may serve another model
        self._trusted: dict[tuple[str, str], tuple[str, float]] = {}

    def endpoint(self, target: Target) -> str:
        url = (target.base_url or "").strip() or self._endpoint
        host = self._hosts.get(url)
        if host is None:  # (asked before each attempt at an Azure target: worked out once for each URL)
            host = self._hosts[url] = endpoint_host(url)
        return host

    def models(self, target: Target) -> frozenset[str]:
        """The model the ledger says ``target``'s deployment (of its endpoint) serves, if trusted still and not its
        own name."""
        if not self._trusted:  # (asked on each Azure attempt: most processes trust no row)
            return frozenset()
        key = (self.endpoint(target), target.model)
        row = self._trusted.get(key)
        if row is None:
            return frozenset()
        if self._clock() - row[1] > TRUSTED_FOR:  # trusted no longer: the next call learns again
            del self._trusted[key]
            return frozenset()
        return frozenset({row[0]})

    def seen(self, target: Target, model: str) -> tuple[str, float] | None:
        """(the endpoint, when) of the trusted row that says ``target``'s deployment serves ``model``, or None."""
        key = (self.endpoint(target), target.model)
        row = self._trusted.get(key)
        return None if row is None or row[0] != model else (key[0], row[1])

    async def look(self, ledger: Any, target: Target) -> None:
        """Read the ledger's row of ``target``'s deployment, once a process."""
        key = (self.endpoint(target), target.model)
        if not key[0] or key in self._rows:
            return
        row = None
        with contextlib.suppress(LedgerError):
            # advice, not a record: a ledger that cannot read it (locked past its busy timeout, a disk error) sends the
            # call, as a process without the row does, and learns from its answer; read once, not on each call (each
            # would wait the busy timeout out again)
            row = await ledger.read(lambda conn: read_served(conn, *key))
        self._rows[key] = row
        if row is not None and row[0] != target.model and self._clock() - row[1] <= TRUSTED_FOR:
            self._trusted[key] = row

    def answered(self, ledger: Any, target: Target, model: str) -> None:
        """``target``'s deployment answered as ``model``: written to the ledger when that is news, or the row is old,
        so that the next process knows it before its first call. Queued, not waited for: it is asked between an answer
        and its attempt's record, and a wait there was a point where a call stopped (a client's cancel, a timeout)
        lost the record of the attempt it had paid for. Queued before that record, it commits with it or before it, so a
        process started once the call returns reads it; most answers are no news, and write nothing."""
        key = (self.endpoint(target), target.model)
        if not key[0] or getattr(ledger, "read_only", False):
            return
        now = self._clock()
        row = self._rows.get(key)
        if row is not None and row[0] == model and now - row[1] < REWRITTEN_AFTER:
            return
        self._rows[key] = (model, now)
        trusted = self._trusted.get(key)
        if trusted is not None and trusted[0] != model:
            # it answered as another model since: the row read at the start says no more than this answer
            del self._trusted[key]
        # (not durable: a row lost to a power cut costs the next process one call to learn it again; a failure is no
        # one's to report, and the call's own record, written next, says what is wrong with the ledger)
        with contextlib.suppress(LedgerError):
            ledger.enqueue(lambda conn: write_served(conn, *key, model, now), durable=False)
