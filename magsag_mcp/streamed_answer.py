"""A skill's text answer written back from its escapes (:meth:`~.skills.CallParts.answer_text`) as it streams: the
caller's progress is sent the text the answer will be, not the escapes the model copied from the prompt.

pii-redaction's prompt escapes the ``<`` of the input's own ``</text>`` as ``&lt;`` (and the ``&`` of an ``&lt;`` or
``&amp;`` the input holds as ``&amp;``); the final text is written back, but the progress showed ``&lt;/text>`` where
the answer said ``</text>``. :class:`Unescaping` writes each delta back as it comes, holding back only an ``&`` that
may still begin an escape (``&l``, ``&lt; /te``) until the characters after it say whether it does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .providers.at_rest import tell_at_rest
from .types import Usage

__all__ = ["Unescaping"]


class Unescaping:
    """The progress callback of one attempt of a call whose text answer is written back from escapes: ``unescape``
    finds them (``replace`` writes each back, as the final text's), ``pending`` matches an ``&`` that, at the end of
    the text come so far, may still begin one."""

    __slots__ = ("count", "held", "pending", "progress", "replace", "unescape")

    def __init__(
        self,
        progress: Any,
        unescape: re.Pattern[str],
        pending: re.Pattern[str],
        replace: Callable[[re.Match[str]], str],
    ) -> None:
        self.progress, self.unescape, self.pending, self.replace = progress, unescape, pending, replace
        self.held = ""
        self.count = 0

    async def __call__(self, event: str, data: dict[str, Any]) -> None:
        if event != "delta":
            # a restart, a resend, a stream answered again: what was held was of text that is not the answer
            self.held, self.count = "", 0
            maybe = self.progress(event, data)
        else:
            text = self.held + (data.get("text") or "")
            self.held = ""
            if "&" in text:
                # (an escape holds no "&" after its own: only the last one may be waiting for what follows it)
                at = text.rfind("&")
                if self.pending.match(text, at):
                    text, self.held = text[:at], text[at:]
                text = self.unescape.sub(self.replace, text)
            if not text:
                return
            self.count += len(text)
            maybe = self.progress("delta", {"chars": self.count, "text": text})
        if maybe is not None:
            await maybe

    async def finish(self, spent: Usage) -> None:
        """The answer is whole (billed ``spent``): what was held began no escape, and goes as it is."""
        if self.held:
            text, self.held = self.held, ""
            self.count += len(text)
            data = {"chars": self.count, "text": text}
            await tell_at_rest(self.progress, "delta", data, spent, "after its answer had come whole")
