"""Azure's refusals of a credential that no fresh key or token clears: the settings they point at.

- 401 ``PermissionDenied`` ("The principal `...` lacks the required data action `...`"): the Microsoft Entra ID
  token was accepted, and its identity has no role on the resource. A token renewed for it is refused the same.
- 403 ``AuthenticationTypeDisabled`` ("Key based authentication is disabled for this resource."): the resource
  takes Entra ID tokens only, and the key was sent (as it is, rather than ``AZURE_OPENAI_AD_TOKEN``, when both are
  set).
"""

from __future__ import annotations

import re

from ..errors import ProviderError

_LACKS_ROLE = re.compile(r"lacks the required data action", re.IGNORECASE)
_KEY_AUTH_DISABLED = re.compile(r"key based authentication is disabled", re.IGNORECASE)

ROLE_FIX = (
    "the credential was accepted, but its identity has no role that may call this resource's deployments: assign "
    "it Cognitive Services OpenAI User on the resource (its Access control (IAM)); the same token works once the "
    "role applies"
)


def lacks_role(exc: ProviderError) -> bool:
    """Whether a 401 says the identity lacks a role on the resource, not that its credential is bad."""
    return exc.details.get("code") == "PermissionDenied" or bool(_LACKS_ROLE.search(exc.message))


def key_auth_disabled(exc: ProviderError) -> bool:
    """Whether a 403 says the resource takes no API key (key authentication disabled)."""
    return exc.details.get("code") == "AuthenticationTypeDisabled" or bool(_KEY_AUTH_DISABLED.search(exc.message))


def key_refused_fix(token_set: bool) -> str:
    """The fix for :func:`key_auth_disabled`; ``token_set``: AZURE_OPENAI_AD_TOKEN is set too, and was not sent."""
    if token_set:
        return (
            "this resource takes no API key, only a Microsoft Entra ID token: unset AZURE_OPENAI_API_KEY, which is "
            "sent instead of AZURE_OPENAI_AD_TOKEN when both are set"
        )
    return "this resource takes no API key, only a Microsoft Entra ID token: set AZURE_OPENAI_AD_TOKEN"
