"""Notes (not problems) ``magsag catalog validate`` and ``doctor`` give on ``prices.yaml``: a key naming a model no
vendor's list knows (a misspelling that prices no call), and a service tier's rates without a cache read rate."""

from __future__ import annotations

import json
from decimal import Decimal

from magsag_mcp.cli import main
from magsag_mcp.pricing import Pricer
from magsag_mcp.types import Usage


def _notes(out: str) -> list[str]:
    return [line.removeprefix("note: ") for line in out.splitlines() if line.startswith("note: ")]


def test_a_prices_key_of_a_model_no_vendor_lists_is_a_note_naming_the_nearest_model(
    catalog_copy, cli_env, capsys, monkeypatch
):
    # "openai:gpt-5-mnii" validated ok and priced no call (no call names that model), while gpt-5-mini's went on at
    # genai-prices' rates. Now validate and doctor note it with the model meant; a note, as a model newer than
    # genai-prices' list is what prices.yaml is for, and validate still passes.
    prices = catalog_copy / "prices.yaml"
    prices.write_text(
        '"openai:gpt-5-mnii": {input: 0.25, output: 2, cache_read: 0.025}\n'
        '"claude:claude-sonet-4-5": {input: 3, output: 15}\n'  # an alias: said as its provider
        '"openai:gpt-5-mini": {input: 0.25, output: 2, cache_read: 0.025}\n'  # listed: no note
        '"openai:gpt-5-2025-08-07": {input: 1.25, output: 10, cache_read: 0.125}\n'  # a dated name genai-prices reads
        '"openai:gpt-9*": {input: 1, output: 2}\n'  # a glob names no one model
        '"openai:zzzz-qqqq": {input: 1, output: 2}\n'  # nothing near: no "did you mean"
        '"azure:prod-chat": {input: 1, output: 2}\n'  # a deployment's name is the operator's
        '"compat:my-model": {input: 1, output: 2}\n'  # no list
        '"google:tunedModels/mine": {input: 1, output: 2}\n'  # a tuned model's resource name
        + prices.read_text()
    )
    assert main(["catalog", "validate", "--catalog", str(catalog_copy)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{catalog_copy}: ok\n")
    tail = (
        ", so the entry prices only calls to a model of exactly that name; if it is misspelt, write the model's name "
        "as calls name it; if {0} is newer than genai-prices' list, the entry is what prices it: keep it, and this "
        "note goes once genai-prices lists the model (pip install -U genai-prices)"
    )
    expected = [
        f"{prices}: openai:gpt-5-mnii: genai-prices lists no openai model 'gpt-5-mnii' (did you mean "
        '"openai:gpt-5-mini"?)' + tail.format("gpt-5-mnii"),
        f"{prices}: anthropic:claude-sonet-4-5: genai-prices lists no anthropic model 'claude-sonet-4-5' (did you mean "
        '"anthropic:claude-sonnet-4-5"?)' + tail.format("claude-sonet-4-5"),
        f"{prices}: openai:zzzz-qqqq: genai-prices lists no openai model 'zzzz-qqqq'" + tail.format("zzzz-qqqq"),
    ]
    assert _notes(out) == expected
    monkeypatch.setenv("MAGSAG_CATALOG", str(catalog_copy))
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == []
    assert [n for n in report["notes"] if "genai-prices lists no" in n] == expected


def test_a_service_tiers_rates_without_cache_read_are_a_note_as_an_entrys_own_are(
    catalog_copy, cli_env, capsys, monkeypatch
):
    # A tier's rates price a call that tier served alone (not the entry's own), so a flex tier written without
    # cache_read priced its cached input at the tier's input rate, ten times the 0.0625 OpenAI bills, and validate and
    # doctor said nothing, while they noted the same rates written as the entry's own. Now the tier is noted too.
    prices = catalog_copy / "prices.yaml"
    prices.write_text(
        '"openai:gpt-5": {input: 1.25, output: 10, cache_read: 0.125, service_tiers: {'
        "flex: {input: 0.625, output: 5}, "
        "priority: {input: 2.5, output: 20, cache_read: 0.25}, "  # gives its rate: no note
        "scale: {input: 3, output: 24}}}\n"  # genai-prices has no scale price: no rate to name
        '"anthropic:claude-sonnet-4-5": {input: 3, output: 15, service_tiers: {priority: {input: 6, output: 30}}}\n'
        + prices.read_text()
    )
    assert main(["catalog", "validate", "--catalog", str(catalog_copy)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{catalog_copy}: ok\n")
    expected = [
        f"{prices}: openai:gpt-5: service_tiers.flex has no cache_read rate, so the cached input tokens of a call the "
        "flex tier serves are priced at its input rate 0.625, 10 times the cache_read 0.0625 genai-prices lists for "
        'the model on that tier; if the vendor bills yours at that, add it: "openai:gpt-5": {..., service_tiers: '
        "{flex: {input: 0.625, output: 5, cache_read: 0.0625}}}"
    ]
    assert _notes(out) == expected
    monkeypatch.setenv("MAGSAG_CATALOG", str(catalog_copy))
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [n for n in report["notes"] if "cache_read" in n] == expected
    # how costs are computed is unchanged: the tier's cached tokens are still priced at its input rate
    quote = Pricer.from_catalog(catalog_copy, {}).price(
        "openai", "gpt-5", Usage(1_000_000, 0, cached_tokens=1_000_000, service_tier="flex")
    )
    assert quote.cost_usd == Decimal("0.625")
