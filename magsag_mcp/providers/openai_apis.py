"""Which of OpenAI's two APIs a provider of its formats (OpenAI, a compatible server, Azure OpenAI) sends a target
with, and what follows from it for budgets and settings, said once: each provider has its own rule
(:meth:`ChatOrResponses.uses_responses`), and the rest was written three times over."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .openai_responses import MIN_OUTPUT_TOKENS

if TYPE_CHECKING:
    from ..types import Target


class ChatOrResponses:
    """A mixin for a provider whose targets go to Chat Completions or to the Responses API, by its
    :meth:`uses_responses`; listed before the provider's base, so that these answer for it."""

    @staticmethod
    def uses_responses(target: Target) -> bool:
        """Whether ``target`` is sent with the Responses API (else Chat Completions)."""
        raise NotImplementedError

    @classmethod
    def min_output_tokens(cls, target: Target) -> int:
        """The Responses API's minimum ``max_output_tokens`` where it is called: budgets reserve at least these."""
        return MIN_OUTPUT_TOKENS if cls.uses_responses(target) else 0

    @classmethod
    def takes_prediction(cls, target: Target) -> bool:
        """Chat Completions alone carries ``prediction``."""
        return not cls.uses_responses(target)
