"""A policy's limit given from Python as any number or text is a limit the ledger counts or the policy's own
refusal (InvalidPolicy, a ConfigError), said in a few words: an int of 5,000 digits raised a bare ValueError (its
str() past Python's 4,300 digits), and 1e-999999 was written out whole in the refusal, a million characters."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from magsag_mcp import errors as E
from magsag_mcp.governance.policy_models import LIMIT_MAX_USD, Thresholds

#: how many examples; reproducible and untimed by the run's profile (tests/conftest.py)
PROPERTY = settings(max_examples=300)


@pytest.mark.parametrize(
    ("amount", "said"),
    [
        (10**5000, "$1E+5000 is more than the ledger counts as one amount"),
        (-(10**5000), "write a number above 0"),
        ("1e-999999", "$1E-999999 has more decimal places than the ledger counts (12: pico-USD)"),
        (Decimal("1" * 60), "$1.111E+59 is more than the ledger counts as one amount"),
        # of many decimal places, not far below a dollar: written out whole, 5,000 characters and more
        ("0." + "1" * 5000, "$0.1111111111111111111111111... (5,000 decimal places) has more decimal places than"),
        ("1." + "0" * 4000 + "1", "$1.0000000000000000000000000... (4,001 decimal places) has more decimal places"),
        ("9999999." + "9" * 300, "$9,999,999.9999999999999999999999999... (300 decimal places) is more than the"),
        ("1." + "1" * 31, "$1.1111111111111111111111111... (31 decimal places) has more decimal places than"),
        ("1." + "1" * 30, "$1.111111111111111111111111111111 has more decimal places than the ledger counts"),
    ],
    ids=["1e5000", "-1e5000", "1e-999999", "60 ones", "5000 places", "4001 places", "300 places", "31", "30"],
)
def test_a_limit_of_any_size_from_python_is_refused_in_a_few_words(amount: object, said: str):
    with pytest.raises(E.ConfigError) as info:
        Thresholds(max_cost_per_call_usd=amount)
    assert said in info.value.message and len(info.value.message) < 400, info.value.message[:400]


_amounts = st.one_of(
    st.integers(min_value=-(10**5000), max_value=10**5000),
    st.sampled_from([10**5000, -(10**5000), 10**400, 1, 0]),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=True, allow_infinity=True),
    st.from_regex(r"\A-?[0-9]{0,30}(\.[0-9]{0,400})?([eE][-+]?[0-9]{1,7})?\Z"),
)


@PROPERTY
@given(_amounts)
def test_any_limit_is_one_the_ledger_counts_or_refused_in_a_few_words(amount: object):
    try:
        limit = Thresholds(max_cost_per_call_usd=amount).max_cost_per_call_usd
    except E.ConfigError as exc:
        assert len(exc.message) < 600, exc.message[:600]
    else:
        assert limit is not None and 0 < limit <= LIMIT_MAX_USD
