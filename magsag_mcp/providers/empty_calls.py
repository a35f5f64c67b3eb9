"""A call with nothing in it to answer, for the vendors whose APIs refuse one.

Claude's Messages API and Gemini's generateContent take no request without a turn that says something (each refuses
it with a 400), and their bodies leave an empty or blank message out (either API refuses one of those too): a call
whose every message is empty (a skill's field given as blank text, a conversation of empty turns) left them a body
of no turn, sent, refused, and the 400 stopped the cascade as a bad request of ours. It is said before anything is
sent, and the next target is tried (an OpenAI format answers such a call)."""

from __future__ import annotations

from ..errors import UnsupportedFeatureError


def nothing_to_answer(api: str) -> UnsupportedFeatureError:
    """The error of a call whose messages left ``api`` no turn to send."""
    return UnsupportedFeatureError(
        f"{api} takes no call without a message that says something, and every message of this call is empty or "
        "blank (a skill's field given as blank text?); give the call the text to answer"
    )
