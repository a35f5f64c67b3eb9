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
