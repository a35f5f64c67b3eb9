"""The settings a vendor's endpoint sends as headers beside the key, checked before they are sent: OpenAI's
organization and project ids, Anthropic's API version.

Unchecked, a slip there was sent on every call and answered by the vendor with an error that named neither the
variable nor the fix (an org name where its id goes: 401 "OpenAI-Organization header should match organization
for API key", read as a bad key; ``ANTHROPIC_VERSION=2023/06/01``: 400 on every request), and ``magsag doctor``
called the provider ready. Each problem names its variable and the fix; a value is quoted only when it is short
and no key (:func:`~magsag_mcp.settings.given`): a key pasted into the wrong variable is said by its length alone.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Mapping

from ..settings import given

#: OpenAI's ids, as its dashboard shows them and its API returns them: ``org-`` and ``proj_`` then letters and digits
_ORG_ID = re.compile(r"org-[A-Za-z0-9]+")
_PROJECT_ID = re.compile(r"proj_[A-Za-z0-9]+")
#: Anthropic's API versions are dates (``2023-06-01``, the one documented version)
_DATED = re.compile(r"\d{4}-\d{2}-\d{2}")


def openai_id_problem(env: Mapping[str, str]) -> str | None:
    """What is wrong with ``OPENAI_ORG_ID`` (or ``OPENAI_ORGANIZATION``, read when it is unset) and
    ``OPENAI_PROJECT_ID``, as headers() reads them; None when both are unset or look like OpenAI's ids."""
    org_name = next((n for n in ("OPENAI_ORG_ID", "OPENAI_ORGANIZATION") if (env.get(n) or "").strip()), None)
    problems = []
    if org_name is not None:
        problems.append(_id_problem(org_name, env[org_name].strip(), _ORG_ID, "organization", "org-"))
    if project := (env.get("OPENAI_PROJECT_ID") or "").strip():
        problems.append(_id_problem("OPENAI_PROJECT_ID", project, _PROJECT_ID, "project", "proj_"))
    said = [p for p in problems if p]
    return "; and ".join(said) if said else None


def _id_problem(name: str, value: str, shape: re.Pattern[str], what: str, prefix: str) -> str | None:
    if _fits(shape, value):
        return None
    if what == "organization" and _PROJECT_ID.fullmatch(value):
        fix = "it is a project id: move it to OPENAI_PROJECT_ID"
    elif what == "project" and _ORG_ID.fullmatch(value):
        fix = "it is an organization id: move it to OPENAI_ORG_ID"
    else:
        fix = (
            f"set it to the {what}'s id ({prefix}..., under Settings in the OpenAI dashboard, not its name), or unset "
            f"it to send none (the key's own {what} is used)"
        )
    return f"{given(name, value)} is not an OpenAI {what} id ({prefix} and letters and digits); {fix}"


def anthropic_version_problem(env: Mapping[str, str]) -> str | None:
    """What is wrong with ``ANTHROPIC_VERSION`` (sent as ``anthropic-version``), or None when it is unset or a date."""
    value = (env.get("ANTHROPIC_VERSION") or "").strip()
    if not value:
        return None
    if _a_version(value):
        return None
    return (
        f"{given('ANTHROPIC_VERSION', value)} is not an Anthropic API version, which is a date written YYYY-MM-DD; "
        "set ANTHROPIC_VERSION=2023-06-01, or unset it for that default"
    )


# Asked before every attempt of a target with params or a base URL of its own (HTTPProvider.unavailable_error keeps
# no verdict for those), where the values are the same call after call: each is matched once, not on every attempt.
# The verdict alone is kept; a refusal's message is made when said (given() reads the secrets known then).
@functools.lru_cache(maxsize=64)
def _fits(shape: re.Pattern[str], value: str) -> bool:
    return shape.fullmatch(value) is not None


@functools.lru_cache(maxsize=64)
def _a_version(value: str) -> bool:
    try:
        return _DATED.fullmatch(value) is not None and bool(datetime.date.fromisoformat(value))
    except ValueError:  # a month or day out of range (2023-13-01)
        return False
