"""The error tree across its modules: the ``ProviderError`` branch is defined in ``provider_errors.py`` (a bug's
redaction in ``bug_redaction.py``) and every
class is still imported from ``magsag_mcp.errors`` (``from magsag_mcp.errors import X``, for every X it had), where it
is named in a traceback and found by pickle (``__module__``), as before the branch had a module of its own."""

from __future__ import annotations

import pickle
import subprocess
import sys
import traceback

import pytest

from magsag_mcp import errors, provider_errors

#: what ``from magsag_mcp.errors import X`` took before the split, each name (the tree, AgentError, TransportCause,
#: AllTargetsFailed, and what it re-exports of redaction)
_NAMES_BEFORE = (
    "AgentError AllTargetsFailed AuthenticationError BadRequestError BudgetExceeded CatalogError ConfigError "
    "ContentFilteredError ContextTooLongError InputError InternalError InvalidOutputError LedgerError MagsagError "
    "MalformedResponseError ModelNotFoundError NameLookupTimeoutError NotConfiguredError OverloadedError "
    "PLACEHOLDER_KEYS PayloadError PermissionDeniedError PolicyDenied ProviderConnectionError ProviderError "
    "ProviderTimeoutError QuotaExhaustedError RateLimitError RedactingFilter ServerError TransportCause "
    "UnexpectedStatusError UnknownSkillError UnsupportedFeatureError excerpt redact redact_values redacting_logger "
    "register_secret"
).split()


@pytest.mark.parametrize("name", _NAMES_BEFORE)
def test_every_name_errors_had_is_imported_from_it(name: str):
    assert hasattr(errors, name), name
    if name in provider_errors.__all__:
        assert getattr(errors, name) is getattr(provider_errors, name)


@pytest.mark.parametrize("name", provider_errors.__all__)
def test_a_provider_error_is_named_from_errors_and_pickled_as_it(name: str):
    cls = getattr(errors, name)
    assert cls.__module__ == "magsag_mcp.errors"
    assert issubclass(cls, errors.MagsagError) or cls is errors.TransportCause
    err = cls("it failed", provider="openai") if issubclass(cls, errors.ProviderError) else cls("it failed")
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is cls and str(again) == "it failed"
    said = "".join(traceback.format_exception_only(err))
    assert said.startswith(f"magsag_mcp.errors.{name}: it failed"), said


def test_the_provider_branch_imported_first_is_the_same_tree():
    # (a fresh interpreter: the package imports errors, which imports the branch once MagsagError exists)
    code = (
        "from magsag_mcp.provider_errors import RateLimitError\n"
        "from magsag_mcp.errors import MagsagError, RateLimitError as Same, AllTargetsFailed\n"
        "assert RateLimitError is Same and issubclass(Same, MagsagError)\n"
        "assert issubclass(AllTargetsFailed.build('x', attempts=[], last_error=Same('y')).__class__, Same)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_bug_s_stand_in_is_named_from_errors_and_pickled_as_it():
    """said_without_keys and RedactedException live in bug_redaction.py and are still imported from errors, where the
    stand-in is named in a traceback and found by pickle, as before they had a module of their own."""
    from magsag_mcp import bug_redaction

    assert errors.said_without_keys is bug_redaction.said_without_keys
    assert errors.RedactedException is bug_redaction.RedactedException
    assert errors.RedactedException.__module__ == "magsag_mcp.errors"
    stand_in = errors.RedactedException.of(ValueError("refused it"))
    again = pickle.loads(pickle.dumps(stand_in))
    assert type(again) is errors.RedactedException and str(again) == str(stand_in)
    assert str(again) == "builtins.ValueError (its text redacted): refused it"
    said = "".join(traceback.format_exception_only(stand_in))
    assert said.startswith("magsag_mcp.errors.RedactedException: builtins.ValueError"), said


def test_the_bug_redaction_imported_first_is_the_same_tree():
    code = (
        "from magsag_mcp.bug_redaction import RedactedException, said_without_keys\n"
        "from magsag_mcp.errors import RedactedException as Same, said_without_keys as same, MagsagError\n"
        "assert RedactedException is Same and said_without_keys is same\n"
        "err = ValueError('x')\n"
        "assert said_without_keys(err) is err\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
