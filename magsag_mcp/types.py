"""The one request shape every provider takes and the one result shape every provider returns.

Plain slotted dataclasses rather than pydantic models: these are built and read on the hot path of
every call, and they are never parsed from untrusted input (the catalog and tool arguments are
validated by pydantic before they become these).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

# (Usage, an answer's token counts, is token_usage.py's: imported here, where every module has taken it from)
from .token_usage import Usage as Usage

if TYPE_CHECKING:  # (they name this module's Literals)
    from .result_dicts import ToolCallDict

Role = Literal["user", "assistant", "tool"]


@dataclass(slots=True)
class ToolCall:
    """A function call the model asked for. ``arguments`` is already parsed from JSON."""

    id: str
    name: str
    arguments: dict[str, Any]
    #: Gemini's ``thoughtSignature`` for the call (opaque): Gemini 3 refuses a follow-up whose history
    #: lost it, so it goes back with the call; also Claude's thinking blocks and OpenAI's reasoning items
    #: (Responses API) before the call, each marked as its vendor's
    signature: str | None = None

    def to_dict(self) -> ToolCallDict:
        out: ToolCallDict = {"id": self.id, "name": self.name, "arguments": self.arguments}
        if self.signature is not None:
            out["signature"] = self.signature
        return out


@dataclass(slots=True, frozen=True)
class Image:
    """A picture in a user message, as the caller gave it: its bytes (``data``, base64, of ``media_type``) or an https
    ``url`` the vendor fetches (never the router). ``width`` and ``height`` are read from the bytes' header (None for a
    URL): they bound the tokens the picture is billed as (:mod:`~magsag_mcp.images`)."""

    media_type: str | None = None
    data: str | None = None
    url: str | None = None
    #: OpenAI's ``detail`` ("auto", "low", "high"), sent to the OpenAI formats; None where the caller gave none
    detail: str | None = None
    width: int | None = None
    height: int | None = None

    def as_url(self) -> str:
        """The picture as the OpenAI formats take it: its https URL, or its bytes as a data URL."""
        return self.url if self.url is not None else f"data:{self.media_type};base64,{self.data}"


@dataclass(slots=True)
class Message:
    """One turn of the conversation. The system prompt is not a message: see ``LLMRequest.system``.

    - ``user``: ``content`` is the text; ``parts`` its texts and pictures in order, where it holds any.
    - ``assistant``: ``content`` and/or ``tool_calls``.
    - ``tool``: the result of a tool call: ``tool_call_id``, ``name`` (the function's name, which
      Gemini needs), ``content`` (a string, usually JSON) and ``is_error`` (the call failed); ``parts`` its
      texts and pictures in order, where it holds a picture (a screenshot tool's).
    """

    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    #: a ``tool`` message's result is the tool's failure (Anthropic's ``is_error``, MCP's ``isError``), not its output
    is_error: bool = False
    #: a user message's (or a tool result's) content in its order, texts and pictures, where it holds a picture
    #: (``content`` is then its texts joined, which what reads text alone reads); empty for a message of text alone
    parts: tuple[str | Image, ...] = ()
    #: an assistant turn's content blocks as its vendor wrote them, sent back as they came: a turn Claude paused
    #: (``LLMResult.paused``), whose server_tool_use and web_search_tool_result blocks the API continues from only when
    #: they come back exactly (``content`` is then their text joined). Only the Messages API's wire sends them
    blocks: tuple[dict[str, Any], ...] = ()

    @property
    def images(self) -> list[Image]:
        return [part for part in self.parts if isinstance(part, Image)]


@dataclass(slots=True)
class ToolSpec:
    """A function the model may call; ``parameters`` is a JSON Schema object."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    #: the call's arguments must fit ``parameters``: OpenAI is asked to hold them to it (``strict: true``), and
    #: every answer's are checked against it
    strict: bool = False


ToolChoice = Literal["auto", "none", "required"] | dict[str, str] | None
"""``"auto"``, ``"none"``, ``"required"`` (some tool), or ``{"name": "fn"}`` (that tool)."""


@dataclass(slots=True)
class LLMRequest:
    messages: list[Message]
    system: str | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: ToolChoice = None
    json_output: bool = False
    json_schema: dict[str, Any] | None = None
    json_schema_name: str = "output"
    #: ``json_schema`` compiled by whoever owns it (a skill compiles its own once), so checking the
    #: answer does no compiling or cache lookup per call; used only while its ``.schema`` *is* json_schema
    json_validator: Any = field(default=None, repr=False, compare=False)
    max_tokens: int | None = None
    temperature: float | None = None
    stop: list[str] | None = None
    #: stream the answer (SSE); the router turns it on for long generations
    stream: bool = False
    #: further vendor parameters passed through untouched (top_p, seed, ...)
    extra: dict[str, Any] = field(default_factory=dict)
    #: the call asked OpenAI's structured outputs to hold the answer to ``json_schema`` (``strict: true``); the
    #: answer is checked against the schema either way
    json_schema_strict: bool = False
    #: what the answer to ``json_schema`` is for (``response_format.json_schema.description``), which the model reads
    json_schema_description: str | None = None
    #: False where the call's ``response_format.json_schema`` named no ``schema`` (a name alone, which OpenAI's
    #: API takes as any JSON object): ``json_schema`` is then ``{"type": "object"}``, which the wires that require a
    #: schema are sent, and the Chat Completions of OpenAI and Azure get the name alone, as it was given
    json_schema_given: bool = True

    def needs(self) -> set[str]:
        """Features a target must support to serve this request."""
        feats: set[str] = set()
        if self.tools:
            feats.add("tools")
        if self.json_schema is not None:
            feats.add("json_schema")
        elif self.json_output:
            feats.add("json")
        # (nested loops, not a generator over the messages: a generator is a frame of its own, made on every
        # call, and almost no message has parts)
        for m in self.messages:
            if not m.parts:
                continue
            for image in m.images:
                if image.url is not None:
                    feats.add("image_urls")
                elif image.media_type == "image/gif":
                    feats.add("gif_images")
        return feats


FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "other"]

#: where a call's target came from (Candidate.source); "provider_default" is routing's provider_defaults, for a vendor
#: that MAGSAG_PROVIDER (or a call naming only a provider) named where neither the route nor the default chain names a
#: model of its own
TargetSource = Literal["call", "env", "tier", "route", "default", "data_class", "provider_default"]


@dataclass(slots=True)
class LLMResult:
    text: str
    provider: str
    model: str
    usage: Usage = field(default_factory=Usage)
    tool_calls: list[ToolCall] = field(default_factory=list)
    #: the parsed JSON document when JSON output was asked for
    parsed: Any = None
    finish_reason: FinishReason = "stop"
    latency_ms: float = 0.0
    warnings: list[str] = field(default_factory=list)
    response_id: str | None = None
    #: the wire said in ``warnings`` why the answer stopped at "length" (Claude's context window): the
    #: generic note that max_tokens cut it would be wrong beside it
    stop_explained: bool = False
    #: a turn the API paused (Claude's ``stop_reason`` "pause_turn", a long run of server tools): the assistant turn
    #: to send back as-is in a follow-up request, its content blocks whole (:attr:`Message.blocks`), for the model to
    #: go on from where it paused. None for every other answer
    paused: Message | None = None
    #: the code execution container the answer ran in (Claude's ``container.id``), which a continuation of its paused
    #: turn names to go on in the same one; None where the answer names none
    container: str | None = None
    #: how many times the API paused this answer's turn (``pause_turn``), each continued by another request of its own
    #: (see cascade_paused.py) but a last one still paused (``paused`` set then); 0 for an answer never paused
    pauses: int = 0


#: parameter names that hold a credential (``api_key``, ``gateway_auth``, ``x-access-token``, ...);
#: not ``max_tokens``, nor a cache's key (OpenAI's ``prompt_cache_key``, a tenant's or user's id): shown, and
#: never made known to redact(), which would take its words out of every message and refuse a name holding them
_CREDENTIAL_PARAM = re.compile(
    r"api[-_]?key|secret|passw|credential|auth|bearer|signature|access[-_]?token|(^|[-_])(token|(?<!cache[-_])key)$",
    re.IGNORECASE,
)


@dataclass(slots=True, frozen=True)
class Target:
    """One place a call can go: a provider, a model, and optional endpoint and parameters."""

    provider: str
    model: str
    base_url: str | None = None
    params: tuple[tuple[str, Any], ...] = ()

    def __hash__(self) -> int:
        # Written out: the generated hash would hash each param's value, and a value may be a dict or a
        # list (capabilities: {tools: false}, a vendor's {reasoning: {effort: ...}}), kept as given for
        # the wire. Equal targets hash alike: a dict's items in any order. Most targets have no params,
        # and calls hash their targets often (caches, the plan's sets): those skip the walk (~0.9 us).
        if not self.params:
            return hash((self.provider, self.model, self.base_url))
        return hash((self.provider, self.model, self.base_url, _frozen(self.params)))

    def __repr__(self) -> str:
        # the generated repr showed a routing file's credential param (api_key, gateway_auth, ...) and a base URL's
        # user:password@, ?query or token-shaped path segment whole, wherever a target was printed: a debugger, a
        # failed assertion, pytest's -l, a crash reporter's frame locals, a %r in a log line. Masked as to_dict
        # masks them, the params kept as the pairs they are
        base_url = None if self.base_url is None else _without_credentials(self.base_url, self.model)
        params = tuple(
            (key, "[REDACTED]" if _CREDENTIAL_PARAM.search(str(key)) else _shown_value(value))
            for key, value in self.params
        )
        return f"Target(provider={self.provider!r}, model={self.model!r}, base_url={base_url!r}, params={params!r})"

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.model}"

    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)

    def param(self, name: str, default: Any = None) -> Any:
        """One parameter (``param_dict().get(name, default)`` without building the dict: most targets
        have none, and several are read on every call)."""
        for key, value in self.params:
            if key == name:
                return value
        return default

    def to_dict(self) -> dict[str, Any]:
        """For output (traces, ``explain_route``): a routing file's target can carry a gateway's
        credential in a parameter or its URL, and none of that may reach a result."""
        data: dict[str, Any] = {"provider": self.provider, "model": self.model}
        if self.base_url or self.params:
            from .errors import redact, redact_values

            if self.base_url:
                data["base_url"] = redact(_without_credentials(self.base_url, self.model))
            if self.params:
                data["params"] = redact_values(shown_params(dict(self.params)))
        return data


def shown_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` for output: the value of each credential param (``api_key``, ``gateway_auth``...) is ``[REDACTED]``,
    at any depth, as :func:`~magsag_mcp.targets.parse_target` registers them ("all under one" included). Masked at the
    top only, a short one under another param (``{gateway: {password: letmein}}``), too short to be told from a
    setting and so not known to redact(), was shown whole in traces and explain_route.

    A key longer than any name (params are free-form: a caller's key may be a megabyte) is said by its length
    (:func:`~magsag_mcp.text.shown_key`), as every other over-long text a caller sent is: written whole, it was
    every call's trace. Two such keys of one length are told apart by their order (``#2``)."""
    from .text import shown_key

    shown: dict[str, Any] = {}
    for k, v in params.items():
        name = str(k)
        label = shown_key(name)
        if label in shown:  # two over-long keys of one length, or two keys one as text (1 and '1' in YAML)
            label = _told_apart(label, label != name, shown)
        shown[label] = "[REDACTED]" if _CREDENTIAL_PARAM.search(name) else _shown_value(v)
    return shown


def _told_apart(label: str, shortened: bool, shown: Mapping[str, Any]) -> str:
    """``label`` numbered by its order among the keys ``shown`` already has: ``(a key of 300 characters, #2)`` for a
    key said by its length, ``1 (#2)`` for one written as another is (a YAML mapping's ``1`` and ``'1'``, both
    ``"1"`` as text). The number went inside the last character of any label: ``1`` became ``, #2)``."""
    n = 2
    while (numbered := f"{label[:-1]}, #{n})" if shortened else f"{label} (#{n})") in shown:
        n += 1
    return numbered


def _shown_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return shown_params(value)
    if isinstance(value, list | tuple):
        return [_shown_value(v) for v in value]
    return value


#: a path segment shaped like a credential: 16 characters or more (percent-decoded), mixing at least two
#: of digits, lower and upper case: a gateway's token in the path (``/v1/<token>/openai``), an account's
#: id or a hex or base64 key. Words and API names (``openai``, ``generativelanguage``, ``v1beta``) are kept.
#: So is one of digits alone (16 or more: a numeric token; no API's path has a number that long), or of letters in
#: one case alone and nothing else, no ``-``, ``_`` or ``.`` between words (:data:`_ONE_CASE_MIN` or more: a token
#: of a lower case alphabet, a passphrase run together): kept, such a key in a gateway's path was shown whole in a
#: target's repr, traces and messages, and written to the ledger's endpoint column
_TOKEN_MIN = 16
_ONE_CASE_MIN = 24


def _looks_like_a_token(segment: str) -> bool:
    from urllib.parse import unquote

    text = unquote(segment)
    if len(text) < _TOKEN_MIN:
        return False
    if _kinds(text) >= 2:
        return True
    # (a run of one or two characters repeated, "pppp...", is filler, not a token)
    one_kind = text.isascii() and (text.isdigit() or (len(text) >= _ONE_CASE_MIN and text.isalpha()))
    return one_kind and len(set(text)) > 2


def _kinds(text: str) -> int:
    """How many of digits, lower and upper case letters ``text`` holds."""
    return sum((any(c.isdigit() for c in text), any(c.islower() for c in text), any(c.isupper() for c in text)))


def token_by_length_alone(segment: str) -> bool:
    """Whether a segment :func:`masked_path` hides (:func:`path_tokens`) is taken for a token by its length alone, of
    one kind of character (digits, or letters of one case): a gateway's name run together
    (``mycompanyinternalgateway``) as often as a token, a Vertex endpoint's id. Hidden in a URL shown, it is no key
    that a model's answer naming it loses (see :func:`~magsag_mcp.providers.base_urls.register_path_tokens`)."""
    from urllib.parse import unquote

    return _kinds(unquote(segment)) < 2


def masked_path(path: str, model: str | None = None) -> str:
    """``path`` with each segment shaped like a credential replaced by ``[REDACTED]`` (see above): a URL's path
    is shown in traces, explain_route and messages, and some gateways take their token there. A segment that
    is ``model`` (an Azure deployment, Gemini's ``models/NAME:generateContent``) is the caller's own, and a
    404's message must show it."""
    if len(path) < _TOKEN_MIN:
        return path
    tokens = path_tokens(path, model)
    return "/".join("[REDACTED]" if s in tokens else s for s in path.split("/")) if tokens else path


def path_tokens(path: str, model: str | None = None) -> frozenset[str]:
    """The segments of ``path`` that :func:`masked_path` hides: those shaped like a credential, but ``model``'s."""
    if len(path) < _TOKEN_MIN:
        return frozenset()
    named = _model_segments(model) if model else ()
    return frozenset(s for s in path.split("/") if _looks_like_a_token(s) and not (named and _names(s, named)))


def _model_segments(model: str) -> tuple[str, ...]:
    """How a request's path spells ``model`` as one segment: whole (an Azure deployment), Gemini's name after
    its ``models/`` collection, or a part of an ``org/Name`` model a path names in pieces (a Hugging Face style
    ``/models/org/Name/v1``); as it is and percent-encoded. The model is the caller's word, never a credential."""
    from urllib.parse import quote

    forms = {model, model.partition("/")[2] if model.startswith(("models/", "tunedModels/")) else model}
    forms.update(part for part in model.split("/") if part)
    return tuple({f for form in forms for f in (form, quote(form, safe=""))})


def _names(segment: str, named: tuple[str, ...]) -> bool:
    """Whether ``segment`` is the model: exactly, or followed by Gemini's ``:verb``. Not merely holding it: the
    model is the caller's word, and a model named ``e`` would otherwise show every token with an ``e`` in it."""
    return segment in named or any(segment.startswith(n + ":") for n in named)


def _without_credentials(url: str, model: str | None = None) -> str:
    """``url`` with its user:password@, its ?query, its #fragment and each path segment shaped like a token
    replaced: each can carry a credential that is shaped like no known key (``?key=...``, ``?sig=...``,
    ``/v1/<token>/openai``), so none is shown. A segment naming ``model`` (an Azure Target URI's deployment)
    stays.

    The user:password@ is everything after ``//`` up to the last ``@``: a password may hold an unencoded ``/``,
    ``?``, ``#`` or ``@`` (a generated one often does), which a URL parser reads as the end of the host, so that
    the password was shown as the host's "port" and the start of the path."""
    from urllib.parse import urlsplit, urlunsplit

    start = url.find("//")
    head, rest = (url[: start + 2], url[start + 2 :]) if start >= 0 else ("", url)
    _, at, after = rest.rpartition("@")
    userinfo = "[REDACTED]@" if at else ""
    if start < 0:
        # no scheme:// (``me:pw@gw.example.com/v1``, which doctor shows with its problem): urlsplit took the host for
        # a path, and urlunsplit wrote the masked user:password@ after a "//" and a "/" before the host
        # (``//[REDACTED]@/gw.example.com/v1``); shown as it was written, its credentials masked
        return userinfo + _unparsed(after, model)
    try:
        parts = urlsplit(head + after)
    except ValueError:  # not a URL at all (an unbalanced [)
        return head + userinfo + _unparsed(after, model)
    query = "[REDACTED]" if parts.query else ""
    fragment = "[REDACTED]" if parts.fragment else ""
    return urlunsplit((parts.scheme, userinfo + parts.netloc, masked_path(parts.path, model), query, fragment))


def _unparsed(after: str, model: str | None) -> str:
    """``after``, a URL's host and what follows it that no URL parser takes apart: cut at its ?query or #fragment, its
    path masked (see :func:`_without_credentials`)."""
    cut = min((i for i in (after.find("?"), after.find("#")) if i >= 0), default=-1)
    shown = after if cut < 0 else after[: cut + 1] + "[REDACTED]"
    slash = shown.find("/")
    return shown if slash < 0 else shown[:slash] + masked_path(shown[slash:], model)


def _frozen(value: Any) -> Any:
    """``value`` as something hashable that is equal where ``value`` is (dicts and lists, nested)."""
    if isinstance(value, dict):
        return frozenset((k, _frozen(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def with_stream(request: LLMRequest, on: bool = True) -> LLMRequest:
    """``dataclasses.replace(request, stream=on)``, built positionally: replace walks the fields and calls
    the class with keywords, about 27,000 instructions on Python 3.11, on every attempt switched to
    streaming (a test checks that every field is carried over)."""
    r = request
    return LLMRequest(
        r.messages,
        r.system,
        r.tools,
        r.tool_choice,
        r.json_output,
        r.json_schema,
        r.json_schema_name,
        r.json_validator,
        r.max_tokens,
        r.temperature,
        r.stop,
        on,  # stream
        r.extra,
        r.json_schema_strict,
        r.json_schema_description,
        r.json_schema_given,
    )
