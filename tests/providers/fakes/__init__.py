"""Loopback stand-ins for the vendors, checked against their specs field by field.

Each fake validates every request body against the spec's request schema (a violation is answered
400 in the vendor's error shape *and* kept in ``violations`` so the test fails), checks the auth
headers, and answers from a script of steps shaped as the spec shapes responses:

    {"text": "hi", "usage": {...}}                 a reply (usage in the vendor's own field names)
    {"tool_calls": [{"id", "name", "arguments"}]}  a tool call (arguments as a str: the JSON as streamed, which
                                                   max_tokens may cut short; Gemini 3 models sign the first call
                                                   and give each its id, Gemini 2.x none)
    {"error": 429, "body": {...}, "headers": {...}} an error in the vendor's shape
    {"text": "...", "cut": True}                   a stream that breaks mid-answer (the Responses API: "cut":
                                                   "before_terminal", every output item done and no
                                                   response.completed; "after_first_item", the first item done;
                                                   "ends": "before_terminal", the same events, the stream then
                                                   ended cleanly)
    {"text": "...", "stream_error": {...}}         a stream that sends part of the answer, then an error event
    {"text": None, "finish": "SAFETY"}             a vendor finish reason (Anthropic: "refusal", + "stop_details";
                                                   the Responses API: "length", "content_filter" as an
                                                   incomplete response, its last item incomplete, "cancelled" as
                                                   that status)
    {"block": "SAFETY"}                            Gemini: the prompt was blocked (promptFeedback.blockReason)
    {"thoughts": ["..."], "text": "..."}           Gemini: thought summaries before the answer (if includeThoughts)
    {"text": "...", "async_filter": True}          Azure, streamed: the asynchronous filter's last annotation after
                                                   the finish_reason (every Azure stream opens with the prompt's
                                                   filter results, choices empty)
    {"text": None, "finish": "content_filter",     Azure: the filter categories on the finish_reason's choice
     "filter_results": {...}}                      (unstreamed, every answer carries the prompt's
                                                   prompt_filter_results and the choice's content_filter_results)
    {"prompt_filtered": {"violence": {...}}}       Azure: the prompt refused by the filter, a 400 whose inner error
                                                   names the categories (the spec's inner_error; "as_served": True,
                                                   the service's innererror and content_filter_result)

A spec-valid request that the *model* cannot take (o1-preview with a system message) is answered with the
vendor's 400 for it, as the real API does; that is not a spec violation.

One module per vendor format, on the shared machinery of :mod:`.base` (the steps, the request record, the spec
check, the id headers, the SSE writer): :mod:`.openai` (Chat Completions, Responses, Azure's deployment route),
:mod:`.anthropic` (Messages; its thinking's signatures and rules in :mod:`.anthropic_thinking`), :mod:`.gemini`
(generateContent). Tests import every fake and constant from here.
"""

from __future__ import annotations

from .anthropic import REQUEST_ID, FakeAnthropic
from .anthropic_thinking import REDACTED_THINKING, THINKING, signed
from .base import Fake, Step
from .gemini import SIGNATURES, FakeGemini, signs_calls
from .openai import AZURE_REQUEST_ID, OPENAI_REQUEST_ID, FakeOpenAI

#: the names tests import from ``tests.providers.fakes``, wherever in the package they are defined
__all__ = [
    "AZURE_REQUEST_ID",
    "OPENAI_REQUEST_ID",
    "REDACTED_THINKING",
    "REQUEST_ID",
    "SIGNATURES",
    "THINKING",
    "Fake",
    "FakeAnthropic",
    "FakeGemini",
    "FakeOpenAI",
    "Step",
    "signed",
    "signs_calls",
]
