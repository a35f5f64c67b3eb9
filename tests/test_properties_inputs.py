"""Properties of what users write (a ledger query's time and filters, a prices.yaml, a policy file), searched by
hypothesis for counterexamples: any value is either read or refused with the product's own error that names what was
wrong (InputError, CatalogError), never a Python exception from inside; and what is read is within its bounds."""

from __future__ import annotations

import math
import tempfile
from decimal import Decimal
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from magsag_mcp.errors import CatalogError, InputError
from magsag_mcp.governance.policy_files import load_policy_file
from magsag_mcp.ledger.filters import UsageFilters
from magsag_mcp.ledger.times import MAX_DURATION_SECONDS, cuts_a_day, parse_since
from magsag_mcp.price_files import MAX_RATE, read_prices

#: how many examples; reproducible and untimed by the run's profile (tests/conftest.py)
PROPERTY = settings(max_examples=200)

#: a number as a YAML or JSON document may write it, or text that nearly is one
numbers = (
    st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.decimals(allow_nan=False, allow_infinity=False).map(str)
    | st.sampled_from(["1e400", "-0", "0x10", "1_000", ".5", "5.", "$3", "3 USD", "USD 3", "1,5", "", " ", "nan"])
)
#: what a time may be written as
time_texts = (
    st.text(max_size=40)
    | st.from_regex(r"\A\s*\d{1,12}(\.\d{1,4})?\s*[smhdwSMHDWy]?\s*\Z")
    | st.datetimes().map(lambda d: d.isoformat())
    | st.tuples(st.datetimes(), st.sampled_from(["Z", "z", "+14:00", "-12:00"])).map(lambda t: t[0].isoformat() + t[1])
    | st.sampled_from(["0", "-7d", "+7d", "1M", "1y", "6 months", "99999999999999999999d", "0001-01-01T00:00:00+14:00"])
)
#: any JSON-like value
values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@PROPERTY
@given(time_texts | numbers | values, st.sampled_from(["since", "until"]))
def test_any_time_is_read_within_the_ledgers_bounds_or_refused_naming_its_field(value, field):
    try:
        seconds = parse_since(value, field=field, now=1_780_000_000.0)
    except InputError as exc:
        assert field in exc.message
        return
    assert seconds is None or (math.isfinite(seconds) and -MAX_DURATION_SECONDS <= seconds <= 2 * MAX_DURATION_SECONDS)
    assert isinstance(cuts_a_day(value), bool)


#: the filters, and one misspelt
_FILTER_NAMES = "agent run_id skill model provider status since until limit offset cursor modle".split()


@PROPERTY
@given(
    st.dictionaries(
        st.sampled_from(_FILTER_NAMES),
        time_texts | values,
        max_size=4,
    ),
    st.booleans(),
)
def test_any_filters_are_read_or_refused_with_an_input_error(given_filters, paged):
    try:
        built = UsageFilters.build(given_filters, paged=paged)
    except InputError as exc:
        assert exc.message.strip()
        return
    assert 1 <= built.limit <= 10_000 and built.offset >= 0


_RATE_NAMES = ["input", "output", "cache_read", "cache_write", "cache_write_1h", "input_audio", "output_audio",
               "output_image", "cached_input", "service_tiers"]  # fmt: skip
_KEYS = st.sampled_from(["compat:m-one", "openai:gpt-4o", "anthropic:*", "gemini:gemini-2.5-pro", "local:*",
                         "nope:m", "no-colon", "Compat:M-One", "azure:dep-a"]) | st.text(max_size=12)  # fmt: skip
#: a rate as prices.yaml writes one: a good one (so that entries are read, and their rates checked: up to twice the
#: dearest allowed) or now and then any number or value at all
_GOOD_RATE = (
    st.decimals(min_value=0, max_value=2 * MAX_RATE, places=6).map(float)
    | st.decimals(min_value=0, max_value=1000, places=8).map(str)
    | st.integers(0, 100)
)
_RATE = _GOOD_RATE | numbers
_ENTRIES = (
    st.fixed_dictionaries(
        {"input": _GOOD_RATE, "output": _GOOD_RATE},
        optional={
            **{name: _GOOD_RATE for name in _RATE_NAMES[2:8]},
            "service_tiers": st.dictionaries(
                st.sampled_from(["priority", "flex"]),
                st.fixed_dictionaries({"input": _GOOD_RATE, "output": _GOOD_RATE}, optional={"cache_read": _RATE}),
                max_size=2,
            ),
        },
    )
    | st.dictionaries(st.sampled_from(_RATE_NAMES), _RATE | values, max_size=4)
    | values
)
_GOOD_KEYS = st.sampled_from(["compat:m-one", "openai:gpt-4o", "anthropic:*", "gemini:gemini-2.5-pro", "local:*"])


@PROPERTY
@given(st.dictionaries(_GOOD_KEYS, _ENTRIES, max_size=3) | st.dictionaries(_KEYS, _ENTRIES, max_size=4) | values)
def test_any_prices_yaml_is_read_into_rates_within_bounds_or_its_problems_are_listed(document):
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "prices.yaml").write_text(yaml.safe_dump(document, allow_unicode=True))
        entries, problems = read_prices(Path(folder), {})
    assert all(isinstance(p, str) and p for p in problems)
    for _key, units in entries:
        for rate in (units.input, units.output, units.cache_read, units.cache_write, units.cache_write_1h):
            assert rate is None or (isinstance(rate, Decimal) and rate.is_finite() and 0 <= rate <= MAX_RATE)


_LIMIT_NAMES = [
    f"max_cost_per_{scope}_usd" for scope in ("call", "run", "agent_daily", "day", "agent_monthly", "month")
]
_THRESHOLDS = st.dictionaries(st.sampled_from(_LIMIT_NAMES), _GOOD_RATE, min_size=1, max_size=4) | st.dictionaries(
    st.sampled_from([*_LIMIT_NAMES, "max_cost_per_week_usd", "timezone"]),
    _RATE | st.sampled_from(["UTC", "Europe/Berlin", "Mars/Olympus"]) | values,
    max_size=3,
)
_GOOD_POLICY = st.fixed_dictionaries(
    {"name": st.from_regex(r"\A[a-z][a-z_]{0,10}\Z")},
    optional={
        "thresholds": _THRESHOLDS,
        "allowed_models": st.lists(st.sampled_from(["gpt-4o", "claude-*", "local:llama3.1:70b"]), max_size=3),
        "allow_unpriced": st.booleans(),
    },
)
_POLICY = _GOOD_POLICY | st.fixed_dictionaries(
    {"name": st.text(max_size=10) | values},
    optional={
        "thresholds": _THRESHOLDS | values,
        "allowed_models": st.lists(st.text(max_size=12), max_size=3) | values,
        "requirements": st.dictionaries(st.text(max_size=8), st.lists(st.text(max_size=10), max_size=2)) | values,
        "allow_unpriced": values,
        "description": values,
    },
)


@PROPERTY
@given(
    st.fixed_dictionaries({"policies": st.lists(_GOOD_POLICY, min_size=1, max_size=2, unique_by=lambda p: p["name"])})
    | st.fixed_dictionaries({"policies": st.lists(_POLICY, max_size=3) | values})
    | values
)
def test_any_policy_file_is_read_or_refused_with_a_catalog_error(document):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "policy.yaml"
        path.write_text(yaml.safe_dump(document, allow_unicode=True))
        try:
            policies = load_policy_file(path)
        except CatalogError as exc:
            assert exc.message.strip()
            return
    for limit in policies.limits:
        assert isinstance(limit.amount, Decimal) and limit.amount.is_finite() and limit.amount >= 0
