"""Which base URLs a *call* may send the operator's API keys to.

A base URL in the catalog or the environment is the operator's choice. A base URL in a call
(``model_config.base_url``, ``context.llm_overrides.base_url``, a fallback given as an object) comes
from whoever makes the call: over MCP, another program. Sending ``OPENAI_API_KEY`` wherever a caller
points would hand the key to anyone who can call a tool. So a call's base URL is accepted when:

- the provider has no key configured (a keyless local server: nothing can leak), or
- it is at or below a base URL the operator configured for that provider: the provider's own base URL
  from the environment or its vendor default, a base URL in the routing catalog, or one listed for that
  provider in ``MAGSAG_ALLOWED_BASE_URLS`` (``provider=URL``, comma-separated). The same scheme, host and
  port, and the configured URL's path segments first (a URL without a path admits the whole server):
  a gateway serves many tenants or teams under paths of one host (``/v1/<account>/<gateway>``, API
  Management's ``/<api>``), and another path there is another party's endpoint. A path with a ``.`` or
  ``..`` segment is at none (``/mine/../theirs`` is ``/theirs`` once sent), nor is one with a segment some
  server reads so (``..;x``, ``%252e%252e``, ``..%00``: see :func:`_moves`).

Anything else fails before a request is made, with the fix in the message.

Served to a network (``magsag-mcp --transport http``), the keyless exemption does not apply either: a
caller holding the server's token could otherwise make it POST to any host the server can reach (a cloud
metadata address, an admin port on its loopback, a host on the operator's LAN) and read the start of the
answer back in the error: a server-side request forgery. There, every call's base URL must be one the
operator configured, unless the operator opts in with ``MAGSAG_CALL_BASE_URLS=any`` (``magsag-mcp
--call-base-urls any``). ``MAGSAG_CALL_BASE_URLS=configured`` asks the same of stdio and the Python API,
whose callers are the operator's own programs and may name any keyless server by default.

A call whose data class a policy confines to some models (``requirements``: ``pii_processing:
[llama3.1:70b]``, kept on local infrastructure) is stricter: the keyless exemption does not apply. The
policy names models, and a model is wherever its server is; a caller could otherwise send the data
to ``local:llama3.1:70b`` on any host it names, past the policy that was to keep it in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from .errors import ConfigError, PayloadError, PolicyDenied
from .settings import MODE_ENV, only_configured
from .targets import canonical_provider
from .types import Target, masked_path

if TYPE_CHECKING:
    from .providers import ProviderSet

ALLOWED_ENV = "MAGSAG_ALLOWED_BASE_URLS"
#: what a refusal names as its policy where the data classes' models were given with no policy's name (a plain
#: mapping as plan_call's data_class_models, not the policies' own DataClassModels)
UNNAMED_REQUIREMENTS = "data_class_models (no policy named)"

Origin = tuple[str, str, int | None]
#: a configured base URL: its origin and its path's segments (percent-decoded, empty ones dropped)
Prefix = tuple[Origin, tuple[str, ...]]
#: configured base URLs per provider name
Prefixes = dict[str, set[Prefix]]


def origin(url: str) -> Origin | None:
    """``(scheme, host, port)`` with default ports filled in; None when ``url`` is not an http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def prefix(url: str) -> Prefix | None:
    """``url``'s origin and path segments; None when it is not an http(s) URL or a segment of its path may
    name another place to a server (:func:`_moves`)."""
    o = origin(url)
    if o is None:
        return None
    raw = [s for s in urlsplit(url.strip()).path.split("/") if s]
    if any(_moves(s) for s in raw):
        return None
    return o, tuple(unquote(s) for s in raw)


#: the times a path may be percent-decoded on its way: a gateway decodes it, the server behind it again, ...
_DECODINGS = 3


def _moves(segment: str) -> bool:
    """Whether a path segment may be ``.`` or ``..`` to some server, which resolves it to another path: as written,
    once percent-decoded (up to :data:`_DECODINGS` times, ``%252e%252e`` twice), with its ``;params`` taken off
    (Tomcat, Jetty and Spring read ``..;x`` as ``..``) or cut at a NUL (a server written in C); or one that decodes
    to hold a ``/`` or ``\\``. Each of these took the key to another tenant's path of a configured gateway
    (``/v1/team-a/..;/team-b``) while it read as below the tenant's own."""
    for _ in range(_DECODINGS + 1):
        bare = segment.split(";", 1)[0].split("\x00", 1)[0]
        if bare in (".", "..") or "/" in segment or "\\" in segment:
            return True
        decoded = unquote(segment)
        if decoded == segment:
            return False
        segment = decoded
    return True  # encoded more times than any server decodes it: no telling what it becomes


#: how URLs name this machine's loopback: one server on one port, whichever name a URL gives it
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def _same_server(a: Origin, b: Origin, loopback_aliases: bool) -> bool:
    """The same scheme, host and port; with ``loopback_aliases``, a loopback name is any other: Ollama set to
    listen everywhere (``OLLAMA_HOST=0.0.0.0``) is configured at ``127.0.0.1``, and the guide's call names
    ``localhost``. Never for a key: another user of the machine may listen on the port of the other family."""
    if a == b:
        return True
    same_port = a[0] == b[0] and a[2] == b[2]
    return loopback_aliases and same_port and a[1] in _LOOPBACK_NAMES and b[1] in _LOOPBACK_NAMES


def _under(at: Prefix, configured: Prefix, loopback_aliases: bool = False) -> bool:
    return _same_server(at[0], configured[0], loopback_aliases) and at[1][: len(configured[1])] == configured[1]


def allowed_origins(env: Mapping[str, str]) -> Prefixes:
    """``MAGSAG_ALLOWED_BASE_URLS``: comma-separated ``provider=URL`` entries. Each names the provider
    whose key may go there (a proxy allowed for one vendor's key must not receive another's), and the
    base URL a call's may be at or below."""
    raw = env.get(ALLOWED_ENV, "")
    out: Prefixes = {}
    for i, item in enumerate(x.strip() for x in raw.split(",")):
        if not item:
            continue
        provider, sep, url = item.partition("=")
        o = prefix(url) if sep else None
        if o is None and sep and origin(url) is not None:
            raise ConfigError(
                f"{ALLOWED_ENV}: entry {i + 1} ({_quoted(item)!r}) has a '.' or '..' segment in its path; give the "
                "path as it is, e.g. openai=https://gateway.example.com/team-a/v1"
            )
        if o is None:
            raise ConfigError(
                f"{ALLOWED_ENV}: entry {i + 1} ({_quoted(item)!r}) is not provider=URL; give comma-separated entries "
                "such as openai=https://proxy.example.com,local=http://gpu-box:11434"
            )
        try:
            name = canonical_provider(provider)
        except ConfigError as exc:
            from .providers import meant_provider  # (loaded: the name was refused)

            # 'opneai=https://proxy.example.com': the entry to write, as MAGSAG_MODEL's misspelt provider is told it
            meant = meant_provider(provider)
            fix = f"; write it {_quoted(f'{meant}={url.strip()}')!r}" if meant else ""
            raise ConfigError(f"{ALLOWED_ENV}: entry {i + 1} ({_quoted(item)!r}): {exc.message}{fix}") from None
        out.setdefault(name, set()).add(o)
    return out


#: what is kept of a URL before its user:password@: spaces and scheme:// (``openai:https://`` when a ':'
#: was typed for the '=')
_BEFORE_USERINFO = re.compile(r"^\s*(?:(?:[A-Za-z][A-Za-z0-9+.-]*:)+//)?")


def _quoted(entry: str) -> str:
    """An allow-list entry for a message without its URL's credentials: the message reaches every call that
    names a base URL (over MCP, another program), and ``magsag doctor``. The entries quoted are the
    malformed ones, which no URL parser takes apart: everything up to the URL's last ``@`` goes (a password
    may hold an unencoded ``/``, ``#`` or ``@``), and so do its ``?query`` and ``#fragment``, which can carry
    a key shaped like no known one, and each path segment shaped like a token (as :class:`~magsag_mcp.types.Target`
    shows its URL)."""
    provider, sep, url = entry.partition("=") if "=" in entry else ("", "", entry)
    before, at, after = url.rpartition("@")
    if at:
        url = _BEFORE_USERINFO.match(before).group() + "[REDACTED]@" + after  # type: ignore[union-attr]
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=-1)
    if cut >= 0:
        url = url[: cut + 1] + "[REDACTED]"
    # and each path segment shaped like a token (a gateway's, taken in the path), as a call's refused URL shows it
    scheme = url.find("://")
    path = url.find("/", scheme + 3 if scheme >= 0 else 0)
    if path >= 0:
        url = url[:path] + masked_path(url[path:])
    return provider + sep + url


class CallURLs:
    """The operator's side of the check, for one configuration (a :class:`~magsag_mcp.service.Service`
    builds one when it opens and passes it to every call).

    The allow-list and the catalog's origins are gathered on the first call that names a base URL,
    not when the service opens: most calls name none, and a malformed allow-list must fail those
    calls only, not the whole service (``doctor`` included).
    """

    def __init__(
        self,
        env: Mapping[str, str],
        catalog_targets: Callable[[], Iterable[Target]],
        providers: ProviderSet | None = None,
        *,
        configured_only: bool | None = None,
    ) -> None:
        self.env = env
        #: every call's base URL must be the operator's, keyless providers' too (None: as the environment says)
        self.configured_only = only_configured(env) if configured_only is None else configured_only
        self._catalog_targets = catalog_targets
        # The service's own providers when there is one: the endpoint that will be called is the one asked.
        self._providers = providers
        self._operator: Prefixes | None = None

    def _prefixes(self) -> Prefixes:
        """The base URLs of the allow-list and the catalog, per provider. A ConfigError is not cached: every
        call that names a base URL reports it."""
        if self._operator is None:
            configured = allowed_origins(self.env)
            for t in self._catalog_targets():
                at = self._api_root(t) if t.base_url else None
                if at is not None:
                    configured.setdefault(t.provider, set()).add(at)
            self._operator = configured
        return self._operator

    def _api_root(self, target: Target) -> Prefix | None:
        """Where ``target``'s requests go below, as its provider reads its base URL: ``http://localhost:11434``
        is Ollama's ``/v1`` API; Azure's Target URI is its resource's root."""
        endpoint = self._endpoint(target.provider)
        url = target.base_url
        if endpoint is not None:
            try:
                url = getattr(endpoint, "resource_root", endpoint.base_url)(target)
            except Exception:  # no endpoint configured (compat, azure): only a base URL of its own says where
                pass
        return prefix(url) if url else None

    def _endpoint(self, provider: str) -> Any:
        """``provider``'s HTTP endpoint; None for one that has none (fake)."""
        if self._providers is None:
            from .providers import ProviderSet  # (the registry and its transport: not for the allow-list's check)

            self._providers = ProviderSet(self.env, None)  # type: ignore[arg-type]  # constructors do no I/O
        return getattr(self._providers.get(provider), "endpoint", None)

    def called_at(self, target: Target) -> str | None:
        """The base URL a call to ``target`` goes to, as its provider reads it (``http://localhost:11434`` is
        Ollama's ``/v1`` API, the local default; a trailing ``/`` is no other server): two targets of one model
        with the same one are one target. Its own base URL when its provider cannot tell (none configured)."""
        endpoint = self._endpoint(target.provider)
        if endpoint is None:
            return target.base_url
        try:
            return endpoint.base_url(target).strip().rstrip("/")
        except Exception:  # no endpoint configured (compat, azure): only a base URL of its own says where
            return target.base_url

    def _configured(self, provider: str, model: str) -> tuple[bool, Prefix | None]:
        """Whether ``provider`` has a key configured, and the base URL it uses without any call override."""
        endpoint = self._endpoint(provider)
        if endpoint is None:  # not an HTTP provider (fake): no key, no URL
            return False, None
        # no endpoint configured (compat, azure): None, and only the allow-list or the catalog can admit one
        return endpoint.api_key() is not None, self._api_root(Target(provider, model))

    def _env_servers(self, provider: str) -> list[Prefix]:
        """The servers the environment names for ``provider`` besides the one its calls go to (local's
        OLLAMA_BASE_URL under a MAGSAG_LOCAL_LLM_BASE_URL): the operator's too."""
        named = getattr(self._endpoint(provider), "configured_base_urls", None)
        return [p for url in (named() if named else ()) if (p := prefix(url)) is not None]

    def check(
        self,
        targets: Iterable[tuple[Target, str]],
        confined: Iterable[str] = (),
        confined_by: Iterable[str] = (),
        refused: dict[Target, PolicyDenied] | None = None,
    ) -> None:
        """Raise :class:`PayloadError` for a call base URL that would receive a key it was not configured for,
        or, with :attr:`configured_only`, any base URL the operator did not configure; for a call of a ``confined``
        data class, :class:`PolicyDenied` (rule ``requirements``) for any such base URL.

        ``targets`` are ``(target, where)`` pairs from the call; ``where`` names the field for the message.
        ``confined_by``: the policies whose requirements confine those classes, which the refusal names.
        ``refused``, when given, receives each such policy refusal by its target instead of its being raised: the
        caller decides which end the call and which are skipped (a call's fallback is, as one a policy forbids by
        its model is).
        """
        confined = list(confined)
        pending = [(t, where) for t, where in targets if t.base_url]
        if not pending:
            return
        operator = self._prefixes()
        for target, where in pending:
            assert target.base_url is not None
            o = origin(target.base_url)
            if o is None:
                raise PayloadError(f"{where}.base_url must be an http(s) URL such as http://localhost:11434")
            has_key, base = self._configured(target.provider, target.model)
            configured = [*operator.get(target.provider, ()), *([base] if base else [])]
            configured += self._env_servers(target.provider)
            at = self._api_root(target)
            if at is not None and any(_under(at, c, loopback_aliases=not has_key) for c in configured):
                continue
            shown = f"{o[0]}://{o[1]}:{o[2]}"
            what = f"{shown} is not an endpoint configured for {target.provider}"
            if any(c[0] == o for c in configured):  # the server is, at another path (a gateway's other tenant)
                shown += masked_path(urlsplit(target.base_url.strip()).path).rstrip("/")
                what = f"{shown} is at no base URL configured for {target.provider} on that server (another path is)"
            add = f"{target.provider}={shown} to {ALLOWED_ENV} (comma-separated)"
            if confined:
                # a policy's refusal, typed, named and recorded as one of a model is (policy_denied, its rule): as
                # invalid_payload it was no refusal to `--status policy_denied` nor to policy_denied_attempts
                policies = list(dict.fromkeys(confined_by))
                # no policy's name where the classes' models came without their policies (a Python caller's plain
                # mapping as plan_call's data_class_models): said so, not left "" for a reader to take for a blank
                by = " and ".join(f"{name}.requirements" for name in policies) if policies else UNNAMED_REQUIREMENTS
                denied = PolicyDenied(
                    f"{where}.base_url: {what}, and this call's data class ({', '.join(repr(c) for c in confined)}) "
                    f"is confined by {by} to the models it names, on the servers the operator configured. To allow "
                    f"this server, add {add} or put it in the routing catalog as a target's base_url",
                    policy=policies[0] if policies else UNNAMED_REQUIREMENTS,
                    rule="requirements",
                    target=target.label,
                    provider=target.provider,
                    model=target.model,
                )
                denied.unplanned = target
                if refused is None:
                    raise denied
                refused.setdefault(target, denied)
                continue
            if has_key:
                raise PayloadError(
                    f"{where}.base_url: {what}, and magsag only sends {target.provider}'s API key to configured "
                    f"endpoints. To allow it, add {add} or put it in the routing catalog as a target's base_url",
                    provider=target.provider,
                    model=target.model,
                )
            if self.configured_only:
                raise PayloadError(
                    f"{where}.base_url: {what}, and calls here may name only the endpoints the operator configured "
                    f"({MODE_ENV}=configured, the default for magsag-mcp over HTTP: a caller must not make the server "
                    f"reach hosts only it can reach). To allow this one, the operator adds {add} or puts it in the "
                    "routing catalog as a target's base_url; to let calls name any server for a provider without a "
                    f"key (local, compat), {MODE_ENV}=any (magsag-mcp --call-base-urls any)",
                    provider=target.provider,
                    model=target.model,
                )
