"""Whether a base URL can carry a request, and how one is shown in a message: never with a user:password,
a query or a path segment shaped like a token, which may hold a secret."""

from __future__ import annotations

import functools
import ipaddress
import re
from urllib.parse import unquote, urlsplit

from ..redaction import register_call_secret, register_secret


@functools.lru_cache(maxsize=256)
def _base_url_problem(
    base: str,
    source: str = "the target's base_url",
    example: str = "https://host/v1",
    version: str = "",
    root_given: bool = False,
) -> str | None:
    """Why ``base`` cannot carry a request, or None; ``source`` names where it was set (``OPENAI_BASE_URL``),
    ``example`` what it should look like, ``version`` the API version the provider's requests' paths begin with
    (Anthropic's ``/v1``), if any; ``root_given`` as :func:`request_base_problem`'s. The URL itself is never quoted
    (it may hold a secret), but for one given without its scheme, told the URL meant (:func:`_scheme_added`)."""
    from urllib.parse import urlsplit

    parts = host = None
    try:
        parts = urlsplit(base)
        host = parts.hostname
    except ValueError:  # e.g. an unbalanced [ in the host
        pass
    fix = f"set its base URL ({source}) to e.g. {example}"
    if (meant := _scheme_added(base, root_given)) is not None:
        return f"the base URL has no scheme (http or https); did you mean {meant}? Set its base URL ({source}) to that"
    if (userinfo_said := _userinfo_without_scheme(base, source, root_given)) is not None:
        return userinfo_said
    if parts is None or parts.scheme not in ("http", "https") or not host:
        return f"the base URL is not an http(s) URL with a host; {fix}"
    if not _a_host(host):
        # urlsplit takes any text for a host: "https://api.open ai.com/v1" passed doctor, and every call failed at
        # the name lookup of "api.open ai.com" as a network error, retried, with no word of the URL
        return f"the base URL's host has {_unhost(host)} in it, which no host name has; {fix}"
    try:
        port = parts.port  # raises on a port that is no number, or past 65535
    except ValueError:
        port = 0
    if port == 0:
        return f"the base URL's port is not a number from 1 to 65535; {fix}"
    if parts.username is not None or parts.password is not None:
        return "the base URL carries user:password@, which would be sent beside the key; remove that part"
    if parts.query or parts.fragment:
        return f"the base URL has a ?query or #fragment, which would end up before the API's path; {fix}"
    if parts.scheme == "http" and _https_only(host):
        # (http's own port, named, is not https's: https://host:80 answers nothing, and the fix is to name none)
        netloc, slash, rest = base.strip().partition("://")[2].partition("/")
        secure = _shown(f"https://{netloc.removesuffix(':80') if port == 80 else netloc}{slash}{rest}")
        return (
            f"the base URL is plain http://, so the API key would cross the network unencrypted, readable on every "
            f"network on the way ({host} serves its API over https alone); set its base URL ({source}) to {secure}"
        )
    path = parts.path.rstrip("/").lower()
    if root_given:  # (the /v1 the provider added to the root it was given is none of the user's: looked past, as the
        # Ollama check does; OLLAMA_BASE_URL=http://localhost:11434/v1/chat/completions was sent .../completions/v1/...)
        path = path.removesuffix("/v1")
    ending = next((e for e in _REQUEST_PATHS if path.endswith(e)), None)
    if ending is not None:
        said = _REQUEST_PATHS[ending]
        # from the version on, where the request's path begins with one: the part before /messages is .../v1, which
        # is refused in turn (the version written twice), the part before /v1/messages the server's root
        if version and (start := path.rfind(version.lower() + "/")) != -1:
            said = version + ("" if path[start + len(version) :] == ending else "/...") + said
        return (
            f"the base URL ends with {said}, a request's own path, which magsag adds to the base URL for each "
            f"request; {fix}, the part before that path"
        )
    return None


#: the vendors' own API hosts (and Azure's resource domains), which serve their APIs over https alone: a request sent
#: to one over plain http carried the key unencrypted to every network on its way, and was only then answered with a
#: redirect (refused, see transport._refuse_redirect), the key already given away. OpenRouter's, which magsag names
#: for its keys, is one too
_HTTPS_ONLY_HOSTS = frozenset({"api.openai.com", "api.anthropic.com", "openrouter.ai"})
#: the domains below which each host is a vendor's: OpenAI's regional hosts (eu.api.openai.com, its data
#: residency's), Google's APIs (generativelanguage's, Vertex AI's aiplatform and its regions'), and Azure's resource
#: domains in each of its clouds (.us: Azure Government, .cn: Azure China; an http://RES.openai.azure.us/ sent the key
#: in clear as a .com one did) and its serverless model endpoints (NAME.REGION.models.ai.azure.com, ...inference...)
_HTTPS_ONLY_DOMAINS = (
    ".api.openai.com",
    ".googleapis.com",
    *(f".{name}.azure.{tld}" for name in ("openai", "cognitiveservices") for tld in ("com", "us", "cn")),
    ".services.ai.azure.com",
    ".models.ai.azure.com",
    ".inference.ai.azure.com",
)


def _https_only(host: str) -> bool:
    """Whether ``host`` (lower case, as urlsplit gives it) is a vendor's API host that serves https alone."""
    host = host.rstrip(".")
    return host in _HTTPS_ONLY_HOSTS or host.endswith(_HTTPS_ONLY_DOMAINS)


#: the paths below the vendors' own hosts that their base URLs end with (their defaults'), added to such a host given
#: bare: ``OPENAI_BASE_URL=api.openai.com`` means https://api.openai.com/v1
_HOST_PATHS = {"api.openai.com": "/v1", "api.anthropic.com": "", "generativelanguage.googleapis.com": ""}
#: the hosts a local server (Ollama, vLLM, LM Studio) is reached at, over plain http
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})  # (0.0.0.0: as OLLAMA_HOST is written)
_OLLAMA_PORT = 11434


def _scheme_added(base: str, root_given: bool = False) -> str | None:
    """``base`` given without its scheme (``api.openai.com``, ``localhost:11434/v1``) as the URL it was meant to be:
    https, or http for a loopback host (where local servers listen), with the vendor's path after a bare host of its
    own (:data:`_HOST_PATHS`); None where ``base`` has a scheme, or the URL made would hold what a message may not
    show (a user:password@, a query, a token-shaped path segment), name no host (a word alone) or still carry no
    request. ``root_given``: ``base`` is the server's root given with the ``/v1`` its provider adds (local's
    ``OLLAMA_BASE_URL``), and the root is what was meant."""
    text = base.strip()
    if root_given:
        text = text.removesuffix("/v1")
    if not text or "://" in text or text.startswith("/"):
        return None
    try:
        given = urlsplit(f"//{text}")
        host, port = given.hostname, given.port
    except ValueError:
        return None
    # a word alone ("not-a-url", Azure's resource name "myres") is no host anyone meant: told the URL's shape instead
    if not host or ("." not in host and ":" not in host and host not in _LOOPBACK_HOSTS and port is None):
        return None
    # http for a loopback host, or Ollama's port (a GPU box on the LAN), where local servers listen
    meant = f"{'http' if host in _LOOPBACK_HOSTS or port == _OLLAMA_PORT else 'https'}://{text}"
    if not urlsplit(meant).path.strip("/"):
        meant = meant.rstrip("/") + _HOST_PATHS.get(host, "")
    try:
        parts = urlsplit(meant)
        clean = parts.username is None and parts.password is None and not parts.query and not parts.fragment
    except ValueError:
        return None
    if not clean or _shown(meant) != meant or _base_url_problem(meant) is not None:
        return None
    return meant


def _userinfo_without_scheme(base: str, source: str, root_given: bool) -> str | None:
    """What to write for ``base`` given without its scheme and with a ``user:password@`` before its host
    (``me:pw@gw.example.com/v1``), which urlsplit reads as the scheme ``me``: told "not an http(s) URL with a host",
    the user was shown no way out. Said without the user:password (it may be a secret): the URL meant without it where
    :func:`_scheme_added` can make one, else its shape. None for any other ``base``."""
    text = base.strip()
    if not text or "://" in text or text.startswith("/"):
        return None
    netloc, slash, rest = text.partition("/")
    userinfo, at, host_part = netloc.rpartition("@")
    if not at or not userinfo or not host_part:
        return None
    said = (
        "the base URL has no scheme (http or https), and a user:password@ before its host (not shown here: it may be "
        "a secret), which a request would send beside the key"
    )
    if (meant := _scheme_added(host_part + slash + rest, root_given)) is not None:
        return f"{said}; did you mean {meant}? Set its base URL ({source}) to that"
    return (
        f"{said}; set its base URL ({source}) to https:// (http:// for a local server) followed by the host and path, "
        "with no user:password@"
    )


@functools.lru_cache(maxsize=256)
def request_base_problem(
    base: str, request_path: str, source: str, example: str, root_given: bool = False
) -> str | None:
    """Why ``base`` cannot carry a request to ``request_path`` below it: :func:`_base_url_problem`,
    :func:`_models_path`, :func:`_version_twice` or :func:`_ollama_api_path`; None when it can. ``root_given``:
    ``source`` names the server's root, to which the provider adds ``/v1`` itself (local's ``OLLAMA_BASE_URL``). Asked
    before each attempt, and by ``magsag doctor`` and ``magsag catalog validate`` of the same URLs, which must say what
    calls do. Cached, as the answer depends on nothing else: a target with a base URL of its own (a gateway's in
    routing, a call's) is not remembered as ready, and its URL was parsed again before every attempt for the version
    check."""
    version = _leading_version(request_path)
    return (
        _base_url_problem(base, source, example, version, root_given)
        or _models_path(base, request_path, version, source, example)
        or _version_twice(base, version, source, example)
        or _ollama_api_path(base, source, root_given)
    )


#: the request paths of Ollama's own API (lower case), which magsag does not speak: it calls the OpenAI API Ollama
#: serves below /v1. Pasted from Ollama's curl examples (``http://localhost:11434/api/chat``), every request went to
#: ``/api/chat/responses`` (or ``/api/chat/v1/...``), a 404 said as ``model_not_found``, while doctor said ready.
_OLLAMA_PATHS = ("/api/chat", "/api/generate", "/api/embeddings", "/api/embed")


def _ollama_api_path(base: str, source: str, root_given: bool) -> str | None:
    """Why ``base`` is a request's URL of Ollama's own API, or None; ``root_given`` as :func:`request_base_problem`'s
    (the ``/v1`` such a provider added to the pasted URL is looked past)."""
    path = urlsplit(base).path.rstrip("/").lower()
    ending = next((p for p in _OLLAMA_PATHS if path.removesuffix("/v1").endswith(p)), None)
    if ending is None:
        return None
    said = (
        f"the base URL ends with {ending}, a request's path of Ollama's own API, which magsag does not call "
        "(it calls the OpenAI API Ollama serves below /v1"
    )
    if root_given:
        return (
            f"{said}, which it adds to the server's root); set its base URL ({source}) to the server's root, the part "
            f"before {ending}, e.g. http://localhost:11434"
        )
    return (
        f"{said}); set its base URL ({source}) to the part before {ending} followed by /v1, "
        "e.g. http://localhost:11434/v1"
    )


def _leading_version(request_path: str) -> str:
    """The API version ``request_path`` begins with (``/v1`` of Anthropic's ``/v1/messages``), or ''."""
    version = "/" + request_path.lstrip("/").split("/", 1)[0]
    return version if _A_VERSION.fullmatch(version) else ""


#: a base URL's path ending with an API version's models, or one model below them (``/v1beta/models``,
#: ``/v1/models/gpt-4o``): the URL of a vendor's model list, or a model's, pasted as a base URL
_MODELS_END = re.compile(r"(/v\d+(?:alpha|beta)?\d*)/models(/[^/]+)?$")


def _models_path(base: str, request_path: str, version: str, source: str, example: str) -> str | None:
    """Why ``base`` ends with the API's models (``GEMINI_BASE_URL=https://generativelanguage.googleapis.com/v1beta/
    models``, pasted from Gemini's docs; ``OPENAI_BASE_URL=.../v1/models``, the model list's URL), or None: every
    request went to ``.../v1beta/models/v1beta/models/...``, a 404 said as ``model_not_found``, while ``magsag
    doctor`` called the provider ready (no request path of its own, nor a version, ends such a URL). The part named is
    from the version on where the provider's requests begin with one (their base URL is the server's root), from
    ``/models`` on where the base URL holds the version (OpenAI's)."""
    parts = urlsplit(base)
    found = _MODELS_END.search(parts.path.rstrip("/").lower())
    if found is None:
        return None
    # (a model's name, after /models, is not quoted: said as "...", as the URL is never quoted)
    said = (found.group(1) if version else "") + "/models" + ("/..." if found.group(2) else "")
    gateway = "" if parts.hostname == _example_host(example) else f", or for this host, the part before {said}"
    # the request's path shown to its second segment: the model's name after it is the one asked, not the call's
    # (`magsag doctor` asks for a model named "doctor")
    shape = request_path.split("/")
    request = "/".join(shape[:3]) + ("/..." if len(shape) > 3 else "")
    return (
        f"the base URL ends with {said}, a path of the API's models (a model list's or a model's URL), below which "
        f"magsag adds each request's own path itself (it would go to ...{said}{request}); set its base URL "
        f"({source}) to e.g. {example}{gateway}"
    )


def _version_twice(base: str, version: str, source: str, example: str) -> str | None:
    """Why ``base`` sends each request to its API version twice over, or None: Anthropic's and Gemini's requests'
    paths begin with their version (``/v1/messages``, ``/v1beta/models/...``), which their base URL, the server's root,
    leaves out; ``ANTHROPIC_BASE_URL=https://api.anthropic.com/v1``, as OpenAI's base URL is written, sent every
    request to ``/v1/v1/messages``, a 404 said as ``model_not_found``, while ``magsag doctor`` called it ready."""
    if not version:
        return None
    parts = urlsplit(base)
    last = "/" + parts.path.rstrip("/").lower().rpartition("/")[2]
    if last != version.lower() and not _A_VERSION.fullmatch(last):
        return None
    # a gateway's or proxy's URL (https://proxy.example.com/gemini/v1) was told to be the vendor's own root, which
    # goes round the gateway: its fix is its own URL without the version (said, not quoted: it may hold a secret)
    gateway = "" if parts.hostname == _example_host(example) else f", or for this host, the part before {last}"
    if last == version.lower():
        return (
            f"the base URL ends with {version}, which magsag adds itself to each request's path (it would go to "
            f"...{version}{version}/...); set its base URL ({source}) to e.g. {example}{gateway}"
        )
    # another version (GEMINI_BASE_URL=.../v1, Gemini's stable API, where magsag calls v1beta): /v1/v1beta/models
    # is no path of any server, a 404 said as model_not_found while doctor said ready
    return (
        f"the base URL ends with {last}, an API version, and magsag adds the one it calls ({version}) to each "
        f"request's path itself (it would go to ...{last}{version}/...); set its base URL ({source}) to e.g. "
        f"{example}{gateway}"
    )


_A_VERSION = re.compile(r"/v\d+(?:alpha|beta)?\d*")


def _example_host(example: str) -> str | None:
    """The host of a provider's example base URL, which may be followed by words (Gemini's "https://generativelanguage
    .googleapis.com (the server's root, without /v1beta)", whose host read whole was no host, so that Google's own URL
    was told the gateway's fix, "or for this host, the part before /v1")."""
    return urlsplit(example.split(" ", 1)[0]).hostname


#: the paths a provider adds to its base URL for a request, as a base URL's path ends with one (lower case): OpenAI's
#: and the compatible servers' Chat Completions, Responses and completions, Anthropic's Messages, Gemini's
#: generateContent. A base URL ending in one is a request's whole URL, pasted from a vendor's curl example
#: (``OPENAI_BASE_URL=https://api.openai.com/v1/chat/completions``): every request went to that path twice over, a 404
#: said as ``model_not_found``, while ``magsag doctor`` called the provider ready.
_REQUEST_PATHS = {
    "/chat/completions": "/chat/completions",
    "/completions": "/completions",
    "/responses": "/responses",
    "/messages": "/messages",
    ":generatecontent": ":generateContent",
    ":streamgeneratecontent": ":streamGenerateContent",
}


#: what no host name nor IP address holds (a URL's host, as urlsplit gives it): spaces and controls, and the
#: characters URLs forbid in a host (WHATWG's "forbidden host code points", and a % that is no percent-escape)
_NOT_IN_A_HOST = frozenset(" #%/:<>?@[\\]^|\"{}`'")


def _a_host(host: str) -> bool:
    if ":" in host:  # an IPv6 address, which the URL gave in [brackets]
        try:
            ipaddress.IPv6Address(host)
            return True
        except ValueError:
            return False
    return not any(_not_in_a_host(c) for c in host)


def _not_in_a_host(char: str) -> bool:
    return char in _NOT_IN_A_HOST or char.isspace() or not char.isprintable()


def _unhost(host: str) -> str:
    """The first character of ``host`` that no host has, named (the URL is never quoted: it may hold a secret)."""
    char = next(c for c in host if _not_in_a_host(c))
    if char == " ":
        return "a space"
    return (
        f"a control character or space (U+{ord(char):04X})" if not char.isprintable() or char.isspace() else repr(char)
    )


def _shown(url: str, model: str | None = None) -> str:
    """``url`` for a message: without a user:password, should it hold one, a query, or a path segment shaped
    like a token (a gateway's, taken in the path); a segment naming ``model`` stays."""
    from ..types import masked_path

    where = urlsplit(url)
    return f"{where.scheme}://{where.netloc.rpartition('@')[2]}{masked_path(where.path, model)}"


def register_path_tokens(base: str, model: str | None = None, *, by_call: bool = False) -> None:
    """Make each segment of base URL ``base``'s path shaped like a token (a gateway's, which it takes in the path)
    known to :func:`~magsag_mcp.errors.redact`, as written and percent-decoded: :func:`_shown` hides it in the
    URLs that messages name, and a server that echoes the path it was asked ("Cannot POST /<token>/v1/...", a 502
    page's title) must not bring it back in its own words. A segment naming ``model`` is the caller's, and shown.

    ``by_call``: ``base`` is a target's own (a call's ``model_config.base_url``, or a routing target's), not the
    provider's configured one: its segments are hidden in the call that sends to it, not made secrets of the
    process. A caller naming ``http://localhost:11434/v1/claude-3-5-sonnet-20241022`` made that model's name a
    secret, and every later call naming the model was refused as holding a key.

    A segment taken for a token by its length alone (:func:`~magsag_mcp.types.token_by_length_alone`: a gateway's
    name run together, ``/mycompanyinternalgateway/v1``, a Vertex endpoint's 19 digits) is hidden in the process's
    messages, records and logs, but not taken from a model's answer: registered as a key, an answer naming the
    gateway (or any 12 of its letters) lost the name."""
    register = register_call_secret if by_call else register_secret
    for segment, in_answers in _path_tokens(base, model):
        register(segment, in_answers=in_answers)


@functools.lru_cache(maxsize=256)
def _path_tokens(base: str, model: str | None) -> tuple[tuple[str, bool], ...]:
    """The segments :func:`register_path_tokens` registers, as written, percent-decoded and as sent: the HTTP
    client writes a segment's escapes in upper case and escapes what a path may not hold (``%2b`` goes as ``%2B``,
    ``|`` as ``%7C``), and a server quoting the path it was sent showed the token in neither of the other forms.
    Each with whether it is taken from a model's answer too (see :func:`register_path_tokens`)."""
    from ..types import path_tokens, token_by_length_alone

    try:
        path = urlsplit(base).path
    except ValueError:  # no URL: nothing is sent to it
        return ()
    return tuple(
        (form, not token_by_length_alone(segment))
        for segment in path_tokens(path, model)
        for form in dict.fromkeys((segment, unquote(segment), _as_sent(segment)))
    )


def _as_sent(segment: str) -> str:
    """``segment`` of a base URL's path as aiohttp (yarl) writes it on the wire."""
    from yarl import URL

    try:
        return URL(f"http://host/{segment}").raw_path[1:]
    except ValueError:
        return segment
