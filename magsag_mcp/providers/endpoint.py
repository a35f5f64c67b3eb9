"""The endpoint half of a provider: where an API lives and how to authenticate to it (base URL, headers, API
version). :class:`~.base.HTTPProvider` joins an :class:`Endpoint` to a :class:`~.wire_format.WireFormat`."""

from __future__ import annotations

import functools
import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from ..errors import AuthenticationError, register_secret
from ..key_placeholders import not_a_whole_key as not_a_whole_key  # (asked by name here: a test counts its calls)
from ..transport import Timeouts
from ..types import Target
from .base_urls import register_path_tokens
from .wire_format import WireFormat

#: The beginnings of keys that one issuer alone gives, what such a key is, and where it goes: a key so begun, set for
#: another vendor's own API, would cost a round trip to be refused with a 401 (and `magsag doctor` called the provider
#: ready), so it is refused before anything is sent, naming the variable it belongs in. Only beginnings that tell the
#: issuer for certain: OpenAI's older keys, like DeepSeek's and other vendors', are sk- and a random rest.
ISSUED_KEYS: tuple[tuple[str, str, str], ...] = (
    ("sk-ant-", "an Anthropic key", "ANTHROPIC_API_KEY"),
    ("sk-proj-", "an OpenAI project key", "OPENAI_API_KEY"),
    ("sk-svcacct-", "an OpenAI service account's key", "OPENAI_API_KEY"),
    ("AIza", "a Google API key", "GEMINI_API_KEY"),
    ("sk-or-", "an OpenRouter key", "MAGSAG_COMPAT_API_KEY, with MAGSAG_COMPAT_BASE_URL=https://openrouter.ai/api/v1"),
)


#: what a key is found wrapped in where a key variable is set from a file or a header: its quotes (a line
#: ``OPENAI_API_KEY="sk-..."`` of a file read as it is, by Docker's ``--env-file`` or a service manager, keeps them in
#: the value, and so does an MCP client's JSON written ``"\"sk-...\""``) or an Authorization header's scheme
#: (``Bearer sk-...``, copied from a curl command such as the guide's: magsag writes the scheme itself). No vendor's key
#: holds a quote or a space, so sent as it is the key cost a round trip to be refused with a 401, and ``magsag doctor``
#: called the provider ready. So for a key copied from a page or a chat that curls its quotes (sent as UTF-8), and for
#: a curl command's whole header line (``Authorization: Bearer sk-...``, ``x-api-key: sk-ant-...``): no key holds
#: one of those names followed by a colon.
#: the vendors' own headers that carry a key (Anthropic's, Azure's, Gemini's), as a curl command's line names one
_KEY_HEADERS = r"x-api-key|api-key|x-goog-api-key"
_KEY_WRAPPINGS = (
    (re.compile(r"""\s*["'`].*|.*["'`]\s*""", re.S), "inside quotes, as a file of variables read as it is keeps them"),
    (
        re.compile(r"\s*[\u201c\u201d\u2018\u2019].*|.*[\u201c\u201d\u2018\u2019]\s*", re.S),
        "inside typographic quotes (\u201c \u201d \u2018 \u2019), as a document or a chat that curls quotes writes it",
    ),
    (
        re.compile(r"(?i)\s*(authorization\s*:\s*)?bearer\s.*", re.S),
        "after 'Bearer ', as an Authorization header writes it",
    ),
    (
        re.compile(rf"(?i)\s*({_KEY_HEADERS})\s*:.*", re.S),
        "after its header's name, as a curl command's header line writes it",
    ),
)


def key_wrapping(value: str) -> str | None:
    """How ``value``, set where a key goes, holds a key wrapped in what is not the key (:data:`_KEY_WRAPPINGS`), or
    None. Never the key itself."""
    return next((said for pattern, said in _KEY_WRAPPINGS if pattern.fullmatch(value)), None)


_QUOTES = "\"'`\u201c\u201d\u2018\u2019"
_HEADER_START = re.compile(rf"(?i)\s*(?:(?:authorization\s*:\s*)?bearer\s+|(?:{_KEY_HEADERS})\s*:)")


def unwrapped_key(value: str) -> str:
    """The key a wrapped ``value`` (:func:`key_wrapping`) holds, for :func:`~magsag_mcp.errors.redact` to know: the
    wrapping itself is no secret, and known as one, its start ("Authorization", "x-api-key") was taken out of every
    later message as a key's start, the refusal's own words among them."""
    key = value.strip().strip(_QUOTES).strip()
    return _HEADER_START.sub("", key, count=1).strip().strip(_QUOTES).strip()


class Endpoint(ABC):
    """Where an API lives and how to authenticate to it. Reads its settings from ``env``."""

    #: provider name as used in targets (``openai``, ``azure``, ...)
    provider: ClassVar[str]
    #: env var that names the key, for error messages and ``magsag doctor``
    key_env: ClassVar[tuple[str, ...]] = ()
    #: env vars that set the base URL, in the order :meth:`base_url` reads them (for error messages)
    base_url_env: ClassVar[tuple[str, ...]] = ()
    #: timeouts suited to this endpoint (local generation is slow); None: the transport's
    timeouts: Timeouts | None = None
    #: a cheap GET below the base URL that proves the endpoint answers (``magsag doctor --probe``)
    probe_path: ClassVar[str] = "/models"
    #: what the base URL should look like, for a 404 that may be a wrong URL rather than an unknown model
    base_url_hint: ClassVar[str] = ""
    #: a base URL of the right shape, for the fix of one that cannot carry a request
    base_url_example: ClassVar[str] = "https://host/v1"
    #: where the server's root is written, the provider adding its API's path itself (local's ``OLLAMA_BASE_URL``, to
    #: which ``/v1`` is added): a fix names the root for these, the whole base URL for the others
    root_sources: ClassVar[tuple[str, ...]] = ()
    #: what the base URL should look like, for a probe that found no API there (``base_url_hint`` when unset)
    probe_hint: ClassVar[str] = ""
    #: the host of the vendor's own API, which takes only the keys its vendor issued (api.openai.com); None: a server
    #: that may take any key (a gateway, a local server, an Azure resource)
    vendor_host: ClassVar[str | None] = None
    #: the variable :data:`ISSUED_KEYS` names for the keys ``vendor_host`` takes (another's are refused), and whose
    vendor_keys: ClassVar[str] = ""
    vendor_name: ClassVar[str] = ""
    #: where a missing key is to be set, as its fix says it (the stdio MCP server's names its client's configuration:
    #: see :class:`~magsag_mcp.providers.ProviderSet`)
    settings_home: str = "in the environment"
    #: the key :meth:`api_key` last found whole: the same value is not judged again (two pattern matches, before every
    #: request a target sends); a value that differs (the environment changed) is judged as any is. A class default,
    #: set on the instance once found: an endpoint of the user's own whose ``__init__`` sets ``env`` alone has it too
    _whole_key: str | None = None

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    @abstractmethod
    def base_url(self, target: Target) -> str: ...

    def sent_below(self, target: Target) -> str:
        """What of :meth:`base_url` requests are sent below, which must be a URL that can carry one: all of it, but
        for an endpoint that drops part of what it is given (Azure's, pasted as a deployment's Target URI)."""
        return self.base_url(target)

    def setting(self, name: str) -> str | None:
        """An optional setting's value without the whitespace around it; None when unset or blank."""
        return (self.env.get(name) or "").strip() or None

    def base_url_source(self, target: Target) -> str:
        """Where :meth:`base_url` took the URL from, as the fix names it: the target's or a variable."""
        if target.base_url:
            return "the target's base_url"
        for name in self.base_url_env:
            if self.setting(name):
                return name
        return "the provider's base URL"

    def unset_base_url(self) -> str | None:
        """For a fix, when no setting gave the base URL: the variable to set, and the default used meanwhile; None
        when the default is the vendor's own API (nothing to set)."""
        return None

    def api_key(self) -> str | None:
        """The first of ``key_env`` that holds a key: one of only whitespace holds none, nor hides the next, and nor
        does a placeholder (:func:`not_a_whole_key`: the guide's ``AZURE_OPENAI_API_KEY="..."`` beside an
        ``AZURE_OPENAI_AD_TOKEN``). Only when no variable holds a key is the first placeholder returned, for
        :meth:`placeholder_key` to say what is wrong with it."""
        placeholder = None
        for name in self.key_env:
            value = self.env.get(name)
            if value and not value.isspace():
                if value != self._whole_key:
                    if not_a_whole_key(value) or key_wrapping(value) is not None:
                        placeholder = placeholder or value
                        continue
                    try:
                        self._whole_key = value
                    except AttributeError:  # (an endpoint of the user's own that takes none, a frozen dataclass:
                        pass  # its key is judged before each request, as it was before the key was remembered)
                # A key that goes on the wire may come back in an error body (servers echo it): make sure
                # redact() knows it verbatim even when the provider is used without a Service.
                register_secret(value)
                return value
        # (a key shortened for display is a real key's start and end; a wrapped key, only what is inside is a secret)
        register_secret(unwrapped_key(placeholder) if placeholder and key_wrapping(placeholder) else placeholder)
        return placeholder

    def require_key(self, model: str) -> str:
        key = self.api_key()
        if not key:
            names = " or ".join(self.key_env)
            blank = [n for n in self.key_env if self.env.get(n)]  # set, but only whitespace
            why = f"{' and '.join(blank)} {'is' if len(blank) == 1 else 'are'} blank" if blank else "no API key"
            # the variables to set, as a field (not only words of the message): a skip copies it, and the CLI's
            # summary of a call none of whose targets has a key names them from it (cli/error_summary.py). Not where
            # one is blank: that message says which, which the summary's short form would leave out
            missing = AuthenticationError(
                f"{self.provider}: {why}; set {names} {self.settings_home}", provider=self.provider, model=model
            )
            if not blank:
                missing.details["key_variables"] = list(self.key_env)
            raise missing
        # the key just read, judged: placeholder_key() would read every variable again (before every attempt); the
        # key found whole is none (api_key returns a placeholder only when no variable holds a whole key)
        if key != self._whole_key and (problem := self._placeholder_problem(key)):
            raise AuthenticationError(problem, provider=self.provider, model=model)
        return key

    def placeholder_key(self) -> str | None:
        """What is wrong with a key variable that holds a placeholder (:func:`not_a_whole_key`), or None."""
        return self._placeholder_problem(self.api_key())

    def _placeholder_problem(self, key: str | None) -> str | None:
        """:meth:`placeholder_key` of ``key``, what :meth:`api_key` returned."""
        # the key api_key() found whole was judged then: asked again before every attempt of a target with its own
        # base URL, it cost the placeholders' pattern and both wrappings' each time
        if key is None or key == self._whole_key:
            return None
        name = next(n for n in self.key_env if self.env.get(n) == key)
        # where the value was set, when that is not the environment the user set it in themselves: the stdio server's
        # client configuration, whose example's "sk-your-openai-key" is the placeholder most often left in place
        where = "" if self.settings_home == Endpoint.settings_home else f" {self.settings_home}"
        if not not_a_whole_key(key):
            wrapping = key_wrapping(key)
            return wrapping and (
                f"{self.provider}: {name} holds the key {wrapping}: sent so, it would be refused as no key; set "
                f"{name} to the key alone{where}"
            )
        # never quoted: it may be a real key's start, as a dashboard shows it
        return (
            f"{self.provider}: {name} holds a placeholder ('...' or 'your-...', as examples write a key, or a key "
            f"shortened for display), not a key; set {' or '.join(self.key_env)} to your whole API key{where}"
        )

    def foreign_key(self, target: Target, *, with_fix: bool = True) -> str | None:
        """What is wrong with a key another vendor issued (:data:`ISSUED_KEYS`), set for this vendor's own API, where
        ``target``'s calls go to it, and (``with_fix``) where to put each key; None for any other key, or a base URL
        elsewhere (a gateway or a vendor's OpenAI-compatible API may take it). The key is never quoted, only the
        beginning every key of its kind has."""
        if self.vendor_host is None or not (key := self.api_key()):
            return None
        issued = next((i for i in ISSUED_KEYS if key.startswith(i[0])), None)
        if issued is None or issued[2] == self.vendor_keys:
            return None
        if urlsplit(self.sent_below(target)).hostname != self.vendor_host:
            return None
        prefix, what, home = issued
        name = next(n for n in self.key_env if self.env.get(n) == key)
        said = (
            f"{self.provider}: {name} holds {what} (it begins {prefix}), which {self.vendor_name}'s API "
            f"({self.vendor_host}) refuses"
        )
        return f"{said}; set {name} to your {self.vendor_name} key, and put this one in {home}" if with_fix else said

    @abstractmethod
    def headers(self, model: str) -> dict[str, str]: ...

    def answer_headers(self) -> dict[str, str]:
        """The headers :meth:`headers` sends that change what the vendor answers (an API version, a beta feature),
        which the answer cache's key holds (see :func:`~magsag_mcp.answer_cache.request_key`): never a key, nor
        what only says who pays (an organization, a project). None here."""
        return {}

    def header_problem(self) -> str | None:
        """What is wrong with a setting :meth:`headers` sends beside the key (an organization id, an API version),
        naming its variable and the fix, or None: refused before a request, and ``magsag doctor``'s problem."""
        return None

    def auth_hint(self) -> str:
        """What to check when the vendor answers 401: the variable whose key was sent (never the key)."""
        key = self.api_key()
        name = next((n for n in self.key_env if key is not None and self.env.get(n) == key), None)
        if name is None:  # a server whose key is optional (compat, local)
            return f"no key was sent: set {' or '.join(self.key_env)}" if self.key_env else ""
        return f"check {name}, whose key was sent"

    def url(self, wire: WireFormat, target: Target, *, stream: bool) -> tuple[str, dict[str, str]]:
        params = wire.stream_params() if stream else {}
        base = self.base_url(target)
        # a server may echo the path it was asked in its error
        register_path_tokens(base, target.model, by_call=target.base_url is not None)
        return base.rstrip("/") + wire.path(target.model, stream=stream), params

    def origin(self, target: Target) -> str:
        """Who answers ``target``'s calls: the provider and its base URL, as a digest (it rides in results, and a
        URL may hold a gateway's token). What one answer hands back for a later turn (encrypted reasoning) only
        the same one can read: another resource, account or vendor refuses it."""
        where = f"{self.provider} {self.base_url(target).rstrip('/')}"
        return hashlib.sha256(where.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    def probe_url(self, target: Target) -> str:
        """Where :meth:`HTTPProvider.probe` GETs: ``probe_path`` below the base URL."""
        base = self.base_url(target)
        register_path_tokens(base, target.model, by_call=target.base_url is not None)
        return base.rstrip("/") + self.probe_path

    def says_its_bill(self, url: str) -> bool:
        """Whether an answer from ``url`` is taken at its word on what it billed (``usage.cost``, read as OpenRouter
        defines it: USD charged, plus the upstream cost with the caller's own key): OpenRouter's API, and a host the
        operator names in ``MAGSAG_BILLED_COST_HOSTS`` (a gateway passing OpenRouter's usage on). Any other server's
        ``cost`` means what it likes (credits, cents, an estimate), or is what a caller's own server chose to say."""
        return _bills_itself(url, self.setting(BILLED_COST_HOSTS_ENV) or "")

    def describe(self) -> dict[str, Any]:
        """What ``magsag doctor`` shows: never the key itself. ``base_url``: where its calls go, as a trace shows a URL
        (no user:password@, ?query or token-shaped path segment), or None where none is set (``unavailable`` says
        what to set): a user who set ``OLLAMA_HOST`` or ``OPENAI_BASE_URL`` could not tell which server was used."""
        from ..errors import MagsagError
        from ..redaction import redact
        from ..types import _without_credentials

        try:
            url: str | None = redact(_without_credentials(self.sent_below(Target(self.provider, ""))))
        except MagsagError:
            url = None
        return {"key_env": list(self.key_env), "key_set": self.api_key() is not None, "base_url": url}


#: the hosts, besides OpenRouter's, whose answers' ``usage.cost`` is taken as what the call cost (comma-separated)
BILLED_COST_HOSTS_ENV = "MAGSAG_BILLED_COST_HOSTS"
#: the API whose ``usage.cost`` the usage parser reads (:func:`~.openai_usage._billed`), by its documented meaning
_OPENROUTER = "openrouter.ai"


@functools.lru_cache(maxsize=64)
def _bills_itself(url: str, named: str) -> bool:
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    if host == _OPENROUTER or host.endswith("." + _OPENROUTER):
        return True
    return host in {h.strip().lower() for h in named.split(",") if h.strip()}
