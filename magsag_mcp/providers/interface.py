"""What the router calls: :class:`Provider`, whatever carries the call (an HTTP API, or the fake provider of the
tests and examples), and the :data:`ProgressCallback` a call reports a streamed answer's progress to. The provider
of an HTTP API, a wire format over an endpoint, is :class:`~.base.HTTPProvider`; base.py re-exports these two."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from ..errors import ProviderError
from ..types import LLMRequest, LLMResult, Target
from .capabilities import Capabilities

#: called with progress while a stream comes in: ("delta", {"chars": n, "text": t}) (``t`` the answer's text that
#: just came, ``n`` the characters of this attempt's text so far) and similar
ProgressCallback = Callable[[str, dict[str, Any]], Awaitable[None] | None]


class Provider(ABC):
    """What the router calls. Constructors do no I/O."""

    name: str
    #: serves other vendors' models under their names (deployments, local servers, gateways): routing may
    #: swap it in for any model of the policy (``MAGSAG_PROVIDER`` alone); a vendor serves its own models only
    hosts_other_models: ClassVar[bool] = False
    #: every request of an attempt goes through the :class:`Transport`, which marks the attempt as sent
    #: (:class:`~magsag_mcp.sends.Sends`): one it never marked sent nothing. Else what an attempt sent is not known.
    sends_through_transport: ClassVar[bool] = False

    @classmethod
    def min_output_tokens(cls, target: Target) -> int:
        """The fewest output tokens a call to ``target`` is sent with, whatever ``max_tokens`` asks (the
        Responses API's minimum where it is called): budgets reserve at least these."""
        return 0

    @classmethod
    def output_beyond_max_tokens(cls, target: Target) -> int:
        """Output tokens a call to ``target`` may be billed for beyond ``max_tokens`` (Gemini's thoughts of the
        ``thinkingBudget`` its params ask): budgets reserve these too."""
        return 0

    @classmethod
    def prompt_overhead(cls, target: Target, request: LLMRequest) -> int:
        """Input tokens a call of ``request`` to ``target`` is billed beyond what it sends (a prompt the vendor adds
        for tools): budgets reserve these too."""
        return 0

    @classmethod
    def takes_prediction(cls, target: Target) -> bool:
        """Whether a call to ``target`` is sent with Chat Completions, whose ``prediction`` field (a target's
        ``params.prediction``) it carries; no other API has one."""
        return False

    @abstractmethod
    def capabilities(self, target: Target) -> Capabilities: ...

    @abstractmethod
    async def complete(
        self, request: LLMRequest, target: Target, *, progress: ProgressCallback | None = None
    ) -> LLMResult: ...

    def unavailable_error(self, target: Target) -> ProviderError | None:
        """The error calling this target would fail with before sending anything (no key, no endpoint),
        or None. No I/O."""
        return None

    def unavailable(self, target: Target) -> str | None:
        """Why this target cannot be called at all (no key, no endpoint), or None. No I/O."""
        err = self.unavailable_error(target)
        return None if err is None else err.message

    def describe(self) -> dict[str, Any]:
        return {}

    def setting_problem(self) -> str | None:
        """What a setting of the environment got wrong (not one left unset), which leaves the provider
        uncallable: ``magsag doctor``'s problem, or None."""
        return None

    def setting_problems(self) -> list[str]:
        """Every problem of :meth:`setting_problem`'s kind (Azure's several settings: each one, at once)."""
        return [problem] if (problem := self.setting_problem()) else []

    def setting_notes(self) -> list[str]:
        """What ``magsag doctor`` notes of a setting that may not do what it seems to (no problem: exit 0)."""
        return []

    async def probe(self) -> str:
        """Whether the provider answers (no model is called, nothing is spent)."""
        return "not probed"
