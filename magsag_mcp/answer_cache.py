"""The answer cache: an exact-match record of answers, so that the same request sent again to the same target by the
same agent, within a time the caller chose, is answered from the ledger instead of paid for again.

Off unless turned on: by a route of the routing catalog (``cache: {ttl: 1h}``, for the calls of the task types it
matches) or by a call's context (``cache_ttl``, in seconds; 0 leaves the cache alone for that call). LLM answers vary,
and asking twice may mean wanting another answer: nothing is cached that nobody asked to cache.

The key (:func:`request_key`) is a sha256 of the request exactly as it would go on the wire to the target: the
provider, the model, where it is sent (a digest of the base URL, with the path and query), the headers that change the
vendor's answer (Anthropic's ``anthropic-version``: never a key, an organization nor a project) and the canonical JSON
body the wire format builds, with the agent it is recorded for: one agent is never answered
from another's record. The cascade asks the cache for each target in order, once governance's policies allow the
target now and before any budget reservation or send (see :meth:`~.cascade.Cascade.run`); only a complete answer (it
stopped on its own or asked for tool calls) is stored, after its call is recorded. Rows live in the ledger's
``answer_cache`` table (0023_answer_cache): expired rows are swept and the newest :data:`MAX_ENTRIES` kept each time
an answer is stored; ``magsag cache clear`` empties it.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from .answer_flights import Flights
from .answer_keys import answer_holds_key
from .errors import ConfigError, InputError, LedgerError, PayloadError, ProviderError, redacting_logger
from .ledger.money import from_pusd, to_pusd
from .text import said_number
from .types import LLMRequest, LLMResult, Target, ToolCall, Usage

log = redacting_logger("magsag_mcp.answer_cache")

#: the most answers kept: past it the oldest go when the next is stored
MAX_ENTRIES = 10_000
#: an answer longer than this (characters of its stored JSON) is not stored: the cache is for answers asked again,
#: not a store of documents
MAX_ANSWER_CHARS = 1_000_000
#: the finish reasons of a complete answer: one cut at max_tokens or filtered is not kept (see docs)
COMPLETE = frozenset(("stop", "tool_calls"))
#: the context key a call names its time with
CONTEXT_KEY = "cache_ttl"
#: the longest time a call may ask for (a year): a longer one is a mistake, not a choice
LONGEST_TTL = 365 * 86400.0


def ttl_of_context(context: Mapping[str, Any] | None) -> float | None:
    """The call's ``cache_ttl`` (seconds, 0 = leave the cache alone), None when it names none; refused, with what to
    write, when it is no number of seconds."""
    if not context or CONTEXT_KEY not in context:
        return None
    value = context[CONTEXT_KEY]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(
            f"context.cache_ttl must be a number of seconds (e.g. 3600 for an hour, 0 to leave the cache alone for "
            f"this call), got {type(value).__name__} {value!r}"[:300]
        )
    # (compared before math.isfinite, which raised OverflowError on an int past a float's range: a JSON 1e400 written
    # out in digits)
    if not 0 <= value <= LONGEST_TTL or not math.isfinite(value):
        raise PayloadError(
            f"context.cache_ttl must be between 0 (leave the cache alone) and {int(LONGEST_TTL)} seconds (a year), "
            f"got {said_number(value)}"
        )
    return float(value)


def request_key(provider: Any, request: LLMRequest, target: Target, agent: str | None) -> str | None:
    """The key of ``request`` sent to ``target`` for ``agent``: a sha256 of the wire's canonical JSON body, the model,
    the provider and where it is sent (a digest of the base URL, :meth:`~.providers.endpoint.Endpoint.origin`, with the
    path and query below it, such as Azure's deployment and api-version) and the headers that change its answer
    (:meth:`~.providers.endpoint.Endpoint.answer_headers`; never a key nor an account's id). None where the
    provider builds no body magsag can read (a provider not speaking HTTP), or the wire refuses the request (a send
    would fail the same way): such a target is not cached."""
    wire = getattr(provider, "wire", None)
    endpoint = getattr(provider, "endpoint", None)
    if wire is None or endpoint is None:
        return None
    uses_responses = getattr(provider, "uses_responses", None)
    if uses_responses is not None and uses_responses(target):
        wire = getattr(provider, "responses", wire)
    # streamed or not, the answer is the same: the body is built unstreamed whatever the attempt does
    unstreamed = replace(request, stream=False) if request.stream else request
    try:
        if wire.endpoint_bound:
            # as the send does (BaseHTTPProvider.call): the reasoning another endpoint encrypted is left out of the
            # body sent, and so of the key, else a request sent without it shared the key of one sent with it. (The
            # tool names are keyed as the caller wrote them, not fitted as sent: a hit's tool calls come back under
            # the names of the call that stored it, so two callers' names sent alike must not share an answer.)
            unstreamed = wire.for_endpoint(unstreamed, endpoint.origin(target))
        body, _ = wire.build(unstreamed, target.model, stream=False)
        # the URL's path and query as sent (Azure's deployment and api-version are there, not in the body)
        url, query = endpoint.url(wire, target, stream=False)
        where = [endpoint.origin(target), urlsplit(url).path, sorted(query.items())]
        # the headers that change the answer (Anthropic's anthropic-version), never a key's: a key of another
        # account asks the same; left out where there are none, so that those keys stay as they were
        if answer_headers := endpoint.answer_headers():
            where.append(sorted(answer_headers.items()))
    except (ProviderError, ConfigError, InputError):
        return None
    said = json.dumps(
        [agent or "", target.provider, target.model, where, body],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=repr,
    )
    return hashlib.sha256(said.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(slots=True)
class CachedAnswer:
    """An answer found in the cache: what the result is made of, when it was recorded and what it cost then."""

    result: LLMResult
    created_at: float
    run_id: str
    cost_usd: Decimal | None

    def note(self, now: float) -> str:
        """What the result's warnings say of it."""
        answer = self.result.response_id
        return (
            f"answered from the cache, recorded {_ago(now - self.created_at)} ago (run {self.run_id}"
            f"{f', response {answer[:120]}' if answer else ''}); nothing was "
            f"sent and it cost $0 (it cost {'an unknown amount' if self.cost_usd is None else f'${self.cost_usd:f}'} "
            "then); set context.cache_ttl to 0 for a new answer"
        )


@dataclass(slots=True)
class PendingAnswer:
    """An answer the cascade got from a target whose calls are cached, stored once its call is recorded."""

    key: str
    agent: str | None
    target: Target
    ttl: float
    answer: str  # its JSON (see _answer_json)


def pending(key: str, agent: str | None, target: Target, ttl: float, result: LLMResult) -> PendingAnswer | None:
    """The answer to store, None when it is not to be: cut (max_tokens), filtered, too long to keep, or quoting a key
    this process (or this call) sends. A gateway or a test server echoing the request's headers in its answer put the
    key, whole, in the ledger's ``answer_cache`` rows, where no key may be (the caller's copy is shown less the key)."""
    if result.finish_reason not in COMPLETE:
        return None
    answer = _answer_json(result)
    if len(answer) > MAX_ANSWER_CHARS or answer_holds_key(answer):
        return None
    return PendingAnswer(key, agent, target, ttl, answer)


def _answer_json(result: LLMResult) -> str:
    """What the result of a hit is made of: the text, parsed JSON, tool calls, finish reason, model, the vendor's
    response id and the paused turns it was continued from. Nothing of the request (the key stands for it), no usage
    (a hit bills nothing), no headers nor keys."""
    return json.dumps(
        {
            "text": result.text,
            "model": result.model,
            "parsed": result.parsed,
            "finish_reason": result.finish_reason,
            "tool_calls": [c.to_dict() for c in result.tool_calls],
            # the vendor's id of the answer (chatcmpl-..., msg_..., resp_...): a hit's says which answer it is
            "response_id": result.response_id,
            # the turns it took where its turn was paused and continued (see cascade_paused.py), which a hit reports
            # as its paused_turns; left out where none (an older row has none either: read as 0, no migration)
            **({"pauses": result.pauses} if result.pauses else {}),
        },
        ensure_ascii=False,
        default=repr,
    )


def _result_of(answer: str, provider: str) -> LLMResult:
    data = json.loads(answer)
    calls = [ToolCall(c["id"], c["name"], c["arguments"], c.get("signature")) for c in data.get("tool_calls") or ()]
    # no tokens billed: the usage says 0 of each, reported (a known $0, not an unknown cost)
    return LLMResult(
        data["text"],
        provider,
        data["model"],
        Usage(),
        calls,
        data.get("parsed"),
        data.get("finish_reason", "stop"),
        response_id=data.get("response_id"),  # (None in an answer stored before it was kept)
        pauses=data.get("pauses", 0),
    )


def _ago(elapsed: float) -> str:
    """How long ago an answer was stored, in whole units (floored: "0s" until a second has passed)."""
    elapsed = max(elapsed, 0.0)
    if elapsed < 60:
        return f"{int(elapsed)}s"
    if elapsed < 3600:
        return f"{int(elapsed // 60)}m"
    if elapsed < 86400:
        return f"{int(elapsed // 3600)}h{int(elapsed % 3600 // 60)}m"
    return f"{int(elapsed // 86400)}d"


class AnswerCache:
    """The cache's reads and writes on the ledger (its ``answer_cache`` table). ``clock``: the wall clock (a test's
    own, to pass a ttl without waiting for it)."""

    def __init__(self, ledger: Any, clock: Callable[[], float] = time.time) -> None:
        self.ledger = ledger
        self.clock = clock
        #: the keys calls of this process are sending now, which a call asking for one waits for (answer_flights.py)
        self.flights = Flights()

    async def lookup(self, key: str, ttl: float) -> CachedAnswer | None:
        """The answer stored under ``key`` no longer than ``ttl`` seconds ago and not expired, else None."""
        now = self.clock()

        def read(conn: Any) -> Any:
            return conn.execute(
                "SELECT provider, created_at, run_id, cost_pusd, answer FROM answer_cache"
                " WHERE key = ? AND expires_at > ? AND created_at > ?",
                (key, now, now - ttl),
            ).fetchone()

        row = await self.ledger.read(read)
        if row is None:
            return None
        provider, created_at, run_id, cost, answer = row
        return CachedAnswer(_result_of(answer, provider), created_at, run_id, from_pusd(cost))

    async def store(self, answer: PendingAnswer, run_id: str, cost_usd: Decimal | None) -> bool:
        """Keep ``answer`` (its call recorded as ``run_id`` at ``cost_usd``) for its ttl; sweep the expired rows and
        the oldest past :data:`MAX_ENTRIES`; whether it was kept. Refused by the ledger, it is logged and the call
        goes on: its answer is paid for and recorded, and the next call is sent."""
        now = self.clock()
        t = answer.target
        row = (
            answer.key,
            answer.agent,
            t.provider,
            t.model,
            now,
            now + answer.ttl,
            run_id,
            to_pusd(cost_usd),
            answer.answer,
        )

        def write(conn: Any) -> None:
            conn.execute("DELETE FROM answer_cache WHERE expires_at <= ?", (now,))
            conn.execute(
                "INSERT OR REPLACE INTO answer_cache"
                " (key, agent, provider, model, created_at, expires_at, run_id, cost_pusd, answer)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                row,
            )
            conn.execute(
                "DELETE FROM answer_cache WHERE key IN"
                " (SELECT key FROM answer_cache ORDER BY created_at DESC LIMIT -1 OFFSET ?)",
                (MAX_ENTRIES,),
            )

        try:
            await self.ledger.submit(write, durable=False)
        except LedgerError as exc:
            log.warning("run %s: its answer was not stored in the cache: %s", run_id, exc.message)
        except Exception as bug:  # ours: the answer is paid for and recorded, and goes to its caller all the same
            log.error("run %s: a bug in magsag-mcp kept its answer out of the cache", run_id, exc_info=bug)
        else:
            return True
        return False

    async def clear(self, *, expired_only: bool = False) -> int:
        """Delete every stored answer (``expired_only``: those expired); how many were deleted."""
        now = self.clock()

        def write(conn: Any) -> int:
            if expired_only:
                return int(conn.execute("DELETE FROM answer_cache WHERE expires_at <= ?", (now,)).rowcount)
            return int(conn.execute("DELETE FROM answer_cache").rowcount)

        return int(await self.ledger.submit(write))
