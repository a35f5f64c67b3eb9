"""The usage ledger: every attempt of every call, durable, with exact costs. See ``store.py``."""

from .connection import default_db_path
from .exports import LongRun, RunsExport
from .filters import UsageFilters, parse_duration_seconds, parse_since
from .money import from_pusd, to_pusd
from .store import Ledger

__all__ = [
    "Ledger",
    "UsageFilters",
    "RunsExport",
    "LongRun",
    "default_db_path",
    "parse_since",
    "parse_duration_seconds",
    "from_pusd",
    "to_pusd",
]
