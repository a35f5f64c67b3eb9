"""A text answer's streamed deltas as the caller's progress is to see them: without the inline thinking that
:func:`~.json_output.without_inline_thinking` leaves out of the final text.

A local reasoning model without a reasoning parser writes ``<think>...</think>`` before its answer (or, where the
chat template opened the tag in the prompt, ``...\\n</think>\\n``). Only the final text was cleaned: the caller's
progress showed the thinking (pii-redaction's restated the personal data it redacted), and text that the answer then
did not hold. :class:`ThinkingFilter` stands between the stream and the progress callback:

- an answer that opens with ``<think>`` (or ``<thinking>``) is withheld until its closing tag, and what follows the
  tag (past its white space) goes on as it comes; a tag split across chunks is held only until it is whole;
- an answer that does not open so goes on as it comes, but for a line that may be the ``</think>`` closing thinking
  that the chat template opened: held until it is known. Should it be that closing tag, the text already streamed was
  the thinking: a ``restart`` event says so (the text after it is the answer's, from its start), as an ``attempt``
  after text says the text was not the answer;
- at the end, :meth:`finish` is given the final text and sends what of it the caller has not seen (or, should what
  was sent not begin it, a ``restart`` and the whole of it): the deltas since the last restart are the final text.
  So is a JSON answer's (whose thinking the final text keeps: its deltas are only sent on), and an answer whose wire
  sends no delta of text the final text leaves out (the Responses API's commentary before a final answer).

Each chunk costs a search of itself and of the few characters held before it: never of the text before.
"""

from __future__ import annotations

import re
from typing import Any

from ..types import LLMRequest, Usage
from .at_rest import tell_at_rest
from .json_output import prompt_holds_closing_tag

__all__ = ["ThinkingFilter", "restart"]

#: the opening tags of inline thinking (as :data:`~.json_output._OPENED_THINKING` reads them), lower case
_OPENINGS = ("<think>", "<thinking>")
#: the first tag of thinking the chat template opened: only a closing one at the start of a line ends it
_TAG = re.compile(r"</?think>", re.IGNORECASE)
#: a line that may still become the closing tag of such thinking, on a line of its own
_MAY_CLOSE = re.compile(r"[ \t]*(?:<|</|</t|</th|</thi|</thin|</think|</think>[ \t\r]*)", re.IGNORECASE)
#: how many characters of the text already sent a tag may have begun in (len("</think>") - 1)
_LOOK = 7

#: why a restart takes back text that was thinking
_THINKING = "the model's inline thinking, which the answer leaves out"

_START, _OPENED, _SPACE, _WATCH, _PLAIN = range(5)


async def restart(progress: Any, chars: int, reason: str) -> None:
    """Tell ``progress`` that the ``chars`` characters of text it was sent are not the answer's: the deltas after
    this are the answer's from its start."""
    maybe = progress("restart", {"chars": chars, "reason": reason})
    if maybe is not None:
        await maybe


class ThinkingFilter:
    """The progress callback of one stream of a text answer (see the module's docstring)."""

    __slots__ = ("closing", "count", "held", "line_start", "look", "progress", "request", "sent", "state")

    def __init__(self, progress: Any, request: LLMRequest, thinking: bool = True) -> None:
        self.progress = progress
        self.request = request
        #: (an answer whose thinking the final text keeps, a JSON answer's, is only sent on, and finished)
        self.state = _START if thinking else _PLAIN
        #: what came and is not yet sent: the answer's first characters, a line that may close thinking, or (thinking
        #: that opened with its tag) its last characters, where its closing tag may have begun
        self.held = ""
        #: the text sent since the stream (or the last restart) began, in pieces, and how many characters
        self.sent: list[str] = []
        self.count = 0
        #: the last characters sent, where a tag may have begun (see :data:`_LOOK`)
        self.look = ""
        #: whether what is held (or, held nothing, what comes next) begins a line
        self.line_start = True
        #: the closing tag of the thinking that was opened, as a pattern
        self.closing: re.Pattern[str] | None = None

    async def __call__(self, event: str, data: dict[str, Any]) -> None:
        if event != "delta":  # (a stream's own events are deltas alone: anything else goes on as it is)
            maybe = self.progress(event, data)
            if maybe is not None:
                await maybe
            return
        text = data.get("text") or ""
        if self.state == _PLAIN:
            await self._send(text)
        elif self.state == _SPACE:
            await self._after_thinking(text)
        elif self.state == _WATCH:
            await self._watch(text)
        elif self.state == _OPENED:
            await self._within(text)
        else:
            await self._begin(text)

    async def _send(self, text: str) -> None:
        if not text:
            return
        self.sent.append(text)
        self.count += len(text)
        self.look = (self.look + text)[-_LOOK:] if len(text) < _LOOK else text[-_LOOK:]
        maybe = self.progress("delta", {"chars": self.count, "text": text})
        if maybe is not None:
            await maybe

    async def _begin(self, text: str) -> None:
        head = self.held + text
        opening = head.lstrip()[:10].lower()
        if not opening or any(tag.startswith(opening) and tag != opening for tag in _OPENINGS):
            self.held = head  # white space, or "<thi": not yet known whether it opens thinking
            return
        tag = next((t for t in _OPENINGS if opening.startswith(t)), None)
        self.held = ""
        if tag is None:
            self.state = _WATCH
            await self._watch(head)
            return
        self.state = _OPENED
        self.closing = re.compile(re.escape(tag.replace("<", "</")), re.IGNORECASE)
        await self._within(head[head.index("<") + len(tag) :])

    async def _within(self, text: str) -> None:
        """Thinking that opened with its tag: withheld, until its closing tag."""
        window = self.held + text  # (its closing tag, "</thinking>", split across chunks)
        found = self.closing.search(window) if self.closing is not None else None
        if found is None:
            self.held = window[-len("</thinking>") + 1 :]
            return
        self.held = ""
        self.state = _SPACE
        await self._after_thinking(window[found.end() :])

    async def _after_thinking(self, text: str) -> None:
        """The white space after the thinking, which the final text leaves out, then the answer as it comes."""
        text = text.lstrip()
        if text:
            self.state = _PLAIN
            await self._send(text)

    async def _watch(self, text: str) -> None:
        """Text that may be thinking the chat template opened, until its first tag says whether it is."""
        if self.held:
            text, self.held = self.held + text, ""
        found = _TAG.search(self.look + text) if "<" in text or "<" in self.look else None
        if found is None:
            cut = text.rfind("\n") + 1
            if (cut or self.line_start) and _MAY_CLOSE.fullmatch(text, cut):
                self.line_start, self.held = True, text[cut:]
                await self._send(text[:cut])
            else:
                self.line_start = text.endswith("\n") if text else self.line_start
                await self._send(text)
            return
        at = found.start() - len(self.look)
        begins = text.rfind("\n", 0, max(at, 0)) + 1
        on_its_own = (
            at >= 0 and found.group()[1] == "/" and bool(begins or self.line_start) and not text[begins:at].strip(" \t")
        )
        if not on_its_own:  # the first tag opens thinking, or closes none on a line of its own: the text is text
            self.state = _PLAIN
            await self._send(text)
            return
        rest = text[found.end() - len(self.look) :].lstrip(" \t\r")
        if not rest:  # the line may yet end: held until it does (or the stream does)
            self.line_start, self.held = True, text[begins:]
            await self._send(text[:begins])
            return
        if rest[0] != "\n" or prompt_holds_closing_tag(self.request):
            self.state = _PLAIN
            await self._send(text)
            return
        # the thinking the chat template opened ends here: what was sent of it is not the answer
        if self.sent:
            chars = self.count
            self.sent, self.count, self.look = [], 0, ""
            await restart(self.progress, chars, _THINKING)
        self.state = _SPACE
        await self._after_thinking(rest)

    async def finish(self, final: str, spent: Usage) -> None:
        """The answer is whole (and billed ``spent``), its final text ``final``: what of it was not sent goes now."""
        sent = "".join(self.sent)
        # (a line held that closes the thinking the prompt opened, as the stream's last: what was sent was thinking)
        closed = self.state == _WATCH and self.held
        self.held, self.state = "", _PLAIN
        when = "after its answer had come whole"
        if not final.startswith(sent):
            self.sent, self.count, self.look = [], 0, ""
            reason = _THINKING if closed else "the text sent was not the final answer's"
            data = {"chars": len(sent), "reason": reason}
            await tell_at_rest(self.progress, "restart", data, spent, when)
            sent = ""
        rest = final[len(sent) :]
        if rest:
            self.sent.append(rest)
            self.count = len(final)
            await tell_at_rest(self.progress, "delta", {"chars": len(final), "text": rest}, spent, when)
