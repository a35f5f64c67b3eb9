"""The wire format of an API: its request body, its response, its stream events and its error bodies.

A :class:`WireFormat` knows one API's JSON and nothing of where it is served: an endpoint
(:class:`~magsag_mcp.providers.base.Endpoint`) carries it, and :class:`~magsag_mcp.providers.base.HTTPProvider`
joins the two. One module per format implements it (``openai_chat``, ``openai_responses``, ``anthropic``,
``gemini``).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from ..errors import MalformedResponseError, ProviderError, excerpt
from ..redaction import holds_secret
from ..text import whole_characters
from ..transport import HttpResponse, SSEEvent
from ..types import LLMRequest, LLMResult, Usage


class StreamAccumulator(ABC):
    """Folds a provider's SSE events into one :class:`LLMResult`.

    :meth:`feed` returns the text delta carried by the event ('' when none). :meth:`finish` raises
    :class:`~magsag_mcp.errors.ProviderConnectionError` when the stream ended before the vendor's
    terminal event: a truncated answer is a failed attempt, never a result.
    """

    @abstractmethod
    def feed(self, event: SSEEvent) -> str: ...

    @abstractmethod
    def finish(self) -> LLMResult: ...

    def usage_so_far(self) -> Usage | None:
        """The usage the stream reported before it failed, or None: an answer that streamed its usage
        and then proved unusable is recorded at what it reported."""
        return None

    def prompt_counted(self) -> Usage | None:
        """When :meth:`usage_so_far` is None: the prompt's tokens the stream had counted before it was cut (Anthropic's
        message_start, every Gemini chunk, a server's running count), as :func:`prompt_part`; None when it counted
        none. Facts of the attempt the ledger holds, though not its bill: what the answer generated is unknown."""
        return None

    def complete(self) -> bool:
        """Whether the vendor's terminal event has come (nothing the answer needs is still to come): a
        connection that breaks or goes idle after it has lost no part of the answer."""
        return False

    def survives_the_cut(self) -> bool:
        """Told that the stream was cut (dropped, or idle) before its terminal event: whether every part of the
        answer had come all the same, only the usage it was to report missing (Chat Completions' closing chunk came,
        its usage chunk did not). Such an answer is kept, at an unknown cost, and :meth:`finish` says why; taken for
        a dropped stream, it was asked for, and paid for, again."""
        return False


class WireFormat(ABC):
    """One vendor API's JSON. Pure functions of data: no I/O, no configuration."""

    name: ClassVar[str]
    #: an answer that ends as a whole one with nothing in it is no answer (:func:`.empty_answers.no_answer`); a
    #: format whose answers may hold what the result does not carry (Gemini's pictures) decides it itself
    empty_is_no_answer: ClassVar[bool] = False
    #: a "length" finish may be a limit of the server's own (a local server's context size), not max_tokens
    length_may_be_the_servers: ClassVar[bool] = False
    #: a JSON schema that is no object at its root is sent as ``{"value": ...}``'s
    #: (:func:`~.json_output.value_wrapped`), and the answer's value is the answer
    wraps_json_roots: ClassVar[bool] = False
    #: the longest tool name the API takes (of letters, digits, ``_`` and ``-``): another is sent fitted to it, and
    #: its calls come back under the caller's name (:mod:`.tool_names`); None: any name goes as it is
    tool_name_limit: ClassVar[int | None] = None
    #: the API takes a tool name that begins with a letter or ``_`` only (Gemini's)
    tool_name_letter_first: ClassVar[bool] = False

    @abstractmethod
    def path(self, model: str, *, stream: bool) -> str:
        """Path below the endpoint's base URL, e.g. ``/chat/completions``."""

    def stream_params(self) -> dict[str, str]:
        """Extra query parameters for a streamed call (Gemini wants ``alt=sse``)."""
        return {}

    def sends_stop(self, request: LLMRequest, model: str) -> bool:
        """Whether :meth:`build` sends ``request``'s stop sequences to ``model`` (a model or an API that takes
        none has them left out, and then no stop sequence can have ended its answer)."""
        return bool(request.stop)

    @abstractmethod
    def build(self, request: LLMRequest, model: str, *, stream: bool) -> tuple[dict[str, Any], list[str]]:
        """The request body, and a note for each thing it changed or left out for this model.

        One function makes both so that a note is written where the change is made and cannot drift
        from what is sent. The notes become the result's warnings.
        """

    @abstractmethod
    def parse_response(self, data: Any, *, provider: str, model: str) -> LLMResult: ...

    def usage_in(self, data: dict[str, Any]) -> Usage | None:
        """The usage a response body reports, read on its own: for a body that is not a usable
        answer, so that what the vendor billed is still recorded. None when it cannot tell."""
        return None

    @abstractmethod
    def accumulator(self, *, provider: str, model: str) -> StreamAccumulator: ...

    #: whether an answer hands back what only the endpoint that gave it can read on a later turn (the Responses
    #: API's encrypted reasoning): :meth:`for_endpoint` and :meth:`from_endpoint` then keep it to that endpoint
    endpoint_bound: ClassVar[bool] = False

    def for_endpoint(self, request: LLMRequest, origin: str) -> LLMRequest:
        """``request`` without what the answers of endpoints other than ``origin`` handed back (see
        :attr:`endpoint_bound`)."""
        return request

    def from_endpoint(self, result: LLMResult, origin: str) -> None:
        """Mark what ``result`` hands back for a later turn as ``origin``'s (see :attr:`endpoint_bound`)."""
        return None

    @abstractmethod
    def map_error(self, response: HttpResponse, *, provider: str, model: str) -> ProviderError: ...


def first_stops(stop: list[str], limit: int, vendor: str, notes: list[str]) -> list[str]:
    """The first ``limit`` stop sequences, which is as many as ``vendor`` takes (more is a 400 that would
    stop the cascade); the rest are named in ``notes``."""
    if len(stop) <= limit:
        return list(stop)
    rest = stop[limit:]
    notes.append(
        f"{vendor} takes at most {limit} stop sequences; {', '.join(map(repr, rest))} "
        f"{'was' if len(rest) == 1 else 'were'} not sent"
    )
    return list(stop[:limit])


#: the most tokens of one kind an answer is taken to count: a thousand times the largest context window sold, and
#: far below where a call's or a summary's sums would pass the ledger's 64-bit integers
MOST_TOKENS = 10**10


def reported_usage(counted: Callable[..., Usage], raw: Any, *around: Any) -> Usage:
    """A vendor's usage object read by ``counted`` (with what ``around`` it says, such as the answer's tier): not
    reported when it is none, empty, or holds no (finite) number where a count should be, a negative count, or a
    count past :data:`MOST_TOKENS`, so it is never priced.
    What it says in words (the tier, the model that served it, where it ran) is read as :func:`said` reads it."""
    if not isinstance(raw, dict) or not raw or _part_count(raw):
        return Usage(reported=False)
    try:
        usage = counted(raw, *around)
    except (TypeError, ValueError, AttributeError, OverflowError):
        return Usage(reported=False)
    if _past_counting(usage):
        # a broken server's figure (2**62 input tokens), no count: recorded as given, the answer's totals passed the
        # ledger's integers, its record was refused ("a cost is above $9223372...") and the paid call kept nowhere.
        # A negative count is none either: priced, it was refused (cost unknown), but recorded as given it took its
        # tokens off every summary's sums (-3 output tokens beside a call's 40)
        return Usage(reported=False)
    usage.service_tier = said(usage.service_tier)
    usage.answering_model = said(usage.answering_model)
    usage.inference_geo = said(usage.inference_geo)
    return usage


def _past_counting(usage: Usage) -> bool:
    """Whether a count of ``usage`` is negative or past :data:`MOST_TOKENS`: ``min(counts) < 0 or max(counts) >
    MOST_TOKENS``, without the two builtins' calls (some 6,000 instructions over twelve ints, on every answer; this
    is some 2,300). The readers make every count an ``int`` (``int()`` of what the vendor wrote), and of ints the
    bitwise or is negative exactly when one of them is, and is at least the largest of them when none is: so
    only an or past the bound asks which count is."""
    every = (
        usage.input_tokens
        | usage.output_tokens
        | usage.cached_tokens
        | usage.cache_write_tokens
        | usage.reasoning_tokens
        | usage.cache_write_1h_tokens
        | usage.input_audio_tokens
        | usage.output_audio_tokens
        | usage.output_image_tokens
        | usage.cache_write_ttl_unsaid_tokens
        | usage.cached_audio_tokens
        | usage.total_unsplit_tokens
        | usage.cache_write_split_past_tokens
    )
    return every < 0 or (every > MOST_TOKENS and max(usage.counts()) > MOST_TOKENS)


def _part_count(raw: dict[str, Any]) -> bool:
    """Whether a usage object (or a details object or list in it) holds a count that is no whole number: ``true``
    or ``1.5`` where a count of tokens (or of searches) goes. Each vendor's reader takes counts with ``int()``, which
    made them 1 token, a count, priced and said known, where a broken server's figure is no count. A float that is
    whole (``12.0``) is the count it says; a cost (OpenRouter's ``usage.cost``, dollars) is no count. Only the
    values that are a bool or a float are looked at further: on every answer."""
    for key, value in raw.items():
        kind = type(value)
        if kind is dict:
            if _part_count(value):
                return True
        elif kind is list:
            for item in value:
                if type(item) is dict and _part_count(item):
                    return True
        elif (kind is bool or (kind is float and not value.is_integer())) and _COUNT_NAME.search(key):
            return True
    return False


#: the names of a usage object's counts: OpenAI's and Anthropic's ``..._tokens``, ``web_search_requests``;
#: Gemini's ``...TokenCount`` and its details' ``tokenCount``
_COUNT_NAME = re.compile(r"tokens?$|TokenCount$|tokenCount$|_requests$")


#: the most of a word an answer says of itself (:func:`said`) that is kept: a model's name, a tier
SAID_LIMIT = 200


def an_id(value: Any) -> str | None:
    """The vendor's id of an answer as it goes into the result (``LLMResult.response_id``): read from every format's
    answer, streamed or not, as it came, a broken gateway's number, list or object was kept, and the MCP tool's result
    (``response_id: str | None``) refused it once the answer had been paid for and recorded; a string holding half of
    a UTF-16 surrogate pair could not be written as JSON. None when it is no text; unlike :func:`said`, not looked
    for keys (an id is the vendor's own, new on every call: no cache of names judged clean would hold it)."""
    if not isinstance(value, str) or not value:
        return None
    return value if value.isascii() else whole_characters(value)


def said(value: Any) -> str | None:
    """A word an answer says of itself beside its text (the service tier that served it, the model, where it ran),
    as it goes into the ledger, the result and a price's warning: text with any key removed (a gateway that echoes
    the request's headers there brought the key back), at most :data:`SAID_LIMIT` characters; None when it is no
    text. A tier that was an object made the pricing raise TypeError, or the ledger refuse the row, and the paid
    answer was lost, as it was for a tier holding half of a UTF-16 surrogate pair (U+FFFD stands for it). A name is
    redacted only when it holds a key as a name is judged (:func:`holds_secret`): a model named
    "mistral-sk-7b-instruct" is a name, and Azure's answers are priced by the model they name."""
    if not isinstance(value, str) or not value:
        return None
    value = value[: SAID_LIMIT * 4]
    if not value.isascii():  # (most words are: ASCII holds no half of a surrogate pair, which the ledger cannot store)
        value = whole_characters(value)
    return excerpt(value, SAID_LIMIT) if holds_secret(value) else value[:SAID_LIMIT]


def prompt_part(usage: Usage | None) -> Usage | None:
    """The prompt's counts of a usage reported before the answer's end (input tokens with their cache reads, cache
    writes and audio, the tier and the place that served it), with no output tokens: a stream's count of its output
    so far is not what the answer generated (Anthropic's message_start counts 1). None when it reported no count."""
    if usage is None or not usage.reported:
        return None
    return Usage(
        input_tokens=usage.input_tokens,
        cached_tokens=usage.cached_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        cache_write_ttl_unsaid_tokens=usage.cache_write_ttl_unsaid_tokens,
        cache_write_split_past_tokens=usage.cache_write_split_past_tokens,
        cached_audio_tokens=usage.cached_audio_tokens,
        input_audio_tokens=usage.input_audio_tokens,
        service_tier=usage.service_tier,
        answering_model=usage.answering_model,
        inference_geo=usage.inference_geo,
    )


def with_reported_usage(exc: ProviderError, usage: Any) -> ProviderError:
    """``exc`` carrying the usage the vendor reported for the failed answer (a filtered or failed
    response still counts its tokens, and is billed for them); None leaves it as it was."""
    if usage is not None:
        exc.usage = usage
    return exc


def an_object(value: Any, what: str, provider: str, model: str) -> dict[str, Any]:
    """``value``, where the API documents an object (``{}`` for one left out or null). Anything else (text where the
    object goes) is the vendor's malformed answer: read on, the parse raised an AttributeError that the cascade would
    take for a bug of magsag's (an ``internal_error``, which stops the call) rather than for the vendor's."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedResponseError(
            f"{provider}:{model}: {what} is {type(value).__name__}, not an object", provider=provider, model=model
        )
    return value


def call_id(value: Any, made_up: str, provider: str, model: str) -> str:
    """A tool call's id: the vendor's, or ``made_up`` where it sent none (left out, null or empty). One that is no
    string (a number, a list, an object: a broken server's) is the vendor's malformed answer: taken as the id, it was
    sent back with the call's result as no id the API takes, and a result's tool call had an id that is no string."""
    if isinstance(value, str):
        return value or made_up
    if value is None:
        return made_up
    raise MalformedResponseError(
        f"{provider}:{model}: a tool call's id is {type(value).__name__}, not a string", provider=provider, model=model
    )


def a_list(value: Any, what: str, provider: str, model: str) -> list[Any]:
    """``value``, where the API documents an array (``[]`` for one left out or null). Anything else (a number, an
    object) is the vendor's malformed answer: iterated, it raised a TypeError that the cascade would take for a bug of
    magsag's (see :func:`an_object`). Text is no list either: read on, each of its characters was no object."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedResponseError(
            f"{provider}:{model}: {what} is {type(value).__name__}, not a list", provider=provider, model=model
        )
    return value


#: a list or an object (a tuple: ``dict | list`` in the check built a union on each use, on every answer)
_NESTED = (dict, list)


def a_reason(value: Any, what: str, provider: str, model: str) -> Any:
    """``value``, where the API documents a string saying why the answer stopped (``finish_reason``, ``stop_reason``,
    ``finishReason``). A list or an object there is the vendor's malformed answer: looked up among the reasons known,
    it raised a TypeError (no list or object can be a key) that the cascade would take for a bug of magsag's (see
    :func:`an_object`). A number or ``true`` is kept as written, a reason not known (read as "other"), as an unknown
    string is: nothing breaks on it, and the answer it ends is the vendor's all the same."""
    if isinstance(value, _NESTED):
        raise MalformedResponseError(
            f"{provider}:{model}: {what} is {type(value).__name__}, not a string", provider=provider, model=model
        )
    return value
