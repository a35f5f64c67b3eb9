"""A limit or a price written with a currency sign ("$0.01") is refused with the number to write instead; a price or a
max_tokens that reads as written in another unit is a problem `catalog validate` lists."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from magsag_mcp import errors as E
from magsag_mcp.cli import main
from magsag_mcp.exact_money import amount_problem
from magsag_mcp.governance import load_policies
from magsag_mcp.pricing import Pricer, validate_prices


def _limit(catalog: Path, value: str) -> None:
    text = f"policies:\n  - name: caps\n    thresholds: {{max_cost_per_call_usd: {value}}}\n"
    (catalog / "policies" / "model_governance.yaml").write_text(text)


def _price(catalog: Path, value: str) -> None:
    (catalog / "prices.yaml").write_text(f'"compat:my-model": {{input: {value}, output: 1.5}}\n')


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ('"$0.01"', "'$0.01' is not a plain number; write 0.01 (USD,"),
        ("$0.01", "'$0.01' is not a plain number; write 0.01 (USD,"),  # YAML reads it as text too
        ('"0.01 USD"', "'0.01 USD' is not a plain number; write 0.01 (USD,"),
        ('"1,000"', "'1,000' is not a plain number; write 1000 (USD,"),
        ('"0,01"', "'0,01' is not a number; write the amount as a plain number of USD"),  # never read as 1
        ('"€5"', "'€5' is not in US dollars: amounts here are USD; convert it"),
        (".inf", "inf is not a finite amount"),
        ("true", "True is not an amount"),
    ],
)
def test_a_limit_with_a_currency_sign_names_the_file_the_key_and_the_fix(catalog_copy, written, said):
    _limit(catalog_copy, written)
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    text = str(info.value)
    assert "model_governance.yaml:3: policies.0.thresholds.max_cost_per_call_usd: " + said in text
    assert "valid decimal" not in text and "pydantic" not in text


def test_a_price_with_a_currency_sign_names_the_file_the_key_and_the_fix(catalog_copy):
    _price(catalog_copy, '"$2.50"')
    problems = validate_prices(catalog_copy)
    assert problems == [
        f"{catalog_copy / 'prices.yaml'}: compat:my-model.input: '$2.50' is not a plain number; write 2.50 "
        "(USD per million tokens, without a currency sign or separators)"
    ]
    with pytest.raises(E.CatalogError, match=r"compat:my-model.input: '\$2.50' is not a plain number; write 2.50"):
        Pricer.from_catalog(catalog_copy)


def test_a_plain_amount_still_loads(catalog_copy):
    _limit(catalog_copy, '"0.01"')
    _price(catalog_copy, "2.50")
    assert load_policies(catalog_copy)
    assert validate_prices(catalog_copy) == []


def test_catalog_validate_lists_both(catalog_copy, capsys):
    _limit(catalog_copy, '"$0.01"')
    _price(catalog_copy, '"$2.50"')
    assert main(["catalog", "validate", "--catalog", str(catalog_copy)]) == 1
    out = capsys.readouterr().out
    assert "max_cost_per_call_usd: '$0.01' is not a plain number; write 0.01" in out
    assert "compat:my-model.input: '$2.50' is not a plain number; write 2.50" in out


@pytest.mark.anyio
async def test_the_mcp_server_answers_a_tool_call_with_the_fix(catalog_copy, tmp_path):
    from mcp.client import Client

    from magsag_mcp.mcp_server import build_server

    _limit(catalog_copy, '"$0.01"')
    async with Client(build_server(catalog=catalog_copy, db=tmp_path / "l.db", env={})) as client:
        result = await client.call_tool("check_budget", {})
    assert result.is_error
    error = result.structured_content["error"]
    assert error["type"] == "catalog_error"
    assert "max_cost_per_call_usd: '$0.01' is not a plain number; write 0.01" in error["message"]
    assert "valid decimal" not in json.dumps(error)


def test_other_errors_are_left_to_their_own_words():
    assert amount_problem({"type": "greater_than", "input": "0"}, "USD") is None
    assert amount_problem({"type": "decimal_parsing", "input": ["x"]}, "USD") == (
        "'list' is not a number; write the amount as a plain number of USD, without a currency sign or "
        "separators, e.g. 0.01"
    )


@pytest.mark.parametrize(
    ("written", "read_as"),
    [("0500", "320"), ("1:30", "90"), ("0x10", "16"), ("1:30.5", "90.5")],
)
def test_a_number_yaml_would_read_as_another_amount_is_refused(catalog_copy, written, read_as):
    # YAML 1.1 reads 0500 as octal 320 and 1:30 as 90 (base 60): the limit was silently another amount
    _limit(catalog_copy, written)
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    text = str(info.value)
    assert "model_governance.yaml: malformed YAML (line 3," in text
    assert f"{written} is not a plain decimal number: YAML reads it as {read_as}" in text
    assert f"quote it ('{written}')" in text


def test_plain_numbers_and_quoted_text_read_as_ever(catalog_copy):
    _limit(catalog_copy, "1_000")
    assert load_policies(catalog_copy).limits[0].amount == Decimal(1000)
    _limit(catalog_copy, '"0500"')  # quoted: text, read as the decimal 500
    assert load_policies(catalog_copy).limits[0].amount == Decimal(500)
    _price(catalog_copy, "0")
    assert validate_prices(catalog_copy) == []


@pytest.mark.parametrize(
    ("key", "written", "times"),
    [
        ("openai:gpt-4o", "{input: 0.0025, output: 0.01}", "1,000"),  # per thousand tokens, as many price pages
        ("claude:claude-3-5-sonnet-20241022", "{input: 0.000003, output: 15}", "1,000,000"),  # per token
        # a service tier's rates, per thousand (gpt-4o priority: $4.25 / $17 per million; its list price $2.50 / $10)
        (
            "openai:gpt-4o",
            "{input: 2.5, output: 10, service_tiers: {priority: {input: 0.00425, output: 0.017}}}",
            "588",
        ),
    ],
)
def test_a_price_written_per_thousand_tokens_is_a_problem_of_validate(catalog_copy, key, written, times):
    # "openai:gpt-4o": {input: 0.0025, output: 0.01} (gpt-4o's price per 1K tokens) validated ok, and as the catalog's
    # price wins, every budget reserved and counted a thousandth of what gpt-4o calls cost: a $5 run limit let $5,000
    # through. validate (and doctor) now name the entry, the list price and the unit; a discount or a 0 is no problem.
    from magsag_mcp.catalog import validate_catalog

    prices = catalog_copy / "prices.yaml"
    prices.write_text(f'"{key}": {written}\n"openai:gpt-4o-mini": {{input: 0.075, output: 0}}\n' + prices.read_text())
    problems = validate_catalog(catalog_copy, {})
    assert len(problems) == 1, problems
    shown = key.replace("claude:", "anthropic:")
    assert problems[0].startswith(f"{prices}: {shown}: {'service_tiers.priority.' if times == '588' else ''}input ")
    assert f"is {times} times below its list price of " in problems[0]
    assert problems[0].endswith(
        "(genai-prices); prices.yaml takes USD per million tokens, and a price per thousand tokens is 1,000 times too "
        "low: budgets would reserve and count that much less than calls cost; write the price per million tokens"
    )
    assert ("output" in problems[0]) == (times != "1,000,000")  # an output of 15 per million is right
    Pricer.from_catalog(catalog_copy, {})  # a calling service still opens: the check is validate's


@pytest.mark.parametrize(
    ("key", "written", "named"),
    [
        # OpenRouter's models API gives its prices per token ("prompt": "0.00000012"), as do many gateways' pages
        ("compat:meta-llama/llama-3.1-70b", "{input: 0.00000012, output: 0.0000003}", "input 0.00000012"),
        ("compat:*", "{input: 0.5, output: 1.5, cache_read: 0.00000005}", "cache_read 0.00000005"),
        ("local:my-gpu-box", "{input: 0, output: 0.0000002}", "output 0.0000002"),
        # a service tier's rates are read as the entry's are
        (
            "compat:*",
            "{input: 0.5, output: 1.5, service_tiers: {flex: {input: 0.00000025, output: 0.75}}}",
            "service_tiers.flex.input 0.00000025",
        ),
    ],
)
def test_a_price_per_token_for_a_model_genai_prices_does_not_list_is_a_problem_of_validate(
    catalog_copy, key, written, named
):
    # A model genai-prices does not list (a gateway's, a server of the user's) has no list price to compare with: a
    # price written per token validated ok, and every budget reserved and counted a millionth of what its calls cost.
    # No model is priced near that low per million tokens (the cheapest rate genai-prices lists is $0.0011).
    from magsag_mcp.catalog import validate_catalog

    prices = catalog_copy / "prices.yaml"
    prices.write_text(f'"compat:free-model": {{input: 0, output: 0}}\n"{key}": {written}\n' + prices.read_text())
    problems = validate_catalog(catalog_copy, {})
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{prices}: {key}: {named} ")
    assert "USD per million tokens" in problems[0] and "per token" in problems[0]
    assert "write the price per million tokens" in problems[0]
    Pricer.from_catalog(catalog_copy, {})  # a calling service still opens: the check is validate's


def test_a_routed_target_whose_max_tokens_alone_pass_a_limit_is_a_problem_of_validate(catalog_copy):
    # skill.reasoning's max_tokens raised to 20,000 (or written in characters): o1-preview's answer alone may then cost
    # $1.20, above the shipped $1 call limit, so budgets refused it on every call (the premium route fell to gpt-4o with
    # a warning on each result), and validate said ok. A target's own params.max_tokens counts where it sets one.
    from magsag_mcp.catalog import validate_catalog

    skill = catalog_copy / "skills" / "reasoning.yaml"
    skill.write_text(skill.read_text().replace("max_tokens: ", "max_tokens: 20000 #"))
    routing = catalog_copy / "routing" / "default.yaml"
    capped = "{provider: anthropic, model: claude-3-haiku-20240307, params: {max_tokens: 900000}}"
    routing.write_text(
        routing.read_text().replace(
            "{provider: anthropic, model: claude-3-haiku-20240307, params: {temperature: 0}}", capped
        )
    )
    fix = (
        "so budgets refuse it on every call; lower max_tokens (output tokens, not characters), route the task to a "
        "cheaper model, or raise the limit"
    )
    # the limit named where it is set, for "raise the limit" (before: the policy's name alone)
    limit = f"policy 'cost_limits' ({catalog_copy / 'policies' / 'model_governance.yaml'}: policies.1.thresholds."
    limit += "max_cost_per_call_usd)"
    assert validate_catalog(catalog_copy, {}) == [
        f"{catalog_copy / 'skills' / 'extraction.yaml'}: skill.extraction: routed target "
        "anthropic:claude-3-haiku-20240307 may cost up to $1.125 for its params.max_tokens (900,000 output tokens) "
        f"alone, above the call limit $1.0 of {limit}, {fix}",
        f"{skill}: skill.reasoning: routed target openai:o1-preview may cost up to $1.2 for the skill's max_tokens "
        f"(20,000 output tokens) alone, above the call limit $1.0 of {limit}, {fix}",
    ]


def test_a_routed_target_asking_for_us_only_inference_is_checked_at_its_geo_rate(catalog_copy):
    # Anthropic bills US-only inference at 1.1x, and a call asking for it is reserved so: claude-opus-4-6's 38,000
    # output tokens cost $0.95 anywhere, $1.045 in the US, above the shipped $1 call limit, so budgets refused the
    # target on every call while validate, checking it at $0.95, said ok.
    from magsag_mcp.catalog import validate_catalog

    routing = catalog_copy / "routing" / "default.yaml"
    pinned = (
        "{provider: anthropic, model: claude-opus-4-6, params: {temperature: 0, inference_geo: us, max_tokens: 38000}}"
    )
    routing.write_text(
        routing.read_text().replace(
            "{provider: anthropic, model: claude-3-haiku-20240307, params: {temperature: 0}}", pinned
        )
    )
    policy = catalog_copy / "policies" / "model_governance.yaml"
    policy.write_text(policy.read_text().replace("      - gpt-4o\n", "      - gpt-4o\n      - claude-opus-4-6\n", 1))
    assert Pricer().worst_case("anthropic", "claude-opus-4-6", 0, 38_000) == Decimal("0.95")
    [problem] = validate_catalog(catalog_copy, {})
    assert problem.startswith(
        f"{catalog_copy / 'skills' / 'extraction.yaml'}: skill.extraction: routed target anthropic:claude-opus-4-6 may "
        "cost up to $1.045 for its params.max_tokens (38,000 output tokens) alone, above the call limit $1.0 of "
    )


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("input_mtok", "input"),  # genai-prices' names for its rates
        ("cache_read_mtok", "cache_read"),
        ("cached_input", "cache_read"),  # OpenAI's price pages: "Cached input"
        ("Cached Input", "cache_read"),
        ("cache_creation", "cache_write"),  # Anthropic's usage: cache_creation_input_tokens
        ("cache_write_5m", "cache_write"),
        ("prompt", "input"),  # OpenRouter's models API: pricing.prompt and pricing.completion
        ("completion", "output"),
        ("audio_output", "output_audio"),
    ],
)
def test_a_rate_named_as_another_price_list_names_it_is_refused_with_the_rate_it_means(catalog_copy, written, meant):
    # A rate under another list's name was refused with the nearest name by spelling: "cached_input" (OpenAI's cached
    # input price) as 'cache_write', and genai-prices' "input_mtok" as 'input_audio'. Followed, the cached-input price
    # became the cache-write rate (writes billed at the input rate recorded at a tenth of it), and the text rate the
    # audio one.
    prices = catalog_copy / "prices.yaml"
    prices.write_text(f'"compat:m": {{input: 1, output: 2, "{written}": 0.5}}\n' + prices.read_text())
    [problem] = validate_prices(catalog_copy)
    assert f"compat:m.{written}: Extra inputs are not permitted (did you mean {meant!r}?); accepted here: " in problem


def test_an_openai_or_gemini_entry_with_no_cache_read_rate_is_a_note_of_validate_and_doctor(
    catalog_copy, cli_env, capsys, monkeypatch
):
    # "openai:gpt-5": {input: 1.25, output: 10} priced every cached input token at 1.25 per million, ten times the
    # 0.125 OpenAI bills (an Anthropic entry's reads are priced at its 0.1x), and validate and doctor said nothing.
    # Now both note the entry, genai-prices' cache_read and the line to write; a note, not a problem: validate passes.
    prices = catalog_copy / "prices.yaml"
    prices.write_text(
        '"openai:gpt-5": {input: 1.25, output: 10}\n'
        '"gemini:gemini-2.5-flash": {input: 0.3, output: 2.5}\n'
        '"anthropic:claude-sonnet-4-5": {input: 3, output: 15}\n'  # priced at Anthropic's 0.1x: no note
        '"openai:gpt-4o-mini": {input: 0.15, output: 0.6, cache_read: 0.075}\n'  # gives its rate: no note
        '"openai:gpt-4.1*": {input: 2, output: 8}\n'  # a glob: no one list price
        '"google:gemini-1.5-pro": {input: 1.25, output: 5}\n'  # genai-prices lists no cache_read for it
        + prices.read_text()
    )
    assert main(["catalog", "validate", "--catalog", str(catalog_copy)]) == 0
    out = capsys.readouterr().out
    notes = [line.removeprefix("note: ") for line in out.splitlines() if line.startswith("note: ")]
    assert out.startswith(f"{catalog_copy}: ok\n")
    assert notes == [
        f"{prices}: openai:gpt-5: no cache_read rate, so its cached input tokens are priced at its input rate 1.25, "
        "10 times the cache_read 0.125 genai-prices lists for the model; if the vendor bills yours at that, add it: "
        '"openai:gpt-5": {input: 1.25, output: 10, cache_read: 0.125}',
        f"{prices}: google:gemini-2.5-flash: no cache_read rate, so its cached input tokens are priced at its input "
        "rate 0.3, 10 times the cache_read 0.03 genai-prices lists for the model; if the vendor bills yours at that, "
        'add it: "google:gemini-2.5-flash": {input: 0.3, output: 2.5, cache_read: 0.03}',
    ]
    monkeypatch.setenv("MAGSAG_CATALOG", str(catalog_copy))
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == []
    assert [n for n in report["notes"] if "cache_read" in n] == notes
    # how costs are computed is unchanged: the entry's cached tokens are still priced at its input rate
    from magsag_mcp.types import Usage

    quote = Pricer.from_catalog(catalog_copy, {}).price("openai", "gpt-5", Usage(1_000_000, 0, cached_tokens=1_000_000))
    assert quote.cost_usd == Decimal("1.25")


@pytest.mark.parametrize("written", ["0" + "7" * 5000, "0x" + "f" * 5000, "0b" + "1" * 20000], ids=["8", "16", "2"])
def test_a_number_yaml_would_read_as_another_amount_of_any_size_is_refused_in_a_few_words(catalog_copy, written):
    # octal, hexadecimal and binary are read whatever their size, and the refusal wrote YAML's reading (thousands of
    # digits past Python's 4,300, whose str() raised a bare ValueError out of the load) and the text twice over
    _limit(catalog_copy, written)
    with pytest.raises(E.CatalogError) as info:
        load_policies(catalog_copy)
    text = str(info.value)
    assert "model_governance.yaml: malformed YAML (line 3," in text
    assert f"{written[:20]}... ({len(written):,} characters) is not a plain decimal number: YAML reads it as a " in text
    assert "number of more than 24 digits (octal, hexadecimal, binary or base 60)" in text
    assert len(text) < 600, text[:600]
