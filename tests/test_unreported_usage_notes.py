"""An answer that reports no usage is of unknown cost, counted at its bound; but the pricer's other notes of it stay.
An Azure deployment named gpt-4o-mini that answered as gpt-4o-2024-08-06 without a ``usage`` object lost what the
answer said of the model: the usage read as unreported kept no answering model, so neither the "priced as" note nor
the deployment's sighting (which reserves its next calls at the dearer model's rates) was kept; and Pricer.price
asked directly dropped the note beside its "answered without reporting" one."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
from aiohttp import web

from magsag_mcp.pricing import Pricer
from magsag_mcp.types import Target, Usage
from tests.pricing_audit import catalog_without_policies, one_call

pytestmark = pytest.mark.anyio
KEY = "az-test-key-123456"
NOTE = "azure:gpt-4o-mini answered as gpt-4o-2024-08-06; priced as gpt-4o-2024-08-06, not as gpt-4o-mini"


def test_pricer_keeps_the_azure_note_beside_an_unreported_usage():
    quote = Pricer().price("azure", "gpt-4o-mini", Usage(reported=False, answering_model="gpt-4o-2024-08-06"))
    assert quote.cost_usd is None and quote.source is None
    assert quote.warning is not None
    assert "azure:gpt-4o-mini answered without reporting its token usage; its cost is unknown" in quote.warning
    assert "priced as gpt-4o-2024-08-06, not as gpt-4o-mini" in quote.warning
    assert quote.notes is not None and "priced as gpt-4o-2024-08-06" in quote.notes


def _completion(stream: bool, model: str = "gpt-4o-2024-08-06") -> web.Response:
    # CreateChatCompletionResponse / its chunks as the spec writes them; usage is optional and left out
    if not stream:
        body = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_741_252_964,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok", "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
        }
        return web.json_response(body)
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_741_252_964, "model": model}
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return web.Response(text=text, content_type="text/event-stream")


async def _azure_answering_without_usage(serve_posts, stream: bool, model: str = "gpt-4o-2024-08-06") -> dict[str, str]:
    """The settings of an Azure deployment on a loopback server whose every answer is ``_completion``'s."""

    async def handler(request: web.Request) -> web.Response:
        await request.json()
        return _completion(stream, model)

    return {
        "AZURE_OPENAI_API_KEY": KEY,
        "AZURE_OPENAI_ENDPOINT": await serve_posts(handler) + "/",
        "AZURE_OPENAI_API_VERSION": "2025-01-01-preview",
    }


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_an_azure_answer_without_usage_keeps_its_answering_model(tmp_path, serve_posts, stream):
    env = await _azure_answering_without_usage(serve_posts, stream)
    config = {"provider": "azure", "model": "gpt-4o-mini", "stream": stream}
    result, row, _ = await one_call(tmp_path, env, config, catalog_without_policies(tmp_path))
    assert row["cost_usd"] is None
    assert row["cost_bound_usd"] is not None and D(row["cost_bound_usd"]) > 0
    warnings = " | ".join(result.warnings)
    assert "answered without reporting its token usage" in warnings
    assert "azure:gpt-4o-mini answered as gpt-4o-2024-08-06; priced as gpt-4o-2024-08-06" in warnings
    assert row["served_model"] == "gpt-4o-2024-08-06"


def test_the_sighting_of_an_unreported_answer_reserves_the_dearer_model():
    pricer = Pricer()
    mini = pricer.reserved_worst_case(Target("azure", "gpt-4o-mini"), 1000, 1000)
    gpt_4o = pricer.reserved_worst_case(Target("azure", "gpt-4o"), 1000, 1000)
    pricer.price_for(Target("azure", "gpt-4o-mini"), Usage(reported=False, answering_model="gpt-4o-2024-08-06"))
    after = pricer.reserved_worst_case(Target("azure", "gpt-4o-mini"), 1000, 1000)
    assert mini is not None and gpt_4o is not None and mini < gpt_4o
    assert after == gpt_4o


# A deployment answering as a model its rates cannot be taken for (another vendor's, priced in genai-prices at that
# vendor's own API rates): the pricer's note is the fix (add the deployment's rates to prices.yaml). Unreported, its
# quote carried no notes, so the answer said only "answered without reporting", and nothing of the model or the fix.
OTHER_VENDORS = "azure:gpt-4o answered as DeepSeek-R1, which is priced in genai-prices only at deepseek's own API rates"


def test_pricer_keeps_the_no_price_note_of_an_unreported_usage():
    quote = Pricer().price("azure", "gpt-4o", Usage(reported=False, answering_model="DeepSeek-R1"))
    assert quote.cost_usd is None and quote.source is None
    assert quote.warning is not None
    assert "azure:gpt-4o answered without reporting its token usage; its cost is unknown" in quote.warning
    assert quote.notes is not None and OTHER_VENDORS in quote.notes
    assert "add the deployment's rates to the prices.yaml of your catalog" in quote.notes


async def test_an_azure_answer_without_usage_as_another_vendors_model_says_so(tmp_path, serve_posts):
    env = await _azure_answering_without_usage(serve_posts, False, "DeepSeek-R1")
    config = {"provider": "azure", "model": "gpt-4o"}
    result, row, _ = await one_call(tmp_path, env, config, catalog_without_policies(tmp_path))
    assert row["cost_usd"] is None
    warnings = " | ".join(result.warnings)
    assert "answered without reporting its token usage" in warnings
    assert OTHER_VENDORS in warnings
    assert row["served_model"] == "DeepSeek-R1"


# A deployment answering as a model the catalog prices at 0: its quote priced the unreported zeros at $0 with the note
# as its warning, but no notes, so price_answered (which says the unreported in words of its own) dropped the note.
FREE_PRICES = '"azure:free-model": {input: 0, output: 0}\n"local:*": {input: 0, output: 0}\n'
FREE_NOTE = "azure:gpt-4o-mini answered as free-model; priced as free-model, not as gpt-4o-mini"


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
async def test_an_azure_answer_without_usage_as_a_free_model_keeps_its_note(tmp_path, serve_posts, stream):
    env = await _azure_answering_without_usage(serve_posts, stream, "free-model")
    config = {"provider": "azure", "model": "gpt-4o-mini", "stream": stream}
    result, row, _ = await one_call(tmp_path, env, config, catalog_without_policies(tmp_path, FREE_PRICES))
    warnings = " | ".join(result.warnings)
    assert "answered without reporting its token usage" in warnings
    assert FREE_NOTE in warnings
    assert row["served_model"] == "free-model"
    # (counted at its bound, the deployment's reservation: no count of its tokens was given)
    assert row["cost_usd"] is None and row["cost_bound_usd"] is not None


def test_pricer_gives_the_notes_of_a_free_models_unreported_usage(tmp_path):
    pricer = Pricer.from_catalog(catalog_without_policies(tmp_path, FREE_PRICES), {})
    quote = pricer.price("azure", "gpt-4o-mini", Usage(reported=False, answering_model="free-model"))
    assert quote.cost_usd == 0 and quote.notes is not None and FREE_NOTE in quote.notes
    # a reported usage's warning is said by its caller as it is: no notes apart
    reported = pricer.price(
        "azure", "gpt-4o-mini", Usage(input_tokens=10, output_tokens=2, answering_model="free-model")
    )
    assert reported.cost_usd == 0 and reported.warning is not None and FREE_NOTE in reported.warning
    assert reported.notes is None
