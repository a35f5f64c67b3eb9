"""An answer a content filter stopped, whatever its vendor calls it, and which of Azure's filters fired.

One reading for every wire format: the vendor's filter (or the model's own refusal) stopping the answer is a
:class:`~magsag_mcp.errors.ContentFilteredError` (kind ``content_filtered``: not retried, the next target tried), billed
at the usage the answer reported, whether or not some of the answer came before it (:func:`filtered`):

    Chat Completions, Azure     finish_reason "content_filter"
    Responses API               status "incomplete", incomplete_details.reason "content_filter"
    Anthropic Messages          stop_reason "refusal" (stop_details: its category, explanation)
    Gemini                      finishReason SAFETY, RECITATION, PROHIBITED_CONTENT, BLOCKLIST, SPII, ...;
                                promptFeedback.blockReason (the prompt, before any answer)

(An answer max_tokens cut is returned, ``finish_reason`` "length", with the warning
:func:`~.empty_answers.cut_at_max_tokens` writes for every vendor; one the server interrupted is a server error.)

Azure says which of its filters fired: ``content_filter_results`` on a choice (a 200 whose finish_reason is
``content_filter``), ``innererror.content_filter_result`` on a 400 (``ResponsibleAIPolicyViolation``). Its message
says only that a filter fired; the categories say what to change in the prompt, and a custom blocklist's id which of
the operator's own lists matched. A deployment whose filter annotates and does not block says what it found in a
category ``detected`` and not ``filtered`` (protected material, with the code's source and license), on an answer
returned all the same: the result's warnings say so (:func:`let_through`).
"""

from __future__ import annotations

from typing import Any

from ..errors import ContentFilteredError, excerpt
from ..text import one_line
from ..types import Usage


def fired_filters(results: Any) -> list[str]:
    """``violence (high)``, ``jailbreak (detected)``, ``custom_blocklists (pizza)``,
    ``protected_material_code (detected; https://github.com/..., license GPL-3.0)``: each category marked ``filtered``,
    in Azure's order."""
    if not isinstance(results, dict):
        return []
    fired = []
    for name, result in results.items():
        if name == "custom_blocklists":
            fired += _fired_blocklists(result)
        elif isinstance(result, dict) and result.get("filtered") is True:
            level = result.get("severity") or ("detected" if result.get("detected") else None)
            level = one_line(level, 40) if isinstance(level, str) else None  # (Azure's words: "high", "detected")
            # protected material code: the public code it matched, and its license (see _cited)
            cited = _cited(result.get("citation"))[2:-1]
            level = "; ".join(x for x in (level, cited) if x)
            fired.append(f"{_named(name)} ({level})" if level else _named(name))
    return fired


def _fired_blocklists(result: Any) -> list[str]:
    """``custom_blocklists (pizza, competitors)``: the ids of the operator's own blocklists that filtered, which the
    spec's descriptions promise ("information about customer block list, if it has been filtered and its id") and the
    service sends as ``{"filtered": true, "details": [{"filtered": true, "id": "pizza"}]}`` (earlier previews: the
    list of details alone). The id says which list's terms to look for in the prompt or the answer; a filtered result
    without one is named as the category."""
    details = result.get("details") if isinstance(result, dict) else result
    if isinstance(details, dict):  # one list's detail, not in a list
        details = [details]
    ids: list[str] = []
    for detail in details if isinstance(details, list) else ():
        blocklist = detail.get("id") if isinstance(detail, dict) and detail.get("filtered") is True else None
        if isinstance(blocklist, (str, int)) and not isinstance(blocklist, bool) and str(blocklist).strip():
            # one line, as an id the operator chose is shown in a message that is one (a line break ends a log's line)
            shown = one_line(str(blocklist), 80)
            if shown not in ids:  # (a list named twice: each prompt part or choice it was evaluated on)
                ids.append(shown)
    if ids:
        more = f" and {len(ids) - _IDS_SHOWN} more" if len(ids) > _IDS_SHOWN else ""
        return [f"custom_blocklists ({', '.join(ids[:_IDS_SHOWN])}{more})"]
    return ["custom_blocklists"] if isinstance(result, dict) and result.get("filtered") is True else []


#: the blocklists' ids a message names at most (a deployment's content filter may attach many)
_IDS_SHOWN = 5


def filter_note(results: Any) -> str:
    """`` (filtered: violence (high))`` to end a message with, or "" when no category says it fired."""
    fired = fired_filters(results)
    return f" (filtered: {', '.join(fired)})" if fired else ""


def inner_error_said(err: dict[str, Any], message: str, code: str | None) -> tuple[str, str | None]:
    """An Azure error's ``message`` ended with the filters its inner error says fired, and its ``code``, or the
    inner error's (``ResponsibleAIPolicyViolation``) when it has none. The inner error is ``innererror`` with
    ``content_filter_result`` as the service sends it, or ``inner_error`` with ``content_filter_results`` as the
    2024-10-21 spec (``../shared/specs``) writes it."""
    inner = err.get("innererror") or err.get("inner_error")
    if not isinstance(inner, dict):
        return message, code
    message += filter_note(inner.get("content_filter_result") or inner.get("content_filter_results"))
    return message, code or (str(inner["code"]) if inner.get("code") else None)


def filtered(said: str, usage: Usage | None, *, provider: str, model: str, came: bool = False) -> ContentFilteredError:
    """The error of an answer a content filter (or the model's refusal) stopped: ``said`` says which, in the vendor's
    words (``the answer was blocked (finishReason: SAFETY)``); ``came``: some of the answer had come before it. That
    part is not returned: it is not the answer the call asked for, and, returned as one (as Chat Completions' and
    the Responses API's were, with a warning a caller reading the text alone never sees), it passed for a whole
    answer, was recorded as a success, and kept the next target from being tried; asked for JSON, it failed as the
    model's invalid JSON. The tokens generated are billed: the error carries the usage the answer reported."""
    part = "; the part of the answer that came before it is not returned" if came else ""
    exc = ContentFilteredError(f"{provider}:{model}: {said}{part}", provider=provider, model=model)
    if usage is not None:
        exc.usage = usage
    return exc


def not_checked(provider: str, model: str, results: Any, what: str = "answer") -> str | None:
    """The warning for a prompt or an answer Azure's content filter did not check: when its filtering system is down
    or too slow, the request completes unfiltered, and only an ``error`` in ``content_filter_results`` says so
    (``{"code": "content_filter_error", "message": "The contents are not filtered"}``). None when it checked."""
    error = results.get("error") if isinstance(results, dict) else None
    if not isinstance(error, dict):
        return None
    said = one_line(": ".join(str(error[k]) for k in ("code", "message") if error.get(k)), 200)
    said = f" ({said})" if said else ""
    after = "it is returned unfiltered" if what == "answer" else "it reached the model unfiltered"
    return f"{provider}:{model}: the provider's content filter did not check the {what}{said}; {after}"


def prompt_not_checked(provider: str, model: str, prompt_results: Any) -> str | None:
    """:func:`not_checked` for an answer's ``prompt_filter_results`` (a list, one per prompt)."""
    for item in prompt_results if isinstance(prompt_results, list) else ():
        note = not_checked(
            provider, model, item.get("content_filter_results") if isinstance(item, dict) else None, "prompt"
        )
        if note:
            return note
    return None


def let_through(provider: str, model: str, results: Any, what: str = "answer") -> str | None:
    """The warning for what Azure's content filter detected in the answer (or the prompt) and did not filter: a
    category ``detected`` and not ``filtered``, as a deployment whose filter annotates and does not block reports it
    (``protected_material_code`` with the ``citation`` of the public code it matches, its URL and license;
    ``protected_material_text``, ``profanity``; ``jailbreak`` or ``indirect_attack`` in the prompt). The answer is
    returned; said nowhere but in the filter's results, code under a license the caller may not meet passed as the
    model's own. None when nothing was detected, or all that was was filtered (then the answer is withheld)."""
    if not isinstance(results, dict):
        return None
    found = {
        name: result
        for name, result in results.items()
        if isinstance(result, dict) and result.get("detected") is True and result.get("filtered") is not True
    }
    if not found:
        return None
    # (names and citations one line each: see _named, _cited)
    shown = excerpt(", ".join(f"{_named(name)}{_cited(result.get('citation'))}" for name, result in found.items()), 400)
    # a citation's license field, not the word anywhere (a URL of .../license-checker/... cited no license)
    licensed = any(_license_of(result.get("citation")) for result in found.values())
    cited = " and the cited source's license" if licensed else ""
    return (
        f"{provider}:{model}: the provider's content filter detected {shown} in the {what} and let it through (the "
        f"deployment's filter annotates it, not blocks it); the answer is returned as it came: check it{cited} before "
        "using it"
    )


def _cited(citation: Any) -> str:
    """`` (https://github.com/..., license EPL-1.0)``: protected material code's ``citation``, its ``URL`` and
    ``license`` (the spec's contentFilterDetectedWithCitationResult), or "" without one."""
    if not isinstance(citation, dict):
        return ""
    said = [
        f"{label}{one_line(citation[key], 200)}"
        for key, label in (("URL", ""), ("license", "license "))
        if isinstance(citation.get(key), str) and citation[key].strip()
    ]
    return f" ({', '.join(said)})" if said else ""


def _license_of(citation: Any) -> bool:
    """Whether protected material code's ``citation`` names a license (its ``license`` field, as :func:`_cited`
    shows it)."""
    return isinstance(citation, dict) and isinstance(citation.get("license"), str) and bool(citation["license"].strip())


def _named(category: Any) -> str:
    """A category's name as Azure's results key it (``protected_material_code``), on one line and bounded: a key is the
    service's word, and a gateway's may be anything."""
    return one_line(str(category), 60)


def answer_notes(provider: str, model: str, results: Any) -> list[str]:
    """What a choice's ``content_filter_results`` warn of: an answer the filter did not check, what it detected and
    let through."""
    return [n for n in (not_checked(provider, model, results), let_through(provider, model, results)) if n]


def prompt_notes(provider: str, model: str, prompt_results: Any) -> list[str]:
    """What an answer's ``prompt_filter_results`` (a list, one per prompt) warn of: a prompt the filter did not
    check, what it detected in one and let through."""
    notes = [prompt_not_checked(provider, model, prompt_results)]
    for item in prompt_results if isinstance(prompt_results, list) else ():
        results = item.get("content_filter_results") if isinstance(item, dict) else None
        notes.append(let_through(provider, model, results, "prompt"))
    return list(dict.fromkeys(n for n in notes if n))
