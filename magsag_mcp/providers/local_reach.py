"""Where a ``local`` target's prompt goes: the operator's own machines, or off them to Ollama's cloud.

Three ways a "local" call leaves the machine, which a data class's "local only" models and local's free price were
written without: a model named as Ollama's cloud ones are (``gpt-oss:120b-cloud``, see
:func:`~.local_models.ollama_cloud_model`); the local provider pointed at ollama.com itself (``OLLAMA_HOST=ollama.com``,
a base URL on ollama.com); and a model the local server made from a cloud one under a name of its own (``ollama create
mybot`` FROM ``gpt-oss:120b-cloud``), which only the server knows: its ``POST /api/show`` answers ``remote_host`` and
``remote_model`` for it. That is asked once per server and name in a process (:func:`learn`), bounded as the model list
is (:mod:`.local_models`), before the name's first call: the answer is kept for the process, which the policies and
the pricer read without any I/O (:meth:`LocalReach.off_machine`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..deadline import Deadline, before_the_deadline
from ..errors import ProviderError
from ..transport import Timeouts, Transport
from ..types import Target
from .local_models import _LIST_TIMEOUTS, LIST_WAIT_S, ollama_cloud_model

#: Ollama's cloud: its API, and the host its cloud models run on
OLLAMA_CLOUD = "ollama.com"
#: the most of /api/show's answer read (a model's template, parameters and license: some kilobytes; its modelfile with
#: a long license, more)
SHOW_MAX_BYTES = 1024 * 1024
#: the most (server, name) answers kept: a process names few models; a caller naming ever new ones is not kept for
KEPT = 4096

#: (the server's root, the model's name) -> the host it runs on off this machine, "" for none (the server's own, or
#: nothing said: not Ollama, an older Ollama, no such model)
_RUNS_AT: dict[tuple[str, str], str] = {}
#: how many of them run off this machine: none in most processes, whose policies and pricer then look no further
_OFF_MACHINE = [0]
#: (event loop, (the server's root, the model's name)) -> set once the one asking has its answer (or was stopped)
_ASKING: dict[tuple[asyncio.AbstractEventLoop, tuple[str, str]], asyncio.Event] = {}


def on_ollamas_cloud(url: str) -> bool:
    """Whether ``url`` is on ollama.com (or a host below it): Ollama's cloud, not a server of the operator's."""
    host = (urlsplit(url if "//" in url else f"//{url}").hostname or "").rstrip(".").lower()
    return host == OLLAMA_CLOUD or host.endswith("." + OLLAMA_CLOUD)


def server_root(base_url: str) -> str:
    """The server's root, below which Ollama's own API is (``/api/show``): the OpenAI API's base without ``/v1``."""
    return base_url.rstrip("/").removesuffix("/v1")


def known(base_url: str, model: str) -> bool:
    """Whether where ``model`` at the server of ``base_url`` runs has been asked in this process."""
    return (server_root(base_url), model) in _RUNS_AT


def runs_at(base_url: str, model: str) -> str:
    """The host off this machine that ``model`` at the server of ``base_url`` was said to run on, or ""."""
    return _RUNS_AT.get((server_root(base_url), model), "")


def forget() -> None:
    """Drop every answer (a test's fresh start; a process keeps them)."""
    _RUNS_AT.clear()
    _OFF_MACHINE[0] = 0


async def learn(
    transport: Transport, base_url: str, model: str, headers: Mapping[str, str], connect_timeout: float = 3.0
) -> str:
    """Ask the server of ``base_url`` (once per name in this process) where ``model`` runs: Ollama's ``/api/show``
    says ``remote_host`` for a model made from a cloud one. Bounded in time (:data:`~.local_models.LIST_WAIT_S`, and
    never more than half what is left of the call's deadline) and in bytes; a server that does not answer it (vLLM,
    LM Studio: 404) or not in time is taken at the name's word, and that too is kept: the hot path asks once. It
    connects within ``connect_timeout`` (the call's own, at most the model list's 3s): a server that cannot be
    reached costs the call no longer wait than its own connection will."""
    key = (server_root(base_url), model)
    while True:
        found = _RUNS_AT.get(key)
        if found is not None:
            return found
        # the first calls of a name made at once ask once: the others wait for its answer (on their own loop: an
        # event is its loop's), and ask themselves only if the one asking was stopped before it had it
        asking_key = (asyncio.get_running_loop(), key)
        asking = _ASKING.get(asking_key)
        if asking is None:
            break
        await asking.wait()
    event = _ASKING[asking_key] = asyncio.Event()
    try:
        host = ""
        if not on_ollamas_cloud(base_url) and not ollama_cloud_model(model):  # (known off the machine already)
            timeouts = Timeouts(min(connect_timeout, _LIST_TIMEOUTS.connect), _LIST_TIMEOUTS.read, from_settings=False)
            host = await _shown_remote_host(transport, key[0] + "/api/show", model, headers, timeouts)
        if len(_RUNS_AT) >= KEPT:
            forget()
        _RUNS_AT[key] = host
        _OFF_MACHINE[0] += bool(host)
    finally:
        del _ASKING[asking_key]
        event.set()
    return host


async def _shown_remote_host(
    transport: Transport, url: str, model: str, headers: Mapping[str, str], timeouts: Timeouts
) -> str:
    try:
        async with Deadline(before_the_deadline(LIST_WAIT_S)):
            resp = await transport.post_json(url, {"model": model}, headers=headers, timeouts=timeouts)
        if resp.status != 200 or len(resp.body) > SHOW_MAX_BYTES:
            return ""
        body = resp.json()
    except (ProviderError, ValueError, TimeoutError):
        return ""
    remote = body.get("remote_host") if isinstance(body, dict) else None
    if not isinstance(remote, str) or not remote.strip():
        return ""
    # the host alone, as a refusal and the ledger say it (never a path or a user:password@ the server wrote)
    parsed = urlsplit(remote if "//" in remote else f"//{remote}")
    return (parsed.hostname or OLLAMA_CLOUD).lower()


class LocalReach:
    """Whether a local target runs off this machine, read from the environment (where its calls go) and what the
    servers said (:func:`learn`): one per service, which its policies and its pricer share. No I/O."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        #: local.py's endpoint, which reads the base URL as a call does: made when first asked (it reads the
        #: timeouts too, whose bad value the service's own check says, with the transport's defaults)
        self._endpoint: Any = None
        #: base URL written on a target (or None: the environment's) -> the base URL its calls go to, and whether
        #: that is on Ollama's cloud (asked on every attempt at a local target: worked out once for each)
        self._bases: dict[str | None, tuple[str, bool]] = {}

    def _base(self, target: Target) -> tuple[str, bool]:
        found = self._bases.get(target.base_url)
        if found is None:
            if self._endpoint is None:
                from .local import LocalEndpoint

                self._endpoint = LocalEndpoint(self.env)
            base = str(self._endpoint.base_url(target))
            if len(self._bases) >= KEPT:
                self._bases.clear()
            found = self._bases[target.base_url] = (base, on_ollamas_cloud(base))
        return found

    def base_url(self, target: Target) -> str:
        return self._base(target)[0]

    def off_machine(self, target: Target) -> str | None:
        """Where off this machine a local target's prompt goes (a host), or None: on the operator's own server."""
        if target.provider != "local":
            return None
        if ollama_cloud_model(target.model):
            return OLLAMA_CLOUD
        try:
            base, on_cloud = self._base(target)
        except Exception:  # (a base URL that cannot be read is said where the call uses it)
            return None
        if on_cloud:
            return OLLAMA_CLOUD
        if not _OFF_MACHINE[0]:  # (most processes learn of no model made from a cloud one)
            return None
        return runs_at(base, target.model) or None
