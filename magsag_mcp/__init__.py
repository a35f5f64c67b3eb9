"""magsag-mcp: route LLM calls across providers, with governance before spend and a usage ledger.

The Python API follows the users' guide::

    from magsag_mcp import Magsag, Delegation, RateLimitError

    with Magsag() as mg:
        result = mg.skills.invoke("skill.analysis", {"data": "...", "model_config": {"model": "gpt-4o"}})

Heavy modules are imported on first use so that ``import magsag_mcp`` (and the MCP server's start-up)
stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    AllTargetsFailed,
    AuthenticationError,
    BadRequestError,
    BudgetExceeded,
    CatalogError,
    ConfigError,
    ContentFilteredError,
    ContextTooLongError,
    InputError,
    InternalError,
    InvalidOutputError,
    LedgerError,
    MagsagError,
    MalformedResponseError,
    ModelNotFoundError,
    NameLookupTimeoutError,
    NotConfiguredError,
    OverloadedError,
    PayloadError,
    PermissionDeniedError,
    PolicyDenied,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExhaustedError,
    RateLimitError,
    ServerError,
    UnexpectedStatusError,
    UnknownSkillError,
    UnsupportedFeatureError,
)

if TYPE_CHECKING:
    from .api import Delegation as Delegation
    from .api import Magsag as Magsag
    from .api import Observer as Observer
    from .api import Registry as Registry
    from .api import Runner as Runner
    from .api import Skills as Skills
    from .api import UnknownCostWarning as UnknownCostWarning
    from .budget_dicts import BudgetLimitDict as BudgetLimitDict
    from .budget_dicts import BudgetStatusDict as BudgetStatusDict
    from .budget_dicts import RunCostDict as RunCostDict
    from .invoke_result import InvokeResult as InvokeResult
    from .result_dicts import InvokeResultDict as InvokeResultDict
    from .result_dicts import RouteExplanationDict as RouteExplanationDict
    from .result_dicts import SkillDict as SkillDict
    from .service import Service as Service
    from .usage_dicts import AgentDayDict as AgentDayDict
    from .usage_dicts import DailyUsageDict as DailyUsageDict
    from .usage_dicts import RunDict as RunDict
    from .usage_dicts import RunsPageDict as RunsPageDict
    from .usage_dicts import SearchHitDict as SearchHitDict
    from .usage_dicts import SearchPageDict as SearchPageDict
    from .usage_dicts import UsageSummaryDict as UsageSummaryDict

__version__ = "0.1.0"

_LAZY = {
    "Magsag": "api",
    "Delegation": "api",
    "Skills": "api",
    "Runner": "api",
    "Observer": "api",
    "Registry": "api",
    "UnknownCostWarning": "api",
    "Service": "service",
    "InvokeResult": "invoke_result",
    # what the API's methods return, for a caller's annotations (docs/python.md lists which is whose)
    "InvokeResultDict": "result_dicts",
    "RouteExplanationDict": "result_dicts",
    "SkillDict": "result_dicts",
    "UsageSummaryDict": "usage_dicts",
    "DailyUsageDict": "usage_dicts",
    "AgentDayDict": "usage_dicts",
    "RunsPageDict": "usage_dicts",
    "RunDict": "usage_dicts",
    "SearchPageDict": "usage_dicts",
    "SearchHitDict": "usage_dicts",
    "BudgetStatusDict": "budget_dicts",
    "BudgetLimitDict": "budget_dicts",
    "RunCostDict": "budget_dicts",
}

__all__ = [
    "__version__",
    *_LAZY,
    "AllTargetsFailed",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceeded",
    "CatalogError",
    "ConfigError",
    "ContentFilteredError",
    "ContextTooLongError",
    "InputError",
    "InternalError",
    "InvalidOutputError",
    "LedgerError",
    "MagsagError",
    "MalformedResponseError",
    "ModelNotFoundError",
    "NameLookupTimeoutError",
    "NotConfiguredError",
    "OverloadedError",
    "PayloadError",
    "PermissionDeniedError",
    "PolicyDenied",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "QuotaExhaustedError",
    "RateLimitError",
    "ServerError",
    "UnexpectedStatusError",
    "UnknownSkillError",
    "UnsupportedFeatureError",
]


if not TYPE_CHECKING:  # seen by a type checker, it would make every name of the package exist (as Any)

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'magsag_mcp' has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:  # the lazy names too: what a REPL's or a notebook's completion offers
    return sorted({*globals(), *__all__})
