"""The two snapshot-suffix rules of model_patterns, side by side: the did-you-mean's (:func:`nearest_model`) reads
only a date as a snapshot's suffix; what an Azure deployment served (:func:`other_models_served`) also reads four
digits (``gpt-35-turbo-0125``) as one. Written as one rule, either would change what it accepts."""

from __future__ import annotations

from magsag_mcp.governance.model_patterns import nearest_model, nearly_allowed, other_models_served


def test_the_did_you_mean_reads_a_date_as_a_snapshot_of_the_undated_name():
    assert nearest_model("gpt-4o-2024-08-06", ["gpt-4o", "gpt-4o-mini"]) == "gpt-4o"
    assert nearest_model("claude-3-5-sonnet", ["claude-3-5-sonnet-20241022"]) == "claude-3-5-sonnet-20241022"


def test_the_did_you_mean_reads_a_misspelt_name_without_its_date_as_the_dated_model():
    # "claude-3-5-sonet" got no did-you-mean beside claude-3-5-sonnet-20241022 (the date put it below the ratio),
    # while "gpt-4o-mni" got one beside gpt-4o-mini
    allowed = ["gpt-4o", "claude-3-5-sonnet-20241022", "claude-3-haiku-20240307"]
    assert nearest_model("claude-3-5-sonet", allowed) == "claude-3-5-sonnet-20241022"
    assert nearly_allowed(allowed, "claude-3-5-sonet") == " (did you mean 'claude-3-5-sonnet-20241022'?)"
    # another model of a family is still no misspelling of a dated one
    assert nearest_model("gpt-4o-mini", ["gpt-4o-2024-08-06"]) is None
    assert nearest_model("claude-3-opus", allowed) is None


def test_the_did_you_mean_offers_no_other_version_of_a_model_as_its_misspelling():
    # a name whose version differs is another model, not a typo: "claude-sonnet-4-5" refused beside an allowed
    # claude-sonnet-4-20250514 was told "did you mean 'claude-sonnet-4-20250514'?", an older model, once the
    # dateless did-you-mean compared names without their dates; undated, claude-3-7-sonnet was offered claude-3-5-sonnet
    assert nearest_model("claude-sonnet-4-5", ["claude-sonnet-4-20250514"]) is None
    assert nearest_model("claude-opus-4-1", ["claude-opus-4-20250514"]) is None
    assert nearest_model("claude-3-7-sonnet", ["claude-3-5-sonnet-20241022"]) is None
    assert nearest_model("claude-3-5-haiku", ["claude-3-haiku-20240307"]) is None
    assert nearest_model("o4-mini", ["o3-mini-2025-01-31"]) is None
    assert nearest_model("claude-3-7-sonnet", ["claude-3-5-sonnet"]) is None
    assert nearest_model("o4-mini", ["o3-mini"]) is None
    assert nearly_allowed(["claude-sonnet-4-20250514"], "claude-sonnet-4-5") == ""
    # a misspelling keeps the version, however written: dated or not, dots or dashes, a dash left out
    assert nearest_model("claude-sonet-4", ["claude-sonnet-4-20250514"]) == "claude-sonnet-4-20250514"
    assert nearest_model("claude-3.5-sonet", ["claude-3-5-sonnet-20241022"]) == "claude-3-5-sonnet-20241022"
    assert nearest_model("gpt4o", ["gpt-4o"]) == "gpt-4o"
    assert nearest_model("gpt-4o-mni", ["gpt-4o-mini"]) == "gpt-4o-mini"


def test_the_did_you_mean_does_not_read_four_trailing_digits_as_a_snapshot():
    # across vendors and local servers, four digits at the end are as often a size or a version as an MMDD date
    assert nearest_model("gpt-4-0613", ["gpt-4", "gpt-4o"]) is None
    assert nearest_model("llama3-8192", ["llama3"]) is None


def test_an_azure_deployment_serving_its_models_four_digit_snapshot_serves_that_model():
    assert other_models_served("gpt-35-turbo", ["gpt-35-turbo-0125"]) == []
    assert other_models_served("gpt-4o-mini", ["gpt-4o-mini-2024-07-18"]) == []
    served = other_models_served("gpt-4o-mini", ["gpt-4o-2024-05-13"])
    assert [name for name, _ in served] == ["gpt-4o-2024-05-13"]
    assert "gpt-4o" in served[0][1]
