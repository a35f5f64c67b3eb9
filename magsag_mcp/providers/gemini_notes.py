"""What a Gemini answer's result warns of: what the answer held that the result leaves out (an image model's
pictures), an answer stopped early for a reason that is neither its end nor max_tokens, and a model Google is
retiring. Each is something a caller that reads the text alone (an MCP client, most agents) would not know."""

from __future__ import annotations

from typing import Any

from ..text import one_line

#: finish reasons of an answer that ended whole, or that are said elsewhere (max_tokens' cut, in the provider's flow)
_ENDED = frozenset({"STOP", "MAX_TOKENS"})
#: an image model's: no picture was made, and the text beside it is whole
_NO_PICTURE = frozenset({"NO_IMAGE", "IMAGE_OTHER"})
#: modelStatus.modelStage values of a model on its way out (a deprecated or retired one is refused outright)
_LEAVING = frozenset({"LEGACY", "DEPRECATED", "RETIRED"})


def part_kind(part: dict[str, Any], fields: list[str]) -> str:
    """What a part the result leaves out holds (``fields``: those it sets): a picture's (or another file's) MIME
    type, else the name of its first field."""
    field = next((f for f in fields if f in ("inlineData", "fileData")), fields[0])
    data = part.get(field)
    mime = data.get("mimeType") if isinstance(data, dict) else None
    return one_line(mime, 60) if isinstance(mime, str) and mime else field


def left_out(provider: str, model: str, kinds: dict[str, int], with_text: bool) -> list[str]:
    """A warning for the parts of the answer the result does not carry (``kinds``: each kind's count, see
    :func:`part_kind`): billed, and without it an answer of a picture alone came back as "" with nothing said."""
    if not kinds:
        return []
    what = ", ".join(
        f"{n} picture{'s' if n > 1 else ''} ({kind})"
        if kind.startswith("image/")
        else f"{n} {kind} part{'s' if n > 1 else ''}"
        for kind, n in kinds.items()
    )
    beside = "beside its text" if with_text else "and no text"
    they = "it is" if sum(kinds.values()) == 1 else "they are"
    return [
        f"{provider}:{model} answered with {what} {beside}: magsag returns only an answer's text, and {they} billed "
        "all the same; route calls that want text to a text model"
    ]


def stopped_early(provider: str, model: str, reason: Any, message: Any) -> list[str]:
    """A warning for an answer with text that Gemini stopped for a reason that is not its end (OTHER, "Unknown
    reason"; FINISH_REASON_UNSPECIFIED; a reason newer than this reader): the text is returned, as the answer so far,
    but a caller reading the text alone would take it for a whole one. A block or a broken answer is an error, and
    max_tokens' cut is said where the provider's flow says it for every vendor."""
    if reason is None or reason in _ENDED or reason in _NO_PICTURE:
        return []
    # (the vendor's words on one line, without control characters, and bounded: a finishMessage of many lines, or of
    # 100 KB, went into the warning as it came)
    why = f": {one_line(str(message), 200)}" if message else ""
    return [
        f"{provider}:{model} stopped its answer early (finishReason: {one_line(str(reason), 60)}{why}): it may not be "
        "whole; ask again, or use another model"
    ]


def unfinished(provider: str, model: str) -> list[str]:
    """A warning for an answer whose candidate came without a finishReason, which the spec says means "the model has
    not stopped generating tokens" (an answer not streamed, or a stream read whole as one JSON array, that ended
    before the chunk that says why): read as "other", its text passed for a whole answer with nothing said."""
    return [
        f"{provider}:{model} answered without a finishReason, which says the model had not stopped generating: the "
        "answer may not be whole; ask again, or use another model"
    ]


def retiring(status: Any, provider: str, model: str) -> list[str]:
    """A warning for a model Google says is on its way out (modelStatus: LEGACY, with its retirementTime): its
    calls answer until the day they fail with a 404, which a route naming it should not learn from."""
    if not isinstance(status, dict):
        return []
    stage, when, said = status.get("modelStage"), status.get("retirementTime"), status.get("message")
    # (a stage that is no name, a broken server's object, names no stage of leaving: looked up, it raised TypeError)
    if not (isinstance(stage, str) and stage in _LEAVING) and not when:
        return []
    return [
        f"{provider}:{model} is {str(stage or 'being retired').lower()}"
        + (f" and retires at {one_line(str(when), 40)}" if when else "")
        + (f" ({one_line(str(said), 200)})" if said else "")
        + "; move its routes and model_config to a current model"
    ]
