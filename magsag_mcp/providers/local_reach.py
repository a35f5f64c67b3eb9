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
import math
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .. import connect_watch
from ..deadline import Deadline, before_the_deadline
from ..errors import NameLookupTimeoutError, ProviderConnectionError, ProviderError, ProviderTimeoutError, redact
from ..transport import Timeouts, Transport
from ..types import Target
from . import local_down
from .local_down import server_root
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
#: (the server's root, the model's name) -> (why the server's answer is not known, an :class:`Unsure`, when to ask it
#: again): its /api/show failed (5xx, timed out, not reached, unreadable), which is neither "on this machine" nor "off
#: it"
_UNSURE: dict[tuple[str, str], tuple[str, float]] = {}
#: how long a failed /api/show is kept before a call asks again: a server mended is believed within a minute, and a
#: server down costs one bounded ask a minute, not one a call
ASK_AGAIN_S = 60.0
#: statuses of a server without Ollama's API (vLLM, LM Studio, a proxy of the OpenAI API alone): taken at the name's
#: word, as such a server runs its models itself
NO_SHOW_API = frozenset({404, 405, 501})
#: the clock a failure's next ask is timed by (a test moves a failure's time instead of waiting)
_clock = time.monotonic
#: (event loop, (the server's root, the model's name)) -> set once the one asking has its answer (or was stopped)
_ASKING: dict[tuple[asyncio.AbstractEventLoop, tuple[str, str]], asyncio.Event] = {}


def on_ollamas_cloud(url: str) -> bool:
    """Whether ``url`` is on ollama.com (or a host below it): Ollama's cloud, not a server of the operator's."""
    host = (urlsplit(url if "//" in url else f"//{url}").hostname or "").rstrip(".").lower()
    return host == OLLAMA_CLOUD or host.endswith("." + OLLAMA_CLOUD)


def known(base_url: str, model: str) -> bool:
    """Whether where ``model`` at the server of ``base_url`` runs has been asked in this process (answered, or failed
    lately enough not to be asked again yet)."""
    key = (server_root(base_url), model)
    if key in _RUNS_AT:
        return True
    unsure = _UNSURE.get(key)
    return unsure is not None and _clock() < unsure[1]


def unsure(base_url: str, model: str) -> str | None:
    """Why where ``model`` at the server of ``base_url`` runs is not known (its last /api/show failed), or None."""
    found = _UNSURE.get((server_root(base_url), model)) if _UNSURE else None
    return None if found is None else found[0]


def runs_at(base_url: str, model: str) -> str:
    """The host off this machine that ``model`` at the server of ``base_url`` was said to run on, or ""."""
    return _RUNS_AT.get((server_root(base_url), model), "")


def forget() -> None:
    """Drop every answer (a test's fresh start; a process keeps them)."""
    _RUNS_AT.clear()
    _UNSURE.clear()
    local_down.forget()
    _OFF_MACHINE[0] = 0


def down(base_url: str, connect_s: float = 0.0) -> UnreachedSlowly | None:
    """Why the server of ``base_url`` is taken as down for a caller connecting within ``connect_s`` (see
    :mod:`.local_down`), or None: ask it."""
    why = local_down.down_why(base_url, connect_s)
    return None if why is None else UnreachedSlowly(why)


def went_down(base_url: str, why: str, connect_s: float = math.inf) -> None:
    """The server of ``base_url`` could not be reached, slowly (``why``: the transport's words), by a caller
    connecting within ``connect_s``: taken as down for :data:`~.local_down.DOWN_FOR_S` (see :mod:`.local_down`)."""
    local_down.went_down(base_url, why, connect_s)


def answered(base_url: str) -> None:
    """The server of ``base_url`` answered: no longer taken as down, nor its names' asks' failures to reach it kept
    (they said it down, and read alone a call still skipped it as that)."""
    if local_down.answered(base_url) and _UNSURE:
        root = server_root(base_url)
        for key in [key for key, (why, _) in _UNSURE.items() if key[0] == root and isinstance(why, Unreached)]:
            del _UNSURE[key]


async def learn(
    transport: Transport, base_url: str, model: str, headers: Mapping[str, str], connect_timeout: float = 3.0
) -> str:
    """Ask the server of ``base_url`` (once per name in this process) where ``model`` runs: Ollama's ``/api/show``
    says ``remote_host`` for a model made from a cloud one. Bounded in time (:data:`~.local_models.LIST_WAIT_S`, and
    never more than half what is left of the call's deadline) and in bytes; a server that does not answer it (vLLM,
    LM Studio: 404) is taken at the name's word, and that too is kept: the hot path asks once. One that fails (5xx,
    not in time, not reached, an answer not read) leaves it unknown (:func:`unsure`), which a glob does not admit, and
    is asked again by the first call after :data:`ASK_AGAIN_S` (by the next call, where it was not reached or the call's
    own time cut it: :class:`CallOutOfTime`).
    It connects within ``connect_timeout`` (the call's own, at most the model list's 3s): a server that cannot be
    reached costs the call no longer wait than its own connection will."""
    key = (server_root(base_url), model)
    # (a wait for another call's ask counts against this one's connect: when it began, None before any)
    started = None
    #: what was kept of the name's last ask when this call began waiting for another's (None: it did not)
    before: tuple[str, float] | None = None
    #: when the ask it waited for began (the loop's time): a connection made since says that ask connected
    since: float | None = None
    while True:
        found = _RUNS_AT.get(key)
        if found is not None:
            return found
        failed = _UNSURE.get(key)
        if failed is not None and _clock() < failed[1]:
            return ""
        if started is not None and failed is not None and failed is not before and isinstance(failed[0], CallOutOfTime):
            # the ask waited for was cut by its call's own time: taken for this call too (its glob does not admit the
            # model), not asked again in turn by each call that waited, the later ones waiting through every earlier
            # one's ask until their own time ran out; the next call asks again
            return ""
        # the first calls of a name made at once ask once: the others wait for its answer (on their own loop: an
        # event is its loop's), and ask themselves only if the one asking was stopped before it had it
        asking_key = (asyncio.get_running_loop(), key)
        asking = _ASKING.get(asking_key)
        if asking is None:
            break
        if started is None:
            started, before, since = asyncio.get_running_loop().time(), failed, getattr(asking, "began", None)
        await asking.wait()
    event = _ASKING[asking_key] = asyncio.Event()
    event.began = asyncio.get_running_loop().time()  # type: ignore[attr-defined]  # (read by the calls waiting)
    try:
        host = await _asked(transport, base_url, model, headers, connect_timeout, started, since)
        if len(_RUNS_AT) + len(_UNSURE) >= KEPT:
            forget()
        if isinstance(host, Unsure):
            # a server not reached is asked again by the next call: its failure costs no wait, and a server just
            # started, `ollama serve`, is believed at once, not refused for a minute more (one found down slowly,
            # the connect timed out or the name did not resolve, is taken as down for every model meanwhile: the
            # next call's ask finds that without I/O, see local_down)
            # (nor is one the call's own time cut, or left unasked: it says nothing of the server, and another call,
            # with time to ask, is not refused by a glob for a minute for it)
            again = isinstance(host, (Unreached, CallOutOfTime))
            _UNSURE[key] = (host, _clock() if again else _clock() + ASK_AGAIN_S)
            host = ""
        else:
            _UNSURE.pop(key, None)
            _RUNS_AT[key] = host
            _OFF_MACHINE[0] += bool(host)
    finally:
        del _ASKING[asking_key]
        event.set()
    return host


async def _asked(
    transport: Transport,
    base_url: str,
    model: str,
    headers: Mapping[str, str],
    connect_timeout: float,
    started: float | None,
    since: float | None = None,
) -> str:
    """Where ``model`` at the server of ``base_url`` runs, as its ``/api/show`` says, or why that is not known (an
    :class:`Unsure`); a server found down lately for a caller connecting within ``connect_timeout`` is not asked. The
    first ask of a server this process has not seen answer goes alone, the others learning from it whether it is down
    (see :mod:`.local_down`). A call that waited (since ``started``, the loop's clock; None: it had not) for another's
    ask, which left the server neither down for it nor seen answering (cancelled, cut by its deadline, found down by
    a shorter connect timeout than this call's), connects within what is left of its own connect timeout: it paid
    the other's wait, then a whole one of its own, twice what it allows itself."""
    if (found_down := down(base_url, connect_timeout)) is not None:
        return found_down
    if on_ollamas_cloud(base_url) or ollama_cloud_model(model):  # (known off the machine already)
        return ""
    if started is None and local_down.being_asked(base_url):  # (it waits for that ask, below)
        started = asyncio.get_running_loop().time()
        ask_began = local_down.ask_began(base_url)
        if ask_began is not None:
            since = ask_began
    try:
        async with local_down.first_ask(base_url) as first:
            if not first:
                if (found_down := down(base_url, connect_timeout)) is not None:
                    return found_down  # (the first ask, made meanwhile, found it down)
                if local_down.down_why(base_url) is not None and not local_down.seen_up(base_url):
                    # found down by a shorter connect timeout than this call's: the calls that waited for that ask
                    # all connected at once, each waiting its longer timeout for a host that did not connect for
                    # the first; one of them asks alone again, the others taking its word
                    raise _AskAgain
            connect = min(connect_timeout, _LIST_TIMEOUTS.connect)
            if started is not None and not local_down.seen_up(base_url):  # (seen answering: it connects at once)
                # (only a wait for an ask that did not connect counts: one that did says the server connects, and
                # the wait was for its answer, which this call's own connect does not need)
                loop_now = asyncio.get_running_loop().time()
                connected = connect_watch.connected_since(base_url, started if since is None else since)
                waited = 0.0 if connected else loop_now - started
                if waited >= connect:
                    raise _NoWord(
                        CallOutOfTime(
                            f"was not asked: this call waited {waited:.3g}s for another call's ask of the server, "
                            f"which had no word of it, and had none left of its connect timeout ({connect:g}s)"
                        )
                    )
                connect -= waited
            timeouts = Timeouts(connect, _LIST_TIMEOUTS.read, from_settings=False)
            host = await _shown_remote_host(transport, server_root(base_url) + "/api/show", model, headers, timeouts)
            if isinstance(host, UnreachedSlowly):
                went_down(base_url, host, connect_timeout)
            elif isinstance(host, NotAskedInTime):
                # (an ask our own deadline cut, maybe still connecting, heard nothing from the server: its state stays)
                raise _NoWord(host)
            elif not isinstance(host, Unreached):
                answered(base_url)
    except _NoWord as no_word:
        return no_word.host
    except _AskAgain:
        return await _asked(transport, base_url, model, headers, connect_timeout, started, since)
    return host


class _AskAgain(Exception):
    """Raised out of :func:`~.local_down.first_ask` by a call that waited for an ask whose word does not hold for it
    (found down by a shorter connect timeout): it queues for the first ask again, the first of them asking alone."""


class _NoWord(Exception):
    """Raised out of :func:`~.local_down.first_ask` by an ask that had no word of the server (cut by our own bound, or
    not made for want of time): the first ask, it is handed on, as a cancelled one is, so that one waiting call asks
    alone in its stead rather than all of them at once, each connecting to a server that may not answer."""

    def __init__(self, host: NotAskedInTime) -> None:
        super().__init__(host)
        self.host = host


async def _shown_remote_host(
    transport: Transport, url: str, model: str, headers: Mapping[str, str], timeouts: Timeouts
) -> str:
    bound = before_the_deadline(LIST_WAIT_S)
    try:
        async with Deadline(bound):
            resp = await transport.post_json(url, {"model": model}, headers=headers, timeouts=timeouts)
        if resp.status in NO_SHOW_API:
            return ""
        if resp.status != 200:
            return Unsure(f"answered HTTP {resp.status}")
        if len(resp.body) > SHOW_MAX_BYTES:
            return Unsure(f"answered more than {SHOW_MAX_BYTES // 1024} KiB")
        body = resp.json()
    except TimeoutError:
        if bound < LIST_WAIT_S:  # (the call's deadline set the bound: it says how long this call had, not the server)
            return CallOutOfTime(
                f"did not answer in time (within {max(bound, 0.0):.3g}s, half what was left of the call's deadline)"
            )
        return NotAskedInTime(f"did not answer in time (within {LIST_WAIT_S:g}s)")
    except ProviderConnectionError as exc:
        if exc.reached:  # (a connection dropped once the request was sent)
            return Unsure(f"could not be asked ({type(exc).__name__})")
        # refused (no server listens: not started), a name that does not resolve: the transport's words say which, and
        # the fix (`ollama serve`), which the call, refused for want of the answer, is then the first to say
        return (UnreachedSlowly if found_slowly(exc) else Unreached)(f"{Unreached.PREFIX}{exc.message}")
    except ProviderError as exc:
        if found_slowly(exc):  # (the connect timed out: nothing answers there)
            return UnreachedSlowly(f"{Unreached.PREFIX}{exc.message}")
        return Unsure(f"could not be asked ({type(exc).__name__})")
    except ValueError:
        return Unsure("answered no JSON")
    if not isinstance(body, dict):
        return Unsure("answered no JSON object")
    remote = body.get("remote_host")
    if not isinstance(remote, str) or not remote.strip():
        return ""
    # the host alone, as a refusal and the ledger say it (never a path or a user:password@ the server wrote), and
    # redacted: asked with the local key in its headers, a server (or a gateway before it) echoing the key as the host
    # had it recorded as where the prompt went, and shown by flow summarize and flow gate (a key of hex digits is a
    # host's text, in its case). Redacted as the server wrote it: a host read from a URL is lower case, and a key of
    # both cases lowered was no key redact() knows, recorded whole but for its case
    try:
        parsed = urlsplit(remote if "//" in remote else f"//{remote}")
        host = parsed.hostname
    except ValueError:  # (no URL, "http://[bad": elsewhere all the same, unreadably, as one naming no host)
        return OLLAMA_CLOUD
    if not host:
        return OLLAMA_CLOUD
    written = _as_written(parsed.netloc, host)
    shown = redact(written)
    return shown if shown != written else host


def _as_written(netloc: str, host: str) -> str:
    """``host`` (a URL's hostname: lower case, no brackets) as ``netloc`` writes it, in its case; ``host`` itself
    where it cannot be found there."""
    hostport = netloc.rpartition("@")[2]
    at = hostport.lower().find(host)
    written = hostport[at : at + len(host)] if at >= 0 else host
    return written if written.lower() == host else host


class Unsure(str):
    """Where a local model runs is not known: its server's ``/api/show`` failed (the text says how). A data class's or
    allowed_models' glob of local models does not admit it, as it does not admit one known to run off the machine:
    the glob was written for the operator's own machines, and this one may not be. Named, the model passes."""

    __slots__ = ()


class NotAskedInTime(Unsure):
    """:class:`Unsure`: the ask was cut by our own bound (:data:`~.local_models.LIST_WAIT_S`, or half what was left of
    the call's deadline), maybe before it connected: no word of the server, which it leaves as it was (taken as down,
    or not; seen answering, or not)."""

    __slots__ = ()


class CallOutOfTime(NotAskedInTime):
    """:class:`NotAskedInTime` for want of the call's own time: its deadline cut the ask (half what was left of it), or
    it waited its whole connect timeout for another call's ask, which had no word of the server, and was not asked.
    It says nothing of the server: this call's glob does not admit the model, and the next call asks again (as after
    :class:`Unreached`), not refused for :data:`ASK_AGAIN_S` for a call that had less time than it."""

    __slots__ = ()


class Unreached(Unsure):
    """The server could not be reached for ``/api/show`` (nothing listens at its port: not started; its name does not
    resolve): the text is the transport's, which names the fix. Asked again by the next call, not after
    :data:`ASK_AGAIN_S`: the failure is quick, and a server started meanwhile is believed at once."""

    __slots__ = ()
    PREFIX = "could not be asked: "

    @property
    def server_words(self) -> str:
        """The transport's words: why the server could not be reached, and the fix."""
        return self.removeprefix(self.PREFIX)


class UnreachedSlowly(Unreached):
    """:class:`Unreached`, found only after a wait (the connect timed out, the name did not resolve): the server is
    taken as down for :data:`~.local_down.DOWN_FOR_S`, not asked again by every call meanwhile."""

    __slots__ = ()


def found_slowly(exc: ProviderError) -> bool:
    """Whether ``exc`` says the server could not be reached, found only after a wait: the connect timed out, or the
    name did not resolve (as the transport marks it) or its lookup timed out. A refused connection is found again at
    once, and never taken as down for longer than the call; nor is another failure not retried (an untrusted
    certificate, a proxy refusing the credentials: found at once, and its fix is the operator's, seen at the next
    call), nor the call's own deadline, which says nothing of the server."""
    if exc.reached:
        return False
    if isinstance(exc, ProviderTimeoutError):
        return not exc.call_deadline
    return isinstance(exc, NameLookupTimeoutError) or exc.name_not_found


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
                from .local_endpoint import LocalEndpoint

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

    def judged_where(self, target: Target) -> str | None:
        """What the policies judge a local target by: where off this machine it runs (:meth:`off_machine`), or
        :class:`Unsure` where its server's /api/show failed, or None: on the operator's own server. (The pricer and
        the ledger read :meth:`off_machine` alone: an unknown is not priced or recorded as a host.)"""
        host = self.off_machine(target)
        if host is not None or not _UNSURE or target.provider != "local":
            return host
        try:
            base = self._base(target)[0]
        except Exception:
            return None
        why = unsure(base, target.model)
        return None if why is None else why if isinstance(why, Unsure) else Unsure(why)
