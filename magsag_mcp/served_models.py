"""What each Azure deployment was seen serving, in this process: ONE memory, keyed by the deployment's endpoint and
name, which the pricer (the reservations it sizes), the policies (what they refuse) and the ledger's rows
(:mod:`.governance.served_memory`, what other processes saw) all read and write.

A deployment's name is its operator's choice: ``azure:gpt-4o-mini`` may serve gpt-4o, which only its answers say.
Two resources may each have a deployment of that name serving different models, so a sighting is kept by
(:func:`endpoint_host` of the target's endpoint, the deployment's name): keyed by the name alone, endpoint A's
``gpt-4o-mini`` seen answering as gpt-4o refused, and reserved at gpt-4o's rates, endpoint B's ``gpt-4o-mini``.

A sighting is trusted for :func:`trusted_for` seconds after it was last made (``MAGSAG_AZURE_SERVED_TRUST``, a day
unless set): after that one call is sent to learn again, since the operator may have re-pointed the deployment."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from .providers.azure_versions import azure_root
from .settings import env_float
from .types import Target, path_tokens

#: the setting of how long a sighting is trusted, in seconds
TRUST_ENV = "MAGSAG_AZURE_SERVED_TRUST"
#: how long what a deployment was seen serving is trusted without a call to learn it again, unless TRUST_ENV says: a
#: day, so that a deployment re-pointed at an allowed model is called again within one (or at once, after
#: ``magsag azure forget``)
TRUSTED_FOR = 86400.0

#: a scheme's port, which a URL may name or leave out: one endpoint either way
_DEFAULT_PORTS = {"https": ":443", "http": ":80"}

#: a host name's trailing dot (``res.openai.azure.com.``, the DNS root written out), before its port if any: the same
#: host without it
_ROOT_DOT = re.compile(r"\.(?=(?::\d*)?$)")

#: (endpoint, deployment name)
Key = tuple[str, str]


def trusted_for(env: Mapping[str, str]) -> float:
    """``MAGSAG_AZURE_SERVED_TRUST``: seconds from 0 (trust no sighting past the call that made it: every process
    learns anew) to 30 days; a bad value is refused naming the variable, the value and the fix."""
    return env_float(env, TRUST_ENV, TRUSTED_FOR)


def endpoint_host(url: str) -> str:
    """The endpoint a sighting names: the host (and port) of the target's base_url or AZURE_OPENAI_ENDPOINT,
    lowercased, without the scheme's default port (``:443``: one resource, written with it or not) or the host name's
    trailing dot (``res.openai.azure.com.``, the same host), and a gateway's own path before Azure's
    (:func:`~.providers.azure_versions.azure_root`), without Azure's path, the query or any user and password written
    in it (a ledger row is never a secret's place):
    ``https://Res.openai.azure.com:443/openai/v1?api-version=x`` -> ``res.openai.azure.com``. The gateway's path is kept
    because one proxy host may front several resources (``https://gw.example/eastus``, ``https://gw.example/westus``),
    whose deployments of one name may serve different models; a segment of it shaped like a token (a gateway's, taken
    in the path) is written as a digest of it (``~`` and 12 hex digits): two tokens stay two endpoints, and neither is
    in the ledger or a refusal."""
    url = url.strip()
    parts = urlsplit(url if "//" in url else f"//{url}")
    # (a trailing dot, the DNS root written out, is the same host: ``res.openai.azure.com.`` was another endpoint)
    host = _ROOT_DOT.sub("", (parts.netloc or url).rpartition("@")[2].lower(), count=1)
    # the scheme's default port, named or not, is one resource (the URL without a scheme is https, as Azure's are)
    default = _DEFAULT_PORTS.get(parts.scheme.lower() or "https")
    if default and host.endswith(default):
        host = host[: -len(default)]
    path = urlsplit(azure_root(urlunsplit(("https", "h", parts.path, "", "")))).path.strip("/")
    if not path:
        return host
    tokens = path_tokens(path)
    segments = [f"~{hashlib.sha256(s.encode()).hexdigest()[:12]}" if s in tokens else s for s in path.split("/") if s]
    return "/".join([host, *segments])


def when(seen_at: float) -> str:
    """``2026-12-06 06:20 UTC``: the time a sighting gives, as a refusal says it."""
    return datetime.fromtimestamp(seen_at, UTC).strftime("%Y-%m-%d %H:%M UTC")


class ServedModels:
    """(endpoint, deployment) -> each model its answers named other than its own name, when last seen, and whether
    this process saw it (or read it from the ledger's row, another process's sighting)."""

    def __init__(self, env: Mapping[str, str] | None = None, clock: Callable[[], float] = time.time) -> None:
        env = os.environ if env is None else env
        #: the endpoint of a target without a base_url, as the Azure provider reads it
        self.default_url = env.get("AZURE_OPENAI_ENDPOINT") or ""
        self.trusted_for = trusted_for(env)
        self._clock = clock
        #: a base_url or AZURE_OPENAI_ENDPOINT -> its endpoint_host (few: the catalog's and the environment's)
        self._hosts: dict[str, str] = {}
        #: (endpoint, deployment) -> {model: (when last seen, seen by this process)}; a deployment answering as
        #: another model than its name is news once, so this holds the deployments so answered, each a model or two
        self._seen: dict[Key, dict[str, tuple[float, bool]]] = {}

    def endpoint(self, target: Target) -> str:
        """The endpoint a sighting of ``target``'s deployment is kept by ("" for no endpoint known)."""
        url = (target.base_url or "").strip() or self.default_url
        host = self._hosts.get(url)
        if host is None:  # (asked before each attempt at an Azure target: worked out once for each URL)
            host = self._hosts[url] = endpoint_host(url) if url else ""
        return host

    def key(self, target: Target) -> Key:
        return (self.endpoint(target), target.model)

    def saw(self, key: Key, model: str, at: float | None = None, *, here: bool = True) -> None:
        """Deployment ``key`` answered as ``model`` (at ``at``, now if not given): by this process's call (``here``),
        or by another's, as the ledger's row says."""
        if model == key[1]:
            return
        at = self._clock() if at is None else at
        models = self._seen.setdefault(key, {})
        before = models.get(model)
        if before is None or before[0] < at or (here and not before[1]):
            models[model] = (max(at, before[0]) if before else at, here or (before is not None and before[1]))

    def models(self, key: Key) -> frozenset[str]:
        """The models deployment ``key`` is trusted to serve other than its own name (asked on each Azure attempt)."""
        if not self._seen:  # (most processes see no deployment answer as another model)
            return frozenset()
        models = self._seen.get(key)
        if not models:
            return frozenset()
        now = self._clock()
        stale = [model for model, (at, _) in models.items() if now - at > self.trusted_for]
        for model in stale:  # trusted no longer: the next call learns again
            del models[model]
        return frozenset(models)

    def sighting(self, key: Key, model: str) -> tuple[float, bool] | None:
        """(when, seen by this process) of the trusted sighting of ``model`` at deployment ``key``, or None."""
        return self._seen.get(key, {}).get(model) if model in self.models(key) else None

    def forget(self, key: Key, before: float) -> None:
        """Drop the sightings of deployment ``key`` made before ``before`` (``magsag azure forget`` dropped its row)."""
        models = self._seen.get(key)
        if models:
            for model in [m for m, (at, _) in models.items() if at < before]:
                del models[model]
