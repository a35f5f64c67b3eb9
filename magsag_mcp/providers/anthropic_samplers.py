"""The sampling settings the Messages API refuses on the models released after Claude Opus 4.6, by their names."""

from __future__ import annotations

import re
from typing import Any

#: claude-{family}-{major}[-{minor}], the naming since Claude 4 (dates and suffixes may follow): Opus, Sonnet and Haiku,
#: and the families since (Fable, Mythos); Claude 3's claude-3-5-sonnet puts the version first
_CLAUDE_VERSION = re.compile(r"^claude-[a-z]+-(\d+)(?:-(\d{1,2}))?(?:-|$)")


def claude_version(model: str) -> tuple[int, int] | None:
    m = _CLAUDE_VERSION.match(model)
    return None if m is None else (int(m.group(1)), int(m.group(2) or 0))


def takes_no_prefill(model: str) -> bool:
    """Claude Opus 4.6, Sonnet 4.6 and the models after them refuse a prefill (400 "This model does not support
    assistant message prefill. The conversation must end with a user message."), by the version in the name."""
    version = claude_version(model)
    return version is not None and version >= (4, 6)


#: the API refusing a prefill (a final assistant turn): 400 "This model does not support assistant message prefill"
_PREFILL_REFUSED = re.compile(r"does not support assistant message prefill", re.IGNORECASE)


def refuses_prefill(message: str) -> bool:
    """Whether an error says the model takes no prefill, which a name :func:`takes_no_prefill` cannot read (a
    gateway's alias) says only so."""
    return _PREFILL_REFUSED.search(message) is not None


def fixed_sampling(model: str) -> bool:
    """The Messages API: "Models released after Claude Opus 4.6 do not support setting temperature. A
    value of 1.0 ... will be accepted ..., all other values will be rejected with a 400 error." Nor top_p
    ("A value >= 0.99 will be accepted") nor top_k ("any value will be rejected"). Release order is read
    from the version in the model's name: above 4.6."""
    version = claude_version(model)
    return version is not None and version > (4, 6)


def without_samplers(who: str, least_top_p: float, extra: dict[str, Any], notes: list[str]) -> None:
    """Leaves out of ``extra`` (a target's params) the top_k and a top_p below ``least_top_p`` that the API refuses
    (400, which would stop the whole cascade as a bad request), saying so: a model released after Claude Opus 4.6
    takes no top_k and no top_p below 0.99, and a request with extended thinking on no top_k and no top_p below
    0.95. ``who``: what takes none, as the note says it."""
    if "top_k" in extra:
        notes.append(f"{who} takes no top_k; top_k {extra.pop('top_k')!r} was not sent")
    top_p = extra.get("top_p")
    if isinstance(top_p, int | float) and not isinstance(top_p, bool) and top_p < least_top_p:
        notes.append(f"{who} takes only a top_p of {least_top_p:g} or more; top_p {extra.pop('top_p')!r} was not sent")
